//! Customers as the vendor sees them (R-D3 card) and blocking (R-C6): blocking one also blocks
//! every customer of the vendor sharing a payment fingerprint with them; a blocked e-mail cannot
//! check out; unblocking lifts the block and the blocks made through it.

use crate::domain::customers::{Block, Customer, blocked_email_key};
use crate::domain::ids::{CustomerId, Entropy, VendorId};
use crate::domain::notifications::{DomainEvent, EventType, Message};
use crate::outbox::enqueue;
use crate::store::keys::{customer_key, vendor_pk};
use crate::store::{Condition, Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use crate::usecases::counters::Counter;
use crate::usecases::listing::{self, Listing};
use crate::usecases::ports::{UseCaseError, retry_on_contention};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeMap;

/// The index item that finds customers by a payment fingerprint.
pub fn fingerprint_key(vendor: &VendorId, fingerprint: &str, customer: &CustomerId) -> Key {
    Key::new(
        vendor_pk(vendor),
        format!("FPRINT#{fingerprint}#{customer}"),
    )
}

pub async fn get(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &CustomerId,
) -> Result<Customer, UseCaseError> {
    Ok(store
        .get(&customer_key(vendor, id))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?)
}

/// The customer, and every other customer sharing one of its fingerprints, with their items.
async fn with_shared_fingerprints(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &CustomerId,
) -> Result<BTreeMap<CustomerId, Item>, UseCaseError> {
    let first = store
        .get(&customer_key(vendor, id))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    let customer: Customer = first.decode()?;
    let mut found = BTreeMap::from([(id.clone(), first)]);
    for fingerprint in &customer.fingerprints {
        let query = Query::table(
            vendor_pk(vendor),
            SortRange::Prefix(format!("FPRINT#{fingerprint}#")),
        )
        .limit(100);
        for hit in store.query(&query).await?.items {
            let Some(other) = hit.body["customer_id"]
                .as_str()
                .and_then(|c| CustomerId::parse(c).ok())
            else {
                continue;
            };
            if !found.contains_key(&other)
                && let Some(item) = store.get(&customer_key(vendor, &other)).await?
            {
                found.insert(other, item);
            }
        }
    }
    Ok(found)
}

/// How many customers an unblock looks through along shared cards.
const MOST_CONNECTED: usize = 200;

/// The customer and every customer reached from it through shared cards, hop by hop (at most
/// `MOST_CONNECTED`): a block through `id` may have reached one sharing a card only with another
/// of them (a payment with a blocked card, issue 16, item 13).
async fn connected_by_fingerprints(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &CustomerId,
) -> Result<BTreeMap<CustomerId, Item>, UseCaseError> {
    let mut found = with_shared_fingerprints(store, vendor, id).await?;
    let mut explored = std::collections::BTreeSet::from([id.clone()]);
    while found.len() < MOST_CONNECTED {
        let Some(next) = found.keys().find(|c| !explored.contains(*c)).cloned() else {
            break;
        };
        explored.insert(next.clone());
        for (other, item) in with_shared_fingerprints(store, vendor, &next).await? {
            found.entry(other).or_insert(item);
        }
    }
    Ok(found)
}

fn encode(item: &Item, customer: &Customer) -> Result<Item, StoreError> {
    let body = serde_json::to_value(customer).map_err(|source| StoreError::Malformed {
        key: item.key.clone(),
        source,
    })?;
    Ok(item.next(body))
}

pub async fn block(
    store: &dyn ItemStore,
    entropy: &dyn Entropy,
    vendor: &VendorId,
    id: &CustomerId,
    now: DateTime<Utc>,
) -> Result<Customer, UseCaseError> {
    retry_on_contention(|| async {
        let mut writes = Vec::new();
        let mut blocked_ids = Vec::new();
        for (other, item) in with_shared_fingerprints(store, vendor, id).await? {
            let mut customer: Customer = item.decode()?;
            // Each block is a reason of its own (issue 16, item 13): one made through a
            // customer already blocked another way is kept beside that one.
            let newly = customer.blocked.is_none();
            let block = customer.blocked.get_or_insert_with(|| Block {
                at: now,
                direct: false,
                via: Default::default(),
            });
            let added = if &other == id {
                !std::mem::replace(&mut block.direct, true)
            } else {
                block.via.insert(id.clone())
            };
            if !added {
                continue;
            }
            if let Some(email_key) = blocked_email_key(&customer.email) {
                writes.push(Write::Put {
                    item: Item::new(
                        Key::new(vendor_pk(vendor), email_key),
                        json!({ "customer_id": other }),
                    ),
                    condition: Condition::Always,
                });
            }
            writes.push(Write::update(encode(&item, &customer)?));
            if newly {
                blocked_ids.push(other);
            }
        }
        if !blocked_ids.is_empty() {
            let event = DomainEvent {
                event_type: EventType::CustomerBlocked,
                detail: json!({ "customer_ids": blocked_ids }),
            };
            let to_store = |source| StoreError::Malformed {
                key: customer_key(vendor, id),
                source,
            };
            writes.push(enqueue(vendor, Message::Event(event), now, entropy).map_err(to_store)?);
        }
        if !writes.is_empty() {
            store.transact(writes).await?;
        }
        get(store, vendor, id).await
    })
    .await
}

pub async fn unblock(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &CustomerId,
) -> Result<Customer, UseCaseError> {
    retry_on_contention(|| async {
        let mut writes = Vec::new();
        for (other, item) in connected_by_fingerprints(store, vendor, id).await? {
            let mut customer: Customer = item.decode()?;
            let Some(block) = customer.blocked.as_mut() else {
                continue;
            };
            // The vendor's unblock of this customer lifts all of its reasons; of another, only
            // the reason this one gave it.
            let changed = if &other == id {
                customer.blocked = None;
                true
            } else {
                let removed = block.via.remove(id);
                if !block.holds() {
                    customer.blocked = None;
                }
                removed
            };
            if !changed {
                continue;
            }
            if customer.blocked.is_some() {
                writes.push(Write::update(encode(&item, &customer)?));
                continue;
            }
            if let Some(email_key) = blocked_email_key(&customer.email) {
                writes.push(Write::Delete {
                    key: Key::new(vendor_pk(vendor), email_key),
                    condition: Condition::Always,
                });
            }
            writes.push(Write::update(encode(&item, &customer)?));
        }
        if !writes.is_empty() {
            store.transact(writes).await?;
        }
        get(store, vendor, id).await
    })
    .await
}

/// The customers whose blocks reach a customer paying with `fingerprint` (R-C6; issue 16, item
/// 13): the roots of every other blocked customer that used the same card.
pub async fn blocked_roots_sharing(
    store: &dyn ItemStore,
    vendor: &VendorId,
    fingerprint: &str,
    payer: &CustomerId,
) -> Result<std::collections::BTreeSet<CustomerId>, UseCaseError> {
    let query = Query::table(
        vendor_pk(vendor),
        SortRange::Prefix(format!("FPRINT#{fingerprint}#")),
    )
    .limit(100);
    let keys: Vec<Key> = store
        .query(&query)
        .await?
        .items
        .iter()
        .filter_map(|hit| hit.body["customer_id"].as_str())
        .filter_map(|id| CustomerId::parse(id).ok())
        .filter(|id| id != payer)
        .map(|id| customer_key(vendor, &id))
        .collect();
    let mut roots = std::collections::BTreeSet::new();
    for chunk in keys.chunks(25) {
        for item in store.get_many(chunk).await?.into_iter().flatten() {
            let other: Customer = item.decode()?;
            if let Some(block) = &other.blocked {
                roots.extend(block.roots(&other.id));
            }
        }
    }
    Ok(roots)
}

/// R-C6 at checkout: refused when the e-mail belongs to a blocked customer.
pub async fn email_is_blocked(
    store: &dyn ItemStore,
    vendor: &VendorId,
    email: &str,
) -> Result<bool, UseCaseError> {
    let Some(key) = blocked_email_key(email) else {
        return Ok(false);
    };
    Ok(store
        .get(&Key::new(vendor_pk(vendor), key))
        .await?
        .is_some())
}

/// `GET /api/customers?q=` (R-D3): newest first, with cursor and total; `q` keeps the customers
/// whose e-mail or name contains it (case-insensitive; issue 16, item 14), counted in `total`.
pub async fn list(
    store: &dyn ItemStore,
    vendor: &VendorId,
    q: Option<&str>,
    limit: u32,
    cursor: Option<String>,
) -> Result<Listing<Customer>, UseCaseError> {
    use crate::domain::customers::search_key;
    if let Some(q) = q.map(|q| search_key(q.trim())).filter(|q| !q.is_empty()) {
        return listing::list_matching(
            store,
            vendor,
            "CUSTOMER#",
            limit,
            cursor,
            |c: &Customer| {
                search_key(&c.email).contains(&q)
                    || search_key(&format!("{} {}", c.first_name, c.last_name)).contains(&q)
            },
        )
        .await;
    }
    listing::list(
        store,
        vendor,
        "CUSTOMER#",
        Counter::Customers,
        limit,
        cursor,
    )
    .await
}
