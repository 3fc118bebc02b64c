//! Tickets over HTTP: the customer's (order link, ticket link), the vendor's (API key, also for
//! third-party help desks), and the platform's review and restriction (admin token).

use super::App;
use crate::api::routes::Matched;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::customers::Customer;
use crate::domain::ids::{OrderId, TicketId, VendorId};
use crate::domain::money::Money;
use crate::domain::orders::Order;
use crate::domain::refunds::RefundError;
use crate::domain::tickets::{
    Awaiting, CloseReason, Party, Ticket, TicketError, TicketState, TicketType, Timer,
};
use crate::domain::validation::FieldErrors;
use crate::domain::vendors::Vendor;
use crate::usecases::orders::portal;
use crate::usecases::tickets::reviews;
use crate::usecases::tickets::{self, Change, TicketsError};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// How a vendor-side request says it comes from a help desk: `"via": "api"` (else the vendor).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Via {
    #[default]
    Vendor,
    Api,
}

impl Via {
    fn party(self) -> Party {
        match self {
            Via::Vendor => Party::Vendor,
            Via::Api => Party::Api,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenBody {
    #[serde(rename = "type")]
    kind: TicketType,
    message: String,
    #[serde(default)]
    via: Via,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TicketComment)]
pub(super) struct CommentBody {
    message: String,
    #[serde(default)]
    via: Via,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TypeBody {
    #[serde(rename = "type")]
    kind: TicketType,
    #[serde(default)]
    via: Via,
}

/// The customer's bodies through a link: no `via` (that is the vendor API's; any other field
/// is a 400 as everywhere).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PortalOpenBody {
    #[serde(rename = "type")]
    kind: TicketType,
    message: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PortalCommentBody {
    message: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PortalTypeBody {
    #[serde(rename = "type")]
    kind: TicketType,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CloseBody {
    #[serde(default)]
    via: Via,
}

/// `POST /admin/vendors/{vendor_id}/orders/{order_id}/tickets`: a request taken by phone.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PlatformOpenBody {
    /// `refund` or `cancel`.
    #[serde(rename = "type")]
    kind: TicketType,
    message: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RestrictBody {
    #[serde(default = "restricted_by_default")]
    restricted: bool,
}

/// No body restricts, as `{}` does: the route's name says what it does.
impl Default for RestrictBody {
    fn default() -> RestrictBody {
        RestrictBody {
            restricted: restricted_by_default(),
        }
    }
}

fn restricted_by_default() -> bool {
    true
}

/// What a ticket's view shows beside the ticket (issue 16, item 16): its order, the order's
/// customer and vendor, and whose view it is — that side's refund window and actions.
pub struct TicketContext<'a> {
    pub order: &'a Order,
    pub customer: &'a Customer,
    pub vendor: &'a Vendor,
    pub viewer: Party,
    pub now: DateTime<Utc>,
}

/// A ticket as API.md shows it, with all its comments (one ticket: bounded by its caps) and
/// what the viewer may do to it now; `open_request` is the order's open refund or cancel
/// request (R-T0: another one blocks turning this ticket into one).
pub fn ticket_view(
    ticket: &Ticket,
    context: &TicketContext<'_>,
    open_request: Option<&TicketId>,
) -> TicketView {
    let mut view = ticket_view_with(ticket, usize::MAX, context);
    view.allowed = Some(tickets::allowed(
        ticket,
        context.order,
        context.viewer,
        context.now,
        tickets::policy_of(context.vendor, ticket),
        open_request.is_some_and(|open| *open != ticket.id),
    ));
    view
}

/// How many of its newest comments a ticket shows inside a list or an order: a list of many
/// tickets stays a small answer (Lambda answers at most 6 MB); the ticket's own view has all.
pub const COMMENTS_IN_LISTS: usize = 3;

/// A ticket as a list or an order shows it: its newest comments, and how many it has.
pub fn ticket_summary(ticket: &Ticket, context: &TicketContext<'_>) -> TicketView {
    ticket_view_with(ticket, COMMENTS_IN_LISTS, context)
}

fn ticket_view_with(ticket: &Ticket, newest: usize, context: &TicketContext<'_>) -> TicketView {
    let skip = ticket.comments.len().saturating_sub(newest);
    let window = match context.viewer {
        Party::Customer => crate::domain::refunds::CUSTOMER_WINDOW_DAYS,
        Party::Vendor | Party::Api => crate::domain::refunds::VENDOR_WINDOW_DAYS,
    };
    let open = ticket.state == TicketState::Open;
    TicketView {
        comment_count: ticket.comments.len(),
        id: ticket.id.clone(),
        order_id: ticket.order_id.clone(),
        order_number: context.order.number.clone(),
        offer_name: context.order.offer_name.clone(),
        order_total: context.order.total,
        refund_amount: (open && ticket.ticket_type == TicketType::Refund)
            .then(|| tickets::requested_refund(ticket, context.order).ok())
            .flatten()
            .map(|plan| plan.amount),
        waits_for_balance: open && ticket.balance_waits > 0,
        vendor_name: context.vendor.name.clone(),
        customer_name: context.order.buyer_name(context.customer),
        ticket_type: ticket.ticket_type,
        state: ticket.state,
        opened_by: ticket.opened_by,
        opened_at: ticket.opened_at,
        due_at: ticket.due_at,
        refund_window_ends_at: open
            .then(|| crate::domain::refunds::refund_window_end(context.order, window))
            .flatten(),
        next_step: ticket
            .next_timer(ticket.calendar(crate::domain::vendors::vendor_zone(context.vendor)))
            .map(NextStep::of),
        awaiting: open.then_some(ticket.awaiting),
        closed_at: ticket.closed_at,
        close_reason: ticket.close_reason,
        link: None,
        acting_as: None,
        allowed: None,
        comments: ticket
            .comments
            .iter()
            .skip(skip)
            .map(|c| CommentView {
                author: c.author,
                body: c.body.clone(),
                at: c.at,
                via: c.via.clone(),
            })
            .collect(),
    }
}

/// What happens to an open ticket next if nobody acts, and when (R-T5–R-T7).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NextStep {
    /// `execute` (the request is carried out), `warn` (both sides are warned of inactivity)
    /// or `close` (closed for inactivity).
    action: &'static str,
    at: DateTime<Utc>,
}

impl NextStep {
    fn of(timer: Timer) -> NextStep {
        let action = match timer {
            Timer::Execute(_) => "execute",
            Timer::Warn(_) => "warn",
            Timer::AutoClose(_) => "close",
        };
        NextStep {
            action,
            at: timer.at(),
        }
    }
}

impl TicketView {
    /// The view with the ticket's link, for the customer's own page.
    pub fn with_link(mut self, link: String) -> TicketView {
        self.link = Some(link);
        self
    }
}

/// A ticket as API.md shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TicketView {
    id: TicketId,
    order_id: OrderId,
    order_number: String,
    /// What the order bought (the offer's name, as the order list calls it).
    offer_name: String,
    order_total: Money,
    /// An open refund request: what it refunds when it is carried out, as things stand now
    /// (`null` if it would refund nothing: it would close `not_executable`).
    refund_amount: Option<Money>,
    /// A vendor's own refund request waits for its available balance (R-R1): it is tried again
    /// daily, at `next_step`.
    waits_for_balance: bool,
    vendor_name: String,
    /// The name the order's checkout gave.
    customer_name: String,
    #[serde(rename = "type")]
    ticket_type: TicketType,
    state: TicketState,
    opened_by: Party,
    opened_at: DateTime<Utc>,
    /// When a refund or cancel request is carried out (R-T1–R-T3).
    due_at: Option<DateTime<Utc>>,
    /// While the ticket is open: until when the viewer may still ask for a refund of the
    /// order's last charge (R-R2: 60 days for the customer, 90 for the vendor); `null` when
    /// nothing is left to refund.
    refund_window_ends_at: Option<DateTime<Utc>>,
    /// What happens next if nobody acts, and when; `null` once closed.
    next_step: Option<NextStep>,
    /// Who is to answer next, while the ticket is open.
    awaiting: Option<Awaiting>,
    closed_at: Option<DateTime<Utc>>,
    close_reason: Option<CloseReason>,
    /// On the customer's order page only: the ticket's link, to answer, convert or close it
    /// (R-U1; issue 16, item 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    /// On a ticket opened by its link: the side that link acts as.
    #[serde(skip_serializing_if = "Option::is_none")]
    acting_as: Option<Party>,
    /// On one ticket's own view: what the viewer may do to it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<tickets::Allowed>,
    /// All of them on the ticket's own view; the newest few in lists and orders.
    comments: Vec<CommentView>,
    comment_count: usize,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CommentView {
    author: Party,
    body: String,
    at: DateTime<Utc>,
    /// `platform`: the platform wrote it for the author (a request taken by phone).
    via: Option<String>,
}

/// `POST /portal/orders/{token}/tickets`: the new ticket, its link and when it is due.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct OpenedTicket {
    ticket_id: TicketId,
    ticket_link: String,
    due_at: Option<DateTime<Utc>>,
}

/// `POST /admin/vendors/{vendor_id}/orders/{order_id}/tickets`: the request opened for the
/// customer; its link goes to the customer by e-mail only.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct PlatformOpenedTicket {
    ticket_id: TicketId,
    due_at: Option<DateTime<Utc>>,
}

/// `POST /admin/vendors/{id}/restrict` (R-T4).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Restriction {
    vendor_id: VendorId,
    restricted: bool,
}

