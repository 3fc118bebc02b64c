//! Orders: checkout, the customer's order page, and the vendor's list, card, edits, comments,
//! manual orders and payments and transaction history (API.md "Checkout", "Customer", "Vendor").

use super::tickets::TicketView;
use super::{App, order_id};
use crate::api::routes::Matched;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::domain::catalogue::Plan;
use crate::domain::customers::Customer;
use crate::domain::ids::{CustomerId, OfferId, OrderId, ProductId};
use crate::domain::money::{Currency, Money};
use crate::domain::orders::access::Access;
use crate::domain::orders::{InternalComment, ItemState, Order, OrderStatus, PaymentStatus};
use crate::domain::tax::TaxTreatment;
use crate::domain::vendors::vendor_zone;
use crate::usecases::links::OrderGrant;
use crate::usecases::orders::checkout::{self, CheckoutRequest};
use crate::usecases::orders::transactions::Transaction;
use crate::usecases::orders::{self, portal};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;

/// The order as the customer sees it; the vendor's card adds its internal fields (R-O7).
pub(super) fn customer_order_view(
    order: &Order,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<OrderView, ApiError> {
    let derived = order.derived(now, tz).map_err(|_| ApiError::internal())?;
    Ok(OrderView {
        id: order.id.clone(),
        number: order.number.clone(),
        created_at: order.created_at,
        status: order.status,
        payment_status: derived.payment_status,
        customer: OrderCustomer::given_at_checkout(order),
        offer: OfferTermsSold {
            id: order.offer_id.clone(),
            version: order.offer_version,
            name: order.offer_name.clone(),
            plan: order.plan,
            list_price: order.list_price,
            discount: order.discount,
        },
        lines: order
            .lines
            .iter()
            .map(|line| LineView {
                product_id: line.product_id.clone(),
                name: line.name.clone(),
                net: line.net,
                tax: line.tax,
                tax_rate: line.tax_rate.to_string(),
                total: line.total,
                access_days: line.access_days,
                access: order.access(line, now),
            })
            .collect(),
        payments: order
            .payments
            .iter()
            .map(|payment| PaymentView {
                provider: payment.source,
                method: payment.method.clone(),
                amount: payment.amount,
                refunded: payment.refunded,
                at: payment.at,
                schedule_seqs: payment.items.clone(),
                comment: None,
            })
            .collect(),
        currency: order.total.currency(),
        net: order.net,
        tax: order.tax,
        tax_treatment: order.tax_treatment,
        vat_id: order.buyer.as_ref().and_then(|buyer| buyer.vat_id.clone()),
        total: order.total,
        paid: derived.paid,
        refunded: order.refunded,
        open: derived.open,
        overdue: derived.overdue,
        surplus: derived.surplus,
        other_currency_payments: order
            .other_currency
            .iter()
            .map(|payment| OtherCurrencyPayment {
                amount: payment.amount,
                refunded: payment.refunded,
                at: payment.at,
            })
            .collect(),
        next_charge_at: order.next_charge_at(),
        schedule: order
            .schedule
            .iter()
            .zip(order.item_states(now, tz))
            .map(|(item, status)| ScheduleItemView {
                seq: item.seq,
                due_at: item.due_at,
                amount: item.amount,
                paid_at: item.paid_at,
                attempts: item.attempts,
                status,
            })
            .collect(),
        tickets: Vec::new(),
        opened_with: None,
    })
}

/// An order as API.md shows it to its customer (`/portal/orders/{token}`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OrderView {
    id: OrderId,
    number: String,
    created_at: DateTime<Utc>,
    status: OrderStatus,
    payment_status: PaymentStatus,
    customer: OrderCustomer,
    offer: OfferTermsSold,
    lines: Vec<LineView>,
    /// Every payment that reached the order, oldest first.
    payments: Vec<PaymentView>,
    currency: Currency,
    net: Money,
    tax: Money,
    tax_treatment: TaxTreatment,
    /// The buyer's VAT id as checked at checkout (normalised), for the invoice (R-M2).
    vat_id: Option<String>,
    total: Money,
    paid: Money,
    refunded: Money,
    open: Money,
    overdue: Money,
    /// Paid beyond what the order asked (R-O2): kept on the order, refundable.
    surplus: Money,
    /// Money that came in another currency than the order's: credited in its currency, not
    /// paying the order (decisions.md "Payments").
    other_currency_payments: Vec<OtherCurrencyPayment>,
    /// When a running plan charges next (its first open payment's due time).
    next_charge_at: Option<DateTime<Utc>>,
    schedule: Vec<ScheduleItemView>,
    tickets: Vec<TicketView>,
    /// On the customer's page: which link opened it — the customer link (everything) or the
    /// pay link (view and pay only, R-O4).
    #[serde(skip_serializing_if = "Option::is_none")]
    opened_with: Option<OrderGrant>,
}

