//! Stripe events in the shapes Stripe sends them at API version 2024-06-20 (the account's
//! version): a Checkout session names its payment intent (payment mode) or its first invoice and
//! subscription (subscription mode, `payment_intent: null`); an invoice names its payment
//! intent and charge; a payment intent or charge made by an invoice carries no metadata of ours,
//! only the invoice; `charge.refunded` no longer lists the refunds, only `amount_refunded`.
//! Amounts are minor units of `eur`.
#![allow(dead_code)]

use serde_json::{Value, json};

fn event(id: &str, event_type: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": 1_795_510_800,
        "livemode": false, "pending_webhooks": 1, "type": event_type, "data": {"object": object}})
}

/// Our metadata on what the platform creates (the vendor id is added by `deliver_stripe`).
pub fn ours(order_id: &str) -> Value {
    json!({"order_id": order_id})
}

/// A paid one-time Checkout session (payment mode) of `order_id` through `pi`.
pub fn session_payment(order_id: &str, cs: &str, pi: &str, cents: i64) -> Value {
    event(
        &format!("evt_{cs}"),
        "checkout.session.completed",
        json!({"id": cs, "object": "checkout.session", "mode": "payment", "amount_total": cents,
            "currency": "eur", "customer": "cus_1", "payment_intent": pi, "payment_status": "paid",
            "status": "complete", "subscription": null, "invoice": null, "metadata": ours(order_id)}),
    )
}

/// A paid subscription Checkout session: its first invoice and the subscription, no intent.
pub fn session_subscription(
    order_id: &str,
    cs: &str,
    sub: &str,
    invoice: &str,
    cents: i64,
) -> Value {
    event(
        &format!("evt_{cs}"),
        "checkout.session.completed",
        json!({"id": cs, "object": "checkout.session", "mode": "subscription", "amount_total": cents,
            "currency": "eur", "customer": "cus_1", "payment_intent": null, "payment_status": "paid",
            "status": "complete", "subscription": sub, "invoice": invoice, "metadata": ours(order_id)}),
    )
}

/// `charge.succeeded`: `metadata` is the payment intent's (ours on a checkout's intent, `{}` on
/// an invoice's), `invoice` set when an invoice made the charge.
pub fn charge_succeeded(
    ch: &str,
    pi: &str,
    invoice: Option<&str>,
    cents: i64,
    fingerprint: &str,
    metadata: Value,
) -> Value {
    event(
        &format!("evt_{ch}_succeeded"),
        "charge.succeeded",
        json!({"id": ch, "object": "charge", "amount": cents, "amount_captured": cents,
            "amount_refunded": 0, "currency": "eur", "customer": "cus_1", "invoice": invoice,
            "paid": true, "status": "succeeded", "payment_intent": pi, "metadata": metadata,
            "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242",
                "fingerprint": fingerprint}}}),
    )
}

/// `payment_intent.succeeded` of `pi` (made by `invoice` when set).
pub fn intent_succeeded(
    pi: &str,
    ch: &str,
    invoice: Option<&str>,
    cents: i64,
    metadata: Value,
) -> Value {
    event(
        &format!("evt_{pi}_succeeded"),
        "payment_intent.succeeded",
        json!({"id": pi, "object": "payment_intent", "amount": cents, "amount_received": cents,
            "currency": "eur", "customer": "cus_1", "invoice": invoice, "latest_charge": ch,
            "status": "succeeded", "metadata": metadata}),
    )
}

/// `invoice.paid` of a subscription period: the invoice names its intent and charge; our
/// metadata comes through the subscription's details.
#[allow(clippy::too_many_arguments)]
pub fn invoice_paid(
    order_id: &str,
    invoice: &str,
    sub: &str,
    pi: &str,
    ch: &str,
    cents: i64,
    period: (i64, i64),
    billing_reason: &str,
) -> Value {
    event(
        &format!("evt_{invoice}_paid"),
        "invoice.paid",
        json!({"id": invoice, "object": "invoice", "amount_due": cents, "amount_paid": cents,
            "currency": "eur", "customer": "cus_1", "billing_reason": billing_reason,
            "status": "paid", "subscription": sub, "payment_intent": pi, "charge": ch,
            "subscription_details": {"metadata": ours(order_id)},
            "lines": {"object": "list", "data": [{"id": format!("il_{invoice}"), "amount": cents,
                "currency": "eur", "period": {"start": period.0, "end": period.1}}]}}),
    )
}

/// `invoice.payment_failed`: attempt `attempt` of `invoice`, declined on `ch`.
pub fn invoice_failed(
    order_id: &str,
    invoice: &str,
    sub: &str,
    pi: &str,
    ch: &str,
    attempt: u32,
) -> Value {
    event(
        &format!("evt_{invoice}_failed_{attempt}"),
        "invoice.payment_failed",
        json!({"id": invoice, "object": "invoice", "amount_due": 1190, "amount_paid": 0,
            "currency": "eur", "customer": "cus_1", "status": "open", "subscription": sub,
            "payment_intent": pi, "charge": ch, "attempt_count": attempt,
            "subscription_details": {"metadata": ours(order_id)}}),
    )
}

/// `payment_intent.payment_failed`: a decline of `pi` on the charge `ch` (event `evt`).
pub fn intent_failed(evt: &str, pi: &str, ch: &str, metadata: Value) -> Value {
    event(
        evt,
        "payment_intent.payment_failed",
        json!({"id": pi, "object": "payment_intent", "amount": 1190, "amount_received": 0,
            "currency": "eur", "customer": "cus_1", "latest_charge": ch,
            "last_payment_error": {"type": "card_error", "code": "card_declined",
                "decline_code": "insufficient_funds", "charge": ch},
            "status": "requires_payment_method", "metadata": metadata}),
    )
}

/// `charge.refunded` as 2024-06-20 sends it: the refunds are not listed, `amount_refunded` is
/// the charge's total refunded so far.
pub fn charge_refunded(
    evt: &str,
    ch: &str,
    pi: &str,
    cents: i64,
    refunded: i64,
    metadata: Value,
) -> Value {
    event(
        evt,
        "charge.refunded",
        json!({"id": ch, "object": "charge", "amount": cents, "amount_captured": cents,
            "amount_refunded": refunded, "currency": "eur", "customer": "cus_1",
            "paid": true, "refunded": refunded == cents, "status": "succeeded",
            "payment_intent": pi, "metadata": metadata}),
    )
}

/// `charge.dispute.created` on `ch`: a dispute carries only the charge and its intent.
pub fn dispute_created(dp: &str, ch: &str, pi: &str, cents: i64) -> Value {
    event(
        &format!("evt_{dp}_created"),
        "charge.dispute.created",
        json!({"id": dp, "object": "dispute", "amount": cents, "currency": "eur", "charge": ch,
            "payment_intent": pi, "reason": "fraudulent", "status": "needs_response",
            "is_charge_refundable": false}),
    )
}

/// `charge.dispute.closed` of `dp` on `ch`: `status` is `won` or `lost`.
pub fn dispute_closed(dp: &str, ch: &str, pi: &str, cents: i64, status: &str) -> Value {
    event(
        &format!("evt_{dp}_closed"),
        "charge.dispute.closed",
        json!({"id": dp, "object": "dispute", "amount": cents, "currency": "eur", "charge": ch,
            "payment_intent": pi, "reason": "fraudulent", "status": status,
            "is_charge_refundable": false}),
    )
}
