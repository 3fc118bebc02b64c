//! The vendor profiles a warm function has read, for the webhooks' hot path: a provider event
//! then costs no vendor read. An entry lives a minute by the injected clock, and a signature that
//! fails against a kept profile is checked once more against a fresh read, so a rotated webhook
//! secret works at once; other settings may lag by up to the minute.

use crate::domain::ids::VendorId;
use crate::domain::vendors::Vendor;
use crate::store::keys::{VENDOR_PROFILE_SK, vendor_pk};
use crate::store::{ItemStore, Key};
use crate::usecases::UseCaseError;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a kept profile is used.
pub const KEEP_FOR: Duration = Duration::seconds(60);
/// How many profiles a warm function keeps (one function serves many vendors).
const LIMIT: usize = 4096;

#[derive(Default)]
pub struct VendorCache {
    kept: Mutex<HashMap<VendorId, (DateTime<Utc>, Vendor)>>,
}

/// Where a profile came from: a kept one may be stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Kept,
    Read,
}

impl VendorCache {
    /// The vendor's profile, kept or read; `None` when there is no such vendor.
    pub async fn get(
        &self,
        store: &dyn ItemStore,
        id: &VendorId,
        now: DateTime<Utc>,
    ) -> Result<Option<(Vendor, Freshness)>, UseCaseError> {
        let kept = self.kept.lock().ok().and_then(|kept| {
            kept.get(id)
                .filter(|(read_at, _)| now - *read_at < KEEP_FOR && *read_at <= now)
                .map(|(_, vendor)| vendor.clone())
        });
        if let Some(vendor) = kept {
            return Ok(Some((vendor, Freshness::Kept)));
        }
        Ok(self
            .read(store, id, now)
            .await?
            .map(|vendor| (vendor, Freshness::Read)))
    }

    /// Reads the profile afresh and keeps it.
    pub async fn read(
        &self,
        store: &dyn ItemStore,
        id: &VendorId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vendor>, UseCaseError> {
        let Some(item) = store
            .get(&Key::new(vendor_pk(id), VENDOR_PROFILE_SK))
            .await?
        else {
            return Ok(None);
        };
        let vendor: Vendor = item.decode()?;
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= LIMIT {
                kept.clear();
            }
            kept.insert(id.clone(), (now, vendor.clone()));
        }
        Ok(Some(vendor))
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;
    use crate::domain::clock::SettableClock;
    use crate::domain::ids::SeededEntropy;
    use crate::domain::vendors::NewVendor;
    use crate::store::counting::CountingStore;
    use crate::store::embedded::EmbeddedStore;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_kept_profile_costs_no_read_for_a_minute_of_the_injected_clock() {
        // given a vendor and an empty cache over a counting store
        let now = DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
            .unwrap()
            .to_utc();
        let store = CountingStore::new(Arc::new(EmbeddedStore::in_memory().unwrap()));
        let clock = SettableClock::frozen(now);
        let created = crate::usecases::vendors::create_vendor(
            &store,
            &clock,
            &SeededEntropy::new(7),
            NewVendor {
                name: "Shop".into(),
                email: "shop@example.com".into(),
                timezone: None,
            },
        )
        .await
        .unwrap();
        let id = created.vendor.id;
        let cache = VendorCache::default();
        store.reset();
        // when asked three times within the minute, then once after it
        let first = cache.get(&store, &id, now).await.unwrap().unwrap();
        let second = cache
            .get(&store, &id, now + Duration::seconds(59))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(store.counts().gets, 1);
        let later = cache
            .get(&store, &id, now + KEEP_FOR)
            .await
            .unwrap()
            .unwrap();
        // then only the first and the one after the minute read the store
        assert_eq!(
            (first.1, second.1, later.1),
            (Freshness::Read, Freshness::Kept, Freshness::Read)
        );
        assert_eq!(store.counts().gets, 2);
        assert_eq!(second.0, first.0);
        // and an unknown vendor is none, not kept
        let unknown = VendorId::parse("ven_01JDQ8Z5X3N4V6B7C8D9E0F1G2").unwrap();
        assert!(cache.get(&store, &unknown, now).await.unwrap().is_none());
    }
}
