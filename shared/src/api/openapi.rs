//! The OpenAPI 3.1 document of every route (API.md), generated from the one route table that
//! serves them, so it cannot list a route that is not served or miss one that is. `openapi.json`
//! at the repository root is this document; a test keeps the file fresh.

use super::routes::{Function, ROUTES, Route, RouteId};
use serde_json::{Map, Value, json};

/// The status a route answers on success.
fn success_status(id: RouteId) -> &'static str {
    match id {
        RouteId::CreateVendor
        | RouteId::CreateProduct
        | RouteId::CreateOffer
        | RouteId::Checkout
        | RouteId::CommentOrder
        | RouteId::CreateManualOrder
        | RouteId::ManualPayment
        | RouteId::RefundOrder
        | RouteId::PortalOpenTicket
        | RouteId::VendorOpenTicket => "201",
        _ => "200",
    }
}

/// Who may call: vendor routes take the API key, admin routes the admin token; customer routes
/// carry their secret token in the path; webhooks are verified by signature.
fn security(path: &str) -> Value {
    if path.starts_with("/api/") {
        json!([{ "apiKey": [] }])
    } else if path.starts_with("/admin/") {
        json!([{ "adminToken": [] }])
    } else {
        json!([])
    }
}

fn operation(route: &Route) -> Value {
    let parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    let mut operation = json!({
        "operationId": format!("{:?}", route.id),
        "tags": [route.function.name()],
        "security": security(route.path),
        "parameters": parameters,
        "responses": {
            success_status(route.id): { "description": "success" },
            "default": {
                "description": "an error (API.md conventions)",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
            }
        }
    });
    if route.function == Function::DevServer {
        operation["x-dev-server-only"] = json!(true);
    }
    operation
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sellerdesk",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The back office of a digital-products platform. Each tag is the function (Lambda function URL) serving the route; the dev server serves all of them on one port."
        },
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "http", "scheme": "bearer", "description": "the vendor's API key" },
                "adminToken": { "type": "http", "scheme": "bearer", "description": "the platform's admin token" }
            },
            "schemas": {
                "Money": {
                    "type": "object",
                    "required": ["amount", "currency"],
                    "properties": {
                        "amount": { "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" },
                        "currency": { "type": "string", "pattern": "^[A-Z]{3}$" }
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": { "type": "string" },
                                "message": { "type": "string" },
                                "fields": { "type": "object", "additionalProperties": { "type": "string" } }
                            }
                        }
                    }
                }
            }
        },
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_route_is_in_the_document_once() {
        let doc = document();
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|methods| methods.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, ROUTES.len());
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            assert_eq!(op["tags"][0], route.function.name(), "{}", route.path);
        }
    }

    #[test]
    fn the_committed_openapi_json_is_the_generated_document() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
        let generated = serde_json::to_string_pretty(&document()).unwrap() + "\n";
        if std::env::var("SELLERDESK_WRITE_OPENAPI").as_deref() == Ok("1") {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "openapi.json is stale: run SELLERDESK_WRITE_OPENAPI=1 cargo test -p sellerdesk openapi"
        );
    }
}
