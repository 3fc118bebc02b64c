//! Refunds (R-R1–R-R5): what may be refunded, how much, and what a refund does to the order.
//! Pure decisions; the use cases commit each with its ledger debit in one transaction, on the
//! order's version, so nothing refunds the same money twice.

use crate::domain::catalogue::Plan;
use crate::domain::ids::{OrderId, RefundId, TicketId, VendorId};
use crate::domain::money::{Money, MoneyError};
use crate::domain::orders::payments::{Payment, PaymentSource};
use crate::domain::orders::{Order, OrderStatus};
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
    /// The net part of the refunded money (R-R1).
    pub net: Money,
    pub tax: Money,
    /// The parts' state taken together: pending while any part is, failed when every part
    /// failed, else succeeded (a failed part was given back, R-R5).
    pub state: RefundState,
    pub reason: String,
    pub origin: RefundOrigin,
    pub ticket_id: Option<TicketId>,
    /// The payments it returns money of, each the way it came.
    #[serde(default)]
    pub parts: Vec<RefundedPart>,
    /// It ended the order's running plan (R-R3: a plan's refund cancels it).
    #[serde(default)]
    pub ended_plan: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One payment's share of a refund as executed: where it goes and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundedPart {
    #[serde(flatten)]
    pub part: RefundPart,
    /// What the provider refunds it against (a payment intent, a charge, a capture); `None`
    /// for money paid by hand, or a provider payment whose reference is not known.
    pub handle: Option<String>,
    pub state: RefundState,
    /// The provider's refund id, once it took the request.
    pub provider_refund: Option<String>,
}

impl Refund {
    /// A part goes to a provider no call reaches yet (its payment's reference unknown, or no
    /// adapter: PayPal): both sides are told the refund is under way, not done (R-R5).
    pub fn reaches_no_provider(&self) -> bool {
        self.parts.iter().any(|part| {
            part.state == RefundState::Pending
                && (part.handle.is_none() || part.part.source != PaymentSource::Stripe)
        })
    }

    /// The parts' states taken together (see `state`).
    pub fn combined_state(parts: &[RefundedPart]) -> RefundState {
        if parts.iter().any(|p| p.state == RefundState::Pending) {
            RefundState::Pending
        } else if !parts.is_empty() && parts.iter().all(|p| p.state == RefundState::Failed) {
            RefundState::Failed
        } else {
            RefundState::Succeeded
        }
    }
}

/// One payment's share of a decided refund, split in net and tax (R-M2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPart {
    /// The key of the payment it returns money of.
    pub payment: String,
    pub source: PaymentSource,
    pub amount: Money,
    pub net: Money,
    pub tax: Money,
}

/// A decided refund: its gross amount split in net and tax (R-M2), by payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    pub amount: Money,
    pub net: Money,
    pub tax: Money,
    /// Everything paid is then refunded: access is revoked (R-R5).
    pub full: bool,
    pub parts: Vec<RefundPart>,
}

impl RefundPlan {
    /// What the vendor's ledger is debited (R-R1, R-R5): the net of the money the platform
    /// collected; money paid by hand was never credited (R-O8), so its refund debits nothing.
    pub fn debit(&self) -> Result<Money, MoneyError> {
        self.parts
            .iter()
            .filter(|part| part.source != PaymentSource::Manual)
            .try_fold(Money::zero(self.amount.currency()), |sum, part| {
                sum.checked_add(&part.net)
            })
    }
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
    /// R-O10: while a chargeback is open the money is with the card network; a refund would
    /// pay it back twice.
    #[error("a dispute is open on the order")]
    Disputed,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The order's payments, newest first (the later of two at one instant first).
fn charges(order: &Order) -> Vec<&Payment> {
    let mut paid: Vec<&Payment> = order.payments.iter().collect();
    paid.reverse();
    paid.sort_by_key(|payment| std::cmp::Reverse(payment.at));
    paid
}

fn sum<'a>(
    currency: crate::domain::money::Currency,
    amounts: impl Iterator<Item = Result<Money, MoneyError>> + 'a,
) -> Result<Money, MoneyError> {
    amounts
        .into_iter()
        .try_fold(Money::zero(currency), |sum, amount| {
            sum.checked_add(&amount?)
        })
}

/// What is still refundable at all: paid minus refunded, over every payment.
pub fn refundable(order: &Order) -> Result<Money, MoneyError> {
    sum(
        order.total.currency(),
        order.payments.iter().map(Payment::unrefunded),
    )
}

