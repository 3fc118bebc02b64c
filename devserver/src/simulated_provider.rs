//! The simulated payment provider (`/_dev/pay/{session}`, API.md): a page with pay / fail buttons,
//! and a POST that sends correctly signed Stripe webhooks through the real webhook route, as
//! Stripe would. The session is the order's customer-link token.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use sellerdesk::api::{ApiError, ApiRequest, ApiResponse};
use sellerdesk::app::App;
use sellerdesk::domain::catalogue::{Interval, Plan};
use sellerdesk::domain::ids::Entropy;
use sellerdesk::payments::{
    CancelSubscriptionRequest, OffSessionOutcome, OffSessionPayment, PaymentProvider,
    PaymentSession, PaymentSessionRequest, ProviderError, ProviderRefund, RefundRequest,
    RefundState,
};
use sellerdesk::store::{Item, ItemStore, Key, Query, SortRange, Write};
use sellerdesk::usecases::orders::portal::{CustomerOrder, order_to_view_or_pay};
use sellerdesk::webhooks::stripe_signature::header_for;
use serde::Deserialize;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    outcome: Outcome,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Succeeded,
    Failed,
}

fn random_id(prefix: &str, entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; 12];
    entropy.fill(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

async fn open_order(app: &App, session: &str) -> Result<CustomerOrder, ApiError> {
    order_to_view_or_pay(app.store.as_ref(), session)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "no such payment session",
            )
        })
}

/// The rest of the payment the customer's link may pay now (`portal::payable_item`), in
/// Stripe's units, and its currency code.
fn open_amount(found: &CustomerOrder, now: chrono::DateTime<chrono::Utc>) -> Option<(i64, String)> {
    let item =
        sellerdesk::usecases::orders::portal::payable_item(&found.order, &found.vendor, now)?;
    let rest = item.amount.checked_sub(&item.paid).ok()?;
    Some((
        sellerdesk::payments::stripe_units::to_stripe_units(rest).ok()?,
        rest.currency().code().to_ascii_lowercase(),
    ))
}

/// The page's template; minijinja escapes every value put into it (the name is `.html`), so a
/// vendor named `<img onerror=…>` is shown as text (issue 10, defect 8).
const PAY_PAGE: &str = include_str!("../templates/pay.html");

fn render_pay_page(
    order_number: &str,
    vendor_name: &str,
    amount: &str,
    consent: Option<&str>,
) -> Result<String, minijinja::Error> {
    let mut templates = minijinja::Environment::new();
    templates.add_template("pay.html", PAY_PAGE)?;
    templates
        .get_template("pay.html")?
        .render(minijinja::context! {
            order_number => order_number,
            vendor_name => vendor_name,
            amount => amount,
            consent => consent,
        })
}

