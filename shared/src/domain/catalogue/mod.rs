//! Products and versioned offers (R-O1).

use crate::domain::ids::{Entropy, OfferId, ProductId, VendorId};
use crate::domain::money::Money;
use crate::domain::validation::{FieldErrors, is_line};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Download {
    pub file_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    pub id: ProductId,
    pub vendor_id: VendorId,
    pub name: String,
    /// `None`: unlimited access.
    pub access_days: Option<u32>,
    pub download: Option<Download>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub name: String,
    #[serde(default)]
    pub access_days: Option<u32>,
    #[serde(default)]
    pub download: Option<Download>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

/// How an offer is paid (R-O1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "PlanWire")]
pub enum Plan {
    OneTime,
    Installments { count: u32, interval: Interval },
    Subscription { interval: Interval },
}

/// The three shapes a plan takes on the wire (API.md), each with exactly its fields.
impl utoipa::PartialSchema for Plan {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let kind = |name: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([name]))
        };
        let intervals = |allowed: &[&str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(allowed.to_vec()))
        };
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .property("kind", kind("one_time"))
                    .required("kind")
                    .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<
                        utoipa::openapi::schema::Schema,
                    >::FreeForm(false))),
            )
            .item(
                ObjectBuilder::new()
                    .property("kind", kind("installments"))
                    .property(
                        "count",
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(2))
                            .maximum(Some(MAX_INSTALLMENTS)),
                    )
                    .property("interval", intervals(&["day", "week", "month"]))
                    .required("kind")
                    .required("count")
                    .required("interval")
                    .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<
                        utoipa::openapi::schema::Schema,
                    >::FreeForm(false))),
            )
            .item(
                ObjectBuilder::new()
                    .property("kind", kind("subscription"))
                    .property("interval", intervals(&["week", "month", "year"]))
                    .required("kind")
                    .required("interval")
                    .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<
                        utoipa::openapi::schema::Schema,
                    >::FreeForm(false))),
            )
            .into()
    }
}

impl utoipa::ToSchema for Plan {}

/// The plan as it arrives: serde cannot refuse extra fields on a unit variant of a tagged enum,
/// so the shape is checked here (`{"kind": "one_time", "count": 3}` is an error, not ignored).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanWire {
    kind: String,
    count: Option<u32>,
    interval: Option<Interval>,
}

