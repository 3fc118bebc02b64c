//! Provider events after verification and translation (R-P1): one provider-neutral fact about
//! one order, applied at most once per provider event id. The events come to the platform's one
//! route per provider (its accounts take every payment): the vendor and the order are read from
//! the metadata the platform set on what it created, else from the provider ids recorded when
//! first seen (`PROVIDERREF#…` items, kept across vendors). The event record is created in the
//! same transaction as the effect, so a duplicate (even a concurrent one) cannot apply twice,
//! and every fact is applied so that any order of arrival ends in the same state.

pub mod collection;
pub mod parked;
pub mod paypal;
pub mod stripe;

use crate::domain::customers::{Customer, language_from_country, record_paid_order};
use crate::domain::ids::{CustomerId, Entropy, OrderId, VendorId};
use crate::domain::money::Money;
use crate::domain::notifications::emails::{
    DisputeNotice, SurplusNotice, SurplusReason, dispute_opened as dispute_opened_email,
    payment_failed, payment_receipt, payment_surplus,
};
use crate::domain::notifications::{DomainEvent, EventType, Message};
use crate::domain::orders::Order;
use crate::domain::vendors::Vendor;
use crate::domain::vendors::ledger::{EntryReason, charge_credit, immediate};
use crate::outbox::enqueue;
use crate::store::keys::{customer_key, order_key, vendor_pk};
use crate::store::{Condition, Item, ItemStore, Key, StoreError, Write};
use crate::usecases::orders::notices::payment_notice;
use crate::usecases::orders::transactions::{self, Transaction, TransactionKind};
use crate::usecases::ports::{OrderContext, Ports, UseCaseError, encode, retry_on_contention};
use crate::usecases::refunds::settle::{PartRef, Settlement, settle};
use crate::usecases::refunds::{self, RefundCause};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Stripe,
    PayPal,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::PayPal => "paypal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Recorded, changing nothing: a type we do not handle, or nothing to do (an unpaid session).
    Ignored,
    /// Of no vendor we know: nothing recorded. (On the platform's one account an event may be of
    /// something the platform did not create.)
    Unplaced,
    /// About an order or payment not known yet: not recorded as handled, but parked under the
    /// provider ids it names and applied when one of them is placed (`parked`).
    Parked,
}

/// What a provider event says happened to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fact {
    /// Money was paid; `payment_key` is the provider's id of that payment, so the same money
    /// reported by two events (a checkout session and its first invoice) counts once.
    /// `ids` are the payment's other names in the event (its payment intent, charge, invoice):
    /// a payment is applied once whichever of them an event names it by.
    MoneyArrived {
        payment_key: String,
        ids: Vec<String>,
        amount: Money,
        /// The subscription period it pays (a Stripe invoice's lines), when the event says.
        period_start: Option<DateTime<Utc>>,
        /// The instalment it was charged for (our off-session payment's metadata).
        rate: Option<u32>,
    },
    /// R-P2: a charge failed; `failure_key` names the failed attempt (its charge), so two events
    /// reporting the same failure (an invoice's and its payment intent's) count one attempt.
    /// `by_session`: a Checkout session's async failure, which names no charge: it is the
    /// latest failed attempt of its payment `intent`, counted once with that intent's report.
    PaymentFailed {
        reference: String,
        failure_key: String,
        intent: Option<String>,
        by_session: bool,
        /// The instalment or subscription period the failed charge was for, when it says
        /// (our off-session payment's `schedule_seq`, an invoice's lines): the attempt counts there.
        rate: Option<u32>,
        period_start: Option<DateTime<Utc>>,
    },
    /// A charge with its card fingerprint, for blocking by fingerprint (R-C6).
    /// `names` are the charge's payment intent and invoice: one payment.
    ChargeSeen {
        charge: String,
        fingerprint: Option<String>,
        names: Vec<String>,
    },
    /// The provider ended the plan (R-R4 effects).
    PlanEnded,
    /// A chargeback was opened on one of the order's payments.
    /// `payment` names the disputed payment (its charge and payment intent): a dispute that
    /// comes before its payment waits for it.
    Disputed {
        dispute: String,
        amount: Money,
        reason: String,
        payment: Vec<String>,
    },
    /// A chargeback was decided (R-O10): `won` gives its debit back; lost, the money stays
    /// refunded by the dispute. `payment` names the disputed payment (its charge).
    DisputeClosed {
        dispute: String,
        amount: Money,
        won: bool,
        payment: Option<String>,
    },
    /// The provider's word on refunds (R-R5): ours confirmed or failed, or made in its dashboard.
    /// `charge_total`: what a Stripe charge says is refunded of it in all; whatever of that the
    /// order does not know of was refunded in Stripe's dashboard.
    Refunds {
        reports: Vec<RefundReport>,
        charge_total: Option<ChargeRefunds>,
    },
    /// Recorded as ignored.
    Nothing,
    /// Signed, but not what the provider sends (a subscription period that cannot be): recorded
    /// as ignored with the reason, never applied.
    Invalid { reason: String },
}

/// A Stripe charge's `amount_refunded`: the total refunded of one payment, whoever refunded it.
/// Its changes are the one source of dashboard refunds (`charge.refunded` no longer lists the
/// refunds since API version 2022-11-15, and a refund's own events name no order), so a
/// dashboard refund reported by several events is recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeRefunds {
    pub charge: String,
    pub intent: Option<String>,
    pub refunded: Money,
}

/// One refund as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundReport {
    pub provider_refund: String,
    /// Ours when the provider carries our refund id (its metadata).
    pub refund_id: Option<crate::domain::ids::RefundId>,
    pub amount: Money,
    pub state: crate::payments::RefundState,
    /// Which part of our refund (its `refund_part` metadata), when it says.
    pub part: Option<u32>,
    /// The payment refunded (a charge or payment intent id), when the report names it.
    pub payment: Option<String>,
}

/// The provider's ids an event carries; remembered on the order so later events find it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderIds {
    pub payment_intent: Option<String>,
    pub customer: Option<String>,
    pub subscription: Option<String>,
    /// Other ids that name a payment of the order (an invoice, a charge): later events that
    /// carry only one of them still find the order.
    pub payments: Vec<String>,
    /// A payment method the customer saved for the plan's later rates (issue 15).
    pub saved_method: Option<crate::domain::orders::SavedMethod>,
}

impl ProviderIds {
    /// Every id that names a payment or plan of the order, each once: what the event can be
    /// found by, and parked under.
    pub fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        let named = self
            .payments
            .iter()
            .chain(&self.payment_intent)
            .chain(&self.subscription);
        for id in named {
            if !id.is_empty() && !all.contains(id) {
                all.push(id.clone());
            }
        }
        all
    }
}

