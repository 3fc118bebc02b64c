//! `cargo run --release -p bench --bin webhook-bench [-- N CONCURRENCY]`
//!
//! 1. Store round trips of one state-changing Stripe webhook (checkout.session.completed) and of
//!    its duplicate, counted through the store port (a counting wrapper), not timed.
//! 2. Throughput of the dev server for verified webhooks over HTTP on loopback: N paid-session
//!    webhooks for N orders, CONCURRENCY in flight; prints webhooks/s and latency percentiles.
//!
//! Benchmarks print numbers; they never pass or fail on time.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use sellerdesk::api::ApiRequest;
use sellerdesk::app::App;
use sellerdesk::domain::clock::{Clock, SettableClock, SystemClock};
use sellerdesk::domain::ids::OsEntropy;
use sellerdesk::domain::token::{LinkKey, SecretDigest};
use sellerdesk::store::ItemStore;
use sellerdesk::store::counting::CountingStore;
use sellerdesk::store::embedded::EmbeddedStore;
use sellerdesk::webhooks::stripe_signature::header_for;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "bench-admin-token-0123456789";
/// The platform's Stripe endpoint secret of the bench (a fixture).
const STRIPE_SECRET: &str = "whsec_bench_platform_0123456789";

fn request(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> anyhow::Result<ApiRequest> {
    let mut map = HeaderMap::new();
    map.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    Ok(ApiRequest {
        method,
        path: path.into(),
        query: None,
        headers: map,
        body: Bytes::from(body.to_string()),
    })
}

/// A paid session as Stripe sends it; our sessions carry the vendor and the customer id beside
/// the order id.
fn paid_session(
    vendor_id: &str,
    order_id: &str,
    customer_id: Option<&str>,
    event_id: &str,
    cents: i64,
) -> Value {
    let mut metadata = json!({"vendor_id": vendor_id, "order_id": order_id});
    if let Some(customer) = customer_id {
        metadata["customer_id"] = json!(customer);
    }
    json!({"id": event_id, "object": "event", "type": "checkout.session.completed", "data": {"object": {
        "id": format!("cs_{event_id}"), "object": "checkout.session", "amount_total": cents, "currency": "eur",
        "payment_status": "paid", "payment_intent": format!("pi_{event_id}"), "metadata": metadata}}})
}

async fn json_of(app: &App, req: ApiRequest) -> anyhow::Result<Value> {
    let answer = app.handle(&req, |_| true).await;
    Ok(serde_json::from_slice(&answer.body)?)
}

/// Part 1: counts of one webhook through the port.
async fn round_trips() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("sellerdesk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let inner: Arc<dyn ItemStore> = Arc::new(EmbeddedStore::open(&dir.join("bench.sqlite3"))?);
    let counting = Arc::new(CountingStore::new(inner));
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")?.to_utc();
    let app = App::new(
        counting.clone(),
        Arc::new(SettableClock::frozen(now)),
        Arc::new(OsEntropy),
        Some(SecretDigest::of(ADMIN)),
        LinkKey::generate(&OsEntropy),
    )
    .with_webhook_secrets(sellerdesk::app::WebhookSecrets {
        stripe: vec![STRIPE_SECRET.into()],
        paypal_webhook_id: None,
    });
    let vendor = json_of(
        &app,
        request(
            Method::POST,
            "/admin/vendors",
            &[("authorization", &format!("Bearer {ADMIN}"))],
            &json!({"name": "Bench", "email": "bench@example.com"}),
        )?,
    )
    .await?;
    let key = format!("Bearer {}", vendor["api_key"].as_str().context("api key")?);
    let vendor_id = vendor["vendor_id"].as_str().context("vendor")?;
    let secret = STRIPE_SECRET;
    let product = json_of(
        &app,
        request(
            Method::POST,
            "/api/products",
            &[("authorization", &key)],
            &json!({"name": "P"}),
        )?,
    )
    .await?;
    let offer = json_of(&app, request(Method::POST, "/api/offers", &[("authorization", &key)], &json!({"name": "O", "products": [product["id"]], "price": {"amount": "9.99", "currency": "EUR"}, "plan": {"kind": "one_time"}}))?).await?;
    let checkout = json!({"offer_id": offer["id"], "customer": {"email": "c@example.com", "first_name": "C", "last_name": "D", "country": "DE"}});
    let mut events = Vec::new();
    for n in 1..=3 {
        let order = json_of(&app, request(Method::POST, "/checkout", &[], &checkout)?).await?;
        let order_id = order["order_id"].as_str().context("order")?;
        let card = json_of(
            &app,
            request(
                Method::GET,
                &format!("/api/orders/{order_id}"),
                &[("authorization", &key)],
                &Value::Null,
            )?,
        )
        .await?;
        let customer = card["customer"]["id"].as_str().context("customer")?;
        // The third one as a session made elsewhere would arrive: without our customer id.
        let hint = (n < 3).then_some(customer);
        events.push(
            paid_session(vendor_id, order_id, hint, &format!("evt_bench_{n}"), 1189).to_string(),
        );
    }
    let path = "/webhooks/stripe";
    let deliveries = [
        ("first, cold", &events[0]),
        ("duplicate", &events[0]),
        ("next, warm", &events[1]),
        ("no customer id", &events[2]),
    ];
    for (label, event) in deliveries {
        counting.reset();
        let signature = header_for(secret, now.timestamp(), event.as_bytes());
        let mut req = request(
            Method::POST,
            path,
            &[("stripe-signature", &signature)],
            &json!({}),
        )?;
        req.body = Bytes::from(event.clone());
        let status = app.handle(&req, |_| true).await.status;
        let c = counting.counts();
        println!(
            "round trips, {label:<14} status {status}: {} gets + {} queries (items read {}) + {} transactional writes",
            c.gets, c.queries, c.items_read, c.transactions
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// One POST over a fresh loopback connection: the status and the JSON answer.
async fn http_post(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok((status, json))
}

/// Part 2: webhooks per second through the dev server's HTTP port.
async fn throughput(n: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("sellerdesk-bench-http-{}", std::process::id()));
    let server = devserver::start(devserver::config::DevConfig {
        port: 0,
        data_dir: dir.clone(),
        admin_token: Some(ADMIN.into()),
        stripe_webhook_secret: Some(STRIPE_SECRET.into()),
        rate_limits: false,
        aws: false,
        ..Default::default()
    })
    .await?;
    let app_url = server.addr.to_string();
    let call = |path: &str, auth: Option<String>, body: Value| {
        let (addr, path) = (app_url.clone(), path.to_string());
        async move {
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("Authorization", a.as_str())).collect();
            anyhow::Ok(
                http_post(&addr, &path, &headers, &body.to_string())
                    .await?
                    .1,
            )
        }
    };
    let vendor = call(
        "/admin/vendors",
        Some(format!("Bearer {ADMIN}")),
        json!({"name": "Bench", "email": "bench@example.com"}),
    )
    .await?;
    let key = format!("Bearer {}", vendor["api_key"].as_str().context("key")?);
    let secret = STRIPE_SECRET;
    let vendor_id = vendor["vendor_id"].as_str().context("vendor")?.to_string();
    let product = call("/api/products", Some(key.clone()), json!({"name": "P"})).await?;
    let offer = call("/api/offers", Some(key), json!({"name": "O", "products": [product["id"]], "price": {"amount": "9.99", "currency": "EUR"}, "plan": {"kind": "one_time"}})).await?;
    let mut orders = Vec::with_capacity(n);
    for i in 0..n {
        let customer = json!({"email": format!("c{i}@example.com"), "first_name": "C", "last_name": "D", "country": "DE"});
        let order = call(
            "/checkout",
            None,
            json!({"offer_id": offer["id"], "customer": customer}),
        )
        .await?;
        orders.push(order["order_id"].as_str().context("order")?.to_string());
    }
    // The dev server's clock starts at the system time; signatures must fall within 300 s of it.
    let now = SystemClock.now().timestamp();
    let jobs: Vec<(String, String)> = orders
        .iter()
        .enumerate()
        .map(|(i, order)| {
            let body =
                paid_session(&vendor_id, order, None, &format!("evt_bench_{i}"), 1189).to_string();
            (header_for(secret, now, body.as_bytes()), body)
        })
        .collect();
    let jobs = Arc::new(std::sync::Mutex::new(jobs));
    let path = "/webhooks/stripe".to_string();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let jobs = Arc::clone(&jobs);
            let (addr, path) = (app_url.clone(), path.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let job = jobs.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                    let Some((signature, body)) = job else {
                        return anyhow::Ok(latencies);
                    };
                    let sent = Instant::now();
                    let (status, _) =
                        http_post(&addr, &path, &[("Stripe-Signature", &signature)], &body).await?;
                    if status != 200 {
                        bail!("webhook answered {status}");
                    }
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "dev server, verified paid-session webhooks over HTTP: {n} in {:.2?} with {concurrency} in flight = {:.0} webhooks/s; latency p50 {:.2?} p99 {:.2?} max {:.2?}",
        elapsed,
        n as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or_default()
    );
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cores} cores, {cpu}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(2000);
    let concurrency = args.get(1).copied().unwrap_or(8);
    println!("machine: {}", machine());
    round_trips().await?;
    throughput(n, concurrency).await
}
