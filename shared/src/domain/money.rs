//! Money (R-M1): a `Decimal` amount at its currency's scale with an ISO-4217 currency.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An ISO-4217 currency the platform sells in, with its minor-unit scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    scale: u32,
}

/// Currencies accepted for offers, with their number of decimal places (ISO 4217 minor units).
const CURRENCIES: &[(&str, u32)] = &[
    ("EUR", 2),
    ("USD", 2),
    ("GBP", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("DKK", 2),
    ("NOK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("HUF", 2),
    ("RON", 2),
    ("BGN", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("ISK", 0),
    ("BHD", 3),
    ("KWD", 3),
];

/// The ISO codes of every currency the platform sells in.
pub fn supported_currency_codes() -> impl Iterator<Item = &'static str> {
    CURRENCIES.iter().map(|(code, _)| *code)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown or unsupported currency {0:?}")]
    UnknownCurrency(String),
    #[error("{amount} has more decimal places than {currency} allows ({scale})")]
    TooPrecise {
        amount: Decimal,
        currency: Currency,
        scale: u32,
    },
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount out of range")]
    Overflow,
    #[error("{0:?} is not a decimal amount such as \"12.30\"")]
    NotADecimal(String),
}

impl Currency {
    pub const EUR: Currency = Currency {
        code: *b"EUR",
        scale: 2,
    };

    pub fn code(&self) -> &str {
        // The code is always three ASCII letters from CURRENCIES.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Decimal places of the currency's minor unit (EUR 2, JPY 0).
    pub fn scale(&self) -> u32 {
        self.scale
    }
}

impl Currency {
    /// A currency as the API writes it: exactly the upper-case ISO code (`EUR`, not `eur`).
    pub fn from_iso_code(code: &str) -> Result<Currency, MoneyError> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            code.parse()
        } else {
            Err(MoneyError::UnknownCurrency(code.to_string()))
        }
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    /// Case-insensitive, for providers: Stripe's `"eur"` reads as EUR. Input from the API goes
    /// through [`Currency::from_iso_code`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == upper)
            .and_then(|(code, scale)| {
                let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
                Some(Currency {
                    code: bytes,
                    scale: *scale,
                })
            })
            .ok_or(MoneyError::UnknownCurrency(s.to_string()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::from_iso_code(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether `text` is a decimal as the contract writes it: `-?(0|[1-9][0-9]*)(\.[0-9]+)?` —
/// no sign but `-`, no white space, no leading zeros, digits on both sides of the point.
fn is_canonical_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && (whole == "0" || !whole.starts_with('0')) && fraction.is_none_or(digits)
}

/// An amount of one currency, always held at the currency's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Money {
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    currency: Currency,
}

/// Half away from zero ("kaufmännisch"), the rounding of R-M2.
pub fn round_commercial(value: Decimal, scale: u32) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(scale);
    rounded
}

impl Money {
    /// Exact: refuses amounts finer than the currency's scale (input from outside).
    pub fn new(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        let normalized = amount.normalize();
        if normalized.scale() > currency.scale {
            return Err(MoneyError::TooPrecise {
                amount,
                currency,
                scale: currency.scale,
            });
        }
        let mut at_scale = normalized;
        at_scale.rescale(currency.scale);
        Ok(Money {
            amount: at_scale,
            currency,
        })
    }

    /// Rounds a computed amount to the currency's scale, half away from zero (R-M2).
    pub fn rounded(amount: Decimal, currency: Currency) -> Money {
        Money {
            amount: round_commercial(amount, currency.scale),
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Money {
        Money::rounded(Decimal::ZERO, currency)
    }

    /// Parses a decimal string such as `"12.30"` written as the contract writes it (see
    /// [`is_canonical_decimal`]); never goes through a float.
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, MoneyError> {
        if !is_canonical_decimal(amount) {
            return Err(MoneyError::NotADecimal(amount.to_string()));
        }
        let value = Decimal::from_str_exact(amount)
            .map_err(|_| MoneyError::NotADecimal(amount.to_string()))?;
        Money::new(value, currency)
    }

    /// Integer minor units as payment providers send them (`1189` EUR = 11.89).
    pub fn from_minor_units(units: i64, currency: Currency) -> Money {
        Money {
            amount: Decimal::new(units, currency.scale),
            currency,
        }
    }

    /// The amount in minor units, for provider APIs.
    pub fn minor_units(&self) -> Result<i64, MoneyError> {
        let mut scaled = self.amount;
        scaled.rescale(self.currency.scale);
        i64::try_from(scaled.mantissa()).map_err(|_| MoneyError::Overflow)
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    /// Amounts of different currencies are never added (R-M1).
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::rounded(sum, self.currency))
    }

    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let difference = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::rounded(difference, self.currency))
    }

    pub fn negated(&self) -> Money {
        Money::rounded(-self.amount, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts only `{"amount": "<decimal string>", "currency": "EUR"}`: a JSON number is refused
    /// so no amount ever passes through a float.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename = "Money")]
        struct Wire {
            amount: String,
            currency: Currency,
        }
        let wire = Wire::deserialize(d)?;
        Money::parse(&wire.amount, wire.currency).map_err(serde::de::Error::custom)
    }
}

/// The amount's pattern in the OpenAPI document: exactly what [`Money::parse`] reads.
pub const AMOUNT_PATTERN: &str = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$";

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .property(
                "amount",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(AMOUNT_PATTERN)),
            )
            .property(
                "currency",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[A-Z]{3}$")),
            )
            .required("amount")
            .required("currency")
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<
                utoipa::openapi::schema::Schema,
            >::FreeForm(false)))
            .into()
    }
}

