//! R-N1 / R-N4: outbox items commit with their state change and are sent once, through the
//! local channels (embedded store) and through SESv2 + EventBridge (moto).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use sellerdesk::domain::clock::{Clock, SettableClock};
use sellerdesk::domain::ids::{OsEntropy, OutboxId, VendorId};
use sellerdesk::domain::notifications::{DomainEvent, Email, EmailKind, EventType, Message};
use sellerdesk::outbox::dispatch::Dispatcher;
use sellerdesk::outbox::eventbridge::EventBridgePublisher;
use sellerdesk::outbox::local::LocalOutbox;
use sellerdesk::outbox::ses::SesMailer;
use sellerdesk::outbox::{DeliveryError, EventPublisher, FailureKind, Mailer, enqueue};
use sellerdesk::store::{Item, ItemStore, Key, StoreError, Write};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
}

fn vendor() -> VendorId {
    VendorId::generate(start(), &OsEntropy)
}

fn receipt(to: &str) -> Message {
    Message::Email(Email {
        to: to.into(),
        subject: "Zahlungsbeleg SD-000001".into(),
        text: "Danke für Ihre Zahlung.".into(),
        html: "<p>Danke für Ihre Zahlung.</p>".into(),
        kind: EmailKind::PaymentReceipt,
        language: "de".into(),
    })
}

fn paid_event() -> Message {
    Message::Event(DomainEvent {
        event_type: EventType::OrderPaid,
        detail: json!({"order_number": "SD-000001"}),
    })
}

/// A state change and its two announcements, in one transaction.
async fn commit_order_paid(
    store: &Arc<dyn ItemStore>,
    vendor: &VendorId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let order = Item::new(
        Key::new(format!("V#{vendor}"), "ORDER#1"),
        json!({"status": "paid"}),
    );
    store
        .transact(vec![
            Write::create(order),
            enqueue(vendor, receipt("kunde@example.com"), now, &OsEntropy).unwrap(),
            enqueue(vendor, paid_event(), now, &OsEntropy).unwrap(),
        ])
        .await
}

fn local_dispatcher(
    store: &Arc<dyn ItemStore>,
    clock: &Arc<SettableClock>,
) -> (Dispatcher, LocalOutbox) {
    let local = LocalOutbox::new(Arc::clone(store));
    let dispatcher = Dispatcher::new(
        Arc::clone(store),
        Arc::new(local.clone()),
        Arc::new(local.clone()),
        Arc::clone(clock) as Arc<dyn Clock>,
    );
    (dispatcher, local)
}

// R-N1, R-N4
#[tokio::test]
async fn a_committed_change_is_announced_once_even_when_the_dispatcher_reruns() {
    // given a committed change with an e-mail and an event in its transaction
    let store = common::embedded();
    let clock = Arc::new(SettableClock::frozen(start()));
    let vendor = vendor();
    commit_order_paid(&store, &vendor, start()).await.unwrap();
    let (dispatcher, local) = local_dispatcher(&store, &clock);
    // when the dispatcher runs twice
    let first = dispatcher.dispatch_due().await.unwrap();
    let second = dispatcher.dispatch_due().await.unwrap();
    // then one e-mail and one event went out, the second run sent nothing
    assert_eq!((first.emails_sent, first.events_published), (1, 1));
    assert_eq!((second.emails_sent, second.events_published), (0, 0));
    let emails = local.emails().await.unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].kind, EmailKind::PaymentReceipt);
    assert_eq!(emails[0].to, "kunde@example.com");
    let events = local.events().await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "order.paid");
    assert_eq!(events[0].detail["vendor_id"], json!(vendor.as_str()));
}

