//! Order pricing (R-M2 per line), the payment schedule (R-O5) and the derived amounts and
//! payment status (R-O6). Pure: the order's terms and `now` in, numbers out.
//!
//! Decisions (spec silent): an offer's net price (less its discount) is spread over its products
//! evenly, any rounding remainder on the first line, so every line carries its own tax. An item
//! counts as overdue once its due day has ended in the vendor's time zone, so a one-time order is
//! not overdue the second after checkout.

pub mod access;
pub mod payments;

use crate::domain::catalogue::{Interval, Plan};
use crate::domain::money::{Money, MoneyError};
use crate::domain::tax::{AppliedRate, TaxError, TaxedLine, tax_line};
use chrono::{DateTime, Days, Months, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Splits `total` into `parts` amounts at the currency's scale: equal shares, the remainder on
/// the first (R-O5). The parts always sum to `total` exactly.
pub fn split_evenly(total: Money, parts: u32) -> Result<Vec<Money>, MoneyError> {
    let parts = parts.max(1);
    let currency = total.currency();
    let total_units = total.minor_units()?;
    let share = total_units / i64::from(parts);
    let remainder = total_units - share * i64::from(parts);
    Ok((0..parts)
        .map(|k| Money::from_minor_units(if k == 0 { share + remainder } else { share }, currency))
        .collect())
}

/// The taxed lines of one order: the offer's net price less discount spread over its products.
pub fn price_lines(
    price: Money,
    discount: Option<Money>,
    products: usize,
    rate: AppliedRate,
) -> Result<Vec<TaxedLine>, TaxError> {
    let net = match discount {
        Some(discount) => price.checked_sub(&discount)?,
        None => price,
    };
    let count = u32::try_from(products.max(1)).unwrap_or(u32::MAX);
    split_evenly(net, count)?
        .into_iter()
        .map(|line_net| tax_line(line_net, rate))
        .collect()
}

/// `t` plus `n` intervals in the calendar of `zone` (R-M3): the same local wall time on the
/// later day (31 Jan + 1 month = 28/29 Feb), so a plan's due times do not shift by an hour
/// across DST nor change their local date near midnight; a wall time in a DST gap moves forward,
/// an ambiguous one takes the earlier instant.
pub fn add_intervals(t: DateTime<Utc>, interval: Interval, n: u32, zone: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&zone).naive_local();
    let shifted = match interval {
        Interval::Day => local.checked_add_days(Days::new(u64::from(n))),
        Interval::Week => local.checked_add_days(Days::new(7 * u64::from(n))),
        Interval::Month => local.checked_add_months(Months::new(n)),
        Interval::Year => local.checked_add_months(Months::new(12 * n)),
    };
    shifted.map_or(t, |later| {
        crate::domain::calendar::resolve_local(later, zone)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Open,
    Paid,
    Cancelled,
}

/// One scheduled payment (gross).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleItem {
    pub seq: u32,
    pub due_at: DateTime<Utc>,
    pub amount: Money,
    pub paid: Money,
    pub paid_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub status: ItemStatus,
}

impl ScheduleItem {
    pub fn open(seq: u32, due_at: DateTime<Utc>, amount: Money) -> ScheduleItem {
        ScheduleItem {
            seq,
            due_at,
            amount,
            paid: Money::zero(amount.currency()),
            paid_at: None,
            attempts: 0,
            status: ItemStatus::Open,
        }
    }
}

/// The schedule at creation (R-O5): one payment now; `count` installments, the first now, then
/// every interval, the remainder on the first; a subscription's first period now (the next item
/// is added when a period is paid, due when it ends).
pub fn initial_schedule(
    plan: Plan,
    total: Money,
    created_at: DateTime<Utc>,
    zone: Tz,
) -> Result<Vec<ScheduleItem>, MoneyError> {
    Ok(match plan {
        Plan::OneTime | Plan::Subscription { .. } => vec![ScheduleItem::open(1, created_at, total)],
        Plan::Installments { count, interval } => split_evenly(total, count)?
            .into_iter()
            .zip(1u32..)
            .map(|(amount, seq)| {
                ScheduleItem::open(
                    seq,
                    add_intervals(created_at, interval, seq - 1, zone),
                    amount,
                )
            })
            .collect(),
    })
}

/// The next period of a subscription, due when the last scheduled period ends.
pub fn next_subscription_item(
    schedule: &[ScheduleItem],
    interval: Interval,
    created_at: DateTime<Utc>,
    zone: Tz,
) -> Option<ScheduleItem> {
    let last = schedule.last()?;
    Some(ScheduleItem::open(
        last.seq + 1,
        add_intervals(created_at, interval, last.seq, zone),
        last.amount,
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Refunded,
    PartiallyRefunded,
    Overdue,
    Pending,
    Paid,
}

/// The derived amounts of R-O6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Derived {
    pub scheduled: Money,
    pub paid: Money,
    pub open: Money,
    pub overdue: Money,
    /// Paid beyond what the schedule asked (R-O2, issue 14 defect 6): refundable, and told to
    /// the vendor when it arrives.
    pub surplus: Money,
    pub payment_status: PaymentStatus,
}

/// How a schedule item stands for those reading the order (issue 15): not yet due, due today,
/// overdue, paid, paid and refunded, or not owed (cancelled, or its order superseded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Scheduled,
    Due,
    Overdue,
    Paid,
    Refunded,
    Cancelled,
}

impl Order {
    /// Each item's state at `now`, days read in `tz` (the vendor's, as R-O6's overdue).
    pub fn item_states(&self, now: DateTime<Utc>, tz: Tz) -> Vec<ItemState> {
        let refunded = self.refunded_items();
        let today = now.with_timezone(&tz).date_naive();
        self.schedule
            .iter()
            .map(|item| match item.status {
                ItemStatus::Cancelled => ItemState::Cancelled,
                ItemStatus::Paid if refunded.contains(&item.seq) => ItemState::Refunded,
                ItemStatus::Paid => ItemState::Paid,
                ItemStatus::Open if self.status == OrderStatus::Superseded => ItemState::Cancelled,
                ItemStatus::Open if is_overdue(item, now, tz) => ItemState::Overdue,
                ItemStatus::Open if item.due_at.with_timezone(&tz).date_naive() <= today => {
                    ItemState::Due
                }
                ItemStatus::Open => ItemState::Scheduled,
            })
            .collect()
    }

    /// When a running plan charges next: its first open item's due time.
    pub fn next_charge_at(&self) -> Option<DateTime<Utc>> {
        if !matches!(
            self.status,
            OrderStatus::PendingPayment | OrderStatus::Active
        ) {
            return None;
        }
        self.schedule
            .iter()
            .find(|item| item.status == ItemStatus::Open)
            .map(|item| item.due_at)
    }
}

/// Whether an open item's due day has ended in the vendor's time zone.
pub fn is_overdue(item: &ScheduleItem, now: DateTime<Utc>, tz: Tz) -> bool {
    let due_day = item.due_at.with_timezone(&tz).date_naive();
    item.status == ItemStatus::Open
        && now.with_timezone(&tz).date_naive() > due_day
        && item.paid.amount() < item.amount.amount()
}

/// open = scheduled − paid over non-cancelled items; overdue = unpaid rest of overdue items;
/// the status in the order of R-O6. `refunded` is what went back to the customer.
/// Decision: a subscription's next period is scheduled ahead (for reminders and matching) but is
/// not open before it begins, so a paid-up subscription reads `paid`, not `pending`.
/// `owes`: false for a superseded order (R-O2), whose items count as not scheduled — nothing of
/// it is open or overdue, so no reminder or dunning chases a customer who paid the newer order.
pub fn derive(
    plan: Plan,
    schedule: &[ScheduleItem],
    refunded: Money,
    owes: bool,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Derived, MoneyError> {
    let zero = Money::zero(refunded.currency());
    let (mut scheduled, mut paid, mut open, mut overdue) = (zero, zero, zero, zero);
    let mut surplus = zero;
    for item in schedule {
        paid = paid.checked_add(&item.paid)?;
        if item.paid.amount() > item.amount.amount() {
            surplus = surplus.checked_add(&item.paid.checked_sub(&item.amount)?)?;
        }
        let not_begun = matches!(plan, Plan::Subscription { .. }) && item.due_at > now;
        if item.status == ItemStatus::Cancelled || not_begun || !owes {
            continue;
        }
        scheduled = scheduled.checked_add(&item.amount)?;
        let rest = item.amount.checked_sub(&item.paid)?;
        if rest.amount() > Decimal::ZERO {
            open = open.checked_add(&rest)?;
            if is_overdue(item, now, tz) {
                overdue = overdue.checked_add(&rest)?;
            }
        }
    }
    // Money beyond the schedule is refundable only while it was not refunded (issue 15, review).
    let kept = paid.checked_sub(&refunded)?;
    if kept.amount() < surplus.amount() {
        surplus = if kept.is_negative() { zero } else { kept };
    }
    let payment_status = if !paid.is_zero() && refunded.amount() >= paid.amount() {
        PaymentStatus::Refunded
    } else if !refunded.is_zero() {
        PaymentStatus::PartiallyRefunded
    } else if !overdue.is_zero() {
        PaymentStatus::Overdue
    } else if !open.is_zero() {
        PaymentStatus::Pending
    } else {
        PaymentStatus::Paid
    };
    Ok(Derived {
        scheduled,
        paid,
        open,
        overdue,
        surplus,
        payment_status,
    })
}

/// Order numbers (R-O3): unique per vendor, increasing, readable.
pub fn order_number(sequence: u64) -> String {
    format!("SD-{sequence:06}")
}

/// The life cycle of an order (R-O10), beside its payment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Active,
    Completed,
    Cancelled,
    Superseded,
    Refunded,
    Disputed,
}

/// One product of an order with its share of the price and tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: crate::domain::ids::ProductId,
    pub name: String,
    pub net: Money,
    pub tax: Money,
    #[serde(with = "rust_decimal::serde::str")]
    pub tax_rate: Decimal,
    pub total: Money,
    /// `None`: unlimited access.
    pub access_days: Option<u32>,
}

