//! The simulated payment provider (`/_dev/pay/{session}`, API.md): a page with pay / fail buttons,
//! and a POST that sends correctly signed Stripe webhooks through the real webhook route, as
//! Stripe would. The session is the order's customer-link token.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use sellerdesk::api::{ApiError, ApiRequest, ApiResponse};
use sellerdesk::app::App;
use sellerdesk::domain::ids::Entropy;
use sellerdesk::payments::{
    CancelSubscriptionRequest, PaymentProvider, PaymentSession, PaymentSessionRequest,
    ProviderError, ProviderRefund, RefundRequest, RefundState,
};
use sellerdesk::usecases::orders::portal::{CustomerOrder, order_by_token};
use sellerdesk::webhooks::stripe_signature::header_for;
use serde::Deserialize;
use serde_json::{Value, json};

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
) -> Result<String, minijinja::Error> {
    let mut templates = minijinja::Environment::new();
    templates.add_template("pay.html", PAY_PAGE)?;
    templates
        .get_template("pay.html")?
        .render(minijinja::context! {
            order_number => order_number,
            vendor_name => vendor_name,
            amount => amount,
        })
}

pub async fn page(app: &App, session: &str) -> ApiResponse {
    let found = match open_order(app, session).await {
        Ok(found) => found,
        Err(error) => return error.to_response(),
    };
    let amount = open_amount(&found, app.clock.now())
        .map(|(units, currency)| format!("{units} {currency} (minor units)"))
        .unwrap_or_else(|| "nothing open".into());
    let html = match render_pay_page(&found.order.number, &found.vendor.name, &amount) {
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

pub async fn pay(
    app: &App,
    secret: &str,
    session: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let body: PayRequest = request.json()?;
    let found = open_order(app, session).await?;
    let Some((units, currency)) = open_amount(&found, app.clock.now()) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "nothing_open",
            "the order has nothing open to pay",
        ));
    };
    let entropy = app.entropy.as_ref();
    let (event_type, payment_status) = match body.outcome {
        Outcome::Succeeded => ("checkout.session.completed", "paid"),
        Outcome::Failed => ("checkout.session.async_payment_failed", "unpaid"),
    };
    let event = json!({
        "id": random_id("evt_dev", entropy),
        "object": "event",
        "type": event_type,
        "created": app.clock.now().timestamp(),
        "data": { "object": {
            "id": random_id("cs_dev", entropy),
            "object": "checkout.session",
            "amount_total": units,
            "currency": currency,
            "payment_status": payment_status,
            "payment_intent": random_id("pi_dev", entropy),
            "customer": format!("cus_dev_{}", found.customer.id),
            "metadata": { "vendor_id": found.vendor.id, "order_id": found.order.id, "customer_id": found.order.customer_id },
        }},
    });
    let payload = event.to_string();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let signature = header_for(secret, app.clock.now().timestamp(), payload.as_bytes());
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
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({ "sent": [{ "type": event_type, "event": event, "status": answer.status.as_u16(), "answer": answer_body }] }),
    ))
}

/// The dev server's payment provider: a payment page is the simulated provider's page of the
/// order (`/_dev/pay/{customer-link token}`); refunds and cancellations succeed at once (their
/// webhooks are the refund flow's business).
pub struct SimulatedProvider {
    pub base_url: String,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payment_page_escapes_what_it_shows() {
        let html =
            render_pay_page("SD-000001", "<img src=x onerror=alert(1)>", "1189 eur").unwrap();
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("<script>"), "the page's own script stays");
    }
}