/// One verified provider event, translated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderEvent {
    pub provider: Provider,
    pub id: String,
    pub event_type: String,
    /// The vendor we set in the provider's metadata, when the event carries it.
    pub vendor_id: Option<VendorId>,
    /// The order id we set at checkout, when the event carries it.
    pub order_id: Option<OrderId>,
    /// The order's customer, when the event carries it (read with the order in one round trip).
    pub customer_id: Option<CustomerId>,
    pub ids: ProviderIds,
    pub fact: Fact,
    /// When the provider made the event (Stripe's `created`): what a total it reports is as of.
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
}

pub fn event_key(vendor: &VendorId, provider: Provider, event_id: &str) -> Key {
    Key::new(
        vendor_pk(vendor),
        format!("EVENT#{}#{event_id}", provider.as_str()),
    )
}

/// The lookup items that find a vendor's order from a provider id its events carry without our
/// metadata (a subscription's renewals, a payment's dispute). Not under a vendor's partition:
/// the event names no vendor.
fn lookup_key(kind: &str, provider: Provider, id: &str) -> Key {
    Key::new(
        format!("PROVIDERREF#{}#{kind}#{id}", provider.as_str()),
        "REF",
    )
}

/// Applies a verified event of the platform's provider account to the vendor's order it is
/// about; an event of no vendor we know changes nothing. One about an order or payment not
/// known yet is parked, and applied when one of its ids is placed; each applied event then
/// applies what was parked under its ids (R-P1: any order of arrival ends the same).
pub async fn receive(ports: Ports<'_>, event: ProviderEvent) -> Result<Outcome, UseCaseError> {
    let mut outcome = place(ports, &event).await?;
    if outcome == Outcome::Parked {
        parked::park(ports.store, &event, ports.clock.now()).await?;
        // An event placing one of its ids may have committed, and looked for parked events,
        // before this one was parked: placed now, it is applied now.
        outcome = place(ports, &event).await?;
        if outcome == Outcome::Parked {
            tracing::info!(provider = event.provider.as_str(), event_type = %event.event_type, "provider event parked until its order or payment is known");
            return Ok(outcome);
        }
        parked::unpark(ports.store, &event).await?;
    }
    if outcome != Outcome::Unplaced {
        apply_parked(ports, &event).await?;
    }
    Ok(outcome)
}

/// Rounds of parked events applied after one event: each round's events may place more ids.
const PARKED_ROUNDS: usize = 6;

/// Applies the events parked under the ids `event` names, then those parked under the ids they
/// name in turn; each parked event is removed once applied (or found to be a duplicate). One
/// that still waits is tried again in the next round if anything was applied (it may have been
/// waiting for that). A parked event that fails stays parked and is logged: it never fails the
/// delivery of the event that placed it, which has committed.
async fn apply_parked(ports: Ports<'_>, event: &ProviderEvent) -> Result<(), UseCaseError> {
    let mut ids = event.ids.all();
    let mut searched: std::collections::BTreeSet<String> = ids.iter().cloned().collect();
    let mut done: std::collections::BTreeSet<String> = [event.id.clone()].into();
    let mut again: Vec<ProviderEvent> = Vec::new();
    for _ in 0..PARKED_ROUNDS {
        let mut candidates = std::mem::take(&mut again);
        if !ids.is_empty() {
            candidates.extend(
                parked::parked_under(ports.store, event.provider, &ids, ports.clock.now()).await?,
            );
        }
        if candidates.is_empty() {
            break;
        }
        ids = Vec::new();
        let mut applied_any = false;
        let mut waiting = Vec::new();
        for parked_event in candidates {
            if done.contains(&parked_event.id)
                || waiting
                    .iter()
                    .any(|w: &ProviderEvent| w.id == parked_event.id)
            {
                continue;
            }
            match place(ports, &parked_event).await {
                Ok(Outcome::Parked | Outcome::Unplaced) => waiting.push(parked_event),
                Ok(_) => {
                    parked::unpark(ports.store, &parked_event).await?;
                    applied_any = true;
                    ids.extend(
                        parked_event
                            .ids
                            .all()
                            .into_iter()
                            .filter(|id| searched.insert(id.clone())),
                    );
                    done.insert(parked_event.id);
                }
                Err(error) => {
                    tracing::warn!(provider = parked_event.provider.as_str(), event_type = %parked_event.event_type, error = %error, "a parked provider event failed; it stays parked");
                    done.insert(parked_event.id);
                }
            }
        }
        if applied_any {
            again = waiting;
        }
    }
    Ok(())
}

/// Finds the vendor of an event and applies it. Not placeable: parked when it would change
/// something and names an id to wait on, else of no vendor of ours.
async fn place(ports: Ports<'_>, event: &ProviderEvent) -> Result<Outcome, UseCaseError> {
    let vendor_id = match &event.vendor_id {
        Some(vendor) => Some(vendor.clone()),
        None => find_by_provider_ids(ports.store, event)
            .await?
            .map(|(vendor, _)| vendor),
    };
    let vendor = match vendor_id {
        Some(vendor_id) => ports
            .vendors
            .get(ports.store, &vendor_id, ports.clock.now())
            .await?
            .map(|(vendor, _)| vendor),
        None if waits(event) => return Ok(Outcome::Parked),
        None => None,
    };
    let Some(vendor) = vendor else {
        tracing::info!(provider = event.provider.as_str(), event_type = %event.event_type, "provider event of no vendor of ours");
        return Ok(Outcome::Unplaced);
    };
    // Boxed: the applying future is large, and `receive` awaits it in several places (a
    // Lambda's or a test thread's stack holds only what is not boxed).
    Box::pin(apply(ports, &vendor, event)).await
}

/// Whether an event not placeable yet is worth waiting for: it would change something, and
/// names an id that a later event may place.
fn waits(event: &ProviderEvent) -> bool {
    !matches!(event.fact, Fact::Nothing | Fact::Invalid { .. }) && !event.ids.all().is_empty()
}

/// The vendor and order recorded for a provider id the event carries: a payment's own ids
/// first (a dispute names its charge), then its payment intent, then the plan.
async fn find_by_provider_ids(
    store: &dyn ItemStore,
    event: &ProviderEvent,
) -> Result<Option<(VendorId, OrderId)>, UseCaseError> {
    let lookups = event
        .ids
        .payments
        .iter()
        .map(|id| (BY_PAYMENT, Some(id)))
        .chain([
            (BY_PAYMENT, event.ids.payment_intent.as_ref()),
            (BY_SUBSCRIPTION, event.ids.subscription.as_ref()),
        ]);
    for (kind, id) in lookups {
        let Some(id) = id else { continue };
        if let Some(found) = store.get(&lookup_key(kind, event.provider, id)).await? {
            let vendor = found.body["vendor_id"]
                .as_str()
                .and_then(|v| VendorId::parse(v).ok());
            let order = found.body["order_id"]
                .as_str()
                .and_then(|o| OrderId::parse(o).ok());
            if let (Some(vendor), Some(order)) = (vendor, order) {
                return Ok(Some((vendor, order)));
            }
        }
    }
    Ok(None)
}

