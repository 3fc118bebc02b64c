//! Tickets (R-T0–R-T4, R-T8, R-T9): opened from the order link or by the vendor (or its help
//! desk through the API), commented, converted and closed by either side. Each change commits
//! with its e-mails to both sides in one transaction on the ticket's version; one open
//! refund/cancel request per order is a lock item created in the same transaction.

pub mod reviews;
pub mod sweep;

use crate::domain::catalogue::Plan;
use crate::domain::customers::Customer;
use crate::domain::ids::{OrderId, TicketId, VendorId};
use crate::domain::notifications::{DomainEvent, EventType, Message};
use crate::domain::orders::{Order, OrderStatus};
use crate::domain::refunds::{
    CUSTOMER_WINDOW_DAYS, RefundError, VENDOR_WINDOW_DAYS, request_refund,
};
use crate::domain::tickets::emails::{OrderFacts, Recipient, TicketMail, TicketNews, ticket_email};
use crate::domain::tickets::{NewTicket, Party, Policy, Ticket, TicketError, TicketType};
use crate::domain::token::{LinkToken, TokenError};
use crate::domain::vendors::Vendor;
use crate::domain::vendors::vendor_zone;
use crate::outbox::enqueue;
use crate::store::keys::{DueQueue, due_entry, vendor_pk};
use crate::store::{Condition, Index, Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use crate::usecases::links::{link_record, resolve_link};
use crate::usecases::ports::Ports;
use crate::usecases::ports::{OrderContext, encode, load_order};
use crate::usecases::ports::{UseCaseError, retry_on_contention};
use crate::usecases::tickets::reviews::review_write;
use chrono::{DateTime, Utc};
use serde_json::json;

/// What a ticket link's token opens: the ticket, acting as the customer.
pub const TICKET_SCOPE: &str = "ticket";
/// What the vendor's ticket link opens (R-T9; seed 004: the vendor answers from the e-mail
/// without logging in): the ticket, acting as the vendor — R-T3 and the review log apply.
pub const VENDOR_TICKET_SCOPE: &str = "vendor_ticket";

#[derive(Debug, thiserror::Error)]
pub enum TicketsError {
    #[error(transparent)]
    Ticket(#[from] TicketError),
    #[error("a refund or cancel ticket is already open for this order")]
    AlreadyOpen,
    #[error("the order has as many open support tickets as it may")]
    TooManyOpen,
    #[error(transparent)]
    Refund(RefundError),
    #[error("only subscriptions can be cancelled")]
    CancelNeedsSubscription,
    #[error("the plan is not running")]
    NothingToCancel,
    #[error("the platform opens refund and cancel requests only")]
    NotARequest,
    #[error(transparent)]
    UseCase(#[from] UseCaseError),
}

impl From<TokenError> for TicketsError {
    fn from(error: TokenError) -> Self {
        TicketsError::UseCase(UseCaseError::LinkKey(error))
    }
}

impl From<StoreError> for TicketsError {
    fn from(error: StoreError) -> Self {
        TicketsError::UseCase(UseCaseError::Store(error))
    }
}

pub fn ticket_key(vendor: &VendorId, id: &TicketId) -> Key {
    Key::new(vendor_pk(vendor), format!("TICKET#{id}"))
}

/// Exists while the order has an open refund/cancel request (R-T0: at most one).
fn open_request_key(vendor: &VendorId, order: &OrderId) -> Key {
    Key::new(vendor_pk(vendor), format!("OPENREQUEST#{order}"))
}

fn order_tickets_pk(vendor: &VendorId, order: &OrderId) -> String {
    format!("V#{vendor}#ORDERTICKETS#{order}")
}

/// The vendor's rules for a new ticket: its zone and whether it is restricted.
pub fn policy(vendor: &Vendor) -> Policy {
    Policy {
        tz: vendor_zone(vendor),
        restricted: vendor.restricted,
    }
}

/// The rules for a ticket that runs: the calendar it was opened in, the vendor's restriction now.
pub fn policy_of(vendor: &Vendor, ticket: &Ticket) -> Policy {
    Policy {
        tz: ticket.calendar(vendor_zone(vendor)),
        restricted: vendor.restricted,
    }
}

/// The stored ticket: found by order (gsi1) and, while it has a timer, in the due-index.
pub fn ticket_item(
    previous: Option<&Item>,
    ticket: &Ticket,
    vendor: &Vendor,
) -> Result<Item, StoreError> {
    let key = ticket_key(&vendor.id, &ticket.id);
    let body = encode(&key, ticket)?;
    let item = match previous {
        Some(previous) => previous.next(body),
        None => Item::new(key, body),
    }
    .with_index(
        Index::Gsi1,
        order_tickets_pk(&vendor.id, &ticket.order_id),
        ticket.id.to_string(),
    );
    Ok(
        match ticket.next_timer(ticket.calendar(vendor_zone(vendor))) {
            Some(timer) => {
                let (pk, sk) = due_entry(DueQueue::Tickets, timer.at(), ticket.id.as_str());
                item.with_index(Index::Due, pk, sk)
            }
            None => item.without_index(Index::Due),
        },
    )
}

/// The customer's ticket link (R-T0: R-O4 properties).
pub fn ticket_link(
    ports: Ports<'_>,
    vendor: &Vendor,
    ticket: &Ticket,
) -> Result<(LinkToken, String), TokenError> {
    side_link(ports, vendor, ticket, Party::Customer)
}

/// The vendor's ticket link, for its copies of the ticket's e-mails (R-T9).
pub fn vendor_ticket_link(
    ports: Ports<'_>,
    vendor: &Vendor,
    ticket: &Ticket,
) -> Result<(LinkToken, String), TokenError> {
    side_link(ports, vendor, ticket, Party::Vendor)
}

fn scope_of(side: Party) -> &'static str {
    match side {
        Party::Customer => TICKET_SCOPE,
        Party::Vendor | Party::Api => VENDOR_TICKET_SCOPE,
    }
}

/// The link that opens the ticket acting as one side: its own scope, the same R-O4 properties.
fn side_link(
    ports: Ports<'_>,
    vendor: &Vendor,
    ticket: &Ticket,
    side: Party,
) -> Result<(LinkToken, String), TokenError> {
    let token = ports.link_keys.derive(
        &ticket.link_key,
        &vendor.id,
        scope_of(side),
        ticket.id.as_str(),
        ticket.link_generation,
    )?;
    let link = format!(
        "{}/tickets/{}",
        vendor.portal_base_url.trim_end_matches('/'),
        token.as_str()
    );
    Ok((token, link))
}

/// The stored digests of the ticket's two links, the customer's first.
fn link_records(
    ports: Ports<'_>,
    vendor: &Vendor,
    ticket: &Ticket,
) -> Result<Vec<Item>, TokenError> {
    [Party::Customer, Party::Vendor]
        .into_iter()
        .map(|side| {
            let (token, _) = side_link(ports, vendor, ticket, side)?;
            Ok(link_record(
                &vendor.id,
                &token,
                scope_of(side),
                ("ticket_id", ticket.id.as_str()),
            ))
        })
        .collect()
}

/// R-O4 (issue 13, defect 11; issue 16, item 6): new links for the order — its generation
/// bumped, derived with the current link key — and the old ones revoked: their digest items go
/// in the same transaction, so an old token opens nothing from then on. Whoever held the old
/// customer link could read the tickets' links on the order page, so every ticket of the order
/// gets new links too (both sides'), each in a transaction of its own after the order's (a
/// failure there is a 5xx; asking again renews everything once more). The new customer link
/// goes to the customer by e-mail in the order's transaction (the vendor never holds it); the
/// vendor is answered the new pay link.
pub async fn rotate_order_links(
    ports: Ports<'_>,
    vendor: &Vendor,
    id: &OrderId,
) -> Result<String, UseCaseError> {
    use crate::usecases::links::{current_order_link, current_pay_link, order_link_records};
    let store = ports.store;
    let order = retry_on_contention(|| async {
        let now = ports.clock.now();
        let OrderContext {
            item,
            mut order,
            customer,
            ..
        } = load_order(store, &vendor.id, id).await?;
        let old = order_link_records(ports.link_keys, &vendor.id, &order)?;
        order.link_generation = order.link_generation.saturating_add(1);
        order.link_key = ports.link_keys.current().clone();
        order.updated_at = now;
        let new = order_link_records(ports.link_keys, &vendor.id, &order)?;
        let language = customer
            .language
            .clone()
            .unwrap_or_else(|| vendor.default_language.clone());
        let name = order.buyer_name(&customer);
        let link = current_order_link(ports.link_keys, vendor, &order)?;
        let notice = crate::domain::notifications::emails::order_link_renewed(
            &crate::domain::notifications::emails::LinkRenewal {
                to: order.recipient(&customer),
                language: &language,
                customer_name: &name,
                vendor_name: &vendor.name,
                order_number: &order.number,
                customer_link: &link,
            },
        );
        let mut writes = vec![Write::update(item.next(encode(&item.key, &order)?))];
        writes.extend(old.into_iter().map(|record| Write::Delete {
            key: record.key,
            condition: Condition::Always,
        }));
        writes.extend(new.into_iter().map(Write::create));
        writes.push(
            enqueue(&vendor.id, Message::Email(notice), now, ports.entropy).map_err(|source| {
                StoreError::Malformed {
                    key: item.key.clone(),
                    source,
                }
            })?,
        );
        store.transact(writes).await?;
        Ok(order)
    })
    .await?;
    for ticket in ticket_ids_of_order(store, &vendor.id, &order.id).await? {
        renew_ticket_links(ports, vendor, &ticket).await?;
    }
    tracing::info!(vendor_id = %vendor.id, order_id = %order.id, "order links rotated");
    Ok(current_pay_link(ports.link_keys, vendor, &order)?)
}

/// One ticket's new links (both sides'), its old ones revoked in the same transaction.
async fn renew_ticket_links(
    ports: Ports<'_>,
    vendor: &Vendor,
    id: &TicketId,
) -> Result<(), UseCaseError> {
    retry_on_contention(|| async {
        let (item, mut ticket) = get(ports.store, &vendor.id, id).await?;
        let old = link_records(ports, vendor, &ticket)?;
        ticket.link_generation = ticket.link_generation.saturating_add(1);
        ticket.link_key = ports.link_keys.current().clone();
        let new = link_records(ports, vendor, &ticket)?;
        let mut writes = vec![Write::update(ticket_item(Some(&item), &ticket, vendor)?)];
        writes.extend(old.into_iter().map(|record| Write::Delete {
            key: record.key,
            condition: Condition::Always,
        }));
        writes.extend(new.into_iter().map(Write::create));
        Ok(ports.store.transact(writes).await?)
    })
    .await
}

/// The ids of every ticket of one order, page by page.
async fn ticket_ids_of_order(
    store: &dyn ItemStore,
    vendor: &VendorId,
    order: &OrderId,
) -> Result<Vec<TicketId>, UseCaseError> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::index(Index::Gsi1, order_tickets_pk(vendor, order), SortRange::All)
            .limit(200)
            .after(cursor);
        let page = store.query(&query).await?;
        for item in &page.items {
            ids.push(item.decode::<Ticket>()?.id);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(ids),
        }
    }
}