fn error(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

impl From<TicketsError> for ApiError {
    fn from(failure: TicketsError) -> ApiError {
        match failure {
            TicketsError::Ticket(TicketError::Closed) => error(
                StatusCode::CONFLICT,
                "ticket_closed",
                "the ticket is closed",
            ),
            TicketsError::Ticket(TicketError::VendorRestricted) => error(
                StatusCode::FORBIDDEN,
                "vendor_restricted",
                "a restricted vendor cannot close tickets or change their type",
            ),
            TicketsError::Ticket(TicketError::SameType) => error(
                StatusCode::CONFLICT,
                "ticket_type_unchanged",
                "the ticket already has this type",
            ),
            TicketsError::Ticket(TicketError::OnlyCustomerRequests) => error(
                StatusCode::FORBIDDEN,
                "only_customer_requests",
                "only the customer can turn a ticket into a refund or cancel request",
            ),
            TicketsError::Ticket(TicketError::BadMessage) => {
                ApiError::validation(FieldErrors::from([(
                    "message".to_string(),
                    "must be 1 to 10000 characters".to_string(),
                )]))
            }
            TicketsError::Ticket(TicketError::Full) => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ticket_full",
                "the ticket holds as much conversation as it can; open a new one",
            ),
            TicketsError::TooManyOpen => error(
                StatusCode::CONFLICT,
                "too_many_open_tickets",
                "the order has as many open support tickets as it may; comment on one of them",
            ),
            TicketsError::AlreadyOpen => error(
                StatusCode::CONFLICT,
                "ticket_already_open",
                "a refund or cancel ticket is already open for this order",
            ),
            TicketsError::Refund(RefundError::WindowPassed) => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refund_window_passed",
                "the charge is older than the refund window",
            ),
            // R-O10: no refund request while a chargeback is open.
            TicketsError::Refund(RefundError::Disputed) => error(
                StatusCode::CONFLICT,
                "order_disputed",
                "a dispute is open on this order: refunds wait until it is closed",
            ),
            // The same condition as a vendor's refund of a refunded order: 409 everywhere.
            TicketsError::Refund(_) => error(
                StatusCode::CONFLICT,
                "nothing_to_refund",
                "nothing paid on this order is left to refund",
            ),
            TicketsError::CancelNeedsSubscription => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "cancel_needs_subscription",
                "only subscriptions can be cancelled",
            ),
            TicketsError::NotARequest => ApiError::validation(FieldErrors::from([(
                "type".to_string(),
                "must be refund or cancel".to_string(),
            )])),
            TicketsError::NothingToCancel => error(
                StatusCode::CONFLICT,
                "nothing_to_cancel",
                "the subscription is not running",
            ),
            TicketsError::UseCase(inner) => inner.into(),
        }
    }
}

