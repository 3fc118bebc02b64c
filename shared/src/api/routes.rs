//! The one route table: which function serves which route. The dev server serves all of them,
//! each Lambda only its own, and a test checks infra/template.yaml against it.

use http::Method;
use std::collections::BTreeMap;

/// The deployable units. The name is the package, the binary and the Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    AdminApi,
    /// Provider webhooks and the public checkout.
    CheckoutCallbacks,
    /// Vendor CRM, exports and the customer order page.
    OrdersApi,
    /// Refunds: the vendor's, and the customer's refund/cancel requests (opening tickets).
    RefundRequests,
    /// Reading and updating tickets, by the customer's ticket link and the vendor's key.
    TicketUpdates,
    /// Local dev server only; never part of a Lambda build.
    DevServer,
}

impl Function {
    /// Every function deployed to Lambda.
    pub const LAMBDAS: [Function; 5] = [
        Function::AdminApi,
        Function::CheckoutCallbacks,
        Function::OrdersApi,
        Function::RefundRequests,
        Function::TicketUpdates,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::AdminApi => "admin-api",
            Function::CheckoutCallbacks => "checkout-callbacks",
            Function::OrdersApi => "orders-api",
            Function::RefundRequests => "refund-requests",
            Function::TicketUpdates => "ticket-updates",
            Function::DevServer => "devserver",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    CreateVendor,
    ListApiKeys,
    CreateApiKey,
    RevokeApiKey,
    RevokeVendorKeys,
    GetSettings,
    PutSettings,
    CreateProduct,
    ListProducts,
    CreateOffer,
    ListOffers,
    ReviseOffer,
    Checkout,
    PortalOrder,
    StripeWebhook,
    PayPalWebhook,
    PortalPay,
    GetBalance,
    ListOrders,
    OrderCard,
    RotateCustomerLink,
    PatchOrder,
    CommentOrder,
    CreateManualOrder,
    ManualPayment,
    OrderTransactions,
    RefundOrder,
    VendorOpenTicket,
    PortalOpenTicket,
    PortalTicket,
    PortalTicketComment,
    PortalTicketType,
    PortalTicketClose,
    ListTickets,
    VendorTicket,
    VendorTicketComment,
    VendorTicketType,
    VendorTicketClose,
    RestrictVendor,
    PlatformOpenTicket,
    ListReviews,
    ListCustomers,
    GetCustomer,
    CustomerEntitlements,
    BlockCustomer,
    UnblockCustomer,
    GetClock,
    SetClock,
    RunSweeps,
    ListOutbox,
    DevPayPage,
    DevPay,
}

impl RouteId {
    /// The query parameters the route reads; any other is refused with a 400 naming it (issue
    /// 16, item 16: `?status=` on orders, whose field is `payment_status`, must not be ignored).
    /// The OpenAPI document declares exactly these.
    pub fn query_params(self) -> &'static [&'static str] {
        match self {
            RouteId::ListOrders => &[
                "limit",
                "cursor",
                "q",
                "payment_status",
                "product_id",
                "customer_id",
                "from",
                "to",
            ],
            RouteId::ListCustomers => &["limit", "cursor", "q"],
            RouteId::ListTickets => &["limit", "cursor", "status", "type"],
            RouteId::ListProducts | RouteId::ListOffers | RouteId::ListReviews => {
                &["limit", "cursor"]
            }
            _ => &[],
        }
    }

    /// Whether a success answer shows a secret that must be shown only once (a new API key).
    pub fn answers_a_secret(self) -> bool {
        matches!(self, RouteId::CreateVendor | RouteId::CreateApiKey)
    }

