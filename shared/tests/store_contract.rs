//! The item-store contract: one suite, run against the embedded store and against DynamoDB
//! (moto). Each case is written once in `cases` and instantiated per adapter below.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sellerdesk::store::counting::CountingStore;
use sellerdesk::store::keys::{DueQueue, due_entry, due_partitions, due_up_to};
use sellerdesk::store::{
    Condition, Index, Item, ItemStore, Key, Query, SortRange, StoreError, Write,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

mod cases {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn item(pk: &str, sk: &str, n: i64) -> Item {
        Item::new(Key::new(pk, sk), json!({ "n": n }))
    }

    // Issue 14, defect 10: counters that draw order numbers under load are atomic additions
    pub async fn atomic_adds_answer_each_new_value(store: Arc<dyn ItemStore>) {
        // given a counter never added to
        let key = Key::new("V#m", "COUNT#order-numbers");
        assert_eq!(store.counter(&key).await.unwrap(), 0);
        // when it is added to
        assert_eq!(store.add(&key, 1).await.unwrap(), 1);
        assert_eq!(store.add(&key, 2).await.unwrap(), 3);
        // then it reads the sum, and stays an item like any other
        assert_eq!(store.counter(&key).await.unwrap(), 3);
        assert!(store.get(&key).await.unwrap().is_some());
        assert_eq!(
            store
                .counter(&Key::new("V#m", "COUNT#other"))
                .await
                .unwrap(),
            0
        );
        // and concurrent adds each see a value of their own
        let adds: Vec<_> = (0..8)
            .map(|_| {
                let (store, key) = (Arc::clone(&store), key.clone());
                tokio::spawn(async move { store.add(&key, 1).await.unwrap() })
            })
            .collect();
        let mut seen = BTreeSet::new();
        for add in adds {
            seen.insert(add.await.unwrap());
        }
        assert_eq!(seen, (4..=11).collect::<BTreeSet<u64>>());
        assert_eq!(store.counter(&key).await.unwrap(), 11);
        // and an addition in a transaction counts only when the transaction commits
        let count = Write::Add {
            key: key.clone(),
            delta: 1,
        };
        let taken = item("V#m", "ORDER#1", 1);
        store
            .transact(vec![Write::create(taken.clone()), count.clone()])
            .await
            .unwrap();
        assert_eq!(store.counter(&key).await.unwrap(), 12);
        let failed = store.transact(vec![Write::create(taken), count]).await;
        assert!(
            matches!(failed, Err(StoreError::ConditionFailed { index: 0, .. })),
            "{failed:?}"
        );
        assert_eq!(store.counter(&key).await.unwrap(), 12);
    }

    pub async fn several_items_in_one_read(store: Arc<dyn ItemStore>) {
        // given three items in two partitions
        let items = [
            item("V#m", "ORDER#1", 1),
            item("V#m", "CUSTOMER#1", 2).with_attr("gsi1pk", "X"),
            item("V#n", "ORDER#9", 3),
        ];
        for it in &items {
            store.put(it.clone(), Condition::Absent).await.unwrap();
        }
        // when read together with a key that is missing, in a mixed order
        let keys = [
            items[2].key.clone(),
            Key::new("V#m", "ORDER#404"),
            items[0].key.clone(),
            items[1].key.clone(),
        ];
        let found = store.get_many(&keys).await.unwrap();
        // then each answer stands where its key stood, exactly as stored
        assert_eq!(
            found,
            vec![
                Some(items[2].clone()),
                None,
                Some(items[0].clone()),
                Some(items[1].clone())
            ]
        );
        // a key twice is refused, as BatchGetItem refuses it
        let twice = store
            .get_many(&[items[0].key.clone(), items[0].key.clone()])
            .await;
        assert!(matches!(twice, Err(StoreError::InvalidWrite(_))));
        assert_eq!(store.get_many(&[]).await.unwrap(), vec![]);
    }

    // Issue 12, §3: an item DynamoDB would refuse (over 400 KB) is refused by both adapters,
    // alone or in a transaction, and nothing is written.
    pub async fn items_over_400_kb_are_refused(store: Arc<dyn ItemStore>) {
        let big = |n: usize, size: usize| {
            Item::new(
                Key::new("V#ven_big", format!("BIG#{n}")),
                json!({ "text": "x".repeat(size) }),
            )
        };
        store
            .put(big(1, 390 * 1024), Condition::Absent)
            .await
            .unwrap();
        let refused = store.put(big(2, 401 * 1024), Condition::Absent).await;
        assert!(
            matches!(refused, Err(StoreError::InvalidWrite(_))),
            "{refused:?}"
        );
        let small = Item::new(Key::new("V#ven_big", "SMALL"), json!({"n": 1}));
        let refused = store
            .transact(vec![
                Write::create(small),
                Write::create(big(3, 401 * 1024)),
            ])
            .await;
        assert!(
            matches!(refused, Err(StoreError::InvalidWrite(_))),
            "{refused:?}"
        );
        for sk in ["BIG#2", "BIG#3", "SMALL"] {
            assert!(
                store
                    .get(&Key::new("V#ven_big", sk))
                    .await
                    .unwrap()
                    .is_none(),
                "{sk}"
            );
        }
    }

    pub async fn put_get_and_conditions(store: Arc<dyn ItemStore>) {
        // given an item created with Absent
        let first = item("V#a", "ORDER#1", 1).with_attr("status", "open");
        store.put(first.clone(), Condition::Absent).await.unwrap();
        // then it reads back exactly
        assert_eq!(store.get(&first.key).await.unwrap(), Some(first.clone()));
        // when created again, the condition fails and nothing changes
        let again = store
            .put(item("V#a", "ORDER#1", 99), Condition::Absent)
            .await;
        assert!(matches!(
            again,
            Err(StoreError::ConditionFailed { index: 0, .. })
        ));
        assert_eq!(
            store.get(&first.key).await.unwrap().unwrap().body,
            json!({"n": 1})
        );
        // a version-checked update succeeds once, then the old version is stale
        let next = first.next(json!({"n": 2}));
        store
            .put(next.clone(), Condition::VersionIs(1))
            .await
            .unwrap();
        let stale = store
            .put(first.next(json!({"n": 3})), Condition::VersionIs(1))
            .await;
        assert!(matches!(stale, Err(StoreError::ConditionFailed { .. })));
        // attribute conditions see top-level attributes
        let wrong = Condition::AttrEquals {
            name: "status".into(),
            value: "closed".into(),
        };
        assert!(store.delete(&first.key, wrong).await.is_err());
        let right = Condition::AttrEquals {
            name: "status".into(),
            value: "open".into(),
        };
        store.delete(&first.key, right).await.unwrap();
        assert_eq!(store.get(&first.key).await.unwrap(), None);
        assert!(store.delete(&first.key, Condition::Exists).await.is_err());
        // reserved attribute names are refused by both adapters
        let reserved = item("V#a", "X", 0).with_attr("version", "7");
        assert!(matches!(
            store.put(reserved, Condition::Always).await,
            Err(StoreError::InvalidWrite(_))
        ));
    }

    pub async fn failed_condition_in_a_transaction_writes_nothing(store: Arc<dyn ItemStore>) {
        // given an existing item at version 1
        let existing = item("V#a", "BAL#EUR", 0);
        store
            .put(existing.clone(), Condition::Absent)
            .await
            .unwrap();
        // when a transaction of two creates, an update and a failing check commits
        let writes = vec![
            Write::create(item("V#a", "LEDGER#1", 1)),
            Write::update(existing.next(json!({"n": 10}))),
            Write::create(item("V#a", "OUTBOX#1", 1)),
            Write::Check {
                key: Key::new("V#a", "MISSING"),
                condition: Condition::Exists,
            },
        ];
        let result = store.transact(writes).await;
        // then the failing write is named and nothing was written
        match result {
            Err(StoreError::ConditionFailed { index, key }) => {
                assert_eq!(index, 3);
                assert_eq!(key, Key::new("V#a", "MISSING"));
            }
            other => panic!("expected ConditionFailed, got {other:?}"),
        }
        assert_eq!(store.get(&Key::new("V#a", "LEDGER#1")).await.unwrap(), None);
        assert_eq!(store.get(&Key::new("V#a", "OUTBOX#1")).await.unwrap(), None);
        assert_eq!(store.get(&existing.key).await.unwrap().unwrap().version, 1);
        // and the same transaction without the failing check writes everything
        let writes = vec![
            Write::create(item("V#a", "LEDGER#1", 1)),
            Write::update(existing.next(json!({"n": 10}))),
            Write::Delete {
                key: Key::new("V#a", "NOTHING"),
                condition: Condition::Always,
            },
        ];
        store.transact(writes).await.unwrap();
        assert!(
            store
                .get(&Key::new("V#a", "LEDGER#1"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.get(&existing.key).await.unwrap().unwrap().version, 2);
        // a transaction writing one key twice is refused before it reaches the backend
        let twice = vec![
            Write::create(item("V#a", "K", 1)),
            Write::create(item("V#a", "K", 2)),
        ];
        assert!(matches!(
            store.transact(twice).await,
            Err(StoreError::InvalidWrite(_))
        ));
    }

    pub async fn concurrent_version_checked_updates_have_one_winner(store: Arc<dyn ItemStore>) {
        // given one item at version 1
        let base = item("V#a", "ORDER#race", 0);
        store.put(base.clone(), Condition::Absent).await.unwrap();
        // when 8 writers update from version 1 at once, in transactions with a second item each
        let tasks: Vec<_> = (0..8)
            .map(|writer| {
                let store = Arc::clone(&store);
                let next = base.next(json!({ "n": writer }));
                tokio::spawn(async move {
                    store
                        .transact(vec![
                            Write::update(next),
                            Write::create(item("V#a", &format!("REFUND#{writer}"), writer)),
                        ])
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => winners += 1,
                Err(error) => assert!(error.is_contention(), "{error:?}"),
            }
        }
        // then exactly one won, and only its side item exists
        assert_eq!(winners, 1);
        let stored = store.get(&base.key).await.unwrap().unwrap();
        assert_eq!(stored.version, 2);
        let page = store
            .query(&Query::table("V#a", SortRange::Prefix("REFUND#".into())))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].body, stored.body);
    }

    async fn read_all(store: &Arc<dyn ItemStore>, query: Query) -> Vec<Key> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.query(&query.clone().after(cursor)).await.unwrap();
            assert!(page.items.len() <= query.limit as usize);
            keys.extend(page.items.into_iter().map(|i| i.key));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return keys,
            }
        }
    }

    pub async fn cursor_pagination_returns_every_item_once(store: Arc<dyn ItemStore>) {
        // given 53 items in a partition, in 3 index groups with equal index sort keys
        let mut writes = Vec::new();
        for n in 0..53 {
            let it = item("V#p", &format!("ORDER#{n:03}"), n).with_index(
                Index::Gsi1,
                format!("V#p#STATUS#{}", n % 3),
                "same",
            );
            writes.push(Write::create(it));
        }
        for chunk in writes.chunks(25) {
            store.transact(chunk.to_vec()).await.unwrap();
        }
        store
            .put(item("V#other", "ORDER#000", 0), Condition::Absent)
            .await
            .unwrap();
        // when read in pages of 7, forwards and backwards
        let forward = read_all(
            &store,
            Query::table("V#p", SortRange::Prefix("ORDER#".into())).limit(7),
        )
        .await;
        let backward = read_all(
            &store,
            Query::table("V#p", SortRange::All).limit(7).newest_first(),
        )
        .await;
        // then every item comes once, in order
        let expected: Vec<Key> = (0..53)
            .map(|n| Key::new("V#p", format!("ORDER#{n:03}")))
            .collect();
        assert_eq!(forward, expected);
        assert_eq!(backward, expected.iter().rev().cloned().collect::<Vec<_>>());
        // and on the index, with ties on the index sort key, each item still comes once
        let group = read_all(
            &store,
            Query::index(Index::Gsi1, "V#p#STATUS#1", SortRange::All).limit(4),
        )
        .await;
        let unique: BTreeSet<_> = group.iter().cloned().collect();
        assert_eq!(group.len(), 18);
        assert_eq!(unique.len(), 18);
        // ranges
        let between = read_all(
            &store,
            Query::table(
                "V#p",
                SortRange::Between("ORDER#010".into(), "ORDER#012".into()),
            ),
        )
        .await;
        assert_eq!(between.len(), 3);
        let up_to = read_all(
            &store,
            Query::table("V#p", SortRange::UpTo("ORDER#004".into())),
        )
        .await;
        assert_eq!(up_to.len(), 5);
        let from = read_all(
            &store,
            Query::table("V#p", SortRange::From("ORDER#050".into())),
        )
        .await;
        assert_eq!(from.len(), 3);
        // a forged cursor is refused
        let bad = store
            .query(&Query::table("V#p", SortRange::All).after(Some("%%%".into())))
            .await;
        assert!(matches!(bad, Err(StoreError::InvalidCursor)));
    }

    // Issue 11, §2: a cursor is good only for the query that gave it; another one's, or a
    // tampered one, is InvalidCursor on both adapters (DynamoDB refused such start keys with a
    // 500, the embedded store read on from wherever it pointed).
    pub async fn cursors_of_other_queries_are_refused(store: Arc<dyn ItemStore>) {
        for partition in ["V#a", "V#b"] {
            for n in 0..3 {
                let key = Key::new(partition, format!("ORDER#{n}"));
                let item = Item::new(key, json!({"n": n})).with_index(
                    Index::Gsi1,
                    format!("{partition}#G"),
                    format!("{n}"),
                );
                store.put(item, Condition::Absent).await.unwrap();
            }
        }
        let first = store
            .query(&Query::table("V#a", SortRange::All).limit(1))
            .await
            .unwrap();
        let cursor = first.next_cursor.expect("a next page");
        // the cursor reads on for its own query
        let next = store
            .query(
                &Query::table("V#a", SortRange::All)
                    .limit(1)
                    .after(Some(cursor.clone())),
            )
            .await
            .unwrap();
        assert_eq!(next.items[0].key.sk, "ORDER#1");
        // and is refused by another partition's query and by an index query
        for other in [
            Query::table("V#b", SortRange::All),
            Query::index(Index::Gsi1, "V#a#G", SortRange::All),
        ] {
            let refused = store.query(&other.after(Some(cursor.clone()))).await;
            assert!(
                matches!(refused, Err(StoreError::InvalidCursor)),
                "{refused:?}"
            );
        }
        // and a cursor whose position was rewritten to another partition is refused
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut decoded: serde_json::Value =
            serde_json::from_slice(&engine.decode(&cursor).unwrap()).unwrap();
        decoded["after"]["pk"] = json!("V#b");
        let tampered = engine.encode(serde_json::to_vec(&decoded).unwrap());
        let refused = store
            .query(&Query::table("V#a", SortRange::All).after(Some(tampered)))
            .await;
        assert!(
            matches!(refused, Err(StoreError::InvalidCursor)),
            "{refused:?}"
        );
        // and an index query's cursor reads on for that index query
        let by_index = store
            .query(&Query::index(Index::Gsi1, "V#b#G", SortRange::All).limit(1))
            .await
            .unwrap();
        let index_cursor = by_index.next_cursor.expect("a next page");
        let next = store
            .query(
                &Query::index(Index::Gsi1, "V#b#G", SortRange::All)
                    .limit(1)
                    .after(Some(index_cursor)),
            )
            .await
            .unwrap();
        assert_eq!(next.items.len(), 1);
    }

    pub async fn due_index_reads_only_due_items(store: Arc<dyn ItemStore>, idle: usize) {
        // given `idle` items due tomorrow and 10 due now, in the same due partitions
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let mut items = Vec::new();
        for n in 0..idle + 10 {
            let id = format!("obx_{n:08}");
            let at = if n < idle {
                now + Duration::days(1)
            } else {
                now - Duration::minutes(n as i64)
            };
            let (due_pk, due_sk) = due_entry(DueQueue::Outbox, at, &id);
            let it = item("V#d", &format!("OUTBOX#{id}"), n as i64).with_index(
                Index::Due,
                due_pk,
                due_sk,
            );
            items.push(it);
        }
        write_batches(items, &store).await;
        // when the sweep reads every due partition up to now, through a counting store
        let counting = CountingStore::new(Arc::clone(&store));
        let mut due = Vec::new();
        for partition in due_partitions(DueQueue::Outbox) {
            let query =
                Query::index(Index::Due, partition, SortRange::UpTo(due_up_to(now))).limit(100);
            let page = counting.query(&query).await.unwrap();
            assert_eq!(page.next_cursor.is_some(), page.items.len() == 100);
            due.extend(page.items.into_iter().map(|i| i.key.sk));
        }
        // then it found exactly the 10 due items and read no others
        let counts = counting.counts();
        println!(
            "due-index: {idle} idle + 10 due -> items read {}",
            counts.items_read
        );
        assert_eq!(due.len(), 10);
        assert_eq!(counts.items_read, 10);
        assert_eq!(
            counts.queries,
            u64::from(sellerdesk::store::keys::DUE_SHARDS)
        );
    }

    /// Loads items in bulk (BatchWriteItem on DynamoDB), 1 000 per call.
    async fn write_batches(items: Vec<Item>, store: &Arc<dyn ItemStore>) {
        for chunk in items.chunks(1000) {
            store.put_batch(chunk.to_vec()).await.unwrap();
        }
    }
}

