//! `POST /checkout` (R-O2, R-O3, R-O4, R-O5, R-M2, R-C1, R-C4): one transaction creates the order
//! with its offer snapshot and what the buyer gave, the customer (matched or new), the order
//! number, the customer link, supersedes the earlier order the buyer came back from
//! (`previous_order`), and queues the confirmation.
//!
//! An anonymous checkout proves nothing about an e-mail: a matched customer's record is neither
//! shown (the order shows what this checkout was given) nor changed (R-C4's language is set when
//! the order is paid), and only the order whose own link token the buyer carries is superseded.

use crate::domain::clock::Clock;
use crate::domain::customers::{
    CheckoutCustomer, Customer, check_checkout_customer, match_key, new_customer,
};
use crate::domain::ids::{CustomerId, Entropy, OfferId, OrderId};
use crate::domain::notifications::emails::{OrderConfirmation, order_confirmation};
use crate::domain::notifications::{DomainEvent, EventType, Message};
use crate::domain::orders::{
    Order, OrderLine, OrderStatus, initial_schedule, order_number, price_lines,
};
use crate::domain::tax::{RateTable, sum_lines};
use crate::domain::token::LinkKeys;
use crate::domain::validation::FieldErrors;
use crate::domain::vendors::{Vendor, normalize_email};
use crate::outbox::enqueue;
use crate::store::keys::{VENDOR_PROFILE_SK, customer_key, order_key, sort_time, vendor_pk};
use crate::store::{Condition, Index, Item, ItemStore, Key, StoreError, Write};
use crate::usecases::catalogue::{find_offer, get_product};
use crate::usecases::counters::{self, Counter};
use crate::usecases::links::{ORDER_SCOPE, customer_link, order_link_records, resolve_link};
use crate::usecases::ports::{UseCaseError, encode, retry_on_contention};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub offer_id: String,
    pub customer: CheckoutCustomer,
    /// The customer link token of the buyer's earlier unpaid order of this offer (R-O2).
    #[serde(default)]
    pub previous_order: Option<String>,
}

pub struct CheckoutResult {
    pub order: Order,
    pub customer_link: String,
    pub payment_url: String,
}

/// Orders of one customer for one offer, for superseding (R-O2).
fn customer_offer_index(
    vendor: &crate::domain::ids::VendorId,
    customer: &CustomerId,
    offer: &OfferId,
) -> String {
    format!("V#{vendor}#CUSTOFFER#{customer}#{offer}")
}

fn invalid(field: &str, message: &str) -> UseCaseError {
    UseCaseError::Invalid(FieldErrors::from([(
        field.to_string(),
        message.to_string(),
    )]))
}