pub async fn page(app: &App, session: &str) -> ApiResponse {
    let found = match open_order(app, session).await {
        Ok(found) => found,
        Err(error) => return error.to_response(),
    };
    let now = app.clock.now();
    let amount = open_amount(&found, now)
        .map(|(units, currency)| format!("{units} {currency} (minor units)"))
        .unwrap_or_else(|| "nothing open".into());
    let consent = later_rates_consent(&found, now);
    let html = match render_pay_page(
        &found.order.number,
        &found.vendor.name,
        &amount,
        consent.as_deref(),
    ) {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(error = %error, "the payment page did not render");
            return ApiError::internal().to_response();
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    ApiResponse {
        status: StatusCode::OK,
        headers,
        body: Bytes::from(html),
    }
}

/// What the customer allows for the plan's later rates when paying now (as Stripe's page says
/// above its button): `Some` where the method is saved for them.
fn later_rates_consent(
    found: &CustomerOrder,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let item =
        sellerdesk::usecases::orders::portal::payable_item(&found.order, &found.vendor, now)?;
    sellerdesk::usecases::orders::portal::consent_to_later_rates(
        &found.order,
        item,
        &found.vendor,
        &found.customer,
        now,
    )
}

pub async fn pay(
    app: &App,
    secret: &str,
    session: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let body: PayRequest = request.json()?;
    let found = open_order(app, session).await?;
    let now = app.clock.now();
    let Some((units, currency)) = open_amount(&found, now) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "nothing_open",
            "the order has nothing open to pay",
        ));
    };
    let saves_method = later_rates_consent(&found, now).is_some();
    // A subscription's first payment starts it at the provider, which bills the later periods
    // itself (`bill_due_renewals`), as Stripe Billing does.
    let starts_subscription = match found.order.plan {
        Plan::Subscription { interval } if body.outcome == Outcome::Succeeded => Some(interval),
        _ => None,
    };
    let subscription = starts_subscription.map(|_| format!("sub_dev_{}", found.order.id));
    let entropy = app.entropy.as_ref();
    let (event_type, payment_status) = match body.outcome {
        Outcome::Succeeded => ("checkout.session.completed", "paid"),
        Outcome::Failed => ("checkout.session.async_payment_failed", "unpaid"),
    };
    let intent = random_id("pi_dev", entropy);
    let customer = format!("cus_dev_{}", found.customer.id);
    let metadata = json!({ "vendor_id": found.vendor.id, "order_id": found.order.id, "customer_id": found.order.customer_id });
    let mut events = vec![event(
        entropy,
        event_type,
        json!({
            "id": random_id("cs_dev", entropy),
            "object": "checkout.session",
            "amount_total": units,
            "currency": currency,
            "payment_status": payment_status,
            "payment_intent": intent,
            "customer": customer,
            "mode": if subscription.is_some() { "subscription" } else { "payment" },
            "subscription": subscription,
            "metadata": metadata,
        }),
    )];
    if let (Some(interval), Some(id), Outcome::Succeeded) =
        (starts_subscription, &subscription, body.outcome)
    {
        let started = SimulatedSubscription {
            id: id.clone(),
            vendor_id: found.vendor.id.to_string(),
            order_id: found.order.id.to_string(),
            customer_id: found.order.customer_id.to_string(),
            customer: customer.clone(),
            email: found.order.recipient(&found.customer).to_string(),
            units,
            currency: currency.clone(),
            interval,
            anchor: now,
            periods_billed: 1,
            cancelled: false,
        };
        let item = Item::new(
            subscription_key(id),
            serde_json::to_value(&started).map_err(|_| ApiError::internal())?,
        );
        app.store
            .transact(vec![Write::Put {
                item,
                condition: sellerdesk::store::Condition::Always,
            }])
            .await
            .map_err(|error| internal(&error))?;
    }
    // As Stripe does for a session that saves the method (issue 15): its payment intent
    // reports the method saved for the later rates.
    if saves_method && body.outcome == Outcome::Succeeded {
        events.push(event(
            entropy,
            "payment_intent.succeeded",
            json!({
                "id": intent,
                "object": "payment_intent",
                "amount": units,
                "amount_received": units,
                "currency": currency,
                "status": "succeeded",
                "customer": customer,
                "payment_method": format!("pm_dev_{}", found.customer.id),
                "setup_future_usage": "off_session",
                "metadata": metadata,
            }),
        ));
    }
    let mut sent = Vec::new();
    for event in events {
        sent.push(send(app, secret, event).await?);
    }
    Ok(ApiResponse::json(StatusCode::OK, &json!({ "sent": sent })))
}

/// Where the simulated provider keeps its subscriptions: outside every vendor's partition, in
/// the dev server's own store (they survive restarts like the data).
const SUBSCRIPTIONS_PK: &str = "DEV#SIMULATED_PROVIDER";

fn subscription_key(id: &str) -> Key {
    Key::new(SUBSCRIPTIONS_PK, format!("SUBSCRIPTION#{id}"))
}

fn internal(error: &dyn std::error::Error) -> ApiError {
    tracing::error!(error = %error, "the simulated provider failed");
    ApiError::internal()
}