/// One payment of the order (R-O7; issue 16, item 15): who took it, how, and what of it went
/// back.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct PaymentView {
    /// `stripe`, `paypal`, or `manual` (recorded by the vendor, R-O8).
    provider: crate::domain::orders::payments::PaymentSource,
    /// For a payment recorded by hand: `bank_transfer`, `prepayment`, `cash` or `other`.
    method: Option<String>,
    amount: Money,
    refunded: Money,
    at: DateTime<Utc>,
    /// The scheduled payments (their `seq`) it paid.
    schedule_seqs: Vec<u32>,
    /// On the vendor's card only: the vendor's note on a payment recorded by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OtherCurrencyPayment {
    amount: Money,
    refunded: Money,
    at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OrderCustomer {
    /// On the vendor's card only: the customer the order was matched to.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<CustomerId>,
    email: String,
    first_name: String,
    last_name: String,
    phones: Vec<String>,
}

impl OrderCustomer {
    /// The buyer as the order's own checkout gave it: all the customer's view shows (an order
    /// made before the checkout was kept shows the name and e-mail it recorded).
    fn given_at_checkout(order: &Order) -> OrderCustomer {
        match &order.buyer {
            Some(buyer) => OrderCustomer {
                id: None,
                email: buyer.email.clone(),
                first_name: buyer.first_name.clone(),
                last_name: buyer.last_name.clone(),
                phones: buyer.phone.iter().map(|p| p.trim().to_string()).collect(),
            },
            None => OrderCustomer {
                id: None,
                email: order.customer_email.clone(),
                first_name: order.customer_name.clone(),
                last_name: String::new(),
                phones: Vec::new(),
            },
        }
    }

    /// The customer record the order was matched to, for the vendor's card (R-O7).
    fn matched(customer: &Customer) -> OrderCustomer {
        OrderCustomer {
            id: Some(customer.id.clone()),
            email: customer.email.clone(),
            first_name: customer.first_name.clone(),
            last_name: customer.last_name.clone(),
            phones: customer.phones.clone(),
        }
    }
}

