//! The vendor's customers: list, card, entitlements, block and unblock (API.md "Vendor", R-C6).

use super::App;
use crate::api::routes::Matched;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::customers::{Address, Customer};
use crate::domain::ids::CustomerId;
use crate::domain::vendors::vendor_zone;
use crate::usecases::customers;
use crate::usecases::orders::entitlements::entitlements;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;

fn customer_id(matched: &Matched) -> Result<CustomerId, ApiError> {
    matched
        .params
        .get("customer_id")
        .and_then(|raw| CustomerId::parse(raw).ok())
        .ok_or_else(ApiError::not_found)
}

/// The customer card as the vendor sees it (R-D3; orders follow with the customer list).
fn customer_view(customer: &Customer) -> CustomerView {
    CustomerView {
        id: customer.id.clone(),
        email: customer.email.clone(),
        first_name: customer.first_name.clone(),
        last_name: customer.last_name.clone(),
        phones: customer.phones.clone(),
        address: customer.address.clone(),
        country: customer.country.clone(),
        language: customer.language.clone(),
        tags: customer.tags.clone(),
        paid_orders: customer.paid_orders,
        blocked: customer.blocked.is_some(),
        blocked_via: customer
            .blocked
            .as_ref()
            .map(|block| block.via.iter().cloned().collect())
            .unwrap_or_default(),
        created_at: customer.created_at,
    }
}

/// How many of a customer's orders its card lists (the rest: `GET /api/orders?customer_id=`).
const CARD_ORDERS: u32 = 20;

/// The customer card (R-D3): the customer and its newest orders.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct CustomerCard {
    #[serde(flatten)]
    customer: CustomerView,
    orders: Vec<super::orders::OrderSummary>,
    /// All of the customer's orders (`GET /api/orders?customer_id=` lists beyond the newest).
    orders_total: u64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct CustomerView {
    id: CustomerId,
    email: String,
    first_name: String,
    last_name: String,
    phones: Vec<String>,
    address: Option<Address>,
    country: String,
    language: Option<String>,
    tags: BTreeSet<String>,
    paid_orders: u32,
    blocked: bool,
    /// The customers whose blocks reached this one through a shared payment fingerprint (R-C6;
    /// each a reason of its own).
    blocked_via: Vec<CustomerId>,
    created_at: DateTime<Utc>,
}

impl App {
    pub(super) async fn list_customers(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let params = request.list_params()?;
        let q = request.query_param("q")?;
        let page = customers::list(
            self.store.as_ref(),
            &vendor.id,
            q.as_deref(),
            params.limit,
            params.cursor,
        )
        .await?;
        let items: Vec<CustomerView> = page.items.iter().map(customer_view).collect();
        Ok(ApiResponse::json(
            StatusCode::OK,
            &json!({ "items": items, "next_cursor": page.next_cursor, "total": page.total }),
        ))
    }

    pub(super) async fn get_customer(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let customer =
            customers::get(self.store.as_ref(), &vendor.id, &customer_id(matched)?).await?;
        // R-D3 (issue 16, item 14): the card lists the customer's orders, newest first.
        let (now, tz) = (self.clock.now(), vendor_zone(&vendor));
        let filter = crate::usecases::orders::OrderFilter {
            customer_id: Some(customer.id.clone()),
            ..Default::default()
        };
        let page = crate::usecases::orders::list(
            self.store.as_ref(),
            &vendor.id,
            &filter,
            CARD_ORDERS,
            None,
            now,
            tz,
        )
        .await?;
        let orders = page
            .orders
            .iter()
            .map(|order| super::orders::order_summary(order, now, tz))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let card = CustomerCard {
            customer: customer_view(&customer),
            orders,
            orders_total: page.total,
        };
        Ok(ApiResponse::json(StatusCode::OK, &card))
    }

    pub(super) async fn customer_entitlements(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let items = entitlements(
            self.store.as_ref(),
            &vendor.id,
            &customer_id(matched)?,
            self.clock.now(),
            vendor_zone(&vendor),
        )
        .await?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &json!({ "items": items, "next_cursor": null, "total": items.len() }),
        ))
    }

    pub(super) async fn block_customer(
        &self,
        request: &ApiRequest,
        matched: &Matched,
        block: bool,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        request.no_body()?;
        let id = customer_id(matched)?;
        let store = self.store.as_ref();
        let customer = if block {
            customers::block(
                store,
                self.entropy.as_ref(),
                &vendor.id,
                &id,
                self.clock.now(),
            )
            .await?
        } else {
            customers::unblock(store, &vendor.id, &id).await?
        };
        Ok(ApiResponse::json(StatusCode::OK, &customer_view(&customer)))
    }
}
