//! VAT per line (R-M2): net prices, the buyer's country rate from an effective-dated table kept as
//! data (`data/eu_vat_rates.csv`), reverse charge for EU businesses in another EU country, tax
//! rounded per line half away from zero, totals as sums of rounded lines.
//!
//! Decision (spec silent): consumers in the EU VAT area (Monaco included, through France) pay
//! their country's rate; in the jurisdictions outside it where the platform is registered for
//! digital services (`data/non_eu_vat_rates.csv`: the UK with the Isle of Man, Norway,
//! Switzerland with Liechtenstein) their rate too, and their businesses are reverse charged;
//! anywhere else 0 % — outside the scope of EU VAT. The invoice notes the treatment.

use crate::domain::country::is_country;
use crate::domain::money::{Money, MoneyError};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

const RATE_TABLE_CSV: &str = include_str!("../../data/eu_vat_rates.csv");
const REGISTERED_RATES_CSV: &str = include_str!("../../data/non_eu_vat_rates.csv");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxError {
    #[error("VAT rate table line {line}: {reason}")]
    BadTable { line: usize, reason: String },
    #[error("{0:?} is not an ISO 3166 alpha-2 country code")]
    BadCountry(String),
    #[error("no VAT rate for {country} on {date}")]
    NoRate { country: String, date: NaiveDate },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Why a line carries the rate it does; printed on the invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxTreatment {
    /// The buyer country's standard rate.
    Standard,
    /// 0 %: EU business buyer in another member state; the buyer accounts for VAT.
    ReverseCharge,
    /// 0 %: buyer outside the EU VAT area and the jurisdictions the platform is registered in.
    OutsideEu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedRate {
    /// Percent, e.g. 19 or 25.5.
    pub percent: Decimal,
    pub treatment: TaxTreatment,
}

/// Rates per VAT country code, sorted by their first day.
type Rates = BTreeMap<String, Vec<(NaiveDate, Decimal)>>;

/// The rate table: the EU member states', and those of the jurisdictions outside the EU where
/// the platform is registered (`registered`).
#[derive(Debug, Clone)]
pub struct RateTable {
    rates: Rates,
    registered: Rates,
}

/// The VAT territory an ISO country belongs to: Greece is `EL` in VAT; Monaco is in France's,
/// the Isle of Man in the UK's, Liechtenstein in Switzerland's.
fn vat_country(iso: &str) -> String {
    match iso {
        "GR" => "EL",
        "MC" => "FR",
        "IM" => "GB",
        "LI" => "CH",
        other => other,
    }
    .to_string()
}

pub fn normalize_country(raw: &str) -> Result<String, TaxError> {
    if is_country(raw) {
        Ok(raw.to_string())
    } else {
        Err(TaxError::BadCountry(raw.to_string()))
    }
}

impl RateTable {
    /// A table of EU rates only (no registrations outside the EU).
    pub fn parse(csv: &str) -> Result<RateTable, TaxError> {
        Ok(RateTable {
            rates: parse_rates(csv)?,
            registered: Rates::new(),
        })
    }

    /// The table shipped with the code.
    pub fn builtin() -> Result<&'static RateTable, TaxError> {
        static TABLE: LazyLock<Result<RateTable, TaxError>> = LazyLock::new(|| {
            Ok(RateTable {
                rates: parse_rates(RATE_TABLE_CSV)?,
                registered: parse_rates(REGISTERED_RATES_CSV)?,
            })
        });
        TABLE.as_ref().map_err(Clone::clone)
    }
}

fn parse_rates(csv: &str) -> Result<Rates, TaxError> {
    {
        let mut rates: Rates = BTreeMap::new();
        for (index, raw) in csv.lines().enumerate() {
            let line = index + 1;
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| TaxError::BadTable {
                line,
                reason: reason.to_string(),
            };
            let fields: Vec<&str> = text.split(',').map(str::trim).collect();
            let [country, rate, from] = fields.as_slice() else {
                return Err(bad("expected country,rate_percent,effective_from"));
            };
            let rate = Decimal::from_str_exact(rate).map_err(|_| bad("rate is not a decimal"))?;
            let from = NaiveDate::parse_from_str(from, "%Y-%m-%d")
                .map_err(|_| bad("effective_from is not YYYY-MM-DD"))?;
            rates
                .entry((*country).to_string())
                .or_default()
                .push((from, rate));
        }
        for list in rates.values_mut() {
            list.sort_by_key(|(from, _)| *from);
        }
        Ok(rates)
    }
}

fn rate_on(rates: &Rates, country: String, on: NaiveDate) -> Result<Decimal, TaxError> {
    rates
        .get(&country)
        .and_then(|list| list.iter().rev().find(|(from, _)| *from <= on))
        .map(|(_, rate)| *rate)
        .ok_or(TaxError::NoRate { country, date: on })
}

impl RateTable {
    pub fn is_eu(&self, iso_country: &str) -> bool {
        self.rates.contains_key(&vat_country(iso_country))
    }

    /// Whether the platform charges VAT to consumers of this country outside the EU.
    pub fn is_registered_outside_eu(&self, iso_country: &str) -> bool {
        self.registered.contains_key(&vat_country(iso_country))
    }

    /// The standard rate of an EU country (or a registered jurisdiction) on a date.
    pub fn standard_rate(&self, iso_country: &str, on: NaiveDate) -> Result<Decimal, TaxError> {
        let country = vat_country(iso_country);
        if self.registered.contains_key(&country) {
            return rate_on(&self.registered, country, on);
        }
        rate_on(&self.rates, country, on)
    }

    /// The rate of a sale at instant `at` (R-M2): the rate in force on the date it is in the
    /// buyer's country (its capital's time zone), where the rate applies — a sale at 00:30 in
    /// Berlin on the day a rate changes gets that day's rate, not the UTC date's.
    pub fn rate_at(
        &self,
        vendor_country: &str,
        buyer_country: &str,
        buyer_vat_id: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<AppliedRate, TaxError> {
        let zone = country_zone(&normalize_country(buyer_country)?);
        let local_date = at.with_timezone(&zone).date_naive();
        self.rate_for(vendor_country, buyer_country, buyer_vat_id, local_date)
    }

    /// The rate of one sale on a date of the buyer's country (R-M2).
    pub fn rate_for(
        &self,
        vendor_country: &str,
        buyer_country: &str,
        buyer_vat_id: Option<&str>,
        on: NaiveDate,
    ) -> Result<AppliedRate, TaxError> {
        let buyer = normalize_country(buyer_country)?;
        let vendor = normalize_country(vendor_country)?;
        if !self.is_eu(&buyer) && !self.is_registered_outside_eu(&buyer) {
            return Ok(AppliedRate {
                percent: Decimal::ZERO,
                treatment: TaxTreatment::OutsideEu,
            });
        }
        // A business of another VAT territory accounts for the VAT itself.
        let business_elsewhere = vat_country(&buyer) != vat_country(&vendor)
            && buyer_vat_id.is_some_and(|id| vat_id_looks_valid(id, &buyer));
        if business_elsewhere {
            return Ok(AppliedRate {
                percent: Decimal::ZERO,
                treatment: TaxTreatment::ReverseCharge,
            });
        }
        Ok(AppliedRate {
            percent: self.standard_rate(&buyer, on)?,
            treatment: TaxTreatment::Standard,
        })
    }
}

/// The time zone an EU country's VAT dates are read in: its capital's (decision: the mainland's
/// for the few countries with more than one, e.g. Portugal and Spain); UTC for the rest.
pub fn country_zone(iso_country: &str) -> chrono_tz::Tz {
    use chrono_tz::Europe;
    match iso_country {
        "AT" => Europe::Vienna,
        "BE" => Europe::Brussels,
        "BG" => Europe::Sofia,
        "HR" => Europe::Zagreb,
        "CY" => chrono_tz::Asia::Nicosia,
        "CZ" => Europe::Prague,
        "DK" => Europe::Copenhagen,
        "EE" => Europe::Tallinn,
        "FI" => Europe::Helsinki,
        "FR" => Europe::Paris,
        "DE" => Europe::Berlin,
        "GR" | "EL" => Europe::Athens,
        "HU" => Europe::Budapest,
        "IE" => Europe::Dublin,
        "IT" => Europe::Rome,
        "LV" => Europe::Riga,
        "LT" => Europe::Vilnius,
        "LU" => Europe::Luxembourg,
        "MT" => Europe::Malta,
        "NL" => Europe::Amsterdam,
        "PL" => Europe::Warsaw,
        "PT" => Europe::Lisbon,
        "RO" => Europe::Bucharest,
        "SK" => Europe::Bratislava,
        "SI" => Europe::Ljubljana,
        "ES" => Europe::Madrid,
        "SE" => Europe::Stockholm,
        "MC" => Europe::Monaco,
        "GB" | "IM" => Europe::London,
        "NO" => Europe::Oslo,
        "CH" | "LI" => Europe::Zurich,
        // Elsewhere no VAT is charged (R-M2), so no date there decides a rate.
        _ => chrono_tz::UTC,
    }
}

/// A VAT id of the buyer's country by its format and check digit (`vat_id::parse`).
pub fn vat_id_looks_valid(vat_id: &str, buyer_iso_country: &str) -> bool {
    crate::domain::vat_id::parse(vat_id, buyer_iso_country).is_some()
}

/// One priced line: net in, tax rounded per line (R-M2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxedLine {
    pub net: Money,
    pub tax: Money,
    pub total: Money,
    pub rate: AppliedRate,
}

pub fn tax_line(net: Money, rate: AppliedRate) -> Result<TaxedLine, TaxError> {
    let raw = net.amount() * rate.percent / Decimal::ONE_HUNDRED;
    let tax = Money::rounded(raw, net.currency());
    Ok(TaxedLine {
        net,
        tax,
        total: net.checked_add(&tax)?,
        rate,
    })
}

/// Totals are sums of the rounded lines, never a re-rounding of the sum.
pub fn sum_lines(lines: &[TaxedLine]) -> Result<Option<(Money, Money, Money)>, TaxError> {
    let Some(first) = lines.first() else {
        return Ok(None);
    };
    let zero = Money::zero(first.net.currency());
    let (mut net, mut tax, mut total) = (zero, zero, zero);
    for line in lines {
        net = net.checked_add(&line.net)?;
        tax = tax.checked_add(&line.tax)?;
        total = total.checked_add(&line.total)?;
    }
    Ok(Some((net, tax, total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;
    use proptest::prelude::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }

    #[test]
    fn builtin_table_parses_and_covers_the_27_member_states() {
        let table = RateTable::builtin().unwrap();
        assert_eq!(table.rates.len(), 27);
    }

    // R-M2: effective-dated rates.
    #[test]
    fn rate_follows_its_effective_date() {
        let table = RateTable::builtin().unwrap();
        let de = |d| table.standard_rate("DE", date(d)).unwrap().to_string();
        assert_eq!(de("2020-06-30"), "19");
        assert_eq!(de("2020-07-01"), "16");
        assert_eq!(de("2021-01-01"), "19");
        assert_eq!(
            table
                .standard_rate("FI", date("2026-11-24"))
                .unwrap()
                .to_string(),
            "25.5"
        );
        assert_eq!(
            table
                .standard_rate("GR", date("2026-11-24"))
                .unwrap()
                .to_string(),
            "24"
        );
    }

    // R-M2: a VAT id is read without its spaces, dots and dashes, in any case.
    #[test]
    fn a_vat_id_may_be_written_with_separators() {
        assert!(vat_id_looks_valid("atu 135.856-27", "AT"));
        assert!(vat_id_looks_valid("ATU13585627", "AT"));
        for bad in [
            "ATU 12_345",
            "DEU12345678",
            "AT1",
            "ATU12345678901234",
            "ATU12345678",
        ] {
            assert!(!vat_id_looks_valid(bad, "AT"), "{bad}");
        }
    }

    // R-M2: a bad rate table names the line it failed on (counted from 1, comments included).
    #[test]
    fn a_bad_table_names_its_line() {
        let csv = "# country,rate,from\nDE,19,2007-01-01\nAT,twenty,2016-01-01\n";
        match RateTable::parse(csv) {
            Err(TaxError::BadTable { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }

    // R-M2, R-M3 (issue 13, defect 5): the rate is the one in force on the local date where it
    // applies — 00:30 in Berlin on 1 January 2021 is 19 %, though it is still 31 December in UTC.
    #[test]
    fn the_rate_follows_the_local_date_of_the_buyers_country() {
        let table = RateTable::builtin().unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2020-12-31T23:30:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            table
                .rate_at("DE", "DE", None, at)
                .unwrap()
                .percent
                .to_string(),
            "19"
        );
        assert_eq!(
            table
                .rate_for("DE", "DE", None, at.date_naive())
                .unwrap()
                .percent
                .to_string(),
            "16",
            "the UTC date would give yesterday's rate"
        );
        // every member state has a zone of its own, not UTC
        for country in table.rates.keys() {
            assert_ne!(country_zone(country), chrono_tz::UTC, "{country}");
        }
    }

    // R-M2: the buyer's country decides; reverse charge for EU businesses elsewhere.
    #[test]
    fn buyer_country_decides_the_rate() {
        let table = RateTable::builtin().unwrap();
        let on = date("2026-11-24");
        let consumer_at = table.rate_for("DE", "AT", None, on).unwrap();
        assert_eq!(consumer_at.percent.to_string(), "20");
        assert_eq!(consumer_at.treatment, TaxTreatment::Standard);
        let business_at = table.rate_for("DE", "AT", Some("ATU13585627"), on).unwrap();
        assert_eq!(business_at.treatment, TaxTreatment::ReverseCharge);
        assert!(business_at.percent.is_zero());
        let business_same_country = table.rate_for("DE", "DE", Some("DE136695976"), on).unwrap();
        assert_eq!(business_same_country.percent.to_string(), "19");
        let wrong_prefix = table.rate_for("DE", "AT", Some("FR12345678"), on).unwrap();
        assert_eq!(wrong_prefix.treatment, TaxTreatment::Standard);
        let us = table.rate_for("DE", "US", None, on).unwrap();
        assert_eq!(us.treatment, TaxTreatment::OutsideEu);
        assert!(matches!(
            table.rate_for("DE", "Germany", None, on),
            Err(TaxError::BadCountry(_))
        ));
    }

    // R-M2 (issue 14, defect 9): an id of the right prefix with a made-up rest, or a wrong check
    // digit, is a consumer's purchase; Monaco is in the French VAT area
    #[test]
    fn only_a_real_looking_vat_id_is_reverse_charged() {
        let table = RateTable::builtin().unwrap();
        let on = date("2026-11-24");
        for made_up in ["ATAA", "ATU12345678", "ATU1358562"] {
            let rate = table.rate_for("DE", "AT", Some(made_up), on).unwrap();
            assert_eq!(
                (rate.treatment, rate.percent.to_string()),
                (TaxTreatment::Standard, "20".into()),
                "{made_up}"
            );
        }
        for (country, made_up) in [("FR", "FRXX"), ("NL", "NL00")] {
            let rate = table.rate_for("DE", country, Some(made_up), on).unwrap();
            assert_eq!(rate.treatment, TaxTreatment::Standard, "{made_up}");
        }
        let monaco = table.rate_for("DE", "MC", None, on).unwrap();
        assert_eq!(
            (monaco.treatment, monaco.percent.to_string()),
            (TaxTreatment::Standard, "20".into())
        );
        let monaco_business = table
            .rate_for("DE", "MC", Some("FR40303265045"), on)
            .unwrap();
        assert_eq!(monaco_business.treatment, TaxTreatment::ReverseCharge);
        // a French vendor's sale to Monaco is domestic
        let domestic = table
            .rate_for("FR", "MC", Some("FR40303265045"), on)
            .unwrap();
        assert_eq!(domestic.percent.to_string(), "20");
    }

    // R-M2 (issue 14, defect 9; seed 000 "bestimmte Gerichtsbarkeiten"): consumers in the UK,
    // Norway and Switzerland pay their VAT where the platform is registered; businesses there are
    // reverse charged; elsewhere outside the EU nothing is charged
    #[test]
    fn registered_jurisdictions_outside_the_eu_tax_their_consumers() {
        let table = RateTable::builtin().unwrap();
        let on = date("2026-11-24");
        for (country, percent) in [
            ("GB", "20"),
            ("IM", "20"),
            ("NO", "25"),
            ("CH", "8.1"),
            ("LI", "8.1"),
        ] {
            let rate = table.rate_for("DE", country, None, on).unwrap();
            assert_eq!(
                (rate.treatment, rate.percent.to_string()),
                (TaxTreatment::Standard, percent.to_string()),
                "{country}"
            );
        }
        assert_eq!(
            table
                .rate_for("DE", "CH", None, date("2023-12-31"))
                .unwrap()
                .percent
                .to_string(),
            "7.7"
        );
        let business = table.rate_for("DE", "GB", Some("GB123456789"), on).unwrap();
        assert_eq!(business.treatment, TaxTreatment::ReverseCharge);
        let swiss = table
            .rate_for("DE", "CH", Some("CHE116281710MWST"), on)
            .unwrap();
        assert_eq!(swiss.treatment, TaxTreatment::ReverseCharge);
        let us = table.rate_for("DE", "US", None, on).unwrap();
        assert_eq!(
            (us.treatment, us.percent),
            (TaxTreatment::OutsideEu, Decimal::ZERO)
        );
    }

    // R-M2: per-line rounding, totals are sums of rounded lines; total exceeds the net price.
    #[test]
    fn tax_is_rounded_per_line_and_summed() {
        let rate = AppliedRate {
            percent: Decimal::new(19, 0),
            treatment: TaxTreatment::Standard,
        };
        // 0.05 * 19 % = 0.0095 -> 0.01 per line; three lines 0.03 (one rounding of the sum: 0.03 too,
        // but 9.99 * 19 % = 1.8981 -> 1.90 shows the line rounding).
        let line = tax_line(eur("9.99"), rate).unwrap();
        assert_eq!(line.tax, eur("1.90"));
        assert_eq!(line.total, eur("11.89"));
        let lines = vec![tax_line(eur("0.05"), rate).unwrap(); 3];
        let (net, tax, total) = sum_lines(&lines).unwrap().unwrap();
        assert_eq!((net, tax, total), (eur("0.15"), eur("0.03"), eur("0.18")));
        // Half away from zero: 0.50 * 21 % = 0.105 -> 0.11.
        let half = AppliedRate {
            percent: Decimal::new(21, 0),
            treatment: TaxTreatment::Standard,
        };
        assert_eq!(tax_line(eur("0.50"), half).unwrap().tax, eur("0.11"));
    }

    proptest! {
        // R-M2: line tax is within half a cent of the exact tax, and total = net + tax.
        #[test]
        fn line_tax_is_exact_to_half_a_cent(cents in 0i64..100_000_000, rate_tenths in 0i64..300) {
            let net = Money::from_minor_units(cents, Currency::EUR);
            let rate = AppliedRate { percent: Decimal::new(rate_tenths, 1), treatment: TaxTreatment::Standard };
            let line = tax_line(net, rate).unwrap();
            let exact = net.amount() * rate.percent / Decimal::ONE_HUNDRED;
            prop_assert!((line.tax.amount() - exact).abs() <= Decimal::new(5, 3));
            prop_assert_eq!(line.total, net.checked_add(&line.tax).unwrap());
        }
    }
}