/// The offer's terms the order was sold on (R-O1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OfferTermsSold {
    id: OfferId,
    version: u32,
    name: String,
    plan: Plan,
    /// The offer's net price per order and its discount when sold (seed 002); `net` is the one
    /// less the other. `null` on orders made before they were kept.
    list_price: Option<Money>,
    discount: Option<Money>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct LineView {
    product_id: ProductId,
    name: String,
    net: Money,
    tax: Money,
    /// The VAT rate in percent, as a decimal string.
    tax_rate: String,
    total: Money,
    /// How many days of access the line grants from the first payment (`null`: unlimited),
    /// shown before anything is paid.
    access_days: Option<u32>,
    access: Access,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ScheduleItemView {
    seq: u32,
    due_at: DateTime<Utc>,
    amount: Money,
    paid_at: Option<DateTime<Utc>>,
    attempts: u32,
    /// `scheduled`, `due`, `overdue`, `paid`, `refunded` or `cancelled` (issue 15).
    status: ItemState,
}

/// The order card (R-O7): the customer's view plus the vendor's own fields and provider ids.
pub(super) fn vendor_order_view(
    order: &Order,
    customer: &Customer,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<VendorOrderView, ApiError> {
    let mut view = customer_order_view(order, now, tz)?;
    view.customer = OrderCustomer::matched(customer);
    for (shown, payment) in view.payments.iter_mut().zip(&order.payments) {
        shown.comment = payment.comment.clone();
    }
    Ok(VendorOrderView {
        order: view,
        stage: order.stage.clone(),
        manager: order.manager.clone(),
        tags: order.tags.clone(),
        comments: order.comments.clone(),
        provider: ProviderIdsView {
            payment_intent: order.provider.payment_intent.clone(),
            customer: order.provider.customer.clone(),
            subscription: order.provider.subscription.clone(),
            charges: order.provider.charges.keys().cloned().collect(),
        },
        pay_link: None,
    })
}

/// The vendor's order card (R-O7).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct VendorOrderView {
    #[serde(flatten)]
    order: OrderView,
    stage: Option<String>,
    manager: Option<String>,
    tags: BTreeSet<String>,
    comments: Vec<InternalComment>,
    provider: ProviderIdsView,
    /// The order's pay link (R-O4): view and pay what is due, for the vendor to pass on; the
    /// customer link goes only to the customer.
    pay_link: Option<String>,
}

/// The provider's ids recorded on the order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ProviderIdsView {
    payment_intent: Option<String>,
    customer: Option<String>,
    subscription: Option<String>,
    charges: Vec<String>,
}

/// `POST /checkout` (API.md "Checkout").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CheckoutAnswer {
    order_id: OrderId,
    order_number: String,
    customer_link: String,
    payment_url: String,
    total: Money,
}

/// One order in the vendor's list (R-D1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OrderSummary {
    id: OrderId,
    number: String,
    created_at: DateTime<Utc>,
    status: OrderStatus,
    payment_status: PaymentStatus,
    customer_id: CustomerId,
    /// The name and e-mail the order's checkout gave.
    customer_name: String,
    customer_email: String,
    offer_name: String,
    plan: Plan,
    /// What one period costs, for a subscription; `total` is that too, `paid` what all its
    /// periods brought in.
    price_per_period: Option<Money>,
    total: Money,
    paid: Money,
    open: Money,
    stage: Option<String>,
    tags: BTreeSet<String>,
}

/// An order as a row of a list (the vendor's list, a customer's card).
pub(super) fn order_summary(
    order: &Order,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<OrderSummary, ApiError> {
    let derived = order.derived(now, tz).map_err(|_| ApiError::internal())?;
    Ok(OrderSummary {
        id: order.id.clone(),
        number: order.number.clone(),
        created_at: order.created_at,
        status: order.status,
        payment_status: derived.payment_status,
        customer_id: order.customer_id.clone(),
        customer_name: order.customer_name.clone(),
        customer_email: order.customer_email.clone(),
        offer_name: order.offer_name.clone(),
        plan: order.plan,
        price_per_period: matches!(order.plan, Plan::Subscription { .. }).then_some(order.total),
        total: order.total,
        paid: derived.paid,
        open: derived.open,
        stage: order.stage.clone(),
        tags: order.tags.clone(),
    })
}

/// `GET /api/orders/{id}/transactions` (R-O7).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Transactions {
    items: Vec<Transaction>,
}

impl App {
    pub(super) async fn checkout(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: CheckoutRequest = request.json()?;
        // Abuse limits (issue 12, §3): per source, per recipient, per vendor; before anything.
        self.limit("checkout-source", request.source(), |l| {
            l.checkouts_per_source
        })
        .await?;
        let recipient = crate::domain::vendors::normalize_email(&body.customer.email);
        self.limit("checkout-recipient", recipient.as_deref(), |l| {
            l.checkouts_per_recipient
        })
        .await?;
        if self.limits.is_some() {
            let vendor = match crate::domain::ids::OfferId::parse(&body.offer_id) {
                Ok(offer) => crate::usecases::catalogue::find_offer(self.store.as_ref(), &offer)
                    .await?
                    .map(|offer| offer.vendor_id.to_string()),
                Err(_) => None,
            };
            self.limit("checkout-vendor", vendor.as_deref(), |l| {
                l.checkouts_per_vendor
            })
            .await?;
        }
        let result = checkout::checkout(
            self.store.as_ref(),
            self.clock.as_ref(),
            self.entropy.as_ref(),
            &self.link_keys,
            body,
            None,
        )
        .await
        .map_err(offer_not_found)?;
        Ok(ApiResponse::json(
            StatusCode::CREATED,
            &CheckoutAnswer {
                order_id: result.order.id,
                order_number: result.order.number,
                customer_link: result.customer_link,
                payment_url: result.payment_url,
                total: result.order.total,
            },
        ))
    }