const BY_SUBSCRIPTION: &str = "SUBSCRIPTION";
const BY_PAYMENT: &str = "PAYMENT";

/// Applies a verified event exactly once.
pub async fn apply(
    ports: Ports<'_>,
    vendor: &Vendor,
    event: &ProviderEvent,
) -> Result<Outcome, UseCaseError> {
    if let Fact::Refunds {
        reports,
        charge_total,
    } = &event.fact
    {
        return refund_reports(ports, vendor, event, reports, charge_total.as_ref()).await;
    }
    // No read of the event record: its create in the effect's transaction is the duplicate check.
    let record_key = event_key(&vendor.id, event.provider, &event.id);
    let outcome = retry_on_contention(|| async {
        let now = ports.clock.now();
        let mut loaded = load(ports.store, vendor, event).await?;
        // A chargeback debits the ledger: it moves the balance guard it read (R-R1).
        if let (Fact::Disputed { .. }, Some(loaded)) = (&event.fact, loaded.as_mut()) {
            loaded.balance_guard =
                crate::usecases::vendors::balance::read_guard(ports.store, &vendor.id).await?;
        }
        // A card a blocked customer used blocks whoever pays with it (R-C6; issue 16, item 13).
        if let (
            Fact::ChargeSeen {
                fingerprint: Some(fingerprint),
                ..
            },
            Some(loaded),
        ) = (&event.fact, loaded.as_mut())
        {
            loaded.blocked_roots = crate::usecases::customers::blocked_roots_sharing(
                ports.store,
                &vendor.id,
                fingerprint,
                &loaded.customer.id,
            )
            .await?;
        }
        let effect = match (&event.fact, loaded) {
            (Fact::Nothing | Fact::Invalid { .. }, _) => None,
            // Named by an id only, and not ours yet: it waits (an order id we set names an
            // order that exists, or none of ours).
            (_, None) if event.order_id.is_none() && waits(event) => {
                return Ok(Outcome::Parked);
            }
            (_, None) => None,
            (fact, Some(loaded)) if waits_for_payment(fact, &loaded.order) => {
                return Ok(Outcome::Parked);
            }
            (fact, Some(loaded)) => effect_of(ports, vendor, event, fact, loaded, now)?,
        };
        let outcome = if effect.is_some() {
            Outcome::Applied
        } else {
            Outcome::Ignored
        };
        let mut body = json!({ "id": event.id, "type": event.event_type, "outcome": format!("{outcome:?}").to_lowercase(), "received_at": now });
        if let Fact::Invalid { reason } = &event.fact {
            body["invalid"] = json!(reason);
        }
        let record = Item::new(record_key.clone(), body);
        let mut writes = vec![Write::create(record)];
        writes.extend(effect.unwrap_or_default());
        match ports.store.transact(writes).await {
            // Our own event record already exists: a concurrent delivery of the same event won.
            Err(StoreError::ConditionFailed { index: 0, .. }) => Ok(Outcome::Duplicate),
            Err(error) => Err(UseCaseError::Store(error)),
            Ok(()) => Ok(outcome),
        }
    })
    .await?;
    tracing::info!(vendor_id = %vendor.id, provider = event.provider.as_str(), event_type = %event.event_type, ?outcome, "provider event");
    Ok(outcome)
}

/// A dispute of a payment the order does not have yet waits for it: its amount is capped by
/// what is left of that payment.
fn waits_for_payment(fact: &Fact, order: &Order) -> bool {
    match fact {
        Fact::Disputed { payment, .. } if !payment.is_empty() => !order
            .payments
            .iter()
            .chain(&order.other_currency)
            .any(|p| payment.iter().any(|id| p.ids.contains(id))),
        _ => false,
    }
}

fn effect_of(
    ports: Ports<'_>,
    vendor: &Vendor,
    event: &ProviderEvent,
    fact: &Fact,
    loaded: Loaded,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    match fact {
        Fact::MoneyArrived {
            payment_key,
            ids,
            amount,
            period_start,
            rate,
        } => {
            let incoming = crate::domain::orders::payments::IncomingPayment {
                key: payment_key.clone(),
                source: match event.provider {
                    Provider::Stripe => crate::domain::orders::payments::PaymentSource::Stripe,
                    Provider::PayPal => crate::domain::orders::payments::PaymentSource::Paypal,
                },
                ids: ids.clone(),
                period_start: *period_start,
                rate: *rate,
            };
            money_arrived(ports, vendor, event, loaded, &incoming, *amount, now)
        }
        Fact::PaymentFailed {
            reference,
            failure_key,
            intent,
            by_session,
            rate,
            period_start,
        } => payment_failed_attempt(
            ports,
            vendor,
            event,
            loaded,
            &FailedAttempt {
                reference,
                key: failure_key,
                intent: intent.as_deref(),
                by_session: *by_session,
                rate: *rate,
                period_start: *period_start,
            },
            now,
        ),
        Fact::ChargeSeen {
            charge,
            fingerprint,
            names,
        } => charge_seen(
            ports,
            vendor,
            event,
            loaded,
            charge,
            fingerprint.as_deref(),
            names,
            now,
        ),
        Fact::PlanEnded => subscription_ended(ports, vendor, loaded, now),
        Fact::Disputed {
            dispute,
            amount,
            reason,
            payment,
        } => dispute_opened(
            ports, vendor, loaded, dispute, *amount, reason, payment, now,
        ),
        Fact::DisputeClosed {
            dispute,
            amount,
            won,
            payment,
        } => dispute_closed(
            ports,
            vendor,
            loaded,
            dispute,
            *amount,
            *won,
            payment.as_deref(),
            now,
        ),
        Fact::Refunds { .. } | Fact::Nothing | Fact::Invalid { .. } => Ok(None),
    }
}