fn param<'a>(matched: &'a Matched, name: &str) -> Result<&'a str, ApiError> {
    matched
        .params
        .get(name)
        .map(String::as_str)
        .ok_or_else(ApiError::not_found)
}

fn ticket_id(matched: &Matched) -> Result<TicketId, ApiError> {
    TicketId::parse(param(matched, "ticket_id")?).map_err(|_| ApiError::not_found())
}

impl App {
    /// `POST /portal/orders/{token}/tickets` `{type, message}` → 201 `{ticket_id, ticket_link, due_at?}`.
    pub(super) async fn portal_open_ticket(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let found = portal::order_by_token(self.store.as_ref(), param(matched, "token")?).await?;
        let body: PortalOpenBody = request.json()?;
        self.limit("ticket-source", request.source(), |l| l.tickets_per_source)
            .await?;
        let presented = crate::domain::token::LinkToken::parse(param(matched, "token")?)
            .map_err(|_| ApiError::not_found())?
            .1;
        let opened = tickets::open_through_link(
            self.ports(),
            &found.vendor,
            &found.order,
            &found.customer,
            body.kind,
            &body.message,
            &crate::usecases::links::link_key(&found.vendor.id, &presented),
        )
        .await?;
        Ok(ApiResponse::json(
            StatusCode::CREATED,
            &OpenedTicket {
                ticket_id: opened.ticket.id,
                ticket_link: opened.link,
                due_at: opened.ticket.due_at,
            },
        ))
    }

