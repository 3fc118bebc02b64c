//! One page of a vendor's records (R-D1, R-D3): newest first, a cursor for the next page, and the
//! total from the record kind's counter.

use crate::domain::ids::VendorId;
use crate::store::keys::vendor_pk;
use crate::store::{Item, ItemStore, Query, SortRange, StoreError};
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

/// The page of records under `prefix` that `matches`, newest first, with the count of all that
/// match: every record is read (the cost grows with the vendor's records; a search index is the
/// next step when vendors outgrow it). The cursor is the sort key of the last record given
/// (issue 16, item 14): the next page starts after it, so records added meanwhile (newer, so
/// before it) repeat nothing and shift nothing.
pub async fn list_matching<T: serde::de::DeserializeOwned>(
    store: &dyn ItemStore,
    vendor: &VendorId,
    prefix: &str,
    limit: u32,
    cursor: Option<String>,
    matches: impl Fn(&T) -> bool,
) -> Result<Listing<T>, UseCaseError> {
    // The cursor is `k` and the record's id (the sort key less its prefix): URL-safe as it is.
    let after = match cursor {
        None => None,
        Some(text) => Some(
            text.strip_prefix('k')
                .filter(|id| {
                    !id.is_empty()
                        && id.len() <= 100
                        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .map(|id| format!("{prefix}{id}"))
                .ok_or(StoreError::InvalidCursor)?,
        ),
    };
    let (mut items, mut total, mut more, mut scan) = (Vec::new(), 0u64, false, None);
    let mut last_key = None;
    // A cursor names a record of this list; one that names none is refused, never a restart.
    let mut cursor_seen = after.is_none();
    loop {
        let query = Query::table(vendor_pk(vendor), SortRange::Prefix(prefix.into()))
            .limit(500)
            .after(scan)
            .newest_first();
        let page = store.query(&query).await?;
        for item in &page.items {
            cursor_seen |= after.as_ref() == Some(&item.key.sk);
            let record: T = item.decode()?;
            if !matches(&record) {
                continue;
            }
            total += 1;
            if after.as_ref().is_some_and(|last| item.key.sk >= *last) {
                continue;
            }
            if items.len() < limit as usize {
                items.push(record);
                last_key = Some(item.key.sk.clone());
            } else {
                more = true;
            }
        }
        match page.next_cursor {
            Some(next) => scan = Some(next),
            None => break,
        }
    }
    if !cursor_seen {
        return Err(StoreError::InvalidCursor.into());
    }
    Ok(Listing {
        items,
        next_cursor: last_key
            .filter(|_| more)
            .map(|key| format!("k{}", key.trim_start_matches(prefix))),
        total,
    })
}