/// May this order get a refund or cancel request (R-R2, R-R3, R-R4)?
pub fn check_request(
    order: &Order,
    kind: TicketType,
    by: Party,
    requested_at: DateTime<Utc>,
) -> Result<(), TicketsError> {
    match kind {
        TicketType::Support => Ok(()),
        TicketType::Refund => {
            let window = match by {
                Party::Customer => CUSTOMER_WINDOW_DAYS,
                Party::Vendor | Party::Api => VENDOR_WINDOW_DAYS,
            };
            request_refund(order, requested_at, window)
                .map(|_| ())
                .map_err(TicketsError::Refund)
        }
        TicketType::Cancel => match (order.plan, order.status) {
            (Plan::Subscription { .. }, OrderStatus::Active | OrderStatus::PendingPayment) => {
                Ok(())
            }
            (Plan::Subscription { .. }, _) => Err(TicketsError::NothingToCancel),
            _ => Err(TicketsError::CancelNeedsSubscription),
        },
    }
}

/// What a refund request asks for when it comes due (R-R2, R-R3): the window of the side that
/// opened it, counted to when it was requested — whenever it is executed.
pub fn requested_refund(
    ticket: &Ticket,
    order: &Order,
) -> Result<crate::domain::refunds::RefundPlan, RefundError> {
    let window = match ticket.opened_by {
        Party::Customer => CUSTOMER_WINDOW_DAYS,
        Party::Vendor | Party::Api => VENDOR_WINDOW_DAYS,
    };
    request_refund(
        order,
        ticket.requested_at.unwrap_or(ticket.opened_at),
        window,
    )
}