/// R-R5: each report settles our refund or records a dashboard refund; a charge's total records
/// what of it was refunded in the dashboard. Each is idempotent by itself, and the event record
/// then marks the event as seen. A dashboard refund of a payment not known yet waits (parked).
async fn refund_reports(
    ports: Ports<'_>,
    vendor: &Vendor,
    event: &ProviderEvent,
    reports: &[RefundReport],
    charge_total: Option<&ChargeRefunds>,
) -> Result<Outcome, UseCaseError> {
    let record_key = event_key(&vendor.id, event.provider, &event.id);
    if ports.store.get(&record_key).await?.is_some() {
        return Ok(Outcome::Duplicate);
    }
    let mut changed = false;
    for report in reports {
        let settlement = match report.state {
            crate::payments::RefundState::Pending => Settlement::Accepted,
            crate::payments::RefundState::Succeeded => Settlement::Succeeded,
            crate::payments::RefundState::Failed => Settlement::Failed,
        };
        changed |= match &report.refund_id {
            Some(id) => match settle(
                ports,
                &vendor.id,
                id,
                match report.part {
                    Some(part) => PartRef::Index(part),
                    None => PartRef::ProviderRefund(report.provider_refund.clone()),
                },
                settlement,
                Some(report.provider_refund.clone()),
                event.created,
            )
            .await
            {
                Err(UseCaseError::NotFound) => false,
                other => other?,
            },
            None if settlement == Settlement::Succeeded => {
                match dashboard_refund(ports, vendor, event, Dashboard::Report(report)).await? {
                    DashboardOutcome::Recorded => true,
                    DashboardOutcome::Nothing => false,
                    DashboardOutcome::Wait => return Ok(Outcome::Parked),
                }
            }
            None => false,
        };
    }
    if let Some(total) = charge_total {
        changed |= match dashboard_refund(ports, vendor, event, Dashboard::Total(total)).await? {
            DashboardOutcome::Recorded => true,
            DashboardOutcome::Nothing => false,
            DashboardOutcome::Wait => return Ok(Outcome::Parked),
        };
    }
    let outcome = if changed {
        Outcome::Applied
    } else {
        Outcome::Ignored
    };
    let record = Item::new(
        record_key,
        json!({ "id": event.id, "type": event.event_type, "outcome": format!("{outcome:?}").to_lowercase(), "received_at": ports.clock.now() }),
    );
    match ports.store.transact(vec![Write::create(record)]).await {
        Err(StoreError::ConditionFailed { .. }) => Ok(Outcome::Duplicate),
        Err(error) => Err(error.into()),
        Ok(()) => Ok(outcome),
    }
}

/// Money in another currency refunded at the provider (by the platform's operator): recorded on
/// that payment, its net debited in its currency, in the order's history; once per total.
async fn other_currency_refunded(
    ports: Ports<'_>,
    vendor: &Vendor,
    mut loaded: Loaded,
    index: usize,
    total: &ChargeRefunds,
    now: DateTime<Utc>,
) -> Result<DashboardOutcome, UseCaseError> {
    let key = format!("{}@{}", total.charge, total.refunded.amount());
    let Some(payment) = loaded.order.other_currency.get_mut(index) else {
        return Ok(DashboardOutcome::Nothing);
    };
    let unknown = match payment
        .refunded_by_refunds()
        .and_then(|refunded| total.refunded.checked_sub(&refunded))
    {
        Ok(unknown) if !unknown.is_zero() && !unknown.is_negative() => unknown,
        _ => return Ok(DashboardOutcome::Nothing),
    };
    let unknown = match payment.unrefunded() {
        Ok(left) if left.amount() < unknown.amount() => left,
        Ok(_) => unknown,
        Err(_) => return Ok(DashboardOutcome::Nothing),
    };
    let tax = payment
        .refund_tax(unknown)
        .map_err(|_| UseCaseError::NotFound)?;
    let net = unknown
        .checked_sub(&tax)
        .map_err(|_| UseCaseError::NotFound)?;
    payment.refunded = payment
        .refunded
        .checked_add(&unknown)
        .map_err(|_| UseCaseError::NotFound)?;
    payment.refunded_tax = payment
        .refunded_tax
        .checked_add(&tax)
        .map_err(|_| UseCaseError::NotFound)?;
    if unknown.is_zero() || !loaded.order.provider.provider_refunds.insert(key.clone()) {
        return Ok(DashboardOutcome::Nothing);
    }
    loaded.order.updated_at = now;
    let guard = crate::usecases::vendors::balance::read_guard(ports.store, &vendor.id).await?;
    let debit = immediate(
        &vendor.id,
        net.negated(),
        EntryReason::Refund,
        &key,
        now,
        ports.entropy,
    );
    let transaction = Transaction {
        kind: TransactionKind::Refund,
        amount: unknown,
        provider: "stripe".into(),
        reference: key.clone(),
        at: now,
    };
    ports
        .store
        .transact(vec![
            loaded.order_write()?,
            transactions::record(&vendor.id, &loaded.order.id, &transaction, ports.entropy)?,
            crate::usecases::vendors::balance::entry_write(&debit)?,
            crate::usecases::vendors::balance::guard_write(&vendor.id, guard.as_ref(), &key, now),
        ])
        .await?;
    Ok(DashboardOutcome::Recorded)
}

