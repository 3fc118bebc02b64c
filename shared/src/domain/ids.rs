//! Typed, time-ordered ids: `{prefix}_{26 Crockford base32 chars}` — 48 bits of milliseconds then
//! 80 random bits, so ids sort by creation time (ULID layout) and a glance tells what they name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Where secret randomness comes from (ids, tokens, keys); injected so tests are repeatable.
pub trait Entropy: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails where no OS source exists at all; a zero-filled buffer would be
        // a silent weakness, so that case aborts the process.
        if getrandom::fill(buf).is_err() {
            std::process::abort();
        }
    }
}

/// A deterministic source for tests (xorshift; not for production).
#[derive(Debug)]
pub struct SeededEntropy(std::sync::Mutex<u64>);

impl SeededEntropy {
    pub fn new(seed: u64) -> SeededEntropy {
        SeededEntropy(std::sync::Mutex::new(seed.max(1)))
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, buf: &mut [u8]) {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for byte in buf.iter_mut() {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *byte = (*state >> 24) as u8;
        }
    }
}

/// 26 base32 characters of a 128-bit value (time high, randomness low).
pub fn time_ordered_body(now: DateTime<Utc>, entropy: &dyn Entropy) -> String {
    let millis = u128::from(u64::try_from(now.timestamp_millis()).unwrap_or(0)) & ((1 << 48) - 1);
    let mut random = [0u8; 10];
    entropy.fill(&mut random);
    let mut value = millis << 80;
    for (i, byte) in random.iter().enumerate() {
        value |= u128::from(*byte) << (8 * (9 - i));
    }
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((value >> (5 * i)) & 31) as usize] as char)
        .collect()
}

fn body_is_valid(body: &str) -> bool {
    body.len() == 26 && body.bytes().all(|b| CROCKFORD.contains(&b))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid {1} id")]
pub struct BadId(pub String, pub &'static str);

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(now: DateTime<Utc>, entropy: &dyn Entropy) -> $name {
                $name(format!("{}_{}", $prefix, time_ordered_body(now, entropy)))
            }

            pub fn parse(text: &str) -> Result<$name, BadId> {
                match text.strip_prefix(concat!($prefix, "_")) {
                    Some(body) if body_is_valid(body) => Ok($name(text.to_string())),
                    _ => Err(BadId(text.to_string(), $prefix)),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9A-Z]{26}$")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

typed_id!(
    /// A seller account.
    VendorId,
    "ven"
);
typed_id!(
    /// One outbox item: an e-mail or a domain event waiting to be sent.
    OutboxId,
    "obx"
);
typed_id!(
    /// A vendor's API key (the id half; the secret half is never stored).
    ApiKeyId,
    "key"
);

typed_id!(
    /// Something a vendor sells: a course, a file, a membership.
    ProductId,
    "prd"
);
typed_id!(
    /// Terms on which products are sold; versioned.
    OfferId,
    "off"
);

typed_id!(
    /// One append-only ledger entry.
    LedgerEntryId,
    "led"
);

typed_id!(
    /// A buyer, within one vendor.
    CustomerId,
    "cus"
);
typed_id!(
    /// One checkout's order.
    OrderId,
    "ord"
);

typed_id!(
    /// A support, refund or cancel ticket (R-T0).
    TicketId,
    "tkt"
);
typed_id!(
    /// A refund of (part of) an order (R-R1, R-R5).
    RefundId,
    "rfd"
);
typed_id!(
    /// A vendor action recorded for platform review (R-T4).
    ReviewId,
    "rev"
);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    #[test]
    fn ids_carry_their_prefix_and_parse_back() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        let id = VendorId::generate(now, &OsEntropy);
        assert!(id.as_str().starts_with("ven_"));
        assert_eq!(VendorId::parse(id.as_str()).unwrap(), id);
        assert!(VendorId::parse(&id.as_str().replace("ven_", "obx_")).is_err());
        assert!(VendorId::parse("ven_short").is_err());
        assert!(
            OutboxId::parse("obx_01JZZZZZZZZZZZZZZZZZZZZZZU").is_err(),
            "U is not Crockford"
        );
    }

    proptest! {
        #[test]
        fn ids_sort_by_creation_time(ms in 0i64..200_000_000_000, gap in 1i64..1_000_000) {
            let entropy = SeededEntropy::new(ms as u64);
            let t1 = Utc.timestamp_millis_opt(ms).single().unwrap();
            let t2 = t1 + Duration::milliseconds(gap);
            let a = OutboxId::generate(t1, &entropy);
            let b = OutboxId::generate(t2, &entropy);
            prop_assert!(a < b);
        }
    }
}