    pub(super) async fn portal_order(&self, matched: &Matched) -> Result<ApiResponse, ApiError> {
        let token = matched
            .params
            .get("token")
            .ok_or_else(ApiError::not_found)?;
        let found = portal::order_to_view_or_pay(self.store.as_ref(), token).await?;
        let mut view =
            customer_order_view(&found.order, self.clock.now(), vendor_zone(&found.vendor))?;
        view.opened_with = Some(found.grant);
        // R-O4: the pay link opens no tickets; the customer link lists each with its link, so
        // a customer who lost the e-mail can still answer, convert or close it (R-U1).
        if found.grant == OrderGrant::CustomerLink {
            let listed = crate::usecases::tickets::of_order(
                self.store.as_ref(),
                &found.vendor.id,
                &found.order.id,
            )
            .await?;
            let context = super::tickets::TicketContext {
                order: &found.order,
                customer: &found.customer,
                vendor: &found.vendor,
                viewer: crate::domain::tickets::Party::Customer,
                now: self.clock.now(),
            };
            view.tickets = listed
                .iter()
                .map(|ticket| {
                    let (_, link) =
                        crate::usecases::tickets::ticket_link(self.ports(), &found.vendor, ticket)
                            .map_err(crate::usecases::ports::UseCaseError::from)?;
                    Ok(super::tickets::ticket_summary(ticket, &context).with_link(link))
                })
                .collect::<Result<_, ApiError>>()?;
        }
        Ok(ApiResponse::json(StatusCode::OK, &view))
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OrderComment)]
pub(super) struct CommentBody {
    body: String,
}

/// One query parameter parsed by `parse`; a value it refuses is a 400 naming the field.
fn param<T>(
    request: &ApiRequest,
    field: &str,
    why: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match request.query_param(field)? {
        None => Ok(None),
        Some(raw) => parse(&raw).map(Some).ok_or_else(|| {
            ApiError::validation(crate::domain::validation::FieldErrors::from([(
                field.to_string(),
                why.to_string(),
            )]))
        }),
    }
}

/// `?q=&payment_status=&product_id=&customer_id=&from=&to=` (R-D1).
///
/// `from` and `to` are RFC 3339 times, or days in the vendor's time zone (issue 16, item 16):
/// `from=2026-11-01` starts at that day's midnight there, `to=2026-11-30` takes that whole day
/// in (the list's `to` is exclusive: it ends at the next day's midnight).
fn order_filter(request: &ApiRequest, tz: chrono_tz::Tz) -> Result<orders::OrderFilter, ApiError> {
    let day_start = |raw: &str, days_after: u64| {
        chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .filter(|_| raw.len() == 10)
            .and_then(|day| day.checked_add_days(chrono::Days::new(days_after)))
            .map(|day| {
                crate::domain::calendar::resolve_local(day.and_time(chrono::NaiveTime::MIN), tz)
            })
    };
    let instant = |raw: &str| {
        chrono::DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| t.to_utc())
    };
    let from = |raw: &str| instant(raw).or_else(|| day_start(raw, 0));
    let to = |raw: &str| instant(raw).or_else(|| day_start(raw, 1));
    Ok(orders::OrderFilter {
        q: request.query_param("q")?.filter(|q| !q.trim().is_empty()),
        payment_status: param(request, "payment_status", "is not a payment status", |s| {
            serde_json::from_value(json!(s)).ok()
        })?,
        product_id: param(request, "product_id", "is not a product id", |p| {
            crate::domain::ids::ProductId::parse(p).ok()
        })?,
        customer_id: param(request, "customer_id", "is not a customer id", |c| {
            crate::domain::ids::CustomerId::parse(c).ok()
        })?,
        from: param(
            request,
            "from",
            "is not an RFC 3339 time or a YYYY-MM-DD day",
            from,
        )?,
        to: param(
            request,
            "to",
            "is not an RFC 3339 time or a YYYY-MM-DD day",
            to,
        )?,
    })
}