    /// Whether a repeat with the same `Idempotency-Key` is answered from the first answer's
    /// record. Starting a payment is idempotent by itself (the provider's key per open amount
    /// and day) and its answer is the provider's page, so it is simply asked again.
    pub fn records_answers(self) -> bool {
        !matches!(self, RouteId::PortalPay)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub id: RouteId,
    pub method: &'static str,
    /// Literal segments and `{name}` parameters.
    pub path: &'static str,
    pub function: Function,
}

const fn route(id: RouteId, method: &'static str, path: &'static str, function: Function) -> Route {
    Route {
        id,
        method,
        path,
        function,
    }
}

#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    route(RouteId::CreateVendor, "POST", "/admin/vendors", Function::AdminApi),
    route(RouteId::GetSettings, "GET", "/api/settings", Function::OrdersApi),
    route(RouteId::PutSettings, "PUT", "/api/settings", Function::OrdersApi),
    route(RouteId::CreateProduct, "POST", "/api/products", Function::OrdersApi),
    route(RouteId::ListProducts, "GET", "/api/products", Function::OrdersApi),
    route(RouteId::CreateOffer, "POST", "/api/offers", Function::OrdersApi),
    route(RouteId::ListOffers, "GET", "/api/offers", Function::OrdersApi),
    route(RouteId::ReviseOffer, "PUT", "/api/offers/{offer_id}", Function::OrdersApi),
    route(RouteId::Checkout, "POST", "/checkout", Function::CheckoutCallbacks),
    route(RouteId::PortalOrder, "GET", "/portal/orders/{token}", Function::OrdersApi),
    route(RouteId::StripeWebhook, "POST", "/webhooks/stripe", Function::CheckoutCallbacks),
    route(RouteId::PayPalWebhook, "POST", "/webhooks/paypal", Function::CheckoutCallbacks),
    route(RouteId::PortalPay, "POST", "/portal/orders/{token}/pay", Function::CheckoutCallbacks),
    route(RouteId::GetBalance, "GET", "/api/balance", Function::OrdersApi),
    route(RouteId::ListOrders, "GET", "/api/orders", Function::OrdersApi),
    route(RouteId::OrderCard, "GET", "/api/orders/{order_id}", Function::OrdersApi),
    route(RouteId::PatchOrder, "PATCH", "/api/orders/{order_id}", Function::OrdersApi),
    route(RouteId::CommentOrder, "POST", "/api/orders/{order_id}/comments", Function::OrdersApi),
    route(RouteId::RotateCustomerLink, "POST", "/api/orders/{order_id}/customer-link/rotate", Function::OrdersApi),
    route(RouteId::CreateManualOrder, "POST", "/api/orders", Function::OrdersApi),
    route(RouteId::ManualPayment, "POST", "/api/orders/{order_id}/payments", Function::OrdersApi),
    route(RouteId::RefundOrder, "POST", "/api/orders/{order_id}/refunds", Function::RefundRequests),
    route(RouteId::VendorOpenTicket, "POST", "/api/orders/{order_id}/tickets", Function::RefundRequests),
    route(RouteId::PortalOpenTicket, "POST", "/portal/orders/{token}/tickets", Function::RefundRequests),
    route(RouteId::PortalTicket, "GET", "/portal/tickets/{ticket_token}", Function::TicketUpdates),
    route(RouteId::PortalTicketComment, "POST", "/portal/tickets/{ticket_token}/comments", Function::TicketUpdates),
    route(RouteId::PortalTicketType, "POST", "/portal/tickets/{ticket_token}/type", Function::TicketUpdates),
    route(RouteId::PortalTicketClose, "POST", "/portal/tickets/{ticket_token}/close", Function::TicketUpdates),
    route(RouteId::ListTickets, "GET", "/api/tickets", Function::TicketUpdates),
    route(RouteId::VendorTicket, "GET", "/api/tickets/{ticket_id}", Function::TicketUpdates),
    route(RouteId::VendorTicketComment, "POST", "/api/tickets/{ticket_id}/comments", Function::TicketUpdates),
    route(RouteId::VendorTicketType, "POST", "/api/tickets/{ticket_id}/type", Function::TicketUpdates),
    route(RouteId::VendorTicketClose, "POST", "/api/tickets/{ticket_id}/close", Function::TicketUpdates),
    route(RouteId::RestrictVendor, "POST", "/admin/vendors/{vendor_id}/restrict", Function::AdminApi),
    route(RouteId::PlatformOpenTicket, "POST", "/admin/vendors/{vendor_id}/orders/{order_id}/tickets", Function::AdminApi),
    route(RouteId::ListReviews, "GET", "/admin/reviews", Function::AdminApi),
    route(RouteId::OrderTransactions, "GET", "/api/orders/{order_id}/transactions", Function::OrdersApi),
    route(RouteId::ListCustomers, "GET", "/api/customers", Function::OrdersApi),
    route(RouteId::GetCustomer, "GET", "/api/customers/{customer_id}", Function::OrdersApi),
    route(RouteId::CustomerEntitlements, "GET", "/api/customers/{customer_id}/entitlements", Function::OrdersApi),
    route(RouteId::BlockCustomer, "POST", "/api/customers/{customer_id}/block", Function::OrdersApi),
    route(RouteId::UnblockCustomer, "POST", "/api/customers/{customer_id}/unblock", Function::OrdersApi),
    route(RouteId::ListApiKeys, "GET", "/api/keys", Function::OrdersApi),
    route(RouteId::CreateApiKey, "POST", "/api/keys", Function::OrdersApi),
    route(RouteId::RevokeApiKey, "DELETE", "/api/keys/{key_id}", Function::OrdersApi),
    route(RouteId::RevokeVendorKeys, "POST", "/admin/vendors/{vendor_id}/keys/revoke", Function::AdminApi),
    route(RouteId::GetClock, "GET", "/_dev/clock", Function::DevServer),
    route(RouteId::SetClock, "POST", "/_dev/clock", Function::DevServer),
    route(RouteId::RunSweeps, "POST", "/_dev/sweep", Function::DevServer),
    route(RouteId::ListOutbox, "GET", "/_dev/outbox", Function::DevServer),
    route(RouteId::DevPayPage, "GET", "/_dev/pay/{session}", Function::DevServer),
    route(RouteId::DevPay, "POST", "/_dev/pay/{session}", Function::DevServer),
];

