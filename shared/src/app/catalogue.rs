//! Handlers of the catalogue routes (API.md "Catalogue").

use super::App;
use crate::api::routes::Matched;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::catalogue::{NewProduct, OfferTerms};
use crate::domain::ids::OfferId;
use crate::usecases::catalogue;
use crate::usecases::listing::Listing;
use http::StatusCode;
use serde::Serialize;
use serde_json::json;

fn listing<T: Serialize>(listing: Listing<T>) -> ApiResponse {
    ApiResponse::json(
        StatusCode::OK,
        &json!({ "items": listing.items, "next_cursor": listing.next_cursor, "total": listing.total }),
    )
}

impl App {
    pub(super) async fn create_product(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let body: NewProduct = request.json()?;
        let product = catalogue::create_product(
            self.store.as_ref(),
            self.clock.as_ref(),
            self.entropy.as_ref(),
            &vendor.id,
            body,
        )
        .await?;
        Ok(ApiResponse::json(StatusCode::CREATED, &product))
    }

    pub(super) async fn list_products(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let params = request.list_params()?;
        Ok(listing(
            catalogue::list_products(self.store.as_ref(), &vendor.id, params.limit, params.cursor)
                .await?,
        ))
    }

    pub(super) async fn create_offer(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let terms: OfferTerms = request.json()?;
        let offer = catalogue::create_offer(
            self.store.as_ref(),
            self.clock.as_ref(),
            self.entropy.as_ref(),
            &vendor.id,
            terms,
        )
        .await?;
        Ok(ApiResponse::json(StatusCode::CREATED, &offer))
    }

    pub(super) async fn list_offers(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let params = request.list_params()?;
        Ok(listing(
            catalogue::list_offers(self.store.as_ref(), &vendor.id, params.limit, params.cursor)
                .await?,
        ))
    }

    pub(super) async fn revise_offer(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        // An id that cannot be an offer id names nothing: 404, like another vendor's offer.
        let id = matched
            .params
            .get("offer_id")
            .and_then(|raw| OfferId::parse(raw).ok())
            .ok_or_else(ApiError::not_found)?;
        let terms: OfferTerms = request.json()?;
        let offer = catalogue::revise(
            self.store.as_ref(),
            self.clock.as_ref(),
            &vendor.id,
            &id,
            terms,
        )
        .await?;
        Ok(ApiResponse::json(StatusCode::OK, &offer))
    }
}
