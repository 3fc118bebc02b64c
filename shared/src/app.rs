//! The application: its ports, and the handlers that turn a matched route into a use case call.
//! Handlers are thin: parse, authenticate, call, answer.

use crate::api::edge;
use crate::api::routes::{Function, Matched, RouteId, match_route};
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::clock::{Budget, Clock};
use crate::domain::ids::{Entropy, OrderId};
use crate::domain::token::{LinkKeys, SecretDigest};
use crate::domain::vendors::Vendor;
use crate::payments::{NoProvider, PaymentProvider};
use crate::store::ItemStore;
use crate::store::StoreError;
use crate::usecases::payments::collection::{self, CollectionReport};
use crate::usecases::ports::Ports;
use crate::usecases::ports::UseCaseError;
use crate::usecases::ports::VendorCache;
use crate::usecases::refunds::provider_tasks::{self, ProviderReport};
use crate::usecases::tickets::sweep::{self, TicketSweepReport};
use crate::webhooks::paypal_signature::{NoCertificates, PayPalVerifier};
use http::StatusCode;
use std::sync::Arc;

mod catalogue;
mod customers;
pub mod openapi;
pub mod idempotency;
mod orders;
mod payments;
mod refunds;
mod tickets;
mod vendors;

/// What one run of the sweeps did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub tickets: TicketSweepReport,
    pub provider: ProviderReport,
    pub collection: CollectionReport,
}

#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn ItemStore>,
    /// The same store without a request's Idempotency-Key claim: for the writes that are not the
    /// request's own decision (a key's last use), which must not commit its claim.
    unclaimed: Arc<dyn ItemStore>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    /// The admin token's digest (the token itself is never kept); `None`: admin routes answer 401.
    admin_token: Option<SecretDigest>,
    /// Derives customer and ticket links (R-O4); never leaves the process.
    link_keys: LinkKeys,
    /// Checks PayPal's transmission signatures; keeps fetched certificates while warm.
    paypal: Arc<PayPalVerifier>,
    /// Starts payments, refunds and cancellations at the provider.
    pub payments: Arc<dyn PaymentProvider>,
    /// Vendor profiles kept while warm for the webhooks' hot path.
    vendors: Arc<VendorCache>,
    /// What the platform's provider accounts sign their webhooks with.
    webhooks: Arc<WebhookSecrets>,
    /// The abuse limits on public routes; `None`: off (tests, load tests).
    limits: Option<crate::usecases::limits::Limits>,
    /// Where customer links may point.
    portal: Arc<crate::domain::vendors::PortalPolicy>,
}

/// The signing configuration of the platform's provider accounts (API.md, Webhooks): the Stripe
/// endpoint secrets (several during a rotation) and PayPal's webhook id. No vendor has one.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    pub stripe: Vec<String>,
    pub paypal_webhook_id: Option<String>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets themselves.
        f.debug_struct("WebhookSecrets")
            .field("stripe", &format!("{} secret(s)", self.stripe.len()))
            .field("paypal_webhook_id", &self.paypal_webhook_id)
            .finish()
    }
}

impl From<UseCaseError> for ApiError {
    fn from(error: UseCaseError) -> ApiError {
        match error {
            UseCaseError::Invalid(fields) => ApiError::validation(fields),
            UseCaseError::NotFound => ApiError::not_found(),
            UseCaseError::CustomerBlocked => ApiError::new(
                StatusCode::FORBIDDEN,
                "customer_blocked",
                "this customer cannot buy from this vendor",
            ),
            UseCaseError::Store(
                StoreError::Throttled | StoreError::OutcomeUnknown | StoreError::Contended,
            ) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_busy",
                "the store is busy; try again shortly",
            )
            .with_detail("retry_after_seconds", serde_json::json!(1)),
            UseCaseError::Store(StoreError::AlreadyCommitted) => idempotency::committed(),
            UseCaseError::Store(StoreError::InvalidCursor) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                "the cursor is not one this list gave out",
            ),
            UseCaseError::LinkKey(error) => {
                tracing::error!(error = %error, "use case failed");
                ApiError::internal()
            }
            UseCaseError::Store(store) => {
                tracing::error!(error = %store, source = ?std::error::Error::source(&store), "use case failed");
                ApiError::internal()
            }
        }
    }
}

