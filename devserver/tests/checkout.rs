//! Checkout over HTTP (R-O2, R-O3, R-O4, R-O5, R-M2, R-C1, R-C4) and the customer's order page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, get, post_json, temp_dir};
use devserver::config::DevConfig;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ADMIN: &str = "test-admin-token-0123456789";

struct Shop {
    server: devserver::RunningServer,
    url: String,
    key: String,
}

async fn shop() -> Shop {
    let config = DevConfig {
        port: 0,
        data_dir: temp_dir("checkout"),
        admin_token: Some(ADMIN.into()),
        rate_limits: false,
        aws: false,
        ..Default::default()
    };
    let server = devserver::start(config).await.unwrap();
    let url = server.url();
    let created = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "Kurswerk", "email": "info@kurswerk.example"}),
    )
    .await;
    let key = created.json()["api_key"].as_str().unwrap().to_string();
    Shop { server, url, key }
}

impl Shop {
    async fn offer(&self, price: &str, plan: Value, products: usize) -> String {
        let mut ids = Vec::new();
        for n in 0..products {
            let p = post_json(
                &self.url,
                "/api/products",
                Some(&self.key),
                &json!({"name": format!("Modul {n}"), "access_days": 365}),
            )
            .await;
            ids.push(p.json()["id"].as_str().unwrap().to_string());
        }
        let body = json!({"name": "Videokurs", "products": ids, "price": {"amount": price, "currency": "EUR"}, "plan": plan});
        let offer = post_json(&self.url, "/api/offers", Some(&self.key), &body).await;
        assert_eq!(offer.status, 201, "{}", offer.text);
        offer.json()["id"].as_str().unwrap().to_string()
    }

    async fn checkout(&self, offer: &str, customer: Value) -> common::Answer {
        post_json(
            &self.url,
            "/checkout",
            None,
            &json!({"offer_id": offer, "customer": customer}),
        )
        .await
    }

    async fn portal(&self, link: &str) -> common::Answer {
        let token = link.rsplit('/').next().unwrap();
        get(&self.url, &format!("/portal/orders/{token}"), None).await
    }
}

fn anna() -> Value {
    json!({"email": "Anna@Example.com", "first_name": "Anna", "last_name": "Muster", "country": "DE"})
}

