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
            VendorError::TooManyKeys => ApiError::new(
                StatusCode::CONFLICT,
                "too_many_api_keys",
                "the vendor holds as many API keys as it may; revoke one first",
            ),
            VendorError::LastKey => ApiError::new(
                StatusCode::CONFLICT,
                "last_api_key",
                "the last API key cannot be revoked; add a new one first",
            ),
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
    allow_early_instalments: bool,
    request_days_before: u32,
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
        allow_early_instalments: vendor.allow_early_instalments,
        request_days_before: vendor.request_days_before,
        created_at: vendor.created_at,
    }
}

/// One API key as its vendor sees it: never the key, which is shown once at creation.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ApiKeyView {
    id: crate::domain::ids::ApiKeyId,
    created_at: DateTime<Utc>,
    /// When the key last authenticated a request (to within 5 minutes); `null`: never.
    last_used_at: Option<DateTime<Utc>>,
}

/// `POST /api/keys`: the new key, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CreatedApiKey {
    id: crate::domain::ids::ApiKeyId,
    created_at: DateTime<Utc>,
    api_key: String,
}

/// How many keys a revocation removed.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Revoked {
    revoked: usize,
}

impl App {
    /// `GET /api/keys` (issue 12, §4).
    pub(super) async fn list_api_keys(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let keys = vendors::list_keys(self.store.as_ref(), &vendor.id).await?;
        let total = keys.len();
        let items: Vec<ApiKeyView> = keys
            .into_iter()
            .map(|key| ApiKeyView {
                id: key.id,
                created_at: key.created_at,
                last_used_at: key.last_used_at,
            })
            .collect();
        Ok(ApiResponse::json(
            StatusCode::OK,
            &serde_json::json!({ "items": items, "next_cursor": null, "total": total }),
        ))
    }

    /// `POST /api/keys`: a new key beside the others (rotation: add, switch, revoke the old).
    pub(super) async fn create_api_key(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        request.no_body()?;
        let vendor = self.require_vendor(request).await?;
        let (record, api_key) = vendors::add_key(
            self.store.as_ref(),
            self.clock.as_ref(),
            self.entropy.as_ref(),
            &vendor.id,
        )
        .await?;
        Ok(ApiResponse::json(
            StatusCode::CREATED,
            &CreatedApiKey {
                id: record.id,
                created_at: record.created_at,
                api_key,
            },
        ))
    }

    /// `DELETE /api/keys/{key_id}`: revokes one of the vendor's keys (not its last).
    pub(super) async fn revoke_api_key(
        &self,
        request: &ApiRequest,
        matched: &crate::api::routes::Matched,
    ) -> Result<ApiResponse, ApiError> {
        request.no_body()?;
        let vendor = self.require_vendor(request).await?;
        let id = matched
            .params
            .get("key_id")
            .and_then(|raw| crate::domain::ids::ApiKeyId::parse(raw).ok())
            .ok_or_else(ApiError::not_found)?;
        let revoked = match vendors::revoke_keys(self.store.as_ref(), &vendor.id, Some(&id)).await {
            Err(VendorError::UnknownApiKey) => return Err(ApiError::not_found()),
            other => other?,
        };
        Ok(ApiResponse::json(StatusCode::OK, &Revoked { revoked }))
    }

    /// `POST /admin/vendors/{vendor_id}/keys/revoke`: the admin revokes all of a vendor's keys.
    pub(super) async fn revoke_vendor_keys(
        &self,
        request: &ApiRequest,
        matched: &crate::api::routes::Matched,
    ) -> Result<ApiResponse, ApiError> {
        self.require_admin(request)?;
        request.no_body()?;
        let id = matched
            .params
            .get("vendor_id")
            .and_then(|raw| VendorId::parse(raw).ok())
            .ok_or_else(ApiError::not_found)?;
        if crate::usecases::ports::load_vendor(self.store.as_ref(), &id)
            .await
            .is_err()
        {
            return Err(ApiError::not_found());
        }
        let revoked = vendors::revoke_keys(self.store.as_ref(), &id, None).await?;
        Ok(ApiResponse::json(StatusCode::OK, &Revoked { revoked }))
    }
}
