//! Customers: matching within a vendor (R-C1), language from country (R-C4), the `regular` tag
//! (R-C5).

use crate::domain::country::{COUNTRY_HINT, is_country};
use crate::domain::ids::{CustomerId, Entropy, VendorId};
use crate::domain::token::SecretDigest;
use crate::domain::validation::{FieldErrors, MAX_PHONE_CHARS, is_line, is_phone};
use crate::domain::vendors::{MatchingMode, Vendor, normalize_email};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
}

/// Case-folded with white space collapsed, as R-C1 compares.
/// A text as search compares it (R-D1, R-D3): decomposed, accents and invisible characters
/// dropped, case folded fully — `zoe` finds `Zoë`, `weiss` finds `Weiß`.
pub fn search_key(text: &str) -> String {
    icu_normalizer::DecomposingNormalizerBorrowed::new_nfkd()
        .normalize(text)
        .chars()
        .filter(|c| !matches!(*c, '\u{0300}'..='\u{036F}'))
        .filter(|c| !crate::domain::validation::is_invisible(*c))
        .collect::<String>()
        .to_lowercase()
        .replace('ß', "ss")
}

/// An address part as matching compares it (issue 16, item 11): compatibility-composed (NFKC:
/// `ü` typed composed or decomposed, full-width digits), invisible characters dropped, spaces
/// collapsed, and case folded fully (`Hauptstraße` = `HAUPTSTRASSE`).
fn fold(text: &str) -> String {
    let composed = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc().normalize(text);
    composed
        .chars()
        .filter(|c| !crate::domain::validation::is_invisible(*c))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('ß', "ss")
}

impl Address {
    /// The identity of an address for matching, hashed so the key holds no personal data.
    pub fn match_key(&self) -> String {
        let joined = [&self.street, &self.postal_code, &self.city, &self.country]
            .map(|part| fold(part))
            .join("\u{1f}");
        SecretDigest::of(&joined).to_hex()
    }
}

/// The key a customer is matched by in the vendor's mode (R-C1); `None`: no match possible, a new
/// customer (address mode without an address).
pub fn match_key(mode: MatchingMode, email: &str, address: Option<&Address>) -> Option<String> {
    match mode {
        MatchingMode::Email => {
            normalize_email(email).map(|e| format!("EMAIL#{}", SecretDigest::of(&e).to_hex()))
        }
        MatchingMode::Address => address.map(|a| format!("ADDR#{}", a.match_key())),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub vendor_id: VendorId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phones: Vec<String>,
    pub address: Option<Address>,
    pub country: String,
    pub language: Option<String>,
    pub tags: BTreeSet<String>,
    pub paid_orders: u32,
    /// The provider's card/account fingerprints seen on this customer's payments (R-C6).
    #[serde(default)]
    pub fingerprints: BTreeSet<String>,
    #[serde(default)]
    pub blocked: Option<Block>,
    pub created_at: DateTime<Utc>,
}

/// Why a customer is blocked (R-C6): by the vendor, and/or through other customers sharing a
/// payment fingerprint (`via`); unblocking one of those lifts only its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredBlock")]
pub struct Block {
    pub at: DateTime<Utc>,
    /// The vendor blocked this customer itself.
    pub direct: bool,
    /// The customers whose blocks reached this one through a shared payment fingerprint: each
    /// is a reason of its own (issue 16, item 13), so lifting one keeps the others.
    pub via: BTreeSet<CustomerId>,
}

impl Block {
    /// Whether any reason is left.
    pub fn holds(&self) -> bool {
        self.direct || !self.via.is_empty()
    }

    /// The customers a block through this one names: this one where it was blocked itself,
    /// and those it was blocked through.
    pub fn roots(&self, own: &CustomerId) -> BTreeSet<CustomerId> {
        let mut roots = self.via.clone();
        if self.direct {
            roots.insert(own.clone());
        }
        roots
    }
}

/// A block as stored: before issue 16 one reason, `via` a single customer or none (itself).
#[derive(Deserialize)]
struct StoredBlock {
    at: DateTime<Utc>,
    #[serde(default)]
    direct: Option<bool>,
    #[serde(default)]
    via: OneOrMany,
}

#[derive(Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(CustomerId),
    Many(BTreeSet<CustomerId>),
}

impl From<StoredBlock> for Block {
    fn from(stored: StoredBlock) -> Block {
        let via = match stored.via {
            OneOrMany::None => BTreeSet::new(),
            OneOrMany::One(id) => BTreeSet::from([id]),
            OneOrMany::Many(ids) => ids,
        };
        Block {
            at: stored.at,
            direct: stored.direct.unwrap_or(via.is_empty()),
            via,
        }
    }
}

/// The key under which a blocked e-mail is refused at checkout, whatever the matching mode.
pub fn blocked_email_key(email: &str) -> Option<String> {
    normalize_email(email).map(|e| format!("BLOCKEDEMAIL#{}", SecretDigest::of(&e).to_hex()))
}

