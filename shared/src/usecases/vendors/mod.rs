//! Creating vendors (admin) and recognising them by API key.

pub mod balance;

use crate::domain::clock::Clock;
use crate::domain::ids::Entropy;
use crate::domain::token::SecretDigest;
use crate::domain::validation::FieldErrors;
use crate::domain::vendors::{
    ApiKeyRecord, NewVendor, Vendor, VendorSecrets, api_key_vendor,
    create_vendor as decide_new_vendor,
};
use crate::store::keys::{VENDOR_PROFILE_SK, api_key_sk, vendor_pk};
use crate::store::{Condition, Item, ItemStore, Key, StoreError, Write};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    #[error("invalid vendor")]
    Invalid(FieldErrors),
    #[error("unknown or revoked API key")]
    UnknownApiKey,
    #[error("the vendor holds as many API keys as it may")]
    TooManyKeys,
    #[error("the last API key cannot be revoked by the vendor")]
    LastKey,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not encode the vendor")]
    Encode(#[source] serde_json::Error),
}

pub struct CreatedVendor {
    pub vendor: Vendor,
    pub secrets: VendorSecrets,
}

fn profile_key(vendor: &Vendor) -> Key {
    Key::new(vendor_pk(&vendor.id), VENDOR_PROFILE_SK)
}

/// Creates the vendor and its first API key in one transaction.
pub async fn create_vendor(
    store: &dyn ItemStore,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    request: NewVendor,
    portal: &crate::domain::vendors::PortalPolicy,
) -> Result<CreatedVendor, VendorError> {
    let (mut vendor, key, secrets) =
        decide_new_vendor(request, clock.now(), entropy).map_err(VendorError::Invalid)?;
    vendor.portal_base_url = portal.default_base_url.clone();
    let profile = Item::new(
        profile_key(&vendor),
        serde_json::to_value(&vendor).map_err(VendorError::Encode)?,
    );
    let key_item = Item::new(
        Key::new(vendor_pk(&vendor.id), api_key_sk(&key.digest_hex)),
        serde_json::to_value(&key).map_err(VendorError::Encode)?,
    );
    store
        .transact(vec![Write::create(profile), Write::create(key_item)])
        .await?;
    tracing::info!(vendor_id = %vendor.id, "vendor created");
    Ok(CreatedVendor { vendor, secrets })
}

/// The vendor an API key belongs to: the key names its vendor, and the digest of the whole key
/// must be stored under that vendor (constant-time compared once found).
pub async fn authenticate(
    store: &dyn ItemStore,
    api_key: &str,
) -> Result<(Vendor, Item), VendorError> {
    let vendor_id = api_key_vendor(api_key).ok_or(VendorError::UnknownApiKey)?;
    let digest = SecretDigest::of(api_key);
    let key_item = store
        .get(&Key::new(
            vendor_pk(&vendor_id),
            api_key_sk(&digest.to_hex()),
        ))
        .await?
        .ok_or(VendorError::UnknownApiKey)?;
    let record: ApiKeyRecord = key_item.decode()?;
    let stored = SecretDigest::from_hex(&record.digest_hex).ok_or(VendorError::UnknownApiKey)?;
    if !stored.matches(api_key) || record.vendor_id != vendor_id {
        return Err(VendorError::UnknownApiKey);
    }
    let profile = store
        .get(&Key::new(vendor_pk(&vendor_id), VENDOR_PROFILE_SK))
        .await?
        .ok_or(VendorError::UnknownApiKey)?;
    Ok((profile.decode()?, key_item))
}

/// Notes that the key of `key_item` was used at `now` (`last_used_at`), at most once per
/// granularity. Best effort, outside the request's own writes: a request is never refused for
/// it, and a key revoked meanwhile is not written back (the write is version-checked).
pub async fn note_key_use(store: &dyn ItemStore, key_item: &Item, now: DateTime<Utc>) {
    let Ok(record) = key_item.decode::<ApiKeyRecord>() else {
        return;
    };
    let Some(used) = record.used_at(now) else {
        return;
    };
    let Ok(body) = serde_json::to_value(&used) else {
        return;
    };
    match store
        .put(key_item.next(body), Condition::VersionIs(key_item.version))
        .await
    {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
        Err(error) => tracing::warn!(error = %error, "an API key's last use was not noted"),
    }
}