/// What tells of a refund made at the provider, not by us.
enum Dashboard<'a> {
    /// A refund the provider reports by itself (PayPal's refunded capture).
    Report(&'a RefundReport),
    /// A Stripe charge's total refunded: the part the order does not know of.
    Total(&'a ChargeRefunds),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DashboardOutcome {
    Recorded,
    Nothing,
    /// The order or the payment is not known yet.
    Wait,
}

/// A refund made in the provider's dashboard: recorded as a refund of the order (no balance
/// check — the money is gone), debited, confirmed to both sides; once per provider refund (a
/// charge's total: once per total, and only what the order does not know of).
async fn dashboard_refund(
    ports: Ports<'_>,
    vendor: &Vendor,
    event: &ProviderEvent,
    claim: Dashboard<'_>,
) -> Result<DashboardOutcome, UseCaseError> {
    retry_on_contention(|| async {
        let now = ports.clock.now();
        let Some(loaded) = load(ports.store, vendor, event).await? else {
            return Ok(if event.order_id.is_none() {
                DashboardOutcome::Wait
            } else {
                DashboardOutcome::Nothing
            });
        };
        let (provider_refund, amount, payment) = match claim {
            Dashboard::Report(report) => (
                report.provider_refund.clone(),
                report.amount,
                report.payment.clone(),
            ),
            Dashboard::Total(total) => {
                let names = |p: &crate::domain::orders::payments::Payment| {
                    p.ids.contains(&total.charge)
                        || total.intent.as_ref().is_some_and(|i| p.ids.contains(i))
                };
                if let Some(index) = loaded.order.other_currency.iter().position(names) {
                    return other_currency_refunded(ports, vendor, loaded, index, total, now).await;
                }
                let Some(paid) = loaded.order.payments.iter().find(|p| names(p)) else {
                    return Ok(DashboardOutcome::Wait);
                };
                // A failure of ours reported at or after this total may still be in it: the
                // total is older than what the order knows, and that money never left.
                let failed_since = match event.created {
                    Some(as_of) => paid.failed_since(as_of),
                    None => Ok(Money::zero(paid.amount.currency())),
                };
                let unknown = failed_since.and_then(|failed| {
                    total
                        .refunded
                        .checked_sub(&paid.refunded_by_refunds()?)?
                        .checked_sub(&failed)
                });
                match unknown {
                    Ok(unknown) if !unknown.is_zero() && !unknown.is_negative() => (
                        format!("{}@{}", total.charge, total.refunded.amount()),
                        unknown,
                        Some(total.charge.clone()),
                    ),
                    _ => return Ok(DashboardOutcome::Nothing),
                }
            }
        };
        let guard = crate::usecases::vendors::balance::read_guard(ports.store, &vendor.id).await?;
        let mut context = OrderContext {
            item: loaded.item,
            order: loaded.order,
            customer: loaded.customer,
            customer_item: loaded.customer_item,
        };
        if !context
            .order
            .provider
            .provider_refunds
            .insert(provider_refund.clone())
        {
            return Ok(DashboardOutcome::Nothing);
        }
        // The payment it refunds, by any of its ids; else the newest (R-R5).
        let Ok(plan) =
            crate::domain::refunds::provider_refund(&context.order, amount, payment.as_deref())
        else {
            return Ok(DashboardOutcome::Nothing);
        };
        let cause = RefundCause {
            origin: crate::domain::refunds::RefundOrigin::Provider,
            reason: "refunded at the payment provider",
            ticket_id: None,
            done_at_provider: Some(provider_refund.clone()),
            ends_plan: false,
        };
        let (refund, mut writes, _) = refunds::execute(
            vendor,
            &mut context,
            guard.as_ref(),
            &plan,
            cause,
            now,
            ports.entropy,
        )?;
        // A dispute opened before this refund was known held money the refund returned: it
        // holds only what is left, and the net of the rest is credited back (as in order).
        if let Some(released) = context.order.release_dispute_excess()
            && let Some(net) = context.order.dispute_net(released)
            && !net.is_zero()
        {
            let order_write = Write::update(
                context
                    .item
                    .next(encode(&context.item.key, &context.order)?),
            );
            if let Some(write) = writes.iter_mut().find(|w| *w.key() == context.item.key) {
                *write = order_write;
            }
            let credit = immediate(
                &vendor.id,
                net,
                EntryReason::ChargebackReversal,
                &provider_refund,
                now,
                ports.entropy,
            );
            writes.push(crate::usecases::vendors::balance::entry_write(&credit)?);
        }
        writes.extend(refunds::confirmations(
            vendor,
            &context,
            &refund,
            now,
            ports.entropy,
        )?);
        ports.store.transact(writes).await?;
        Ok(DashboardOutcome::Recorded)
    })
    .await
}

struct Loaded {
    item: Item,
    order: Order,
    customer_item: Item,
    customer: Customer,
    /// The vendor's balance guard, read for an effect that debits the ledger.
    balance_guard: Option<Item>,
    /// For a charge: the blocked customers whose blocks reach its payer through its card.
    blocked_roots: std::collections::BTreeSet<CustomerId>,
}

impl Loaded {
    /// R-C5 (issue 15, defect 4): a dispute lost in full leaves the order refunded, no longer
    /// a paid order of its customer.
    fn paid_order_count_write(
        &mut self,
        before: crate::domain::orders::OrderStatus,
        vendor: &Vendor,
    ) -> Result<Option<Write>, StoreError> {
        use crate::domain::orders::OrderStatus::Refunded;
        if before == Refunded
            || self.order.status != Refunded
            || !crate::domain::customers::unrecord_paid_order(
                &mut self.customer,
                vendor.regular_customer_threshold,
            )
        {
            return Ok(None);
        }
        self.customer_write().map(Some)
    }

    fn order_write(&self) -> Result<Write, StoreError> {
        Ok(Write::update(
            self.item.next(encode(&self.item.key, &self.order)?),
        ))
    }

    fn customer_write(&self) -> Result<Write, StoreError> {
        Ok(Write::update(
            self.customer_item
                .next(encode(&self.customer_item.key, &self.customer)?),
        ))
    }

    fn enqueue(
        &self,
        vendor: &Vendor,
        message: Message,
        now: DateTime<Utc>,
        entropy: &dyn Entropy,
    ) -> Result<Write, StoreError> {
        enqueue(&vendor.id, message, now, entropy).map_err(|source| StoreError::Malformed {
            key: self.item.key.clone(),
            source,
        })
    }
}

/// The order the event is about: the order id it carries, else the subscription recorded for an
/// earlier event of the same plan.
async fn find_order_id(
    store: &dyn ItemStore,
    vendor: &Vendor,
    event: &ProviderEvent,
) -> Result<Option<OrderId>, UseCaseError> {
    if let Some(id) = &event.order_id {
        return Ok(Some(id.clone()));
    }
    // A provider id another vendor's order recorded is not this vendor's.
    Ok(find_by_provider_ids(store, event)
        .await?
        .filter(|(owner, _)| *owner == vendor.id)
        .map(|(_, order)| order))
}

/// The order and its customer: one batch read when the event names both (our checkout sets
/// both ids in the provider's metadata), else the order, then its customer.
async fn load(
    store: &dyn ItemStore,
    vendor: &Vendor,
    event: &ProviderEvent,
) -> Result<Option<Loaded>, UseCaseError> {
    let Some(order_id) = find_order_id(store, vendor, event).await? else {
        return Ok(None);
    };
    let order_key = order_key(&vendor.id, &order_id);
    let (item, hinted_customer) = match &event.customer_id {
        Some(customer) => {
            let mut found = store
                .get_many(&[order_key, customer_key(&vendor.id, customer)])
                .await?
                .into_iter();
            let order = found.next().flatten();
            (order, found.next().flatten())
        }
        None => (store.get(&order_key).await?, None),
    };
    let Some(item) = item else {
        return Ok(None);
    };
    let order: Order = item.decode()?;
    // The hint is only a shortcut: the order says whose it is.
    let customer_item =
        match hinted_customer.filter(|c| c.key == customer_key(&vendor.id, &order.customer_id)) {
            Some(customer) => customer,
            None => store
                .get(&customer_key(&vendor.id, &order.customer_id))
                .await?
                .ok_or(UseCaseError::NotFound)?,
        };
    let customer = customer_item.decode()?;
    Ok(Some(Loaded {
        item,
        order,
        customer_item,
        customer,
        balance_guard: None,
        blocked_roots: Default::default(),
    }))
}

/// Remembers the provider's ids on the order, and the lookup items for later events.
fn remember_ids(order: &mut Order, vendor: &VendorId, event: &ProviderEvent) -> Vec<Write> {
    let refs = &mut order.provider;
    if let Some(intent) = &event.ids.payment_intent {
        refs.payment_intent = Some(intent.clone());
    }
    if let Some(customer) = &event.ids.customer {
        refs.customer = Some(customer.clone());
    }
    if let Some(subscription) = &event.ids.subscription {
        refs.subscription = Some(subscription.clone());
    }
    // The latest method saved for later rates pays them (one changed through the link too).
    if let Some(method) = &event.ids.saved_method {
        refs.saved_method = Some(method.clone());
    }
    [
        (BY_SUBSCRIPTION, event.ids.subscription.as_ref()),
        (BY_PAYMENT, event.ids.payment_intent.as_ref()),
    ]
    .into_iter()
    .chain(event.ids.payments.iter().map(|id| (BY_PAYMENT, Some(id))))
    .filter_map(|(kind, id)| id.map(|id| (kind, id)))
    .map(|(kind, id)| Write::Put {
        item: Item::new(
            lookup_key(kind, event.provider, id),
            json!({ "vendor_id": vendor, "order_id": order.id }),
        ),
        condition: Condition::Always,
    })
    .collect()
}

/// Money arrived: schedule, ledger, customer, receipt, event — unless this provider payment was
/// applied already, which only refreshes the ids.
fn money_arrived(
    ports: Ports<'_>,
    vendor: &Vendor,
    event: &ProviderEvent,
    mut loaded: Loaded,
    incoming: &crate::domain::orders::payments::IncomingPayment,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let payment_key = incoming.key.as_str();
    let before = loaded.order.clone();
    let mut writes = remember_ids(&mut loaded.order, &vendor.id, event);
    if amount.currency() != loaded.order.total.currency() {
        return other_currency_arrived(
            ports, vendor, event, loaded, incoming, amount, writes, before, now,
        );
    }
    let applied = match loaded.order.apply_payment_once(incoming, amount, now) {
        Ok(applied) => applied,
        Err(_) => return Ok(None),
    };
    let Some(applied) = applied else {
        if loaded.order == before {
            return Ok(None);
        }
        writes.push(loaded.order_write()?);
        return Ok(Some(writes));
    };
    let credit = charge_credit(
        &vendor.id,
        applied.amount,
        applied.tax_part,
        payment_key,
        now,
        ports.entropy,
    )
    .map_err(|_| UseCaseError::NotFound)?;
    if applied.first_payment {
        record_paid_order(&mut loaded.customer, vendor.regular_customer_threshold);
        // R-C4 for a matched customer: paying proves the checkout was theirs.
        if let Some(buyer) = &loaded.order.buyer {
            loaded.customer.language = language_from_country(
                loaded.customer.language.as_deref(),
                buyer.address.as_ref().map(|a| a.country.as_str()),
                &buyer.country,
                &vendor.country_languages,
            );
        }
    }
    let receipt = payment_notice(
        vendor,
        ports.link_keys,
        &loaded.order,
        &loaded.customer,
        amount,
        payment_receipt,
    )?;
    let paid = DomainEvent {
        event_type: EventType::OrderPaid,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "amount": amount, "revived": applied.revived, "surplus": applied.surplus }),
    };
    // R-O2 (issue 14, defect 6): money the order did not ask for is told to the vendor.
    let surplus = if applied.revived {
        Some((SurplusReason::SupersededOrderPaid, amount))
    } else if !applied.surplus.is_zero() {
        Some((SurplusReason::Overpaid, applied.surplus))
    } else {
        None
    };
    if let Some((reason, surplus)) = surplus {
        writes.extend(surplus_notice(
            ports, vendor, &loaded, amount, surplus, reason, now,
        )?);
    }
    // Issue 15, defect 1: the plan's later instalments are collected on their due dates.
    // A superseded order paid after all is the vendor's to resume (R-O2): nothing is charged
    // by itself beside the order that replaced it.
    if !applied.revived {
        writes.extend(crate::usecases::orders::collections::schedule(
            &mut loaded.order,
            vendor,
            now,
        )?);
    }
    let transaction = Transaction {
        kind: TransactionKind::Payment,
        amount,
        provider: event.provider.as_str().into(),
        reference: payment_key.to_string(),
        at: now,
    };
    writes.extend([
        transactions::record(&vendor.id, &loaded.order.id, &transaction, ports.entropy)?,
        loaded.order_write()?,
        loaded.customer_write()?,
        crate::usecases::vendors::balance::entry_write(&credit)?,
        loaded.enqueue(vendor, Message::Email(receipt), now, ports.entropy)?,
        loaded.enqueue(vendor, Message::Event(paid), now, ports.entropy)?,
    ]);
    Ok(Some(writes))
}