/// The e-mails of a ticket event to both sides, in R-T9's format.
pub fn notify_both(
    ports: Ports<'_>,
    vendor: &Vendor,
    order: &Order,
    customer: &Customer,
    ticket: &Ticket,
    news: &TicketNews,
    now: DateTime<Utc>,
) -> Result<Vec<Write>, UseCaseError> {
    let (_, link) = ticket_link(ports, vendor, ticket)?;
    let (_, vendor_link) = vendor_ticket_link(ports, vendor, ticket)?;
    let total = order.total.to_string();
    let facts = OrderFacts {
        number: &order.number,
        offer_name: &order.offer_name,
        total: &total,
        vendor_name: &vendor.name,
    };
    let customer_language = customer
        .language
        .clone()
        .unwrap_or_else(|| vendor.default_language.clone());
    let mails = [
        (
            order.recipient(customer),
            customer_language.as_str(),
            Recipient::Customer,
            Some(link.as_str()),
        ),
        (
            vendor.ticket_email(),
            vendor.default_language.as_str(),
            Recipient::Vendor,
            Some(vendor_link.as_str()),
        ),
    ];
    mails
        .into_iter()
        .map(|(to, language, recipient, ticket_link)| {
            let email = ticket_email(&TicketMail {
                to,
                language,
                recipient,
                news,
                ticket,
                order: &facts,
                ticket_link,
                zone: ticket.calendar(vendor_zone(vendor)),
            });
            enqueue(&vendor.id, Message::Email(email), now, ports.entropy).map_err(|source| {
                StoreError::Malformed {
                    key: ticket_key(&vendor.id, &ticket.id),
                    source,
                }
                .into()
            })
        })
        .collect()
}

