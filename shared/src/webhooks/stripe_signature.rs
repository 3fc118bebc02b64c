//! Stripe's webhook signature (API.md): header `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`;
//! valid when some `v1` equals HMAC-SHA256(secret, "{t}.{raw body}") for some current secret of
//! the platform (rotation), compared in constant time, and |now − t| ≤ 300 s by the injected
//! clock. Other schemes (`v0`, test-mode extras) are ignored, as Stripe's libraries do.
//!
//! Cheap checks first, so an anonymous caller cannot burn CPU: the timestamp before any HMAC, at
//! most `MAX_SIGNATURES` `v1` entries, and each secret's HMAC over the body computed once and
//! compared with every entry.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance.
pub const TOLERANCE_SECONDS: i64 = 300;
/// More `v1` entries than this are refused (Stripe sends one per current secret).
pub const MAX_SIGNATURES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    MissingHeader,
    #[error("the Stripe-Signature header has no timestamp")]
    NoTimestamp,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    #[error("no signature matches the payload")]
    NoMatch,
    #[error("the timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("the Stripe-Signature header has too many signatures")]
    TooManySignatures,
}

struct ParsedHeader {
    timestamp: i64,
    v1: Vec<Vec<u8>>,
}

fn parse_header(header: &str) -> Result<ParsedHeader, SignatureError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            continue;
        };
        match name {
            "t" => timestamp = value.parse::<i64>().ok(),
            // A v1 that is not hex can match nothing; it is skipped like any other bad one.
            "v1" => {
                if v1.len() == MAX_SIGNATURES {
                    return Err(SignatureError::TooManySignatures);
                }
                v1.extend(hex::decode(value).ok())
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    Ok(ParsedHeader { timestamp, v1 })
}

/// The v1 signature of a payload at a timestamp (also what the dev server's simulated provider signs with).
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    mac(secret, timestamp, payload)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

/// `None` only if HMAC refused the key, which it never does for any length.
fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(mac)
}

/// A complete header for a payload: `t=…,v1=…`.
pub fn header_for(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, payload))
}

/// Verifies a webhook before anything in it is read.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[String],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header.ok_or(SignatureError::MissingHeader)?)?;
    // Checked: an anonymous caller chooses `t`, and no subtraction of it may overflow.
    let apart = now
        .timestamp()
        .checked_sub(parsed.timestamp)
        .map(i64::unsigned_abs);
    if apart.is_none_or(|seconds| seconds > TOLERANCE_SECONDS.unsigned_abs()) {
        return Err(SignatureError::OutsideTolerance);
    }
    let matches = secrets.iter().any(|secret| {
        // One HMAC over the body per secret, compared with each entry in constant time.
        mac(secret, parsed.timestamp, payload).is_some_and(|mac| {
            let expected = mac.finalize().into_bytes();
            parsed
                .v1
                .iter()
                .any(|candidate| constant_time_eq(&expected, candidate))
        })
    });
    if !matches {
        return Err(SignatureError::NoMatch);
    }
    Ok(())
}

