//! A wrapper that counts round trips and items read through the port, to show what a request or
//! a sweep costs (tests and benchmarks; never a timer).

use super::{Condition, Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreCounts {
    pub gets: u64,
    pub queries: u64,
    pub writes: u64,
    pub transactions: u64,
    pub items_read: u64,
}

pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    gets: AtomicU64,
    queries: AtomicU64,
    writes: AtomicU64,
    transactions: AtomicU64,
    items_read: AtomicU64,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> CountingStore {
        CountingStore {
            inner,
            gets: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            items_read: AtomicU64::new(0),
        }
    }

    pub fn counts(&self) -> StoreCounts {
        StoreCounts {
            gets: self.gets.load(Ordering::Relaxed),
            queries: self.queries.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            items_read: self.items_read.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        for counter in [
            &self.gets,
            &self.queries,
            &self.writes,
            &self.transactions,
            &self.items_read,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        let found = self.inner.get(key).await?;
        self.items_read
            .fetch_add(u64::from(found.is_some()), Ordering::Relaxed);
        Ok(found)
    }

    /// One round trip, counted as one get.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        let found = self.inner.get_many(keys).await?;
        let read = found.iter().filter(|item| item.is_some()).count() as u64;
        self.items_read.fetch_add(read, Ordering::Relaxed);
        Ok(found)
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.put(item, condition).await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key, condition).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.inner.transact(writes).await
    }

    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.put_batch(items).await
    }

    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.add(key, delta).await
    }

    async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.counter(key).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let page = self.inner.query(query).await?;
        self.items_read
            .fetch_add(page.items_read, Ordering::Relaxed);
        Ok(page)
    }
}
