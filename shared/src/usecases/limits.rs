//! Abuse limits on the public routes (issue 12, §3; ASVS V2.4): nobody may make the platform
//! mail an address, open tickets or write comments without end. Each limit counts in fixed
//! windows, one table item per subject and window (`LIMIT#{HMAC}` under the platform's current link
//! key: no address or IP in clear, and none found again by hashing every IPv4 address),
//! taken with a version-checked write before the request's own work, and expired by the table's
//! TTL. Over a limit the request is refused (429 with `Retry-After`): nothing written, nothing
//! sent.

use crate::domain::token::LinkKeys;
use crate::store::{Condition, Item, ItemStore, Key, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// At most `count` in each window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    pub const fn per_hour(count: u32) -> Rate {
        Rate {
            count,
            per: Duration::hours(1),
        }
    }
}

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Checkouts from one source address.
    pub checkouts_per_source: Rate,
    /// Checkouts naming one e-mail address: what caps the confirmations one inbox receives.
    pub checkouts_per_recipient: Rate,
    /// Checkouts of one vendor's offers (a flood cannot fill one vendor's books).
    pub checkouts_per_vendor: Rate,
    /// Tickets opened from one source address.
    pub tickets_per_source: Rate,
    /// Comments on one ticket by its customer.
    pub comments_per_ticket: Rate,
    /// A customer's comments and type changes that mail one address (each mails both sides):
    /// several orders to one inbox cannot multiply the per-ticket limit.
    pub ticket_changes_per_recipient: Rate,
}

impl Limits {
    /// The defaults (docs/decisions.md says why): generous for a person, tight for a script.
    pub const DEFAULT: Limits = Limits {
        checkouts_per_source: Rate::per_hour(30),
        checkouts_per_recipient: Rate::per_hour(5),
        checkouts_per_vendor: Rate::per_hour(3000),
        tickets_per_source: Rate::per_hour(10),
        comments_per_ticket: Rate::per_hour(20),
        ticket_changes_per_recipient: Rate::per_hour(30),
    };
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("the limit is reached until the window ends")]
    Reached { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] crate::domain::token::TokenError),
}

/// Counts one request of `kind` by `subject` (an address, an e-mail, an id) against `rate`.
pub async fn take(
    store: &dyn ItemStore,
    keys: &LinkKeys,
    kind: &str,
    subject: &str,
    rate: Rate,
    now: DateTime<Utc>,
) -> Result<(), LimitError> {
    let window = rate.per.num_seconds().max(1);
    let start = now.timestamp().div_euclid(window) * window;
    let ends = start + window;
    let digest = keys.keyed_digest("limit", &format!("{kind}\n{subject}"))?;
    let key = Key::new(format!("LIMIT#{digest}"), format!("W#{start}"));
    let retry_after = Duration::seconds((ends - now.timestamp()).max(1));
    // Concurrent requests of one subject race on the version; a few tries settle it.
    for _ in 0..8 {
        let current = store.get(&key).await?;
        let taken = current
            .as_ref()
            .and_then(|item| item.body["count"].as_u64())
            .unwrap_or(0);
        if taken >= u64::from(rate.count) {
            return Err(LimitError::Reached { retry_after });
        }
        let body = json!({ "count": taken + 1 });
        let (mut item, condition) = match &current {
            Some(item) => (item.next(body), Condition::VersionIs(item.version)),
            None => (Item::new(key.clone(), body), Condition::Absent),
        };
        // Kept an hour past its window, then the table's TTL removes it.
        item.expires_at = Some(ends + 3600);
        match store.put(item, condition).await {
            Ok(()) => return Ok(()),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    // Too contended to count exactly: a subject that busy is over any limit.
    Err(LimitError::Reached { retry_after })
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use chrono::TimeZone;

    // Issue 12, §3
    #[tokio::test]
    async fn a_subject_gets_its_count_per_window_then_waits_for_the_next() {
        let store = EmbeddedStore::in_memory().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 59, 30).unwrap();
        let rate = Rate::per_hour(3);
        let keys = LinkKeys::from(crate::domain::token::LinkKey::generate(
            &crate::domain::ids::OsEntropy,
        ));
        for _ in 0..3 {
            take(
                &store,
                &keys,
                "checkout-recipient",
                "anna@example.com",
                rate,
                at,
            )
            .await
            .unwrap();
        }
        match take(
            &store,
            &keys,
            "checkout-recipient",
            "anna@example.com",
            rate,
            at,
        )
        .await
        {
            Err(LimitError::Reached { retry_after }) => assert_eq!(retry_after.num_seconds(), 30),
            other => panic!("{other:?}"),
        }
        // another subject, and the next window, count afresh
        take(
            &store,
            &keys,
            "checkout-recipient",
            "bert@example.com",
            rate,
            at,
        )
        .await
        .unwrap();
        take(
            &store,
            &keys,
            "checkout-recipient",
            "anna@example.com",
            rate,
            at + Duration::seconds(30),
        )
        .await
        .unwrap();
    }

    // Issue 12, §3: the counter's key is keyed by a platform secret, so nobody finds an address
    // again by hashing every IPv4 address and comparing.
    #[tokio::test]
    async fn a_counter_key_names_no_subject_and_needs_the_platform_key() {
        let store = EmbeddedStore::in_memory().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let keys = LinkKeys::from(crate::domain::token::LinkKey::generate(
            &crate::domain::ids::OsEntropy,
        ));
        take(
            &store,
            &keys,
            "checkout-source",
            "192.0.2.7",
            Rate::per_hour(3),
            at,
        )
        .await
        .unwrap();
        let unkeyed = crate::domain::token::SecretDigest::of("checkout-source\n192.0.2.7").to_hex();
        let keyed = keys
            .keyed_digest("limit", "checkout-source\n192.0.2.7")
            .unwrap();
        let window = Key::new(format!("LIMIT#{keyed}"), format!("W#{}", at.timestamp()));
        assert!(store.get(&window).await.unwrap().is_some());
        let plain = Key::new(format!("LIMIT#{unkeyed}"), format!("W#{}", at.timestamp()));
        assert!(store.get(&plain).await.unwrap().is_none());
        assert!(!keyed.contains("192.0.2.7"));
        let other_keys = LinkKeys::from(crate::domain::token::LinkKey::generate(
            &crate::domain::ids::OsEntropy,
        ));
        assert_ne!(
            keys.keyed_digest("limit", "checkout-source\n192.0.2.7")
                .unwrap(),
            other_keys
                .keyed_digest("limit", "checkout-source\n192.0.2.7")
                .unwrap()
        );
    }
}