// R-N1: nothing is announced that did not happen.
#[tokio::test]
async fn a_change_that_did_not_commit_sends_nothing() {
    // given an order that already exists, so the change's create fails
    let store = common::embedded();
    let clock = Arc::new(SettableClock::frozen(start()));
    let vendor = vendor();
    commit_order_paid(&store, &vendor, start()).await.unwrap();
    let (dispatcher, local) = local_dispatcher(&store, &clock);
    dispatcher.dispatch_due().await.unwrap();
    // when the same change is tried again and fails its condition
    let again = commit_order_paid(&store, &vendor, start()).await;
    assert!(matches!(
        again,
        Err(StoreError::ConditionFailed { index: 0, .. })
    ));
    // then no further e-mail or event is sent
    let report = dispatcher.dispatch_due().await.unwrap();
    assert_eq!((report.emails_sent, report.events_published), (0, 0));
    assert_eq!(local.emails().await.unwrap().len(), 1);
}

// R-N1: two dispatchers at once (a stream trigger and the safety-net sweep) send each item once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_dispatchers_send_each_item_once() {
    let store = common::embedded();
    let clock = Arc::new(SettableClock::frozen(start()));
    let vendor = vendor();
    for n in 0..20 {
        store
            .transact(vec![
                enqueue(
                    &vendor,
                    receipt(&format!("k{n}@example.com")),
                    start(),
                    &OsEntropy,
                )
                .unwrap(),
            ])
            .await
            .unwrap();
    }
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (dispatcher, _) = local_dispatcher(&store, &clock);
            tokio::spawn(async move { dispatcher.dispatch_due().await.unwrap() })
        })
        .collect();
    let mut sent = 0;
    for run in runs {
        sent += run.await.unwrap().emails_sent;
    }
    let (_, local) = local_dispatcher(&store, &clock);
    assert_eq!(sent, 20);
    assert_eq!(local.emails().await.unwrap().len(), 20);
}

/// A mailer that fails its first `failures` sends.
struct FlakyMailer {
    failures: AtomicU32,
    inner: LocalOutbox,
}

#[derive(Debug, thiserror::Error)]
#[error("mail server unavailable")]
struct Unavailable;

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(
        &self,
        id: &OutboxId,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(DeliveryError::new("flaky", Unavailable));
        }
        self.inner.send(id, email, now).await
    }
}

