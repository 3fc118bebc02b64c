//! The platform's vendor routes, a vendor's own settings (R-V1) and balance (R-V2).

use super::App;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::vendors::{NewVendor, SettingsChange, Vendor};
use crate::usecases::vendors::{self, VendorError, balance};
use http::StatusCode;
use serde_json::json;

impl From<VendorError> for ApiError {
    fn from(error: VendorError) -> ApiError {
        match error {
            VendorError::Invalid(fields) => ApiError::validation(fields),
            VendorError::UnknownApiKey => ApiError::unauthorized(),
            other => {
                tracing::error!(error = %other, source = ?std::error::Error::source(&other), "vendor use case failed");
                ApiError::internal()
            }
        }
    }
}

impl App {
    pub(super) async fn create_vendor(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        self.require_admin(request)?;
        let new_vendor: NewVendor = request.json()?;
        let created = vendors::create_vendor(
            self.store.as_ref(),
            self.clock.as_ref(),
            self.entropy.as_ref(),
            new_vendor,
        )
        .await?;
        Ok(ApiResponse::json(
            StatusCode::CREATED,
            &json!({
                "vendor_id": created.vendor.id,
                "api_key": created.secrets.api_key,
                "webhook_secrets": { "stripe": created.secrets.stripe_webhook_secret },
            }),
        ))
    }

    pub(super) async fn put_settings(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let change: SettingsChange = request.json()?;
        let changed = vendors::change_settings(self.store.as_ref(), &vendor.id, change).await?;
        Ok(ApiResponse::json(StatusCode::OK, &settings_view(&changed)))
    }

    pub(super) async fn get_settings(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        Ok(ApiResponse::json(StatusCode::OK, &settings_view(&vendor)))
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

/// The vendor's settings as the vendor sees them: never the webhook secrets.
fn settings_view(vendor: &Vendor) -> serde_json::Value {
    json!({
        "vendor_id": vendor.id,
        "name": vendor.name,
        "email": vendor.email,
        "support_email": vendor.support_email,
        "timezone": vendor.time_zone,
        "default_language": vendor.default_language,
        "matching_mode": vendor.matching_mode,
        "dunning_days": vendor.dunning_days,
        "regular_customer_threshold": vendor.regular_customer_threshold,
        "country_languages": vendor.country_languages,
        "restricted": vendor.restricted,
        "country": vendor.country,
        "portal_base_url": vendor.portal_base_url,
        "paypal_webhook_id": vendor.paypal_webhook_id,
        "stripe_account": vendor.stripe_account,
        "created_at": vendor.created_at,
    })
}
