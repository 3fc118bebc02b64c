//! The customer's way in: a link token opens exactly its order (R-O4).

use super::UseCaseError;
use super::checkout::{ORDER_SCOPE, order_key};
use crate::domain::customer::Customer;
use crate::domain::ids::{CustomerId, OrderId};
use crate::domain::order::Order;
use crate::domain::token::{LinkToken, SecretDigest};
use crate::domain::vendor::Vendor;
use crate::store::keys::{VENDOR_PROFILE_SK, vendor_pk};
use crate::store::{ItemStore, Key};

pub struct CustomerOrder {
    pub vendor: Vendor,
    pub order: Order,
    pub customer: Customer,
}

/// Anything wrong with a token is "not found": a guess learns nothing.
pub async fn order_by_token(
    store: &dyn ItemStore,
    presented: &str,
) -> Result<CustomerOrder, UseCaseError> {
    let (vendor_id, token) = LinkToken::parse(presented).map_err(|_| UseCaseError::NotFound)?;
    let link = store
        .get(&super::checkout::link_key(&vendor_id, &token))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    let stored = link.body["digest"]
        .as_str()
        .and_then(SecretDigest::from_hex)
        .ok_or(UseCaseError::NotFound)?;
    if !stored.matches(token.as_str()) || link.body["scope"] != ORDER_SCOPE {
        return Err(UseCaseError::NotFound);
    }
    let order_id: OrderId = serde_json::from_value(link.body["order_id"].clone())
        .map_err(|_| UseCaseError::NotFound)?;
    let order: Order = store
        .get(&order_key(&vendor_id, &order_id))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?;
    let customer = customer(store, &order).await?;
    let vendor: Vendor = store
        .get(&Key::new(vendor_pk(&vendor_id), VENDOR_PROFILE_SK))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?;
    Ok(CustomerOrder {
        vendor,
        order,
        customer,
    })
}

async fn customer(store: &dyn ItemStore, order: &Order) -> Result<Customer, UseCaseError> {
    let id: &CustomerId = &order.customer_id;
    Ok(store
        .get(&Key::new(
            vendor_pk(&order.vendor_id),
            format!("CUSTOMER#{id}"),
        ))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?)
}
