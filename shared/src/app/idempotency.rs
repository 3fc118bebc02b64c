//! `Idempotency-Key` on POST routes (API.md): a repeat with the same key and body returns the
//! first answer; the same key with another body is 422 `idempotency_key_reused`.
//!
//! The key is scoped by the authenticated caller (a vendor's id, the admin, or the public) and
//! the path, so two vendors' keys never meet and `bearer K` is `Bearer K`. The claim is taken
//! before the handler runs (a concurrent repeat gets 409 `idempotency_key_in_progress`), and the
//! handler is served through a [`ClaimedStore`]: every write it commits carries the claim's
//! move to `committed` in the same transaction, so the effect and "this key has applied" commit
//! together or not at all. After the handler the answer is stored, headers included. Then:
//! - a 5xx with nothing committed releases the claim, so the client's retry runs again;
//! - an effect committed whose answer was lost (a 5xx after the commit, a crash, a lost store
//!   answer) is never applied again: a retry is told 409 `idempotency_key_committed`;
//! - a claim whose request died before committing is taken over by a retry once no request can
//!   still be running ([`IN_FLIGHT_AT_MOST`]); the dead request could no longer commit either.
//!
//! Records expire after 24 hours (table TTL).
//!
//! An answer that shows a secret (a new vendor's API key) is shown once: its record keeps only
//! that it was given, and a repeat is 409 `idempotency_key_secret_shown`, so no secret is at
//! rest in a record or shown twice.

use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::token::SecretDigest;
use crate::store::{Condition, Item, ItemStore, Key, Page, Query, StoreError, Write};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use std::sync::{Arc, Mutex, PoisonError};

pub const HEADER: &str = "idempotency-key";
const KEEP: Duration = Duration::hours(24);
/// How long after its claim a request can still be running: longer than any function's timeout
/// (60 s, `infra/template.yaml`) and its store calls.
pub const IN_FLIGHT_AT_MOST: Duration = Duration::minutes(2);

pub enum Claim {
    /// Run the handler over `ClaimedStore::new(store, claim)`, then `finish`.
    Fresh(Item),
    /// Answer this instead of running the handler.
    Answered(ApiResponse),
}

/// The scope of callers without a key or token of their own.
pub const PUBLIC: &str = "public";
const IN_PROGRESS: &str = "in_progress";
const COMMITTED: &str = "committed";
const COMPLETED: &str = "completed";

/// Whether a key an anonymous caller sends is unguessable: public routes share one scope, so a
/// guessable key (`cart-42`) would let anyone replay another caller's answer. A UUID, or at
/// least 128 bits as hex (32 digits) or as letters, digits, `-` and `_` (22 characters), of
/// some variety (a run of one character is no secret). No test can tell a random key from a
/// long made-up one; this refuses the short and the obviously patterned.
pub fn is_unguessable(key: &str) -> bool {
    let is_uuid = key.len() == 36
        && key.char_indices().all(|(at, c)| match at {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    let distinct = key.chars().collect::<std::collections::BTreeSet<_>>().len();
    let hex = key.chars().all(|c| c.is_ascii_hexdigit());
    let urlsafe = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let long_enough = if hex {
        key.len() >= 32
    } else {
        urlsafe && key.len() >= 22
    };
    (is_uuid || long_enough) && distinct >= 8 && !has_ascending_run(key)
}

/// Whether the key, dashes aside, holds 8 characters in a row that each follow the last
/// (`abcdefgh`, `01234567`): made up, not drawn (a random UUID has one with odds of about 1e-7).
fn has_ascending_run(key: &str) -> bool {
    let chars: Vec<u32> = key.chars().filter(|c| *c != '-').map(u32::from).collect();
    let mut run = 1;
    for pair in chars.windows(2) {
        run = if pair[1] == pair[0] + 1 { run + 1 } else { 1 };
        if run >= 8 {
            return true;
        }
    }
    false
}

/// The path as the route table reads it: `//api//products/` is `/api/products`, one scope.
fn canonical_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join("/"))
}

fn fingerprint(request: &ApiRequest) -> String {
    let mut material =
        format!("{} {}\n", request.method, canonical_path(&request.path)).into_bytes();
    material.extend_from_slice(&request.body);
    SecretDigest::of(&String::from_utf8_lossy(&material)).to_hex()
}

