//! The OpenAPI 3.1 document of every route (API.md), generated from the one route table that
//! serves them, so it cannot list a route that is not served or miss one that is, and from the
//! Rust types the handlers read (utoipa derives their schemas from the serde types, so a body's
//! schema is what the handler accepts). `openapi.json` at the repository root is this document;
//! a test keeps the file fresh. It lives with the handlers because it names their body types.

use crate::api::routes::{Function, ROUTES, Route, RouteId};
use crate::api::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::domain::money::AMOUNT_PATTERN;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The document's component schemas, filled as operations refer to them.
type Components = BTreeMap<String, Value>;

/// A `$ref` to `T`'s schema, registering it and every schema it refers to.
fn schema_of<T: ToSchema>(components: &mut Components) -> Value {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    for (name, schema) in nested {
        components.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    let name = T::name().to_string();
    components.insert(
        name.clone(),
        serde_json::to_value(T::schema()).unwrap_or(Value::Null),
    );
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// What a route reads as its JSON body: the schema and whether a body is required. Webhooks
/// take the provider's raw event; routes that take no body accept nothing or `{}`.
fn request_body(id: RouteId, components: &mut Components) -> Option<(Value, bool)> {
    use crate::app::{orders, refunds, tickets};
    let nothing = json!({ "type": "object", "additionalProperties": false });
    Some(match id {
        RouteId::CreateVendor => (
            schema_of::<crate::domain::vendors::NewVendor>(components),
            true,
        ),
        RouteId::PutSettings => (
            schema_of::<crate::domain::vendors::SettingsChange>(components),
            true,
        ),
        RouteId::CreateProduct => (
            schema_of::<crate::domain::catalogue::NewProduct>(components),
            true,
        ),
        RouteId::CreateOffer | RouteId::ReviseOffer => (
            schema_of::<crate::domain::catalogue::OfferTerms>(components),
            true,
        ),
        RouteId::Checkout => (
            schema_of::<crate::usecases::orders::checkout::CheckoutRequest>(components),
            true,
        ),
        RouteId::PatchOrder => (
            schema_of::<crate::usecases::orders::OrderPatch>(components),
            true,
        ),
        RouteId::CommentOrder => (schema_of::<orders::CommentBody>(components), true),
        RouteId::CreateManualOrder => (schema_of::<orders::ManualOrderBody>(components), true),
        RouteId::ManualPayment => (
            schema_of::<crate::usecases::orders::ManualPayment>(components),
            true,
        ),
        RouteId::RefundOrder => (schema_of::<refunds::RefundBody>(components), true),
        RouteId::VendorOpenTicket => (schema_of::<tickets::OpenBody>(components), true),
        RouteId::PortalOpenTicket => (schema_of::<tickets::PortalOpenBody>(components), true),
        RouteId::VendorTicketComment => (schema_of::<tickets::CommentBody>(components), true),
        RouteId::PortalTicketComment => (schema_of::<tickets::PortalCommentBody>(components), true),
        RouteId::VendorTicketType => (schema_of::<tickets::TypeBody>(components), true),
        RouteId::PortalTicketType => (schema_of::<tickets::PortalTypeBody>(components), true),
        RouteId::VendorTicketClose => (schema_of::<tickets::CloseBody>(components), false),
        RouteId::RestrictVendor => (schema_of::<tickets::RestrictBody>(components), false),
        RouteId::PlatformOpenTicket => (schema_of::<tickets::PlatformOpenBody>(components), true),
        RouteId::BlockCustomer
        | RouteId::UnblockCustomer
        | RouteId::PortalPay
        | RouteId::PortalTicketClose
        | RouteId::CreateApiKey
        | RouteId::RevokeApiKey
        | RouteId::RevokeVendorKeys
        | RouteId::RotateCustomerLink => (nothing, false),
        RouteId::StripeWebhook | RouteId::PayPalWebhook => (json!({ "type": "object" }), true),
        _ => return None,
    })
}

/// One page of a list (API.md): the items, the next page's cursor, the total.
fn list_of(item: Value) -> Value {
    json!({
        "type": "object",
        "required": ["items", "next_cursor", "total"],
        "properties": {
            "items": { "type": "array", "items": item },
            "next_cursor": { "type": ["string", "null"] },
            "total": { "type": "integer", "minimum": 0 }
        }
    })
}

/// What a route answers on success, from the type its handler serializes.
fn response_body(id: RouteId, components: &mut Components) -> Option<Value> {
    use crate::app::{customers, orders, payments, refunds, tickets, vendors};
    use crate::domain::catalogue::{Offer, Product};
    use crate::usecases::orders::entitlements::Entitlement;
    use crate::usecases::tickets::reviews::Review;
    Some(match id {
        RouteId::CreateVendor => schema_of::<vendors::CreatedVendor>(components),
        RouteId::ListApiKeys => list_of(schema_of::<vendors::ApiKeyView>(components)),
        RouteId::CreateApiKey => schema_of::<vendors::CreatedApiKey>(components),
        RouteId::RevokeApiKey | RouteId::RevokeVendorKeys => {
            schema_of::<vendors::Revoked>(components)
        }
        RouteId::GetSettings | RouteId::PutSettings => schema_of::<vendors::Settings>(components),
        RouteId::GetBalance => schema_of::<vendors::Balances>(components),
        RouteId::RotateCustomerLink => schema_of::<orders::RotatedLink>(components),
        RouteId::CreateProduct => schema_of::<Product>(components),
        RouteId::ListProducts => list_of(schema_of::<Product>(components)),
        RouteId::CreateOffer | RouteId::ReviseOffer => schema_of::<Offer>(components),
        RouteId::ListOffers => list_of(schema_of::<Offer>(components)),
        RouteId::StripeWebhook | RouteId::PayPalWebhook => {
            schema_of::<payments::Received>(components)
        }
        RouteId::PortalPay => schema_of::<payments::PaymentUrl>(components),
        RouteId::PortalTicket
        | RouteId::VendorTicket
        | RouteId::PortalTicketComment
        | RouteId::VendorTicketComment
        | RouteId::PortalTicketType
        | RouteId::VendorTicketType
        | RouteId::PortalTicketClose
        | RouteId::VendorTicketClose
        | RouteId::VendorOpenTicket => schema_of::<tickets::TicketView>(components),
        RouteId::ListTickets => list_of(schema_of::<tickets::TicketView>(components)),
        RouteId::PortalOpenTicket => schema_of::<tickets::OpenedTicket>(components),
        RouteId::RestrictVendor => schema_of::<tickets::Restriction>(components),
        RouteId::PlatformOpenTicket => schema_of::<tickets::PlatformOpenedTicket>(components),
        RouteId::ListReviews => list_of(schema_of::<Review>(components)),
        RouteId::RefundOrder => schema_of::<refunds::RefundView>(components),
        RouteId::ListCustomers => list_of(schema_of::<customers::CustomerView>(components)),
        RouteId::GetCustomer => schema_of::<customers::CustomerCard>(components),
        RouteId::BlockCustomer | RouteId::UnblockCustomer => {
            schema_of::<customers::CustomerView>(components)
        }
        RouteId::CustomerEntitlements => list_of(schema_of::<Entitlement>(components)),
        RouteId::Checkout => schema_of::<orders::CheckoutAnswer>(components),
        RouteId::PortalOrder => schema_of::<orders::OrderView>(components),
        RouteId::OrderCard
        | RouteId::PatchOrder
        | RouteId::CommentOrder
        | RouteId::ManualPayment
        | RouteId::CreateManualOrder => schema_of::<orders::VendorOrderView>(components),
        RouteId::ListOrders => list_of(schema_of::<orders::OrderSummary>(components)),
        RouteId::OrderTransactions => schema_of::<orders::Transactions>(components),
        _ => return None,
    })
}

fn header(name: &str, required: bool, description: &str) -> Value {
    json!({ "name": name, "in": "header", "required": required, "description": description, "schema": { "type": "string", "minLength": 1 } })
}

fn query(name: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema })
}