// R-N1: sent at least once — a failed send is retried later, not lost.
#[tokio::test]
async fn a_failed_send_is_retried_after_a_backoff() {
    let store = common::embedded();
    let clock = Arc::new(SettableClock::frozen(start()));
    let vendor = vendor();
    store
        .transact(vec![
            enqueue(&vendor, receipt("k@example.com"), start(), &OsEntropy).unwrap(),
        ])
        .await
        .unwrap();
    let local = LocalOutbox::new(Arc::clone(&store));
    let mailer = Arc::new(FlakyMailer {
        failures: AtomicU32::new(1),
        inner: local.clone(),
    });
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        mailer,
        Arc::new(local.clone()),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    // when the first send fails
    let first = dispatcher.dispatch_due().await.unwrap();
    assert_eq!((first.emails_sent, first.retries_scheduled), (0, 1));
    // then it is not retried before its backoff, and is sent once after it
    assert_eq!(dispatcher.dispatch_due().await.unwrap().emails_sent, 0);
    clock.advance(Duration::minutes(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap().emails_sent, 1);
    assert_eq!(local.emails().await.unwrap().len(), 1);
}

// R-N1, R-N4 through the real AWS adapters: SESv2 and EventBridge (routed to SQS) on moto.
#[tokio::test]
async fn aws_channels_send_once_through_ses_and_eventbridge() {
    let Some(config) = common::aws_config().await else {
        return;
    };
    let Some(store) = common::dynamodb().await else {
        return;
    };
    let ses = aws_sdk_sesv2::Client::new(&config);
    let sender = "noreply@sellerdesk.test";
    ses.create_email_identity()
        .email_identity(sender)
        .send()
        .await
        .unwrap();
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = format!("sellerdesk-{}", std::process::id());
    events.create_event_bus().name(&bus).send().await.unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("events-{}", std::process::id()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .event_bus_name(&bus)
        .name("all-sellerdesk")
        .event_pattern(json!({"source": ["sellerdesk"]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .event_bus_name(&bus)
        .rule("all-sellerdesk")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let clock = Arc::new(SettableClock::frozen(start()));
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(SesMailer::new(ses.clone(), sender)),
        Arc::new(EventBridgePublisher::new(events.clone(), &bus)) as Arc<dyn EventPublisher>,
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    let to = format!("kunde-{}@example.com", std::process::id());
    let vendor = vendor();
    let order = Item::new(
        Key::new(format!("V#{vendor}"), "ORDER#1"),
        json!({"status": "paid"}),
    );
    store
        .transact(vec![
            Write::create(order),
            enqueue(&vendor, receipt(&to), start(), &OsEntropy).unwrap(),
            enqueue(&vendor, paid_event(), start(), &OsEntropy).unwrap(),
        ])
        .await
        .unwrap();
    // when the dispatcher runs twice
    let first = dispatcher.dispatch_due().await.unwrap();
    let second = dispatcher.dispatch_due().await.unwrap();
    assert_eq!((first.emails_sent, first.events_published), (1, 1));
    assert_eq!((second.emails_sent, second.events_published), (0, 0));
    // then moto holds exactly one message to the customer
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let data: serde_json::Value = http_get_json(&format!("{endpoint}/moto-api/data.json")).await;
    let messages = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let to_customer: Vec<_> = messages
        .iter()
        .filter(|m| m.to_string().contains(&to))
        .collect();
    assert_eq!(to_customer.len(), 1, "{messages:?}");
    assert!(
        to_customer[0]
            .to_string()
            .contains("Zahlungsbeleg SD-000001")
    );
    // and the bus delivered exactly one order.paid event to the queue
    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<serde_json::Value> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["detail-type"], "order.paid");
    assert_eq!(bodies[0]["detail"]["vendor_id"], json!(vendor.as_str()));
    assert_eq!(bodies[0]["detail"]["data"]["order_number"], "SD-000001");
}

/// A plain HTTP GET over a TCP socket (moto's own API is not an AWS service).
async fn http_get_json(url: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

/// A mailer whose sending quota is spent until `resets_at` (SES's TooManyRequestsException).
struct QuotaMailer {
    resets_at: DateTime<Utc>,
    inner: LocalOutbox,
}

#[async_trait]
impl Mailer for QuotaMailer {
    async fn send(
        &self,
        id: &OutboxId,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        if now < self.resets_at {
            return Err(DeliveryError::classified(
                "ses",
                FailureKind::Throttled,
                Some("TooManyRequestsException".into()),
                Unavailable,
            ));
        }
        self.inner.send(id, email, now).await
    }
}

// Issue 11, §3: a spent quota is waited out — every mail goes once the quota allows, even after
// far more throttled tries than the 8 attempts a failing send has.
#[tokio::test]
async fn a_throttled_channel_sends_every_mail_once_the_quota_allows() {
    let store = common::embedded();
    let clock = Arc::new(SettableClock::frozen(start()));
    let vendor = vendor();
    for n in 0..12 {
        let write = enqueue(
            &vendor,
            receipt(&format!("k{n}@example.com")),
            start(),
            &OsEntropy,
        )
        .unwrap();
        store.transact(vec![write]).await.unwrap();
    }
    let local = LocalOutbox::new(Arc::clone(&store));
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(QuotaMailer {
            resets_at: start() + Duration::hours(3),
            inner: local.clone(),
        }),
        Arc::new(local.clone()),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    // when the dispatcher runs every five minutes through three throttled hours and beyond
    let mut given_up = 0;
    for _ in 0..40 {
        given_up += dispatcher.dispatch_due().await.unwrap().given_up;
        clock.advance(Duration::minutes(5));
    }
    // then nothing was given up and every mail went out exactly once
    assert_eq!(given_up, 0);
    let sent = local.emails().await.unwrap();
    assert_eq!(sent.len(), 12);
}

/// A mailer whose every send is refused for good (SES's MessageRejected).
struct RefusingMailer;

#[async_trait]
impl Mailer for RefusingMailer {
    async fn send(&self, _: &OutboxId, _: &Email, _: DateTime<Utc>) -> Result<(), DeliveryError> {
        Err(DeliveryError::classified(
            "ses",
            FailureKind::Permanent,
            Some("MessageRejected".into()),
            Unavailable,
        ))
    }
}

// Issue 11, §3: a permanent refusal is not retried eight times; it fails at once, its code kept.
#[tokio::test]
async fn a_permanent_refusal_fails_once_with_its_code_stored() {
    let store = common::embedded();
    let clock = Arc::new(SettableClock::frozen(start()));
    let write = enqueue(&vendor(), receipt("gone@example.com"), start(), &OsEntropy).unwrap();
    let key = write.key().clone();
    store.transact(vec![write]).await.unwrap();
    let local = LocalOutbox::new(Arc::clone(&store));
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(RefusingMailer),
        Arc::new(local),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    let first = dispatcher.dispatch_due().await.unwrap();
    assert_eq!((first.given_up, first.retries_scheduled), (1, 0));
    clock.advance(Duration::hours(3));
    let later = dispatcher.dispatch_due().await.unwrap();
    assert_eq!((later.given_up, later.retries_scheduled), (0, 0));
    let stored = store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.body["delivery"]["state"], "failed");
    assert_eq!(stored.body["attempts"], 1);
    let error = stored.body["last_error"].as_str().unwrap();
    assert!(error.contains("MessageRejected"), "{error}");
}

// Issue 11, §3 through the real SESv2 adapter: a sender SES has not verified is a permanent
// refusal with SES's own code, not a failure to retry eight times.
#[tokio::test]
async fn ses_refusing_an_unverified_sender_is_a_permanent_failure_with_its_code() {
    let Some(config) = common::aws_config().await else {
        return;
    };
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::new(&config),
        format!("unverified-{}@nowhere.test", std::process::id()),
    );
    let email = Email {
        to: "k@example.com".into(),
        subject: "Hallo".into(),
        text: "Text".into(),
        html: "<p>Text</p>".into(),
        kind: EmailKind::PaymentReceipt,
        language: "de".into(),
    };
    let id = OutboxId::generate(start(), &OsEntropy);
    let refused = mailer.send(&id, &email, start()).await.unwrap_err();
    assert_eq!(
        refused.kind,
        FailureKind::Permanent,
        "{}",
        refused.describe()
    );
    assert_eq!(refused.code.as_deref(), Some("MessageRejected"));
}

/// The embedded store with a due index that lags (DynamoDB's indexes are eventually consistent):
/// index queries see nothing yet.
struct LaggingIndex(Arc<dyn ItemStore>);

#[async_trait]
impl ItemStore for LaggingIndex {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.0.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.0.get_many(keys).await
    }
    async fn put(
        &self,
        item: Item,
        condition: sellerdesk::store::Condition,
    ) -> Result<(), StoreError> {
        self.0.put(item, condition).await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: sellerdesk::store::Condition,
    ) -> Result<(), StoreError> {
        self.0.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.0.transact(writes).await
    }
    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.0.put_batch(items).await
    }
    async fn query(
        &self,
        query: &sellerdesk::store::Query,
    ) -> Result<sellerdesk::store::Page, StoreError> {
        if query.index.is_some() {
            return Ok(sellerdesk::store::Page {
                items: Vec::new(),
                next_cursor: None,
                items_read: 0,
            });
        }
        self.0.query(query).await
    }

    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError> {
        self.0.add(key, delta).await
    }

    async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        self.0.counter(key).await
    }
}