/// The customer block of `POST /checkout`; also what an order keeps of its checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutCustomer {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
    pub country: String,
    #[serde(default)]
    pub vat_id: Option<String>,
}

fn valid_country(raw: &str) -> Option<String> {
    is_country(raw).then(|| raw.to_string())
}

/// Checks the checkout's customer block (400 on bad e-mail or country, API.md).
pub fn check_checkout_customer(input: &CheckoutCustomer) -> Result<(String, String), FieldErrors> {
    let mut errors = FieldErrors::new();
    let email = normalize_email(&input.email);
    if email.is_none() {
        errors.insert(
            "customer.email".into(),
            "is not a valid e-mail address".into(),
        );
    }
    let country = valid_country(&input.country);
    if country.is_none() {
        errors.insert("customer.country".into(), COUNTRY_HINT.into());
    }
    for (field, value) in [
        ("customer.first_name", &input.first_name),
        ("customer.last_name", &input.last_name),
    ] {
        if !is_line(value, 100) {
            errors.insert(
                field.into(),
                "must be 1 to 100 characters without control characters".into(),
            );
        }
    }
    if let Some(phone) = &input.phone
        && !is_phone(phone)
    {
        errors.insert(
            "customer.phone".into(),
            format!(
                "must be at most {MAX_PHONE_CHARS} characters of digits, +, spaces, -, /, ( and )"
            ),
        );
    }
    if let Some(vat_id) = &input.vat_id {
        let compact = crate::domain::vat_id::compact(vat_id);
        if compact.is_empty()
            || vat_id.len() > 24
            || compact.len() > 16
            || !vat_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'-'))
        {
            errors.insert(
                "customer.vat_id".into(),
                "must be 1 to 16 letters and digits (spaces, dots and dashes between them allowed), such as ATU13585627".into(),
            );
        } else if let Some(country) = &country
            && crate::domain::vat_id::is_checked(country)
            && crate::domain::vat_id::parse(vat_id, country).is_none()
        {
            // R-M2 (issue 14, defect 9): a made-up id earns no reverse charge, and is said so.
            errors.insert(
                "customer.vat_id".into(),
                format!(
                    "is not a VAT id of {country}: it must start with {} and match that country's format and check digit",
                    crate::domain::vat_id::prefix_of(country)
                ),
            );
        }
    }
    if let Some(address) = &input.address {
        if valid_country(&address.country).is_none() {
            errors.insert("customer.address.country".into(), COUNTRY_HINT.into());
        }
        for (field, value, max) in [
            ("customer.address.street", &address.street, 200),
            ("customer.address.postal_code", &address.postal_code, 20),
            ("customer.address.city", &address.city, 100),
        ] {
            if !is_line(value, max) {
                errors.insert(
                    field.into(),
                    format!("must be 1 to {max} characters without control characters"),
                );
            }
        }
    }
    match (email, country, errors.is_empty()) {
        (Some(email), Some(country), true) => Ok((email, country)),
        _ => Err(errors),
    }
}

/// R-C4: a customer without a language gets the one of the delivery (else billing) country.
pub fn language_from_country(
    current: Option<&str>,
    delivery_country: Option<&str>,
    billing_country: &str,
    map: &BTreeMap<String, String>,
) -> Option<String> {
    if let Some(language) = current {
        return Some(language.to_string());
    }
    let country = delivery_country
        .unwrap_or(billing_country)
        .to_ascii_uppercase();
    map.get(&country).cloned()
}

pub const REGULAR_TAG: &str = "regular";

/// R-C5: counts a paid order; at the vendor's threshold the customer is tagged `regular`.
pub fn record_paid_order(customer: &mut Customer, threshold: u32) {
    customer.paid_orders += 1;
    if customer.paid_orders >= threshold.max(1) {
        customer.tags.insert(REGULAR_TAG.to_string());
    }
}

/// An order of the customer's was refunded in full (R-C5; issue 15, defect 4): it no longer
/// counts as a paid order, and the automatic `regular` tag goes when the count falls below the
/// vendor's threshold. Whether anything changed.
pub fn unrecord_paid_order(customer: &mut Customer, threshold: u32) -> bool {
    if customer.paid_orders == 0 {
        return false;
    }
    customer.paid_orders -= 1;
    if customer.paid_orders < threshold.max(1) {
        customer.tags.remove(REGULAR_TAG);
    }
    true
}