/// The number of idle items of the due-index case (the figure).
const IDLE_ITEMS: usize = 100_000;

macro_rules! contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn items_over_400_kb_are_refused() {
                let Some(store) = $make else { return };
                cases::items_over_400_kb_are_refused(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn put_get_and_conditions() {
                let Some(store) = $make else { return };
                cases::put_get_and_conditions(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn atomic_adds_answer_each_new_value() {
                let Some(store) = $make else { return };
                cases::atomic_adds_answer_each_new_value(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn several_items_in_one_read() {
                let Some(store) = $make else { return };
                cases::several_items_in_one_read(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn failed_condition_in_a_transaction_writes_nothing() {
                let Some(store) = $make else { return };
                cases::failed_condition_in_a_transaction_writes_nothing(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_version_checked_updates_have_one_winner() {
                let Some(store) = $make else { return };
                cases::concurrent_version_checked_updates_have_one_winner(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn cursor_pagination_returns_every_item_once() {
                let Some(store) = $make else { return };
                cases::cursor_pagination_returns_every_item_once(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn cursors_of_other_queries_are_refused() {
                let Some(store) = $make else { return };
                cases::cursors_of_other_queries_are_refused(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn due_index_reads_only_due_items() {
                let Some(store) = $make else { return };
                cases::due_index_reads_only_due_items(store, IDLE_ITEMS).await;
            }
        }
    };
}

contract!(embedded, Some(common::embedded()));
contract!(dynamodb, common::dynamodb().await);
