//! The vendor ledger (R-V2, R-V3): append-only entries; balances are derived from them.
//! A charge credits its net amount, pending until 7 days after the charge; debits (refunds,
//! chargebacks) count against the available balance at once. Nothing is ever moved or changed:
//! whether a credit is pending or available is a function of time.

use crate::domain::ids::{Entropy, LedgerEntryId, VendorId};
use crate::domain::money::{Currency, Money, MoneyError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a charge's credit stays pending (R-V2).
pub const PENDING_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryReason {
    /// A successful charge: + net.
    Charge,
    /// A refund: − net part (R-R1).
    Refund,
    /// A provider refund that failed gives the debit back (R-R5).
    RefundReversal,
    /// An opened dispute: − the disputed net amount.
    Chargeback,
    /// A dispute won: the chargeback's debit given back.
    ChargebackReversal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: LedgerEntryId,
    pub vendor_id: VendorId,
    /// Signed: credits positive, debits negative.
    pub amount: Money,
    pub reason: EntryReason,
    /// What caused it: a charge id, a refund id.
    pub reference: String,
    pub created_at: DateTime<Utc>,
    /// From when it counts as available.
    pub available_at: DateTime<Utc>,
}

/// The credit of a successful charge: gross minus tax, available after 7 days (R-V2).
pub fn charge_credit(
    vendor: &VendorId,
    gross: Money,
    tax: Money,
    reference: &str,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<LedgerEntry, MoneyError> {
    Ok(LedgerEntry {
        id: LedgerEntryId::generate(now, entropy),
        vendor_id: vendor.clone(),
        amount: gross.checked_sub(&tax)?,
        reason: EntryReason::Charge,
        reference: reference.to_string(),
        created_at: now,
        available_at: now + Duration::days(PENDING_DAYS),
    })
}

/// A debit (or its reversal) that counts at once.
pub fn immediate(
    vendor: &VendorId,
    amount: Money,
    reason: EntryReason,
    reference: &str,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> LedgerEntry {
    LedgerEntry {
        id: LedgerEntryId::generate(now, entropy),
        vendor_id: vendor.clone(),
        amount,
        reason,
        reference: reference.to_string(),
        created_at: now,
        available_at: now,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CurrencyBalance {
    pub currency: Currency,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, pattern = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")]
    pub pending: rust_decimal::Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, pattern = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")]
    pub available: rust_decimal::Decimal,
}

/// Balances per currency at `now`: pending = credits not yet available; available = the rest.
/// pending + available always equals the sum of the entries (R-V3).
pub fn balances<'a>(
    entries: impl IntoIterator<Item = &'a LedgerEntry>,
    now: DateTime<Utc>,
) -> Result<Vec<CurrencyBalance>, MoneyError> {
    let mut by_currency: BTreeMap<Currency, (Money, Money)> = BTreeMap::new();
    for entry in entries {
        let currency = entry.amount.currency();
        let zero = Money::zero(currency);
        let (pending, available) = by_currency.entry(currency).or_insert((zero, zero));
        if entry.available_at > now && !entry.amount.is_negative() {
            *pending = pending.checked_add(&entry.amount)?;
        } else {
            *available = available.checked_add(&entry.amount)?;
        }
    }
    Ok(by_currency
        .into_iter()
        .map(|(currency, (pending, available))| CurrencyBalance {
            currency,
            pending: pending.amount(),
            available: available.amount(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::SeededEntropy;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }
    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
    }
    fn vendor() -> VendorId {
        VendorId::generate(t0(), &SeededEntropy::new(9))
    }

    // R-V2: net credited pending, available 7 days after the charge.
    #[test]
    fn a_charge_is_pending_for_seven_days_then_available() {
        let entropy = SeededEntropy::new(1);
        let credit =
            charge_credit(&vendor(), eur("11.89"), eur("1.90"), "ch_1", t0(), &entropy).unwrap();
        assert_eq!(credit.amount, eur("9.99"));
        let before = balances([&credit], t0() + Duration::days(7) - Duration::seconds(1)).unwrap();
        assert_eq!(
            (
                before[0].pending.to_string(),
                before[0].available.to_string()
            ),
            ("9.99".into(), "0.00".into())
        );
        let after = balances([&credit], t0() + Duration::days(7)).unwrap();
        assert_eq!(
            (after[0].pending.to_string(), after[0].available.to_string()),
            ("0.00".into(), "9.99".into())
        );
    }

    // R-V2: balances are per currency; R-V3: debits count against available at once.
    #[test]
    fn balances_are_per_currency_and_debits_hit_available() {
        let entropy = SeededEntropy::new(2);
        let usd: Currency = "USD".parse().unwrap();
        let entries = vec![
            charge_credit(
                &vendor(),
                eur("100.00"),
                eur("0.00"),
                "ch_1",
                t0(),
                &entropy,
            )
            .unwrap(),
            charge_credit(
                &vendor(),
                Money::parse("50.00", usd).unwrap(),
                Money::zero(usd),
                "ch_2",
                t0(),
                &entropy,
            )
            .unwrap(),
            immediate(
                &vendor(),
                eur("-30.00"),
                EntryReason::Refund,
                "re_1",
                t0(),
                &entropy,
            ),
        ];
        let now = balances(&entries, t0()).unwrap();
        assert_eq!(now.len(), 2);
        let eur_balance = now.iter().find(|b| b.currency == Currency::EUR).unwrap();
        assert_eq!(
            (
                eur_balance.pending.to_string(),
                eur_balance.available.to_string()
            ),
            ("100.00".into(), "-30.00".into())
        );
    }

    proptest! {
        // R-V3: pending + available equals the sum of the entries, at any time.
        #[test]
        fn pending_plus_available_is_the_sum(amounts in prop::collection::vec((-10_000i64..10_000, 0i64..20), 0..40), at in 0i64..30) {
            let entropy = SeededEntropy::new(3);
            let entries: Vec<_> = amounts.iter().map(|(cents, day)| {
                let when = t0() + Duration::days(*day);
                if *cents >= 0 {
                    charge_credit(&vendor(), Money::from_minor_units(*cents, Currency::EUR), eur("0"), "c", when, &entropy).unwrap()
                } else {
                    immediate(&vendor(), Money::from_minor_units(*cents, Currency::EUR), EntryReason::Refund, "r", when, &entropy)
                }
            }).collect();
            let sum: i64 = amounts.iter().map(|(c, _)| c).sum();
            let result = balances(&entries, t0() + Duration::days(at)).unwrap();
            let total: rust_decimal::Decimal = result.iter().map(|b| b.pending + b.available).sum();
            prop_assert_eq!(total, rust_decimal::Decimal::new(sum, 2));
        }
    }
}
