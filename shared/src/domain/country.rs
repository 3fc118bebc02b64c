//! Countries as ISO 3166-1 alpha-2 codes (tax, language, reverse charge): only codes that exist,
//! in capitals as the standard writes them. The list is the maintained `isocountry` crate's.

use isocountry::CountryCode;

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code such as `DE` (not `XX`, not `de`).
pub fn is_country(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && CountryCode::for_alpha2(code).is_ok()
}

/// What a refused country field says.
pub const COUNTRY_HINT: &str = "must be an ISO 3166-1 alpha-2 code in capitals, such as DE";

#[cfg(test)]
mod tests {
    use super::*;

    // R-M2: the buyer's country decides the VAT rate, so it must be one that exists.
    #[test]
    fn only_assigned_codes_in_capitals_are_countries() {
        for code in ["DE", "AT", "GR", "US", "CH", "JP"] {
            assert!(is_country(code), "{code}");
        }
        for code in [
            "XX", "ZZ", "QQ", "de", "De", "D", "DEU", "", " D", "D1", "ÄÖ",
        ] {
            assert!(!is_country(code), "{code:?}");
        }
    }
}
