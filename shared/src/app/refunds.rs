//! Vendor refunds (R-R1) over HTTP.

use super::App;
use super::order_id;
use crate::api::routes::Matched;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::ids::{OrderId, RefundId, TicketId};
use crate::domain::money::Money;
use crate::domain::refunds::{Refund, RefundError, RefundOrigin, RefundState};
use crate::domain::validation::{FieldErrors, has_control_characters};
use crate::usecases::refunds::by_vendor::{self, VendorRefundError};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundBody {
    #[serde(default)]
    amount: Option<Money>,
    reason: String,
}

/// A refund as API.md shows it.
pub fn refund_view(refund: &Refund) -> RefundView {
    RefundView {
        id: refund.id.clone(),
        order_id: refund.order_id.clone(),
        amount: refund.amount,
        net: refund.net,
        tax: refund.tax,
        state: refund.state,
        reason: refund.reason.clone(),
        origin: refund.origin,
        ticket_id: refund.ticket_id.clone(),
        created_at: refund.created_at,
    }
}

/// A refund as API.md shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RefundView {
    id: RefundId,
    order_id: OrderId,
    amount: Money,
    net: Money,
    tax: Money,
    state: RefundState,
    reason: String,
    origin: RefundOrigin,
    ticket_id: Option<TicketId>,
    created_at: DateTime<Utc>,
}

/// R-O10: no refund while a chargeback is open (it would pay the money back twice).
pub(super) fn disputed() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "order_disputed",
        "a dispute is open on this order: refunds wait until it is closed",
    )
}

fn refused(error: RefundError) -> ApiError {
    match error {
        RefundError::InsufficientAvailableBalance { needed, available } => ApiError::new(
            StatusCode::CONFLICT,
            "insufficient_available_balance",
            format!(
                "the available balance {available} does not cover the refund's net part {needed}"
            ),
        )
        .with_detail("needed", json!(needed))
        .with_detail("available", json!(available)),
        RefundError::NothingToRefund => ApiError::new(
            StatusCode::CONFLICT,
            "nothing_to_refund",
            "nothing paid on this order is left to refund",
        ),
        RefundError::Disputed => disputed(),
        RefundError::WindowPassed => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refund_window_passed",
            "the charge is older than the refund window",
        ),
        RefundError::TooMuch { refundable } => ApiError::validation(FieldErrors::from([(
            "amount".to_string(),
            format!("at most {refundable} can be refunded"),
        )]))
        .with_detail("refundable", json!(refundable)),
        RefundError::BadAmount | RefundError::Money(_) => {
            ApiError::validation(FieldErrors::from([(
                "amount".to_string(),
                "must be positive and in the order's currency".to_string(),
            )]))
        }
    }
}

impl App {
    /// `POST /api/orders/{id}/refunds` `{amount?, reason}`.
    pub(super) async fn refund_order(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let id = order_id(matched)?;
        let body: RefundBody = request.json()?;
        let reason = body.reason.trim();
        if reason.is_empty()
            || reason.chars().count() > 1000
            || has_control_characters(reason, true)
        {
            return Err(ApiError::validation(FieldErrors::from([(
                "reason".to_string(),
                "must be 1 to 1000 characters without control characters".to_string(),
            )])));
        }
        let refund = by_vendor::refund_order(
            self.ports(),
            self.payments.as_ref(),
            &vendor,
            &id,
            body.amount,
            reason,
        )
        .await
        .map_err(|error| match error {
            VendorRefundError::Refused(refusal) => refused(refusal),
            VendorRefundError::UseCase(inner) => inner.into(),
        })?;
        Ok(ApiResponse::json(
            StatusCode::CREATED,
            &refund_view(&refund),
        ))
    }
}