/// The vendor's mail and `order.payment_surplus` for money the order did not ask for.
fn surplus_notice(
    ports: Ports<'_>,
    vendor: &Vendor,
    loaded: &Loaded,
    paid: Money,
    surplus: Money,
    reason: SurplusReason,
    now: DateTime<Utc>,
) -> Result<[Write; 2], UseCaseError> {
    let notice = payment_surplus(&SurplusNotice {
        to: &vendor.email,
        language: &vendor.default_language,
        order_number: &loaded.order.number,
        paid: &paid.to_string(),
        surplus: &surplus.to_string(),
        reason,
    });
    let told = DomainEvent {
        event_type: EventType::PaymentSurplus,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "paid": paid, "surplus": surplus, "reason": reason.as_str() }),
    };
    Ok([
        loaded.enqueue(vendor, Message::Email(notice), now, ports.entropy)?,
        loaded.enqueue(vendor, Message::Event(told), now, ports.entropy)?,
    ])
}

/// Money in another currency than the order's (issue 14, defect 5; decision in
/// docs/decisions.md "Payments"): recorded on the order apart from its schedule, credited to the
/// vendor's balance in that currency (net of its tax share, pending like any charge), in the
/// order's history, and told to the vendor. It pays nothing of the order.
#[allow(clippy::too_many_arguments)]
fn other_currency_arrived(
    ports: Ports<'_>,
    vendor: &Vendor,
    event: &ProviderEvent,
    mut loaded: Loaded,
    incoming: &crate::domain::orders::payments::IncomingPayment,
    amount: Money,
    mut writes: Vec<Write>,
    before: Order,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let Some(payment) = loaded.order.record_other_currency(incoming, amount, now) else {
        if loaded.order == before {
            return Ok(None);
        }
        writes.push(loaded.order_write()?);
        return Ok(Some(writes));
    };
    let credit = charge_credit(
        &vendor.id,
        amount,
        payment.tax,
        &payment.key,
        now,
        ports.entropy,
    )
    .map_err(|_| UseCaseError::NotFound)?;
    let transaction = Transaction {
        kind: TransactionKind::OtherCurrencyPayment,
        amount,
        provider: event.provider.as_str().into(),
        reference: payment.key.clone(),
        at: now,
    };
    writes.extend([
        transactions::record(&vendor.id, &loaded.order.id, &transaction, ports.entropy)?,
        loaded.order_write()?,
        crate::usecases::vendors::balance::entry_write(&credit)?,
    ]);
    writes.extend(surplus_notice(
        ports,
        vendor,
        &loaded,
        amount,
        amount,
        SurplusReason::OtherCurrency,
        now,
    )?);
    Ok(Some(writes))
}

