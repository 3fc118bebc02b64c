//! Provider webhooks and the vendor's balance.

use super::App;
use crate::api::routes::Matched;
use crate::api::{ApiError, ApiRequest, ApiResponse, MAX_JSON_BODY};
use crate::domain::ids::VendorId;
use crate::usecases::balance;
use crate::usecases::stripe_webhooks::{self, WebhookError};
use http::StatusCode;
use serde_json::json;

fn invalid_signature() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_signature",
        "the webhook signature does not verify",
    )
}

impl App {
    pub(super) async fn stripe_webhook(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        if request.body.len() > MAX_JSON_BODY {
            return Err(ApiError::payload_too_large(MAX_JSON_BODY));
        }
        let vendor = matched
            .params
            .get("vendor_id")
            .and_then(|raw| VendorId::parse(raw).ok())
            .ok_or_else(invalid_signature)?;
        let signature = request
            .headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok());
        stripe_webhooks::receive(
            self.store.as_ref(),
            self.clock.as_ref(),
            self.entropy.as_ref(),
            &self.link_key,
            &vendor,
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
            &json!({ "received": true }),
        ))
    }

    pub(super) async fn get_balance(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let balances = balance::balance(self.store.as_ref(), &vendor.id, self.clock.now()).await?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &json!({ "balances": balances }),
        ))
    }
}
