//! The customer's way in: a link token opens exactly its order (R-O4).

use crate::domain::catalogue::Plan;
use crate::domain::customers::Customer;
use crate::domain::ids::CustomerId;
use crate::domain::orders::{ItemStatus, Order, OrderStatus, ScheduleItem};
use crate::domain::vendors::Vendor;
use crate::payments::{PaymentProvider, PaymentSession, PaymentSessionRequest, ProviderError};
use crate::store::keys::{VENDOR_PROFILE_SK, order_key, vendor_pk};
use crate::store::{ItemStore, Key};
use crate::usecases::links::{OrderGrant, resolve_order_link};
use crate::usecases::ports::UseCaseError;
use chrono::{DateTime, Utc};

pub struct CustomerOrder {
    pub vendor: Vendor,
    pub order: Order,
    pub customer: Customer,
    /// Which link opened it: the customer link opens everything, the pay link view and pay.
    pub grant: OrderGrant,
}

/// The order a customer link opens (R-O4): every customer route but viewing and paying.
pub async fn order_by_token(
    store: &dyn ItemStore,
    presented: &str,
) -> Result<CustomerOrder, UseCaseError> {
    order_by_link(store, presented, &[OrderGrant::CustomerLink]).await
}

/// The order a customer link or the vendor's pay link opens (R-O4): viewing and paying.
pub async fn order_to_view_or_pay(
    store: &dyn ItemStore,
    presented: &str,
) -> Result<CustomerOrder, UseCaseError> {
    order_by_link(
        store,
        presented,
        &[OrderGrant::CustomerLink, OrderGrant::PayLink],
    )
    .await
}

async fn order_by_link(
    store: &dyn ItemStore,
    presented: &str,
    accepted: &[OrderGrant],
) -> Result<CustomerOrder, UseCaseError> {
    let (vendor_id, order_id, grant) = resolve_order_link(store, presented, accepted).await?;
    let order: Order = store
        .get(&order_key(&vendor_id, &order_id))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?;
    let customer = customer(store, &order).await?;
    let vendor: Vendor = store
        .get(&Key::new(vendor_pk(&vendor_id), VENDOR_PROFILE_SK))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?;
    Ok(CustomerOrder {
        vendor,
        order,
        customer,
        grant,
    })
}

async fn customer(store: &dyn ItemStore, order: &Order) -> Result<Customer, UseCaseError> {
    let id: &CustomerId = &order.customer_id;
    Ok(store
        .get(&Key::new(
            vendor_pk(&order.vendor_id),
            format!("CUSTOMER#{id}"),
        ))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?)
}

#[derive(Debug, thiserror::Error)]
pub enum PortalPayError {
    #[error("the order has nothing open to pay")]
    NothingOpen,
    #[error(transparent)]
    UseCase(#[from] UseCaseError),
    #[error("the provider did not start the payment")]
    Provider(#[source] ProviderError),
}

/// The payment the link may start now (R-P4; issue 15, defect 3): the first open one, if its
/// due day has begun in the order's calendar (it is due or overdue) — a subscription's next
/// period is the provider's to bill, and an instalment before its day only where the vendor
/// allows early instalments (then exactly that rate). `None`: nothing is open and due.
pub fn payable_item<'a>(
    order: &'a Order,
    vendor: &Vendor,
    now: DateTime<Utc>,
) -> Option<&'a ScheduleItem> {
    let payable = matches!(
        order.status,
        OrderStatus::PendingPayment | OrderStatus::Active
    );
    let item = order
        .schedule
        .iter()
        .find(|item| item.status == ItemStatus::Open)
        .filter(|_| payable)?;
    // A subscription's periods after its first are billed by the provider's subscription: a
    // payment of one through the link would be a second charge of it. Its first period stays
    // payable while unpaid — a first payment that failed starts the plan anew.
    if matches!(order.plan, Plan::Subscription { .. }) && item.seq > 1 {
        return None;
    }
    let zone = order.calendar();
    let due =
        item.due_at.with_timezone(&zone).date_naive() <= now.with_timezone(&zone).date_naive();
    let early_allowed =
        vendor.allow_early_instalments && matches!(order.plan, Plan::Installments { .. });
    (due || early_allowed).then_some(item)
}

