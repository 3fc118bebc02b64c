//! The payments that reached an order (R-O5, R-O8, R-R3, R-R5): each one once, with every id its
//! provider names it by, its exact share of the order's tax, and what of it is refunded. A
//! refund returns money of particular payments (the last charge of a plan, R-R3), and each part
//! goes back the way it came: to the provider that took it, or, paid by hand, by the vendor.
//!
//! Identity (decision, docs/decisions.md "Payments"): a payment is applied under one key (an
//! invoice, a payment intent, a PayPal capture; `manual:…` for R-O8) and is known by all of its
//! ids: a Stripe invoice, its payment intent and its charge name one payment, whichever event
//! told us which. Ids that arrive before their money (a `charge.succeeded` ahead of its
//! `invoice.paid`) wait on the order and join the payment when it comes.
//!
//! Tax (R-M2): shares are allocated cumulatively — the tax of the first `x` paid is
//! `round(x · tax / total)` — so the payments of a fully paid order carry exactly its tax, and a
//! payment's partial refunds exactly its share.

use crate::domain::money::{Money, MoneyError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where a payment's money came from, so its refund goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSource {
    Stripe,
    Paypal,
    /// Recorded by the vendor (R-O8): the platform never held it, so it credits nothing and its
    /// refund debits nothing.
    Manual,
}

/// One payment that reached the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The id it was applied under (R-P1: once).
    pub key: String,
    pub source: PaymentSource,
    /// Every id the provider names this payment by, `key` included.
    pub ids: BTreeSet<String>,
    pub amount: Money,
    /// Its share of the order's tax (R-M2, allocated cumulatively).
    pub tax: Money,
    pub refunded: Money,
    pub refunded_tax: Money,
    pub at: DateTime<Utc>,
    /// The schedule items (their `seq`) it paid into: a plan's access follows the periods whose
    /// money was kept (R-O9; issue 15, defect 2). Empty for payments recorded before.
    #[serde(default)]
    pub items: Vec<u32>,
    /// Our refunds of it the provider failed, with when the provider said so: a charge's total
    /// reported before that still counted them (issue 14, dashboard refunds).
    #[serde(default)]
    pub failed_refunds: Vec<FailedRefund>,
    /// What of `refunded` a lost dispute took back (R-O10): never in a Stripe charge's
    /// `amount_refunded`, which counts refunds only.
    #[serde(default)]
    pub lost_to_disputes: Option<Money>,
    /// How a payment recorded by hand came (R-O8: `bank_transfer`, `cash` …) and the vendor's
    /// note on it, for the order card (R-O7; issue 16, item 15). `None` for provider payments.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A refund of ours the provider did not carry out, as of the provider's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRefund {
    pub amount: Money,
    pub at: DateTime<Utc>,
}

impl Payment {
    /// What of it was refunded by refunds (not by lost disputes): what a charge's refund total
    /// speaks of.
    pub fn refunded_by_refunds(&self) -> Result<Money, MoneyError> {
        match self.lost_to_disputes {
            Some(lost) => self.refunded.checked_sub(&lost),
            None => Ok(self.refunded),
        }
    }

    /// Records `amount` of it as lost to a dispute (already counted in `refunded`).
    pub fn note_lost_to_dispute(&mut self, amount: Money) -> Result<(), MoneyError> {
        self.lost_to_disputes = Some(match self.lost_to_disputes {
            Some(lost) => lost.checked_add(&amount)?,
            None => amount,
        });
        Ok(())
    }

    /// What of our refunds the provider failed at or after `as_of`: a total reported as of
    /// then may still count it.
    pub fn failed_since(&self, as_of: DateTime<Utc>) -> Result<Money, MoneyError> {
        self.failed_refunds
            .iter()
            .filter(|failed| failed.at >= as_of)
            .try_fold(Money::zero(self.amount.currency()), |sum, failed| {
                sum.checked_add(&failed.amount)
            })
    }

    /// What of it is not refunded yet.
    pub fn unrefunded(&self) -> Result<Money, MoneyError> {
        self.amount.checked_sub(&self.refunded)
    }

    /// The tax part of refunding `amount` more of it: cumulative, so its partial refunds return
    /// exactly its tax once all of it is refunded.
    pub fn refund_tax(&self, amount: Money) -> Result<Money, MoneyError> {
        let after = self.refunded.checked_add(&amount)?;
        let cumulative = proportional(after, self.amount, self.tax);
        cumulative.checked_sub(&self.refunded_tax)
    }

