//! What every use case starts from: the ports it is handed ([`Ports`]), the error it answers
//! ([`UseCaseError`]), the retry of a decision that lost a race, and the loading of a vendor
//! (kept profiles for the webhooks' hot path) and of an order with its customer.
//!
//! Kept vendor profiles: a warm function keeps the profiles it has read, so a provider event
//! costs no vendor read. An entry lives a minute by the injected clock, and a signature that
//! fails against a kept profile is checked once more against a fresh read, so a rotated webhook
//! secret works at once; other settings may lag by up to the minute.

use crate::domain::clock::Clock;
use crate::domain::customers::Customer;
use crate::domain::ids::{Entropy, OrderId, VendorId};
use crate::domain::orders::Order;
use crate::domain::token::{LinkKeys, TokenError};
use crate::domain::validation::FieldErrors;
use crate::domain::vendors::Vendor;
use crate::store::keys::{VENDOR_PROFILE_SK, customer_key, order_key, vendor_pk};
use crate::store::{Item, ItemStore, Key, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

/// The ports a use case is handed: built once per cold start (or dev-server start).
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub store: &'a dyn ItemStore,
    pub clock: &'a dyn Clock,
    pub entropy: &'a dyn Entropy,
    pub link_keys: &'a LinkKeys,
    pub vendors: &'a VendorCache,
}

/// What a use case can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    /// R-C6: a blocked customer cannot check out.
    #[error("the customer is blocked")]
    CustomerBlocked,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A subject's link was derived with a key this function does not hold (a rotation
    /// half done): nothing is written, and the request can be retried once every function has the key.
    #[error("a customer link could not be derived")]
    LinkKey(#[from] TokenError),
}

/// How often a decision is reloaded and retried when a concurrent write got there first
/// (a burst of checkouts of one vendor all read the same customer and supersede checks).
const ATTEMPTS: u32 = 12;
/// How often a throttled decision is tried (pauses of 100 ms to 800 ms, 1.5 s in all).
const THROTTLED_ATTEMPTS: u32 = 5;
/// The first pause after a conflict, doubled each try up to [`CONTENTION_PAUSE_CAP_MS`].
const CONTENTION_PAUSE_MS: u64 = 4;
const CONTENTION_PAUSE_CAP_MS: u64 = 250;

/// A pause before try `tries + 1` after a conflict: exponential with full jitter, so writers
/// that collided spread out instead of colliding again in step (issue 14, defect 10).
fn contention_pause(tries: u32) -> std::time::Duration {
    let ceiling = CONTENTION_PAUSE_MS
        .saturating_mul(1 << tries.min(16))
        .min(CONTENTION_PAUSE_CAP_MS);
    // Jitter only spreads writers apart; a missing OS source falls back to the ceiling.
    let fraction = getrandom::u32().map_or(1.0, |r| f64::from(r) / f64::from(u32::MAX));
    std::time::Duration::from_micros((ceiling as f64 * 1000.0 * fraction) as u64)
}

/// Runs `attempt` again while it fails on contention (a version check or a transaction
/// conflict), pausing a little longer each time; when the attempts run out, the answer is
/// `StoreError::Contended` (503, try again), never an internal error.
pub async fn retry_on_contention<T, F, Fut>(mut attempt: F) -> Result<T, UseCaseError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UseCaseError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(UseCaseError::Store(error)) if error.is_contention() => {
                if tries >= ATTEMPTS {
                    tracing::warn!(error = %error, tries, "a decision kept conflicting; answered busy");
                    return Err(UseCaseError::Store(StoreError::Contended));
                }
                tokio::time::sleep(contention_pause(tries)).await;
                tries += 1
            }
            // Throttling passes with time: back off a little more each try.
            Err(UseCaseError::Store(StoreError::Throttled)) if tries < THROTTLED_ATTEMPTS => {
                tokio::time::sleep(std::time::Duration::from_millis(50 << tries)).await;
                tries += 1
            }
            other => return other,
        }
    }
}

/// A record's body as stored; a value that does not serialize is a malformed record.
pub(crate) fn encode<T: serde::Serialize>(
    key: &Key,
    value: &T,
) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|source| StoreError::Malformed {
        key: key.clone(),
        source,
    })
}

// Loading a vendor: kept for the webhooks' hot path, or read.

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

/// The vendor's profile, read afresh.
pub async fn load_vendor(store: &dyn ItemStore, id: &VendorId) -> Result<Vendor, UseCaseError> {
    Ok(store
        .get(&Key::new(vendor_pk(id), VENDOR_PROFILE_SK))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?)
}

/// An order with its stored item (for the version check) and its customer.
pub struct OrderContext {
    pub item: Item,
    pub order: Order,
    pub customer: Customer,
    /// The customer's item, for a version-checked update of its paid-order count (R-C5).
    pub customer_item: Item,
}

impl OrderContext {
    /// The customer's update when its paid-order count follows the order from `before` (R-C5;
    /// issue 15, defect 4): an order whose money all went back no longer counts as paid, and
    /// one whose refund failed counts again. `None` when nothing changed.
    pub fn paid_order_count_write(
        &mut self,
        before: crate::domain::orders::OrderStatus,
        threshold: u32,
    ) -> Result<Option<crate::store::Write>, StoreError> {
        use crate::domain::orders::OrderStatus::Refunded;
        let changed = match (before == Refunded, self.order.status == Refunded) {
            (false, true) => {
                crate::domain::customers::unrecord_paid_order(&mut self.customer, threshold)
            }
            (true, false) => {
                crate::domain::customers::record_paid_order(&mut self.customer, threshold);
                true
            }
            _ => false,
        };
        if !changed {
            return Ok(None);
        }
        let key = self.customer_item.key.clone();
        Ok(Some(crate::store::Write::update(
            self.customer_item.next(encode(&key, &self.customer)?),
        )))
    }
}

/// The order and its customer, with the order's item for the version check.
pub async fn load_order(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &OrderId,
) -> Result<OrderContext, UseCaseError> {
    let item = store
        .get(&order_key(vendor, id))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    let order: Order = item.decode()?;
    let customer_item = store
        .get(&customer_key(vendor, &order.customer_id))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    Ok(OrderContext {
        item,
        order,
        customer: customer_item.decode()?,
        customer_item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    // Issue 11, §2: throttling is waited out, not answered as a failure at the first refusal.
    #[tokio::test]
    async fn a_throttled_decision_is_tried_again_after_a_pause() {
        let tries = AtomicU32::new(0);
        let outcome = retry_on_contention(|| async {
            match tries.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(UseCaseError::Store(StoreError::Throttled)),
                _ => Ok("committed"),
            }
        })
        .await;
        assert_eq!(outcome.unwrap(), "committed");
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        // and a store that keeps throttling is given up after a bounded number of tries
        let tries = AtomicU32::new(0);
        let outcome: Result<(), _> = retry_on_contention(|| async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(UseCaseError::Store(StoreError::Throttled))
        })
        .await;
        assert!(matches!(
            outcome,
            Err(UseCaseError::Store(StoreError::Throttled))
        ));
        assert_eq!(tries.load(Ordering::SeqCst), THROTTLED_ATTEMPTS);
    }
}
