//! The item-store port: one table of items under (pk, sk), a general secondary index and the
//! sparse due-index, typed conditions, transactions, and cursor-paginated queries.
//! Adapters: `embedded` (SQLite) and `dynamo` (DynamoDB); `counting` wraps either to count reads.

pub mod counting;
#[cfg(feature = "aws")]
pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod keys;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// DynamoDB's limit of items in one TransactWriteItems; the embedded store keeps it too.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// The most keys one `get_many` reads (DynamoDB's BatchGetItem limit).
pub const MAX_BATCH_GET: usize = 100;

/// Refuses what BatchGetItem refuses: too many keys, or one key twice.
pub fn validate_batch_get(keys: &[Key]) -> Result<(), StoreError> {
    let distinct: std::collections::BTreeSet<&Key> = keys.iter().collect();
    if keys.len() > MAX_BATCH_GET || distinct.len() != keys.len() {
        return Err(StoreError::InvalidWrite(format!(
            "a batch read takes at most {MAX_BATCH_GET} distinct keys"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Key {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.pk, self.sk)
    }
}

/// The secondary indexes of the table. Each is keyed by two string attributes of the item;
/// an item without them is not in the index (sparse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    /// Lookups by a second key (`gsi1pk`, `gsi1sk`): lists by customer, by status…
    Gsi1,
    /// Scheduled work (`due_pk`, `due_sk`): see `keys::due_entry`.
    Due,
}

impl Index {
    pub const ALL: [Index; 2] = [Index::Gsi1, Index::Due];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Due => "due",
        }
    }

    /// The item attributes holding this index's partition and sort key.
    pub fn key_attributes(self) -> (&'static str, &'static str) {
        match self {
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Due => ("due_pk", "due_sk"),
        }
    }
}

/// Attribute names the store itself uses; `attrs` may not reuse them.
pub const RESERVED_ATTRIBUTES: [&str; 6] = ["pk", "sk", "version", "body", "expires_at", "n"];

/// One stored item. `body` is the record (JSON); `attrs` are top-level string attributes that
/// conditions and indexes can see (index keys among them); `version` backs optimistic locking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: Key,
    pub version: u64,
    pub attrs: BTreeMap<String, String>,
    pub body: serde_json::Value,
    /// Unix seconds after which the table may delete the item (DynamoDB TTL).
    pub expires_at: Option<i64>,
}

impl Item {
    pub fn new(key: Key, body: serde_json::Value) -> Item {
        Item {
            key,
            version: 1,
            attrs: BTreeMap::new(),
            body,
            expires_at: None,
        }
    }

    pub fn with_attr(mut self, name: &str, value: impl Into<String>) -> Item {
        self.attrs.insert(name.to_string(), value.into());
        self
    }

    pub fn with_index(
        mut self,
        index: Index,
        pk: impl Into<String>,
        sk: impl Into<String>,
    ) -> Item {
        let (pk_attr, sk_attr) = index.key_attributes();
        self.attrs.insert(pk_attr.to_string(), pk.into());
        self.attrs.insert(sk_attr.to_string(), sk.into());
        self
    }

    pub fn without_index(mut self, index: Index) -> Item {
        let (pk_attr, sk_attr) = index.key_attributes();
        self.attrs.remove(pk_attr);
        self.attrs.remove(sk_attr);
        self
    }

    pub fn index_key(&self, index: Index) -> Option<(&str, &str)> {
        let (pk_attr, sk_attr) = index.key_attributes();
        Some((self.attrs.get(pk_attr)?, self.attrs.get(sk_attr)?))
    }

    /// The next version of this item with a new body, for a version-checked update.
    pub fn next(&self, body: serde_json::Value) -> Item {
        Item {
            version: self.version + 1,
            body,
            ..self.clone()
        }
    }

    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_value(self.body.clone()).map_err(|source| StoreError::Malformed {
            key: self.key.clone(),
            source,
        })
    }
}

/// A condition on the current item at the written key (typed; never an expression string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No item at the key.
    Absent,
    /// Some item at the key.
    Exists,
    /// The item exists with exactly this version.
    VersionIs(u64),
    /// The item exists and this top-level attribute holds exactly this value.
    AttrEquals {
        name: String,
        value: String,
    },
}

