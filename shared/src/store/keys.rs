//! The single-table key layout. Every record key starts with its vendor (`V#{vendor}`); the
//! due-index is the one cross-vendor structure, because sweeps serve all vendors.

use crate::domain::ids::{CustomerId, OrderId, OutboxId, RefundId, VendorId};
use crate::store::Key;
use chrono::{DateTime, SecondsFormat, Utc};

pub fn vendor_pk(vendor: &VendorId) -> String {
    format!("V#{vendor}")
}

pub const VENDOR_PROFILE_SK: &str = "PROFILE";

pub fn api_key_sk(digest_hex: &str) -> String {
    format!("APIKEY#{digest_hex}")
}

/// An order; several concepts read and write it (checkout, payments, refunds, tickets).
pub fn order_key(vendor: &VendorId, id: &OrderId) -> Key {
    Key::new(vendor_pk(vendor), format!("ORDER#{id}"))
}

pub fn customer_key(vendor: &VendorId, id: &CustomerId) -> Key {
    Key::new(vendor_pk(vendor), format!("CUSTOMER#{id}"))
}

pub fn refund_key(vendor: &VendorId, id: &RefundId) -> Key {
    Key::new(vendor_pk(vendor), format!("REFUND#{id}"))
}

pub fn outbox_sk(id: &OutboxId) -> String {
    format!("OUTBOX#{id}")
}

/// A fixed-width UTC time that sorts as text the way the instants sort.
pub fn sort_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The kinds of scheduled work in the due-index; each has its own partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueQueue {
    Outbox,
    /// Tickets with a timer (R-T1–R-T7).
    Tickets,
    /// Calls to the payment provider still to make (refunds, cancellations).
    Provider,
    /// Instalments to charge or to ask for (issue 15).
    Collection,
}

impl DueQueue {
    fn name(self) -> &'static str {
        match self {
            DueQueue::Outbox => "outbox",
            DueQueue::Tickets => "tickets",
            DueQueue::Provider => "provider",
            DueQueue::Collection => "collection",
        }
    }
}

/// Partitions per queue: spreads a burst of due items over several DynamoDB partitions.
pub const DUE_SHARDS: u32 = 4;

/// FNV-1a: a stable shard for an id, the same in every process and version.
fn shard_of(id: &str) -> u32 {
    let hash = id.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % DUE_SHARDS
}

/// The due-index key of an item due at `at`: partition `DUE#{queue}#{shard}`, sort key
/// `{time}#{id}`. A sweep queries each shard for sort keys up to now, so it reads only due items;
/// an item leaves the index (it is sparse) by dropping these attributes when its work is done.
pub fn due_entry(queue: DueQueue, at: DateTime<Utc>, id: &str) -> (String, String) {
    (
        format!("DUE#{}#{}", queue.name(), shard_of(id)),
        format!("{}#{id}", sort_time(at)),
    )
}

pub fn due_partitions(queue: DueQueue) -> impl Iterator<Item = String> {
    (0..DUE_SHARDS).map(move |shard| format!("DUE#{}#{shard}", queue.name()))
}

/// The inclusive upper bound of due-index sort keys for everything due at or before `now`.
pub fn due_up_to(now: DateTime<Utc>) -> String {
    // '~' sorts after every id character, so items due exactly at `now` are included.
    format!("{}#~", sort_time(now))
}

/// A due item that failed to be worked on (its order cannot be loaded, its body is broken): the
/// failure is recorded on it and it is due again after a backoff — 5 minutes, doubling, at most
/// a day — so one poisoned item never stops the items behind it, and is never dropped.
pub fn backed_off(
    item: &crate::store::Item,
    queue: DueQueue,
    id: &str,
    error: &str,
    now: DateTime<Utc>,
) -> crate::store::Item {
    let failures = item.body["sweep_failures"].as_u64().unwrap_or(0) + 1;
    let minutes = 5i64
        .saturating_mul(1i64 << (failures - 1).min(9))
        .min(24 * 60);
    let mut body = item.body.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("sweep_failures".into(), failures.into());
        fields.insert(
            "sweep_error".into(),
            error.chars().take(500).collect::<String>().into(),
        );
    }
    let (pk, sk) = due_entry(queue, now + chrono::Duration::minutes(minutes), id);
    item.next(body).with_index(crate::store::Index::Due, pk, sk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn sort_times_sort_like_instants() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        let later = [
            t + Duration::microseconds(1),
            t + Duration::seconds(1),
            t + Duration::days(400),
        ];
        for l in later {
            assert!(sort_time(t) < sort_time(l));
            assert_eq!(sort_time(t).len(), sort_time(l).len());
        }
    }

    #[test]
    fn due_entries_at_or_before_now_are_within_the_bound() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let (_, due_now) = due_entry(DueQueue::Outbox, now, "obx_01ZZ");
        let (_, due_later) = due_entry(DueQueue::Outbox, now + Duration::microseconds(1), "obx_00");
        assert!(due_now.as_str() <= due_up_to(now).as_str());
        assert!(due_later.as_str() > due_up_to(now).as_str());
    }
}
