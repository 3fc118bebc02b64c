//! Per-vendor counts kept beside the records, so a list's `total` is one GetItem instead of a
//! count over the partition. Products and offers (created rarely, by the vendor) are counted in
//! the transaction that adds them. What checkouts create under load is counted by atomic
//! additions that never fail a version check (issue 14, defect 10): order numbers are drawn
//! before the order's transaction (unique and increasing, R-O3; a drawn number whose order is
//! never written leaves a gap), customers and orders are added to in the checkout's transaction
//! (`Write::Add`), so a count holds exactly what committed.

use crate::domain::ids::VendorId;
use crate::store::keys::vendor_pk;
use crate::store::{Item, ItemStore, Key, StoreError, Write};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Products,
    Offers,
    /// Customers of the vendor (a new one per unmatched checkout): atomic.
    Customers,
    /// The sequence behind order numbers (R-O3): increasing, unique per vendor; atomic.
    OrderNumbers,
    /// The vendor's orders: atomic.
    Orders,
}

impl Counter {
    fn key(self, vendor: &VendorId) -> Key {
        let name = match self {
            Counter::Products => "products",
            Counter::Offers => "offers",
            Counter::OrderNumbers => "order-numbers",
            Counter::Customers => "customers",
            Counter::Orders => "orders",
        };
        Key::new(vendor_pk(vendor), format!("COUNT#{name}"))
    }

    /// Counted by the store's atomic additions, not by version-checked writes.
    fn is_atomic(self) -> bool {
        matches!(
            self,
            Counter::Customers | Counter::OrderNumbers | Counter::Orders
        )
    }
}

fn value(item: &Item) -> u64 {
    item.body["n"].as_u64().unwrap_or(0)
}

pub async fn read(
    store: &dyn ItemStore,
    vendor: &VendorId,
    counter: Counter,
) -> Result<u64, StoreError> {
    if counter.is_atomic() {
        return store.counter(&counter.key(vendor)).await;
    }
    Ok(store
        .get(&counter.key(vendor))
        .await?
        .as_ref()
        .map(value)
        .unwrap_or(0))
}

/// The write that adds one to an atomic counter in a transaction.
pub fn count_one(vendor: &VendorId, counter: Counter) -> Write {
    Write::Add {
        key: counter.key(vendor),
        delta: 1,
    }
}

/// The next value of an atomic counter, drawn in one step (see the module's comment).
pub async fn draw(
    store: &dyn ItemStore,
    vendor: &VendorId,
    counter: Counter,
) -> Result<u64, StoreError> {
    store.add(&counter.key(vendor), 1).await
}

/// The next value of a counter and the version-checked write that claims it: a concurrent claim
/// fails the transaction, which then retries with the value after.
pub struct Next {
    pub value: u64,
    pub write: Write,
}

pub async fn next_value(
    store: &dyn ItemStore,
    vendor: &VendorId,
    counter: Counter,
) -> Result<Next, StoreError> {
    let key = counter.key(vendor);
    Ok(match store.get(&key).await? {
        None => Next {
            value: 1,
            write: Write::create(Item::new(key, json!({ "n": 1 }))),
        },
        Some(item) => {
            let value = value(&item) + 1;
            Next {
                value,
                write: Write::update(item.next(json!({ "n": value }))),
            }
        }
    })
}

/// The write that adds one to a count.
pub async fn increment(
    store: &dyn ItemStore,
    vendor: &VendorId,
    counter: Counter,
) -> Result<Write, StoreError> {
    Ok(next_value(store, vendor, counter).await?.write)
}