/// A charge id and card fingerprint, for blocking by fingerprint (R-C6).
#[allow(clippy::too_many_arguments)]
fn charge_seen(
    ports: Ports<'_>,
    vendor: &Vendor,
    event: &ProviderEvent,
    mut loaded: Loaded,
    charge: &str,
    fingerprint: Option<&str>,
    names: &[String],
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let fingerprint = fingerprint.map(str::to_string);
    let before = loaded.order.clone();
    // Later events naming only the charge (a dispute) find the order by it (defect 3).
    let lookups = remember_ids(&mut loaded.order, &vendor.id, event);
    // The charge is what a refund of its payment goes back to (with its payment intent).
    let mut ids = names.to_vec();
    ids.push(charge.to_string());
    loaded.order.link_payment_ids(&ids);
    loaded
        .order
        .provider
        .charges
        .insert(charge.to_string(), fingerprint.clone());
    if loaded.order == before {
        return Ok(None);
    }
    let mut writes = vec![loaded.order_write()?];
    writes.extend(lookups);
    // The fingerprint joins the customer, and the index that finds customers sharing it (R-C6).
    let mut customer_changed = false;
    if let Some(fingerprint) = fingerprint
        && loaded.customer.fingerprints.insert(fingerprint.clone())
    {
        customer_changed = true;
        let index = crate::usecases::customers::fingerprint_key(
            &vendor.id,
            &fingerprint,
            &loaded.customer.id,
        );
        writes.push(Write::Put {
            item: Item::new(index, json!({ "customer_id": loaded.customer.id })),
            condition: Condition::Always,
        });
    }
    // Paid with a blocked customer's card: blocked through them (R-C6; issue 16, item 13).
    if !loaded.blocked_roots.is_empty() {
        let newly = loaded.customer.blocked.is_none();
        let block =
            loaded
                .customer
                .blocked
                .get_or_insert_with(|| crate::domain::customers::Block {
                    at: now,
                    direct: false,
                    via: Default::default(),
                });
        let known = block.via.len();
        block.via.extend(loaded.blocked_roots.iter().cloned());
        if block.via.len() != known {
            customer_changed = true;
            if let Some(email_key) =
                crate::domain::customers::blocked_email_key(&loaded.customer.email)
            {
                writes.push(Write::Put {
                    item: Item::new(
                        Key::new(vendor_pk(&vendor.id), email_key),
                        json!({ "customer_id": loaded.customer.id }),
                    ),
                    condition: Condition::Always,
                });
            }
        }
        if newly {
            let blocked = DomainEvent {
                event_type: EventType::CustomerBlocked,
                detail: json!({ "customer_ids": [loaded.customer.id], "via_card": true }),
            };
            writes.push(loaded.enqueue(vendor, Message::Event(blocked), now, ports.entropy)?);
        }
    }
    if customer_changed {
        writes.push(loaded.customer_write()?);
    }
    Ok(Some(writes))
}

/// The plan is cancelled (R-R4 effects), announced.
fn subscription_ended(
    ports: Ports<'_>,
    vendor: &Vendor,
    mut loaded: Loaded,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    if !loaded.order.cancel_plan(now) {
        return Ok(None);
    }
    let event = DomainEvent {
        event_type: EventType::SubscriptionCancelled,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number }),
    };
    Ok(Some(vec![
        loaded.order_write()?,
        loaded.enqueue(vendor, Message::Event(event), now, ports.entropy)?,
    ]))
}

/// A chargeback (API.md): the order is flagged `disputed` and its access paused, the net part of
/// the disputed amount is debited at once, the vendor is told.
#[allow(clippy::too_many_arguments)]
fn dispute_opened(
    ports: Ports<'_>,
    vendor: &Vendor,
    mut loaded: Loaded,
    dispute: &str,
    amount: Money,
    reason: &str,
    payment: &[String],
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let opened = if amount.currency() == loaded.order.total.currency() {
        loaded.order.open_dispute(dispute, amount, now)
    } else {
        loaded
            .order
            .open_other_currency_dispute(dispute, amount, now)
    };
    let Some(net) = opened else {
        return Ok(None);
    };
    let held = loaded
        .order
        .provider
        .dispute_amounts
        .get(dispute)
        .copied()
        .unwrap_or(amount);
    let debit = immediate(
        &vendor.id,
        net.negated(),
        EntryReason::Chargeback,
        dispute,
        now,
        ports.entropy,
    );
    let notice = dispute_opened_email(&DisputeNotice {
        to: &vendor.email,
        language: &vendor.default_language,
        order_number: &loaded.order.number,
        amount: &held.to_string(),
        debited: &net.to_string(),
        reason,
    });
    let disputed = DomainEvent {
        event_type: EventType::OrderDisputed,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "amount": held, "debited": net, "reason": reason }),
    };
    let mut writes = vec![
        crate::usecases::vendors::balance::entry_write(&debit)?,
        crate::usecases::vendors::balance::guard_write(
            &vendor.id,
            loaded.balance_guard.as_ref(),
            dispute,
            now,
        ),
        loaded.enqueue(vendor, Message::Email(notice), now, ports.entropy)?,
        loaded.enqueue(vendor, Message::Event(disputed), now, ports.entropy)?,
    ];
    // Decided before this opening arrived (R-P1): its end applies now, in the same commit, to
    // the payment the opening names (lost, that payment counts as refunded, as in order).
    let disputed_payment = payment
        .iter()
        .find(|id| loaded.order.payments.iter().any(|p| p.ids.contains(*id)))
        .map(String::as_str);
    let before = loaded.order.status;
    if let Some(won) = loaded.order.provider.early_dispute_ends.remove(dispute)
        && let Some(end) = loaded
            .order
            .close_dispute(dispute, won, held, disputed_payment, now)
    {
        writes.extend(dispute_end_writes(
            ports, vendor, &loaded, dispute, end, held, now,
        )?);
        writes.extend(loaded.paid_order_count_write(before, vendor)?);
    }
    writes.insert(0, loaded.order_write()?);
    Ok(Some(writes))
}