/// A matched route with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub route_id: RouteId,
    pub function: Function,
    /// The route's path as the table writes it (`/portal/orders/{token}`): what logs may show.
    pub template: &'static str,
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    NotFound,
    MethodNotAllowed,
}

/// The path parameters of `path` if it has the pattern's shape; empty segments (`//`) are
/// ignored, so `//api/orders` and `/api//orders` are `/api/orders`.
pub(super) fn match_path(pattern: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut wanted = pattern.trim_matches('/').split('/');
    let mut given = path.split('/').filter(|segment| !segment.is_empty());
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {
                params.insert(w[1..w.len() - 1].to_string(), g.to_string());
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Finds the route of a request among those `serves` accepts; `HEAD` finds the `GET` route.
pub fn match_route(
    method: &Method,
    path: &str,
    serves: impl Fn(Function) -> bool,
) -> Result<Matched, Miss> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let mut path_known = false;
    for route in ROUTES.iter().filter(|r| serves(r.function)) {
        if let Some(params) = match_path(route.path, path) {
            if route.method == method.as_str() {
                return Ok(Matched {
                    route_id: route.id,
                    function: route.function,
                    template: route.path,
                    params,
                });
            }
            path_known = true;
        }
    }
    Err(if path_known {
        Miss::MethodNotAllowed
    } else {
        Miss::NotFound
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_by_method_and_path_and_function() {
        let all = |_| true;
        let found = match_route(&Method::POST, "/admin/vendors", all).unwrap();
        assert_eq!(found.route_id, RouteId::CreateVendor);
        assert_eq!(
            match_route(&Method::GET, "/admin/vendors", all),
            Err(Miss::MethodNotAllowed)
        );
        assert_eq!(
            match_route(&Method::GET, "/nowhere", all),
            Err(Miss::NotFound)
        );
        let admin_only = |f| f == Function::AdminApi;
        assert_eq!(
            match_route(&Method::GET, "/_dev/clock", admin_only),
            Err(Miss::NotFound)
        );
    }

    #[test]
    fn path_parameters_are_extracted() {
        let params = match_path("/webhooks/stripe/{vendor_id}", "/webhooks/stripe/ven_1").unwrap();
        assert_eq!(params["vendor_id"], "ven_1");
        assert!(match_path("/webhooks/stripe/{vendor_id}", "/webhooks/stripe/").is_none());
        assert!(match_path("/a/{b}", "/a/x/y").is_none());
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{a:?} twice");
            }
        }
    }
}
