//! A minimal HTTP/1.1 client for black-box tests (one request per connection).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    /// The status line and headers as received.
    pub head: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The value of header `name` (case-insensitive), if the answer has it.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// The API.md error code of an error answer.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub async fn call(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let host = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    // A server may answer (413) before reading a large body; a failed write then is expected.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        text: body.to_string(),
        head: head.to_string(),
    }
}

pub async fn post_json(base: &str, path: &str, token: Option<&str>, body: &Value) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    call(
        base,
        "POST",
        path,
        &headers,
        Some(body.to_string().as_bytes()),
    )
    .await
}

pub async fn get(base: &str, path: &str, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    call(base, "GET", path, &headers, None).await
}

/// A fresh, empty folder under the system temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sellerdesk-{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish()
}

/// The admin token every test server is started with.
pub const ADMIN: &str = "test-admin-token-0123456789";
/// The platform's Stripe endpoint secret every test server is started with (a fixture).
pub const STRIPE_SECRET: &str = "whsec_test_platform_0123456789";

/// A dev server on a free port over a fresh data folder.
pub async fn start_server(name: &str) -> devserver::RunningServer {
    let config = devserver::config::DevConfig {
        port: 0,
        data_dir: temp_dir(name),
        admin_token: Some(ADMIN.into()),
        stripe_webhook_secret: Some(STRIPE_SECRET.into()),
        // Tests make many requests from one address; one test runs the defaults.
        rate_limits: false,
        aws: false,
        ..Default::default()
    };
    devserver::start(config).await.unwrap()
}

/// `POST /admin/vendors`: the whole answer (vendor_id, api_key).
pub async fn new_vendor(url: &str, name: &str) -> Value {
    let answer = post_json(
        url,
        "/admin/vendors",
        Some(ADMIN),
        &serde_json::json!({"name": name, "email": format!("{name}@example.com")}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()
}

/// A product and an offer selling it at a net EUR `price` on `plan`: the offer.
pub async fn new_offer(url: &str, api_key: &str, price: &str, plan: Value) -> Value {
    let product = post_json(
        url,
        "/api/products",
        Some(api_key),
        &serde_json::json!({"name": "Kurs"}),
    )
    .await
    .json();
    let body = serde_json::json!({"name": "Kurs", "products": [product["id"]], "price": {"amount": price, "currency": "EUR"}, "plan": plan});
    let offer = post_json(url, "/api/offers", Some(api_key), &body).await;
    assert_eq!(offer.status, 201, "{}", offer.text);
    offer.json()
}

/// `POST /checkout` of an offer by a German customer with this e-mail: the answer.
pub async fn checkout_as(url: &str, offer_id: &Value, email: &str) -> Answer {
    let customer =
        serde_json::json!({"email": email, "first_name": "K", "last_name": "L", "country": "DE"});
    post_json(
        url,
        "/checkout",
        None,
        &serde_json::json!({"offer_id": offer_id, "customer": customer}),
    )
    .await
}

/// The token of a customer link: its last path segment (API.md).
pub fn token_of(link: &Value) -> String {
    link.as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// The vendor id the samples in `events/` carry.
pub const SAMPLE_VENDOR: &str = "ven_01KSAMPLEVENDOR00000000000";

/// Posts a Stripe event of `vendor_id`'s order to the platform's webhook route, signed with
/// `secret` as Stripe would at `signed_at`. An object whose metadata names our order or refund
/// also gets the vendor, as the platform sets both on everything it creates at Stripe.
pub async fn post_stripe_event(
    url: &str,
    vendor_id: &str,
    secret: &str,
    signed_at: i64,
    payload: &str,
) -> Answer {
    let mut event: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    let payload = match event
        .pointer_mut("/data/object/metadata")
        .and_then(Value::as_object_mut)
    {
        Some(metadata)
            if (metadata.contains_key("order_id") || metadata.contains_key("refund_id"))
                && metadata.get("vendor_id").is_none_or(|v| v == SAMPLE_VENDOR) =>
        {
            metadata.insert("vendor_id".into(), Value::from(vendor_id));
            event.to_string()
        }
        _ => payload.to_string(),
    };
    let signature =
        sellerdesk::webhooks::stripe_signature::header_for(secret, signed_at, payload.as_bytes());
    call(
        url,
        "POST",
        "/webhooks/stripe",
        &[
            ("Content-Type", "application/json"),
            ("Stripe-Signature", &signature),
        ],
        Some(payload.as_bytes()),
    )
    .await
}

/// Runs the sweeps, then the e-mails of one R-N3 `kind` the dev server has sent.
pub async fn sent_emails(url: &str, kind: &str) -> Vec<Value> {
    post_json(url, "/_dev/sweep", None, &serde_json::json!({})).await;
    let outbox = get(url, "/_dev/outbox", None).await.json();
    outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// The real dev-server binary, running.
pub struct Started {
    pub child: Child,
    pub url: String,
    pub admin_token: String,
    /// The platform's Stripe endpoint secret the server printed (generated: none was given).
    pub stripe_webhook_secret: String,
    /// Everything the server has logged (stderr) so far.
    pub log: Arc<Mutex<String>>,
}

/// Starts the real binary on a free port over `data` and reads its banner up to the
/// `listening on` line; its log (stderr, level info) is collected in `log`.
pub async fn start_binary(data: &std::path::Path, env_token: Option<&str>) -> Started {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devserver"));
    command
        .args(["--port", "0", "--data"])
        .arg(data)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.env_remove("SELLERDESK_ADMIN_TOKEN");
    command.env_remove("SELLERDESK_STRIPE_WEBHOOK_SECRET");
    if let Some(token) = env_token {
        command.env("SELLERDESK_ADMIN_TOKEN", token);
    }
    let mut child = command.spawn().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    let collected = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            let mut log = collected.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut admin_token = String::new();
    let mut stripe_webhook_secret = String::new();
    let read_banner = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(token) = line.trim().strip_prefix("admin token:") {
                admin_token = token.trim().to_string();
            }
            if let Some(secret) = line.trim().strip_prefix("stripe webhook secret:") {
                stripe_webhook_secret = secret.trim().to_string();
            }
            if let Some(url) = line.strip_prefix("listening on ") {
                return url.trim().to_string();
            }
        }
        panic!("the dev server ended before listening");
    };
    let url = tokio::time::timeout(std::time::Duration::from_secs(30), read_banner)
        .await
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Started {
        child,
        url,
        admin_token,
        stripe_webhook_secret,
        log,
    }
}
