//! `GET /api/balance` (R-V2, R-V3): the vendor's balances per currency, derived from the ledger.

use crate::domain::ids::VendorId;
use crate::domain::vendors::ledger::{CurrencyBalance, LedgerEntry, balances};
use crate::store::keys::vendor_pk;
use crate::store::{Item, ItemStore, Query, SortRange};
use crate::usecases::ports::UseCaseError;
use chrono::{DateTime, Utc};

/// Reads every ledger entry of the vendor (a partition query, page by page). A balance snapshot
/// item kept with each entry would make this one read; the entries stay the source of truth.
pub async fn balance(
    store: &dyn ItemStore,
    vendor: &VendorId,
    now: DateTime<Utc>,
) -> Result<Vec<CurrencyBalance>, UseCaseError> {
    let mut entries: Vec<LedgerEntry> = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::table(vendor_pk(vendor), SortRange::Prefix("LEDGER#".into()))
            .limit(1000)
            .after(cursor);
        let page = store.query(&query).await?;
        for item in &page.items {
            entries.push(Item::decode(item)?);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    balances(&entries, now).map_err(|_| UseCaseError::NotFound)
}
