//! Secret links and keys (R-O4).
//!
//! A link token is `HMAC-SHA256(link key, scope | subject | generation)` in base64url (256 bits),
//! prefixed by the vendor id so the stored digest is found under the vendor's keys. The table
//! keeps only `SHA-256(token)`; a token is checked by hashing it and comparing digests in constant
//! time. The platform re-derives a link for mail merge from the link key and the stored
//! generation; bumping the generation revokes the old link.
//! API keys and the admin token are random secrets checked the same way (digest at rest).

use super::ids::{Entropy, VendorId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The SHA-256 of a secret: what the table stores instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    pub fn of(secret: &str) -> SecretDigest {
        SecretDigest(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<SecretDigest> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(SecretDigest(bytes))
    }

    /// Constant-time: how long it takes says nothing about how much matched.
    pub fn matches(&self, presented_secret: &str) -> bool {
        let presented = SecretDigest::of(presented_secret);
        bool::from(self.0.ct_eq(&presented.0))
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretDigest({}…)", &self.to_hex()[..8])
    }
}

/// The server-side key from which link tokens are derived. Never logged, never stored in the table.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link key must be 32 bytes of base64url")]
    BadLinkKey,
    #[error("malformed token")]
    Malformed,
}

impl LinkKey {
    pub fn generate(entropy: &dyn Entropy) -> LinkKey {
        let mut bytes = [0u8; 32];
        entropy.fill(&mut bytes);
        LinkKey(bytes)
    }

    pub fn from_base64(text: &str) -> Result<LinkKey, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| TokenError::BadLinkKey)?;
        Ok(LinkKey(
            bytes.try_into().map_err(|_| TokenError::BadLinkKey)?,
        ))
    }

    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The token of one subject (an order, a ticket) at one generation.
    pub fn derive(
        &self,
        vendor: &VendorId,
        scope: &str,
        subject: &str,
        generation: u32,
    ) -> LinkToken {
        // new_from_slice accepts keys of any length for HMAC; the fallback is unreachable.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return LinkToken(String::new()),
        };
        for part in [vendor.as_str(), scope, subject] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac.update(&generation.to_be_bytes());
        let secret = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        LinkToken(format!("{vendor}.{secret}"))
    }
}

/// A customer or ticket link token as it travels in a URL.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(..)")
    }
}

impl LinkToken {
    /// Splits a presented token into its vendor and checks its shape; says nothing of validity.
    pub fn parse(text: &str) -> Result<(VendorId, LinkToken), TokenError> {
        let (vendor, secret) = text.split_once('.').ok_or(TokenError::Malformed)?;
        let vendor = VendorId::parse(vendor).map_err(|_| TokenError::Malformed)?;
        let decoded = URL_SAFE_NO_PAD
            .decode(secret)
            .map_err(|_| TokenError::Malformed)?;
        if decoded.len() != 32 {
            return Err(TokenError::Malformed);
        }
        Ok((vendor, LinkToken(text.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(&self.0)
    }
}

/// A fresh random secret of 256 bits, base64url, with a readable prefix (`sk`, `whsec`…).
pub fn random_secret(prefix: &str, entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; 32];
    entropy.fill(&mut bytes);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{OsEntropy, SeededEntropy};
    use chrono::{TimeZone, Utc};

    fn vendor() -> VendorId {
        VendorId::generate(
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap(),
            &SeededEntropy::new(7),
        )
    }

    // R-O4: ≥128 bits, re-derivable, revocable by generation, scoped to one subject.
    #[test]
    fn link_tokens_are_rederivable_revocable_and_scoped() {
        let key = LinkKey::generate(&OsEntropy);
        let v = vendor();
        let token = key.derive(&v, "order", "ord_1", 0);
        assert_eq!(
            token,
            key.derive(&v, "order", "ord_1", 0),
            "re-derivable for export"
        );
        assert_ne!(
            token,
            key.derive(&v, "order", "ord_1", 1),
            "a new generation revokes"
        );
        assert_ne!(token, key.derive(&v, "order", "ord_2", 0));
        assert_ne!(token, key.derive(&v, "ticket", "ord_1", 0));
        let (parsed_vendor, parsed) = LinkToken::parse(token.as_str()).unwrap();
        assert_eq!(parsed_vendor, v);
        let secret_part = token.as_str().split_once('.').unwrap().1;
        assert!(URL_SAFE_NO_PAD.decode(secret_part).unwrap().len() * 8 >= 128);
        assert_eq!(parsed.digest(), token.digest());
    }

    // R-O4: only a digest is stored; it verifies the token and nothing else.
    #[test]
    fn digests_verify_only_their_secret() {
        let key = LinkKey::generate(&OsEntropy);
        let token = key.derive(&vendor(), "order", "ord_1", 0);
        let stored = token.digest();
        assert!(!stored.to_hex().contains(token.as_str()));
        assert!(stored.matches(token.as_str()));
        // change the last character to a different one (a random token may already end in 'A')
        let mut tampered = token.as_str().to_string();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_ne!(tampered, token.as_str());
        assert!(!stored.matches(&tampered));
        assert_eq!(SecretDigest::from_hex(&stored.to_hex()), Some(stored));
    }

    #[test]
    fn malformed_tokens_are_refused_and_never_printed() {
        assert_eq!(LinkToken::parse("nodot"), Err(TokenError::Malformed));
        assert_eq!(LinkToken::parse("ven_x.abc"), Err(TokenError::Malformed));
        let key = LinkKey::generate(&OsEntropy);
        let token = key.derive(&vendor(), "order", "o", 0);
        assert_eq!(format!("{token:?}"), "LinkToken(..)");
        assert_eq!(LinkKey::from_base64(&key.to_base64()).unwrap().0, key.0);
    }
}