/// `amount` taken from `payments` in their order (newest first), each at most what is left of it.
fn take<'p>(
    payments: &[&'p Payment],
    amount: Money,
) -> Result<Vec<(&'p Payment, Money)>, MoneyError> {
    let mut left = amount;
    let mut picks = Vec::new();
    for payment in payments {
        if left.is_zero() {
            break;
        }
        let unrefunded = payment.unrefunded()?;
        if unrefunded.is_zero() || unrefunded.is_negative() {
            continue;
        }
        let share = if left.amount() < unrefunded.amount() {
            left
        } else {
            unrefunded
        };
        picks.push((*payment, share));
        left = left.checked_sub(&share)?;
    }
    Ok(picks)
}

/// The plan returning `picks`: each part's tax is its payment's cumulative share (R-M2), so
/// successive partial refunds of a payment return exactly its tax.
fn plan_of(order: &Order, picks: Vec<(&Payment, Money)>) -> Result<RefundPlan, RefundError> {
    let currency = order.total.currency();
    let mut parts = Vec::new();
    for (payment, amount) in picks {
        let tax = payment.refund_tax(amount)?;
        parts.push(RefundPart {
            payment: payment.key.clone(),
            source: payment.source,
            amount,
            net: amount.checked_sub(&tax)?,
            tax,
        });
    }
    let amount = sum(currency, parts.iter().map(|p| Ok(p.amount)))?;
    if amount.is_zero() {
        return Err(RefundError::NothingToRefund);
    }
    let left = refundable(order)?.checked_sub(&amount)?;
    Ok(RefundPlan {
        amount,
        net: sum(currency, parts.iter().map(|p| Ok(p.net)))?,
        tax: sum(currency, parts.iter().map(|p| Ok(p.tax)))?,
        full: left.is_zero(),
        parts,
    })
}