/// A new customer from a checkout (matching found nobody).
pub fn new_customer(
    vendor: &Vendor,
    input: &CheckoutCustomer,
    email: String,
    country: String,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Customer {
    let delivery = input.address.as_ref().map(|a| a.country.as_str());
    Customer {
        id: CustomerId::generate(now, entropy),
        vendor_id: vendor.id.clone(),
        email,
        first_name: input.first_name.trim().to_string(),
        last_name: input.last_name.trim().to_string(),
        phones: input
            .phone
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        address: input.address.clone(),
        language: language_from_country(None, delivery, &country, &vendor.country_languages),
        country,
        tags: BTreeSet::new(),
        paid_orders: 0,
        fingerprints: BTreeSet::new(),
        blocked: None,
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(street: &str, city: &str) -> Address {
        Address {
            street: street.into(),
            postal_code: "10115".into(),
            city: city.into(),
            country: "DE".into(),
        }
    }

    // R-C1 (issue 16, item 11): one address however it is typed — composed or decomposed
    // letters, full case folding, invisible characters, full-width digits
    #[test]
    fn an_address_matches_however_its_letters_are_typed() {
        let key = |street: &str, city: &str| {
            match_key(MatchingMode::Address, "", Some(&address(street, city)))
        };
        let plain = key("Hauptstraße 1", "München");
        for variant in [
            ("HAUPTSTRASSE 1", "MÜNCHEN"),
            ("Hauptstrasse 1", "Mu\u{308}nchen"),
            ("Haupt\u{200B}straße 1", "Mün\u{FEFF}chen"),
            ("Hauptstraße １", "München"),
            ("HAUPTSTRA\u{1E9E}E 1", "münchen"),
        ] {
            assert_eq!(key(variant.0, variant.1), plain, "{variant:?}");
        }
        assert_ne!(key("Hauptstraße 2", "München"), plain);
    }

    // R-C1 (issue 16, item 11): e-mail variants that look alike are one customer or refused
    #[test]
    fn email_variants_that_look_alike_are_one_customer_or_refused() {
        let plain = match_key(MatchingMode::Email, "anna@müller.example", None);
        assert!(plain.is_some());
        assert_eq!(
            match_key(MatchingMode::Email, "anna@mu\u{308}ller.example", None),
            plain,
            "decomposed ü in the domain"
        );
        for hidden in [
            "an\u{200B}na@example.com",
            "\u{FEFF}anna@example.com",
            "anna@exa\u{200D}mple.com",
        ] {
            assert_eq!(
                match_key(MatchingMode::Email, hidden, None),
                None,
                "{hidden:?}"
            );
        }
    }

    // R-C1
    #[test]
    fn email_matching_is_trimmed_and_case_insensitive() {
        let a = match_key(MatchingMode::Email, " Anna@Example.COM ", None);
        let b = match_key(MatchingMode::Email, "anna@example.com", None);
        assert_eq!(a, b);
        assert!(a.is_some());
        assert_ne!(a, match_key(MatchingMode::Email, "anna2@example.com", None));
        assert!(!a.unwrap().contains("anna"), "no personal data in keys");
    }

    // R-C1
    #[test]
    fn address_matching_folds_case_and_white_space() {
        let one = address("Invalidenstraße  1", "Berlin");
        let two = address(" invalidenstraße 1 ", "BERLIN");
        assert_eq!(
            match_key(MatchingMode::Address, "x@y.de", Some(&one)),
            match_key(MatchingMode::Address, "z@y.de", Some(&two))
        );
        assert_ne!(
            one.match_key(),
            address("Invalidenstraße 2", "Berlin").match_key()
        );
        assert_eq!(match_key(MatchingMode::Address, "x@y.de", None), None);
    }

    // R-C4
    #[test]
    fn language_comes_from_delivery_then_billing_country() {
        let map = BTreeMap::from([
            ("AT".to_string(), "de".to_string()),
            ("GB".to_string(), "en".to_string()),
        ]);
        assert_eq!(
            language_from_country(None, Some("at"), "GB", &map),
            Some("de".into())
        );
        assert_eq!(
            language_from_country(None, None, "GB", &map),
            Some("en".into())
        );
        assert_eq!(
            language_from_country(Some("fr"), Some("AT"), "GB", &map),
            Some("fr".into())
        );
        assert_eq!(language_from_country(None, None, "US", &map), None);
    }

    // R-C5
    #[test]
    fn the_threshold_paid_order_tags_the_customer_regular() {
        let mut customer = Customer {
            id: CustomerId::parse("cus_01JZZZZZZZZZZZZZZZZZZZZZZZ").unwrap(),
            vendor_id: VendorId::parse("ven_01JZZZZZZZZZZZZZZZZZZZZZZZ").unwrap(),
            email: "a@b.de".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            phones: vec![],
            address: None,
            country: "DE".into(),
            language: None,
            tags: BTreeSet::new(),
            paid_orders: 0,
            fingerprints: BTreeSet::new(),
            blocked: None,
            created_at: DateTime::<Utc>::MIN_UTC,
        };
        record_paid_order(&mut customer, 3);
        record_paid_order(&mut customer, 3);
        assert!(!customer.tags.contains(REGULAR_TAG));
        record_paid_order(&mut customer, 3);
        assert!(customer.tags.contains(REGULAR_TAG));
    }

    #[test]
    fn checkout_customer_is_checked() {
        let input = CheckoutCustomer {
            email: "nope".into(),
            first_name: "".into(),
            last_name: "B".into(),
            phone: None,
            address: None,
            country: "Deutschland".into(),
            vat_id: None,
        };
        let errors = check_checkout_customer(&input).unwrap_err();
        assert_eq!(errors.len(), 3);
    }
}
