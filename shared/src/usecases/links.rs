//! Secret links (R-O4): a customer's order link and a ticket's link are tokens derived from the
//! platform's link key; the store keeps only their digest, under the scope they open.

use crate::domain::ids::VendorId;
use crate::domain::token::{LinkKeys, LinkToken, SecretDigest, TokenError};
use crate::domain::vendors::Vendor;
use crate::store::keys::vendor_pk;
use crate::store::{ItemStore, Key};
use crate::usecases::ports::UseCaseError;

/// What the customer link's token opens (R-O4): scope and subject, stored under the token's digest.
pub const ORDER_SCOPE: &str = "order";

pub fn link_key(vendor: &VendorId, token: &LinkToken) -> Key {
    Key::new(
        vendor_pk(vendor),
        format!("LINK#{}", token.digest().to_hex()),
    )
}

/// The customer's order link on the vendor's portal.
pub fn customer_link(vendor: &Vendor, token: &LinkToken) -> String {
    format!(
        "{}/orders/{}",
        vendor.portal_base_url.trim_end_matches('/'),
        token.as_str()
    )
}

/// The token of the order's current customer link (R-O4): derived with the link key and at the
/// generation the order records.
pub fn order_token(
    link_keys: &LinkKeys,
    vendor: &VendorId,
    order: &crate::domain::orders::Order,
) -> Result<LinkToken, TokenError> {
    link_keys.derive(
        &order.link_key,
        vendor,
        ORDER_SCOPE,
        order.id.as_str(),
        order.link_generation,
    )
}

/// The order's current customer link (R-O4): derived, never stored.
pub fn current_order_link(
    link_keys: &LinkKeys,
    vendor: &Vendor,
    order: &crate::domain::orders::Order,
) -> Result<String, TokenError> {
    Ok(customer_link(
        vendor,
        &order_token(link_keys, &vendor.id, order)?,
    ))
}

/// What a secret link of `scope` points at: its vendor and the stored link's body. Anything
/// wrong with the token is "not found": a guess learns nothing.
pub async fn resolve_link(
    store: &dyn ItemStore,
    presented: &str,
    scope: &str,
) -> Result<(VendorId, serde_json::Value), UseCaseError> {
    let (vendor_id, token) = LinkToken::parse(presented).map_err(|_| UseCaseError::NotFound)?;
    let link = store
        .get(&link_key(&vendor_id, &token))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    let stored = link.body["digest"]
        .as_str()
        .and_then(SecretDigest::from_hex)
        .ok_or(UseCaseError::NotFound)?;
    if !stored.matches(token.as_str()) || link.body["scope"] != scope {
        return Err(UseCaseError::NotFound);
    }
    Ok((vendor_id, link.body))
}
