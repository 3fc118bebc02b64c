//! What a customer may use (R-O9): the access each paid line of their orders grants.

use crate::domain::ids::{CustomerId, OrderId, ProductId, VendorId};
use crate::domain::orders::OrderStatus;
use crate::domain::orders::access::Access;
use crate::store::ItemStore;
use crate::usecases::customers;
use crate::usecases::orders::{OrderFilter, list};
use crate::usecases::ports::UseCaseError;
use chrono::{DateTime, Utc};

/// One product the customer has (or had) access to through one order (R-O9).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Entitlement {
    pub product_id: ProductId,
    pub name: String,
    pub order_id: OrderId,
    pub order_number: String,
    #[serde(flatten)]
    pub access: Access,
}

/// `GET /api/customers/{id}/entitlements` (R-O9): every paid line of the customer's orders with
/// its access at `now`, active ones first. Reads the vendor's orders (as the filtered list does).
pub async fn entitlements(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &CustomerId,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<Vec<Entitlement>, UseCaseError> {
    customers::get(store, vendor, id).await?;
    let filter = OrderFilter {
        customer_id: Some(id.clone()),
        ..Default::default()
    };
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let page = list(store, vendor, &filter, 200, cursor, now, tz).await?;
        // A full refund removes the product from the customer's purchases (R-R5).
        for order in page
            .orders
            .iter()
            .filter(|o| o.status != OrderStatus::Refunded)
        {
            for line in &order.lines {
                let access = order.access(line, now);
                if access.start.is_some() {
                    found.push(Entitlement {
                        product_id: line.product_id.clone(),
                        name: line.name.clone(),
                        order_id: order.id.clone(),
                        order_number: order.number.clone(),
                        access,
                    });
                }
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    found.sort_by_key(|e| !e.access.active);
    Ok(found)
}
