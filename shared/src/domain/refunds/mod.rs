//! Refunds (R-R1–R-R5): what may be refunded, how much, and what a refund does to the order.
//! Pure decisions; the use cases commit each with its ledger debit in one transaction, on the
//! order's version, so nothing refunds the same money twice.

use crate::domain::catalogue::Plan;
use crate::domain::ids::{OrderId, RefundId, TicketId, VendorId};
use crate::domain::money::{Money, MoneyError};
use crate::domain::orders::{ItemStatus, Order, OrderStatus, tax_part};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// R-R1: a vendor refunds within 90 days of the charge.
pub const VENDOR_WINDOW_DAYS: i64 = 90;
/// R-R2: a customer asks within 60 days of the charge.
pub const CUSTOMER_WINDOW_DAYS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Pending,
    Succeeded,
    Failed,
}

/// Who started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundOrigin {
    /// R-R1.
    Vendor,
    /// R-R2 via a refund ticket (R-T5).
    Ticket,
    /// Made in the provider's dashboard, learnt from its webhook (API.md).
    Provider,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: RefundId,
    pub vendor_id: VendorId,
    pub order_id: OrderId,
    /// Gross money back to the customer.
    pub amount: Money,
    /// What the vendor's ledger is debited (R-R1).
    pub net: Money,
    pub tax: Money,
    pub state: RefundState,
    pub reason: String,
    pub origin: RefundOrigin,
    pub ticket_id: Option<TicketId>,
    /// The provider payment refunded; `None`: paid outside a provider (manual, R-O8).
    pub payment: Option<String>,
    /// The provider's refund id, once it took the request.
    pub provider_refund: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A decided refund: its gross amount split in net and tax (R-M2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundPlan {
    pub amount: Money,
    pub net: Money,
    pub tax: Money,
    /// Everything paid is then refunded: access is revoked (R-R5).
    pub full: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("nothing paid on this order is left to refund")]
    NothingToRefund,
    #[error("the charge is older than the refund window")]
    WindowPassed,
    #[error("at most {refundable} can be refunded")]
    TooMuch { refundable: Money },
    #[error("the amount must be positive and in the order's currency")]
    BadAmount,
    #[error("the available balance {available} does not cover the net part {needed}")]
    InsufficientAvailableBalance { needed: Money, available: Money },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Paid items with their payment time, newest first.
fn charges(order: &Order) -> Vec<(DateTime<Utc>, Money)> {
    let mut paid: Vec<(DateTime<Utc>, Money)> = order
        .schedule
        .iter()
        .filter(|i| i.status == ItemStatus::Paid || !i.paid.is_zero())
        .filter_map(|i| i.paid_at.map(|at| (at, i.paid)))
        .collect();
    paid.sort_by_key(|charge| std::cmp::Reverse(charge.0));
    paid
}

fn paid_total(order: &Order) -> Result<Money, MoneyError> {
    order
        .schedule
        .iter()
        .try_fold(Money::zero(order.total.currency()), |sum, i| {
            sum.checked_add(&i.paid)
        })
}

/// What is still refundable at all: paid minus refunded.
pub fn refundable(order: &Order) -> Result<Money, MoneyError> {
    paid_total(order)?.checked_sub(&order.refunded)
}

fn plan_of(order: &Order, amount: Money) -> Result<RefundPlan, RefundError> {
    let tax = tax_part(amount, order.total, order.tax);
    let left = refundable(order)?.checked_sub(&amount)?;
    Ok(RefundPlan {
        amount,
        net: amount.checked_sub(&tax)?,
        tax,
        full: left.is_zero(),
    })
}

/// R-R1: the vendor refunds `requested` (everything refundable when `None`) of charges made in
/// the last 90 days, if the available balance covers the net part.
pub fn vendor_refund(
    order: &Order,
    requested: Option<Money>,
    available: Money,
    now: DateTime<Utc>,
) -> Result<RefundPlan, RefundError> {
    let currency = order.total.currency();
    let all = refundable(order)?;
    if all.is_zero() || all.is_negative() {
        return Err(RefundError::NothingToRefund);
    }
    let since = now - Duration::days(VENDOR_WINDOW_DAYS);
    let recent = charges(order)
        .into_iter()
        .filter(|(at, _)| *at >= since)
        .try_fold(Money::zero(currency), |sum, (_, paid)| {
            sum.checked_add(&paid)
        })?;
    if recent.is_zero() {
        return Err(RefundError::WindowPassed);
    }
    let refundable_now = if recent.amount() < all.amount() {
        recent
    } else {
        all
    };
    let amount = requested.unwrap_or(refundable_now);
    if amount.currency() != currency || amount.is_zero() || amount.is_negative() {
        return Err(RefundError::BadAmount);
    }
    if amount.amount() > refundable_now.amount() {
        return Err(RefundError::TooMuch {
            refundable: refundable_now,
        });
    }
    let plan = plan_of(order, amount)?;
    if available.currency() != currency || available.amount() < plan.net.amount() {
        return Err(RefundError::InsufficientAvailableBalance {
            needed: plan.net,
            available,
        });
    }
    Ok(plan)
}

/// R-R2, R-R3: what a customer's refund request returns — a one-time order everything paid and
/// not refunded, a plan only its last successful charge — if that charge is at most 60 days old.
pub fn customer_refund(order: &Order, now: DateTime<Utc>) -> Result<RefundPlan, RefundError> {
    request_refund(order, now, CUSTOMER_WINDOW_DAYS)
}

/// What a refund ticket returns (R-R3) if its charge is at most `window_days` old at `requested_at`.
pub fn request_refund(
    order: &Order,
    requested_at: DateTime<Utc>,
    window_days: i64,
) -> Result<RefundPlan, RefundError> {
    let now = requested_at;
    let all = refundable(order)?;
    let newest = charges(order).into_iter().next();
    let Some((charged_at, last_charge)) = newest.filter(|_| !all.is_zero() && !all.is_negative())
    else {
        return Err(RefundError::NothingToRefund);
    };
    if now - charged_at > Duration::days(window_days) {
        return Err(RefundError::WindowPassed);
    }
    let amount = match order.plan {
        Plan::OneTime => all,
        Plan::Installments { .. } | Plan::Subscription { .. } => {
            if last_charge.amount() < all.amount() {
                last_charge
            } else {
                all
            }
        }
    };
    plan_of(order, amount)
}

impl Order {
    /// R-R5 on the order: the refunded amount grows; a full refund makes it `refunded` (access
    /// revoked); `ends_plan` (a customer's refund of a plan's charge, R-R3, or a full refund)
    /// cancels the plan. Answers whether this refund ended a running plan.
    pub fn apply_refund(
        &mut self,
        plan: &RefundPlan,
        ends_plan: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, MoneyError> {
        self.refunded = self.refunded.checked_add(&plan.amount)?;
        let ended = (ends_plan || plan.full)
            && !matches!(self.plan, Plan::OneTime)
            && self.cancel_plan(now);
        if plan.full {
            self.status = OrderStatus::Refunded;
        }
        self.updated_at = now;
        Ok(ended)
    }

    /// A provider's refund failed (R-R5): the money counts as not refunded again. The order's
    /// life cycle stays as it was decided (a cancelled plan stays cancelled).
    pub fn reverse_refund(&mut self, amount: Money, now: DateTime<Utc>) -> Result<(), MoneyError> {
        self.refunded = self.refunded.checked_sub(&amount)?;
        if self.status == OrderStatus::Refunded {
            self.status = if matches!(self.plan, Plan::OneTime) {
                OrderStatus::Completed
            } else {
                OrderStatus::Cancelled
            };
        }
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