/// `PUT /api/settings`: validated, then written version-checked (a concurrent change retries).
pub async fn change_settings(
    store: &dyn ItemStore,
    vendor: &crate::domain::ids::VendorId,
    change: crate::domain::vendors::SettingsChange,
    portal: &crate::domain::vendors::PortalPolicy,
) -> Result<Vendor, VendorError> {
    let key = Key::new(vendor_pk(vendor), VENDOR_PROFILE_SK);
    for _ in 0..5 {
        let item = store.get(&key).await?.ok_or(VendorError::UnknownApiKey)?;
        let current: Vendor = item.decode()?;
        let next = crate::domain::vendors::apply_settings(&current, change.clone(), portal)
            .map_err(VendorError::Invalid)?;
        let body = serde_json::to_value(&next).map_err(VendorError::Encode)?;
        match store.transact(vec![Write::update(item.next(body))]).await {
            Ok(()) => return Ok(next),
            Err(error) if error.is_contention() => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(VendorError::Store(StoreError::Conflict))
}

/// The vendor's API keys (their ids and when they were made; never a key itself).
pub async fn list_keys(
    store: &dyn ItemStore,
    vendor: &crate::domain::ids::VendorId,
) -> Result<Vec<ApiKeyRecord>, VendorError> {
    let query = crate::store::Query::table(
        vendor_pk(vendor),
        crate::store::SortRange::Prefix(api_key_sk("")),
    )
    .limit(100);
    let page = store.query(&query).await?;
    let mut keys: Vec<ApiKeyRecord> = page
        .items
        .iter()
        .map(Item::decode)
        .collect::<Result<_, _>>()?;
    keys.sort_by_key(|key| key.created_at);
    Ok(keys)
}

/// The most keys a vendor holds at once (rotation needs two; a few spare for integrations).
pub const MAX_API_KEYS: usize = 10;

/// A new API key for the vendor, shown once: its record and the key.
pub async fn add_key(
    store: &dyn ItemStore,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    vendor: &crate::domain::ids::VendorId,
) -> Result<(ApiKeyRecord, String), VendorError> {
    if list_keys(store, vendor).await?.len() >= MAX_API_KEYS {
        return Err(VendorError::TooManyKeys);
    }
    let (record, api_key) = crate::domain::vendors::new_api_key(vendor, clock.now(), entropy);
    let item = Item::new(
        Key::new(vendor_pk(vendor), api_key_sk(&record.digest_hex)),
        serde_json::to_value(&record).map_err(VendorError::Encode)?,
    );
    store.transact(vec![Write::create(item)]).await?;
    tracing::info!(vendor_id = %vendor, key_id = %record.id, "api key added");
    Ok((record, api_key))
}

/// Revokes one key (`Some`) or all of them (`None`, the admin's); a vendor may not revoke its
/// last key (it would lock itself out; the admin may). Answers the keys revoked.
pub async fn revoke_keys(
    store: &dyn ItemStore,
    vendor: &crate::domain::ids::VendorId,
    only: Option<&crate::domain::ids::ApiKeyId>,
) -> Result<usize, VendorError> {
    let keys = list_keys(store, vendor).await?;
    let chosen: Vec<&ApiKeyRecord> = keys
        .iter()
        .filter(|key| only.is_none_or(|id| &key.id == id))
        .collect();
    if only.is_some() {
        if chosen.is_empty() {
            return Err(VendorError::UnknownApiKey);
        }
        if keys.len() == 1 {
            return Err(VendorError::LastKey);
        }
    }
    for key in &chosen {
        store
            .delete(
                &Key::new(vendor_pk(vendor), api_key_sk(&key.digest_hex)),
                crate::store::Condition::Exists,
            )
            .await?;
        tracing::info!(vendor_id = %vendor, key_id = %key.id, "api key revoked");
    }
    Ok(chosen.len())
}
