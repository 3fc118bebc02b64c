//! The simulated payment provider (`/_dev/pay/{session}`, API.md): a page with pay / fail buttons,
//! and a POST that sends correctly signed Stripe webhooks through the real webhook route, as
//! Stripe would. The session is the order's customer-link token.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use sellerdesk::api::{ApiError, ApiRequest, ApiResponse};
use sellerdesk::app::App;
use sellerdesk::domain::ids::Entropy;
use sellerdesk::payments::{
    CancelSubscriptionRequest, OffSessionOutcome, OffSessionPayment, PaymentProvider,
    PaymentSession, PaymentSessionRequest, ProviderError, ProviderRefund, RefundRequest,
    RefundState,
};
use sellerdesk::usecases::orders::portal::{CustomerOrder, order_by_token};
use sellerdesk::webhooks::stripe_signature::header_for;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

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
    order_by_token(app.store.as_ref(), session)
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
            "metadata": metadata,
        }),
    )];
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
        match send(app, secret, event).await {
            Ok(sent) if sent["status"] == json!(200) => {}
            Ok(sent) => {
                tracing::warn!(status = %sent["status"], "the webhook route refused a simulated event")
            }
            Err(error) => tracing::warn!(error = %error.code, "a simulated event was not sent"),
        }
    }
}

/// The dev server's payment provider: a payment page is the simulated provider's page of the
/// order (`/_dev/pay/{customer-link token}`); refunds and cancellations succeed at once (their
/// webhooks are the refund flow's business). Off-session payments of instalments succeed
/// unless the order's customer e-mail contains `+decline`; their outcome events are sent after
/// the sweep that made them ([`send_owed_events`]).
pub struct SimulatedProvider {
    pub base_url: String,
    /// Off-session payments made, by id: what confirming one charges, and its outcome once
    /// confirmed (confirming again answers that, as Stripe does).
    payments: Mutex<HashMap<String, (OffSessionPayment, Option<OffSessionOutcome>)>>,
    owed_events: Mutex<Vec<Value>>,
}

impl SimulatedProvider {
    pub fn new(base_url: String) -> SimulatedProvider {
        SimulatedProvider {
            base_url,
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
        _request: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError> {
        Ok(())
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