pub fn ticket_event(
    ports: Ports<'_>,
    vendor: &Vendor,
    ticket: &Ticket,
    event_type: EventType,
    now: DateTime<Utc>,
) -> Result<Write, StoreError> {
    let event = DomainEvent {
        event_type,
        detail: json!({ "ticket_id": ticket.id, "order_id": ticket.order_id, "type": ticket.ticket_type, "state": ticket.state, "close_reason": ticket.close_reason }),
    };
    enqueue(&vendor.id, Message::Event(event), now, ports.entropy).map_err(|source| {
        StoreError::Malformed {
            key: ticket_key(&vendor.id, &ticket.id),
            source,
        }
    })
}

pub struct Opened {
    pub ticket: Ticket,
    pub link: String,
}

/// The most support tickets one order may have open at once (issue 12, §3).
pub const MAX_OPEN_SUPPORT_TICKETS: usize = 5;

/// Opens a ticket on an order (R-T0–R-T2).
pub async fn open(
    ports: Ports<'_>,
    vendor: &Vendor,
    order: &Order,
    customer: &Customer,
    kind: TicketType,
    by: Party,
    message: &str,
) -> Result<Opened, TicketsError> {
    open_as(
        ports, vendor, order, customer, kind, by, message, None, None,
    )
    .await
}

/// The customer opens a ticket through the order's customer link, whose stored record is at
/// `link` (R-T0, R-T1): as [`open`], and only while that link still stands.
#[allow(clippy::too_many_arguments)]
pub async fn open_through_link(
    ports: Ports<'_>,
    vendor: &Vendor,
    order: &Order,
    customer: &Customer,
    kind: TicketType,
    message: &str,
    link: &Key,
) -> Result<Opened, TicketsError> {
    open_as(
        ports,
        vendor,
        order,
        customer,
        kind,
        Party::Customer,
        message,
        None,
        Some(link),
    )
    .await
}