// Issue 11, §4: what the stream reports is sent by its key at once, whatever the index shows.
#[tokio::test]
async fn the_stream_dispatcher_sends_what_the_stream_names_though_the_index_lags() {
    let inner = common::embedded();
    let store: Arc<dyn ItemStore> = Arc::new(LaggingIndex(Arc::clone(&inner)));
    let clock = Arc::new(SettableClock::frozen(start()));
    let write = enqueue(&vendor(), receipt("now@example.com"), start(), &OsEntropy).unwrap();
    let key = write.key().clone();
    store.transact(vec![write]).await.unwrap();
    let local = LocalOutbox::new(Arc::clone(&inner));
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(local.clone()),
        Arc::new(local.clone()),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    // the index does not show the new item yet
    assert_eq!(dispatcher.dispatch_due().await.unwrap().emails_sent, 0);
    // but the item the stream named is sent, once
    assert_eq!(
        dispatcher
            .dispatch_keys(std::slice::from_ref(&key))
            .await
            .unwrap()
            .emails_sent,
        1
    );
    assert_eq!(
        dispatcher.dispatch_keys(&[key]).await.unwrap().emails_sent,
        0
    );
    assert_eq!(local.emails().await.unwrap().len(), 1);
}

// Issue 11, §4: a run whose time is spent claims nothing more; what it left stays due.
#[tokio::test]
async fn a_spent_budget_claims_nothing_and_leaves_the_items_due() {
    let store = common::embedded();
    let clock = Arc::new(SettableClock::frozen(start()));
    for n in 0..3 {
        let write = enqueue(
            &vendor(),
            receipt(&format!("b{n}@example.com")),
            start(),
            &OsEntropy,
        )
        .unwrap();
        store.transact(vec![write]).await.unwrap();
    }
    let local = LocalOutbox::new(Arc::clone(&store));
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(local.clone()),
        Arc::new(local.clone()),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    let spent = sellerdesk::domain::clock::Budget::until(start());
    let report = dispatcher.dispatch_due_within(spent).await.unwrap();
    assert_eq!((report.emails_sent, report.deferred), (0, 3));
    assert_eq!(dispatcher.dispatch_due().await.unwrap().emails_sent, 3);
}

