//! The platform's vendor routes, a vendor's own settings (R-V1) and balance (R-V2).

use super::App;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::ids::VendorId;
use crate::domain::vendors::ledger::CurrencyBalance;
use crate::domain::vendors::{MatchingMode, NewVendor, SettingsChange, Vendor};
use crate::usecases::vendors::{self, VendorError, balance};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;

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
            &self.portal,
        )
        .await?;
        Ok(ApiResponse::json(
            StatusCode::CREATED,
            &CreatedVendor {
                vendor_id: created.vendor.id,
                api_key: created.secrets.api_key,
            },
        ))
    }

    pub(super) async fn put_settings(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let change: SettingsChange = request.json()?;
        let changed =
            vendors::change_settings(self.store.as_ref(), &vendor.id, change, &self.portal).await?;
        Ok(ApiResponse::json(StatusCode::OK, &settings_view(&changed)))
    }

    pub(super) async fn get_settings(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        Ok(ApiResponse::json(StatusCode::OK, &settings_view(&vendor)))
    }

    pub(super) async fn get_balance(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let balances = balance::balance(self.store.as_ref(), &vendor.id, self.clock.now()).await?;
        Ok(ApiResponse::json(StatusCode::OK, &Balances { balances }))
    }
}

/// `POST /admin/vendors`: the only answer that shows the key. No vendor holds a provider's
/// signing secret: the payment accounts are the platform's (API.md, Webhooks).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CreatedVendor {
    vendor_id: VendorId,
    api_key: String,
}

/// `GET /api/balance` (R-V2): per currency, pending and available.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Balances {
    balances: Vec<CurrencyBalance>,
}

/// The vendor's settings as the vendor sees them: never the webhook secrets.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Settings {
    vendor_id: VendorId,
    name: String,
    email: String,
    support_email: Option<String>,
    timezone: String,
    default_language: String,
    matching_mode: MatchingMode,
    dunning_days: Vec<u32>,
    regular_customer_threshold: u32,
    country_languages: BTreeMap<String, String>,
    restricted: bool,
    country: String,
    portal_base_url: String,
    created_at: DateTime<Utc>,
}

fn settings_view(vendor: &Vendor) -> Settings {
    Settings {
        vendor_id: vendor.id.clone(),
        name: vendor.name.clone(),
        email: vendor.email.clone(),
        support_email: vendor.support_email.clone(),
        timezone: vendor.time_zone.clone(),
        default_language: vendor.default_language.clone(),
        matching_mode: vendor.matching_mode,
        dunning_days: vendor.dunning_days.clone(),
        regular_customer_threshold: vendor.regular_customer_threshold,
        country_languages: vendor.country_languages.clone(),
        restricted: vendor.restricted,
        country: vendor.country.clone(),
        portal_base_url: vendor.portal_base_url.clone(),
        created_at: vendor.created_at,
    }
}
