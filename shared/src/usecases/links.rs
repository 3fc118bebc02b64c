//! Secret links (R-O4): a customer's order link, the order's pay link and a ticket's links are
//! tokens derived from the platform's link key; the store keeps only their digest, under the
//! scope they open.

use crate::domain::ids::VendorId;
use crate::domain::orders::Order;
use crate::domain::token::{LinkKeys, LinkToken, SecretDigest, TokenError};
use crate::domain::vendors::Vendor;
use crate::store::keys::vendor_pk;
use crate::store::{Item, ItemStore, Key};
use crate::usecases::ports::UseCaseError;

/// What the customer link's token opens (R-O4): the order, its invoices and its tickets.
pub const ORDER_SCOPE: &str = "order";
/// What the pay link's token opens (R-O4): viewing the order and paying what is due, nothing
/// more. The vendor holds this one (order card, open-payments export), never the customer link.
pub const PAY_SCOPE: &str = "pay";

/// Which of an order's two links opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderGrant {
    /// The customer link: everything of the order (R-U1).
    CustomerLink,
    /// The pay link: view and pay only.
    PayLink,
}

impl OrderGrant {
    fn scope(self) -> &'static str {
        match self {
            OrderGrant::CustomerLink => ORDER_SCOPE,
            OrderGrant::PayLink => PAY_SCOPE,
        }
    }
}

pub fn link_key(vendor: &VendorId, token: &LinkToken) -> Key {
    Key::new(
        vendor_pk(vendor),
        format!("LINK#{}", token.digest().to_hex()),
    )
}

/// An order's page on the vendor's portal, opened by a customer link or a pay link.
pub fn customer_link(vendor: &Vendor, token: &LinkToken) -> String {
    format!(
        "{}/orders/{}",
        vendor.portal_base_url.trim_end_matches('/'),
        token.as_str()
    )
}

/// The token of one of the order's links (R-O4): derived with the link key and at the
/// generation the order records, so rotating the order's links revokes both.
pub fn order_link_token(
    link_keys: &LinkKeys,
    vendor: &VendorId,
    order: &Order,
    grant: OrderGrant,
) -> Result<LinkToken, TokenError> {
    link_keys.derive(
        &order.link_key,
        vendor,
        grant.scope(),
        order.id.as_str(),
        order.link_generation,
    )
}

/// The token of the order's current customer link (R-O4).
pub fn order_token(
    link_keys: &LinkKeys,
    vendor: &VendorId,
    order: &Order,
) -> Result<LinkToken, TokenError> {
    order_link_token(link_keys, vendor, order, OrderGrant::CustomerLink)
}

/// One of the order's current links: derived, never stored.
pub fn current_link(
    link_keys: &LinkKeys,
    vendor: &Vendor,
    order: &Order,
    grant: OrderGrant,
) -> Result<String, TokenError> {
    Ok(customer_link(
        vendor,
        &order_link_token(link_keys, &vendor.id, order, grant)?,
    ))
}

/// The order's current customer link (R-O4): only the customer gets it.
pub fn current_order_link(
    link_keys: &LinkKeys,
    vendor: &Vendor,
    order: &Order,
) -> Result<String, TokenError> {
    current_link(link_keys, vendor, order, OrderGrant::CustomerLink)
}

/// The order's current pay link (R-O4): what the vendor's card and exports carry.
pub fn current_pay_link(
    link_keys: &LinkKeys,
    vendor: &Vendor,
    order: &Order,
) -> Result<String, TokenError> {
    current_link(link_keys, vendor, order, OrderGrant::PayLink)
}

/// The stored digest of one link: found by the token's digest, it names the scope the token
/// opens and its subject (`("order_id", id)`, `("ticket_id", id)`).
pub fn link_record(
    vendor: &VendorId,
    token: &LinkToken,
    scope: &str,
    subject: (&str, &str),
) -> Item {
    let (field, id) = subject;
    Item::new(
        link_key(vendor, token),
        serde_json::json!({ "scope": scope, field: id, "digest": token.digest().to_hex() }),
    )
}

/// The stored digests of the order's current links, customer link first: what a presented
/// token is found by. Written with the order, replaced when its links rotate.
pub fn order_link_records(
    link_keys: &LinkKeys,
    vendor: &VendorId,
    order: &Order,
) -> Result<Vec<Item>, TokenError> {
    [OrderGrant::CustomerLink, OrderGrant::PayLink]
        .into_iter()
        .map(|grant| {
            let token = order_link_token(link_keys, vendor, order, grant)?;
            Ok(link_record(
                vendor,
                &token,
                grant.scope(),
                ("order_id", order.id.as_str()),
            ))
        })
        .collect()
}

/// Which order a customer link or pay link opens, and which of the two it is; `accepted`
/// names the links the route takes (anything else is "not found").
pub async fn resolve_order_link(
    store: &dyn ItemStore,
    presented: &str,
    accepted: &[OrderGrant],
) -> Result<(VendorId, crate::domain::ids::OrderId, OrderGrant), UseCaseError> {
    let scopes: Vec<&str> = accepted.iter().map(|grant| grant.scope()).collect();
    let (vendor, link) = resolve_link(store, presented, &scopes).await?;
    let grant = accepted
        .iter()
        .copied()
        .find(|grant| link["scope"] == grant.scope())
        .ok_or(UseCaseError::NotFound)?;
    let order =
        serde_json::from_value(link["order_id"].clone()).map_err(|_| UseCaseError::NotFound)?;
    Ok((vendor, order, grant))
}

/// What a secret link of one of `scopes` points at: its vendor and the stored link's body
/// (with its `scope`). Anything wrong with the token is "not found": a guess learns nothing.
pub async fn resolve_link(
    store: &dyn ItemStore,
    presented: &str,
    scopes: &[&str],
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
    let in_scope = scopes.iter().any(|scope| link.body["scope"] == *scope);
    if !stored.matches(token.as_str()) || !in_scope {
        return Err(UseCaseError::NotFound);
    }
    Ok((vendor_id, link.body))
}
