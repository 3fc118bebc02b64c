//! The transaction history of an order (R-O7): every payment, failed attempt and manual payment,
//! written in the same transaction as its effect, read back by one partition query.

use crate::domain::ids::{Entropy, OrderId, VendorId};
use crate::domain::money::Money;
use crate::store::keys::{sort_time, vendor_pk};
use crate::store::{Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use crate::usecases::ports::UseCaseError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    Payment,
    PaymentFailed,
    ManualPayment,
    Refund,
    /// Money in another currency than the order's: recorded and credited, not paying it.
    OtherCurrencyPayment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transaction {
    pub kind: TransactionKind,
    pub amount: Money,
    /// `stripe`, `manual` …
    pub provider: String,
    /// The provider's id, or the vendor's note for a manual payment.
    pub reference: String,
    pub at: DateTime<Utc>,
}

fn prefix(order: &OrderId) -> String {
    format!("TX#{order}#")
}

/// The write that records one transaction of an order.
pub fn record(
    vendor: &VendorId,
    order: &OrderId,
    transaction: &Transaction,
    entropy: &dyn Entropy,
) -> Result<Write, StoreError> {
    let mut nonce = [0u8; 6];
    entropy.fill(&mut nonce);
    let key = Key::new(
        vendor_pk(vendor),
        format!(
            "{}{}#{}",
            prefix(order),
            sort_time(transaction.at),
            hex::encode(nonce)
        ),
    );
    let body = serde_json::to_value(transaction).map_err(|source| StoreError::Malformed {
        key: key.clone(),
        source,
    })?;
    Ok(Write::create(Item::new(key, body)))
}

pub async fn history(
    store: &dyn ItemStore,
    vendor: &VendorId,
    order: &OrderId,
) -> Result<Vec<Transaction>, UseCaseError> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::table(vendor_pk(vendor), SortRange::Prefix(prefix(order)))
            .limit(200)
            .after(cursor);
        let page = store.query(&query).await?;
        for item in &page.items {
            all.push(item.decode()?);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}