/// An order with the snapshot of the offer version's terms it was sold on (R-O2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: crate::domain::ids::OrderId,
    pub vendor_id: crate::domain::ids::VendorId,
    pub number: String,
    pub customer_id: crate::domain::ids::CustomerId,
    /// The customer's e-mail and name when the order was made, for search (R-D1) and exports.
    #[serde(default)]
    pub customer_email: String,
    #[serde(default)]
    pub customer_name: String,
    /// What this order's checkout was given (e-mail normalised): the customer's view of the
    /// order shows this, never the data of the customer it was matched to (R-C1), which an
    /// anonymous checkout must neither read nor change.
    #[serde(default)]
    pub buyer: Option<crate::domain::customers::CheckoutCustomer>,
    pub offer_id: crate::domain::ids::OfferId,
    pub offer_version: u32,
    pub offer_name: String,
    pub plan: Plan,
    /// The offer's list price (net, per order) and discount it was sold at (R-O7, seed 002):
    /// `net` is the one less the other. Orders from before carry none.
    #[serde(default)]
    pub list_price: Option<Money>,
    #[serde(default)]
    pub discount: Option<Money>,
    pub lines: Vec<OrderLine>,
    pub net: Money,
    pub tax: Money,
    pub total: Money,
    pub tax_treatment: crate::domain::tax::TaxTreatment,
    pub schedule: Vec<ScheduleItem>,
    pub refunded: Money,
    /// Every payment that reached the order, once each, with what of it is refunded.
    #[serde(default)]
    pub payments: Vec<payments::Payment>,
    /// Money that came in another currency than the order's (issue 14, defect 5): recorded and
    /// credited in its currency, never counted against the order's schedule.
    #[serde(default)]
    pub other_currency: Vec<payments::Payment>,
    pub status: OrderStatus,
    /// The calendar its schedule steps in (the vendor's time zone when it was made, R-M3);
    /// orders from before carry none and step in UTC.
    #[serde(default)]
    pub zone: Option<String>,
    /// Bumped to revoke the customer link (R-O4).
    pub link_generation: u32,
    /// The link key the customer link is derived with (rotation keeps older links working).
    #[serde(default)]
    pub link_key: crate::domain::token::LinkKeyId,
    #[serde(default)]
    pub provider: ProviderRefs,
    /// The vendor's own fields (R-O7), never shown to the customer.
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub tags: std::collections::BTreeSet<String>,
    #[serde(default)]
    pub comments: Vec<InternalComment>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When all of its money went back (it became `refunded`): its access ended then (R-O9).
    #[serde(default)]
    pub refunded_at: Option<DateTime<Utc>>,
}