/// R-R1: the vendor refunds `requested` (everything refundable when `None`) of charges made in
/// the last 90 days, newest first, if the available balance covers the net part the platform
/// collected.
pub fn vendor_refund(
    order: &Order,
    requested: Option<Money>,
    available: Money,
    now: DateTime<Utc>,
) -> Result<RefundPlan, RefundError> {
    if order.status == OrderStatus::Disputed {
        return Err(RefundError::Disputed);
    }
    let currency = order.total.currency();
    let all = refundable(order)?;
    if all.is_zero() || all.is_negative() {
        return Err(RefundError::NothingToRefund);
    }
    let since = now - Duration::days(VENDOR_WINDOW_DAYS);
    let recent: Vec<&Payment> = charges(order)
        .into_iter()
        .filter(|payment| payment.at >= since)
        .collect();
    let refundable_now = sum(currency, recent.iter().map(|p| p.unrefunded()))?;
    if refundable_now.is_zero() || refundable_now.is_negative() {
        return Err(RefundError::WindowPassed);
    }
    let amount = requested.unwrap_or(refundable_now);
    if amount.currency() != currency || amount.is_zero() || amount.is_negative() {
        return Err(RefundError::BadAmount);
    }
    if amount.amount() > refundable_now.amount() {
        return Err(RefundError::TooMuch {
            refundable: refundable_now,
        });
    }
    let plan = plan_of(order, take(&recent, amount)?)?;
    let debit = plan.debit()?;
    if !debit.is_zero() && (available.currency() != currency || available.amount() < debit.amount())
    {
        return Err(RefundError::InsufficientAvailableBalance {
            needed: debit,
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

/// What a refund ticket returns (R-R3) if its charge is at most `window_days` old at
/// `requested_at`: a plan's last charge only, whatever of it is not refunded yet (nothing
/// left of it is nothing to refund: earlier charges are never taken instead).
pub fn request_refund(
    order: &Order,
    requested_at: DateTime<Utc>,
    window_days: i64,
) -> Result<RefundPlan, RefundError> {
    if order.status == OrderStatus::Disputed {
        return Err(RefundError::Disputed);
    }
    let newest_first = charges(order);
    let Some(last_charge) = newest_first.first().copied() else {
        return Err(RefundError::NothingToRefund);
    };
    let left = match order.plan {
        Plan::OneTime => refundable(order)?,
        Plan::Installments { .. } | Plan::Subscription { .. } => last_charge.unrefunded()?,
    };
    if left.is_zero() || left.is_negative() {
        return Err(RefundError::NothingToRefund);
    }
    if requested_at - last_charge.at > Duration::days(window_days) {
        return Err(RefundError::WindowPassed);
    }
    let picks = match order.plan {
        Plan::OneTime => take(&newest_first, left)?,
        Plan::Installments { .. } | Plan::Subscription { .. } => vec![(last_charge, left)],
    };
    plan_of(order, picks)
}

/// Until when a refund request of `window_days` can be made (R-R2): the last charge's time plus
/// the window, while something of it is left to refund; `None` when nothing is (issue 16,
/// item 16: what a frontend shows as the refund deadline).
pub fn refund_window_end(order: &Order, window_days: i64) -> Option<DateTime<Utc>> {
    let last_charge = charges(order).first().copied()?;
    request_refund(order, last_charge.at, window_days)
        .ok()
        .map(|_| last_charge.at + Duration::days(window_days))
}

/// A refund made at the provider (its dashboard) that we learn from its webhook: `amount` of
/// the payment it names (any of its ids), else of the newest payments; at most what is left.
pub fn provider_refund(
    order: &Order,
    amount: Money,
    payment_id: Option<&str>,
) -> Result<RefundPlan, RefundError> {
    let newest_first: Vec<&Payment> = charges(order)
        .into_iter()
        .filter(|p| p.source != PaymentSource::Manual)
        .collect();
    let named: Vec<&Payment> = newest_first
        .iter()
        .copied()
        .filter(|p| payment_id.is_some_and(|id| p.ids.contains(id)))
        .collect();
    let from = if named.is_empty() {
        newest_first
    } else {
        named
    };
    let left = sum(order.total.currency(), from.iter().map(|p| p.unrefunded()))?;
    if amount.currency() != left.currency() || amount.is_zero() || amount.is_negative() {
        return Err(RefundError::BadAmount);
    }
    // `take` stops at what is left of each payment: more than is left refunds what is left.
    plan_of(order, take(&from, amount)?)
}

/// How a decided dispute ends (R-O10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisputeEnd {
    /// The chargeback's debit of `net` is given back; the order's status before the dispute
    /// (and with it access) returns.
    Won { net: Money },
    /// The money stays with the customer: it counts as refunded (by the dispute), so nothing
    /// refunds it again; the debit stays.
    Lost { net: Money },
    /// Decided before its opening arrived: kept, and applied when the opening comes.
    Early,
}

impl Order {
    /// A chargeback of money that came in another currency (issue 14, defect 5): held back at
    /// most what is left of that money, its net part returned as the debit (in its currency);
    /// the order's own status and access are untouched, as that money paid nothing of it.
    pub fn open_other_currency_dispute(
        &mut self,
        dispute: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Option<Money> {
        if amount.currency() == self.total.currency()
            || !self.provider.disputes.insert(dispute.into())
        {
            return None;
        }
        let left = self
            .other_currency
            .iter()
            .filter(|p| p.amount.currency() == amount.currency())
            .try_fold(Money::zero(amount.currency()), |sum, p| {
                sum.checked_add(&p.unrefunded().ok()?).ok()
            })?;
        let amount = self.hold_for_dispute(dispute, amount, left);
        self.updated_at = now;
        self.dispute_net(amount)
    }

    /// The end of a dispute of money in another currency: lost, that money counts as refunded.
    fn close_other_currency_dispute(
        &mut self,
        dispute: &str,
        won: bool,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Option<DisputeEnd> {
        if !self.provider.disputes.contains(dispute) {
            let new = self
                .provider
                .early_dispute_ends
                .insert(dispute.to_string(), won)
                .is_none();
            return new.then_some(DisputeEnd::Early);
        }
        let held = self
            .provider
            .dispute_amounts
            .get(dispute)
            .copied()
            .unwrap_or(amount);
        // An end in another currency than its opening is not its end.
        if held.currency() != amount.currency()
            || !self.provider.disputes_closed.insert(dispute.into())
        {
            return None;
        }
        let net = self.dispute_net(held)?;
        if won {
            return Some(DisputeEnd::Won { net });
        }
        let mut left = held;
        for payment in self
            .other_currency
            .iter_mut()
            .filter(|p| p.amount.currency() == held.currency())
        {
            let open = payment.unrefunded().ok()?;
            let take = if left.amount() < open.amount() {
                left
            } else {
                open
            };
            payment.refunded = payment.refunded.checked_add(&take).ok()?;
            payment.note_lost_to_dispute(take).ok()?;
            left = left.checked_sub(&take).ok()?;
        }
        self.updated_at = now;
        Some(DisputeEnd::Lost { net })
    }
}

impl Order {
    /// Closes an open dispute once (R-O10): won, the order is as before; lost, the disputed
    /// amount is refunded-by-dispute on the payment it names (else the newest). `None` when
    /// the dispute is unknown, closed already, or in another currency.
    pub fn close_dispute(
        &mut self,
        dispute: &str,
        won: bool,
        amount: Money,
        payment_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<DisputeEnd> {
        if amount.currency() != self.total.currency() {
            return self.close_other_currency_dispute(dispute, won, amount, now);
        }
        if !self.provider.disputes.contains(dispute) {
            // The end came first (R-P1: any order of arrival): it waits for the opening.
            let new = self
                .provider
                .early_dispute_ends
                .insert(dispute.to_string(), won)
                .is_none();
            return new.then_some(DisputeEnd::Early);
        }
        if !self.provider.disputes_closed.insert(dispute.into()) {
            return None;
        }
        // What the opening held back (at most what was left), not what this event says.
        let amount = self
            .provider
            .dispute_amounts
            .get(dispute)
            .copied()
            .unwrap_or(amount);
        let net = self.dispute_net(amount)?;
        let end = if won {
            DisputeEnd::Won { net }
        } else {
            if let Ok(plan) = provider_refund(self, amount, payment_id)
                && self.apply_refund(&plan, false, now).is_ok()
            {
                for part in &plan.parts {
                    if let Some(payment) = self.payments.iter_mut().find(|p| p.key == part.payment)
                    {
                        let _ = payment.note_lost_to_dispute(part.amount);
                    }
                }
            }
            DisputeEnd::Lost { net }
        };
        let still_open = self
            .provider
            .disputes
            .iter()
            .any(|d| !self.provider.disputes_closed.contains(d));
        if !still_open && self.status == OrderStatus::Disputed {
            self.status = self
                .provider
                .status_before_dispute
                .take()
                .unwrap_or(OrderStatus::Completed);
        }
        self.updated_at = now;
        Some(end)
    }

    /// R-R5 on the order: each part's payment and the order's refunded amount grow; a full refund
    /// makes it `refunded` (access revoked); `ends_plan` (a customer's refund of a plan's charge,
    /// R-R3, or a full refund) cancels the plan. Answers whether this refund ended a running plan.
    pub fn apply_refund(
        &mut self,
        plan: &RefundPlan,
        ends_plan: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, MoneyError> {
        for part in &plan.parts {
            if let Some(payment) = self.payments.iter_mut().find(|p| p.key == part.payment) {
                payment.refunded = payment.refunded.checked_add(&part.amount)?;
                payment.refunded_tax = payment.refunded_tax.checked_add(&part.tax)?;
            }
        }
        self.refunded = self.refunded.checked_add(&plan.amount)?;
        let ended = (ends_plan || plan.full)
            && !matches!(self.plan, Plan::OneTime)
            && self.cancel_plan(now);
        if plan.full {
            // Access ends with the money (R-O9; issue 15, defect 4).
            self.refunded_at.get_or_insert(now);
            // Under an open dispute the order stays disputed, and is refunded once it closes
            // (as when the refund came first: any order of arrival, R-P1).
            if self.status == OrderStatus::Disputed {
                self.provider.status_before_dispute = Some(OrderStatus::Refunded);
            } else {
                self.status = OrderStatus::Refunded;
            }
        }
        self.updated_at = now;
        Ok(ended)
    }

    /// A provider's refund of `part` failed (R-R5): its money counts as not refunded again. The
    /// order's life cycle stays as it was decided (a cancelled plan stays cancelled).
    /// `failed_at`: when the provider said so (its report's time, else now).
    pub fn reverse_refund(
        &mut self,
        part: &RefundPart,
        failed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), MoneyError> {
        if let Some(payment) = self.payments.iter_mut().find(|p| p.key == part.payment) {
            payment.refunded = payment.refunded.checked_sub(&part.amount)?;
            payment.refunded_tax = payment.refunded_tax.checked_sub(&part.tax)?;
            payment
                .failed_refunds
                .push(crate::domain::orders::payments::FailedRefund {
                    amount: part.amount,
                    at: failed_at,
                });
        }
        self.refunded = self.refunded.checked_sub(&part.amount)?;
        self.refunded_at = None;
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
