//! How Stripe writes amounts (issue 14, defect 4). Stripe's API amounts are integers of the
//! currency's minor unit, but Stripe's minor unit is not always ISO 4217's: ISK has no minor unit
//! in ISO 4217 yet Stripe counts it in hundredths (and takes only whole krónur), and the
//! three-decimal currencies must end in 0 (Stripe's published rules,
//! <https://docs.stripe.com/currencies>, "Zero-decimal", "Three-decimal" and "Special cases").
//! Every amount that goes to Stripe or comes from it passes through here, both ways.

use crate::domain::money::{Currency, Money, MoneyError};
use rust_decimal::Decimal;

/// How Stripe writes one currency: the decimal places of its API amounts, and the step every
/// amount must be a multiple of (in those units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StripeConvention {
    pub decimals: u32,
    pub step: i64,
}

/// Stripe's convention for `currency`.
pub fn convention(currency: Currency) -> StripeConvention {
    match currency.code() {
        // Zero-decimal at Stripe: the amount is the whole number.
        "BIF" | "CLP" | "DJF" | "GNF" | "JPY" | "KMF" | "KRW" | "MGA" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => StripeConvention {
            decimals: 0,
            step: 1,
        },
        // Zero-decimal in ISO 4217, written as two-decimal by Stripe for backwards
        // compatibility: 500 ISK is 50000, and only whole krónur can be charged.
        "ISK" => StripeConvention {
            decimals: 2,
            step: 100,
        },
        // Three-decimal: the last digit must be 0 for Stripe's payment partners.
        "BHD" | "JOD" | "KWD" | "OMR" | "TND" => StripeConvention {
            decimals: 3,
            step: 10,
        },
        _ => StripeConvention {
            decimals: 2,
            step: 1,
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeUnitsError {
    /// The amount cannot be charged or refunded at Stripe (a fraction of what it takes).
    #[error(
        "{amount} cannot be sent to Stripe: its amounts in {currency} are multiples of {step} units of 10^-{decimals}"
    )]
    NotPayable {
        amount: Money,
        currency: Currency,
        step: i64,
        decimals: u32,
    },
    /// Stripe's amount is not one of the currency (finer than its ISO scale).
    #[error("{units} is not an amount of {currency} as Stripe writes it")]
    NotAnAmount { units: i64, currency: Currency },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// `amount` as Stripe's integer units.
pub fn to_stripe_units(amount: Money) -> Result<i64, StripeUnitsError> {
    let StripeConvention { decimals, step } = convention(amount.currency());
    let not_payable = || StripeUnitsError::NotPayable {
        amount,
        currency: amount.currency(),
        step,
        decimals,
    };
    let scaled = amount
        .amount()
        .checked_mul(Decimal::from(10_i64.pow(decimals)))
        .ok_or(StripeUnitsError::Money(MoneyError::Overflow))?;
    if !scaled.fract().is_zero() {
        return Err(not_payable());
    }
    let units = rust_decimal::prelude::ToPrimitive::to_i64(&scaled)
        .ok_or(StripeUnitsError::Money(MoneyError::Overflow))?;
    if units % step != 0 {
        return Err(not_payable());
    }
    Ok(units)
}

/// Stripe's integer units of `currency` as money; refused when they are finer than the
/// currency (an ISK amount with öre).
pub fn from_stripe_units(units: i64, currency: Currency) -> Result<Money, StripeUnitsError> {
    let StripeConvention { decimals, .. } = convention(currency);
    Money::new(Decimal::new(units, decimals), currency)
        .map_err(|_| StripeUnitsError::NotAnAmount { units, currency })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount: &str, code: &str) -> Money {
        Money::parse(amount, code.parse().unwrap()).unwrap()
    }

    // R-M1 (issue 14, defect 4): every currency the platform sells in, as Stripe's published
    // list writes it — decimals of its API amounts and the step they must keep
    #[test]
    fn each_supported_currency_follows_stripes_published_list() {
        let published: &[(&str, u32, i64)] = &[
            ("EUR", 2, 1),
            ("USD", 2, 1),
            ("GBP", 2, 1),
            ("CHF", 2, 1),
            ("SEK", 2, 1),
            ("DKK", 2, 1),
            ("NOK", 2, 1),
            ("PLN", 2, 1),
            ("CZK", 2, 1),
            // Two-decimal for charges (Stripe's special case concerns payouts only).
            ("HUF", 2, 1),
            ("RON", 2, 1),
            ("BGN", 2, 1),
            ("CAD", 2, 1),
            ("AUD", 2, 1),
            ("NZD", 2, 1),
            ("JPY", 0, 1),
            ("KRW", 0, 1),
            ("ISK", 2, 100),
            ("BHD", 3, 10),
            ("KWD", 3, 10),
        ];
        for code in crate::domain::money::supported_currency_codes() {
            let (_, decimals, step) = published
                .iter()
                .find(|(c, _, _)| *c == code)
                .unwrap_or_else(|| panic!("{code} is missing from the published list"));
            let currency: Currency = code.parse().unwrap();
            assert_eq!(
                convention(currency),
                StripeConvention {
                    decimals: *decimals,
                    step: *step
                },
                "{code}"
            );
        }
    }

    #[test]
    fn amounts_go_to_stripe_in_its_units_and_come_back_the_same() {
        for (amount, code, units) in [
            ("11.89", "EUR", 1189),
            ("500", "ISK", 50_000),
            ("1500", "JPY", 1500),
            ("1.230", "KWD", 1230),
            ("9.99", "HUF", 999),
        ] {
            let sent = money(amount, code);
            assert_eq!(to_stripe_units(sent), Ok(units), "{amount} {code}");
            assert_eq!(
                from_stripe_units(units, sent.currency()),
                Ok(sent),
                "{units} {code}"
            );
        }
    }

    #[test]
    fn what_stripe_cannot_take_or_could_not_send_is_refused() {
        assert!(matches!(
            to_stripe_units(money("1.235", "KWD")),
            Err(StripeUnitsError::NotPayable { .. })
        ));
        assert!(matches!(
            from_stripe_units(50_050, "ISK".parse().unwrap()),
            Err(StripeUnitsError::NotAnAmount { .. })
        ));
    }
}