/// The record of `idempotency_key` sent by `principal` (`vendor:{id}`, `admin`, `public`) to `path`.
pub fn record_key(principal: &str, path: &str, idempotency_key: &str) -> Key {
    let scope = SecretDigest::of(&format!("{principal}\n{path}\n{idempotency_key}")).to_hex();
    Key::new(format!("IDEMPOTENCY#{scope}"), "ANSWER")
}

fn internal(error: StoreError) -> ApiError {
    tracing::error!(error = %error, "idempotency record failed");
    ApiError::internal()
}

/// The request's `Idempotency-Key`, if it sends one that the contract accepts: 1 to 255 visible
/// characters, and unguessable on public routes. Checked on every POST, recorded or not.
pub fn checked_key<'r>(
    request: &'r ApiRequest,
    principal: &str,
) -> Result<Option<&'r str>, ApiError> {
    let Some(raw) = request.headers.get(HEADER) else {
        return Ok(None);
    };
    let idempotency_key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible characters",
            )
        })?;
    if principal == PUBLIC && !is_unguessable(idempotency_key) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "idempotency_key_weak",
            "on public routes an Idempotency-Key must be unguessable: a UUID or at least 22 random letters and digits",
        ));
    }
    Ok(Some(idempotency_key))
}

/// Takes the key for this request, or finds the answer it already has.
pub async fn claim(
    store: &dyn ItemStore,
    request: &ApiRequest,
    principal: &str,
    now: DateTime<Utc>,
) -> Result<Option<Claim>, ApiError> {
    let Some(idempotency_key) = checked_key(request, principal)? else {
        return Ok(None);
    };
    let key = record_key(principal, &canonical_path(&request.path), idempotency_key);
    let print = fingerprint(request);
    let claimed = json!({ "state": IN_PROGRESS, "fingerprint": print, "claimed_at": now });
    let mut record = Item::new(key.clone(), claimed.clone());
    record.expires_at = Some((now + KEEP).timestamp());
    // A record released between our put and our read is claimed again, once.
    let mut existing = None;
    for _ in 0..2 {
        match store.put(record.clone(), Condition::Absent).await {
            Ok(()) => return Ok(Some(Claim::Fresh(record))),
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(error) => return Err(internal(error)),
        }
        existing = store.get(&key).await.map_err(internal)?;
        if existing.is_some() {
            break;
        }
    }
    let existing = existing.ok_or_else(ApiError::internal)?;
    // Past its keeping time the record is gone in effect (the table's TTL deletes late).
    if existing.expires_at.is_some_and(|at| at <= now.timestamp()) {
        let mut fresh = existing.next(claimed);
        fresh.expires_at = Some((now + KEEP).timestamp());
        return match store
            .put(fresh.clone(), Condition::VersionIs(existing.version))
            .await
        {
            Ok(()) => Ok(Some(Claim::Fresh(fresh))),
            Err(StoreError::ConditionFailed { .. }) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_progress",
                "the first request with this key is still running",
            )),
            Err(error) => Err(internal(error)),
        };
    }
    if existing.body["fingerprint"] != print {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        ));
    }
    if existing.body["secret_shown"] == true {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_secret_shown",
            "the first request with this key succeeded and its answer held a secret, which is shown only once",
        ));
    }
    let may_still_run = existing.body["claimed_at"]
        .as_str()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .is_none_or(|at| now < at.to_utc() + IN_FLIGHT_AT_MOST);
    let in_progress = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_progress",
            "the first request with this key is still running",
        )
    };
    match existing.body["state"].as_str() {
        Some(COMPLETED) => {}
        Some(IN_PROGRESS) if !may_still_run => {
            // The first request died before committing anything: this one takes its place. The
            // version moves on, so the dead request's writes could no longer commit either.
            let mut taken = existing.next(claimed);
            taken.expires_at = Some((now + KEEP).timestamp());
            return match store
                .put(taken.clone(), Condition::VersionIs(existing.version))
                .await
            {
                Ok(()) => Ok(Some(Claim::Fresh(taken))),
                Err(StoreError::ConditionFailed { .. }) => Err(in_progress()),
                Err(error) => Err(internal(error)),
            };
        }
        Some(COMMITTED) if !may_still_run || existing.body["finished"] == true => {
            return Err(committed());
        }
        _ => return Err(in_progress()),
    }
    let status = existing.body["status"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(u16::try_from(s).ok()?).ok())
        .ok_or_else(ApiError::internal)?;
    let mut headers = HeaderMap::new();
    for pair in existing.body["headers"].as_array().into_iter().flatten() {
        if let (Some(Ok(name)), Some(Ok(value))) = (
            pair[0]
                .as_str()
                .map(|name| HeaderName::from_bytes(name.as_bytes())),
            pair[1].as_str().map(HeaderValue::from_str),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    let body = Bytes::from(
        existing.body["body"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    Ok(Some(Claim::Answered(ApiResponse {
        status,
        headers,
        body,
    })))
}

/// Stores the first answer, or after a server error releases the claim if nothing committed.
/// `claim` is the record as this request took it; `shows_secret`: the route's success answer
/// holds a secret, so only the fact is kept.
pub async fn finish(
    store: &dyn ItemStore,
    claim: &Item,
    response: &ApiResponse,
    shows_secret: bool,
    now: DateTime<Utc>,
) {
    let outcome = match store.get(&claim.key).await {
        // Expired, or taken over by a retry after this request was given up: not ours to touch.
        Ok(None) => Ok(()),
        Ok(Some(current)) if current.body["claimed_at"] != claim.body["claimed_at"] => Ok(()),
        Ok(Some(current)) => {
            let committed = current.body["state"] == COMMITTED;
            if committed && !response.status.is_success() {
                // The effect is applied but this answer does not describe it: a retry is told
                // so (`idempotency_key_committed`) instead of seeing this failure as the outcome,
                // at once, since this request is over.
                let mut over = current.next(current.body.clone());
                over.body["finished"] = json!(true);
                store.put(over, Condition::VersionIs(current.version)).await
            } else if response.status.is_server_error() {
                // Nothing committed: release the claim so the client's retry runs again.
                store
                    .delete(&current.key, Condition::VersionIs(current.version))
                    .await
            } else {
                let mut done = current.next(answer_record(response, shows_secret));
                done.body["fingerprint"] = current.body["fingerprint"].clone();
                done.body["claimed_at"] = current.body["claimed_at"].clone();
                done.expires_at = Some((now + KEEP).timestamp());
                store.put(done, Condition::VersionIs(current.version)).await
            }
        }
        Err(error) => Err(error),
    };
    if let Err(error) = outcome {
        // The answer was given; only its replay is lost: a retry is told the key committed (or
        // runs again if nothing did), and the record expires with its TTL.
        tracing::error!(error = %error, "could not store the idempotent answer");
    }
}

/// What the record keeps of an answer: all of it, or only that a secret was shown.
fn answer_record(response: &ApiResponse, shows_secret: bool) -> serde_json::Value {
    if shows_secret && response.status.is_success() {
        return json!({
            "state": COMPLETED,
            "secret_shown": true,
            "status": response.status.as_u16(),
        });
    }
    let headers: Vec<[&str; 2]> = response
        .headers
        .iter()
        .filter_map(|(name, value)| Some([name.as_str(), value.to_str().ok()?]))
        .collect();
    json!({
        "state": COMPLETED,
        "status": response.status.as_u16(),
        "headers": headers,
        "body": String::from_utf8_lossy(&response.body),
    })
}

/// 409 for a key whose first request applied its effect but whose answer was lost.
pub fn committed() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_committed",
        "the first request with this key was applied, but its answer was lost; read the resource to see the outcome",
    )
}

/// The store a request holding a fresh claim is served with. Each write it commits carries the
/// claim's move to `committed` (version-checked) in the same transaction, so an effect commits
/// only together with that mark, and at most once per key: when a write's answer is lost after
/// its commit, the next write of this request, or of a retry, fails on the mark and is refused
/// as [`StoreError::AlreadyCommitted`] instead of being taken for contention and decided again.
/// Reads pass through.
pub struct ClaimedStore {
    inner: Arc<dyn ItemStore>,
    /// The claim as this request last committed it.
    claim: Mutex<Item>,
}

impl ClaimedStore {
    pub fn new(inner: Arc<dyn ItemStore>, claim: Item) -> ClaimedStore {
        ClaimedStore {
            inner,
            claim: Mutex::new(claim),
        }
    }

    fn claim(&self) -> Item {
        self.claim
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn commit(&self, mut writes: Vec<Write>) -> Result<(), StoreError> {
        let claim = self.claim();
        let mut marked = claim.clone();
        marked.version = claim.version + 1;
        marked.body["state"] = json!(COMMITTED);
        let mark_at = writes.len();
        writes.push(Write::Put {
            item: marked.clone(),
            condition: Condition::VersionIs(claim.version),
        });
        match self.inner.transact(writes).await {
            Ok(()) => {
                *self.claim.lock().unwrap_or_else(PoisonError::into_inner) = marked;
                Ok(())
            }
            Err(StoreError::ConditionFailed { index, .. }) if index == mark_at => {
                Err(StoreError::AlreadyCommitted)
            }
            // The backend names only the first condition that failed: when the use case's own
            // failed too, the claim tells whether an earlier attempt of this request committed
            // (its answer lost), so the use case neither decides again nor answers from a state
            // its own commit made.
            Err(error @ (StoreError::ConditionFailed { .. } | StoreError::Conflict)) => {
                match self.inner.get(&claim.key).await? {
                    Some(current) if current.version != claim.version => {
                        Err(StoreError::AlreadyCommitted)
                    }
                    None => Err(StoreError::AlreadyCommitted),
                    Some(_) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }
}

#[async_trait]
impl ItemStore for ClaimedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.get_many(keys).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.commit(vec![Write::Put { item, condition }]).await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.commit(vec![Write::Delete {
            key: key.clone(),
            condition,
        }])
        .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.commit(writes).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        // Unconditional bulk writes (imports) cannot carry the mark; no request route makes them.
        self.inner.put_batch(items).await
    }

    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError> {
        self.inner.add(key, delta).await
    }

    async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        self.inner.counter(key).await
    }
}

/// The answer fields that may carry a secret link, and what each links to.
const LINK_FIELDS: [(&str, LinkKind); 4] = [
    ("/customer_link", LinkKind::Order),
    ("/payment_url", LinkKind::OrderPayment),
    ("/pay_link", LinkKind::Pay),
    ("/ticket_link", LinkKind::Ticket),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkKind {
    Order,
    OrderPayment,
    Pay,
    Ticket,
}

impl LinkKind {
    fn name(self) -> &'static str {
        match self {
            LinkKind::Order => "order",
            LinkKind::OrderPayment => "order_payment",
            LinkKind::Pay => "pay",
            LinkKind::Ticket => "ticket",
        }
    }
}

/// The vendor and the token of the link in one of `text`'s path segments, if it holds one.
fn link_token(
    text: &str,
) -> Option<(
    crate::domain::ids::VendorId,
    crate::domain::token::LinkToken,
)> {
    text.split('/')
        .find_map(|segment| crate::domain::token::LinkToken::parse(segment).ok())
}

/// The answer as its record keeps it: every secret link replaced by what it links to (kind and
/// vendor), so no token is at rest in a record; `with_links` puts current links back on replay.
pub fn without_links(response: &ApiResponse) -> ApiResponse {
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&response.body) else {
        return response.clone();
    };
    let mut changed = false;
    for (pointer, kind) in LINK_FIELDS {
        if let Some(field) = body.pointer_mut(pointer)
            && let Some((vendor, token)) = field.as_str().and_then(link_token)
        {
            // The token's digest (what the table keeps anyway): a replay after the link was
            // revoked is refused rather than handing the new one to whoever holds the key.
            let digest = token.digest().to_hex();
            *field = json!({ "$link": kind.name(), "vendor_id": vendor, "digest": digest });
            changed = true;
        }
    }
    if !changed {
        return response.clone();
    }
    ApiResponse {
        status: response.status,
        headers: response.headers.clone(),
        body: Bytes::from(body.to_string()),
    }
}

/// A replayed answer with its links rebuilt from what is committed now: the order's or ticket's
/// current link (a revoked one is not given again).
pub async fn with_links(
    ports: crate::usecases::ports::Ports<'_>,
    response: ApiResponse,
) -> Result<ApiResponse, ApiError> {
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&response.body) else {
        return Ok(response);
    };
    let subject = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| body[*name].as_str().map(str::to_string))
    };
    let order_id = subject(["order_id", "id"]);
    let ticket_id = subject(["ticket_id", "id"]);
    // Each link's subject is read once, however many fields show it (checkout: two).
    let mut order: Option<(crate::domain::vendors::Vendor, crate::domain::orders::Order)> = None;
    let mut ticket_link: Option<String> = None;
    let mut changed = false;
    for (pointer, kind) in LINK_FIELDS {
        let Some(field) = body.pointer(pointer) else {
            continue;
        };
        let Some(vendor_id) = field["vendor_id"]
            .as_str()
            .filter(|_| field["$link"] == kind.name())
            .and_then(|v| crate::domain::ids::VendorId::parse(v).ok())
        else {
            continue;
        };
        let link = match kind {
            LinkKind::Order | LinkKind::OrderPayment | LinkKind::Pay => {
                if order.is_none() {
                    let vendor =
                        crate::usecases::ports::load_vendor(ports.store, &vendor_id).await?;
                    let id = order_id
                        .as_deref()
                        .and_then(|id| crate::domain::ids::OrderId::parse(id).ok())
                        .ok_or_else(ApiError::internal)?;
                    let found: crate::domain::orders::Order = ports
                        .store
                        .get(&crate::store::keys::order_key(&vendor.id, &id))
                        .await
                        .map_err(internal)?
                        .ok_or_else(ApiError::internal)?
                        .decode()
                        .map_err(internal)?;
                    order = Some((vendor, found));
                }
                let (vendor, found) = order.as_ref().ok_or_else(ApiError::internal)?;
                let grant = match kind {
                    LinkKind::Pay => crate::usecases::links::OrderGrant::PayLink,
                    _ => crate::usecases::links::OrderGrant::CustomerLink,
                };
                let derived =
                    crate::usecases::links::current_link(ports.link_keys, vendor, found, grant)
                        .map_err(crate::usecases::ports::UseCaseError::from)?;
                if kind == LinkKind::OrderPayment {
                    format!("{derived}/pay")
                } else {
                    derived
                }
            }
            LinkKind::Ticket => {
                if ticket_link.is_none() {
                    let vendor =
                        crate::usecases::ports::load_vendor(ports.store, &vendor_id).await?;
                    let id = ticket_id
                        .as_deref()
                        .and_then(|id| crate::domain::ids::TicketId::parse(id).ok())
                        .ok_or_else(ApiError::internal)?;
                    let ticket: crate::domain::tickets::Ticket = ports
                        .store
                        .get(&crate::usecases::tickets::ticket_key(&vendor.id, &id))
                        .await
                        .map_err(internal)?
                        .ok_or_else(ApiError::internal)?
                        .decode()
                        .map_err(internal)?;
                    ticket_link = Some(
                        crate::usecases::tickets::ticket_link(ports, &vendor, &ticket)
                            .map_err(crate::usecases::ports::UseCaseError::from)?
                            .1,
                    );
                }
                ticket_link.clone().unwrap_or_default()
            }
        };
        // A customer's link revoked since (R-O4: rotated) is never given again — nor its
        // successor, which only the customer's mail carries: the link rebuilt now must be the
        // one first answered. The vendor's pay link is the vendor's to see at any time.
        let recorded = field["digest"].as_str().map(str::to_string);
        if kind != LinkKind::Pay
            && let Some(recorded) = recorded
            && link_token(&link).map(|(_, token)| token.digest().to_hex()) != Some(recorded)
        {
            return Err(ApiError::new(
                http::StatusCode::CONFLICT,
                "link_revoked",
                "the first answer held a link that has since been revoked; it is not shown again",
            ));
        }
        if let Some(slot) = body.pointer_mut(pointer) {
            *slot = json!(link);
            changed = true;
        }
    }
    if !changed {
        return Ok(response);
    }
    Ok(ApiResponse {
        status: response.status,
        headers: response.headers,
        body: Bytes::from(body.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 12, §4: public keys must be unguessable.
    #[test]
    fn uuids_and_long_random_keys_are_unguessable_and_counters_are_not() {
        for strong in [
            "3b241101-e2bb-4255-8caf-4136c566a962",
            "9f1c2e7ab45d4e0f8a6b3c2d1e0f9a8b",
            "Q7vX2kLp9sD4fG8hJ1mN3b",
        ] {
            assert!(is_unguessable(strong), "{strong}");
        }
        for weak in [
            "cart-42",
            "checkout-abc",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "abcdefghijklmnopqrstuv",
            "01234567-89ab-cdef-0123-456789abcdef",
            "0000000000000000000000000000000000000001",
            "Q7vX2kLp9sD4fG8hJ1mN3",
        ] {
            assert!(!is_unguessable(weak), "{weak}");
        }
    }
}