/// Equal in length and bytes, in time that depends on the length only.
fn constant_time_eq(expected: &[u8], candidate: &[u8]) -> bool {
    expected.len() == candidate.len()
        && expected
            .iter()
            .zip(candidate)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Cases after the webhook tests of Stripe's own libraries (stripe-node, stripe-python).
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str = "whsec_test_secret";
    const PAYLOAD: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).unwrap()
    }
    fn secrets() -> Vec<String> {
        vec![SECRET.to_string()]
    }
    const T: i64 = 1_795_510_800;

    // R-P1
    #[test]
    fn a_valid_header_verifies() {
        let header = header_for(SECRET, T, PAYLOAD);
        assert_eq!(verify(Some(&header), PAYLOAD, &secrets(), at(T)), Ok(()));
    }

    #[test]
    fn a_missing_or_malformed_header_is_refused() {
        assert_eq!(
            verify(None, PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::MissingHeader)
        );
        assert_eq!(
            verify(Some("bad_header"), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::NoTimestamp)
        );
        assert_eq!(
            verify(Some(""), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::NoTimestamp)
        );
        assert_eq!(
            verify(Some("t=abc,v1=00"), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::NoTimestamp)
        );
    }

    #[test]
    fn a_header_without_v1_is_refused_even_with_a_valid_v0() {
        let v0 = format!("t={T},v0={}", sign(SECRET, T, PAYLOAD));
        assert_eq!(
            verify(Some(&v0), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::NoV1Signature)
        );
    }

    #[test]
    fn a_wrong_signature_or_secret_is_refused() {
        let wrong = format!("t={T},v1=bad_signature");
        assert_eq!(
            verify(Some(&wrong), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::NoV1Signature)
        );
        let other_secret = header_for("whsec_other", T, PAYLOAD);
        assert_eq!(
            verify(Some(&other_secret), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::NoMatch)
        );
        let other_time = format!("t={},v1={}", T + 1, sign(SECRET, T, PAYLOAD));
        assert_eq!(
            verify(Some(&other_time), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn a_timestamp_outside_the_tolerance_is_refused_both_ways() {
        let header = header_for(SECRET, T, PAYLOAD);
        assert_eq!(
            verify(Some(&header), PAYLOAD, &secrets(), at(T + 300)),
            Ok(())
        );
        assert_eq!(
            verify(Some(&header), PAYLOAD, &secrets(), at(T + 301)),
            Err(SignatureError::OutsideTolerance)
        );
        assert_eq!(
            verify(Some(&header), PAYLOAD, &secrets(), at(T - 301)),
            Err(SignatureError::OutsideTolerance)
        );
    }

    #[test]
    fn a_valid_signature_among_bad_ones_verifies() {
        let header = format!(
            "t={T},v1=bad_signature,v1={},v1={},v0=ignored",
            sign("whsec_other", T, PAYLOAD),
            sign(SECRET, T, PAYLOAD)
        );
        assert_eq!(verify(Some(&header), PAYLOAD, &secrets(), at(T)), Ok(()));
    }

    #[test]
    fn any_current_secret_may_match_during_rotation() {
        let header = header_for("whsec_new", T, PAYLOAD);
        let rotating = vec![SECRET.to_string(), "whsec_new".to_string()];
        assert_eq!(verify(Some(&header), PAYLOAD, &rotating, at(T)), Ok(()));
        assert_eq!(
            verify(Some(&header), PAYLOAD, &[], at(T)),
            Err(SignatureError::NoMatch)
        );
    }

    // Issue 12, §1: an anonymous caller cannot make us hash a large body many times.
    #[test]
    fn stale_or_overlong_headers_are_refused_before_any_hmac() {
        let many = format!("t={T}{}", ",v1=00".repeat(MAX_SIGNATURES + 1));
        assert_eq!(
            verify(Some(&many), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::TooManySignatures)
        );
        let eight = format!(
            "t={T}{},v1={}",
            ",v1=00".repeat(MAX_SIGNATURES - 1),
            sign(SECRET, T, PAYLOAD)
        );
        assert_eq!(verify(Some(&eight), PAYLOAD, &secrets(), at(T)), Ok(()));
        // a timestamp at the end of the range cannot overflow the check
        for t in [i64::MIN, i64::MAX, -T] {
            let extreme = format!("t={t},v1=00");
            assert_eq!(
                verify(Some(&extreme), PAYLOAD, &secrets(), at(T)),
                Err(SignatureError::OutsideTolerance),
                "{t}"
            );
        }
        // a stale timestamp is refused as stale whatever the signatures
        let stale = format!("t={},v1=00", T - 301);
        assert_eq!(
            verify(Some(&stale), PAYLOAD, &secrets(), at(T)),
            Err(SignatureError::OutsideTolerance)
        );
    }

    #[test]
    fn a_reformatted_body_is_refused() {
        let header = header_for(SECRET, T, PAYLOAD);
        let reformatted = br#"{"id":"evt_test_webhook","object":"event"}"#;
        assert_eq!(
            verify(Some(&header), reformatted, &secrets(), at(T)),
            Err(SignatureError::NoMatch)
        );
    }
}
