//! Vendors and their settings (R-V1); creating one with its first API key and webhook secret.

pub mod ledger;

use crate::domain::calendar::{DEFAULT_TIME_ZONE, parse_time_zone};
use crate::domain::country::is_country;
use crate::domain::ids::{ApiKeyId, Entropy, VendorId};
use crate::domain::token::{SecretDigest, random_secret};
use crate::domain::validation::{FieldErrors, is_invisible, is_line};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchingMode {
    Email,
    Address,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vendor {
    pub id: VendorId,
    pub name: String,
    pub email: String,
    pub support_email: Option<String>,
    pub time_zone: String,
    pub default_language: String,
    pub matching_mode: MatchingMode,
    pub dunning_days: Vec<u32>,
    pub regular_customer_threshold: u32,
    pub country_languages: BTreeMap<String, String>,
    pub restricted: bool,
    /// Where the vendor is established: decides reverse charge (R-M2).
    #[serde(default = "default_country")]
    pub country: String,
    /// The frontend's base URL; customer links are `{portal_base_url}/orders/{token}` (API.md).
    #[serde(default = "default_portal_base_url")]
    pub portal_base_url: String,
    /// R-P4 (issue 15, defect 3): whether a customer may pay the next instalment before it is
    /// due (the payment link then pays exactly that rate). Off by default.
    #[serde(default)]
    pub allow_early_instalments: bool,
    /// Issue 15, defect 1: how many days before an instalment's due date its `payment_request`
    /// e-mail goes out where no payment method is saved (a second one goes on the due date).
    #[serde(default = "default_request_days_before")]
    pub request_days_before: u32,
    pub created_at: DateTime<Utc>,
}

fn default_request_days_before() -> u32 {
    3
}

impl Vendor {
    /// Ticket e-mails go to the support address, else the account address (R-V1).
    pub fn ticket_email(&self) -> &str {
        self.support_email.as_deref().unwrap_or(&self.email)
    }
}

/// What `POST /admin/vendors` asks for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVendor {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// A vendor's API key as stored: the digest of the secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub vendor_id: VendorId,
    pub digest_hex: String,
    pub created_at: DateTime<Utc>,
    /// When the key last authenticated a request, to within [`KEY_USE_GRANULARITY`].
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How precisely a key's last use is kept: a busy integration writes its key's record at most
/// once in this time, not on every request.
pub const KEY_USE_GRANULARITY: chrono::Duration = chrono::Duration::minutes(5);

impl ApiKeyRecord {
    /// The record with this use noted, if the last noted use is older than the granularity.
    pub fn used_at(&self, now: DateTime<Utc>) -> Option<ApiKeyRecord> {
        let stale = self
            .last_used_at
            .is_none_or(|last| now - last >= KEY_USE_GRANULARITY);
        stale.then(|| ApiKeyRecord {
            last_used_at: Some(now),
            ..self.clone()
        })
    }
}

/// A new API key of `vendor`: its record (only the key's digest) and the key, shown once. The
/// key names its vendor, so authentication reads one item.
pub fn new_api_key(
    vendor: &VendorId,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> (ApiKeyRecord, String) {
    let api_key = format!("sk_{vendor}.{}", random_secret("k", entropy));
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(now, entropy),
        vendor_id: vendor.clone(),
        digest_hex: SecretDigest::of(&api_key).to_hex(),
        created_at: now,
        last_used_at: None,
    };
    (record, api_key)
}

/// The secrets shown once, at creation.
#[derive(Debug, Clone)]
pub struct VendorSecrets {
    pub api_key: String,
}

/// A trimmed, lower-cased e-mail if it looks deliverable: one `@`, a non-empty local part, a
/// domain with a dot, no white space or control characters, at most 254 characters. One
/// mailbox has one form, so variants never count as other people (rate limits, matching): the
/// domain in its UTS-46 ASCII form (full-width letters, composed or decomposed umlauts and
/// `xn--` are one domain), and the local part plain ASCII without quotes (quoted and
/// internationalised local parts are refused: they have several spellings of one mailbox).
pub fn normalize_email(raw: &str) -> Option<String> {
    let lowered = raw.trim().to_lowercase();
    let (local, domain) = lowered.split_once('@')?;
    if !local.is_ascii() || local.contains('"') || domain.chars().any(is_invisible) {
        return None;
    }
    let domain = idna::domain_to_ascii(domain).ok()?;
    let email = format!("{local}@{domain}");
    let (local, domain) = email.split_once('@')?;
    let plausible = email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && email
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !is_invisible(c));
    plausible.then_some(email)
}

