//! What every request meets around its route, the same on Lambda and in the dev server: a path
//! that matches nothing (404), a method the path does not take (405 with `Allow`, RFC 9110),
//! `HEAD` served wherever `GET` is, and the CORS rules of each function's URL.
//!
//! On AWS the function URL answers CORS preflights itself from `infra/template.yaml`; the dev
//! server answers them from the same [`cors_rule`], and a test keeps the template in step.

use super::routes::{Function, Miss, ROUTES, Route, match_path};
use super::{ApiError, ApiRequest, ApiResponse};
use http::{HeaderValue, Method, StatusCode, header};

/// The answer headers a browser may let the frontend read (a replay says it is one).
pub const EXPOSED_HEADERS: &str = "idempotent-replayed";

/// How long a browser may keep a preflight's answer.
pub const CORS_MAX_AGE_SECONDS: u32 = 600;

/// The methods in the order `Allow` and the CORS rules list them.
const METHOD_ORDER: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The methods a path takes among the routes `serves` accepts, `HEAD` wherever `GET` is.
pub fn allowed_methods(path: &str, serves: impl Fn(Function) -> bool) -> Vec<&'static str> {
    let routes: Vec<&Route> = ROUTES
        .iter()
        .filter(|route| serves(route.function) && match_path(route.path, path).is_some())
        .collect();
    let mut methods: Vec<&'static str> = METHOD_ORDER
        .into_iter()
        .filter(|method| routes.iter().any(|route| route.method == *method))
        .collect();
    if methods.contains(&"GET") {
        methods.insert(1, "HEAD");
    }
    methods
}

/// The answer to a request that matched no route.
pub fn unmatched(miss: Miss, path: &str, serves: impl Fn(Function) -> bool) -> ApiResponse {
    match miss {
        Miss::NotFound => ApiError::not_found().to_response(),
        Miss::MethodNotAllowed => {
            let mut response = ApiError::method_not_allowed().to_response();
            if let Ok(allow) = HeaderValue::from_str(&allowed_methods(path, serves).join(", ")) {
                response.headers.insert(header::ALLOW, allow);
            }
            response
        }
    }
}

/// A `HEAD` answer is the `GET` answer's status and headers without its body.
pub fn for_method(method: &Method, mut response: ApiResponse) -> ApiResponse {
    if method == Method::HEAD {
        response.body = bytes::Bytes::new();
    }
    response
}

/// What a function URL allows a browser on the frontend's origin to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRule {
    pub methods: Vec<&'static str>,
    pub headers: Vec<&'static str>,
    pub max_age_seconds: u32,
}

/// The CORS rule of the routes `serves` accepts: their methods; `authorization` where a route
/// takes a vendor key or the admin token; `content-type` and `idempotency-key` everywhere.
pub fn cors_rule(serves: impl Fn(Function) -> bool) -> CorsRule {
    let routes: Vec<&Route> = ROUTES.iter().filter(|r| serves(r.function)).collect();
    let methods = METHOD_ORDER
        .into_iter()
        .filter(|method| routes.iter().any(|route| route.method == *method))
        .collect();
    let authenticated = routes
        .iter()
        .any(|route| route.path.starts_with("/api/") || route.path.starts_with("/admin/"));
    let mut headers = Vec::new();
    if authenticated {
        headers.push("authorization");
    }
    headers.extend(["content-type", "idempotency-key"]);
    CorsRule {
        methods,
        headers,
        max_age_seconds: CORS_MAX_AGE_SECONDS,
    }
}

/// The dev server's CORS: the function URLs' rules for the configured frontend origins.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<String>,
    rule: CorsRule,
}

impl Cors {
    pub fn new(origins: Vec<String>, serves: impl Fn(Function) -> bool) -> Cors {
        Cors {
            origins,
            rule: cors_rule(serves),
        }
    }

    /// The request's `Origin` when it is one of the allowed origins.
    fn allowed_origin(&self, request: &ApiRequest) -> Option<HeaderValue> {
        let origin = request.headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|allowed| allowed == text)
            .then(|| origin.clone())
    }

    /// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`): 204 with
    /// the rule for an allowed origin, 204 without CORS headers for any other (the browser then
    /// refuses, as it does against a function URL). `None`: not a preflight.
    pub fn preflight(&self, request: &ApiRequest) -> Option<ApiResponse> {
        if request.method != Method::OPTIONS
            || !request
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let mut response = ApiResponse {
            status: StatusCode::NO_CONTENT,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
        };
        response
            .headers
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed_origin(request) {
            let headers = &mut response.headers;
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if let Ok(methods) = HeaderValue::from_str(&self.rule.methods.join(", ")) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            }
            if let Ok(names) = HeaderValue::from_str(&self.rule.headers.join(", ")) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, names);
            }
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from(self.rule.max_age_seconds),
            );
        }
        Some(response)
    }

    /// Marks an answer to an allowed origin as readable by it.
    pub fn decorate(&self, request: &ApiRequest, mut response: ApiResponse) -> ApiResponse {
        if let Some(origin) = self.allowed_origin(request) {
            response
                .headers
                .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            response
                .headers
                .append(header::VARY, HeaderValue::from_static("Origin"));
            response.headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_allows_its_routes_methods_and_head_beside_get() {
        let all = |_| true;
        assert_eq!(
            allowed_methods("/api/settings", all),
            ["GET", "HEAD", "PUT"]
        );
        assert_eq!(allowed_methods("/admin/vendors", all), ["POST"]);
        assert!(allowed_methods("/nowhere", all).is_empty());
    }

    #[test]
    fn the_public_function_takes_no_authorization_header() {
        let rule = cors_rule(|f| f == Function::CheckoutCallbacks);
        assert_eq!(rule.methods, ["POST"]);
        assert_eq!(rule.headers, ["content-type", "idempotency-key"]);
        let orders = cors_rule(|f| f == Function::OrdersApi);
        assert_eq!(orders.methods, ["GET", "POST", "PUT", "PATCH", "DELETE"]);
        assert_eq!(orders.headers[0], "authorization");
    }
}
