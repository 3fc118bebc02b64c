//! `Idempotency-Key` on POST routes (API.md): a repeat with the same key and body returns the
//! first answer; the same key with another body is 422 `idempotency_key_reused`.
//!
//! The key is scoped by the caller's credentials and the path, so two vendors' keys never meet.
//! The claim is taken before the handler runs (a concurrent repeat gets 409
//! `idempotency_key_in_progress`), and the answer is stored after it; a 5xx answer releases the
//! claim so the client's retry runs again. Records expire after 24 hours (table TTL).

use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::token::SecretDigest;
use crate::store::{Condition, Item, ItemStore, Key, StoreError};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

pub const HEADER: &str = "idempotency-key";
const KEEP: Duration = Duration::hours(24);

pub enum Claim {
    /// Run the handler, then `finish`.
    Fresh(Key),
    /// Answer this instead of running the handler.
    Answered(ApiResponse),
}

fn fingerprint(request: &ApiRequest) -> String {
    let mut material = format!("{} {}\n", request.method, request.path).into_bytes();
    material.extend_from_slice(&request.body);
    SecretDigest::of(&String::from_utf8_lossy(&material)).to_hex()
}

fn record_key(request: &ApiRequest, idempotency_key: &str) -> Key {
    let caller = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("public");
    let scope =
        SecretDigest::of(&format!("{caller}\n{}\n{idempotency_key}", request.path)).to_hex();
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
    now: DateTime<Utc>,
) -> Result<Option<Claim>, ApiError> {
    let Some(raw) = request.headers.get(HEADER) else {
        return Ok(None);
    };
    let idempotency_key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible characters",
            )
        })?;
    let key = record_key(request, idempotency_key);
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
    if let Some(content_type) = existing.body["content_type"]
        .as_str()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        headers.insert(header::CONTENT_TYPE, content_type);
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
pub async fn finish(store: &dyn ItemStore, key: Key, response: &ApiResponse, now: DateTime<Utc>) {
    let outcome = if response.status.is_server_error() {
        store.delete(&key, Condition::VersionIs(1)).await
    } else {
        let content_type = response
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        let body = json!({
            "state": "completed",
            "fingerprint": "",
            "status": response.status.as_u16(),
            "content_type": content_type,
            "body": String::from_utf8_lossy(&response.body),
        });
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
