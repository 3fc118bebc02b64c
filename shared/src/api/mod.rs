//! The HTTP contract (API.md), independent of how requests arrive (Lambda function URL or the
//! dev server): requests, responses, errors, and the route table.

pub mod routes;
pub mod edge;

use crate::domain::validation::FieldErrors;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON bodies above this are refused with 413 (API.md).
pub const MAX_JSON_BODY: usize = 1024 * 1024;
/// CSV imports may be as large as a Lambda payload.
pub const MAX_CSV_BODY: usize = 6 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiRequest {
    /// The caller's address as the edge set it ([`SOURCE_HEADER`]); `None` in process.
    pub fn source(&self) -> Option<&str> {
        self.headers.get(SOURCE_HEADER)?.to_str().ok()
    }

    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    /// Parses a JSON body: 415 if it is declared as something else, 413 above 1 MiB, 400 on
    /// malformed JSON or unknown fields.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if let Some(content_type) = self.headers.get(header::CONTENT_TYPE) {
            let is_json = content_type
                .to_str()
                .map(|v| {
                    v.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case("application/json")
                })
                .unwrap_or(false);
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ));
            }
        }
        if self.body.len() > MAX_JSON_BODY {
            return Err(ApiError::payload_too_large(MAX_JSON_BODY));
        }
        // Every body of the contract is an object; serde would also read a struct from an array.
        let first = self.body.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the body must be a JSON object",
            ));
        }
        let mut reader = serde_json::Deserializer::from_slice(&self.body);
        let value = serde_path_to_error::deserialize(&mut reader).map_err(|error| {
            let path = error.path().to_string();
            ApiError::from_json_error_at(&path, error.into_inner())
        })?;
        reader.end().map_err(ApiError::from_json_error)?;
        Ok(value)
    }

    /// Like [`ApiRequest::json`], but an empty (or all white-space) body is `T::default()`.
    pub fn optional_json<T: Default + DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            Ok(T::default())
        } else {
            self.json()
        }
    }

    /// For routes that take no body: nothing, or `{}`; any field is a 400 naming it (API.md:
    /// unknown fields are refused).
    pub fn no_body(&self) -> Result<(), ApiError> {
        self.optional_json::<NoFields>().map(|_| ())
    }
}

/// The most characters of a message an error answer shows.
pub const MAX_ECHOED_CHARS: usize = 300;

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_ECHOED_CHARS {
        text.to_string()
    } else {
        let mut kept: String = text.chars().take(MAX_ECHOED_CHARS).collect();
        kept.push('…');
        kept
    }
}

/// The body of a route that takes none.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// `?limit=` (1..200, default 50) and `?cursor=` of every list (API.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub limit: u32,
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// Decodes `%XX` and `+` of a query-string value; `None` if it is not UTF-8 after decoding.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b'%' => return None,
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl ApiRequest {
    /// The decoded value of a query parameter (the first, if repeated).
    pub fn query_param(&self, name: &str) -> Result<Option<String>, ApiError> {
        let Some(query) = &self.query else {
            return Ok(None);
        };
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == name {
                return percent_decode(value).map(Some).ok_or_else(|| {
                    ApiError::validation(FieldErrors::from([(
                        name.to_string(),
                        "is not valid URL encoding".to_string(),
                    )]))
                });
            }
        }
        Ok(None)
    }

    /// Refuses a query parameter the route does not read, naming it: a misspelt filter is an
    /// error, never an unfiltered answer.
    pub fn only_params(&self, known: &[&str]) -> Result<(), ApiError> {
        let Some(query) = &self.query else {
            return Ok(());
        };
        let names: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').map_or(pair, |(key, _)| key))
            .collect();
        // A known one given twice: which one counts would be a guess.
        let repeated: FieldErrors = known
            .iter()
            .filter(|name| names.iter().filter(|given| given == name).count() > 1)
            .map(|name| (name.to_string(), "is given more than once".to_string()))
            .collect();
        if !repeated.is_empty() {
            return Err(ApiError::validation(repeated));
        }
        let unknown: FieldErrors = names
            .into_iter()
            .filter(|key| !known.contains(key))
            .map(|key| {
                // Only a name that looks like one is echoed: nothing odd (a token pasted into
                // the wrong place) goes back in an error.
                let plain = key.len() <= 40
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if plain {
                    (
                        key.to_string(),
                        "is not a parameter of this route".to_string(),
                    )
                } else {
                    (
                        "query".to_string(),
                        "holds a parameter this route does not read".to_string(),
                    )
                }
            })
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(unknown))
        }
    }

    pub fn list_params(&self) -> Result<ListParams, ApiError> {
        let limit = match self.query_param("limit")? {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(FieldErrors::from([(
                        "limit".to_string(),
                        format!("must be 1 to {MAX_LIMIT}"),
                    )]))
                })?,
        };
        let cursor = self.query_param("cursor")?.filter(|c| !c.is_empty());
        Ok(ListParams { limit, cursor })
    }
}

#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn json(status: StatusCode, value: &impl Serialize) -> ApiResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // Answers may carry secrets (a new API key) or personal data: never cache them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        ApiResponse {
            status,
            headers,
            body: Bytes::from(body),
        }
    }
}

/// The error detail (seconds) that also becomes the `Retry-After` header.
const RETRY_AFTER_DETAIL: &str = "retry_after_seconds";