// R-M2, R-O3, R-O4, R-O5, R-C4
#[tokio::test]
async fn checkout_creates_a_taxed_order_with_a_customer_link_and_a_confirmation() {
    let shop = shop().await;
    let offer = shop.offer("9.99", json!({"kind": "one_time"}), 1).await;
    // when Anna from Germany checks out
    let answer = shop.checkout(&offer, anna()).await;
    // then the order is numbered, taxed at 19 % per line, and linked
    assert_eq!(answer.status, 201, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["order_number"], "SD-000001");
    assert_eq!(body["total"], json!({"amount": "11.89", "currency": "EUR"}));
    let link = body["customer_link"].as_str().unwrap();
    assert!(
        link.starts_with("http://localhost:3000/orders/ven_"),
        "{link}"
    );
    assert!(body["payment_url"].as_str().unwrap().starts_with(link));
    // and the link opens exactly that order, without internal fields
    let page = shop.portal(link).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let order = page.json();
    assert_eq!(order["id"], body["order_id"]);
    assert_eq!(
        (order["status"].as_str(), order["payment_status"].as_str()),
        (Some("pending_payment"), Some("pending"))
    );
    assert_eq!(order["lines"][0]["tax_rate"], "19");
    assert_eq!(
        order["lines"][0]["tax"],
        json!({"amount": "1.90", "currency": "EUR"})
    );
    assert_eq!(order["open"]["amount"], "11.89");
    assert_eq!(order["customer"]["email"], "anna@example.com");
    for internal in ["stage", "manager", "tags", "comments"] {
        assert!(
            order.get(internal).is_none(),
            "{internal} leaked to the customer"
        );
    }
    // and after a sweep the confirmation went out once, in German, with the link (R-C4)
    post_json(&shop.url, "/_dev/sweep", None, &json!({})).await;
    post_json(&shop.url, "/_dev/sweep", None, &json!({})).await;
    let outbox = get(&shop.url, "/_dev/outbox", None).await.json();
    let emails = outbox["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(
        (emails[0]["kind"].as_str(), emails[0]["to"].as_str()),
        (Some("order_confirmation"), Some("anna@example.com"))
    );
    assert!(
        emails[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Ihre Bestellung SD-000001")
    );
    assert!(emails[0]["text"].as_str().unwrap().contains(link));
    assert_eq!(outbox["events"][0]["type"], "order.created");
    shop.server.stop();
}

// R-O2, R-C1, R-O3: the buyer back from the payment page supersedes the order it carries, and
// only that one
#[tokio::test]
async fn a_checkout_supersedes_only_the_order_whose_link_it_carries() {
    let shop = shop().await;
    let offer = shop.offer("50.00", json!({"kind": "one_time"}), 1).await;
    let other_offer = shop.offer("20.00", json!({"kind": "one_time"}), 1).await;
    let first = shop.checkout(&offer, anna()).await.json();
    let token = |answer: &Value| common::token_of(&answer["customer_link"]);
    // when the same buyer comes back with the earlier order's token
    let mut again = anna();
    again["email"] = json!("  anna@EXAMPLE.com ");
    let second = post_json(
        &shop.url,
        "/checkout",
        None,
        &json!({"offer_id": offer, "customer": again, "previous_order": token(&first)}),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let second = second.json();
    assert_eq!(second["order_number"], "SD-000002");
    let status = |answer: Value| {
        let shop = &shop;
        async move {
            shop.portal(answer["customer_link"].as_str().unwrap())
                .await
                .json()["status"]
                .clone()
        }
    };
    // then the earlier order is superseded and the new one open
    assert_eq!(status(first.clone()).await, "superseded");
    assert_eq!(status(second.clone()).await, "pending_payment");
    // when a checkout carries no token, or one of another offer, or garbage, it supersedes nothing
    let third = shop.checkout(&offer, anna()).await.json();
    assert_eq!(status(second.clone()).await, "pending_payment");
    for previous in [token(&third), "ven_x.nonsense".to_string()] {
        let answer = post_json(
            &shop.url,
            "/checkout",
            None,
            &json!({"offer_id": other_offer, "customer": anna(), "previous_order": previous}),
        )
        .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    assert_eq!(status(third).await, "pending_payment");
    assert_eq!(status(second).await, "pending_payment");
    shop.server.stop();
}

// Issue 12, §2: an anonymous checkout with a known customer's e-mail neither shows nor changes
// what the vendor holds about that customer, and leaves their orders alone
#[tokio::test]
async fn a_checkout_with_a_known_email_shows_only_what_it_was_given() {
    let shop = shop().await;
    let offer = shop.offer("50.00", json!({"kind": "one_time"}), 1).await;
    let mut real = anna();
    real["phone"] = json!("+49 30 1234567");
    real["address"] =
        json!({"street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"});
    let annas = shop.checkout(&offer, real).await.json();
    // when someone else checks out with Anna's e-mail and a name of their own
    let forged = json!({"email": "anna@example.com", "first_name": "Mallory", "last_name": "X", "country": "AT"});
    let theirs = shop.checkout(&offer, forged).await.json();
    // then their order page shows what they gave, nothing of Anna's record
    let page = shop
        .portal(theirs["customer_link"].as_str().unwrap())
        .await
        .json();
    assert_eq!(page["customer"]["first_name"], "Mallory");
    assert_eq!(page["customer"]["phones"], json!([]));
    assert!(page["customer"].get("id").is_none(), "{page}");
    assert!(!page.to_string().contains("1234567"), "{page}");
    assert!(!page.to_string().contains("Hauptstr"), "{page}");
    // and Anna's order is still hers to pay, her record unchanged
    let hers = shop
        .portal(annas["customer_link"].as_str().unwrap())
        .await
        .json();
    assert_eq!(hers["status"], "pending_payment");
    assert_eq!(hers["customer"]["first_name"], "Anna");
    let card = get(
        &shop.url,
        &format!("/api/orders/{}", annas["order_id"].as_str().unwrap()),
        Some(&shop.key),
    )
    .await
    .json();
    let customer = get(
        &shop.url,
        &format!(
            "/api/customers/{}",
            card["customer"]["id"].as_str().unwrap()
        ),
        Some(&shop.key),
    )
    .await
    .json();
    assert_eq!(customer["first_name"], "Anna", "{customer}");
    assert_eq!(customer["phones"], json!(["+49 30 1234567"]), "{customer}");
    shop.server.stop();
}

// R-M2: reverse charge for an EU business in another member state; R-O5 installments.
#[tokio::test]
async fn reverse_charge_and_installments() {
    let shop = shop().await;
    let offer = shop
        .offer(
            "100.00",
            json!({"kind": "installments", "count": 3, "interval": "month"}),
            1,
        )
        .await;
    let business = json!({"email": "einkauf@firma.at", "first_name": "Eva", "last_name": "K", "country": "AT", "vat_id": "atu 135.856-27"});
    let answer = shop.checkout(&offer, business).await.json();
    assert_eq!(answer["total"]["amount"], "100.00");
    let order = shop
        .portal(answer["customer_link"].as_str().unwrap())
        .await
        .json();
    assert_eq!(order["tax_treatment"], "reverse_charge");
    // R-M2 (issue 14, defect 9): the id is kept, normalised, for the invoice
    assert_eq!(order["vat_id"], "ATU13585627");
    let amounts: Vec<_> = order["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["amount"]["amount"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(amounts, vec!["33.34", "33.33", "33.33"]);
    // R-M2 (issue 14, defect 9): a prefix and two characters, or a wrong check digit, is refused
    // and creates nothing
    for made_up in ["ATAA", "ATU12345678"] {
        let fake = json!({"email": "f@firma.at", "first_name": "F", "last_name": "K", "country": "AT", "vat_id": made_up});
        let refused = shop.checkout(&offer, fake).await;
        assert_eq!(refused.status, 400, "{made_up}: {}", refused.text);
        let why = refused.json()["error"]["fields"]["customer.vat_id"].clone();
        assert!(why.as_str().unwrap().contains("check digit"), "{why}");
    }
    // an Austrian consumer pays Austrian VAT
    let consumer =
        json!({"email": "k@example.at", "first_name": "K", "last_name": "L", "country": "AT"});
    assert_eq!(
        shop.checkout(&offer, consumer).await.json()["total"]["amount"],
        "120.00"
    );
    shop.server.stop();
}

#[tokio::test]
async fn bad_checkouts_are_refused_and_change_nothing() {
    let shop = shop().await;
    let offer = shop.offer("10.00", json!({"kind": "one_time"}), 1).await;
    let missing = shop
        .checkout("off_01JZZZZZZZZZZZZZZZZZZZZZZZ", anna())
        .await;
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (404, "offer_not_found")
    );
    assert_eq!(shop.checkout("nonsense", anna()).await.status, 404);
    let mut bad_email = anna();
    bad_email["email"] = json!("anna(at)example.com");
    let answer = shop.checkout(&offer, bad_email).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"]["fields"]["customer.email"].is_string());
    let mut bad_country = anna();
    bad_country["country"] = json!("Germany");
    assert_eq!(shop.checkout(&offer, bad_country).await.status, 400);
    let mut extra = anna();
    extra["is_admin"] = json!(true);
    assert_eq!(shop.checkout(&offer, extra).await.status, 400);
    // nothing was created: the first good checkout is order 1
    assert_eq!(
        shop.checkout(&offer, anna()).await.json()["order_number"],
        "SD-000001"
    );
    // a tampered or unknown token opens nothing
    assert_eq!(
        get(
            &shop.url,
            "/portal/orders/ven_01JZZZZZZZZZZZZZZZZZZZZZZZ.AAAA",
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        get(&shop.url, "/portal/orders/garbage", None).await.status,
        404
    );
    shop.server.stop();
}

// R-M2: the buyer's country decides the VAT, so a country that does not exist is refused, never
// taxed as "outside the EU" (issue 10, defect 1).
#[tokio::test]
async fn unknown_countries_are_refused_everywhere_and_change_nothing() {
    let shop = shop().await;
    let offer = shop.offer("9.99", json!({"kind": "one_time"}), 1).await;
    // given checkouts naming countries that are not ISO 3166-1 codes
    for country in ["XX", "ZZ", "de"] {
        let mut buyer = anna();
        buyer["country"] = json!(country);
        let answer = shop.checkout(&offer, buyer).await;
        // then each is a 400 naming the field
        assert_eq!(answer.status, 400, "{country}: {}", answer.text);
        assert!(answer.json()["error"]["fields"]["customer.country"].is_string());
    }
    let mut buyer = anna();
    buyer["address"] =
        json!({"street": "Weg 1", "postal_code": "10115", "city": "Berlin", "country": "ZZ"});
    let answer = shop.checkout(&offer, buyer).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.json()["error"]["fields"]["customer.address.country"].is_string());
    // and the vendor's own country setting takes only real codes too
    let auth = format!("Bearer {}", shop.key);
    let body = json!({"country": "QQ"}).to_string();
    let settings = common::call(
        &shop.url,
        "PUT",
        "/api/settings",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(settings.status, 400, "{}", settings.text);
    assert!(settings.json()["error"]["fields"]["country"].is_string());
    // and nothing was created: the first good checkout is order 1, taxed at the German rate
    let good = shop.checkout(&offer, anna()).await;
    assert_eq!(good.json()["order_number"], "SD-000001");
    assert_eq!(good.json()["total"]["amount"], "11.89");
    shop.server.stop();
}

// R-O3: concurrent checkouts get distinct, consecutive numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkouts_get_unique_order_numbers() {
    let shop = shop().await;
    let offer = shop.offer("10.00", json!({"kind": "one_time"}), 1).await;
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let url = shop.url.clone();
            let offer = offer.clone();
            tokio::spawn(async move {
                let customer = json!({"email": format!("c{n}@example.com"), "first_name": "C", "last_name": "N", "country": "DE"});
                post_json(&url, "/checkout", None, &json!({"offer_id": offer, "customer": customer})).await.json()
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for task in tasks {
        numbers.insert(
            task.await.unwrap()["order_number"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let expected: BTreeSet<_> = (1..=8).map(|n| format!("SD-{n:06}")).collect();
    assert_eq!(numbers, expected);
    shop.server.stop();
}

// R-O3 (issue 14, defect 10): a burst of 150 checkouts for one vendor, 16 in flight, all
// succeed: contention is retried with growing, jittered pauses, and order numbers and customer
// counts are atomic additions, not read-then-check
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_checkouts_for_one_vendor_answers_no_server_error() {
    let shop = shop().await;
    let offer = shop.offer("10.00", json!({"kind": "one_time"}), 1).await;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (url, offer, next) = (shop.url.clone(), offer.clone(), next.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= 150 {
                        return answers;
                    }
                    let customer = json!({"email": format!("burst{n}@example.com"), "first_name": "C", "last_name": "N", "country": "DE"});
                    let answer = post_json(&url, "/checkout", None, &json!({"offer_id": offer, "customer": customer})).await;
                    answers.push((answer.status, answer.json()["order_number"].as_str().map(str::to_string)));
                }
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    let mut numbers = BTreeSet::new();
    for worker in workers {
        for (status, number) in worker.await.unwrap() {
            *statuses.entry(status).or_insert(0) += 1;
            numbers.extend(number);
        }
    }
    println!("150 checkouts, 16 in flight: {statuses:?}");
    assert_eq!(statuses, std::collections::BTreeMap::from([(201, 150)]));
    assert_eq!(numbers.len(), 150, "order numbers are unique");
    // and the customer count holds every new customer
    let customers = call(
        &shop.url,
        "GET",
        "/api/customers",
        &[("authorization", &format!("Bearer {}", shop.key))],
        None,
    )
    .await;
    assert_eq!(customers.json()["total"], 150, "{}", customers.text);
    shop.server.stop();
}

// Issue 12, §3: a bounded load test on loopback — 200 checkouts naming one recipient from one
// source — is cut off by the default limits: the recipient gets at most the limit's e-mails,
// and every refusal is a 429 with Retry-After that wrote nothing.
#[tokio::test]
async fn two_hundred_checkouts_to_one_inbox_are_cut_off_by_the_default_limits() {
    let config = DevConfig {
        port: 0,
        data_dir: temp_dir("checkout-limits"),
        admin_token: Some(ADMIN.into()),
        rate_limits: true,
        aws: false,
        ..Default::default()
    };
    let server = devserver::start(config).await.unwrap();
    let url = server.url();
    let created = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "Kurswerk", "email": "info@kurswerk.example"}),
    )
    .await;
    let shop = Shop {
        key: created.json()["api_key"].as_str().unwrap().to_string(),
        url: url.clone(),
        server,
    };
    let offer = shop.offer("9.99", json!({"kind": "one_time"}), 1).await;
    let limit = sellerdesk::usecases::limits::Limits::DEFAULT
        .checkouts_per_recipient
        .count as usize;
    let (mut created, mut refused) = (0, 0);
    for n in 0..200 {
        // variants of one address count as one recipient
        let mut victim = anna();
        victim["email"] = json!(if n % 2 == 0 {
            "anna@example.com"
        } else {
            " ANNA@example.com "
        });
        victim["first_name"] = json!(format!("Spam {n}"));
        let answer = shop.checkout(&offer, victim).await;
        match answer.status {
            201 => created += 1,
            429 => {
                refused += 1;
                assert_eq!(answer.error_code(), "rate_limited");
                let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=3600).contains(&retry), "{retry}");
            }
            other => panic!("{other}: {}", answer.text),
        }
    }
    assert_eq!((created, refused), (limit, 200 - limit));
    let outbox = get(&url, "/_dev/outbox", None).await.json();
    let to_anna = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["to"] == "anna@example.com")
        .count();
    assert_eq!(
        to_anna, limit,
        "at most the limit's confirmations reach the inbox"
    );
    let orders = get(&url, "/api/orders", Some(&shop.key)).await.json();
    assert_eq!(
        orders["total"], limit as u64,
        "refused checkouts wrote nothing"
    );
    shop.server.stop();
}

// Issue 12, §2 (review): with customers matched by address, a stranger's order at the same
// address is mailed to the address its own checkout gave, never to the matched customer's
#[tokio::test]
async fn an_orders_mail_goes_to_the_address_its_checkout_gave() {
    let shop = shop().await;
    let changed = common::call(
        &shop.url,
        "PUT",
        "/api/settings",
        &[
            ("Authorization", &format!("Bearer {}", shop.key)),
            ("Content-Type", "application/json"),
        ],
        Some(json!({"matching_mode": "address"}).to_string().as_bytes()),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let offer = shop.offer("9.99", json!({"kind": "one_time"}), 1).await;
    let address =
        json!({"street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"});
    let victim = json!({"email": "victim@example.com", "first_name": "Vic", "last_name": "Tim", "country": "DE", "address": address});
    let mut stranger = json!({"email": "attacker@evil.example", "first_name": "Mal", "last_name": "Lory", "country": "DE"});
    stranger["address"] =
        json!({"street": "HAUPTSTR. 1", "postal_code": "10115", "city": "berlin", "country": "DE"});
    assert_eq!(shop.checkout(&offer, victim).await.status, 201);
    assert_eq!(shop.checkout(&offer, stranger).await.status, 201);
    let outbox = get(&shop.url, "/_dev/outbox", None).await.json();
    let confirmations: Vec<(String, String)> = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "order_confirmation")
        .map(|m| {
            (
                m["to"].as_str().unwrap().to_string(),
                m["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(confirmations.len(), 2, "{confirmations:?}");
    assert_eq!(confirmations[0].0, "victim@example.com");
    assert_eq!(confirmations[1].0, "attacker@evil.example");
    assert!(confirmations[1].1.contains("Mal"), "{}", confirmations[1].1);
    assert!(
        !confirmations[1].1.contains("Vic"),
        "{}",
        confirmations[1].1
    );
    shop.server.stop();
}
