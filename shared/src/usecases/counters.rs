//! Per-vendor counts kept beside the records, updated in the transaction that adds a record, so a
//! list's `total` is one GetItem instead of a count over the partition.

use crate::domain::ids::VendorId;
use crate::store::keys::vendor_pk;
use crate::store::{Item, ItemStore, Key, StoreError, Write};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Products,
    Offers,
    /// Customers of the vendor (a new one per unmatched checkout).
    Customers,
    /// The sequence behind order numbers (R-O3): increasing, unique per vendor.
    OrderNumbers,
}

impl Counter {
    fn key(self, vendor: &VendorId) -> Key {
        let name = match self {
            Counter::Products => "products",
            Counter::Offers => "offers",
            Counter::OrderNumbers => "order-numbers",
            Counter::Customers => "customers",
        };
        Key::new(vendor_pk(vendor), format!("COUNT#{name}"))
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
    Ok(store
        .get(&counter.key(vendor))
        .await?
        .as_ref()
        .map(value)
        .unwrap_or(0))
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