/// A subscription the simulated provider bills, as Stripe Billing would: every interval from
/// the first payment (its anchor), until cancelled.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimulatedSubscription {
    id: String,
    vendor_id: String,
    order_id: String,
    customer_id: String,
    customer: String,
    email: String,
    units: i64,
    currency: String,
    interval: Interval,
    anchor: chrono::DateTime<chrono::Utc>,
    periods_billed: u32,
    cancelled: bool,
}

impl SimulatedSubscription {
    fn period_start(&self, period: u32) -> chrono::DateTime<chrono::Utc> {
        sellerdesk::domain::orders::add_intervals(
            self.anchor,
            self.interval,
            period,
            chrono_tz::UTC,
        )
    }

    /// The invoice of period `period` (0 the first): paid, or declined for `+decline`.
    fn invoice_event(&self, period: u32) -> Value {
        let declined = self.email.contains("+decline");
        let name = format!("{}_{period}", self.id.trim_start_matches("sub_dev_"));
        let (start, end) = (self.period_start(period), self.period_start(period + 1));
        let object = json!({
            "id": format!("in_dev_{name}"),
            "object": "invoice",
            "amount_due": self.units,
            "amount_paid": if declined { 0 } else { self.units },
            "currency": self.currency,
            "customer": self.customer,
            "billing_reason": "subscription_cycle",
            "status": if declined { "open" } else { "paid" },
            "subscription": self.id,
            "payment_intent": format!("pi_dev_{name}"),
            "charge": format!("ch_dev_{name}"),
            "attempt_count": 1,
            "subscription_details": { "metadata": { "vendor_id": self.vendor_id, "order_id": self.order_id, "customer_id": self.customer_id } },
            "lines": { "object": "list", "data": [{ "id": format!("il_dev_{name}"), "amount": self.units, "currency": self.currency, "period": { "start": start.timestamp(), "end": end.timestamp() } }] },
        });
        json!({
            "id": format!("evt_dev_{name}"),
            "object": "event",
            "type": if declined { "invoice.payment_failed" } else { "invoice.paid" },
            "data": { "object": object },
        })
    }
}

/// Bills every simulated subscription whose next period has begun: one invoice event per
/// period (as Stripe's renewals), sent through the webhook route. Run after each sweep.
pub async fn bill_due_renewals(app: &App, secret: &str) {
    let now = app.clock.now();
    let query = Query::table(SUBSCRIPTIONS_PK, SortRange::Prefix("SUBSCRIPTION#".into()));
    let items = match app.store.query(&query).await {
        Ok(found) => found.items,
        Err(error) => {
            tracing::warn!(error = %error, "the simulated subscriptions could not be read");
            return;
        }
    };
    for item in items {
        let Ok(mut subscription) = item.decode::<SimulatedSubscription>() else {
            continue;
        };
        let mut invoices = Vec::new();
        while !subscription.cancelled
            && subscription.period_start(subscription.periods_billed) <= now
            && invoices.len() < 24
        {
            invoices.push(subscription.invoice_event(subscription.periods_billed));
            subscription.periods_billed += 1;
        }
        if invoices.is_empty() {
            continue;
        }
        // Recorded first: a renewal is billed once even if its event then fails to arrive.
        let Ok(body) = serde_json::to_value(&subscription) else {
            continue;
        };
        if app
            .store
            .transact(vec![Write::update(item.next(body))])
            .await
            .is_err()
        {
            continue;
        }
        for invoice in invoices {
            report_sent(send(app, secret, invoice).await);
        }
    }
}

/// Marks a simulated subscription cancelled: it bills nothing more.
async fn cancel_simulated(store: &dyn ItemStore, id: &str) -> Result<(), ProviderError> {
    let Ok(Some(item)) = store.get(&subscription_key(id)).await else {
        // Not one of ours (an id sent by hand): gone already, as Stripe answers.
        return Ok(());
    };
    let Ok(mut subscription) = item.decode::<SimulatedSubscription>() else {
        return Ok(());
    };
    subscription.cancelled = true;
    let body = serde_json::to_value(&subscription).map_err(ProviderError::Malformed)?;
    store
        .transact(vec![Write::update(item.next(body))])
        .await
        .map_err(|_| unavailable())
}

