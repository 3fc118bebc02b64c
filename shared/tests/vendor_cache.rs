//! The vendor profiles a warm function keeps (usecases/ports.rs), over the embedded store.

use chrono::{DateTime, Duration};
use sellerdesk::domain::clock::SettableClock;
use sellerdesk::domain::ids::{SeededEntropy, VendorId};
use sellerdesk::domain::vendors::NewVendor;
use sellerdesk::store::counting::CountingStore;
use sellerdesk::store::embedded::EmbeddedStore;
use sellerdesk::usecases::ports::{Freshness, KEEP_FOR, VendorCache};
use sellerdesk::usecases::vendors::create_vendor;
use std::sync::Arc;

#[tokio::test]
async fn a_kept_profile_costs_no_read_for_a_minute_of_the_injected_clock() {
    // given a vendor and an empty cache over a counting store
    let now = DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
        .unwrap()
        .to_utc();
    let store = CountingStore::new(Arc::new(EmbeddedStore::in_memory().unwrap()));
    let clock = SettableClock::frozen(now);
    let created = create_vendor(
        &store,
        &clock,
        &SeededEntropy::new(7),
        NewVendor {
            name: "Shop".into(),
            email: "shop@example.com".into(),
            timezone: None,
        },
        &sellerdesk::domain::vendors::PortalPolicy::default(),
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
