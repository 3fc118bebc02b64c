//! The platform's review of vendors (R-T4, R-V4): every vendor action that closed or converted a
//! customer's refund/cancel request is recorded; the platform can restrict a vendor.

use crate::domain::ids::{ReviewId, VendorId};
use crate::domain::tickets::{Party, Ticket};
use crate::domain::vendors::Vendor;
use crate::store::keys::{VENDOR_PROFILE_SK, sort_time, vendor_pk};
use crate::store::{Index, Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use crate::usecases::ports::Ports;
use crate::usecases::ports::UseCaseError;
use crate::usecases::ports::encode;
use crate::usecases::ports::retry_on_contention;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The one cross-vendor list of reviews (gsi1), newest first.
const REVIEWS_PK: &str = "REVIEWS";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    pub id: ReviewId,
    pub vendor_id: VendorId,
    pub vendor_name: String,
    pub ticket_id: crate::domain::ids::TicketId,
    pub order_id: crate::domain::ids::OrderId,
    /// `closed` or `changed_type`.
    pub action: String,
    pub from_type: crate::domain::tickets::TicketType,
    pub to_type: crate::domain::tickets::TicketType,
    pub by: Party,
    pub at: DateTime<Utc>,
}

pub fn review_write(
    ports: Ports<'_>,
    vendor: &Vendor,
    before: &Ticket,
    after: &Ticket,
    by: Party,
    now: DateTime<Utc>,
) -> Result<Write, StoreError> {
    let review = Review {
        id: ReviewId::generate(now, ports.entropy),
        vendor_id: vendor.id.clone(),
        vendor_name: vendor.name.clone(),
        ticket_id: after.id.clone(),
        order_id: after.order_id.clone(),
        action: if after.state == crate::domain::tickets::TicketState::Closed {
            "closed".into()
        } else {
            "changed_type".into()
        },
        from_type: before.ticket_type,
        to_type: after.ticket_type,
        by,
        at: now,
    };
    let key = Key::new(vendor_pk(&vendor.id), format!("REVIEW#{}", review.id));
    let item = Item::new(key.clone(), encode(&key, &review)?).with_index(
        Index::Gsi1,
        REVIEWS_PK,
        format!("{}#{}", sort_time(now), review.id),
    );
    Ok(Write::create(item))
}

/// How many reviews there are across vendors: added to in each review's transaction.
fn count_key() -> Key {
    Key::new(REVIEWS_PK, "COUNT#reviews")
}

/// The write of a review's transaction that counts it (issue 16, item 10: the real `total`).
pub fn count_write() -> Write {
    Write::Add {
        key: count_key(),
        delta: 1,
    }
}

/// `GET /admin/reviews`: newest first, with a cursor, and how many there are in all.
pub async fn list(
    store: &dyn ItemStore,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<Review>, Option<String>, u64), UseCaseError> {
    let query = Query::index(Index::Gsi1, REVIEWS_PK, SortRange::All)
        .limit(limit)
        .after(cursor)
        .newest_first();
    let page = store.query(&query).await?;
    let reviews = page
        .items
        .iter()
        .map(Item::decode)
        .collect::<Result<_, _>>()?;
    Ok((
        reviews,
        page.next_cursor,
        store.counter(&count_key()).await?,
    ))
}

/// `POST /admin/vendors/{id}/restrict` (R-V4): restricted or not, effective for the next ticket action.
pub async fn restrict(
    store: &dyn ItemStore,
    vendor: &VendorId,
    restricted: bool,
) -> Result<Vendor, UseCaseError> {
    retry_on_contention(|| async {
        let key = Key::new(vendor_pk(vendor), VENDOR_PROFILE_SK);
        let item = store.get(&key).await?.ok_or(UseCaseError::NotFound)?;
        let mut profile: Vendor = item.decode()?;
        profile.restricted = restricted;
        store
            .transact(vec![Write::update(item.next(encode(&key, &profile)?))])
            .await?;
        Ok(profile)
    })
    .await
}