fn report_sent(sent: Result<Value, ApiError>) {
    match sent {
        Ok(sent) if sent["status"] == json!(200) => {}
        Ok(sent) => {
            tracing::warn!(status = %sent["status"], "the webhook route refused a simulated event")
        }
        Err(error) => tracing::warn!(error = %error.code, "a simulated event was not sent"),
    }
}

/// A Stripe event of `event_type` about `object` (its `created` is set when it is sent).
fn event(entropy: &dyn Entropy, event_type: &str, object: Value) -> Value {
    json!({
        "id": random_id("evt_dev", entropy),
        "object": "event",
        "type": event_type,
        "data": { "object": object },
    })
}

/// Sends `event`, signed with the platform's endpoint secret, through the real webhook route as
/// Stripe would: what was sent and what the route answered.
async fn send(app: &App, secret: &str, mut event: Value) -> Result<Value, ApiError> {
    let now = app.clock.now();
    event["created"] = json!(now.timestamp());
    let payload = event.to_string();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let signature = header_for(secret, now.timestamp(), payload.as_bytes());
    headers.insert(
        "stripe-signature",
        HeaderValue::from_str(&signature).map_err(|_| ApiError::internal())?,
    );
    let webhook = ApiRequest {
        method: Method::POST,
        path: "/webhooks/stripe".to_string(),
        query: None,
        headers,
        body: Bytes::from(payload),
    };
    let answer = app.handle(&webhook, |_| true).await;
    let answer_body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    Ok(
        json!({ "type": event["type"], "event": event, "status": answer.status.as_u16(), "answer": answer_body }),
    )
}

/// Sends the events the provider owes since the last call (the outcomes of off-session
/// payments), as Stripe sends them shortly after a call: after each sweep.
pub async fn send_owed_events(app: &App, provider: &SimulatedProvider, secret: &str) {
    let owed = match provider.owed_events.lock() {
        Ok(mut owed) => std::mem::take(&mut *owed),
        Err(_) => return,
    };
    for event in owed {
        report_sent(send(app, secret, event).await);
    }
}

/// The dev server's payment provider: a payment page is the simulated provider's page of the
/// order (`/_dev/pay/{customer-link token}`); refunds and cancellations succeed at once (their
/// webhooks are the refund flow's business). Off-session payments of instalments succeed
/// unless the order's customer e-mail contains `+decline`; their outcome events are sent after
/// the sweep that made them ([`send_owed_events`]).
pub struct SimulatedProvider {
    pub base_url: String,
    /// Where its subscriptions are kept (the dev server's store).
    store: Arc<dyn ItemStore>,
    /// Off-session payments made, by id: what confirming one charges, and its outcome once
    /// confirmed (confirming again answers that, as Stripe does).
    payments: Mutex<HashMap<String, (OffSessionPayment, Option<OffSessionOutcome>)>>,
    owed_events: Mutex<Vec<Value>>,
}

impl SimulatedProvider {
    pub fn new(base_url: String, store: Arc<dyn ItemStore>) -> SimulatedProvider {
        SimulatedProvider {
            base_url,
            store,
            payments: Mutex::new(HashMap::new()),
            owed_events: Mutex::new(Vec::new()),
        }
    }
}

