//! The Stripe REST adapter of the payment-provider port: form-encoded requests on the platform's
//! account with its secret key, the vendor and order in every object's metadata (the platform's
//! one webhook route finds them there), and an `Idempotency-Key` on every POST so a retried call
//! is one call at Stripe.

use super::https::HttpsClient;
use super::{
    CancelSubscriptionRequest, OffSessionOutcome, OffSessionPayment, PaymentProvider,
    PaymentSession, PaymentSessionRequest, ProviderError, ProviderRefund, RefundRequest,
    RefundState, form,
};
use crate::domain::catalogue::Interval;
use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::Value;

pub const STRIPE_API: &str = "https://api.stripe.com";
/// Stripe's API version the adapter speaks (docs/decisions.md, "Provider events in their real
/// shapes").
pub const STRIPE_VERSION: &str = "2024-06-20";

pub struct StripeApi {
    client: HttpsClient,
    base_url: String,
    secret_key: String,
}

#[derive(Deserialize)]
struct SessionAnswer {
    id: String,
    url: String,
}

#[derive(Deserialize)]
struct PaymentIntentAnswer {
    id: String,
    status: String,
    #[serde(default)]
    last_payment_error: Option<Value>,
}

impl PaymentIntentAnswer {
    fn outcome(&self) -> OffSessionOutcome {
        let code = || {
            self.last_payment_error
                .as_ref()
                .and_then(|error| error["code"].as_str())
                .unwrap_or("declined")
                .to_string()
        };
        match self.status.as_str() {
            "succeeded" | "requires_capture" => OffSessionOutcome::Succeeded,
            "processing" => OffSessionOutcome::Processing,
            "requires_action" => OffSessionOutcome::NeedsCustomer,
            "canceled" => OffSessionOutcome::Canceled,
            _ if code() == "authentication_required" => OffSessionOutcome::NeedsCustomer,
            _ => OffSessionOutcome::Declined { code: code() },
        }
    }
}

#[derive(Deserialize)]
struct RefundAnswer {
    id: String,
    status: String,
}

fn interval_name(interval: Interval) -> &'static str {
    match interval {
        Interval::Day => "day",
        Interval::Week => "week",
        Interval::Month => "month",
        Interval::Year => "year",
    }
}

impl StripeApi {
    /// `base_url` is [`STRIPE_API`] except in tests.
    pub fn new(client: HttpsClient, base_url: &str, secret_key: String) -> StripeApi {
        StripeApi {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        idempotency_key: Option<&str>,
        pairs: &[(&str, String)],
    ) -> Result<Value, ProviderError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.secret_key))
            // The version our requests and the platform's webhook endpoint are written for.
            .header("stripe-version", STRIPE_VERSION)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(key) = idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        let request = builder
            .body(Full::new(Bytes::from(form::encode(pairs))))
            .map_err(|source| {
                ProviderError::Transport(super::https::TransportError::Request(source))
            })?;
        let (status, body) = self
            .client
            .send(request)
            .await
            .map_err(ProviderError::Transport)?;
        let answer: Value = serde_json::from_slice(&body).map_err(ProviderError::Malformed)?;
        if status.is_success() {
            return Ok(answer);
        }
        let error = &answer["error"];
        let code = error["code"]
            .as_str()
            .or(error["type"].as_str())
            .unwrap_or("unknown");
        Err(ProviderError::Rejected {
            status: status.as_u16(),
            code: code.to_string(),
        })
    }
}