impl Order {
    /// Where this order's mail goes: the address its own checkout gave (a customer matched by
    /// address, R-C1, may have another on record, and a stranger's order is not theirs to read).
    pub fn recipient<'a>(&'a self, customer: &'a crate::domain::customers::Customer) -> &'a str {
        match &self.buyer {
            Some(buyer) => &buyer.email,
            None => &customer.email,
        }
    }

    /// The name this order's mail greets: the one its checkout gave.
    pub fn buyer_name(&self, customer: &crate::domain::customers::Customer) -> String {
        match &self.buyer {
            Some(buyer) => format!("{} {}", buyer.first_name, buyer.last_name),
            None => format!("{} {}", customer.first_name, customer.last_name),
        }
    }
}

impl Order {
    pub fn derived(&self, now: DateTime<Utc>, tz: Tz) -> Result<Derived, MoneyError> {
        let owes = self.status != OrderStatus::Superseded;
        derive(self.plan, &self.schedule, self.refunded, owes, now, tz)
    }

    /// R-O2: an unpaid order is superseded by a newer checkout of the same customer and offer.
    pub fn is_supersedable(&self) -> bool {
        self.status == OrderStatus::PendingPayment
    }
}

/// A vendor's internal note on an order (R-O7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InternalComment {
    pub body: String,
    pub at: DateTime<Utc>,
}

/// What the payment provider knows the order by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRefs {
    pub payment_intent: Option<String>,
    pub customer: Option<String>,
    pub subscription: Option<String>,
    /// Charge ids seen (`charge.succeeded`), with the card fingerprint when there was one (R-C6).
    pub charges: std::collections::BTreeMap<String, Option<String>>,
    /// The provider's id of every payment already applied (an invoice, a payment intent): the
    /// same money reported by two events (checkout session and first invoice) counts once.
    pub applied_payments: std::collections::BTreeSet<String>,
    /// The provider's key of every failed attempt already counted (R-P2): a failure reported by
    /// two events (a checkout session and its payment intent) counts once.
    #[serde(default)]
    pub failed_payments: std::collections::BTreeSet<String>,
    /// Disputes opened on the order's charges.
    #[serde(default)]
    pub disputes: std::collections::BTreeSet<String>,
    /// Refunds made in the provider's dashboard already recorded (R-R5).
    #[serde(default)]
    pub provider_refunds: std::collections::BTreeSet<String>,
    /// The life-cycle status before the first open dispute, restored when it is won.
    #[serde(default)]
    pub status_before_dispute: Option<OrderStatus>,
    /// Disputes decided (won or lost): each is closed once.
    #[serde(default)]
    pub disputes_closed: std::collections::BTreeSet<String>,
    /// What each dispute holds back: its amount, at most what was left unrefunded when it opened.
    #[serde(default)]
    pub dispute_amounts: std::collections::BTreeMap<String, Money>,
    /// Disputes decided before their opening arrived (`true`: won): applied when it does, so
    /// any order of arrival ends the same (R-P1).
    #[serde(default)]
    pub early_dispute_ends: std::collections::BTreeMap<String, bool>,
    /// Ids of one payment seen before its money arrived (a charge with its payment intent and
    /// invoice): they join the payment when it comes.
    #[serde(default)]
    pub waiting_ids: Vec<std::collections::BTreeSet<String>>,
    /// The payment method the customer saved for the plan's later rates (issue 15, defect 1):
    /// each instalment is charged to it off-session on its due date.
    #[serde(default)]
    pub saved_method: Option<SavedMethod>,
    /// The instalments whose collection task was written: each rate is collected once.
    #[serde(default)]
    pub collections: std::collections::BTreeSet<u32>,
}

/// A reusable payment method at the provider: its customer and the method (`cus_…`, `pm_…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedMethod {
    pub customer: String,
    pub payment_method: String,
}

/// How many periods ahead of its schedule a subscription payment may name (a bounded item).
const MAX_PERIODS_AHEAD: usize = 24;

/// At most this many groups of early ids wait on an order (it stays one bounded item).
const MAX_WAITING_IDS: usize = 20;

/// The outcome of money arriving for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentApplied {
    pub amount: Money,
    /// The tax contained in `amount`, in the order's proportion of tax to total (R-V2).
    pub tax_part: Money,
    /// The order was superseded and is active again (R-O2): the vendor is told.
    pub revived: bool,
    /// First money on this order (the customer's paid-order count goes up, R-C5).
    pub first_payment: bool,
    /// What of `amount` was more than the order had open (R-O2): kept, refundable, told.
    pub surplus: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("the payment is in {paid}, the order in {order}")]
    WrongCurrency { paid: String, order: String },
    #[error("a payment must be more than zero")]
    NotPositive,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The tax contained in a gross amount paid towards an order, rounded half away from zero.
pub fn tax_part(paid: Money, order_total: Money, order_tax: Money) -> Money {
    if order_total.is_zero() {
        return Money::zero(paid.currency());
    }
    Money::rounded(
        paid.amount() * order_tax.amount() / order_total.amount(),
        paid.currency(),
    )
}

impl Order {
    /// The later instalments of a running plan that have no collection yet (issue 15, defect
    /// 1): each is returned once and remembered, so its rate is collected once. The first rate
    /// is the checkout's; a subscription's periods are billed by its provider.
    pub fn instalments_to_collect(&mut self) -> Vec<ScheduleItem> {
        if !matches!(self.plan, Plan::Installments { .. }) || self.status != OrderStatus::Active {
            return Vec::new();
        }
        let new: Vec<ScheduleItem> = self
            .schedule
            .iter()
            .filter(|item| item.seq > 1 && item.status == ItemStatus::Open)
            .filter(|item| !self.provider.collections.contains(&item.seq))
            .cloned()
            .collect();
        self.provider
            .collections
            .extend(new.iter().map(|item| item.seq));
        new
    }

    /// The time zone its schedule steps in (R-M3).
    pub fn calendar(&self) -> Tz {
        self.zone
            .as_deref()
            .and_then(|zone| crate::domain::calendar::parse_time_zone(zone).ok())
            .unwrap_or(chrono_tz::UTC)
    }