/// An API key names its vendor (`sk_{vendor}.{secret}`), so the key item is found under the
/// vendor's partition; only the digest of the whole key is stored.
pub fn api_key_vendor(api_key: &str) -> Option<VendorId> {
    let rest = api_key.strip_prefix("sk_")?;
    let (vendor, _) = rest.split_once('.')?;
    VendorId::parse(vendor).ok()
}

/// Validates the request and builds the vendor, its first API key and webhook secret (pure).
pub fn create_vendor(
    request: NewVendor,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<(Vendor, ApiKeyRecord, VendorSecrets), FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = request.name.trim().to_string();
    if !is_line(&name, 200) {
        errors.insert(
            "name".into(),
            "must be 1 to 200 characters without control characters".into(),
        );
    }
    let email = normalize_email(&request.email);
    if email.is_none() {
        errors.insert("email".into(), "is not a valid e-mail address".into());
    }
    let time_zone = match request.timezone.as_deref() {
        None => Some(DEFAULT_TIME_ZONE.name().to_string()),
        Some(name) => parse_time_zone(name).ok().map(|tz| tz.name().to_string()),
    };
    if time_zone.is_none() {
        errors.insert(
            "timezone".into(),
            "is not an IANA time zone such as Europe/Berlin".into(),
        );
    }
    let (Some(email), Some(time_zone), true) = (email, time_zone, errors.is_empty()) else {
        return Err(errors);
    };
    let id = VendorId::generate(now, entropy);
    let (key_record, api_key) = new_api_key(&id, now, entropy);
    let vendor = Vendor {
        id,
        name,
        email,
        support_email: None,
        time_zone,
        default_language: "de".into(),
        matching_mode: MatchingMode::Email,
        dunning_days: vec![1, 3, 7],
        regular_customer_threshold: 3,
        country_languages: default_country_languages(),
        restricted: false,
        country: default_country(),
        portal_base_url: default_portal_base_url(),
        allow_early_instalments: false,
        request_days_before: default_request_days_before(),
        created_at: now,
    };
    Ok((vendor, key_record, VendorSecrets { api_key }))
}

/// Decision: vendors start as established in Germany (the platform's home market); a setting.
fn default_country() -> String {
    "DE".into()
}

/// Decision: the frontend's local development address until the vendor sets theirs.
fn default_portal_base_url() -> String {
    "http://localhost:3000".into()
}

/// Where customer links may point (R-O4, issue 12 §4): the platform's frontend by default, and
/// on AWS only `https://` (a link over plain HTTP would carry its token in clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalPolicy {
    /// A new vendor's `portal_base_url`.
    pub default_base_url: String,
    pub require_https: bool,
    /// The origins (`https://host[:port]`) of the platform's frontend: a vendor's portal may
    /// be any path on them, never a host of its own — whoever serves the link's host receives
    /// its token when the customer clicks, and the vendor must never hold the customer link
    /// (R-O4; issue 16, item 6). Empty: the origin of `default_base_url` only.
    pub allowed_origins: Vec<String>,
}

impl Default for PortalPolicy {
    /// The dev server's: its frontend on localhost, plain HTTP allowed.
    fn default() -> PortalPolicy {
        PortalPolicy {
            default_base_url: default_portal_base_url(),
            require_https: false,
            allowed_origins: Vec::new(),
        }
    }
}

/// The origin of a URL, lower-cased: `https://portal.example:8443` of
/// `https://Portal.example:8443/shop`; `None` for anything that is not a plain
/// `scheme://host[:port][/path]` (user info, a query or a fragment would let a link's token
/// travel elsewhere).
pub fn url_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    let plain = !host.is_empty()
        && !url.contains(['?', '#', '@', '\\'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
    plain.then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    })
}