pub async fn checkout(
    store: &dyn ItemStore,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    link_keys: &LinkKeys,
    request: CheckoutRequest,
    // `Some`: a vendor creating an order by hand (R-O8) may only use its own offers.
    only_vendor: Option<&crate::domain::ids::VendorId>,
) -> Result<CheckoutResult, UseCaseError> {
    let (email, country) =
        check_checkout_customer(&request.customer).map_err(UseCaseError::Invalid)?;
    let offer_id = OfferId::parse(&request.offer_id).map_err(|_| UseCaseError::NotFound)?;
    let offer = find_offer(store, &offer_id)
        .await?
        .filter(|offer| only_vendor.is_none_or(|vendor| &offer.vendor_id == vendor))
        .ok_or(UseCaseError::NotFound)?;
    let vendor: Vendor = store
        .get(&Key::new(vendor_pk(&offer.vendor_id), VENDOR_PROFILE_SK))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?;
    if crate::usecases::customers::email_is_blocked(store, &vendor.id, &email).await? {
        return Err(UseCaseError::CustomerBlocked);
    }
    let mut products = Vec::with_capacity(offer.products.len());
    for id in &offer.products {
        products.push(
            get_product(store, &vendor.id, id)
                .await?
                .ok_or(UseCaseError::NotFound)?,
        );
    }
    let table = RateTable::builtin().map_err(|_| invalid("customer.country", "no VAT table"))?;
    let buyer = CheckoutCustomer {
        email: email.clone(),
        first_name: request.customer.first_name.trim().to_string(),
        last_name: request.customer.last_name.trim().to_string(),
        country: country.clone(),
        // Kept normalised on the order: the invoice shows it (R-M2).
        vat_id: request.customer.vat_id.as_deref().map(|raw| {
            crate::domain::vat_id::parse(raw, &country).map_or_else(
                || crate::domain::vat_id::compact(raw),
                |id| id.as_str().to_string(),
            )
        }),
        ..request.customer.clone()
    };
    let previous = match &request.previous_order {
        Some(token) => previous_order(store, token, &vendor, &offer.id).await?,
        None => None,
    };
    // Drawn once per checkout, however often its transaction is retried (issue 14, defect 10).
    let number = tokio::sync::OnceCell::new();
    retry_on_contention(|| async {
        let now = clock.now();
        let rate = table
            .rate_at(
                &vendor.country,
                &country,
                request.customer.vat_id.as_deref(),
                now,
            )
            .map_err(|_| invalid("customer.country", "is not a country we can tax"))?;
        let taxed = price_lines(offer.price, offer.discount, products.len(), rate)
            .map_err(|_| invalid("offer_id", "the offer cannot be priced"))?;
        let Some((net, tax, total)) =
            sum_lines(&taxed).map_err(|_| invalid("offer_id", "the offer cannot be priced"))?
        else {
            return Err(invalid("offer_id", "the offer has no products"));
        };
        let lines = taxed
            .iter()
            .zip(&products)
            .map(|(line, product)| OrderLine {
                product_id: product.id.clone(),
                name: product.name.clone(),
                net: line.net,
                tax: line.tax,
                tax_rate: line.rate.percent,
                total: line.total,
                access_days: product.access_days,
            })
            .collect();
        let mut writes = Vec::new();
        // The customer: matched within the vendor (R-C1), else new.
        let matching = match_key(
            vendor.matching_mode,
            &email,
            request.customer.address.as_ref(),
        );
        let match_item_key = matching
            .as_ref()
            .map(|k| Key::new(vendor_pk(&vendor.id), format!("CUSTMATCH#{k}")));
        let existing = match &match_item_key {
            Some(key) => match store.get(key).await? {
                Some(found) => {
                    let id: CustomerId = serde_json::from_value(found.body["customer_id"].clone())
                        .map_err(|source| StoreError::Malformed {
                            key: key.clone(),
                            source,
                        })?;
                    store.get(&customer_key(&vendor.id, &id)).await?
                }
                None => None,
            },
            None => None,
        };
        let customer: Customer = match existing {
            Some(item) => {
                let customer: Customer = item.decode()?;
                if customer.blocked.is_some() {
                    return Err(UseCaseError::CustomerBlocked);
                }
                // Read, never changed: the checkout may not be this customer at all.
                writes.push(Write::Check {
                    key: item.key.clone(),
                    condition: Condition::VersionIs(item.version),
                });
                customer
            }
            None => {
                let customer = new_customer(
                    &vendor,
                    &request.customer,
                    email.clone(),
                    country.clone(),
                    now,
                    entropy,
                );
                let key = customer_key(&vendor.id, &customer.id);
                writes.push(Write::create(Item::new(
                    key.clone(),
                    encode(&key, &customer)?,
                )));
                writes.push(counters::count_one(&vendor.id, Counter::Customers));
                if let Some(match_key) = &match_item_key {
                    writes.push(Write::create(Item::new(
                        match_key.clone(),
                        json!({ "customer_id": customer.id }),
                    )));
                }
                customer
            }
        };
        // R-O2: the order the buyer came back from, and only that one, is superseded.
        let index_pk = customer_offer_index(&vendor.id, &customer.id, &offer.id);
        if let Some(key) = &previous
            && let Some(item) = store.get(key).await?
        {
            let mut old: Order = item.decode()?;
            // Never across e-mails (issue 16, item 12): in address mode one household's
            // customer is matched for several people, each ordering for themselves.
            let same_buyer = normalize_email(&old.customer_email) == normalize_email(&buyer.email);
            if old.is_supersedable() && old.offer_id == offer.id && same_buyer {
                old.status = OrderStatus::Superseded;
                old.updated_at = now;
                writes.push(Write::update(item.next(encode(&item.key, &old)?)));
            }
        }
        let sequence = *number
            .get_or_try_init(|| counters::draw(store, &vendor.id, Counter::OrderNumbers))
            .await?;
        writes.push(counters::count_one(&vendor.id, Counter::Orders));
        let id = OrderId::generate(now, entropy);
        // R-M3: the plan's due times step in the vendor's calendar.
        let zone = crate::domain::vendors::vendor_zone(&vendor);
        let schedule = initial_schedule(offer.plan, total, now, zone)
            .map_err(|_| invalid("offer_id", "the offer cannot be scheduled"))?;
        let order = Order {
            id: id.clone(),
            vendor_id: vendor.id.clone(),
            number: order_number(sequence),
            customer_id: customer.id.clone(),
            customer_email: buyer.email.clone(),
            customer_name: format!("{} {}", buyer.first_name, buyer.last_name),
            buyer: Some(buyer.clone()),
            offer_id: offer.id.clone(),
            offer_version: offer.version,
            offer_name: offer.name.clone(),
            plan: offer.plan,
            list_price: Some(offer.price),
            discount: offer.discount,
            lines,
            net,
            tax,
            total,
            tax_treatment: rate.treatment,
            schedule,
            refunded: crate::domain::money::Money::zero(total.currency()),
            payments: Vec::new(),
            other_currency: Vec::new(),
            status: OrderStatus::PendingPayment,
            zone: Some(zone.name().to_string()),
            link_generation: 0,
            link_key: link_keys.current().clone(),
            provider: Default::default(),
            stage: None,
            manager: None,
            tags: Default::default(),
            comments: Vec::new(),
            created_at: now,
            updated_at: now,
            refunded_at: None,
        };
        let key = order_key(&vendor.id, &id);
        writes.push(Write::create(
            Item::new(key.clone(), encode(&key, &order)?).with_index(
                Index::Gsi1,
                index_pk,
                sort_time(now),
            ),
        ));
        // R-O4: only the tokens' digests are stored, pointing at the order: the customer link
        // and the vendor's pay link.
        let token = crate::usecases::links::order_token(link_keys, &vendor.id, &order)?;
        let link = customer_link(&vendor, &token);
        writes.extend(
            order_link_records(link_keys, &vendor.id, &order)?
                .into_iter()
                .map(Write::create),
        );
        writes.extend(announcements(
            &vendor, &customer, &order, &link, now, entropy,
        )?);
        store.transact(writes).await?;
        tracing::info!(vendor_id = %vendor.id, order_id = %order.id, "order created at checkout");
        Ok(CheckoutResult {
            payment_url: format!("{link}/pay"),
            customer_link: link,
            order,
        })
    })
    .await
}