    /// Applies a payment unless it was applied already under any of its ids (R-P1: any order of
    /// arrival, any duplicate, ends in the same state); a known payment only learns the new ids.
    pub fn apply_payment_once(
        &mut self,
        incoming: &payments::IncomingPayment,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Option<PaymentApplied>, PaymentError> {
        let mut ids: std::collections::BTreeSet<String> = incoming.ids.iter().cloned().collect();
        ids.insert(incoming.key.clone());
        if let Some(known) = self.payments.iter_mut().find(|p| !p.ids.is_disjoint(&ids)) {
            known.ids.extend(ids);
            return Ok(None);
        }
        if self.provider.applied_payments.contains(&incoming.key) {
            return Ok(None);
        }
        let paid_before = self.payments_total(|p| p.amount)?;
        let tax_before = self.payments_total(|p| p.tax)?;
        let item_paid_before: Vec<(u32, Money)> =
            self.schedule.iter().map(|i| (i.seq, i.paid)).collect();
        let mut applied =
            self.apply_to_schedule(amount, incoming.period_start, incoming.rate, now)?;
        let items: Vec<u32> = self
            .schedule
            .iter()
            .filter(|item| {
                // Paid into: more paid than before (an item scheduled just now, if it got any).
                let before = item_paid_before
                    .iter()
                    .find(|(seq, _)| *seq == item.seq)
                    .map(|(_, paid)| *paid);
                before.map_or(!item.paid.is_zero(), |paid| paid != item.paid)
            })
            .map(|item| item.seq)
            .collect();
        // Ids that came ahead of this money (a charge and its payment intent) join it.
        let (joining, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.provider.waiting_ids)
            .into_iter()
            .partition(|group| !group.is_disjoint(&ids));
        self.provider.waiting_ids = waiting;
        for group in joining {
            ids.extend(group);
        }
        let cumulative =
            payments::proportional(paid_before.checked_add(&amount)?, self.total, self.tax);
        applied.tax_part = cumulative.checked_sub(&tax_before)?;
        self.payments.push(payments::Payment {
            key: incoming.key.clone(),
            source: incoming.source,
            ids,
            amount,
            tax: applied.tax_part,
            refunded: Money::zero(amount.currency()),
            refunded_tax: Money::zero(amount.currency()),
            at: now,
            items,
            failed_refunds: Vec::new(),
            lost_to_disputes: None,
            method: None,
            comment: None,
        });
        self.provider.applied_payments.insert(incoming.key.clone());
        Ok(Some(applied))
    }

    /// Records money in another currency than the order's (issue 14, defect 5) once under any
    /// of its ids: kept apart from the schedule, with its tax share in the order's proportion.
    /// `None` when it was recorded already (its new ids are learnt).
    pub fn record_other_currency(
        &mut self,
        incoming: &payments::IncomingPayment,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Option<payments::Payment> {
        let mut ids: std::collections::BTreeSet<String> = incoming.ids.iter().cloned().collect();
        ids.insert(incoming.key.clone());
        if amount.is_zero() || amount.is_negative() {
            return None;
        }
        if let Some(known) = self
            .other_currency
            .iter_mut()
            .find(|p| !p.ids.is_disjoint(&ids))
        {
            known.ids.extend(ids);
            return None;
        }
        let payment = payments::Payment {
            key: incoming.key.clone(),
            source: incoming.source,
            ids,
            amount,
            tax: tax_part(amount, self.total, self.tax),
            refunded: Money::zero(amount.currency()),
            refunded_tax: Money::zero(amount.currency()),
            at: now,
            items: Vec::new(),
            failed_refunds: Vec::new(),
            lost_to_disputes: None,
            method: None,
            comment: None,
        };
        self.other_currency.push(payment.clone());
        self.updated_at = now;
        Some(payment)
    }

    /// Ids that name one payment (a charge, its payment intent, its invoice): added to the
    /// payment they name, else kept until it arrives.
    pub fn link_payment_ids(&mut self, ids: &[String]) {
        let ids: std::collections::BTreeSet<String> =
            ids.iter().filter(|id| !id.is_empty()).cloned().collect();
        if ids.len() < 2 {
            return;
        }
        if let Some(known) = self.payments.iter_mut().find(|p| !p.ids.is_disjoint(&ids)) {
            known.ids.extend(ids);
            return;
        }
        let room = self.provider.waiting_ids.len() < MAX_WAITING_IDS;
        match self
            .provider
            .waiting_ids
            .iter_mut()
            .find(|group| !group.is_disjoint(&ids))
        {
            Some(group) => group.extend(ids),
            None if room => self.provider.waiting_ids.push(ids),
            None => {}
        }
    }

    /// The open item of the subscription period starting at `start` (within a day: Stripe's
    /// periods start when it billed, ours when the order was made), scheduling the items up to
    /// it if they are not yet; `None` when no such item can be (a period before the order's).
    /// The open item a payment or a failed charge names: a subscription's period by its start
    /// (scheduled if it is not yet), an instalment by its rate (issue 15: money charged for a
    /// rate pays that rate, a declined earlier one stays open for the link). A plan that ended
    /// (cancelled, refunded) schedules nothing more.
    fn named_item(
        &mut self,
        period_start: Option<DateTime<Utc>>,
        rate: Option<u32>,
    ) -> Option<usize> {
        let ended = matches!(self.status, OrderStatus::Cancelled | OrderStatus::Refunded);
        match (self.plan, period_start, rate) {
            (Plan::Subscription { interval }, Some(start), _) if !ended => {
                self.period_item(interval, start)
            }
            (Plan::Installments { .. }, _, Some(seq)) => self
                .schedule
                .iter()
                .position(|item| item.seq == seq && item.status == ItemStatus::Open),
            _ => None,
        }
    }

    /// The item a failed charge counts its attempt on (R-P2): the one it names, else the first
    /// open one.
    pub fn attempted_item(
        &mut self,
        period_start: Option<DateTime<Utc>>,
        rate: Option<u32>,
    ) -> Option<&mut ScheduleItem> {
        let index = self.named_item(period_start, rate).or_else(|| {
            self.schedule
                .iter()
                .position(|item| item.status == ItemStatus::Open)
        })?;
        self.schedule.get_mut(index)
    }

    fn period_item(&mut self, interval: Interval, start: DateTime<Utc>) -> Option<usize> {
        let tolerance = chrono::Duration::days(1);
        for _ in 0..MAX_PERIODS_AHEAD {
            let last = self.schedule.last()?;
            if last.due_at + tolerance >= start {
                break;
            }
            let next =
                next_subscription_item(&self.schedule, interval, self.created_at, self.calendar())?;
            self.schedule.push(next);
        }
        self.schedule.iter().position(|item| {
            item.status == ItemStatus::Open && (item.due_at - start).abs() <= tolerance
        })
    }

    fn payments_total(
        &self,
        part: impl Fn(&payments::Payment) -> Money,
    ) -> Result<Money, MoneyError> {
        self.payments
            .iter()
            .try_fold(Money::zero(self.total.currency()), |sum, p| {
                sum.checked_add(&part(p))
            })
    }

    /// A chargeback was opened (R-O10): the order is `disputed` (access paused) and the net part
    /// of the disputed amount is returned as a debit; `None` when this dispute was seen already.
    pub fn open_dispute(
        &mut self,
        dispute: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Option<Money> {
        if amount.currency() != self.total.currency()
            || !self.provider.disputes.insert(dispute.into())
        {
            return None;
        }
        // A chargeback takes back at most what is left of the money: a partly refunded payment
        // is never debited its refunded part a second time (R-R5).
        let left = self
            .payments_total(|p| p.amount.checked_sub(&p.refunded).unwrap_or(p.amount))
            .ok()?;
        let amount = self.hold_for_dispute(dispute, amount, left);
        if self.status != OrderStatus::Disputed {
            self.provider.status_before_dispute = Some(self.status);
        }
        self.status = OrderStatus::Disputed;
        self.updated_at = now;
        self.dispute_net(amount)
    }

    /// What a dispute holds back, recorded: its amount, at most what was `left` of the money
    /// it disputes when it opened.
    pub(crate) fn hold_for_dispute(&mut self, dispute: &str, claimed: Money, left: Money) -> Money {
        let held = if claimed.amount() < left.amount() {
            claimed
        } else {
            left
        };
        self.provider
            .dispute_amounts
            .insert(dispute.to_string(), held);
        held
    }

    /// Money of the order that went back by a refund reported after a dispute opened (R-P1:
    /// any order of arrival): the open disputes then hold at most what is left, as when the
    /// refund came first. The amount released, if any; its net is credited back.
    pub fn release_dispute_excess(&mut self) -> Option<Money> {
        let currency = self.total.currency();
        let left = self
            .payments_total(|p| p.amount.checked_sub(&p.refunded).unwrap_or(p.amount))
            .ok()?;
        let open: Vec<String> = self
            .provider
            .disputes
            .iter()
            .filter(|d| !self.provider.disputes_closed.contains(*d))
            .filter(|d| {
                self.provider
                    .dispute_amounts
                    .get(*d)
                    .is_some_and(|held| held.currency() == currency)
            })
            .cloned()
            .collect();
        let held = open
            .iter()
            .filter_map(|d| self.provider.dispute_amounts.get(d))
            .try_fold(Money::zero(currency), |sum, held| sum.checked_add(held))
            .ok()?;
        let mut excess = held.checked_sub(&left).ok()?;
        if excess.is_zero() || excess.is_negative() {
            return None;
        }
        let released = excess;
        for dispute in open.iter().rev() {
            let Some(hold) = self.provider.dispute_amounts.get_mut(dispute) else {
                continue;
            };
            let take = if hold.amount() < excess.amount() {
                *hold
            } else {
                excess
            };
            *hold = hold.checked_sub(&take).ok()?;
            excess = excess.checked_sub(&take).ok()?;
            if excess.is_zero() {
                break;
            }
        }
        Some(released)
    }

    /// The net part of a disputed amount: what its chargeback debits.
    pub fn dispute_net(&self, amount: Money) -> Option<Money> {
        amount
            .checked_sub(&tax_part(amount, self.total, self.tax))
            .ok()
    }

    /// R-R4 effects of a cancelled plan: no further charges; what was paid stays paid.
    pub fn cancel_plan(&mut self, now: DateTime<Utc>) -> bool {
        if matches!(self.status, OrderStatus::Cancelled | OrderStatus::Refunded) {
            return false;
        }
        for item in self
            .schedule
            .iter_mut()
            .filter(|i| i.status == ItemStatus::Open)
        {
            item.status = ItemStatus::Cancelled;
        }
        self.status = OrderStatus::Cancelled;
        self.updated_at = now;
        true
    }

    /// Records money that arrived (R-O5, R-O6, R-O10): fills open items in order; the order becomes
    /// active, or completed when nothing is left (a subscription schedules its next period instead).
    /// Money for a superseded order is never dropped: the order comes back (R-O2).
    fn apply_to_schedule(
        &mut self,
        amount: Money,
        period_start: Option<DateTime<Utc>>,
        rate: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<PaymentApplied, PaymentError> {
        if amount.currency() != self.total.currency() {
            return Err(PaymentError::WrongCurrency {
                paid: amount.currency().to_string(),
                order: self.total.currency().to_string(),
            });
        }
        if amount.is_zero() || amount.is_negative() {
            return Err(PaymentError::NotPositive);
        }
        let first_payment = self.schedule.iter().all(|i| i.paid.is_zero());
        let mut left = amount;
        // A subscription's payment of a named period pays that period first (issue 13, defect
        // 10): its item is scheduled if it is not yet, and earlier open ones stay open.
        // A plan that ended (cancelled, refunded) schedules nothing more: late money is kept,
        // never turned into a new open item (R-R4).
        let ended = matches!(self.status, OrderStatus::Cancelled | OrderStatus::Refunded);
        let target = self.named_item(period_start, rate);
        let mut order: Vec<usize> = target.into_iter().collect();
        order.extend((0..self.schedule.len()).filter(|i| Some(*i) != target));
        for index in order {
            let Some(item) = self.schedule.get_mut(index) else {
                continue;
            };
            if item.status != ItemStatus::Open {
                continue;
            }
            if left.is_zero() {
                break;
            }
            let rest = item.amount.checked_sub(&item.paid)?;
            let take = if left.amount() < rest.amount() {
                left
            } else {
                rest
            };
            item.paid = item.paid.checked_add(&take)?;
            left = left.checked_sub(&take)?;
            if item.paid.amount() >= item.amount.amount() {
                item.status = ItemStatus::Paid;
                item.paid_at = Some(now);
            }
        }
        let surplus = left;
        if !left.is_zero()
            && let Some(last) = self.schedule.last_mut()
        {
            // More than was scheduled: kept on the last item, so no money goes unrecorded.
            last.paid = last.paid.checked_add(&left)?;
        }
        if let Plan::Subscription { interval } = self.plan
            && !ended
            && self.schedule.iter().all(|i| i.status != ItemStatus::Open)
            && let Some(next) =
                next_subscription_item(&self.schedule, interval, self.created_at, self.calendar())
        {
            self.schedule.push(next);
        }
        let revived = self.status == OrderStatus::Superseded;
        // A superseded instalment order paid after all owes no more rates (issue 15, review):
        // the order that replaced it is the one being paid; the vendor is told of this money.
        if revived && matches!(self.plan, Plan::Installments { .. }) {
            for item in &mut self.schedule {
                if item.status == ItemStatus::Open && item.paid.is_zero() {
                    item.status = ItemStatus::Cancelled;
                }
            }
        }
        let nothing_open = self.schedule.iter().all(|i| i.status != ItemStatus::Open);
        if matches!(
            self.status,
            OrderStatus::PendingPayment | OrderStatus::Superseded | OrderStatus::Active
        ) {
            self.status = if nothing_open {
                OrderStatus::Completed
            } else {
                OrderStatus::Active
            };
        }
        self.updated_at = now;
        Ok(PaymentApplied {
            amount,
            // Allocated by the caller, which knows the payments before this one.
            tax_part: Money::zero(amount.currency()),
            revived,
            first_payment,
            surplus,
        })
    }
}

#[cfg(test)]
impl Order {
    /// A provider payment of `amount` under a fresh id, as the tests apply money.
    pub(crate) fn apply_payment(
        &mut self,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<PaymentApplied, PaymentError> {
        let key = format!("pi_test_{}", self.payments.len() + 1);
        let incoming = payments::IncomingPayment {
            key,
            source: payments::PaymentSource::Stripe,
            ids: Vec::new(),
            period_start: None,
            rate: None,
        };
        self.apply_payment_once(&incoming, amount, now)?
            .ok_or(PaymentError::NotPositive)
    }
}

#[cfg(test)]
pub(crate) mod payment_tests {
    use super::*;
    use crate::domain::ids::{CustomerId, OfferId, OrderId, ProductId, SeededEntropy, VendorId};
    use crate::domain::money::Currency;
    use crate::domain::tax::TaxTreatment;
    use chrono::TimeZone;

    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }

    /// A Stripe payment applied under `key`, also named by `ids`.
    pub(crate) fn stripe(key: &str, ids: &[&str]) -> payments::IncomingPayment {
        payments::IncomingPayment {
            key: key.to_string(),
            source: payments::PaymentSource::Stripe,
            ids: ids.iter().map(|id| id.to_string()).collect(),
            period_start: None,
            rate: None,
        }
    }

    pub(crate) fn order(plan: Plan, total: &str, tax: &str) -> Order {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        let e = SeededEntropy::new(4);
        Order {
            id: OrderId::generate(now, &e),
            vendor_id: VendorId::generate(now, &e),
            number: "SD-000001".into(),
            customer_id: CustomerId::generate(now, &e),
            customer_email: "k@example.com".into(),
            customer_name: "K L".into(),
            buyer: None,
            offer_id: OfferId::generate(now, &e),
            offer_version: 1,
            offer_name: "Kurs".into(),
            plan,
            list_price: None,
            discount: None,
            lines: vec![OrderLine {
                product_id: ProductId::generate(now, &e),
                name: "Kurs".into(),
                net: eur(total).checked_sub(&eur(tax)).unwrap(),
                tax: eur(tax),
                tax_rate: Decimal::new(19, 0),
                total: eur(total),
                access_days: None,
            }],
            net: eur(total).checked_sub(&eur(tax)).unwrap(),
            tax: eur(tax),
            total: eur(total),
            tax_treatment: TaxTreatment::Standard,
            schedule: initial_schedule(plan, eur(total), now, chrono_tz::UTC).unwrap(),
            refunded: eur("0"),
            payments: Vec::new(),
            other_currency: Vec::new(),
            status: OrderStatus::PendingPayment,
            zone: None,
            link_generation: 0,
            link_key: Default::default(),
            provider: ProviderRefs::default(),
            stage: None,
            manager: None,
            tags: Default::default(),
            comments: Vec::new(),
            created_at: now,
            updated_at: now,
            refunded_at: None,
        }
    }

    // R-O10, R-O6
    #[test]
    fn a_one_time_order_paid_in_full_is_completed() {
        let mut o = order(Plan::OneTime, "11.89", "1.90");
        let applied = o.apply_payment(eur("11.89"), o.created_at).unwrap();
        assert_eq!(
            (applied.tax_part, applied.first_payment, applied.revived),
            (eur("1.90"), true, false)
        );
        assert_eq!(o.status, OrderStatus::Completed);
        assert_eq!(
            o.derived(o.created_at, chrono_tz::Europe::Berlin)
                .unwrap()
                .payment_status,
            PaymentStatus::Paid
        );
    }

    // R-O5, R-O10: installments run until the last one is paid; tax in proportion.
    #[test]
    fn installments_are_active_until_the_last_is_paid() {
        let mut o = order(
            Plan::Installments {
                count: 3,
                interval: Interval::Month,
            },
            "119.00",
            "19.00",
        );
        let first = o.apply_payment(eur("39.67"), o.created_at).unwrap();
        assert_eq!(first.tax_part, eur("6.33"));
        assert_eq!(o.status, OrderStatus::Active);
        assert!(
            !o.apply_payment(eur("39.67"), o.created_at)
                .unwrap()
                .first_payment
        );
        o.apply_payment(eur("39.66"), o.created_at).unwrap();
        assert_eq!(o.status, OrderStatus::Completed);
    }

    // R-O5 (issue 13, defect 10): an invoice pays the period its lines name, not the first open
    // one: a later period paid while an earlier one is still open leaves that one open.
    #[test]
    fn a_subscription_payment_pays_the_period_it_names() {
        let mut o = order(
            Plan::Subscription {
                interval: Interval::Month,
            },
            "9.99",
            "1.60",
        );
        let start = o.created_at;
        o.apply_payment(eur("9.99"), start).unwrap();
        let third = payments::IncomingPayment {
            period_start: Some(
                add_intervals(start, Interval::Month, 2, chrono_tz::UTC)
                    + chrono::Duration::minutes(3),
            ),
            ..stripe("in_3", &[])
        };
        o.apply_payment_once(&third, eur("9.99"), start + chrono::Duration::days(61))
            .unwrap()
            .unwrap();
        let states: Vec<(u32, ItemStatus)> = o.schedule.iter().map(|i| (i.seq, i.status)).collect();
        assert_eq!(
            states,
            vec![
                (1, ItemStatus::Paid),
                (2, ItemStatus::Open),
                (3, ItemStatus::Paid)
            ]
        );
        // and the second period's own invoice pays the second period
        let second = payments::IncomingPayment {
            period_start: Some(add_intervals(start, Interval::Month, 1, chrono_tz::UTC)),
            ..stripe("in_2", &[])
        };
        o.apply_payment_once(&second, eur("9.99"), start + chrono::Duration::days(62))
            .unwrap()
            .unwrap();
        assert!(o.schedule[..3].iter().all(|i| i.status == ItemStatus::Paid));
    }

    // R-R4 (issue 13, review): money arriving for a plan that ended schedules nothing more.
    #[test]
    fn a_late_renewal_of_an_ended_plan_opens_no_new_item() {
        let mut o = order(
            Plan::Subscription {
                interval: Interval::Month,
            },
            "9.99",
            "1.60",
        );
        let start = o.created_at;
        o.apply_payment(eur("9.99"), start).unwrap();
        assert!(o.cancel_plan(start + chrono::Duration::days(3)));
        let late = payments::IncomingPayment {
            period_start: Some(add_intervals(start, Interval::Month, 1, chrono_tz::UTC)),
            ..stripe("in_2", &[])
        };
        o.apply_payment_once(&late, eur("9.99"), start + chrono::Duration::days(31))
            .unwrap()
            .unwrap();
        assert!(
            o.schedule.iter().all(|i| i.status != ItemStatus::Open),
            "{:?}",
            o.schedule
        );
        assert_eq!(o.status, OrderStatus::Cancelled);
    }

    // R-O5: a paid subscription period schedules the next one, due when the period ends.
    #[test]
    fn a_paid_subscription_period_schedules_the_next() {
        let mut o = order(
            Plan::Subscription {
                interval: Interval::Month,
            },
            "9.99",
            "1.60",
        );
        o.apply_payment(eur("9.99"), o.created_at).unwrap();
        assert_eq!(o.status, OrderStatus::Active);
        assert_eq!(o.schedule.len(), 2);
        // paid up: the next period is scheduled but not open before it begins
        let tz = chrono_tz::Europe::Berlin;
        assert_eq!(
            o.derived(o.created_at, tz).unwrap().payment_status,
            PaymentStatus::Paid
        );
        let next_period = Utc.with_ymd_and_hms(2026, 12, 24, 9, 0, 0).unwrap();
        assert_eq!(
            o.derived(next_period, tz).unwrap().payment_status,
            PaymentStatus::Pending
        );
        assert_eq!(
            o.derived(next_period + chrono::Duration::days(1), tz)
                .unwrap()
                .payment_status,
            PaymentStatus::Overdue
        );
        assert_eq!(
            o.schedule[1].due_at,
            Utc.with_ymd_and_hms(2026, 12, 24, 9, 0, 0).unwrap()
        );
    }

    // R-O2: money for a superseded order is recorded and the order is active again.
    #[test]
    fn money_for_a_superseded_order_revives_it() {
        let mut o = order(Plan::OneTime, "10.00", "0.00");
        o.status = OrderStatus::Superseded;
        let applied = o.apply_payment(eur("10.00"), o.created_at).unwrap();
        assert!(applied.revived);
        assert_eq!(o.status, OrderStatus::Completed);
    }

    // R-P1: the same provider payment reported twice counts once.
    #[test]
    fn a_payment_key_applies_once() {
        let mut o = order(
            Plan::Subscription {
                interval: Interval::Month,
            },
            "9.99",
            "1.60",
        );
        assert!(
            o.apply_payment_once(&stripe("in_1", &[]), eur("9.99"), o.created_at)
                .unwrap()
                .is_some()
        );
        assert!(
            o.apply_payment_once(&stripe("in_1", &[]), eur("9.99"), o.created_at)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            o.schedule
                .iter()
                .filter(|i| i.status == ItemStatus::Paid)
                .count(),
            1
        );
        assert!(o.cancel_plan(o.created_at));
        assert_eq!(o.schedule[1].status, ItemStatus::Cancelled);
        assert_eq!(
            o.derived(o.created_at, chrono_tz::Europe::Berlin)
                .unwrap()
                .open,
            eur("0.00")
        );
    }

    #[test]
    fn foreign_or_empty_payments_are_refused() {
        let mut o = order(Plan::OneTime, "10.00", "0.00");
        let usd = Money::parse("10.00", "USD".parse().unwrap()).unwrap();
        assert!(matches!(
            o.apply_payment(usd, o.created_at),
            Err(PaymentError::WrongCurrency { .. })
        ));
        assert_eq!(
            o.apply_payment(eur("0.00"), o.created_at),
            Err(PaymentError::NotPositive)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;
    use crate::domain::tax::TaxTreatment;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    fn rate(percent: i64) -> AppliedRate {
        AppliedRate {
            percent: Decimal::new(percent, 0),
            treatment: TaxTreatment::Standard,
        }
    }

    // R-M2: the customer's total exceeds the net price by the buyer country's VAT (seed 000).
    #[test]
    fn lines_are_taxed_one_by_one_after_the_discount() {
        let lines = price_lines(eur("110.00"), Some(eur("10.00")), 3, rate(19)).unwrap();
        let nets: Vec<_> = lines.iter().map(|l| l.net.to_string()).collect();
        assert_eq!(nets, vec!["33.34 EUR", "33.33 EUR", "33.33 EUR"]);
        let taxes: Vec<_> = lines.iter().map(|l| l.tax.to_string()).collect();
        assert_eq!(taxes, vec!["6.33 EUR", "6.33 EUR", "6.33 EUR"]);
        // 18.99 tax: per line, not 19.00 from taxing the 100.00 sum at once
        let total = lines
            .iter()
            .fold(eur("0"), |sum, l| sum.checked_add(&l.total).unwrap());
        assert_eq!(total, eur("118.99"));
    }

    // R-O5
    #[test]
    fn installments_split_evenly_with_the_remainder_on_the_first() {
        let plan = Plan::Installments {
            count: 3,
            interval: Interval::Month,
        };
        let schedule = initial_schedule(
            plan,
            eur("100.00"),
            utc("2026-01-31T10:00:00Z"),
            chrono_tz::UTC,
        )
        .unwrap();
        let amounts: Vec<_> = schedule
            .iter()
            .map(|i| i.amount.amount().to_string())
            .collect();
        assert_eq!(amounts, vec!["33.34", "33.33", "33.33"]);
        let dues: Vec<_> = schedule.iter().map(|i| i.due_at).collect();
        assert_eq!(
            dues,
            vec![
                utc("2026-01-31T10:00:00Z"),
                utc("2026-02-28T10:00:00Z"),
                utc("2026-03-31T10:00:00Z")
            ]
        );
    }

    // R-M3, R-O5 (issue 13, defect 5): instalments step in the vendor's calendar — the same
    // Berlin wall time across the change to summer time, and the same local date near midnight.
    #[test]
    fn instalments_step_months_in_the_vendors_calendar() {
        let berlin = chrono_tz::Europe::Berlin;
        let plan = Plan::Installments {
            count: 3,
            interval: Interval::Month,
        };
        // 15 February 23:30 in Berlin (22:30 UTC, winter time)
        let created = utc("2026-02-15T22:30:00Z");
        let dues: Vec<String> = initial_schedule(plan, eur("90.00"), created, berlin)
            .unwrap()
            .iter()
            .map(|item| {
                item.due_at
                    .with_timezone(&berlin)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(
            dues,
            vec!["2026-02-15 23:30", "2026-03-15 23:30", "2026-04-15 23:30"]
        );
        // stepped in UTC, April's would be 00:30 on the 16th in Berlin
        assert_eq!(
            add_intervals(created, Interval::Month, 2, chrono_tz::UTC)
                .with_timezone(&berlin)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            "2026-04-16 00:30"
        );
    }

    // R-O5
    #[test]
    fn one_time_and_subscriptions_start_with_one_payment_due_now() {
        let now = utc("2026-11-24T09:00:00Z");
        assert_eq!(
            initial_schedule(Plan::OneTime, eur("49.00"), now, chrono_tz::UTC).unwrap(),
            vec![ScheduleItem::open(1, now, eur("49.00"))]
        );
        let subscription = initial_schedule(
            Plan::Subscription {
                interval: Interval::Month,
            },
            eur("9.99"),
            now,
            chrono_tz::UTC,
        )
        .unwrap();
        assert_eq!(subscription.len(), 1);
        let next =
            next_subscription_item(&subscription, Interval::Month, now, chrono_tz::UTC).unwrap();
        assert_eq!(
            (next.seq, next.due_at, next.amount),
            (2, utc("2026-12-24T09:00:00Z"), eur("9.99"))
        );
    }

    // R-O6
    #[test]
    fn derived_amounts_and_status_follow_payments_refunds_and_time() {
        let created = utc("2026-11-24T09:00:00Z");
        let plan = Plan::Installments {
            count: 2,
            interval: Interval::Month,
        };
        let mut schedule = initial_schedule(plan, eur("100.00"), created, chrono_tz::UTC).unwrap();
        let zero = eur("0");
        // just created: pending, nothing overdue yet on the due day
        let fresh = derive(plan, &schedule, zero, true, created, BERLIN).unwrap();
        assert_eq!(
            (fresh.open, fresh.overdue, fresh.payment_status),
            (eur("100.00"), zero, PaymentStatus::Pending)
        );
        // the day after, the first installment is overdue
        let next_day = derive(
            plan,
            &schedule,
            zero,
            true,
            utc("2026-11-25T09:00:00Z"),
            BERLIN,
        )
        .unwrap();
        assert_eq!(
            (next_day.overdue, next_day.payment_status),
            (eur("50.00"), PaymentStatus::Overdue)
        );
        // paid: pending again (the second is not due yet)
        schedule[0].paid = eur("50.00");
        schedule[0].status = ItemStatus::Paid;
        let paid_first = derive(
            plan,
            &schedule,
            zero,
            true,
            utc("2026-11-25T09:00:00Z"),
            BERLIN,
        )
        .unwrap();
        assert_eq!(
            (paid_first.open, paid_first.payment_status),
            (eur("50.00"), PaymentStatus::Pending)
        );
        // the rest cancelled (plan cancelled): nothing open, paid
        schedule[1].status = ItemStatus::Cancelled;
        let cancelled = derive(
            plan,
            &schedule,
            zero,
            true,
            utc("2027-02-01T00:00:00Z"),
            BERLIN,
        )
        .unwrap();
        assert_eq!(
            (cancelled.open, cancelled.payment_status),
            (zero, PaymentStatus::Paid)
        );
        // refunds
        assert_eq!(
            derive(plan, &schedule, eur("10.00"), true, created, BERLIN)
                .unwrap()
                .payment_status,
            PaymentStatus::PartiallyRefunded
        );
        assert_eq!(
            derive(plan, &schedule, eur("50.00"), true, created, BERLIN)
                .unwrap()
                .payment_status,
            PaymentStatus::Refunded
        );
    }

    // R-O6: overdue is judged by the vendor's calendar day.
    #[test]
    fn overdue_starts_when_the_due_day_ends_in_the_vendor_zone() {
        // due 23:30 Berlin on the 24th (22:30 UTC)
        let item = ScheduleItem::open(1, utc("2026-11-24T22:30:00Z"), eur("10.00"));
        assert!(!is_overdue(&item, utc("2026-11-24T22:59:00Z"), BERLIN));
        assert!(is_overdue(&item, utc("2026-11-24T23:00:00Z"), BERLIN));
        // the same instant is still the 24th in New York
        assert!(!is_overdue(
            &item,
            utc("2026-11-24T23:00:00Z"),
            chrono_tz::America::New_York
        ));
    }

    // R-O3
    #[test]
    fn order_numbers_are_readable_and_sort_in_order() {
        assert_eq!(order_number(123), "SD-000123");
        assert!(order_number(41) < order_number(42));
        assert_eq!(order_number(1_234_567), "SD-1234567");
    }

    proptest! {
        // R-O5: the parts always sum to the total, differ by at most the remainder, first largest.
        #[test]
        fn splits_sum_to_the_total(cents in 0i64..100_000_000, parts in 1u32..40) {
            let total = Money::from_minor_units(cents, Currency::EUR);
            let split = split_evenly(total, parts).unwrap();
            prop_assert_eq!(split.len(), parts as usize);
            let sum = split.iter().fold(Money::zero(Currency::EUR), |s, m| s.checked_add(m).unwrap());
            prop_assert_eq!(sum, total);
            prop_assert!(split.iter().all(|m| m.amount() <= split[0].amount()));
        }

        #[test]
        fn the_time_zone_never_makes_paid_orders_overdue(hours in 0i64..10_000) {
            let created = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            let mut schedule = initial_schedule(Plan::OneTime, eur("10.00"), created, chrono_tz::UTC).unwrap();
            schedule[0].paid = eur("10.00");
            schedule[0].status = ItemStatus::Paid;
            let d = derive(Plan::OneTime, &schedule, eur("0"), true, created + chrono::Duration::hours(hours), BERLIN).unwrap();
            prop_assert_eq!(d.payment_status, PaymentStatus::Paid);
        }
    }
}