/// The headers and query parameters a route reads besides its path.
fn other_parameters(route: &Route) -> Vec<Value> {
    let mut parameters = Vec::new();
    if route.method == "POST" {
        parameters.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "a repeat with the same key and body returns the first answer",
            "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" }
        }));
    }
    match route.id {
        RouteId::StripeWebhook => {
            parameters.push(header("Stripe-Signature", true, "t=<unix>,v1=<hex>"))
        }
        RouteId::PayPalWebhook => {
            for name in [
                "PAYPAL-TRANSMISSION-ID",
                "PAYPAL-TRANSMISSION-TIME",
                "PAYPAL-TRANSMISSION-SIG",
                "PAYPAL-CERT-URL",
                "PAYPAL-AUTH-ALGO",
            ] {
                parameters.push(header(name, true, "PayPal's transmission signature"));
            }
        }
        _ => {}
    }
    // Exactly the parameters the route reads (any other is a 400).
    for name in route.id.query_params() {
        let schema = match *name {
            "limit" => {
                json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT })
            }
            // An RFC 3339 time, or a day in the vendor's time zone.
            "from" | "to" => json!({ "anyOf": [
                { "type": "string", "format": "date-time" },
                { "type": "string", "format": "date" }
            ] }),
            _ => json!({ "type": "string" }),
        };
        parameters.push(query(name, schema));
    }
    parameters
}

