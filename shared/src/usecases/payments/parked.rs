//! Events that come before what they refer to (R-P1, issue 14 defect 2): Stripe sends a renewal's
//! `charge.succeeded` before its `invoice.paid`, and a dashboard refund or a dispute may beat the
//! checkout event. Such an event is not recorded as handled (that would make its content lost
//! for good); it is parked under each provider id it names, answered 200 (on the platform's one
//! account an event nobody can place may not be ours, and days of errors make Stripe disable the
//! endpoint), and applied when an event that places one of those ids is applied. Parked items
//! expire after [`PARKED_FOR`]; an expired one is never applied.

use super::{Provider, ProviderEvent};
use crate::store::{Condition, Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use chrono::{DateTime, Utc};

/// How long a parked event waits for what it refers to: longer than Stripe retries (3 days) and
/// than a bank-debit payment takes to confirm.
pub const PARKED_FOR: chrono::Duration = chrono::Duration::days(14);

/// The most parked events one provider id holds (a bounded read).
const MAX_PARKED_PER_ID: u32 = 25;

fn partition(provider: Provider, id: &str) -> String {
    format!("PARKED#{}#{id}", provider.as_str())
}

fn parked_key(provider: Provider, id: &str, event_id: &str) -> Key {
    Key::new(partition(provider, id), format!("EVENT#{event_id}"))
}

/// Parks `event` under every provider id it names; parking twice overwrites.
pub async fn park(
    store: &dyn ItemStore,
    event: &ProviderEvent,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let ids = event.ids.all();
    if ids.is_empty() {
        return Ok(false);
    }
    let body = serde_json::to_value(event).map_err(|source| StoreError::Malformed {
        key: parked_key(event.provider, &ids[0], &event.id),
        source,
    })?;
    let writes = ids
        .iter()
        .map(|id| {
            let mut item = Item::new(
                parked_key(event.provider, id, &event.id),
                serde_json::json!({ "event": body, "parked_at": now }),
            );
            item.expires_at = Some((now + PARKED_FOR).timestamp());
            Write::Put {
                item,
                condition: Condition::Always,
            }
        })
        .collect();
    store.transact(writes).await?;
    Ok(true)
}

/// The unexpired events parked under any of `ids`, each once.
pub async fn parked_under(
    store: &dyn ItemStore,
    provider: Provider,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<ProviderEvent>, StoreError> {
    let mut found: Vec<ProviderEvent> = Vec::new();
    for id in ids {
        let query = Query::table(partition(provider, id), SortRange::Prefix("EVENT#".into()))
            .limit(MAX_PARKED_PER_ID);
        for item in store.query(&query).await?.items {
            // Expired but not yet removed by the table's TTL: removed now, so the kept ones
            // are what a bounded read finds.
            if item.expires_at.is_some_and(|at| at <= now.timestamp()) {
                store.delete(&item.key, Condition::Always).await?;
                continue;
            }
            let Ok(event) = serde_json::from_value::<ProviderEvent>(item.body["event"].clone())
            else {
                tracing::warn!(key = %item.key, "a parked event no longer reads; left to expire");
                continue;
            };
            if !found.iter().any(|known| known.id == event.id) {
                found.push(event);
            }
        }
    }
    Ok(found)
}

/// Removes a parked event once it was applied (or found a duplicate).
pub async fn unpark(store: &dyn ItemStore, event: &ProviderEvent) -> Result<(), StoreError> {
    for id in event.ids.all() {
        store
            .delete(
                &parked_key(event.provider, &id, &event.id),
                Condition::Always,
            )
            .await?;
    }
    Ok(())
}