#[async_trait]
impl PaymentProvider for StripeApi {
    async fn create_payment_session(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError> {
        let units =
            super::stripe_units::to_stripe_units(request.amount).map_err(ProviderError::Amount)?;
        let order_id = request.order_id.to_string();
        let customer_id = request.customer_id.to_string();
        let vendor_id = request.vendor_id.to_string();
        let mut pairs = vec![
            (
                "mode",
                if request.renews_every.is_some() {
                    "subscription"
                } else {
                    "payment"
                }
                .to_string(),
            ),
            ("success_url", request.success_url.clone()),
            ("cancel_url", request.cancel_url.clone()),
            ("customer_email", request.customer_email.clone()),
            ("client_reference_id", order_id.clone()),
            ("metadata[vendor_id]", vendor_id.clone()),
            ("metadata[order_id]", order_id.clone()),
            ("metadata[customer_id]", customer_id.clone()),
            ("line_items[0][quantity]", "1".to_string()),
            (
                "line_items[0][price_data][currency]",
                request.amount.currency().code().to_ascii_lowercase(),
            ),
            ("line_items[0][price_data][unit_amount]", units.to_string()),
            (
                "line_items[0][price_data][product_data][name]",
                format!("{} ({})", request.description, request.order_number),
            ),
        ];
        match request.renews_every {
            // Later invoices carry the order id through the subscription's metadata.
            Some(interval) => pairs.extend([
                (
                    "line_items[0][price_data][recurring][interval]",
                    interval_name(interval).to_string(),
                ),
                ("subscription_data[metadata][vendor_id]", vendor_id),
                ("subscription_data[metadata][order_id]", order_id),
                ("subscription_data[metadata][customer_id]", customer_id),
            ]),
            None => pairs.extend([
                ("payment_intent_data[metadata][vendor_id]", vendor_id),
                ("payment_intent_data[metadata][order_id]", order_id),
                ("payment_intent_data[metadata][customer_id]", customer_id),
            ]),
        }
        // Later instalments are charged to this payment method off-session (issue 15): Stripe
        // saves it on a customer of the platform's account, and the page says so above "pay".
        if let Some(consent) = &request.save_for_later {
            pairs.extend([
                (
                    "payment_intent_data[setup_future_usage]",
                    "off_session".to_string(),
                ),
                ("customer_creation", "always".to_string()),
                ("custom_text[submit][message]", consent.clone()),
            ]);
        }
        let answer = self
            .call(
                Method::POST,
                "/v1/checkout/sessions",
                Some(&request.idempotency_key),
                &pairs,
            )
            .await?;
        let session: SessionAnswer =
            serde_json::from_value(answer).map_err(ProviderError::Malformed)?;
        Ok(PaymentSession {
            id: session.id,
            url: session.url,
        })
    }

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        let units =
            super::stripe_units::to_stripe_units(request.amount).map_err(ProviderError::Amount)?;
        let against = if request.payment.starts_with("ch_") {
            "charge"
        } else {
            "payment_intent"
        };
        let pairs = [
            (against, request.payment.clone()),
            ("amount", units.to_string()),
            ("metadata[vendor_id]", request.vendor_id.to_string()),
            ("metadata[refund_id]", request.refund_id.clone()),
            ("metadata[refund_part]", request.part.to_string()),
            ("metadata[order_id]", request.order_id.to_string()),
        ];
        let answer = self
            .call(
                Method::POST,
                "/v1/refunds",
                Some(&request.idempotency_key()),
                &pairs,
            )
            .await?;
        let refund: RefundAnswer =
            serde_json::from_value(answer).map_err(ProviderError::Malformed)?;
        let state = match refund.status.as_str() {
            "succeeded" => RefundState::Succeeded,
            "failed" | "canceled" => RefundState::Failed,
            _ => RefundState::Pending,
        };
        Ok(ProviderRefund {
            id: refund.id,
            state,
        })
    }

    async fn create_off_session_payment(
        &self,
        request: &OffSessionPayment,
    ) -> Result<String, ProviderError> {
        let units =
            super::stripe_units::to_stripe_units(request.amount).map_err(ProviderError::Amount)?;
        // Created unconfirmed: its id is recorded before anything is charged (see the port).
        let pairs = [
            ("amount", units.to_string()),
            (
                "currency",
                request.amount.currency().code().to_ascii_lowercase(),
            ),
            ("customer", request.method.customer.clone()),
            ("payment_method", request.method.payment_method.clone()),
            // Any saved method that needs no redirect: a server-side confirmation has no page
            // to return to (else Stripe asks for a `return_url`).
            ("automatic_payment_methods[enabled]", "true".to_string()),
            (
                "automatic_payment_methods[allow_redirects]",
                "never".to_string(),
            ),
            (
                "description",
                format!(
                    "{} ({}), instalment {}",
                    request.description, request.order_number, request.seq
                ),
            ),
            ("metadata[vendor_id]", request.vendor_id.to_string()),
            ("metadata[order_id]", request.order_id.to_string()),
            ("metadata[customer_id]", request.customer_id.to_string()),
            ("metadata[schedule_seq]", request.seq.to_string()),
        ];
        let answer = self
            .call(
                Method::POST,
                "/v1/payment_intents",
                Some(&request.idempotency_key),
                &pairs,
            )
            .await?;
        let intent: PaymentIntentAnswer =
            serde_json::from_value(answer).map_err(ProviderError::Malformed)?;
        Ok(intent.id)
    }