impl Condition {
    /// Decides the condition against the current item (the embedded store; tests).
    pub fn holds(&self, current: Option<&Item>) -> bool {
        match (self, current) {
            (Condition::Always, _) => true,
            (Condition::Absent, found) => found.is_none(),
            (Condition::Exists, found) => found.is_some(),
            (Condition::VersionIs(v), Some(item)) => item.version == *v,
            (Condition::AttrEquals { name, value }, Some(item)) => {
                item.attrs.get(name) == Some(value)
            }
            (_, None) => false,
        }
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; fails the transaction unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
    /// Adds `delta` to the counter at `key` (see [`ItemStore::add`]) with the transaction:
    /// no condition, so concurrent additions never fail each other's version checks.
    Add {
        key: Key,
        delta: u64,
    },
}

/// The condition of a write that has none.
static NO_CONDITION: Condition = Condition::Always;

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { item, .. } => &item.key,
            Write::Delete { key, .. } | Write::Check { key, .. } | Write::Add { key, .. } => key,
        }
    }

    pub fn condition(&self) -> &Condition {
        match self {
            Write::Put { condition, .. }
            | Write::Delete { condition, .. }
            | Write::Check { condition, .. } => condition,
            Write::Add { .. } => &NO_CONDITION,
        }
    }

    /// A put that creates: fails if the key is taken.
    pub fn create(item: Item) -> Write {
        Write::Put {
            item,
            condition: Condition::Absent,
        }
    }

    /// A put that replaces `item.version - 1`: fails if someone else wrote in between.
    pub fn update(item: Item) -> Write {
        let expected = item.version.saturating_sub(1);
        Write::Put {
            item,
            condition: Condition::VersionIs(expected),
        }
    }
}

/// Which sort keys a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortRange {
    All,
    Prefix(String),
    /// Inclusive on both ends.
    Between(String, String),
    /// Everything up to and including this key: the due-index reads `UpTo(now)`.
    UpTo(String),
    From(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `None`: the table's own keys.
    pub index: Option<Index>,
    pub pk: String,
    pub range: SortRange,
    pub limit: u32,
    pub cursor: Option<String>,
    pub descending: bool,
}

impl Query {
    pub fn table(pk: impl Into<String>, range: SortRange) -> Query {
        Query {
            index: None,
            pk: pk.into(),
            range,
            limit: 100,
            cursor: None,
            descending: false,
        }
    }

    pub fn index(index: Index, pk: impl Into<String>, range: SortRange) -> Query {
        Query {
            index: Some(index),
            ..Query::table(pk, range)
        }
    }

    pub fn limit(mut self, limit: u32) -> Query {
        self.limit = limit;
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Query {
        self.cursor = cursor;
        self
    }

    pub fn newest_first(mut self) -> Query {
        self.descending = true;
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Opaque; `None` when the query has no more items.
    pub next_cursor: Option<String>,
    /// Items the backend read to answer (DynamoDB's ScannedCount): the cost of the query.
    pub items_read: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition of write `index` (0-based, in the order given) did not hold; nothing was written.
    #[error("condition of write {index} on {key} failed")]
    ConditionFailed { index: usize, key: Key },
    /// A concurrent transaction touched the same items; retry.
    #[error("transaction conflicted with a concurrent one")]
    Conflict,
    /// The store refused for now (throttling); retry after a pause.
    #[error("the store is throttling requests")]
    Throttled,
    /// A decision kept losing to concurrent writes of the same items, retried with growing
    /// pauses until its attempts ran out; the caller may come back shortly (503).
    #[error("the decision kept conflicting with concurrent writes")]
    Contended,
    #[error("invalid write: {0}")]
    InvalidWrite(String),
    #[error("invalid cursor")]
    InvalidCursor,
    /// A write of a request whose `Idempotency-Key` has already committed its effect (an earlier
    /// attempt whose answer was lost, or a request given up and taken over): nothing is written.
    #[error("the request's idempotency key has already committed its effect")]
    AlreadyCommitted,
    /// The backend cannot say whether the write committed (DynamoDB's
    /// `TransactionInProgressException`: the same request token is still running). Never
    /// retried by deciding again.
    #[error("the store could not say whether the write committed")]
    OutcomeUnknown,
    #[error("item {key} is malformed")]
    Malformed {
        key: Key,
        #[source]
        source: serde_json::Error,
    },
    #[error("stored item is malformed: {0}")]
    MalformedAttribute(String),
    #[error("the store failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(error))
    }

    /// A failed condition or a conflict: the caller may reload and decide again.
    pub fn is_contention(&self) -> bool {
        matches!(
            self,
            StoreError::ConditionFailed { .. } | StoreError::Conflict
        )
    }
}

/// Checks what both adapters refuse the same way before touching the backend.
pub fn validate_transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() || writes.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::InvalidWrite(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_ITEMS} writes, not {}",
            writes.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for write in writes {
        if !seen.insert(write.key()) {
            return Err(StoreError::InvalidWrite(format!(
                "{} is written twice in one transaction",
                write.key()
            )));
        }
        if let Write::Put { item, .. } = write {
            validate_item(item)?;
        }
    }
    Ok(())
}

