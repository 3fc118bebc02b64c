//! The collection tasks of an instalment plan (issue 15, defect 1): one per later rate, written
//! in the transaction that applies the plan's first payment. `usecases::payments::collection`
//! runs them when they are due.

use crate::domain::ids::{OrderId, VendorId};
use crate::domain::orders::{Order, ScheduleItem};
use crate::domain::vendors::Vendor;
use crate::store::keys::{DueQueue, due_entry, vendor_pk};
use crate::store::{Index, Item, Key, StoreError, Write};
use crate::usecases::ports::encode;
use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stage {
    /// `request_days_before` before the due date: the early request, where nothing is saved.
    Announce,
    /// The due time: charged to the saved method, else requested by e-mail.
    Collect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CollectionTask {
    pub(crate) vendor_id: VendorId,
    pub(crate) order_id: OrderId,
    pub(crate) seq: u32,
    pub(crate) due_at: DateTime<Utc>,
    pub(crate) stage: Stage,
    /// The provider's payment once created: every later run confirms this one.
    pub(crate) payment: Option<String>,
    /// What that payment charges: a retry whose rate changed meanwhile does not confirm it.
    #[serde(default)]
    pub(crate) payment_amount: Option<crate::domain::money::Money>,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) given_up: bool,
}

impl CollectionTask {
    /// The task's id: its due-index entry and the provider's idempotency key.
    pub(crate) fn id(&self) -> String {
        format!("collect-{}-{}", self.order_id, self.seq)
    }
}

pub(crate) fn task_key(vendor: &VendorId, order: &OrderId, seq: u32) -> Key {
    Key::new(vendor_pk(vendor), format!("COLLECTION#{order}#{seq:03}"))
}

pub(crate) fn due(item: Item, task: &CollectionTask, at: DateTime<Utc>) -> Item {
    let (pk, sk) = due_entry(DueQueue::Collection, at, &task.id());
    item.with_index(Index::Due, pk, sk)
}

/// `request_days_before` local calendar days before `due_at` (R-M3: the same wall time).
fn days_before(due_at: DateTime<Utc>, days: u32, zone: chrono_tz::Tz) -> DateTime<Utc> {
    let local = due_at.with_timezone(&zone).naive_local();
    local
        .checked_sub_days(Days::new(u64::from(days)))
        .map_or(due_at, |earlier| {
            crate::domain::calendar::resolve_local(earlier, zone)
        })
}

/// The collection tasks of the order's later instalments that have none yet, as writes of the
/// transaction that applies its payment (`order` remembers them; write it in the same one).
pub fn schedule(
    order: &mut Order,
    vendor: &Vendor,
    now: DateTime<Utc>,
) -> Result<Vec<Write>, StoreError> {
    let zone = order.calendar();
    order
        .instalments_to_collect()
        .into_iter()
        .map(|item: ScheduleItem| {
            let task = CollectionTask {
                vendor_id: vendor.id.clone(),
                order_id: order.id.clone(),
                seq: item.seq,
                due_at: item.due_at,
                stage: Stage::Announce,
                payment: None,
                payment_amount: None,
                attempts: 0,
                last_error: None,
                given_up: false,
            };
            let at = days_before(item.due_at, vendor.request_days_before, zone).max(now);
            let key = task_key(&vendor.id, &order.id, item.seq);
            let body = encode(&key, &task)?;
            Ok(Write::create(due(Item::new(key, body), &task, at)))
        })
        .collect()
}
