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
    #[error(
        "the link key {0} is not held (rotate in two steps: add the key, then make it current)"
    )]
    LinkKeyNotHeld(LinkKeyId),
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

    /// Base64url of 32 bytes, else any text of at least 32 characters, keyed by its SHA-256.
    pub fn from_text(text: &str) -> Result<LinkKey, TokenError> {
        let text = text.trim();
        match LinkKey::from_base64(text) {
            Ok(key) => Ok(key),
            Err(_) if text.chars().count() >= 32 => {
                Ok(LinkKey(Sha256::digest(text.as_bytes()).into()))
            }
            Err(error) => Err(error),
        }
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
        let generation = generation.to_be_bytes();
        let secret =
            URL_SAFE_NO_PAD.encode(self.mac(&[vendor.as_str(), scope, subject], &generation));
        LinkToken(format!("{vendor}.{secret}"))
    }

    /// HMAC of the NUL-terminated parts, then `tail`.
    fn mac(&self, parts: &[&str], tail: &[u8]) -> Vec<u8> {
        // new_from_slice accepts keys of any length for HMAC; the fallback is unreachable.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.0) else {
            return Vec::new();
        };
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac.update(tail);
        mac.finalize().into_bytes().to_vec()
    }
}

/// Which link key a subject's links are derived with (`[A-Za-z0-9_-]`, 1–32 characters). Links
/// made before keys had ids carry none and are [`LinkKeyId::FIRST`]'s.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct LinkKeyId(String);

impl LinkKeyId {
    /// The id of a deployment's first key (and of a key given without an id).
    pub const FIRST: &'static str = "1";

    pub fn parse(text: &str) -> Result<LinkKeyId, TokenError> {
        let valid = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(LinkKeyId(text.to_string()))
        } else {
            Err(TokenError::BadLinkKey)
        }
    }

    pub fn first() -> LinkKeyId {
        LinkKeyId(LinkKeyId::FIRST.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LinkKeyId {
    fn default() -> LinkKeyId {
        LinkKeyId::first()
    }
}

impl fmt::Display for LinkKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for LinkKeyId {
    type Error = TokenError;
    fn try_from(text: String) -> Result<LinkKeyId, TokenError> {
        LinkKeyId::parse(&text)
    }
}

impl From<LinkKeyId> for String {
    fn from(id: LinkKeyId) -> String {
        id.0
    }
}

/// The link keys a deployment holds (R-O4, rotation): the current one, which new links are
/// derived with, and older ones whose links are still out there. A subject records the id of
/// the key its link came from, so its link is re-derived with that key for as long as the key
/// is held; verifying a presented link needs no key at all (its digest is stored).
#[derive(Clone)]
pub struct LinkKeys {
    current: LinkKeyId,
    keys: Vec<(LinkKeyId, LinkKey)>,
}

impl fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "LinkKeys(current {}, held {ids:?})", self.current)
    }
}

impl From<LinkKey> for LinkKeys {
    fn from(key: LinkKey) -> LinkKeys {
        LinkKeys {
            current: LinkKeyId::first(),
            keys: vec![(LinkKeyId::first(), key)],
        }
    }
}