/// R-O10: a dispute decided. Won, the chargeback's debit is credited back and the order is as
/// before (access returns); lost, the amount counts as refunded by the dispute and the debit
/// stays. The vendor is told either way. Decided before its opening arrived, it waits for it.
#[allow(clippy::too_many_arguments)]
fn dispute_closed(
    ports: Ports<'_>,
    vendor: &Vendor,
    mut loaded: Loaded,
    dispute: &str,
    amount: Money,
    won: bool,
    payment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let before = loaded.order.status;
    let Some(end) = loaded
        .order
        .close_dispute(dispute, won, amount, payment, now)
    else {
        return Ok(None);
    };
    let held = loaded
        .order
        .provider
        .dispute_amounts
        .get(dispute)
        .copied()
        .unwrap_or(amount);
    let mut writes = vec![loaded.order_write()?];
    writes.extend(dispute_end_writes(
        ports, vendor, &loaded, dispute, end, held, now,
    )?);
    writes.extend(loaded.paid_order_count_write(before, vendor)?);
    Ok(Some(writes))
}

/// What a dispute's end writes besides the order: won, the debit credited back; the vendor's
/// mail and `order.dispute_closed`. An early end writes nothing more (it waits on the order).
fn dispute_end_writes(
    ports: Ports<'_>,
    vendor: &Vendor,
    loaded: &Loaded,
    dispute: &str,
    end: crate::domain::refunds::DisputeEnd,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<Vec<Write>, UseCaseError> {
    use crate::domain::refunds::DisputeEnd;
    let (net, won) = match end {
        DisputeEnd::Won { net } => (net, true),
        DisputeEnd::Lost { net } => (net, false),
        DisputeEnd::Early => return Ok(Vec::new()),
    };
    let mut writes = Vec::new();
    if won {
        let credit = immediate(
            &vendor.id,
            net,
            EntryReason::ChargebackReversal,
            dispute,
            now,
            ports.entropy,
        );
        writes.push(crate::usecases::vendors::balance::entry_write(&credit)?);
    }
    let notice = crate::domain::notifications::emails::dispute_closed(
        &DisputeNotice {
            to: &vendor.email,
            language: &vendor.default_language,
            order_number: &loaded.order.number,
            amount: &amount.to_string(),
            debited: &net.to_string(),
            reason: if won { "won" } else { "lost" },
        },
        won,
    );
    let closed = DomainEvent {
        event_type: EventType::DisputeClosed,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "amount": amount, "won": won }),
    };
    writes.push(loaded.enqueue(vendor, Message::Email(notice), now, ports.entropy)?);
    writes.push(loaded.enqueue(vendor, Message::Event(closed), now, ports.entropy)?);
    Ok(writes)
}

/// One failed attempt as an event reports it (see `Fact::PaymentFailed`).
struct FailedAttempt<'a> {
    reference: &'a str,
    key: &'a str,
    intent: Option<&'a str>,
    by_session: bool,
    rate: Option<u32>,
    period_start: Option<DateTime<Utc>>,
}

impl FailedAttempt<'_> {
    /// Whether this report is an attempt not counted yet (R-P2, seed 002), remembering it in
    /// `counted`. Each declined charge counts once however many events report it; a Checkout
    /// session's async failure is its intent's latest attempt: it counts only when no report
    /// of that intent's charges came first, and the first such report after it is the same one.
    fn counts(&self, counted: &mut std::collections::BTreeSet<String>) -> bool {
        let charged = |intent: &str| format!("{intent}#charged");
        let by_session = |intent: &str| format!("{intent}#session");
        match (self.intent, self.by_session) {
            (Some(intent), true) => {
                !counted.contains(&charged(intent)) && counted.insert(by_session(intent))
            }
            (Some(intent), false) => {
                if !counted.insert(self.key.to_string()) {
                    return false;
                }
                let first_charge = counted.insert(charged(intent));
                !(first_charge && counted.contains(&by_session(intent)))
            }
            (None, _) => counted.insert(self.key.to_string()),
        }
    }
}

/// R-P2: a failed charge counts an attempt on the first open payment and keeps it open.
fn payment_failed_attempt(
    ports: Ports<'_>,
    vendor: &Vendor,
    event: &ProviderEvent,
    mut loaded: Loaded,
    attempt: &FailedAttempt<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let before = loaded.order.clone();
    let lookups = remember_ids(&mut loaded.order, &vendor.id, event);
    if !attempt.counts(&mut loaded.order.provider.failed_payments) {
        if loaded.order == before {
            return Ok(None);
        }
        let mut writes = vec![loaded.order_write()?];
        writes.extend(lookups);
        return Ok(Some(writes));
    }
    let reference = attempt.reference;
    // A decline reported after its payment succeeded (a retry that went through) was an
    // attempt of that payment: counted on the item it paid, as in order, and not told to a
    // customer who has the receipt (R-P2, R-P1).
    let names = event.ids.all();
    let settled = loaded
        .order
        .payments
        .iter()
        .find(|payment| names.iter().any(|id| payment.ids.contains(id)))
        .map(|payment| payment.items.first().copied());
    if let Some(paid_item) = settled {
        if let Some(item) = paid_item.and_then(|seq| {
            loaded
                .order
                .schedule
                .iter_mut()
                .find(|item| item.seq == seq)
        }) {
            item.attempts += 1;
        }
        loaded.order.updated_at = now;
        let mut writes = vec![loaded.order_write()?];
        writes.extend(lookups);
        return Ok(Some(writes));
    }
    // The rate or period it was for (a later one declined while an earlier is still open is
    // that one's attempt), else the first open payment.
    let Some(item) = loaded
        .order
        .attempted_item(attempt.period_start, attempt.rate)
    else {
        return Ok(None);
    };
    item.attempts += 1;
    let amount = item
        .amount
        .checked_sub(&item.paid)
        .map_err(|_| UseCaseError::NotFound)?;
    loaded.order.updated_at = now;
    // The link pays it again, or (a subscription's renewal) the provider retries it itself.
    let payable = crate::usecases::orders::portal::payable_item(&loaded.order, vendor, now);
    let notice = payment_notice(
        vendor,
        ports.link_keys,
        &loaded.order,
        &loaded.customer,
        amount,
        if payable.is_some() {
            payment_failed
        } else {
            crate::domain::notifications::emails::payment_failed_will_retry
        },
    )?;
    let failed = DomainEvent {
        event_type: EventType::PaymentFailed,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "amount": amount }),
    };
    let transaction = Transaction {
        kind: TransactionKind::PaymentFailed,
        amount,
        provider: event.provider.as_str().into(),
        reference: reference.to_string(),
        at: now,
    };
    let mut writes = vec![
        transactions::record(&vendor.id, &loaded.order.id, &transaction, ports.entropy)?,
        loaded.order_write()?,
        loaded.enqueue(vendor, Message::Email(notice), now, ports.entropy)?,
        loaded.enqueue(vendor, Message::Event(failed), now, ports.entropy)?,
    ];
    writes.extend(lookups);
    Ok(Some(writes))
}
