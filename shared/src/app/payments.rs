//! Payments: the provider webhooks and starting a payment from the customer's order page.

use super::App;
use crate::api::routes::Matched;
use crate::api::{ApiError, ApiRequest, ApiResponse, MAX_JSON_BODY};
use crate::usecases::orders::portal::{self, PortalPayError};
use crate::usecases::payments::paypal::{self, PayPalWebhookError};
use crate::usecases::payments::stripe::{self, WebhookError};
use crate::webhooks::paypal_signature::Transmission;
use http::StatusCode;

fn invalid_signature() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_signature",
        "the webhook signature does not verify",
    )
}

/// A webhook body is read only up to the size of a JSON body.
fn webhook_size(request: &ApiRequest) -> Result<(), ApiError> {
    if request.body.len() > MAX_JSON_BODY {
        return Err(ApiError::payload_too_large(MAX_JSON_BODY));
    }
    Ok(())
}

impl App {
    pub(super) async fn stripe_webhook(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        webhook_size(request)?;
        let signature = request
            .headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok());
        stripe::receive(
            self.ports(),
            &self.webhooks.stripe,
            signature,
            &request.body,
        )
        .await
        .map_err(|error| match error {
            WebhookError::InvalidSignature(_) => invalid_signature(),
            WebhookError::Malformed(cause) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("not a Stripe event: {cause}"),
            ),
            WebhookError::UseCase(inner) => inner.into(),
        })?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &Received { received: true },
        ))
    }

    pub(super) async fn paypal_webhook(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        webhook_size(request)?;
        let transmission = Transmission::from_headers(&request.headers);
        paypal::receive(
            self.ports(),
            &self.paypal,
            self.webhooks.paypal_webhook_id.as_deref(),
            transmission,
            &request.body,
        )
        .await
        .map_err(|error| match error {
            PayPalWebhookError::InvalidSignature(cause) => {
                tracing::warn!(error = %cause, source = ?std::error::Error::source(&cause), "paypal signature refused");
                invalid_signature()
            }
            PayPalWebhookError::Malformed(cause) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("not a PayPal event: {cause}"),
            ),
            PayPalWebhookError::UseCase(inner) => inner.into(),
        })?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &Received { received: true },
        ))
    }

    /// `POST /portal/orders/{token}/pay` (R-P4).
    pub(super) async fn portal_pay(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        request.no_body()?;
        let token = matched
            .params
            .get("token")
            .ok_or_else(ApiError::not_found)?;
        let session = portal::start_payment(
            self.store.as_ref(),
            self.payments.as_ref(),
            token,
            self.clock.now(),
        )
        .await
        .map_err(|error| match error {
            PortalPayError::NothingOpen => ApiError::new(
                StatusCode::CONFLICT,
                "nothing_open",
                "the order has nothing open to pay",
            ),
            PortalPayError::UseCase(inner) => inner.into(),
            // Stripe takes only some amounts of a few currencies (issue 14, defect 4).
            PortalPayError::Provider(crate::payments::ProviderError::Amount(cause)) => {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "amount_not_payable",
                    format!("the open amount cannot be paid through the payment provider: {cause}"),
                )
            }
            PortalPayError::Provider(cause) => {
                tracing::error!(error = %cause, source = ?std::error::Error::source(&cause), "payment session failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "provider_unavailable",
                    "the payment provider did not start the payment; try again shortly",
                )
            }
        })?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &PaymentUrl {
                payment_url: session.url,
            },
        ))
    }
}

/// What a provider is answered for a verified event (API.md: fast, 200).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Received {
    received: bool,
}

/// `POST /portal/orders/{token}/pay`: where the customer pays the open amount.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct PaymentUrl {
    payment_url: String,
}
