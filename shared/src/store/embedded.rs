//! The embedded durable store for the dev server: SQLite (bundled) in WAL mode, with the same
//! semantics as the DynamoDB adapter — conditions, all-or-nothing transactions, the two indexes
//! as partial SQL indexes, and cursors.

use super::{
    Condition, Index, Item, ItemStore, Key, Page, Query, SortRange, StoreError, Write,
    decode_cursor, encode_cursor, validate_item, validate_transaction,
};
use async_trait::async_trait;
use rusqlite::{
    Connection, OptionalExtension, TransactionBehavior, params_from_iter, types::Value,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    attrs TEXT NOT NULL,
    body TEXT NOT NULL,
    expires_at INTEGER,
    gsi1pk TEXT,
    gsi1sk TEXT,
    due_pk TEXT,
    due_sk TEXT,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_due ON items (due_pk, due_sk, pk, sk) WHERE due_pk IS NOT NULL;
";

#[derive(Clone)]
pub struct EmbeddedStore {
    connection: Arc<Mutex<Connection>>,
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::backend(error)
}

impl EmbeddedStore {
    /// Opens (creating if needed) the database file; data survives restarts.
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        let connection = Connection::open(path).map_err(backend)?;
        Self::init(connection)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<EmbeddedStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(connection: Connection) -> Result<EmbeddedStore, StoreError> {
        // WAL with full sync: a committed transaction survives a crash of the process or machine.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        connection.execute_batch(SCHEMA).map_err(backend)?;
        Ok(EmbeddedStore {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Runs blocking SQLite work off the async executor, one statement group at a time.
    async fn with_connection<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut guard = connection.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut guard)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

const COLUMNS: &str = "pk, sk, version, attrs, body, expires_at";

fn read_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Key, i64, String, String, Option<i64>)> {
    Ok((
        Key::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?),
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn to_item(raw: (Key, i64, String, String, Option<i64>)) -> Result<Item, StoreError> {
    let (key, version, attrs, body, expires_at) = raw;
    let attrs: BTreeMap<String, String> =
        serde_json::from_str(&attrs).map_err(|source| StoreError::Malformed {
            key: key.clone(),
            source,
        })?;
    let body = serde_json::from_str(&body).map_err(|source| StoreError::Malformed {
        key: key.clone(),
        source,
    })?;
    Ok(Item {
        key,
        version: u64::try_from(version).unwrap_or(0),
        attrs,
        body,
        expires_at,
    })
}

fn get_in(connection: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let raw = connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2"),
            [&key.pk, &key.sk],
            read_item,
        )
        .optional()
        .map_err(backend)?;
    raw.map(to_item).transpose()
}

fn put_in(connection: &Connection, item: &Item) -> Result<(), StoreError> {
    let attrs = serde_json::to_string(&item.attrs).map_err(|source| StoreError::Malformed {
        key: item.key.clone(),
        source,
    })?;
    let body = serde_json::to_string(&item.body).map_err(|source| StoreError::Malformed {
        key: item.key.clone(),
        source,
    })?;
    let index_value = |index: Index, part: usize| -> Option<String> {
        item.index_key(index).map(|(pk, sk)| {
            if part == 0 {
                pk.to_string()
            } else {
                sk.to_string()
            }
        })
    };
    connection
        .execute(
            "INSERT OR REPLACE INTO items (pk, sk, version, attrs, body, expires_at, gsi1pk, gsi1sk, due_pk, due_sk)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            rusqlite::params![
                item.key.pk,
                item.key.sk,
                i64::try_from(item.version).unwrap_or(i64::MAX),
                attrs,
                body,
                item.expires_at,
                index_value(Index::Gsi1, 0),
                index_value(Index::Gsi1, 1),
                index_value(Index::Due, 0),
                index_value(Index::Due, 1),
            ],
        )
        .map_err(backend)?;
    Ok(())
}

fn delete_in(connection: &Connection, key: &Key) -> Result<(), StoreError> {
    connection
        .execute(
            "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
            [&key.pk, &key.sk],
        )
        .map_err(backend)?;
    Ok(())
}

fn transact_in(connection: &mut Connection, writes: &[Write]) -> Result<(), StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    for (index, write) in writes.iter().enumerate() {
        let current = get_in(&tx, write.key())?;
        if !write.condition().holds(current.as_ref()) {
            // Dropping `tx` rolls back: nothing of the transaction is written.
            return Err(StoreError::ConditionFailed {
                index,
                key: write.key().clone(),
            });
        }
    }
    for write in writes {
        match write {
            Write::Put { item, .. } => put_in(&tx, item)?,
            Write::Delete { key, .. } => delete_in(&tx, key)?,
            Write::Check { .. } => {}
            Write::Add { key, delta } => {
                add_in(&tx, key, *delta)?;
            }
        }
    }
    tx.commit().map_err(backend)
}

fn query_in(connection: &Connection, query: &Query) -> Result<Page, StoreError> {
    let (pk_col, sk_col) = match query.index {
        None => ("pk", "sk"),
        Some(index) => index.key_attributes(),
    };
    let mut sql = format!("SELECT {COLUMNS}, {sk_col} FROM items WHERE {pk_col} = ?");
    let mut args: Vec<Value> = vec![Value::Text(query.pk.clone())];
    match &query.range {
        SortRange::All => {}
        SortRange::Prefix(prefix) => {
            sql.push_str(&format!(" AND {sk_col} >= ? AND {sk_col} < ?"));
            args.push(Value::Text(prefix.clone()));
            args.push(Value::Text(format!("{prefix}\u{10FFFF}")));
        }
        SortRange::Between(low, high) => {
            sql.push_str(&format!(" AND {sk_col} BETWEEN ? AND ?"));
            args.push(Value::Text(low.clone()));
            args.push(Value::Text(high.clone()));
        }
        SortRange::UpTo(high) => {
            sql.push_str(&format!(" AND {sk_col} <= ?"));
            args.push(Value::Text(high.clone()));
        }
        SortRange::From(low) => {
            sql.push_str(&format!(" AND {sk_col} >= ?"));
            args.push(Value::Text(low.clone()));
        }
    }
    let (cmp, dir) = if query.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &query.cursor {
        let mut expected = vec!["pk", "sk"];
        if query.index.is_some() {
            expected.extend([pk_col, sk_col]);
        }
        let position = decode_cursor(query, cursor, &expected, pk_col)?;
        let field = |name: &str| position.get(name).cloned().ok_or(StoreError::InvalidCursor);
        if query.index.is_some() {
            sql.push_str(&format!(" AND ({sk_col}, pk, sk) {cmp} (?, ?, ?)"));
            args.push(Value::Text(field(sk_col)?));
        } else {
            sql.push_str(&format!(" AND (pk, sk) {cmp} (?, ?)"));
        }
        args.push(Value::Text(field("pk")?));
        args.push(Value::Text(field("sk")?));
    }
    let limit = query.limit.clamp(1, 1000);
    sql.push_str(&format!(
        " ORDER BY {sk_col} {dir}, pk {dir}, sk {dir} LIMIT {}",
        limit + 1
    ));
    let mut statement = connection.prepare_cached(&sql).map_err(backend)?;
    let mut rows = statement.query(params_from_iter(args)).map_err(backend)?;
    let mut items = Vec::new();
    let mut items_read = 0u64;
    let mut has_more = false;
    while let Some(row) = rows.next().map_err(backend)? {
        items_read += 1;
        if items.len() == limit as usize {
            has_more = true;
            break;
        }
        items.push(to_item(read_item(row).map_err(backend)?)?);
    }
    let next_cursor = match (has_more, items.last()) {
        (true, Some(last)) => {
            let mut position = BTreeMap::from([
                ("pk".to_string(), last.key.pk.clone()),
                ("sk".to_string(), last.key.sk.clone()),
            ]);
            if let Some(index) = query.index
                && let Some((pk, sk)) = last.index_key(index)
            {
                position.insert(pk_col.to_string(), pk.to_string());
                position.insert(sk_col.to_string(), sk.to_string());
            }
            Some(encode_cursor(query, &position))
        }
        _ => None,
    };
    Ok(Page {
        items,
        next_cursor,
        items_read,
    })
}

#[async_trait]
impl ItemStore for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.with_connection(move |connection| get_in(connection, &key))
            .await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        crate::store::validate_batch_get(keys)?;
        let keys = keys.to_vec();
        self.with_connection(move |connection| {
            keys.iter().map(|key| get_in(connection, key)).collect()
        })
        .await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        validate_item(&item)?;
        self.transact(vec![Write::Put { item, condition }]).await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.transact(vec![Write::Delete {
            key: key.clone(),
            condition,
        }])
        .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        validate_transaction(&writes)?;
        self.with_connection(move |connection| transact_in(connection, &writes))
            .await
    }

    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for item in &items {
            validate_item(item)?;
        }
        self.with_connection(move |connection| {
            let tx = connection.transaction().map_err(backend)?;
            for item in &items {
                put_in(&tx, item)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.clone();
        self.with_connection(move |connection| query_in(connection, &query))
            .await
    }

    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError> {
        let key = key.clone();
        self.with_connection(move |connection| {
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let value = add_in(&tx, &key, delta)?;
            tx.commit().map_err(backend)?;
            Ok(value)
        })
        .await
    }

    async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        let key = key.clone();
        self.with_connection(move |connection| {
            Ok(get_in(connection, &key)?.as_ref().map_or(0, counter_value))
        })
        .await
    }
}

/// Adds to a counter within `connection`'s transaction: its new value.
fn add_in(connection: &Connection, key: &Key, delta: u64) -> Result<u64, StoreError> {
    let current = get_in(connection, key)?;
    let value = current
        .as_ref()
        .map_or(0, counter_value)
        .saturating_add(delta);
    let next = match current {
        Some(item) => item.next(serde_json::json!({ "n": value })),
        None => Item::new(key.clone(), serde_json::json!({ "n": value })),
    };
    put_in(connection, &next)?;
    Ok(value)
}

/// A counter item's value: its body's `n`.
fn counter_value(item: &Item) -> u64 {
    item.body["n"].as_u64().unwrap_or(0)
}