impl PortalPolicy {
    /// Whether a vendor's portal may be at `url`: on one of the platform's frontend origins.
    pub fn allows(&self, url: &str) -> bool {
        let Some(origin) = url_origin(url) else {
            return false;
        };
        let allowed: Vec<String> = if self.allowed_origins.is_empty() {
            url_origin(&self.default_base_url).into_iter().collect()
        } else {
            self.allowed_origins
                .iter()
                .filter_map(|o| url_origin(o.trim_end_matches('/')))
                .collect()
        };
        allowed.contains(&origin)
    }
}

/// Decision: a sensible starting map for R-C4 that vendors can edit.
fn default_country_languages() -> BTreeMap<String, String> {
    [
        ("DE", "de"),
        ("AT", "de"),
        ("CH", "de"),
        ("LI", "de"),
        ("LU", "de"),
    ]
    .into_iter()
    .map(|(country, language)| (country.to_string(), language.to_string()))
    .collect()
}

/// The time zone of a vendor, for derived amounts.
/// (The platform's default zone when the stored name is unknown.)
pub fn vendor_zone(vendor: &Vendor) -> chrono_tz::Tz {
    parse_time_zone(&vendor.time_zone).unwrap_or(DEFAULT_TIME_ZONE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::SeededEntropy;
    use chrono::TimeZone;

    // Issue 12, §4: a key's last use is kept to within five minutes, so a busy integration
    // writes its key's record at most once in that time.
    #[test]
    fn a_keys_last_use_is_noted_once_per_granularity() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let vendor = VendorId::generate(at, &SeededEntropy::new(1));
        let (fresh, _) = new_api_key(&vendor, at, &SeededEntropy::new(2));
        let used = fresh.used_at(at).unwrap();
        assert_eq!(used.last_used_at, Some(at));
        assert_eq!(used.used_at(at + chrono::Duration::minutes(4)), None);
        let later = at + KEY_USE_GRANULARITY;
        assert_eq!(used.used_at(later).unwrap().last_used_at, Some(later));
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
    }

    // R-V1: defaults.
    #[test]
    fn a_new_vendor_gets_the_default_settings() {
        let request = NewVendor {
            name: " Kurs GmbH ".into(),
            email: " Info@Kurs.DE ".into(),
            timezone: None,
        };
        let (vendor, key, secrets) = create_vendor(request, now(), &SeededEntropy::new(1)).unwrap();
        assert_eq!(vendor.name, "Kurs GmbH");
        assert_eq!(vendor.email, "info@kurs.de");
        assert_eq!(vendor.time_zone, "Europe/Berlin");
        assert_eq!(vendor.dunning_days, vec![1, 3, 7]);
        assert_eq!(vendor.regular_customer_threshold, 3);
        assert_eq!(vendor.matching_mode, MatchingMode::Email);
        assert_eq!(vendor.ticket_email(), "info@kurs.de");
        assert_eq!(api_key_vendor(&secrets.api_key), Some(vendor.id.clone()));
        assert!(
            SecretDigest::from_hex(&key.digest_hex)
                .unwrap()
                .matches(&secrets.api_key)
        );
        assert!(!key.digest_hex.contains(&secrets.api_key));
    }

    #[test]
    fn bad_fields_are_all_reported() {
        let request = NewVendor {
            name: "".into(),
            email: "not-an-email".into(),
            timezone: Some("Mars/Olympus".into()),
        };
        let errors = create_vendor(request, now(), &SeededEntropy::new(1)).unwrap_err();
        assert_eq!(
            errors.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["email", "name", "timezone"]
        );
    }

    // Issue 12, §3 (review): one mailbox, one form
    #[test]
    fn variants_of_one_domain_are_one_address() {
        let plain = normalize_email("victim@xn--exmple-cua.com").unwrap();
        for variant in [
            "victim@exämple.com",
            "victim@exa\u{0308}mple.com",
            "VICTIM@EXÄMPLE.COM",
        ] {
            assert_eq!(
                normalize_email(variant).as_deref(),
                Some(plain.as_str()),
                "{variant}"
            );
        }
        assert_eq!(
            normalize_email("victim@ｅxample.com").as_deref(),
            Some("victim@example.com")
        );
    }

    #[test]
    fn email_normalization() {
        assert_eq!(
            normalize_email(" A.B@Example.COM "),
            Some("a.b@example.com".into())
        );
        for bad in [
            "",
            "a@b",
            "@b.de",
            "a@@b.de",
            "a b@c.de",
            "a@.de",
            "a@b..de",
            "a@b.de.",
            // Issue 12, §3: invisible characters would make one inbox many recipients
            "an\u{200B}na@example.com",
            "anna@exam\u{00AD}ple.com",
            "\u{FEFF}anna@example.com",
            // one mailbox, one spelling: quoted and non-ASCII local parts are refused
            "\"anna\"@example.com",
            "änna@example.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }
}

/// `PUT /api/settings` (R-V1): every field optional; what is given replaces the current value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    pub name: Option<String>,
    /// `""` clears it: ticket e-mails then go to the account e-mail.
    pub support_email: Option<String>,
    pub timezone: Option<String>,
    pub default_language: Option<String>,
    pub matching_mode: Option<MatchingMode>,
    pub dunning_days: Option<Vec<u32>>,
    pub regular_customer_threshold: Option<u32>,
    pub country_languages: Option<BTreeMap<String, String>>,
    pub country: Option<String>,
    pub portal_base_url: Option<String>,
    pub allow_early_instalments: Option<bool>,
    #[schema(maximum = 30)]
    pub request_days_before: Option<u32>,
}

/// Languages the e-mail texts exist in (R-N2).
pub const LANGUAGES: [&str; 2] = ["de", "en"];

/// Validates a settings change and applies it (pure); every bad field is reported.
pub fn apply_settings(
    current: &Vendor,
    change: SettingsChange,
    portal: &PortalPolicy,
) -> Result<Vendor, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut next = current.clone();
    if let Some(name) = change.name {
        let name = name.trim().to_string();
        if !is_line(&name, 200) {
            errors.insert(
                "name".into(),
                "must be 1 to 200 characters without control characters".into(),
            );
        }
        next.name = name;
    }
    if let Some(support) = change.support_email {
        if support.trim().is_empty() {
            next.support_email = None;
        } else {
            match normalize_email(&support) {
                Some(email) => next.support_email = Some(email),
                None => {
                    errors.insert(
                        "support_email".into(),
                        "is not a valid e-mail address".into(),
                    );
                }
            }
        }
    }
    if let Some(zone) = change.timezone {
        match parse_time_zone(&zone) {
            Ok(tz) => next.time_zone = tz.name().to_string(),
            Err(_) => {
                errors.insert(
                    "timezone".into(),
                    "is not an IANA time zone such as Europe/Berlin".into(),
                );
            }
        }
    }
    if let Some(language) = change.default_language {
        if !LANGUAGES.contains(&language.as_str()) {
            errors.insert("default_language".into(), "must be de or en".into());
        }
        next.default_language = language;
    }
    if let Some(mode) = change.matching_mode {
        next.matching_mode = mode;
    }
    if let Some(days) = change.dunning_days {
        let increasing = days.windows(2).all(|w| w[0] < w[1]);
        if days.is_empty()
            || days.len() > 10
            || !increasing
            || days.iter().any(|d| !(1..=90).contains(d))
        {
            errors.insert(
                "dunning_days".into(),
                "1 to 10 increasing days between 1 and 90".into(),
            );
        }
        next.dunning_days = days;
    }
    if let Some(allow) = change.allow_early_instalments {
        next.allow_early_instalments = allow;
    }
    if let Some(days) = change.request_days_before {
        if days > 30 {
            errors.insert("request_days_before".into(), "must be 0 to 30 days".into());
        }
        next.request_days_before = days;
    }
    if let Some(threshold) = change.regular_customer_threshold {
        if !(1..=1000).contains(&threshold) {
            errors.insert(
                "regular_customer_threshold".into(),
                "must be 1 to 1000".into(),
            );
        }
        next.regular_customer_threshold = threshold;
    }
    if let Some(map) = change.country_languages {
        if map.iter().any(|(country, language)| {
            !is_country(country) || !LANGUAGES.contains(&language.as_str())
        }) {
            errors.insert(
                "country_languages".into(),
                "maps ISO country codes (DE) to de or en".into(),
            );
        }
        next.country_languages = map;
    }
    if let Some(country) = change.country {
        if !is_country(&country) {
            errors.insert(
                "country".into(),
                "must be an ISO 3166 alpha-2 code such as DE".into(),
            );
        }
        next.country = country;
    }
    if let Some(url) = change.portal_base_url {
        let url = url.trim().trim_end_matches('/').to_string();
        let scheme_ok =
            url.starts_with("https://") || (!portal.require_https && url.starts_with("http://"));
        // Only the characters a URL is written with (RFC 3986): links are built from it.
        let url_characters = url
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b));
        if !scheme_ok || url.len() > 500 || !url_characters || url.contains(['<', '>']) {
            errors.insert(
                "portal_base_url".into(),
                if portal.require_https {
                    "must be an https URL of at most 500 characters".into()
                } else {
                    "must be an http(s) URL of at most 500 characters".into()
                },
            );
        }
        if !errors.contains_key("portal_base_url") && !portal.allows(&url) {
            errors.insert(
                "portal_base_url".into(),
                "must be on the platform's frontend (a path of your own there is fine)".into(),
            );
        }
        next.portal_base_url = url;
    }
    if errors.is_empty() {
        Ok(next)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;
    use crate::domain::ids::SeededEntropy;
    use chrono::TimeZone;

    fn vendor() -> Vendor {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        let request = NewVendor {
            name: "A".into(),
            email: "a@example.com".into(),
            timezone: None,
        };
        create_vendor(request, now, &SeededEntropy::new(1))
            .unwrap()
            .0
    }

    // R-V1
    #[test]
    fn settings_change_what_is_given_and_report_every_bad_field() {
        let change = SettingsChange {
            support_email: Some("Support@A.example".into()),
            dunning_days: Some(vec![2, 5, 10]),
            portal_base_url: Some("http://localhost:3000/portal/".into()),
            ..SettingsChange::default()
        };
        let next = apply_settings(&vendor(), change, &PortalPolicy::default()).unwrap();
        assert_eq!(next.ticket_email(), "support@a.example");
        assert_eq!(next.dunning_days, vec![2, 5, 10]);
        assert_eq!(next.portal_base_url, "http://localhost:3000/portal");
        assert_eq!(next.time_zone, "Europe/Berlin");
        let bad = SettingsChange {
            dunning_days: Some(vec![3, 1]),
            default_language: Some("fr".into()),
            country: Some("Deutschland".into()),
            portal_base_url: Some("javascript:alert(1)".into()),
            ..SettingsChange::default()
        };
        let errors = apply_settings(&vendor(), bad, &PortalPolicy::default()).unwrap_err();
        assert_eq!(errors.len(), 4);
        // Issue 12, §4: where HTTPS is required, a plain HTTP portal is refused
        let https_only = PortalPolicy {
            default_base_url: "https://app.example.com".into(),
            require_https: true,
            allowed_origins: Vec::new(),
        };
        let plain = SettingsChange {
            portal_base_url: Some("http://app.example.com/shop-a".into()),
            ..SettingsChange::default()
        };
        let refused = apply_settings(&vendor(), plain.clone(), &https_only).unwrap_err();
        assert!(refused.contains_key("portal_base_url"), "{refused:?}");
        let local = PortalPolicy {
            allowed_origins: vec!["http://app.example.com".into()],
            ..PortalPolicy::default()
        };
        assert!(apply_settings(&vendor(), plain, &local).is_ok());
        // R-O4 (issue 16, item 6): a portal on a host of the vendor's own would hand it every
        // customer link's token; any path on the platform's frontend is fine
        for foreign in [
            "https://attacker.example",
            "https://app.example.com.attacker.example/x",
            "https://app.example.com@attacker.example",
            "https://app.example.com/collect?x=",
            "https://app.example.com/#",
        ] {
            let change = SettingsChange {
                portal_base_url: Some(foreign.into()),
                ..SettingsChange::default()
            };
            let refused = apply_settings(&vendor(), change, &https_only).unwrap_err();
            assert!(refused.contains_key("portal_base_url"), "{foreign}");
        }
        let own_path = SettingsChange {
            portal_base_url: Some("https://APP.example.com/kurswerk/".into()),
            ..SettingsChange::default()
        };
        assert_eq!(
            apply_settings(&vendor(), own_path, &https_only)
                .unwrap()
                .portal_base_url,
            "https://APP.example.com/kurswerk"
        );
        let cleared = SettingsChange {
            support_email: Some(String::new()),
            ..SettingsChange::default()
        };
        assert_eq!(
            apply_settings(&next, cleared, &PortalPolicy::default())
                .unwrap()
                .ticket_email(),
            "a@example.com"
        );
    }
}