/// The checkout's 404 names what is missing (API.md).
fn offer_not_found(error: crate::usecases::ports::UseCaseError) -> ApiError {
    match error {
        crate::usecases::ports::UseCaseError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "offer_not_found", "no such offer")
        }
        other => other.into(),
    }
}

impl App {
    /// The order's pay link (R-O4), re-derived, never stored.
    fn pay_link(
        &self,
        vendor: &crate::domain::vendors::Vendor,
        order: &Order,
    ) -> Result<String, ApiError> {
        crate::usecases::links::current_pay_link(&self.link_keys, vendor, order)
            .map_err(|error| crate::usecases::ports::UseCaseError::from(error).into())
    }

    /// The order's tickets as the vendor's card lists them.
    async fn tickets_of(
        &self,
        vendor: &crate::domain::vendors::Vendor,
        card: &orders::OrderCard,
    ) -> Result<Vec<TicketView>, ApiError> {
        let found =
            crate::usecases::tickets::of_order(self.store.as_ref(), &vendor.id, &card.order.id)
                .await?;
        let context = super::tickets::TicketContext {
            order: &card.order,
            customer: &card.customer,
            vendor,
            viewer: crate::domain::tickets::Party::Vendor,
            now: self.clock.now(),
        };
        Ok(found
            .iter()
            .map(|ticket| super::tickets::ticket_summary(ticket, &context))
            .collect())
    }

    /// The order card of one of the vendor's orders, as the answer of a read or a change.
    async fn card_answer(
        &self,
        vendor: &crate::domain::vendors::Vendor,
        id: &crate::domain::ids::OrderId,
        status: StatusCode,
    ) -> Result<ApiResponse, ApiError> {
        let card = orders::card(self.store.as_ref(), &vendor.id, id).await?;
        let mut view = vendor_order_view(
            &card.order,
            &card.customer,
            self.clock.now(),
            vendor_zone(vendor),
        )?;
        view.pay_link = Some(self.pay_link(vendor, &card.order)?);
        view.order.tickets = self.tickets_of(vendor, &card).await?;
        Ok(ApiResponse::json(status, &view))
    }

    pub(super) async fn list_orders(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let params = request.list_params()?;
        let (now, tz) = (self.clock.now(), vendor_zone(&vendor));
        let filter = order_filter(request, tz)?;
        let page = orders::list(
            self.store.as_ref(),
            &vendor.id,
            &filter,
            params.limit,
            params.cursor,
            now,
            tz,
        )
        .await?;
        let items = page
            .orders
            .iter()
            .map(|order| order_summary(order, now, tz))
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &json!({ "items": items, "next_cursor": page.next_cursor, "total": page.total }),
        ))
    }

    pub(super) async fn order_card(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        self.card_answer(&vendor, &order_id(matched)?, StatusCode::OK)
            .await
    }

    pub(super) async fn patch_order(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let id = order_id(matched)?;
        let patch: orders::OrderPatch = request.json()?;
        orders::patch(
            self.store.as_ref(),
            &vendor.id,
            &id,
            patch,
            self.clock.now(),
        )
        .await?;
        self.card_answer(&vendor, &id, StatusCode::OK).await
    }

    pub(super) async fn comment_order(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let id = order_id(matched)?;
        let body: CommentBody = request.json()?;
        orders::comment(
            self.store.as_ref(),
            &vendor.id,
            &id,
            &body.body,
            self.clock.now(),
        )
        .await?;
        self.card_answer(&vendor, &id, StatusCode::CREATED).await
    }
}