/// The outcome event of an off-session payment, as Stripe reports it.
fn off_session_event(id: &str, payment: &OffSessionPayment, declined: bool) -> Value {
    let units = sellerdesk::payments::stripe_units::to_stripe_units(payment.amount).unwrap_or(0);
    let charge = format!("ch_dev_{}", id.trim_start_matches("pi_dev_"));
    let object = json!({
        "id": id,
        "object": "payment_intent",
        "amount": units,
        "amount_received": if declined { 0 } else { units },
        "currency": payment.amount.currency().code().to_ascii_lowercase(),
        "status": if declined { "requires_payment_method" } else { "succeeded" },
        "customer": payment.method.customer,
        "payment_method": payment.method.payment_method,
        "latest_charge": charge,
        "last_payment_error": if declined { json!({"code": "card_declined", "charge": charge}) } else { Value::Null },
        "metadata": { "vendor_id": payment.vendor_id, "order_id": payment.order_id, "customer_id": payment.customer_id, "schedule_seq": payment.seq.to_string() },
    });
    json!({
        "id": format!("evt_dev_{}", id.trim_start_matches("pi_dev_")),
        "object": "event",
        "type": if declined { "payment_intent.payment_failed" } else { "payment_intent.succeeded" },
        "data": { "object": object },
    })
}

#[async_trait::async_trait]
impl PaymentProvider for SimulatedProvider {
    async fn create_payment_session(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError> {
        Ok(PaymentSession {
            id: format!("cs_dev_{}", request.idempotency_key),
            url: format!("{}/_dev/pay/{}", self.base_url, request.order_token),
        })
    }

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        Ok(ProviderRefund {
            id: format!("re_dev_{}", request.refund_id),
            state: RefundState::Succeeded,
        })
    }

    async fn cancel_subscription(
        &self,
        request: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError> {
        cancel_simulated(self.store.as_ref(), &request.subscription).await
    }

    /// One payment per idempotency key, as at Stripe.
    async fn create_off_session_payment(
        &self,
        request: &OffSessionPayment,
    ) -> Result<String, ProviderError> {
        let id = format!("pi_dev_{}", request.idempotency_key);
        let mut payments = self.payments.lock().map_err(|_| unavailable())?;
        payments
            .entry(id.clone())
            .or_insert_with(|| (request.clone(), None));
        Ok(id)
    }

    async fn confirm_off_session_payment(
        &self,
        payment: &str,
        _idempotency_key: &str,
    ) -> Result<OffSessionOutcome, ProviderError> {
        let mut payments = self.payments.lock().map_err(|_| unavailable())?;
        let Some((request, outcome)) = payments.get_mut(payment) else {
            return Err(ProviderError::Rejected {
                status: 404,
                code: "resource_missing".into(),
            });
        };
        if let Some(outcome) = outcome {
            return Ok(outcome.clone());
        }
        let declined = request.customer_email.contains("+decline");
        let answer = if declined {
            OffSessionOutcome::Declined {
                code: "card_declined".into(),
            }
        } else {
            OffSessionOutcome::Succeeded
        };
        *outcome = Some(answer.clone());
        self.owed_events
            .lock()
            .map_err(|_| unavailable())?
            .push(off_session_event(payment, request, declined));
        Ok(answer)
    }

    async fn cancel_off_session_payment(&self, payment: &str) -> Result<bool, ProviderError> {
        self.cancel(payment)
    }
}

impl SimulatedProvider {
    /// `true` when `payment` is cancelled now or was; `false` when it was charged.
    fn cancel(&self, payment: &str) -> Result<bool, ProviderError> {
        let mut payments = self.payments.lock().map_err(|_| unavailable())?;
        match payments.get_mut(payment) {
            Some((_, Some(OffSessionOutcome::Succeeded))) => Ok(false),
            Some((_, outcome)) => {
                *outcome = Some(OffSessionOutcome::Canceled);
                Ok(true)
            }
            None => Err(ProviderError::Rejected {
                status: 404,
                code: "resource_missing".into(),
            }),
        }
    }
}

/// A poisoned lock: answered as an unreachable provider, so the task is tried again.
fn unavailable() -> ProviderError {
    ProviderError::Transport(sellerdesk::payments::https::TransportError::Timeout(
        std::time::Duration::ZERO,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payment_page_escapes_what_it_shows() {
        let html = render_pay_page(
            "SD-000001",
            "<img src=x onerror=alert(1)>",
            "1189 eur",
            None,
        )
        .unwrap();
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("<script>"), "the page's own script stays");
    }
}