impl LinkKeys {
    /// A key ring from its stored text: either one key (base64url of 32 bytes, id
    /// [`LinkKeyId::FIRST`]) or a JSON object `{"current": "2", "1": "…", "2": "…"}` whose
    /// other members are the keys by id. A key is base64url of 32 bytes, or any other text of at
    /// least 32 characters (as Secrets Manager generates it), whose SHA-256 is the key.
    pub fn parse(text: &str) -> Result<LinkKeys, TokenError> {
        let text = text.trim();
        if !text.starts_with('{') {
            return Ok(LinkKey::from_text(text)?.into());
        }
        let members: std::collections::BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|_| TokenError::BadLinkKey)?;
        let current = LinkKeyId::parse(members.get("current").ok_or(TokenError::BadLinkKey)?)?;
        let keys = members
            .iter()
            .filter(|(name, _)| name.as_str() != "current")
            .map(|(id, key)| Ok((LinkKeyId::parse(id)?, LinkKey::from_text(key)?)))
            .collect::<Result<Vec<_>, TokenError>>()?;
        if !keys.iter().any(|(id, _)| *id == current) {
            return Err(TokenError::BadLinkKey);
        }
        Ok(LinkKeys { current, keys })
    }

    /// No key: a function that derives no link (the admin API, the dispatcher) refuses to.
    pub fn none() -> LinkKeys {
        LinkKeys {
            current: LinkKeyId::first(),
            keys: Vec::new(),
        }
    }

    /// The id new links are derived with.
    pub fn current(&self) -> &LinkKeyId {
        &self.current
    }

    /// The token of one subject's link, with the key the subject records.
    pub fn derive(
        &self,
        key: &LinkKeyId,
        vendor: &VendorId,
        scope: &str,
        subject: &str,
        generation: u32,
    ) -> Result<LinkToken, TokenError> {
        self.keys
            .iter()
            .find(|(id, _)| id == key)
            .map(|(_, held)| held.derive(vendor, scope, subject, generation))
            .ok_or_else(|| TokenError::LinkKeyNotHeld(key.clone()))
    }

    /// A keyed digest of `subject` for counters whose keys must not be found again by trying
    /// every subject (the source addresses of the rate limits): HMAC under the current key.
    pub fn keyed_digest(&self, purpose: &str, subject: &str) -> Result<String, TokenError> {
        self.keys
            .iter()
            .find(|(id, _)| *id == self.current)
            .map(|(_, key)| hex::encode(key.mac(&[purpose, subject], &[])))
            .ok_or_else(|| TokenError::LinkKeyNotHeld(self.current.clone()))
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

    // Issue 12, §4: the link key has an id, so it can be rotated while older links keep working.
    #[test]
    fn a_key_ring_derives_each_link_with_the_key_it_came_from() {
        let first = LinkKey::generate(&OsEntropy);
        let second = LinkKey::generate(&OsEntropy);
        let v = vendor();
        let single = LinkKeys::parse(&first.to_base64()).unwrap();
        assert_eq!(single.current().as_str(), LinkKeyId::FIRST);
        let ring = LinkKeys::parse(
            &serde_json::json!({"current": "2", "1": first.to_base64(), "2": second.to_base64()})
                .to_string(),
        )
        .unwrap();
        assert_eq!(ring.current().as_str(), "2");
        let one = LinkKeyId::first();
        let two = LinkKeyId::parse("2").unwrap();
        assert_eq!(
            ring.derive(&one, &v, "order", "ord_1", 0).unwrap(),
            first.derive(&v, "order", "ord_1", 0)
        );
        assert_eq!(
            ring.derive(&two, &v, "order", "ord_1", 0).unwrap(),
            second.derive(&v, "order", "ord_1", 0)
        );
        assert_eq!(
            single.derive(&two, &v, "order", "ord_1", 0),
            Err(TokenError::LinkKeyNotHeld(two.clone()))
        );
        // Secrets Manager's generated text is a key too; its SHA-256 keys the links
        let generated = "Zk4pQ7rT2mX9vB3nL8cW1yH6jD5sF0gA";
        let stack = LinkKeys::parse(&format!(r#"{{"current":"1","1":"{generated}"}}"#)).unwrap();
        assert!(stack.derive(&one, &v, "order", "o", 0).is_ok());
        for bad in [
            "short",
            r#"{"current":"3","1":"Zk4pQ7rT2mX9vB3nL8cW1yH6jD5sF0gA"}"#,
            r#"{"1":"Zk4pQ7rT2mX9vB3nL8cW1yH6jD5sF0gA"}"#,
            r#"{"current":"1","1":"short"}"#,
            r#"{"current":"a b","a b":"Zk4pQ7rT2mX9vB3nL8cW1yH6jD5sF0gA"}"#,
        ] {
            assert!(LinkKeys::parse(bad).is_err(), "{bad}");
        }
        assert!(!format!("{ring:?}").contains(&first.to_base64()));
    }
}
