//! `Idempotency-Key` on POST routes (API.md): a repeat with the same key and body returns the
//! first answer; the same key with another body is 422 `idempotency_key_reused`.
//!
//! The key is scoped by the authenticated caller (a vendor's id, the admin, or the public) and
//! the path, so two vendors' keys never meet and `bearer K` is `Bearer K`. The claim is taken
//! before the handler runs (a concurrent repeat gets 409 `idempotency_key_in_progress`), and the
//! answer is stored after it, headers included; a 5xx answer releases the claim so the client's
//! retry runs again. Records expire after 24 hours (table TTL).
//!
//! An answer that shows a secret (a new vendor's API key) is shown once: its record keeps only
//! that it was given, and a repeat is 409 `idempotency_key_secret_shown`, so no secret is at
//! rest in a record or shown twice.

use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::token::SecretDigest;
use crate::store::{Condition, Item, ItemStore, Key, StoreError};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

pub const HEADER: &str = "idempotency-key";
const KEEP: Duration = Duration::hours(24);

pub enum Claim {
    /// Run the handler, then `finish`.
    Fresh(Key),
    /// Answer this instead of running the handler.
    Answered(ApiResponse),
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

/// Takes the key for this request, or finds the answer it already has.
pub async fn claim(
    store: &dyn ItemStore,
    request: &ApiRequest,
    principal: &str,
    now: DateTime<Utc>,
) -> Result<Option<Claim>, ApiError> {
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
    let key = record_key(principal, &canonical_path(&request.path), idempotency_key);
    let print = fingerprint(request);
    let mut record = Item::new(
        key.clone(),
        json!({ "state": "in_progress", "fingerprint": print }),
    );
    record.expires_at = Some((now + KEEP).timestamp());
    match store.put(record, Condition::Absent).await {
        Ok(()) => return Ok(Some(Claim::Fresh(key))),
        Err(StoreError::ConditionFailed { .. }) => {}
        Err(error) => return Err(internal(error)),
    }
    let existing = store
        .get(&key)
        .await
        .map_err(internal)?
        .ok_or_else(ApiError::internal)?;
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
    if existing.body["state"] != "completed" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_progress",
            "the first request with this key is still running",
        ));
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

/// Stores the first answer, or releases the claim after a server error so a retry runs again.
/// `shows_secret`: the route's success answer holds a secret, so only the fact is kept.
pub async fn finish(
    store: &dyn ItemStore,
    key: Key,
    response: &ApiResponse,
    shows_secret: bool,
    now: DateTime<Utc>,
) {
    let outcome = if response.status.is_server_error() {
        store.delete(&key, Condition::VersionIs(1)).await
    } else {
        let body = if shows_secret && response.status.is_success() {
            json!({
                "state": "completed",
                "fingerprint": "",
                "secret_shown": true,
                "status": response.status.as_u16(),
            })
        } else {
            let headers: Vec<[&str; 2]> = response
                .headers
                .iter()
                .filter_map(|(name, value)| Some([name.as_str(), value.to_str().ok()?]))
                .collect();
            json!({
                "state": "completed",
                "fingerprint": "",
                "status": response.status.as_u16(),
                "headers": headers,
                "body": String::from_utf8_lossy(&response.body),
            })
        };
        match store.get(&key).await {
            Ok(Some(claimed)) => {
                let mut body = body;
                body["fingerprint"] = claimed.body["fingerprint"].clone();
                let mut done = claimed.next(body);
                done.expires_at = Some((now + KEEP).timestamp());
                store.put(done, Condition::VersionIs(claimed.version)).await
            }
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        }
    };
    if let Err(error) = outcome {
        // The answer was given; only the replay is lost, and the claim expires with its TTL.
        tracing::error!(error = %error, "could not store the idempotent answer");
    }
}