/// What the payment link starts (R-P4): the rest of the payment open and due now, for an order
/// that can still be paid. A subscription's first payment starts the plan at the provider.
pub fn payment_request(
    found: &CustomerOrder,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<PaymentSessionRequest, PortalPayError> {
    let order = &found.order;
    let item = payable_item(order, &found.vendor, now).ok_or(PortalPayError::NothingOpen)?;
    let rest = item
        .amount
        .checked_sub(&item.paid)
        .map_err(|_| PortalPayError::NothingOpen)?;
    let units = rest
        .minor_units()
        .map_err(|_| PortalPayError::NothingOpen)?;
    let renews_every = match order.plan {
        Plan::Subscription { interval } if item.seq == 1 => Some(interval),
        _ => None,
    };
    Ok(PaymentSessionRequest {
        vendor_id: found.vendor.id.clone(),
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        order_number: order.number.clone(),
        description: order.offer_name.clone(),
        amount: rest,
        // The e-mail typed at this order's checkout (issue 16, item 12): in address mode the
        // matched customer may be another person of the household.
        customer_email: order.recipient(&found.customer).to_string(),
        renews_every,
        success_url: format!(
            "{}/checkout/complete?session_id={{CHECKOUT_SESSION_ID}}",
            found.vendor.portal_base_url.trim_end_matches('/')
        ),
        cancel_url: format!(
            "{}/checkout/cancelled",
            found.vendor.portal_base_url.trim_end_matches('/')
        ),
        order_token: presented.to_string(),
        save_for_later: consent_to_later_rates(order, item, &found.vendor, &found.customer, now),
        // The same open amount on the same day is one session at the provider, however often
        // the customer presses "pay".
        idempotency_key: format!(
            "pay-{}-{}-{units}-{}",
            order.id,
            item.seq,
            now.format("%Y%m%d")
        ),
    })
}

/// Issue 15, defect 1: paying a rate of an instalment plan with more to come saves the payment
/// method for the later rates, which are charged on their due dates; the customer is told so on
/// the page, above "pay" (their consent).
pub fn consent_to_later_rates(
    order: &Order,
    paying: &ScheduleItem,
    vendor: &Vendor,
    customer: &Customer,
    now: DateTime<Utc>,
) -> Option<String> {
    if !matches!(order.plan, Plan::Installments { .. }) {
        return None;
    }
    let zone = order.calendar();
    let later: Vec<&ScheduleItem> = order
        .schedule
        .iter()
        .filter(|item| item.seq > paying.seq && item.status == ItemStatus::Open)
        .collect();
    let (first, last) = (later.first()?, later.last()?);
    // A rate whose day has passed (the plan is paid late) is charged at once: today.
    let date = |item: &ScheduleItem| {
        item.due_at
            .max(now)
            .with_timezone(&zone)
            .format("%Y-%m-%d")
            .to_string()
    };
    let listed = later
        .iter()
        .map(|item| format!("{} {}", date(item), item.amount))
        .collect::<Vec<_>>()
        .join(", ");
    let total = later
        .iter()
        .try_fold(
            crate::domain::money::Money::zero(first.amount.currency()),
            |sum, item| sum.checked_add(&item.amount),
        )
        .ok()?;
    let german = customer
        .language
        .as_deref()
        .unwrap_or(&vendor.default_language)
        .eq_ignore_ascii_case("de");
    let text = |rates: &str| {
        if german {
            format!(
                "Sie erlauben {}, die weiteren Raten an ihren Fälligkeitstagen von dieser Zahlungsart abzubuchen: {rates}.",
                vendor.name
            )
        } else {
            format!(
                "You allow {} to charge the further instalments to this payment method on their due dates: {rates}.",
                vendor.name
            )
        }
    };
    let consent = text(&listed);
    // Stripe shows at most 1200 characters there: a long plan is summed up.
    if consent.chars().count() <= CONSENT_LIMIT {
        return Some(consent);
    }
    let summary = if german {
        format!(
            "{} Raten, zusammen {total}, vom {} bis {}",
            later.len(),
            date(first),
            date(last)
        )
    } else {
        format!(
            "{} instalments totalling {total}, from {} to {}",
            later.len(),
            date(first),
            date(last)
        )
    };
    Some(text(&summary))
}

/// The longest text Stripe shows above the pay button (`custom_text[submit][message]`).
const CONSENT_LIMIT: usize = 1200;

/// `POST /portal/orders/{token}/pay`: a provider payment page for the open amount.
pub async fn start_payment(
    store: &dyn ItemStore,
    provider: &dyn PaymentProvider,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<PaymentSession, PortalPayError> {
    let found = order_to_view_or_pay(store, presented).await?;
    let request = payment_request(&found, presented, now)?;
    provider
        .create_payment_session(&request)
        .await
        .map_err(PortalPayError::Provider)
}