/// Where the edge (the Lambda adapter, the dev server) puts the caller's address, after
/// dropping any value the caller sent under that name itself.
pub const SOURCE_HEADER: &str = "x-sellerdesk-source-ip";

/// The error answer of API.md: `{"error": {"code", "message", "fields"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Option<FieldErrors>,
    /// Facts the error states beside the message (both amounts of an insufficient balance).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// The same error stating `value` as `name` beside the message.
    pub fn with_detail(mut self, name: &str, value: serde_json::Value) -> ApiError {
        self.details
            .get_or_insert_with(Default::default)
            .insert(name.to_string(), value);
        self
    }

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: None,
            details: None,
        }
    }

    pub fn validation(fields: FieldErrors) -> ApiError {
        ApiError {
            fields: Some(fields),
            details: None,
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "some fields are invalid",
            )
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not take this method",
        )
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    }

    /// Logged where it is handled; the answer says nothing of the cause.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side",
        )
    }

    fn from_json_error(error: serde_json::Error) -> ApiError {
        ApiError::from_json_error_at(".", error)
    }

    /// A body serde refused at `path` (`customer.phone`, `.` for the whole body): malformed JSON
    /// names no field; an unknown or missing field is named within its object; any other refused
    /// value names the field that holds it.
    fn from_json_error_at(path: &str, error: serde_json::Error) -> ApiError {
        // The path of an unknown field ends with the field itself; of a missing one, its object.
        let within = |name: &str| match path {
            "." | "" => name.to_string(),
            full if full == name || full.ends_with(&format!(".{name}")) => full.to_string(),
            parent => format!("{parent}.{name}"),
        };
        let text = error.to_string();
        // serde names the offending field in backticks: "unknown field `x`, expected …".
        let field = text
            .split('`')
            .nth(1)
            .filter(|_| text.starts_with("unknown field") || text.starts_with("missing field"))
            .map(str::to_string);
        let mut api_error = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the JSON body is not acceptable: {text}"),
        );
        if let Some(field) = field {
            let reason = if text.starts_with("unknown") {
                "unknown field"
            } else {
                "is required"
            };
            api_error.fields = Some(FieldErrors::from([(within(&field), reason.to_string())]));
        } else if error.is_data() && !matches!(path, "." | "") {
            let reason = text.split(" at line ").next().unwrap_or(&text).to_string();
            api_error.fields = Some(FieldErrors::from([(path.to_string(), reason)]));
        }
        api_error
    }

    /// The answer; messages are cut to [`MAX_ECHOED_CHARS`], so an error that quotes the
    /// caller's value (serde does) never echoes a large body back.
    pub fn to_response(&self) -> ApiResponse {
        let mut error = serde_json::json!({ "code": self.code, "message": cut(&self.message) });
        if let Some(fields) = &self.fields {
            let fields: FieldErrors = fields
                .iter()
                .map(|(field, why)| (cut(field), cut(why)))
                .collect();
            error["fields"] = serde_json::json!(fields);
        }
        for (name, value) in self.details.iter().flatten() {
            error[name] = value.clone();
        }
        let mut response = ApiResponse::json(self.status, &serde_json::json!({ "error": error }));
        if let Some(seconds) = self
            .details
            .as_ref()
            .and_then(|details| details.get(RETRY_AFTER_DETAIL))
            .and_then(serde_json::Value::as_i64)
            && let Ok(value) = http::HeaderValue::from_str(&seconds.to_string())
        {
            response.headers.insert(http::header::RETRY_AFTER, value);
        }
        response
    }

    /// 429 `rate_limited`: a limit on public routes is reached; `Retry-After` says when to come
    /// back.
    pub fn rate_limited(retry_after_seconds: i64) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests of this kind; try again later",
        )
        .with_detail(RETRY_AFTER_DETAIL, serde_json::json!(retry_after_seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str, content_type: Option<&str>) -> ApiRequest {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        ApiRequest {
            method: Method::POST,
            path: "/".into(),
            query: None,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
    }

    // schemathesis found `[null, null]` read as an object with both fields absent.
    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        #[derive(Debug, Default, serde::Deserialize)]
        #[allow(dead_code)]
        struct Optional {
            stage: Option<String>,
            manager: Option<String>,
        }
        for body in ["[null, null]", "[]", "\"x\"", "3"] {
            let refused = request(body, Some("application/json")).json::<Optional>();
            assert_eq!(refused.unwrap_err().code, "invalid_body", "{body}");
        }
        assert!(request(" {}", None).json::<Optional>().is_ok());
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let unknown = request(r#"{"name":"a","nmae":"b"}"#, Some("application/json"))
            .json::<Body>()
            .unwrap_err();
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert_eq!(unknown.fields.unwrap()["nmae"], "unknown field");
        let missing = request("{}", None).json::<Body>().unwrap_err();
        assert_eq!(missing.fields.unwrap()["name"], "is required");
        let wrong_type = request("{}", Some("text/plain"))
            .json::<Body>()
            .unwrap_err();
        assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            request(r#"{"name":"a"}"#, Some("application/json; charset=utf-8"))
                .json::<Body>()
                .is_ok()
        );
    }

    #[test]
    fn error_answers_have_the_api_shape() {
        let response = ApiError::unauthorized().to_response();
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "unauthorized", "message": "a valid bearer token is required"}})
        );
    }
}