/// `POST /api/orders/{id}/customer-link/rotate` (R-O4): the order's new pay link; the new
/// customer link went to the customer by e-mail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct RotatedLink {
    order_id: OrderId,
    pay_link: String,
}

impl App {
    /// R-O4: the old tokens open nothing from now on; mails sent later carry the new link.
    pub(super) async fn rotate_customer_link(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        request.no_body()?;
        let id = order_id(matched)?;
        // Each rotation mails the customer: bounded per inbox as checkout confirmations are.
        if self.limits.is_some() {
            let card = orders::card(self.store.as_ref(), &vendor.id, &id).await?;
            let recipient = card.order.recipient(&card.customer).to_string();
            self.limit("link-renewal-recipient", Some(&recipient), |l| {
                l.checkouts_per_recipient
            })
            .await?;
        }
        let pay_link =
            crate::usecases::tickets::rotate_order_links(self.ports(), &vendor, &id).await?;
        Ok(ApiResponse::json(
            StatusCode::OK,
            &RotatedLink {
                order_id: id,
                pay_link,
            },
        ))
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ManualOrderBody {
    offer_id: String,
    customer: crate::domain::customers::CheckoutCustomer,
}

impl App {
    /// `POST /api/orders`: a vendor creates an order by hand (R-O8), from one of its offers.
    pub(super) async fn create_manual_order(
        &self,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let body: ManualOrderBody = request.json()?;
        // The confirmation mails the customer: one inbox's share, as at checkout.
        let recipient = crate::domain::vendors::normalize_email(&body.customer.email);
        self.limit("checkout-recipient", recipient.as_deref(), |l| {
            l.checkouts_per_recipient
        })
        .await?;
        let checkout_request = CheckoutRequest {
            offer_id: body.offer_id,
            customer: body.customer,
            previous_order: None,
        };
        let result = checkout::checkout(
            self.store.as_ref(),
            self.clock.as_ref(),
            self.entropy.as_ref(),
            &self.link_keys,
            checkout_request,
            Some(&vendor.id),
        )
        .await
        .map_err(offer_not_found)?;
        let customer = crate::usecases::customers::get(
            self.store.as_ref(),
            &vendor.id,
            &result.order.customer_id,
        )
        .await?;
        let mut view = vendor_order_view(
            &result.order,
            &customer,
            self.clock.now(),
            vendor_zone(&vendor),
        )?;
        view.pay_link = Some(self.pay_link(&vendor, &result.order)?);
        Ok(ApiResponse::json(StatusCode::CREATED, &view))
    }

    /// `POST /api/orders/{id}/payments`: a manual payment (R-O8).
    pub(super) async fn record_manual_payment(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let id = order_id(matched)?;
        let payment: orders::ManualPayment = request.json()?;
        let order = orders::record_manual_payment(
            self.store.as_ref(),
            self.entropy.as_ref(),
            &self.link_keys,
            &vendor,
            &id,
            payment,
            self.clock.now(),
        )
        .await?;
        self.card_answer(&vendor, &order.id, StatusCode::CREATED)
            .await
    }

    /// `GET /api/orders/{id}/transactions`: the order's transaction history (R-O7).
    pub(super) async fn order_transactions(
        &self,
        request: &ApiRequest,
        matched: &Matched,
    ) -> Result<ApiResponse, ApiError> {
        let vendor = self.require_vendor(request).await?;
        let id = order_id(matched)?;
        // 404 for an order that is not this vendor's, before reading its history.
        if self
            .store
            .get(&crate::store::keys::order_key(&vendor.id, &id))
            .await
            .map_err(crate::usecases::ports::UseCaseError::from)?
            .is_none()
        {
            return Err(ApiError::not_found());
        }
        let items =
            crate::usecases::orders::transactions::history(self.store.as_ref(), &vendor.id, &id)
                .await?;
        Ok(ApiResponse::json(StatusCode::OK, &Transactions { items }))
    }
}