    /// What a refund of it is made against at its provider: a Stripe payment intent (else its
    /// charge), a PayPal capture; `None` for money paid by hand, or while no such id is known.
    pub fn refund_handle(&self) -> Option<&str> {
        let find = |prefix: &str| {
            self.ids
                .iter()
                .map(String::as_str)
                .find(|id| id.starts_with(prefix))
        };
        match self.source {
            PaymentSource::Stripe => find("pi_").or_else(|| find("ch_")),
            // A capture (or a subscription's sale) is the payment's own key.
            PaymentSource::Paypal => Some(self.key.as_str()),
            PaymentSource::Manual => None,
        }
    }
}

/// `part · whole_tax / whole`, rounded at the currency's scale (half away from zero); exactly
/// `whole_tax` for the whole.
pub fn proportional(part: Money, whole: Money, whole_tax: Money) -> Money {
    if whole.is_zero() {
        return Money::zero(part.currency());
    }
    if part == whole {
        return whole_tax;
    }
    Money::rounded(
        part.amount() * whole_tax.amount() / whole.amount(),
        part.currency(),
    )
}

/// A payment as it arrives: the key it is applied under, its other ids, its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingPayment {
    pub key: String,
    pub source: PaymentSource,
    pub ids: Vec<String>,
    /// The start of the subscription period it pays, when the provider says (a Stripe
    /// invoice's `lines.data[].period`): the money goes to that period, not the first open one.
    pub period_start: Option<DateTime<Utc>>,
    /// The instalment it was charged for (an off-session payment's `schedule_seq`, issue 15):
    /// the money goes to that rate while it is open, not to an earlier one still overdue.
    pub rate: Option<u32>,
}

impl IncomingPayment {
    pub fn manual(key: String) -> IncomingPayment {
        IncomingPayment {
            key,
            source: PaymentSource::Manual,
            ids: Vec::new(),
            period_start: None,
            rate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }

    fn payment(source: PaymentSource, key: &str, ids: &[&str]) -> Payment {
        let mut all: BTreeSet<String> = ids.iter().map(|id| id.to_string()).collect();
        all.insert(key.to_string());
        Payment {
            key: key.into(),
            source,
            ids: all,
            amount: eur("11.90"),
            tax: eur("1.90"),
            refunded: eur("0.00"),
            refunded_tax: eur("0.00"),
            at: chrono::DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
                .unwrap()
                .to_utc(),
            items: vec![1],
            failed_refunds: Vec::new(),
            lost_to_disputes: None,
            method: None,
            comment: None,
        }
    }

    // R-R5 (issue 13, defect 1): a refund goes back against the payment's own reference.
    #[test]
    fn a_payment_is_refunded_against_its_intent_else_its_charge() {
        let stripe = |ids: &[&str]| payment(PaymentSource::Stripe, "in_1", ids);
        assert_eq!(stripe(&["ch_1", "pi_1"]).refund_handle(), Some("pi_1"));
        assert_eq!(stripe(&["ch_1"]).refund_handle(), Some("ch_1"));
        assert_eq!(
            stripe(&[]).refund_handle(),
            None,
            "an invoice alone is not refundable"
        );
        let paypal = payment(PaymentSource::Paypal, "CAP1", &[]);
        assert_eq!(paypal.refund_handle(), Some("CAP1"));
        let by_hand = payment(PaymentSource::Manual, "manual:1", &["pi_x"]);
        assert_eq!(by_hand.refund_handle(), None);
    }

    // R-M2 (issue 13, defect 4): shares are proportional, and the whole carries the whole tax.
    #[test]
    fn shares_are_proportional_and_the_whole_is_exact() {
        assert_eq!(
            proportional(eur("5.00"), eur("11.90"), eur("1.90")),
            eur("0.80")
        );
        assert_eq!(
            proportional(eur("11.90"), eur("11.90"), eur("1.90")),
            eur("1.90")
        );
        assert_eq!(
            proportional(eur("5.00"), eur("0.00"), eur("1.90")),
            eur("0.00")
        );
        let mut p = payment(PaymentSource::Stripe, "pi_1", &[]);
        assert_eq!(p.unrefunded().unwrap(), eur("11.90"));
        assert_eq!(p.refund_tax(eur("5.00")).unwrap(), eur("0.80"));
        p.refunded = eur("5.00");
        p.refunded_tax = eur("0.80");
        assert_eq!(p.unrefunded().unwrap(), eur("6.90"));
        assert_eq!(
            p.refund_tax(eur("6.90")).unwrap(),
            eur("1.10"),
            "the rest of its tax"
        );
        assert_eq!(
            IncomingPayment::manual("manual:1".into()).source,
            PaymentSource::Manual
        );
    }
}