impl TryFrom<PlanWire> for Plan {
    type Error = String;
    fn try_from(wire: PlanWire) -> Result<Plan, String> {
        match (wire.kind.as_str(), wire.count, wire.interval) {
            ("one_time", None, None) => Ok(Plan::OneTime),
            ("installments", Some(count), Some(interval)) => {
                Ok(Plan::Installments { count, interval })
            }
            ("subscription", None, Some(interval)) => Ok(Plan::Subscription { interval }),
            ("one_time", ..) => Err("a one_time plan takes no count or interval".into()),
            ("installments", ..) => Err("an installments plan needs count and interval".into()),
            ("subscription", ..) => {
                Err("a subscription plan needs an interval and no count".into())
            }
            (other, ..) => Err(format!(
                "unknown plan kind {other:?}: one_time, installments or subscription"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Offer {
    pub id: OfferId,
    pub vendor_id: VendorId,
    /// 1 at creation; every edit makes a new version (R-O1). Orders keep the terms they were sold on.
    pub version: u32,
    pub name: String,
    pub products: Vec<ProductId>,
    /// Net, per order.
    pub price: Money,
    pub discount: Option<Money>,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The terms of an offer as `POST /api/offers` and `PUT /api/offers/{id}` give them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferTerms {
    pub name: String,
    pub products: Vec<ProductId>,
    pub price: Money,
    #[serde(default)]
    pub discount: Option<Money>,
    pub plan: Plan,
}

/// Most installments a plan may have (decision: three years of monthly payments).
pub const MAX_INSTALLMENTS: u32 = 36;
/// Longest access a product may grant in days (decision: ten years; longer is "unlimited").
pub const MAX_ACCESS_DAYS: u32 = 3650;

fn check_name(name: &str, errors: &mut FieldErrors) -> String {
    let trimmed = name.trim().to_string();
    if !is_line(&trimmed, 200) {
        errors.insert(
            "name".into(),
            "must be 1 to 200 characters without control characters".into(),
        );
    }
    trimmed
}

pub fn new_product(
    vendor: &VendorId,
    request: NewProduct,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<Product, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = check_name(&request.name, &mut errors);
    if request
        .access_days
        .is_some_and(|days| days == 0 || days > MAX_ACCESS_DAYS)
    {
        errors.insert(
            "access_days".into(),
            format!("must be 1 to {MAX_ACCESS_DAYS}, or null for unlimited"),
        );
    }
    if let Some(download) = &request.download {
        let file = download.file_name.trim();
        if file.is_empty() || file.len() > 255 || file.contains(['/', '\\']) {
            errors.insert(
                "download.file_name".into(),
                "must be a plain file name of 1 to 255 bytes".into(),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Product {
        id: ProductId::generate(now, entropy),
        vendor_id: vendor.clone(),
        name,
        access_days: request.access_days,
        download: request.download,
        created_at: now,
    })
}

/// Checks terms that need no lookup; that every product exists is the use case's check.
/// The highest offer price, in minor units of its currency (10 000 000.00 EUR, 1 000 000 000
/// JPY): far above any digital product, far below what pricing with tax could overflow.
pub const MAX_PRICE_MINOR_UNITS: i64 = 1_000_000_000;

pub fn check_terms(terms: &OfferTerms) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    check_name(&terms.name, &mut errors);
    let unique: BTreeSet<_> = terms.products.iter().collect();
    if terms.products.is_empty() || terms.products.len() > 50 {
        errors.insert("products".into(), "must name 1 to 50 products".into());
    } else if unique.len() != terms.products.len() {
        errors.insert("products".into(), "must not name a product twice".into());
    }
    if terms.price.is_negative() || terms.price.is_zero() {
        errors.insert("price".into(), "must be more than zero".into());
    } else if terms
        .price
        .minor_units()
        .map_or(true, |units| units > MAX_PRICE_MINOR_UNITS)
    {
        errors.insert(
            "price".into(),
            format!(
                "must be at most {} {}",
                Money::from_minor_units(MAX_PRICE_MINOR_UNITS, terms.price.currency()).amount(),
                terms.price.currency()
            ),
        );
    }
    if let Some(discount) = &terms.discount {
        if discount.currency() != terms.price.currency() {
            errors.insert("discount".into(), "must be in the price's currency".into());
        } else if discount.is_negative() || discount.amount() >= terms.price.amount() {
            errors.insert(
                "discount".into(),
                "must be at least zero and less than the price".into(),
            );
        }
    }
    match terms.plan {
        Plan::Installments { count, interval } => {
            if !(2..=MAX_INSTALLMENTS).contains(&count) {
                errors.insert(
                    "plan.count".into(),
                    format!("must be 2 to {MAX_INSTALLMENTS}"),
                );
            } else if !errors.contains_key("price") && !errors.contains_key("discount") {
                // R-O5: every instalment is at least one minor unit (0.01 EUR), never 0.00.
                let net = terms
                    .discount
                    .map_or(Ok(terms.price), |discount| {
                        terms.price.checked_sub(&discount)
                    })
                    .and_then(|net| net.minor_units());
                if net.map_or(true, |units| units < i64::from(count)) {
                    errors.insert(
                        "plan.count".into(),
                        "is more instalments than the price has minor units (each would be 0)"
                            .into(),
                    );
                }
            }
            if interval == Interval::Year {
                errors.insert(
                    "plan.interval".into(),
                    "installments are paid by day, week or month".into(),
                );
            }
        }
        Plan::Subscription { interval } => {
            if interval == Interval::Day {
                errors.insert(
                    "plan.interval".into(),
                    "subscriptions renew by week, month or year".into(),
                );
            }
        }
        Plan::OneTime => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

pub fn new_offer(
    vendor: &VendorId,
    terms: OfferTerms,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<Offer, FieldErrors> {
    check_terms(&terms)?;
    Ok(Offer {
        id: OfferId::generate(now, entropy),
        vendor_id: vendor.clone(),
        version: 1,
        name: terms.name.trim().to_string(),
        products: terms.products,
        price: terms.price,
        discount: terms.discount,
        plan: terms.plan,
        created_at: now,
        updated_at: now,
    })
}

/// An edit makes the next version; the id and creation time stay (R-O1).
pub fn revise_offer(
    current: &Offer,
    terms: OfferTerms,
    now: DateTime<Utc>,
) -> Result<Offer, FieldErrors> {
    check_terms(&terms)?;
    Ok(Offer {
        version: current.version + 1,
        name: terms.name.trim().to_string(),
        products: terms.products,
        price: terms.price,
        discount: terms.discount,
        plan: terms.plan,
        updated_at: now,
        ..current.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::SeededEntropy;
    use crate::domain::money::Currency;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
    }
    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }
    fn vendor() -> VendorId {
        VendorId::generate(now(), &SeededEntropy::new(3))
    }
    fn terms(plan: Plan) -> OfferTerms {
        OfferTerms {
            name: "Kurs".into(),
            products: vec![ProductId::generate(now(), &SeededEntropy::new(4))],
            price: eur("99.00"),
            discount: None,
            plan,
        }
    }

    // R-O1
    #[test]
    fn editing_an_offer_makes_a_new_version_with_the_same_id() {
        let offer = new_offer(
            &vendor(),
            terms(Plan::OneTime),
            now(),
            &SeededEntropy::new(5),
        )
        .unwrap();
        assert_eq!(offer.version, 1);
        let mut changed = terms(Plan::Subscription {
            interval: Interval::Month,
        });
        changed.price = eur("19.00");
        let later = now() + chrono::Duration::days(1);
        let revised = revise_offer(&offer, changed, later).unwrap();
        assert_eq!(
            (revised.id.clone(), revised.version, revised.created_at),
            (offer.id.clone(), 2, offer.created_at)
        );
        assert_eq!(revised.price, eur("19.00"));
        assert_eq!(revised.updated_at, later);
    }

    // R-O1
    #[test]
    fn plans_and_prices_are_checked() {
        let installments = |count, interval| terms(Plan::Installments { count, interval });
        assert!(check_terms(&installments(3, Interval::Month)).is_ok());
        assert!(
            check_terms(&installments(1, Interval::Month))
                .unwrap_err()
                .contains_key("plan.count")
        );
        assert!(
            check_terms(&installments(3, Interval::Year))
                .unwrap_err()
                .contains_key("plan.interval")
        );
        assert!(
            check_terms(&terms(Plan::Subscription {
                interval: Interval::Day
            }))
            .is_err()
        );
        let mut free = terms(Plan::OneTime);
        free.price = eur("0.00");
        assert!(check_terms(&free).unwrap_err().contains_key("price"));
        // issue 10, defect 9: a price checkout cannot price, instalments that round to zero
        let mut huge = terms(Plan::OneTime);
        huge.price = eur("99999999999999999999999999.99");
        assert!(check_terms(&huge).unwrap_err().contains_key("price"));
        huge.price = eur("10000000.00");
        assert!(check_terms(&huge).is_ok());
        huge.price = eur("10000000.01");
        assert!(check_terms(&huge).unwrap_err().contains_key("price"));
        let mut tiny = installments(3, Interval::Month);
        tiny.price = eur("0.01");
        assert!(check_terms(&tiny).unwrap_err().contains_key("plan.count"));
        tiny.price = eur("0.03");
        assert!(check_terms(&tiny).is_ok());
        tiny.discount = Some(eur("0.01"));
        assert!(check_terms(&tiny).unwrap_err().contains_key("plan.count"));
        let mut discounted = terms(Plan::OneTime);
        discounted.discount = Some(eur("99.00"));
        assert!(
            check_terms(&discounted)
                .unwrap_err()
                .contains_key("discount")
        );
        discounted.discount = Some(Money::parse("10", "USD".parse().unwrap()).unwrap());
        assert!(
            check_terms(&discounted)
                .unwrap_err()
                .contains_key("discount")
        );
        let mut twice = terms(Plan::OneTime);
        twice.products.push(twice.products[0].clone());
        assert!(check_terms(&twice).unwrap_err().contains_key("products"));
    }

    // R-O1
    #[test]
    fn products_have_an_access_duration_or_none() {
        let request = |access_days, file: &str| NewProduct {
            name: "Videokurs".into(),
            access_days,
            download: Some(Download {
                file_name: file.into(),
            }),
        };
        let product = new_product(
            &vendor(),
            request(Some(365), "kurs.zip"),
            now(),
            &SeededEntropy::new(6),
        )
        .unwrap();
        assert_eq!(product.access_days, Some(365));
        assert!(
            new_product(
                &vendor(),
                request(None, "kurs.zip"),
                now(),
                &SeededEntropy::new(6)
            )
            .is_ok()
        );
        assert!(
            new_product(
                &vendor(),
                request(Some(0), "kurs.zip"),
                now(),
                &SeededEntropy::new(6)
            )
            .is_err()
        );
        assert!(
            new_product(
                &vendor(),
                request(None, "../etc/passwd"),
                now(),
                &SeededEntropy::new(6)
            )
            .is_err()
        );
    }

    #[test]
    fn plans_read_the_api_shape() {
        let plan: Plan =
            serde_json::from_str(r#"{"kind": "installments", "count": 3, "interval": "month"}"#)
                .unwrap();
        assert_eq!(
            plan,
            Plan::Installments {
                count: 3,
                interval: Interval::Month
            }
        );
        assert!(serde_json::from_str::<Plan>(r#"{"kind": "one_time", "count": 3}"#).is_err());
    }
}