/// Keeps the body of every SESv2 SendEmail request.
#[derive(Debug, Default, Clone)]
struct SentRequests(Arc<std::sync::Mutex<Vec<serde_json::Value>>>);

impl aws_sdk_sesv2::config::Intercept for SentRequests {
    fn name(&self) -> &'static str {
        "SentRequests"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_sesv2::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_sesv2::config::RuntimeComponents,
        _: &mut aws_sdk_sesv2::config::ConfigBag,
    ) -> Result<(), aws_sdk_sesv2::error::BoxError> {
        if let Some(body) = context.request().body().bytes() {
            self.0.lock().unwrap().push(serde_json::from_slice(body)?);
        }
        Ok(())
    }
}

// Issue 11, §3: every mail goes through the configuration set whose bounces and complaints feed
// the suppression list, tagged with its outbox id (moto ignores both: read off the wire).
#[tokio::test]
async fn mail_is_sent_through_the_configuration_set_with_its_outbox_id() {
    let Some(config) = common::aws_config().await else {
        return;
    };
    let sent = SentRequests::default();
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&config)
            .interceptor(sent.clone())
            .build(),
    );
    let sender = "noreply-set@sellerdesk.test";
    ses.create_email_identity()
        .email_identity(sender)
        .send()
        .await
        .unwrap();
    let mailer = SesMailer::new(ses, sender).with_configuration_set(Some("sellerdesk-mail".into()));
    let id = OutboxId::generate(start(), &OsEntropy);
    let Message::Email(email) = receipt("kunde@example.com") else {
        unreachable!()
    };
    // when one mail is sent
    mailer.send(&id, &email, start()).await.unwrap();
    // then its request named the configuration set and carried the outbox id
    let bodies = sent.0.lock().unwrap().clone();
    let send = bodies
        .iter()
        .find(|b| b["FromEmailAddress"] == sender)
        .expect("the SendEmail request");
    assert_eq!(send["ConfigurationSetName"], "sellerdesk-mail");
    assert_eq!(send["EmailTags"][0]["Name"], "outbox_id");
    assert_eq!(send["EmailTags"][0]["Value"], id.as_str());
}