/// Issue 16, item 10 (seed 004: requests taken by phone become tickets too): the platform opens
/// a refund or cancel request for the customer — R-T1's timing, the checks and the e-mails as if
/// the customer had, its first comment marked `via: platform`.
pub async fn open_for_customer_by_platform(
    ports: Ports<'_>,
    vendor: &Vendor,
    order: &Order,
    customer: &Customer,
    kind: TicketType,
    message: &str,
) -> Result<Opened, TicketsError> {
    if !kind.is_request() {
        return Err(TicketsError::NotARequest);
    }
    let by = Party::Customer;
    open_as(
        ports,
        vendor,
        order,
        customer,
        kind,
        by,
        message,
        Some("platform"),
        None,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn open_as(
    ports: Ports<'_>,
    vendor: &Vendor,
    order: &Order,
    customer: &Customer,
    kind: TicketType,
    by: Party,
    message: &str,
    via: Option<&str>,
    through: Option<&Key>,
) -> Result<Opened, TicketsError> {
    let now = ports.clock.now();
    if kind.is_request() {
        check_request(order, kind, by, now)?;
    } else {
        // A soft cap (the index may lag a concurrent open): nobody floods an order's support.
        let open = of_order(ports.store, &vendor.id, &order.id)
            .await?
            .iter()
            .filter(|t| {
                t.state == crate::domain::tickets::TicketState::Open && !t.ticket_type.is_request()
            })
            .count();
        if open >= MAX_OPEN_SUPPORT_TICKETS {
            return Err(TicketsError::TooManyOpen);
        }
    }
    let new = NewTicket {
        id: TicketId::generate(now, ports.entropy),
        vendor_id: vendor.id.clone(),
        order_id: order.id.clone(),
        ticket_type: kind,
        by,
        body: message,
    };
    let mut ticket = Ticket::open(new, now, policy(vendor))?;
    ticket.link_key = ports.link_keys.current().clone();
    if let Some(first) = ticket.comments.first_mut() {
        first.via = via.map(str::to_string);
    }
    let (_, link) = ticket_link(ports, vendor, &ticket)?;
    let mut writes = Vec::new();
    if kind.is_request() {
        // First, so a failure names it: another request is open.
        writes.push(Write::create(Item::new(
            open_request_key(&vendor.id, &order.id),
            json!({ "ticket_id": ticket.id }),
        )));
    }
    writes.push(Write::create(ticket_item(None, &ticket, vendor)?));
    writes.extend(
        link_records(ports, vendor, &ticket)?
            .into_iter()
            .map(Write::create),
    );
    writes.extend(notify_both(
        ports,
        vendor,
        order,
        customer,
        &ticket,
        &TicketNews::Opened,
        now,
    )?);
    writes.push(ticket_event(
        ports,
        vendor,
        &ticket,
        EventType::TicketOpened,
        now,
    )?);
    // Opened through a customer link: that link must still stand when it commits — a rotation
    // meanwhile renews the tickets it finds, and this one it might not find yet.
    let link_check = through.map(|key| {
        writes.push(Write::Check {
            key: key.clone(),
            condition: Condition::Exists,
        });
        writes.len() - 1
    });
    match ports.store.transact(writes).await {
        Err(StoreError::ConditionFailed { index: 0, .. }) if kind.is_request() => {
            Err(TicketsError::AlreadyOpen)
        }
        Err(StoreError::ConditionFailed { index, .. }) if Some(index) == link_check => {
            Err(TicketsError::UseCase(UseCaseError::NotFound))
        }
        Err(error) => Err(error.into()),
        Ok(()) => {
            tracing::info!(vendor_id = %vendor.id, ticket_id = %ticket.id, ?kind, ?by, "ticket opened");
            Ok(Opened { ticket, link })
        }
    }
}

/// The vendor (or its help desk) opens a ticket on one of its orders.
pub async fn open_by_vendor(
    ports: Ports<'_>,
    vendor: &Vendor,
    order_id: &OrderId,
    kind: TicketType,
    by: Party,
    message: &str,
) -> Result<Opened, TicketsError> {
    let context = load_order(ports.store, &vendor.id, order_id).await?;
    open(
        ports,
        vendor,
        &context.order,
        &context.customer,
        kind,
        by,
        message,
    )
    .await
}

/// What a ticket link opens, and which side it acts as; anything wrong with the token is "not
/// found".
pub async fn ticket_by_token(
    store: &dyn ItemStore,
    presented: &str,
) -> Result<(VendorId, TicketId, Party), UseCaseError> {
    let (vendor_id, link) =
        resolve_link(store, presented, &[TICKET_SCOPE, VENDOR_TICKET_SCOPE]).await?;
    let ticket_id = link["ticket_id"]
        .as_str()
        .and_then(|id| TicketId::parse(id).ok())
        .ok_or(UseCaseError::NotFound)?;
    let side = if link["scope"] == VENDOR_TICKET_SCOPE {
        Party::Vendor
    } else {
        Party::Customer
    };
    Ok((vendor_id, ticket_id, side))
}

pub async fn get(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &TicketId,
) -> Result<(Item, Ticket), UseCaseError> {
    let item = store
        .get(&ticket_key(vendor, id))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    let ticket = item.decode()?;
    Ok((item, ticket))
}

/// A change to an open ticket by one side.
#[derive(Debug, Clone)]
pub enum Change {
    Comment(String),
    ChangeType(TicketType),
    Close,
}

/// Applies a change (R-T3, R-T4, R-T8) with its e-mails, lock and review in one transaction.
pub async fn change(
    ports: Ports<'_>,
    vendor: &Vendor,
    id: &TicketId,
    by: Party,
    change: Change,
) -> Result<Ticket, TicketsError> {
    let store = ports.store;
    retry_on_contention(|| async {
        let now = ports.clock.now();
        let (item, before) = get(store, &vendor.id, id).await?;
        let OrderContext {
            order, customer, ..
        } = load_order(store, &vendor.id, &before.order_id).await?;
        let mut ticket = before.clone();
        let decided = decide(
            &mut ticket,
            &order,
            by,
            &change,
            now,
            policy_of(vendor, &before),
        );
        let news = match decided {
            Ok(news) => news,
            Err(refused) => return Ok(Err(refused)),
        };
        let mut writes = Vec::new();
        let was_request = before.ticket_type.is_request();
        let is_request = ticket.ticket_type.is_request()
            && ticket.state == crate::domain::tickets::TicketState::Open;
        let lock = open_request_key(&vendor.id, &ticket.order_id);
        if is_request && !was_request {
            writes.push(Write::create(Item::new(
                lock,
                json!({ "ticket_id": ticket.id }),
            )));
        } else if was_request && !is_request {
            writes.push(Write::Delete {
                key: lock,
                condition: Condition::Always,
            });
        }
        // R-T4: a vendor closing or converting a customer's request is reviewed.
        let saves_sale = matches!(change, Change::Close | Change::ChangeType(_));
        if was_request && saves_sale && by != Party::Customer {
            writes.push(review_write(ports, vendor, &before, &ticket, by, now)?);
            writes.push(reviews::count_write());
        }
        writes.push(Write::update(ticket_item(Some(&item), &ticket, vendor)?));
        writes.extend(notify_both(
            ports, vendor, &order, &customer, &ticket, &news, now,
        )?);
        if matches!(change, Change::Close) {
            writes.push(ticket_event(
                ports,
                vendor,
                &ticket,
                EventType::TicketClosed,
                now,
            )?);
        }
        let creates_lock = is_request && !was_request;
        match store.transact(writes).await {
            Err(StoreError::ConditionFailed { index: 0, .. }) if creates_lock => {
                Ok(Err(TicketsError::AlreadyOpen))
            }
            Err(error) => Err(error.into()),
            Ok(()) => Ok(Ok(ticket)),
        }
    })
    .await?
}

fn decide(
    ticket: &mut Ticket,
    order: &Order,
    by: Party,
    change: &Change,
    now: DateTime<Utc>,
    policy: Policy,
) -> Result<TicketNews, TicketsError> {
    match change {
        Change::Comment(body) => {
            ticket.comment(by, body, now)?;
            Ok(TicketNews::Reply)
        }
        Change::ChangeType(to) => {
            // Who may change first (R-T3, R-T4), then whether the order allows the request it
            // becomes: every change into a request type, refund ↔ cancel too (issue 16, item 1).
            ticket.change_type(*to, by, now, policy)?;
            if to.is_request() {
                check_request(order, *to, by, now)?;
            }
            Ok(TicketNews::TypeChanged)
        }
        Change::Close => {
            ticket.close(by, now, policy)?;
            Ok(TicketNews::Closed)
        }
    }
}

/// The tickets of one order, oldest first (the order card shows them).
pub async fn of_order(
    store: &dyn ItemStore,
    vendor: &VendorId,
    order: &OrderId,
) -> Result<Vec<Ticket>, UseCaseError> {
    let query =
        Query::index(Index::Gsi1, order_tickets_pk(vendor, order), SortRange::All).limit(200);
    let page = store.query(&query).await?;
    Ok(page
        .items
        .iter()
        .map(Item::decode)
        .collect::<Result<_, _>>()?)
}

/// `GET /api/tickets?status=&type=`: newest first; the cursor is the last ticket given, so a
/// ticket opened meanwhile repeats nothing on the next page (as the order list, issue 16,
/// item 14).
pub async fn list(
    store: &dyn ItemStore,
    vendor: &VendorId,
    state: Option<crate::domain::tickets::TicketState>,
    kind: Option<TicketType>,
    limit: u32,
    cursor: Option<String>,
) -> Result<crate::usecases::listing::Listing<Ticket>, UseCaseError> {
    crate::usecases::listing::list_matching(
        store,
        vendor,
        "TICKET#",
        limit,
        cursor,
        |ticket: &Ticket| {
            state.is_none_or(|s| ticket.state == s) && kind.is_none_or(|k| ticket.ticket_type == k)
        },
    )
    .await
}

/// The orders of `tickets` with their customers, read in two batches: what a list of tickets
/// shows of each (issue 16, item 16).
pub async fn orders_of(
    store: &dyn ItemStore,
    vendor: &VendorId,
    tickets: &[Ticket],
) -> Result<std::collections::HashMap<OrderId, (Order, Customer)>, UseCaseError> {
    let mut order_ids: Vec<&OrderId> = tickets.iter().map(|t| &t.order_id).collect();
    order_ids.sort();
    order_ids.dedup();
    let keys: Vec<Key> = order_ids
        .iter()
        .map(|id| crate::store::keys::order_key(vendor, id))
        .collect();
    let orders: Vec<Order> = store
        .get_many(&keys)
        .await?
        .into_iter()
        .flatten()
        .map(|item| item.decode())
        .collect::<Result<_, _>>()?;
    let customer_keys: Vec<Key> = orders
        .iter()
        .map(|order| crate::store::keys::customer_key(vendor, &order.customer_id))
        .collect();
    let customers = store.get_many(&customer_keys).await?;
    let mut found = std::collections::HashMap::new();
    for (order, customer) in orders.into_iter().zip(customers) {
        let customer: Customer = customer.ok_or(UseCaseError::NotFound)?.decode()?;
        found.insert(order.id.clone(), (order, customer));
    }
    Ok(found)
}

/// What one side may do to a ticket now (issue 16, item 16): each change tried on a copy by
/// the very rules that decide it when asked, so the answer never promises what is refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Allowed {
    pub comment: bool,
    pub close: bool,
    /// The types it may be changed to.
    pub change_type_to: Vec<TicketType>,
}

/// `another_request`: the order has an open refund or cancel request other than this ticket
/// (R-T0: one at a time), which the change's transaction would find as its lock.
pub fn allowed(
    ticket: &Ticket,
    order: &Order,
    by: Party,
    now: DateTime<Utc>,
    policy: Policy,
    another_request: bool,
) -> Allowed {
    let can = |change: Change| decide(&mut ticket.clone(), order, by, &change, now, policy).is_ok();
    let locked =
        |to: TicketType| another_request && to.is_request() && !ticket.ticket_type.is_request();
    Allowed {
        comment: can(Change::Comment(".".into())),
        close: can(Change::Close),
        change_type_to: [TicketType::Support, TicketType::Refund, TicketType::Cancel]
            .into_iter()
            .filter(|to| !locked(*to) && can(Change::ChangeType(*to)))
            .collect(),
    }
}

/// The order's open refund or cancel request, if it has one (R-T0).
pub async fn open_request(
    store: &dyn ItemStore,
    vendor: &VendorId,
    order: &OrderId,
) -> Result<Option<TicketId>, UseCaseError> {
    Ok(store
        .get(&open_request_key(vendor, order))
        .await?
        .and_then(|lock| TicketId::parse(lock.body["ticket_id"].as_str()?).ok()))
}