/// DynamoDB's limit on one item (names and values of all its attributes); the embedded store
/// keeps it too, so a test finds an item that could never be written on AWS.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// An item's size as DynamoDB counts it: each attribute's name and value (the body as the JSON
/// text it is stored as; numbers counted generously).
pub fn item_size(item: &Item) -> usize {
    let strings = [("pk", &item.key.pk), ("sk", &item.key.sk)]
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum::<usize>();
    let attrs = item
        .attrs
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum::<usize>();
    let body = "body".len() + item.body.to_string().len();
    let numbers = "version".len() + 21 + "expires_at".len() + 21;
    strings + attrs + body + numbers
}

pub fn validate_item(item: &Item) -> Result<(), StoreError> {
    if item.key.pk.is_empty() || item.key.sk.is_empty() {
        return Err(StoreError::InvalidWrite("empty key".into()));
    }
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::InvalidWrite(format!(
            "item {} is {size} bytes, over the store's {MAX_ITEM_BYTES}",
            item.key
        )));
    }
    if let Some(name) = item
        .attrs
        .keys()
        .find(|name| RESERVED_ATTRIBUTES.contains(&name.as_str()))
    {
        return Err(StoreError::InvalidWrite(format!(
            "attribute {name} is reserved"
        )));
    }
    Ok(())
}

/// Cursors are the last key read, with the partition and index of the query that read it,
/// base64url JSON: opaque to callers, checked on the way back, so a cursor of another query or
/// a tampered one is `InvalidCursor` (a 400), never a start key DynamoDB refuses (a 500).
pub fn encode_cursor(query: &Query, position: &BTreeMap<String, String>) -> String {
    let cursor = serde_json::json!({
        "for": query.pk,
        "index": query.index.map(Index::name),
        "after": position,
    });
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

/// The position a cursor of `query` resumes after: exactly the attributes `expected` names,
/// each a string, with the partition attribute `partition` equal to the query's partition.
pub fn decode_cursor(
    query: &Query,
    cursor: &str,
    expected: &[&str],
    partition: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Cursor {
        #[serde(rename = "for")]
        partition: String,
        index: Option<String>,
        after: BTreeMap<String, String>,
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let names: BTreeSet<&str> = cursor.after.keys().map(String::as_str).collect();
    let same_query = cursor.partition == query.pk
        && cursor.index.as_deref() == query.index.map(Index::name)
        && names == expected.iter().copied().collect::<BTreeSet<_>>()
        && cursor.after.get(partition) == Some(&query.pk);
    if same_query {
        Ok(cursor.after)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

#[async_trait]
pub trait ItemStore: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Several items in one round trip (DynamoDB BatchGetItem, strongly consistent), in the order
    /// of `keys`; at most [`MAX_BATCH_GET`] distinct keys.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;

    /// One conditional put (create, or update with `Condition::VersionIs`).
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError>;

    /// All writes or none. On a failed condition: `ConditionFailed` naming the first failing write.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Unconditional puts in bulk, not atomic as a whole (DynamoDB BatchWriteItem): for loads
    /// and backfills where no condition applies. Every item is written when it returns `Ok`.
    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError>;

    /// Adds `delta` to the counter at `key` in one atomic step (DynamoDB `ADD` returning the new
    /// value) and answers the new value; a counter never added to counts 0. Concurrent adds
    /// never conflict and never see the same value: the way to draw numbers under load.
    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError>;

    /// A counter's value (0 when never added to), strongly consistent.
    async fn counter(&self, key: &Key) -> Result<u64, StoreError>;
}
