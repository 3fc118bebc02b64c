//! One page of a vendor's records (R-D1, R-D3): newest first, a cursor for the next page, and the
//! total from the record kind's counter.

use crate::domain::ids::VendorId;
use crate::store::keys::vendor_pk;
use crate::store::{Item, ItemStore, Query, SortRange};
use crate::usecases::counters::{self, Counter};
use crate::usecases::ports::UseCaseError;

/// One page of a list, newest first, with the total.
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

/// The page of records whose sort keys start with `prefix`, counted by `counter`.
pub async fn list<T: serde::de::DeserializeOwned>(
    store: &dyn ItemStore,
    vendor: &VendorId,
    prefix: &str,
    counter: Counter,
    limit: u32,
    cursor: Option<String>,
) -> Result<Listing<T>, UseCaseError> {
    let query = Query::table(vendor_pk(vendor), SortRange::Prefix(prefix.into()))
        .limit(limit)
        .after(cursor)
        .newest_first();
    let page = store.query(&query).await?;
    let items = page
        .items
        .iter()
        .map(Item::decode)
        .collect::<Result<Vec<T>, _>>()?;
    Ok(Listing {
        items,
        next_cursor: page.next_cursor,
        total: counters::read(store, vendor, counter).await?,
    })
}