    /// `POST /api/orders/{id}/tickets` (R-T2): the vendor or its help desk opens a ticket.
    pub(super) async fn vendor_open_ticket(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let order = super::order_id(matched)?;
        let body: OpenBody = request.json()?;
        let opened = tickets::open_by_vendor(
            self.ports(),
            &vendor,
            &order,
            body.kind,
            body.via.party(),
            &body.message,
        )
        .await?;
        // R-O4: the ticket's links go only to each side by e-mail, never to the vendor's API.
        self.ticket_answer(
            &vendor,
            &opened.ticket,
            body.via.party(),
            None,
            StatusCode::CREATED,
        )
        .await
    }

    /// The ticket a link opens, and the side it acts as: the customer's link or the vendor's
    /// (R-T9), each its own scope.
    async fn by_token(&self, matched: &Matched) -> Result<(Vendor, TicketId, Party), ApiError> {
        let (vendor, ticket, side) =
            tickets::ticket_by_token(self.store.as_ref(), param(matched, "ticket_token")?).await?;
        Ok((
            crate::usecases::ports::load_vendor(self.store.as_ref(), &vendor).await?,
            ticket,
            side,
        ))
    }

    /// `GET /portal/tickets/{ticket_token}`.
    pub(super) async fn portal_ticket(&self, matched: &Matched) -> Result<ApiResponse, ApiError> {
        let (vendor, id, side) = self.by_token(matched).await?;
        let (_, ticket) = tickets::get(self.store.as_ref(), &vendor.id, &id).await?;
        self.ticket_answer(&vendor, &ticket, side, Some(side), StatusCode::OK)
            .await
    }

    /// One ticket's answer to `viewer`: the ticket with its order's facts and what the viewer
    /// may do now (issue 16, item 16).
    async fn ticket_answer(
        &self,
        vendor: &Vendor,
        ticket: &Ticket,
        viewer: Party,
        acting_as: Option<Party>,
        status: StatusCode,
    ) -> Result<ApiResponse, ApiError> {
        let found =
            crate::usecases::ports::load_order(self.store.as_ref(), &vendor.id, &ticket.order_id)
                .await?;
        let context = TicketContext {
            order: &found.order,
            customer: &found.customer,
            vendor,
            viewer,
            now: self.clock.now(),
        };
        let open_request =
            tickets::open_request(self.store.as_ref(), &vendor.id, &ticket.order_id).await?;
        let mut view = ticket_view(ticket, &context, open_request.as_ref());
        view.acting_as = acting_as;
        Ok(ApiResponse::json(status, &view))
    }

    /// `POST /portal/tickets/{ticket_token}/comments|type|close`.
    pub(super) async fn portal_change_ticket(
        &self,
        request: &ApiRequest,
        matched: &Matched,
        what: &str,
    ) -> Result<ApiResponse, ApiError> {
        let (vendor, id, side) = self.by_token(matched).await?;
        let change = match what {
            "comment" => {
                let message = request.json::<PortalCommentBody>()?.message;
                self.limit("ticket-comment", Some(id.as_str()), |l| {
                    l.comments_per_ticket
                })
                .await?;
                Change::Comment(message)
            }
            "type" => {
                let kind = request.json::<PortalTypeBody>()?.kind;
                self.limit("ticket-type", Some(id.as_str()), |l| l.comments_per_ticket)
                    .await?;
                Change::ChangeType(kind)
            }
            _ => {
                // `via` is the vendor API's; a link's close takes no field.
                request.no_body()?;
                Change::Close
            }
        };
        if !matches!(change, Change::Close) && self.limits.is_some() {
            // Each change mails the order's address: bounded per address, whatever the orders.
            let (_, ticket) = tickets::get(self.store.as_ref(), &vendor.id, &id).await?;
            let card =
                crate::usecases::orders::card(self.store.as_ref(), &vendor.id, &ticket.order_id)
                    .await?;
            let recipient = card.order.recipient(&card.customer).to_string();
            self.limit("ticket-recipient", Some(&recipient), |l| {
                l.ticket_changes_per_recipient
            })
            .await?;
        }
        // The vendor's link acts as the vendor: R-T3's restriction and R-T4's review apply.
        let ticket = tickets::change(self.ports(), &vendor, &id, side, change).await?;
        self.ticket_answer(&vendor, &ticket, side, Some(side), StatusCode::OK)
            .await
    }