/// The order a `previous_order` token opens, if it is this vendor's order of this offer; any
/// other token (unknown, revoked, another vendor's) is ignored.
async fn previous_order(
    store: &dyn ItemStore,
    token: &str,
    vendor: &Vendor,
    offer: &OfferId,
) -> Result<Option<Key>, UseCaseError> {
    let (vendor_id, link) = match resolve_link(store, token, &[ORDER_SCOPE]).await {
        Ok(found) => found,
        Err(UseCaseError::NotFound) => return Ok(None),
        Err(error) => return Err(error),
    };
    let Ok(order_id) = serde_json::from_value::<OrderId>(link["order_id"].clone()) else {
        return Ok(None);
    };
    if vendor_id != vendor.id {
        return Ok(None);
    }
    let key = order_key(&vendor.id, &order_id);
    let Some(item) = store.get(&key).await? else {
        return Ok(None);
    };
    let order: Order = item.decode()?;
    Ok((order.offer_id == *offer).then_some(key))
}

fn announcements(
    vendor: &Vendor,
    customer: &Customer,
    order: &Order,
    link: &str,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<Vec<Write>, StoreError> {
    let language = customer
        .language
        .clone()
        .unwrap_or_else(|| vendor.default_language.clone());
    let name = order.buyer_name(customer);
    let total = order.total.to_string();
    let email = order_confirmation(&OrderConfirmation {
        to: order.recipient(customer),
        language: &language,
        customer_name: &name,
        vendor_name: &vendor.name,
        order_number: &order.number,
        offer_name: &order.offer_name,
        total: &total,
        customer_link: link,
    });
    let event = DomainEvent {
        event_type: EventType::OrderCreated,
        detail: json!({ "order_id": order.id, "order_number": order.number, "customer_id": order.customer_id, "total": order.total }),
    };
    let key = order_key(&vendor.id, &order.id);
    let to_store = |e: serde_json::Error| StoreError::Malformed {
        key: key.clone(),
        source: e,
    };
    Ok(vec![
        enqueue(&vendor.id, Message::Email(email), now, entropy).map_err(to_store)?,
        enqueue(&vendor.id, Message::Event(event), now, entropy).map_err(&to_store)?,
    ])
}