    async fn confirm_off_session_payment(
        &self,
        payment: &str,
        idempotency_key: &str,
    ) -> Result<OffSessionOutcome, ProviderError> {
        let path = format!("/v1/payment_intents/{payment}");
        let current: PaymentIntentAnswer =
            serde_json::from_value(self.call(Method::GET, &path, None, &[]).await?)
                .map_err(ProviderError::Malformed)?;
        // Confirmed before (the answer was lost): where it stands, never a second attempt.
        if current.status != "requires_confirmation" {
            return Ok(current.outcome());
        }
        let confirmed = self
            .call(
                Method::POST,
                &format!("{path}/confirm"),
                Some(idempotency_key),
                &[("off_session", "true".to_string())],
            )
            .await;
        match confirmed {
            Ok(answer) => {
                let intent: PaymentIntentAnswer =
                    serde_json::from_value(answer).map_err(ProviderError::Malformed)?;
                Ok(intent.outcome())
            }
            // A decline is Stripe's 402 (`card_error`): the payment stands declined.
            Err(ProviderError::Rejected { status: 402, code }) => {
                Ok(if code == "authentication_required" {
                    OffSessionOutcome::NeedsCustomer
                } else {
                    OffSessionOutcome::Declined { code }
                })
            }
            // Confirmed in between (another attempt): where it stands now.
            Err(ProviderError::Rejected { code, .. })
                if code == "payment_intent_unexpected_state" =>
            {
                let now: PaymentIntentAnswer =
                    serde_json::from_value(self.call(Method::GET, &path, None, &[]).await?)
                        .map_err(ProviderError::Malformed)?;
                Ok(now.outcome())
            }
            Err(other) => Err(other),
        }
    }

    async fn cancel_off_session_payment(&self, payment: &str) -> Result<bool, ProviderError> {
        let path = format!("/v1/payment_intents/{payment}");
        let cancelled = self
            .call(
                Method::POST,
                &format!("{path}/cancel"),
                Some(&format!("{payment}-cancel")),
                &[("cancellation_reason", "abandoned".to_string())],
            )
            .await;
        match cancelled {
            Ok(_) => Ok(true),
            // Charged (or cancelled) before: where it stands says which.
            Err(ProviderError::Rejected { code, .. })
                if code == "payment_intent_unexpected_state" =>
            {
                let now: PaymentIntentAnswer =
                    serde_json::from_value(self.call(Method::GET, &path, None, &[]).await?)
                        .map_err(ProviderError::Malformed)?;
                match now.outcome() {
                    OffSessionOutcome::Canceled => Ok(true),
                    OffSessionOutcome::Succeeded | OffSessionOutcome::Processing => Ok(false),
                    _ => Err(ProviderError::Rejected {
                        status: 400,
                        code: format!("cannot_cancel_{}", now.status),
                    }),
                }
            }
            Err(other) => Err(other),
        }
    }

    async fn cancel_subscription(
        &self,
        request: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError> {
        // DELETE is idempotent at Stripe (it takes no idempotency key); a subscription already
        // gone counts as cancelled.
        let path = format!("/v1/subscriptions/{}", request.subscription);
        match self.call(Method::DELETE, &path, None, &[]).await {
            Err(ProviderError::Rejected { code, .. }) if code == "resource_missing" => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
