//! The dev server's stand-in for the table's stream (API.md "dev server"): on AWS a new outbox
//! item reaches the dispatcher at once through the DynamoDB stream; here the store counts the
//! outbox items its commits create, and the request that created some has them dispatched
//! before it answers — so `/_dev/outbox` lists an e-mail as soon as its request has answered.

use async_trait::async_trait;
use sellerdesk::store::{Condition, Item, ItemStore, Key, Page, Query, StoreError, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Sort keys of outbox items (`store::keys::outbox_sk`).
const OUTBOX_PREFIX: &str = "OUTBOX#";

pub struct WatchedStore {
    inner: Arc<dyn ItemStore>,
    new_outbox_items: AtomicU64,
}

impl WatchedStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> WatchedStore {
        WatchedStore {
            inner,
            new_outbox_items: AtomicU64::new(0),
        }
    }

    /// How many outbox items committed writes have created so far.
    pub fn new_outbox_items(&self) -> u64 {
        self.new_outbox_items.load(Ordering::SeqCst)
    }

    fn count(&self, created: impl Iterator<Item = bool>) {
        let n = created.filter(|is_new| *is_new).count() as u64;
        if n > 0 {
            self.new_outbox_items.fetch_add(n, Ordering::SeqCst);
        }
    }
}

fn is_new_outbox_item(key: &Key, condition: &Condition) -> bool {
    key.sk.starts_with(OUTBOX_PREFIX) && *condition == Condition::Absent
}

#[async_trait]
impl ItemStore for WatchedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.get_many(keys).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let is_new = is_new_outbox_item(&item.key, &condition);
        self.inner.put(item, condition).await?;
        self.count(std::iter::once(is_new));
        Ok(())
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let created: Vec<bool> = writes
            .iter()
            .map(|write| {
                matches!(write, Write::Put { .. })
                    && is_new_outbox_item(write.key(), write.condition())
            })
            .collect();
        self.inner.transact(writes).await?;
        self.count(created.into_iter());
        Ok(())
    }

    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let created: Vec<bool> = items
            .iter()
            .map(|item| item.key.sk.starts_with(OUTBOX_PREFIX))
            .collect();
        self.inner.put_batch(items).await?;
        self.count(created.into_iter());
        Ok(())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError> {
        self.inner.add(key, delta).await
    }

    async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        self.inner.counter(key).await
    }
}