    /// `GET /api/tickets?status=&type=`.
    pub(super) async fn list_tickets(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let params = request.list_params()?;
        let state = parse_filter::<TicketState>(request, "status")?;
        let kind = parse_filter::<TicketType>(request, "type")?;
        let page = tickets::list(
            self.store.as_ref(),
            &vendor.id,
            state,
            kind,
            params.limit,
            params.cursor,
        )
        .await?;
        let orders = tickets::orders_of(self.store.as_ref(), &vendor.id, &page.items).await?;
        let now = self.clock.now();
        let items = page
            .items
            .iter()
            .map(|ticket| {
                let (order, customer) = orders
                    .get(&ticket.order_id)
                    .ok_or_else(ApiError::internal)?;
                let context = TicketContext {
                    order,
                    customer,
                    vendor: &vendor,
                    viewer: Party::Vendor,
                    now,
                };
                Ok(ticket_summary(ticket, &context))
            })
            .collect::<Result<Vec<TicketView>, ApiError>>()?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &json!({ "items": items, "next_cursor": page.next_cursor, "total": page.total }),
        ))
    }

    /// `GET /api/tickets/{id}`.
    pub(super) async fn vendor_ticket(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let (_, ticket) =
            tickets::get(self.store.as_ref(), &vendor.id, &ticket_id(matched)?).await?;
        self.ticket_answer(&vendor, &ticket, Party::Vendor, None, StatusCode::OK)
            .await
    }

    /// `POST /api/tickets/{id}/comments|type|close`.
    pub(super) async fn vendor_change_ticket(
        &self,
        request: &ApiRequest,
        matched: &Matched,
        what: &str,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let id = ticket_id(matched)?;
        let (by, change) = match what {
            "comment" => {
                let body: CommentBody = request.json()?;
                (body.via.party(), Change::Comment(body.message))
            }
            "type" => {
                let body: TypeBody = request.json()?;
                (body.via.party(), Change::ChangeType(body.kind))
            }
            _ => (
                request.optional_json::<CloseBody>()?.via.party(),
                Change::Close,
            ),
        };
        let ticket = tickets::change(self.ports(), &vendor, &id, by, change).await?;
        self.ticket_answer(&vendor, &ticket, by, None, StatusCode::OK)
            .await
    }

    /// `POST /admin/vendors/{vendor_id}/orders/{order_id}/tickets` `{type, message}` (issue 16,
    /// item 10): the platform opens a refund or cancel request for the customer, as the customer.
    pub(super) async fn platform_open_ticket(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        self.require_admin(request)?;
        let vendor_id =
            VendorId::parse(param(matched, "vendor_id")?).map_err(|_| ApiError::not_found())?;
        let order_id = super::order_id(matched)?;
        let body: PlatformOpenBody = request.json()?;
        let vendor = crate::usecases::ports::load_vendor(self.store.as_ref(), &vendor_id).await?;
        let context =
            crate::usecases::ports::load_order(self.store.as_ref(), &vendor.id, &order_id).await?;
        let opened = tickets::open_for_customer_by_platform(
            self.ports(),
            &vendor,
            &context.order,
            &context.customer,
            body.kind,
            &body.message,
        )
        .await?;
        Ok(ApiResponse::json(
            StatusCode::CREATED,
            &PlatformOpenedTicket {
                ticket_id: opened.ticket.id,
                due_at: opened.ticket.due_at,
            },
        ))
    }

    /// `POST /admin/vendors/{id}/restrict` `{restricted?: bool}` (R-V4).
    pub(super) async fn restrict_vendor(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        self.require_admin(request)?;
        let id =
            VendorId::parse(param(matched, "vendor_id")?).map_err(|_| ApiError::not_found())?;
        let body: RestrictBody = request.optional_json()?;
        let vendor = reviews::restrict(self.store.as_ref(), &id, body.restricted).await?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &Restriction {
                vendor_id: vendor.id,
                restricted: vendor.restricted,
            },
        ))
    }

    /// `GET /admin/reviews` (R-T4).
    pub(super) async fn list_reviews(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        self.require_admin(request)?;
        let params = request.list_params()?;
        let (found, next, total) =
            reviews::list(self.store.as_ref(), params.limit, params.cursor).await?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &json!({ "items": found, "next_cursor": next, "total": total }),
        ))
    }
}

fn parse_filter<T: serde::de::DeserializeOwned>(
    request: &ApiRequest,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match request.query_param(name)? {
        None => Ok(None),
        Some(raw) => serde_json::from_value(json!(raw)).map(Some).map_err(|_| {
            ApiError::validation(FieldErrors::from([(
                name.to_string(),
                "is not a known value".to_string(),
            )]))
        }),
    }
}