/// The status a route answers on success.
fn success_status(id: RouteId) -> &'static str {
    match id {
        RouteId::CreateVendor
        | RouteId::CreateApiKey
        | RouteId::CreateProduct
        | RouteId::CreateOffer
        | RouteId::Checkout
        | RouteId::CommentOrder
        | RouteId::CreateManualOrder
        | RouteId::ManualPayment
        | RouteId::RefundOrder
        | RouteId::PortalOpenTicket
        | RouteId::VendorOpenTicket
        | RouteId::PlatformOpenTicket => "201",
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

fn operation(route: &Route, components: &mut Components) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    parameters.extend(other_parameters(route));
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
    if let Some(schema) = response_body(route.id, components) {
        operation["responses"][success_status(route.id)]["content"] =
            json!({ "application/json": { "schema": schema } });
    }
    if let Some((schema, required)) = request_body(route.id, components) {
        operation["requestBody"] = json!({
            "required": required,
            "content": { "application/json": { "schema": schema } }
        });
    }
    if route.function == Function::DevServer {
        operation["x-dev-server-only"] = json!(true);
    }
    operation
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut components = Components::new();
    for route in ROUTES {
        let operation = operation(route, &mut components);
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation;
    }
    let mut schemas = json!({
                "Money": {
                    "type": "object",
                    "required": ["amount", "currency"],
                    "properties": {
                        "amount": { "type": "string", "pattern": AMOUNT_PATTERN },
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
    });
    for (name, schema) in components {
        schemas[name] = schema;
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
            "schemas": schemas,
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
    fn every_route_that_reads_a_body_documents_its_schema() {
        let doc = document();
        for route in ROUTES
            .iter()
            .filter(|r| r.method != "GET" && r.function != Function::DevServer)
        {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            assert!(
                schema.is_object(),
                "{} {} has no body schema",
                route.method,
                route.path
            );
            if let Some(reference) = schema["$ref"].as_str() {
                let name = reference.trim_start_matches("#/components/schemas/");
                assert!(
                    doc["components"]["schemas"][name].is_object(),
                    "{name} is missing"
                );
            }
        }
        // and every route documents the answer its handler serializes
        for route in ROUTES.iter().filter(|r| r.function != Function::DevServer) {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            let success = &op["responses"][success_status(route.id)];
            assert!(
                success["content"]["application/json"]["schema"].is_object(),
                "{} {} documents no answer",
                route.method,
                route.path
            );
        }
        // Money is the decimal-string pattern Money::parse reads
        assert_eq!(
            doc["components"]["schemas"]["Money"]["properties"]["amount"]["pattern"],
            AMOUNT_PATTERN
        );
        assert_eq!(
            doc["components"]["schemas"]["OfferTerms"]["additionalProperties"],
            false
        );
        // the balance's decimal strings (a literal in its derive) carry the same pattern
        for field in ["pending", "available"] {
            assert_eq!(
                doc["components"]["schemas"]["CurrencyBalance"]["properties"][field]["pattern"],
                AMOUNT_PATTERN
            );
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
