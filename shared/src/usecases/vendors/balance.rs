//! `GET /api/balance` (R-V2, R-V3): the vendor's balances per currency, derived from the ledger.

use crate::domain::ids::VendorId;
use crate::domain::vendors::ledger::{CurrencyBalance, LedgerEntry, balances};
use crate::store::keys::vendor_pk;
use crate::store::{Item, ItemStore, Key, Query, SortRange, Write};
use crate::usecases::ports::UseCaseError;
use chrono::{DateTime, Utc};

/// The key of a ledger entry: under its vendor, read in order by [`balance`].
fn entry_key(entry: &LedgerEntry) -> Key {
    Key::new(vendor_pk(&entry.vendor_id), format!("LEDGER#{}", entry.id))
}

/// The write that appends `entry` to its vendor's ledger (entries are never changed).
pub fn entry_write(entry: &LedgerEntry) -> Result<Write, crate::store::StoreError> {
    let key = entry_key(entry);
    Ok(Write::create(Item::new(
        key.clone(),
        crate::usecases::ports::encode(&key, entry)?,
    )))
}

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

/// The guard of a vendor's balances (R-R1): every ledger debit writes it on the version it read,
/// together with the debit, so a refund checked against the available balance commits only if
/// no other debit committed since it read the balance — two refunds of different orders can no
/// longer both pass the check and overdraw it. One per vendor, whatever the currency, so it is
/// read before anything else (the balance, then the order).
pub fn guard_key(vendor: &VendorId) -> Key {
    Key::new(vendor_pk(vendor), "BALANCEGUARD")
}

/// The guard as it is now; read before the balance.
pub async fn read_guard(
    store: &dyn ItemStore,
    vendor: &VendorId,
) -> Result<Option<Item>, UseCaseError> {
    Ok(store.get(&guard_key(vendor)).await?)
}

/// The guard's version-checked write in a debit's transaction: it fails, and the decision is
/// made again on a fresh balance, if another debit committed since `read`.
pub fn guard_write(
    vendor: &VendorId,
    read: Option<&Item>,
    reference: &str,
    now: DateTime<Utc>,
) -> Write {
    let body = serde_json::json!({ "last_debit": reference, "at": now });
    match read {
        Some(item) => Write::update(item.next(body)),
        None => Write::create(Item::new(guard_key(vendor), body)),
    }
}