impl App {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        admin_token: Option<SecretDigest>,
        link_keys: impl Into<LinkKeys>,
    ) -> App {
        App {
            unclaimed: Arc::clone(&store),
            store,
            clock,
            entropy,
            admin_token,
            link_keys: link_keys.into(),
            paypal: Arc::new(PayPalVerifier::new(Arc::new(NoCertificates), Vec::new())),
            payments: Arc::new(NoProvider),
            vendors: Arc::new(VendorCache::default()),
            webhooks: Arc::new(WebhookSecrets::default()),
            limits: None,
            portal: Arc::new(crate::domain::vendors::PortalPolicy::default()),
        }
    }

    /// Where customer links may point (the dev server's policy unless told).
    pub fn with_portal(mut self, portal: crate::domain::vendors::PortalPolicy) -> App {
        self.portal = Arc::new(portal);
        self
    }

    /// The abuse limits on public routes (`None`: off).
    pub fn with_limits(mut self, limits: Option<crate::usecases::limits::Limits>) -> App {
        self.limits = limits;
        self
    }

    /// Counts this request of `kind` by `subject` against the limit `rate_of` picks; over it,
    /// 429 with `Retry-After`. Off, or without a subject (no source address known), nothing.
    pub(crate) async fn limit(
        &self,
        kind: &str,
        subject: Option<&str>,
        rate_of: impl Fn(&crate::usecases::limits::Limits) -> crate::usecases::limits::Rate,
    ) -> Result<(), ApiError> {
        use crate::usecases::limits::{LimitError, take};
        let (Some(limits), Some(subject)) = (&self.limits, subject) else {
            return Ok(());
        };
        match take(
            self.store.as_ref(),
            &self.link_keys,
            kind,
            subject,
            rate_of(limits),
            self.clock.now(),
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(LimitError::Reached { retry_after }) => {
                tracing::warn!(kind, "rate limit reached");
                Err(ApiError::rate_limited(retry_after.num_seconds()))
            }
            Err(LimitError::Store(error)) => Err(UseCaseError::Store(error).into()),
            Err(LimitError::Key(error)) => Err(UseCaseError::LinkKey(error).into()),
        }
    }

    /// The platform's webhook secrets.
    pub fn with_webhook_secrets(mut self, secrets: WebhookSecrets) -> App {
        self.webhooks = Arc::new(secrets);
        self
    }

    /// The PayPal verifier (trusted roots and where certificates come from).
    pub fn with_paypal(mut self, verifier: PayPalVerifier) -> App {
        self.paypal = Arc::new(verifier);
        self
    }

    /// The payment provider.
    pub fn with_payments(mut self, provider: Arc<dyn PaymentProvider>) -> App {
        self.payments = provider;
        self
    }

    /// Every scheduled sweep but the outbox's, in the order their effects feed each other:
    /// tickets (R-T5–R-T8) first, then the provider calls they owe.
    pub async fn run_sweeps(&self) -> Result<SweepReport, crate::usecases::ports::UseCaseError> {
        self.run_sweeps_within(Budget::unbounded()).await
    }

    /// The sweeps within `budget`: the tickets' timers get a third of it, the provider calls
    /// half of what is left, so a slow provider cannot starve the outbox that runs after them.
    pub async fn run_sweeps_within(
        &self,
        budget: Budget,
    ) -> Result<SweepReport, crate::usecases::ports::UseCaseError> {
        let tickets_budget = budget.share(self.clock.now(), 3);
        let tickets = sweep::sweep(self.ports(), self.payments.as_ref(), tickets_budget).await?;
        let provider_budget = budget.share(self.clock.now(), 2);
        let provider =
            provider_tasks::run_due(self.ports(), self.payments.as_ref(), provider_budget).await?;
        let collection_budget = budget.share(self.clock.now(), 2);
        let collection =
            collection::run_due(self.ports(), self.payments.as_ref(), collection_budget).await?;
        Ok(SweepReport {
            tickets,
            provider,
            collection,
        })
    }

    fn ports(&self) -> Ports<'_> {
        Ports {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            entropy: self.entropy.as_ref(),
            link_keys: &self.link_keys,
            vendors: &self.vendors,
        }
    }

    /// Routes a request among the routes `serves` accepts and answers it; never fails.
    /// The current span's `route` field gets the route's template, never the path itself: a path
    /// may carry a customer's or a ticket's secret token.
    pub async fn handle(
        &self,
        request: &ApiRequest,
        serves: impl Fn(Function) -> bool,
    ) -> ApiResponse {
        let response = match match_route(&request.method, &request.path, &serves) {
            Ok(matched) => {
                tracing::Span::current().record("route", matched.template);
                self.respond(&matched, request).await
            }
            Err(miss) => edge::unmatched(miss, &request.path, &serves),
        };
        edge::for_method(&request.method, response)
    }

    pub async fn respond(&self, matched: &Matched, request: &ApiRequest) -> ApiResponse {
        if request.method != http::Method::POST {
            return self.answer(matched, request).await;
        }
        if !request.headers.contains_key(idempotency::HEADER) {
            return self.answer(matched, request).await;
        }
        let principal = match self.principal(matched, request).await {
            Ok(principal) => principal,
            Err(error) => return error.to_response(),
        };
        if !matched.route_id.records_answers() {
            // Idempotent by itself: the key is checked as everywhere, nothing is recorded.
            return match idempotency::checked_key(request, &principal) {
                Ok(_) => self.answer(matched, request).await,
                Err(error) => error.to_response(),
            };
        }
        let now = self.clock.now();
        match idempotency::claim(self.store.as_ref(), request, &principal, now).await {
            Err(error) => error.to_response(),
            Ok(None) => self.answer(matched, request).await,
            Ok(Some(idempotency::Claim::Answered(first))) => {
                idempotency::with_links(self.ports(), first)
                    .await
                    .unwrap_or_else(|error| error.to_response())
            }
            Ok(Some(idempotency::Claim::Fresh(claim))) => {
                // Every write of this request commits together with the claim's mark.
                let claimed = App {
                    store: Arc::new(idempotency::ClaimedStore::new(
                        Arc::clone(&self.store),
                        claim.clone(),
                    )),
                    ..self.clone()
                };
                let response = claimed.answer(matched, request).await;
                let shows_secret = matched.route_id.answers_a_secret();
                let recorded = idempotency::without_links(&response);
                idempotency::finish(self.store.as_ref(), &claim, &recorded, shows_secret, now)
                    .await;
                response
            }
        }
    }

    /// Who is calling, for scoping an `Idempotency-Key`: the vendor a key authenticates on
    /// `/api/` routes, the admin on `/admin/` routes, else the public. A caller the route would
    /// refuse is refused here, before anything is claimed.
    async fn principal(&self, matched: &Matched, request: &ApiRequest) -> Result<String, ApiError> {
        if matched.template.starts_with("/api/") {
            Ok(format!("vendor:{}", self.require_vendor(request).await?.id))
        } else if matched.template.starts_with("/admin/") {
            self.require_admin(request)?;
            Ok("admin".to_string())
        } else {
            Ok(idempotency::PUBLIC.to_string())
        }
    }

    async fn answer(&self, matched: &Matched, request: &ApiRequest) -> ApiResponse {
        self.dispatch(matched, request)
            .await
            .unwrap_or_else(|error| error.to_response())
    }

    async fn dispatch(
        &self,
        matched: &Matched,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        request.only_params(matched.route_id.query_params())?;
        match matched.route_id {
            RouteId::CreateVendor => self.create_vendor(request).await,
            RouteId::GetSettings => self.get_settings(request).await,
            RouteId::PutSettings => self.put_settings(request).await,
            RouteId::CreateProduct => self.create_product(request).await,
            RouteId::ListProducts => self.list_products(request).await,
            RouteId::CreateOffer => self.create_offer(request).await,
            RouteId::ListOffers => self.list_offers(request).await,
            RouteId::ReviseOffer => self.revise_offer(request, matched).await,
            RouteId::Checkout => self.checkout(request).await,
            RouteId::PortalOrder => self.portal_order(matched).await,
            RouteId::StripeWebhook => self.stripe_webhook(request).await,
            RouteId::PayPalWebhook => self.paypal_webhook(request).await,
            RouteId::PortalPay => self.portal_pay(request, matched).await,
            RouteId::GetBalance => self.get_balance(request).await,
            RouteId::ListOrders => self.list_orders(request).await,
            RouteId::OrderCard => self.order_card(request, matched).await,
            RouteId::PatchOrder => self.patch_order(request, matched).await,
            RouteId::CommentOrder => self.comment_order(request, matched).await,
            RouteId::RotateCustomerLink => self.rotate_customer_link(request, matched).await,
            RouteId::CreateManualOrder => self.create_manual_order(request).await,
            RouteId::ManualPayment => self.record_manual_payment(request, matched).await,
            RouteId::RefundOrder => self.refund_order(request, matched).await,
            RouteId::VendorOpenTicket => self.vendor_open_ticket(request, matched).await,
            RouteId::PortalOpenTicket => self.portal_open_ticket(request, matched).await,
            RouteId::PortalTicket => self.portal_ticket(matched).await,
            RouteId::PortalTicketComment => {
                self.portal_change_ticket(request, matched, "comment").await
            }
            RouteId::PortalTicketType => self.portal_change_ticket(request, matched, "type").await,
            RouteId::PortalTicketClose => {
                self.portal_change_ticket(request, matched, "close").await
            }
            RouteId::ListTickets => self.list_tickets(request).await,
            RouteId::VendorTicket => self.vendor_ticket(request, matched).await,
            RouteId::VendorTicketComment => {
                self.vendor_change_ticket(request, matched, "comment").await
            }
            RouteId::VendorTicketType => self.vendor_change_ticket(request, matched, "type").await,
            RouteId::VendorTicketClose => {
                self.vendor_change_ticket(request, matched, "close").await
            }
            RouteId::RestrictVendor => self.restrict_vendor(request, matched).await,
            RouteId::PlatformOpenTicket => self.platform_open_ticket(request, matched).await,
            RouteId::ListApiKeys => self.list_api_keys(request).await,
            RouteId::CreateApiKey => self.create_api_key(request).await,
            RouteId::RevokeApiKey => self.revoke_api_key(request, matched).await,
            RouteId::RevokeVendorKeys => self.revoke_vendor_keys(request, matched).await,
            RouteId::ListReviews => self.list_reviews(request).await,
            RouteId::OrderTransactions => self.order_transactions(request, matched).await,
            RouteId::ListCustomers => self.list_customers(request).await,
            RouteId::CustomerEntitlements => self.customer_entitlements(request, matched).await,
            RouteId::GetCustomer => self.get_customer(request, matched).await,
            RouteId::BlockCustomer => self.block_customer(request, matched, true).await,
            RouteId::UnblockCustomer => self.block_customer(request, matched, false).await,
            // The dev server answers its own routes before they get here.
            RouteId::GetClock
            | RouteId::SetClock
            | RouteId::RunSweeps
            | RouteId::ListOutbox
            | RouteId::DevPayPage
            | RouteId::DevPay => Err(ApiError::not_found()),
        }
    }

    /// The admin token: `Authorization: Bearer` (API.md), or `X-Admin-Token` where the
    /// `Authorization` header carries the AWS signature the admin function URL requires
    /// (`AuthType: AWS_IAM`): the token is then the second factor.
    fn require_admin(&self, request: &ApiRequest) -> Result<(), ApiError> {
        let token = request.bearer_token().or_else(|| {
            request
                .headers
                .get(ADMIN_TOKEN_HEADER)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        });
        match token {
            Some(token) if self.admin_token.is_some_and(|digest| digest.matches(token)) => Ok(()),
            _ => Err(ApiError::unauthorized()),
        }
    }

    pub(crate) async fn require_vendor(&self, request: &ApiRequest) -> Result<Vendor, ApiError> {
        let key = request.bearer_token().ok_or_else(ApiError::unauthorized)?;
        let (vendor, key_item) =
            crate::usecases::vendors::authenticate(self.store.as_ref(), key).await?;
        crate::usecases::vendors::note_key_use(
            self.unclaimed.as_ref(),
            &key_item,
            self.clock.now(),
        )
        .await;
        Ok(vendor)
    }
}

/// Where the admin token goes when `Authorization` holds an AWS signature.
pub const ADMIN_TOKEN_HEADER: &str = "x-admin-token";

/// The order named in the route's path; one that cannot exist is "not found".
fn order_id(matched: &Matched) -> Result<OrderId, ApiError> {
    matched
        .params
        .get("order_id")
        .and_then(|raw| OrderId::parse(raw).ok())
        .ok_or_else(ApiError::not_found)
}
