//! `POST /webhooks/stripe` (R-P1): the platform account's events, verified on the raw bytes
//! with the platform's endpoint secrets first, then translated into a provider-neutral fact and
//! applied at most once per event id to the vendor's order it names.

use crate::domain::ids::{CustomerId, RefundId};
use crate::domain::ids::{OrderId, VendorId};
use crate::domain::money::{Currency, Money};
use crate::payments::RefundState;
use crate::payments::stripe_units::from_stripe_units;
use crate::store::StoreError;
use crate::usecases::payments::{
    self, ChargeRefunds, Fact, Outcome, Provider, ProviderEvent, ProviderIds, RefundReport,
};
use crate::usecases::ports::Ports;
use crate::usecases::ports::UseCaseError;
use crate::webhooks::stripe_signature::{self, SignatureError};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid signature")]
    InvalidSignature(#[source] SignatureError),
    #[error("the event is not a Stripe event")]
    Malformed(#[source] serde_json::Error),
    #[error(transparent)]
    UseCase(#[from] UseCaseError),
}

impl From<StoreError> for WebhookError {
    fn from(error: StoreError) -> Self {
        WebhookError::UseCase(UseCaseError::Store(error))
    }
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EventData,
    /// Unix seconds; any other shape reads as unknown.
    #[serde(default)]
    created: Value,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

fn text<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

/// `secrets`: the endpoint secrets Stripe issued to the platform, any of which may sign.
pub async fn receive(
    ports: Ports<'_>,
    secrets: &[String],
    signature: Option<&str>,
    body: &[u8],
) -> Result<Outcome, WebhookError> {
    stripe_signature::verify(signature, body, secrets, ports.clock.now())
        .map_err(WebhookError::InvalidSignature)?;
    let event: Event = serde_json::from_slice(body).map_err(WebhookError::Malformed)?;
    Ok(payments::receive(ports, translate(event)).await?)
}

/// What a Stripe event says, in the provider-neutral terms of `usecases::payments`.
fn translate(event: Event) -> ProviderEvent {
    let object = &event.data.object;
    let fact = match event.event_type.as_str() {
        "checkout.session.completed" if text(object, "payment_status") == Some("paid") => {
            session_paid(object)
        }
        "checkout.session.async_payment_succeeded" => session_paid(object),
        "invoice.paid" => match invoice_periods(object) {
            Ok(()) => money(object, text(object, "id"), "amount_paid"),
            Err(reason) => Fact::Invalid { reason },
        },
        "payment_intent.succeeded" => money(object, text(object, "id"), "amount_received"),
        // A session's async failure is its payment intent's latest failed attempt.
        "checkout.session.async_payment_failed" => Fact::PaymentFailed {
            reference: text(object, "id").unwrap_or_default().to_string(),
            failure_key: text(object, "id").unwrap_or(&event.id).to_string(),
            intent: text(object, "payment_intent").map(str::to_string),
            by_session: true,
            rate: None,
            period_start: None,
        },
        // Checkout keeps one payment intent across card retries: each declined charge is an
        // attempt (issue 14, defect 8). An attempt that made no charge (3-D Secure failed) names
        // none in its error — `latest_charge` is then an earlier attempt's — so the event is it.
        "payment_intent.payment_failed" => {
            let charge = object
                .pointer("/last_payment_error/charge")
                .and_then(Value::as_str);
            failed(object, charge.unwrap_or(&event.id), text(object, "id"))
        }
        // The same decline as its payment intent's report: keyed by the charge; each retry of
        // an invoice is a charge (else an attempt number) of its own.
        "invoice.payment_failed" => {
            let attempt = object.get("attempt_count").and_then(Value::as_u64);
            let key = match text(object, "charge") {
                Some(charge) => charge.to_string(),
                None => format!(
                    "{}#{}",
                    text(object, "id").unwrap_or(&event.id),
                    attempt.unwrap_or(1)
                ),
            };
            failed(object, &key, text(object, "payment_intent"))
        }
        "charge.succeeded" => match text(object, "id") {
            Some(charge) => Fact::ChargeSeen {
                names: ["payment_intent", "invoice"]
                    .into_iter()
                    .filter_map(|field| text(object, field))
                    .map(str::to_string)
                    .collect(),
                charge: charge.to_string(),
                fingerprint: object
                    .pointer("/payment_method_details/card/fingerprint")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            None => Fact::Nothing,
        },
        "customer.subscription.deleted" => Fact::PlanEnded,
        "charge.dispute.created" => disputed(object),
        "charge.dispute.closed" => dispute_closed(object),
        // A refund's own events settle ours; one we did not make names no order of ours, and
        // its charge's total (below) records it.
        "charge.refund.updated" | "refund.created" | "refund.updated" | "refund.failed" => {
            Fact::Refunds {
                reports: refund_report(object)
                    .filter(|report| report.refund_id.is_some())
                    .into_iter()
                    .collect(),
                charge_total: None,
            }
        }
        // Lists its refunds only where the API version still does (before 2022-11-15); its
        // `amount_refunded` is the payment's total refunded either way.
        "charge.refunded" => Fact::Refunds {
            reports: object
                .pointer("/refunds/data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(refund_report)
                .filter(|report| report.refund_id.is_some())
                .collect(),
            charge_total: charge_refunds(object),
        },
        _ => Fact::Nothing,
    };
    let subscription = match text(object, "object") {
        Some("subscription") => text(object, "id"),
        _ => text(object, "subscription"),
    };
    let payment_intent = match text(object, "object") {
        Some("payment_intent") => text(object, "id"),
        _ => text(object, "payment_intent"),
    };
    ProviderEvent {
        provider: Provider::Stripe,
        vendor_id: metadata(object, "vendor_id").and_then(|id| VendorId::parse(id).ok()),
        order_id: metadata(object, "order_id").and_then(|id| OrderId::parse(id).ok()),
        customer_id: metadata(object, "customer_id").and_then(|id| CustomerId::parse(id).ok()),
        ids: ProviderIds {
            payment_intent: payment_intent.map(str::to_string),
            customer: text(object, "customer").map(str::to_string),
            subscription: subscription.map(str::to_string),
            payments: payment_names(object),
            saved_method: saved_method(object),
        },
        fact,
        created: event
            .created
            .as_i64()
            .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0)),
        id: event.id,
        event_type: event.event_type,
    }
}

/// A payment intent that saved its method for off-session use (our instalment checkout sets
/// `setup_future_usage`): the customer and method later rates are charged to.
fn saved_method(object: &Value) -> Option<crate::domain::orders::SavedMethod> {
    if text(object, "object") != Some("payment_intent")
        || text(object, "setup_future_usage") != Some("off_session")
    {
        return None;
    }
    Some(crate::domain::orders::SavedMethod {
        customer: text(object, "customer")?.to_string(),
        payment_method: text(object, "payment_method")?.to_string(),
    })
}

/// The invoice and charge ids an object names (itself, if it is one): a payment's other names.
fn payment_names(object: &Value) -> Vec<String> {
    let own = match text(object, "object") {
        Some("invoice" | "charge") => text(object, "id"),
        _ => None,
    };
    [own, text(object, "invoice"), text(object, "charge")]
        .into_iter()
        .flatten()
        .filter(|id| id.starts_with("in_") || id.starts_with("ch_") || id.starts_with("py_"))
        .map(str::to_string)
        .collect()
}

/// R-P2: a failed attempt, counted once per `failure_key` (its charge).
fn failed(object: &Value, failure_key: &str, intent: Option<&str>) -> Fact {
    Fact::PaymentFailed {
        reference: text(object, "id").unwrap_or_default().to_string(),
        failure_key: failure_key.to_string(),
        intent: intent.map(str::to_string),
        by_session: false,
        rate: charged_rate(object),
        period_start: period_start(object),
    }
}

/// The start of the subscription period an invoice bills: its lines' earliest.
fn period_start(object: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    object
        .pointer("/lines/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|line| line.pointer("/period/start").and_then(Value::as_i64))
        .min()
        .and_then(|start| chrono::DateTime::from_timestamp(start, 0))
}

/// The instalment our off-session payment intent was made for (its `schedule_seq`).
fn charged_rate(object: &Value) -> Option<u32> {
    match text(object, "object") {
        Some("payment_intent") => object
            .pointer("/metadata/schedule_seq")
            .and_then(Value::as_str)
            .and_then(|seq| seq.parse().ok()),
        _ => None,
    }
}

/// What a charge says is refunded of it in all (`amount_refunded`).
fn charge_refunds(charge: &Value) -> Option<ChargeRefunds> {
    Some(ChargeRefunds {
        charge: text(charge, "id")?.to_string(),
        intent: text(charge, "payment_intent").map(str::to_string),
        refunded: amount_of(charge, "amount_refunded")?.ok()?,
    })
}

/// A Stripe refund object as the provider-neutral report (R-R5).
fn refund_report(object: &Value) -> Option<RefundReport> {
    let state = match text(object, "status")? {
        "succeeded" => RefundState::Succeeded,
        "failed" | "canceled" => RefundState::Failed,
        _ => RefundState::Pending,
    };
    Some(RefundReport {
        provider_refund: text(object, "id")?.to_string(),
        refund_id: object
            .pointer("/metadata/refund_id")
            .and_then(Value::as_str)
            .and_then(|id| RefundId::parse(id).ok()),
        amount: amount_of(object, "amount")?.ok()?,
        state,
        part: object
            .pointer("/metadata/refund_part")
            .and_then(Value::as_str)
            .and_then(|part| part.parse().ok()),
        payment: text(object, "payment_intent")
            .or(text(object, "charge"))
            .map(str::to_string),
    })
}

/// `won` (or an inquiry closed without a chargeback) gives the debit back; `lost` keeps it.
fn dispute_closed(object: &Value) -> Fact {
    let won = match text(object, "status") {
        Some("won" | "warning_closed") => true,
        Some("lost") => false,
        _ => return Fact::Nothing,
    };
    match (text(object, "id"), amount_of(object, "amount")) {
        (_, Some(Err(reason))) => Fact::Invalid { reason },
        (Some(dispute), Some(Ok(amount))) => Fact::DisputeClosed {
            dispute: dispute.to_string(),
            amount,
            won,
            payment: text(object, "payment_intent")
                .or(text(object, "charge"))
                .map(str::to_string),
        },
        _ => Fact::Nothing,
    }
}

fn disputed(object: &Value) -> Fact {
    match (text(object, "id"), amount_of(object, "amount")) {
        (_, Some(Err(reason))) => Fact::Invalid { reason },
        // A dispute of nothing disputes nothing (and pauses no access).
        (_, Some(Ok(amount))) if amount.is_zero() => Fact::Invalid {
            reason: "a dispute of 0".into(),
        },
        (Some(dispute), Some(Ok(amount))) => Fact::Disputed {
            dispute: dispute.to_string(),
            amount,
            reason: text(object, "reason").unwrap_or("unknown").to_string(),
            payment: ["charge", "payment_intent"]
                .into_iter()
                .filter_map(|field| text(object, field))
                .map(str::to_string)
                .collect(),
        },
        _ => Fact::Nothing,
    }
}

/// A paid session counts once with its first invoice: both name the same payment by the invoice.
fn session_paid(object: &Value) -> Fact {
    let key = text(object, "invoice")
        .or(text(object, "payment_intent"))
        .or(text(object, "id"));
    money(object, key, "amount_total")
}

/// The earliest and latest instants a subscription period may name (2000-01-01, 2100-01-01).
const PERIOD_BOUNDS: (i64, i64) = (946_684_800, 4_102_444_800);
/// The longest period a plan bills (a year, leap day and Stripe's anchoring included).
const LONGEST_PERIOD_SECONDS: i64 = 400 * 24 * 3600;

/// An invoice pays periods (`lines.data[].period`): each must name integer `start` < `end`
/// seconds within [`PERIOD_BOUNDS`] and at most [`LONGEST_PERIOD_SECONDS`] apart (issue 10,
/// defect 11); else the event is not what Stripe sends, and pays nothing.
fn invoice_periods(object: &Value) -> Result<(), String> {
    let lines = object
        .pointer("/lines/data")
        .and_then(Value::as_array)
        .filter(|lines| !lines.is_empty())
        .ok_or("the invoice has no lines")?;
    for line in lines {
        let bound = |name: &str| {
            line.pointer(&format!("/period/{name}"))
                .and_then(Value::as_i64)
        };
        let (Some(start), Some(end)) = (bound("start"), bound("end")) else {
            return Err("a line's period lacks an integer start or end".into());
        };
        let (earliest, latest) = PERIOD_BOUNDS;
        if start < earliest || end > latest {
            return Err("a line's period is outside 2000..2100".into());
        }
        if start >= end || end - start > LONGEST_PERIOD_SECONDS {
            return Err("a line's period ends before it starts or is longer than a year".into());
        }
    }
    Ok(())
}

/// The amount `field` of a Stripe object in the object's `currency`, converted by Stripe's own
/// units (`payments::stripe_units`: not always ISO's): `None` when either is missing or not a
/// currency we sell in; `Err` (the reason) when Stripe could not have sent that amount.
fn amount_of(object: &Value, field: &str) -> Option<Result<Money, String>> {
    let currency: Currency = text(object, "currency")?.parse().ok()?;
    let units = object.get(field)?.as_i64()?;
    // Stripe's amounts have at most eight digits; more (or less than nothing) it never sends.
    if !(0..=MAX_STRIPE_UNITS).contains(&units) {
        return Some(Err(format!(
            "{field} {units} is outside 0..={MAX_STRIPE_UNITS}, which Stripe never sends"
        )));
    }
    Some(from_stripe_units(units, currency).map_err(|error| error.to_string()))
}

/// The largest amount Stripe's API carries (eight digits of the currency's units).
const MAX_STRIPE_UNITS: i64 = 99_999_999;

/// Stripe amounts are integers of Stripe's unit of the event's currency (API.md).
fn money(object: &Value, payment_key: Option<&str>, amount_field: &str) -> Fact {
    match (payment_key, amount_of(object, amount_field)) {
        (_, Some(Err(reason))) => Fact::Invalid { reason },
        (Some(key), Some(Ok(amount))) => Fact::MoneyArrived {
            payment_key: key.to_string(),
            // Whatever else names this payment: the invoice, its payment intent, its charge.
            ids: ["id", "invoice", "payment_intent", "charge", "latest_charge"]
                .into_iter()
                .filter_map(|field| text(object, field))
                .filter(|id| !id.starts_with("cs_") && *id != key)
                .map(str::to_string)
                .collect(),
            amount,
            // An invoice pays the periods of its lines: the earliest start names the period.
            period_start: period_start(object),
            rate: charged_rate(object),
        },
        _ => Fact::Nothing,
    }
}

/// A field of the metadata we set at checkout: on the session, the payment intent, the
/// subscription — invoices carry it under `subscription_details` or `parent.subscription_details`.
fn metadata<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    [
        "/metadata",
        "/subscription_details/metadata",
        "/parent/subscription_details/metadata",
    ]
    .iter()
    .filter_map(|path| object.pointer(&format!("{path}/{field}")))
    .find_map(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn invoice_paid(period: Value) -> Event {
        serde_json::from_value(serde_json::json!({
            "id": "evt_1",
            "type": "invoice.paid",
            "data": {"object": {
                "id": "in_1", "object": "invoice", "amount_paid": 1189, "currency": "eur",
                "subscription": "sub_1",
                "lines": {"data": [{"id": "il_1", "amount": 1189, "currency": "eur", "period": period}]},
            }},
        }))
        .unwrap()
    }

    const START: i64 = 1_795_510_800;
    const MONTH: i64 = 31 * 24 * 3600;

    #[test]
    fn a_monthly_period_pays() {
        let event = invoice_paid(serde_json::json!({"start": START, "end": START + MONTH}));
        assert!(matches!(translate(event).fact, Fact::MoneyArrived { .. }));
    }

    #[test]
    fn nonsense_periods_pay_nothing() {
        for period in [
            serde_json::json!({"start": i64::MAX, "end": i64::MAX}),
            serde_json::json!({"start": -5, "end": START}),
            serde_json::json!({"start": "yesterday", "end": START}),
            serde_json::json!({"start": START + MONTH, "end": START}),
            serde_json::json!({"start": START}),
            serde_json::json!(null),
        ] {
            let fact = translate(invoice_paid(period.clone())).fact;
            assert!(matches!(fact, Fact::Invalid { .. }), "{period}: {fact:?}");
        }
    }

    proptest! {
        // R-P1: a signed invoice pays a period only when the period is one Stripe could send.
        #[test]
        fn an_invoice_pays_exactly_when_its_period_is_plausible(start in any::<i64>(), length in any::<i64>()) {
            let end = start.saturating_add(length);
            let fact = translate(invoice_paid(serde_json::json!({"start": start, "end": end}))).fact;
            let plausible = start >= PERIOD_BOUNDS.0
                && end <= PERIOD_BOUNDS.1
                && start < end
                && end - start <= LONGEST_PERIOD_SECONDS;
            prop_assert_eq!(matches!(fact, Fact::MoneyArrived { .. }), plausible);
            prop_assert_eq!(matches!(fact, Fact::Invalid { .. }), !plausible);
        }

        #[test]
        fn plausible_periods_pay(start in PERIOD_BOUNDS.0..PERIOD_BOUNDS.1 - LONGEST_PERIOD_SECONDS, length in 1..=LONGEST_PERIOD_SECONDS) {
            let fact = translate(invoice_paid(serde_json::json!({"start": start, "end": start + length}))).fact;
            prop_assert!(matches!(fact, Fact::MoneyArrived { .. }), "{:?}", fact);
        }
    }
}
