//! Products and offers: create, list, revise (R-O1). Each create also bumps the vendor's count
//! of that kind in the same transaction, so lists answer their total without counting.

use crate::domain::catalogue::{
    NewProduct, Offer, OfferTerms, Product, new_offer, new_product, revise_offer,
};
use crate::domain::clock::Clock;
use crate::domain::ids::{Entropy, OfferId, ProductId, VendorId};
use crate::domain::validation::FieldErrors;
use crate::store::keys::vendor_pk;
use crate::store::{Condition, Index, Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use crate::usecases::counters::{self, Counter};
use crate::usecases::listing::{Listing, list};
use crate::usecases::ports::{UseCaseError, encode, retry_on_contention};

fn product_key(vendor: &VendorId, id: &ProductId) -> Key {
    Key::new(vendor_pk(vendor), format!("PRODUCT#{id}"))
}

fn offer_key(vendor: &VendorId, id: &OfferId) -> Key {
    Key::new(vendor_pk(vendor), format!("OFFER#{id}"))
}

/// The offer lookup by id alone (public checkout knows no vendor): index `gsi1` on the current offer.
fn offer_lookup(id: &OfferId) -> String {
    format!("OFFERID#{id}")
}

/// Every version stays readable, so an order's snapshot can always be traced to its offer version.
fn offer_version_key(vendor: &VendorId, id: &OfferId, version: u32) -> Key {
    Key::new(vendor_pk(vendor), format!("OFFERVERSION#{id}#{version:06}"))
}

pub async fn create_product(
    store: &dyn ItemStore,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    vendor: &VendorId,
    request: NewProduct,
) -> Result<Product, UseCaseError> {
    let product =
        new_product(vendor, request, clock.now(), entropy).map_err(UseCaseError::Invalid)?;
    let key = product_key(vendor, &product.id);
    let item = Item::new(key.clone(), encode(&key, &product)?);
    retry_on_contention(|| async {
        let count = counters::increment(store, vendor, Counter::Products).await?;
        store
            .transact(vec![Write::create(item.clone()), count])
            .await?;
        Ok(())
    })
    .await?;
    Ok(product)
}

pub async fn list_products(
    store: &dyn ItemStore,
    vendor: &VendorId,
    limit: u32,
    cursor: Option<String>,
) -> Result<Listing<Product>, UseCaseError> {
    list(store, vendor, "PRODUCT#", Counter::Products, limit, cursor).await
}

/// Checks that every product exists for this vendor, inside the transaction that needs them.
fn products_exist(vendor: &VendorId, products: &[ProductId]) -> Vec<Write> {
    products
        .iter()
        .map(|id| Write::Check {
            key: product_key(vendor, id),
            condition: Condition::Exists,
        })
        .collect()
}

/// A failed product check names the product; other failures are contention.
fn missing_product(error: StoreError, products: &[ProductId], first_check: usize) -> UseCaseError {
    match error {
        StoreError::ConditionFailed { index, .. } if index >= first_check => {
            let position = index - first_check;
            let id = products
                .get(position)
                .map(ToString::to_string)
                .unwrap_or_default();
            UseCaseError::Invalid(FieldErrors::from([(
                format!("products[{position}]"),
                format!("no product {id}"),
            )]))
        }
        other => UseCaseError::Store(other),
    }
}

pub async fn create_offer(
    store: &dyn ItemStore,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    vendor: &VendorId,
    terms: OfferTerms,
) -> Result<Offer, UseCaseError> {
    let offer = new_offer(vendor, terms, clock.now(), entropy).map_err(UseCaseError::Invalid)?;
    let key = offer_key(vendor, &offer.id);
    let version_key = offer_version_key(vendor, &offer.id, offer.version);
    let current = Item::new(key.clone(), encode(&key, &offer)?).with_index(
        Index::Gsi1,
        offer_lookup(&offer.id),
        "CURRENT",
    );
    let version = Item::new(version_key.clone(), encode(&version_key, &offer)?);
    retry_on_contention(|| async {
        let count = counters::increment(store, vendor, Counter::Offers).await?;
        let mut writes = vec![
            Write::create(current.clone()),
            Write::create(version.clone()),
            count,
        ];
        let first_check = writes.len();
        writes.extend(products_exist(vendor, &offer.products));
        store
            .transact(writes)
            .await
            .map_err(|e| missing_product(e, &offer.products, first_check))
    })
    .await?;
    Ok(offer)
}

pub async fn list_offers(
    store: &dyn ItemStore,
    vendor: &VendorId,
    limit: u32,
    cursor: Option<String>,
) -> Result<Listing<Offer>, UseCaseError> {
    list(store, vendor, "OFFER#", Counter::Offers, limit, cursor).await
}

/// `PUT /api/offers/{id}`: the next version replaces the current one; the old stays readable.
pub async fn revise(
    store: &dyn ItemStore,
    clock: &dyn Clock,
    vendor: &VendorId,
    id: &OfferId,
    terms: OfferTerms,
) -> Result<Offer, UseCaseError> {
    let key = offer_key(vendor, id);
    retry_on_contention(|| async {
        let current_item = store.get(&key).await?.ok_or(UseCaseError::NotFound)?;
        let current: Offer = current_item.decode()?;
        let revised =
            revise_offer(&current, terms.clone(), clock.now()).map_err(UseCaseError::Invalid)?;
        let version_key = offer_version_key(vendor, id, revised.version);
        let mut writes = vec![
            Write::update(current_item.next(encode(&key, &revised)?)),
            Write::create(Item::new(
                version_key.clone(),
                encode(&version_key, &revised)?,
            )),
        ];
        let first_check = writes.len();
        writes.extend(products_exist(vendor, &revised.products));
        store
            .transact(writes)
            .await
            .map_err(|e| missing_product(e, &revised.products, first_check))?;
        Ok(revised)
    })
    .await
}

/// One version of an offer, as orders refer to it.
pub async fn offer_version(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &OfferId,
    version: u32,
) -> Result<Offer, UseCaseError> {
    let item = store
        .get(&offer_version_key(vendor, id, version))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    Ok(item.decode()?)
}

/// The current version of an offer, found by its id alone (checkout).
pub async fn find_offer(
    store: &dyn ItemStore,
    id: &OfferId,
) -> Result<Option<Offer>, UseCaseError> {
    let page = store
        .query(&Query::index(Index::Gsi1, offer_lookup(id), SortRange::All).limit(1))
        .await?;
    Ok(page.items.first().map(Item::decode).transpose()?)
}

pub async fn get_product(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &ProductId,
) -> Result<Option<Product>, UseCaseError> {
    Ok(store
        .get(&product_key(vendor, id))
        .await?
        .map(|item| item.decode())
        .transpose()?)
}