impl utoipa::ToSchema for Money {}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

#[cfg(test)]
mod tests {
    use super::*;

    // R-V3: a debit is the credit negated, and back.
    #[test]
    fn negating_flips_the_sign_and_keeps_the_currency() {
        let five = Money::parse("5.00", Currency::EUR).unwrap();
        let minus = Money::parse("-5.00", Currency::EUR).unwrap();
        assert_eq!((five.negated(), minus.negated()), (minus, five));
    }

    // R-M1: each currency's scale is its minor unit's (EUR 2, JPY 0, KWD 3).
    #[test]
    fn a_currency_names_its_scale() {
        let scale = |code: &str| code.parse::<Currency>().unwrap().scale();
        assert_eq!(
            (Currency::EUR.scale(), scale("JPY"), scale("KWD")),
            (2, 0, 3)
        );
    }
    use proptest::prelude::*;

    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }

    // R-M1
    #[test]
    fn amounts_are_kept_at_the_currency_scale() {
        assert_eq!(eur("12.3").amount().to_string(), "12.30");
        let jpy: Currency = "jpy".parse().unwrap();
        assert_eq!(
            Money::parse("1500", jpy).unwrap().amount().to_string(),
            "1500"
        );
        assert!(matches!(
            Money::parse("1500.5", jpy),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Money::parse("1.005", Currency::EUR),
            Err(MoneyError::TooPrecise { .. })
        ));
    }

    // R-M1
    #[test]
    fn different_currencies_are_never_added() {
        let usd = Money::parse("1.00", "USD".parse().unwrap()).unwrap();
        assert!(matches!(
            eur("1.00").checked_add(&usd),
            Err(MoneyError::CurrencyMismatch(..))
        ));
    }

    // R-M1
    #[test]
    fn minor_units_convert_without_floats() {
        let m = Money::from_minor_units(1189, Currency::EUR);
        assert_eq!(m, eur("11.89"));
        assert_eq!(m.minor_units().unwrap(), 1189);
    }

    // R-M2
    #[test]
    fn rounding_is_half_away_from_zero() {
        let d = |s: &str| Decimal::from_str_exact(s).unwrap();
        assert_eq!(round_commercial(d("2.345"), 2).to_string(), "2.35");
        assert_eq!(round_commercial(d("-2.345"), 2).to_string(), "-2.35");
        assert_eq!(round_commercial(d("2.344"), 2).to_string(), "2.34");
        assert_eq!(round_commercial(d("0.5"), 0).to_string(), "1");
    }

    // R-M1: amounts are read exactly as the contract writes them (issue 10, defect 10).
    #[test]
    fn only_canonical_decimals_and_upper_case_codes_are_read() {
        for good in ["9.99", "0.50", "10", "-1.25", "0"] {
            assert!(Money::parse(good, Currency::EUR).is_ok(), "{good}");
        }
        for bad in [
            " 9.99", "9.99 ", "09.99", "+9.99", "9.", ".99", "1e3", "9,99", "", "-", "--1",
        ] {
            assert!(Money::parse(bad, Currency::EUR).is_err(), "{bad:?}");
        }
        assert!(Currency::from_iso_code("EUR").is_ok());
        for bad in ["eur", "Eur", " EUR", "EURO", "XXX"] {
            assert!(Currency::from_iso_code(bad).is_err(), "{bad:?}");
        }
        let lower = serde_json::json!({"amount": "9.99", "currency": "eur"});
        assert!(serde_json::from_value::<Money>(lower).is_err());
        // a provider's lower-case code still reads
        assert_eq!("eur".parse::<Currency>().unwrap(), Currency::EUR);
    }

    #[test]
    fn json_shape_is_a_decimal_string_and_numbers_are_refused() {
        let json = serde_json::to_value(eur("12.34")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"amount": "12.34", "currency": "EUR"})
        );
        let back: Money = serde_json::from_value(json).unwrap();
        assert_eq!(back, eur("12.34"));
        let float = serde_json::json!({"amount": 12.34, "currency": "EUR"});
        assert!(serde_json::from_value::<Money>(float).is_err());
    }

    proptest! {
        // R-M1: minor units round-trip exactly.
        #[test]
        fn minor_units_round_trip(units in -10_000_000_000i64..10_000_000_000i64) {
            let m = Money::from_minor_units(units, Currency::EUR);
            prop_assert_eq!(m.minor_units().unwrap(), units);
            prop_assert_eq!(Money::parse(&m.amount().to_string(), Currency::EUR).unwrap(), m);
        }

        // R-M1: addition then subtraction is exact.
        #[test]
        fn add_sub_is_exact(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            let x = Money::from_minor_units(a, Currency::EUR);
            let y = Money::from_minor_units(b, Currency::EUR);
            prop_assert_eq!(x.checked_add(&y).unwrap().checked_sub(&y).unwrap(), x);
        }
    }
}
