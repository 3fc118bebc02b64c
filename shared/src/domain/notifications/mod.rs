//! Notifications (R-N1–R-N5): the e-mails and domain events a decision emits. The outbox stores
//! and sends them; the domain owns what they say.

pub mod emails;

use crate::domain::ids::{OutboxId, VendorId};
use serde::{Deserialize, Serialize};

/// The e-mail kinds of R-N3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    OrderConfirmation,
    PaymentReceipt,
    PaymentFailed,
    PaymentReminder,
    RefundConfirmation,
    CancellationConfirmation,
    TicketOpened,
    TicketReply,
    TicketChanged,
    TicketClosed,
    TicketInactivityWarning,
    VendorMessage,
    Campaign,
    EmailChanged,
    InvoiceCopy,
    /// To the vendor: a customer disputed a charge (beyond R-N3's list: "vendor told").
    DisputeOpened,
    /// To the vendor: a dispute was decided — won (the debit given back) or lost.
    DisputeClosed,
    /// To the vendor: the provider did not carry out a refund; its debit was reversed (R-R5).
    RefundFailed,
    /// To the vendor: the provider did not cancel a subscription; it must be stopped there.
    CancellationFailed,
    /// To the vendor: a mail to its customer could not be delivered and was given up.
    MailUndeliverable,
    /// To the vendor: money came that the order did not ask for (R-O2): more than was open, a
    /// superseded order paid after all, or money in another currency.
    PaymentSurplus,
    /// To the customer: an instalment is due soon or today and no saved payment method pays it
    /// (issue 15, defect 1; seed 001's "Zahlungsaufforderung per E-Mail"), with the pay link.
    PaymentRequest,
    /// To the customer: the order's links were renewed (R-O4); the new customer link.
    OrderLinkRenewed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub kind: EmailKind,
    pub language: String,
}

/// The domain events of R-N4, published to the event bus for integrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.paid")]
    OrderPaid,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "payment.overdue")]
    PaymentOverdue,
    #[serde(rename = "refund.executed")]
    RefundExecuted,
    #[serde(rename = "subscription.cancelled")]
    SubscriptionCancelled,
    #[serde(rename = "ticket.opened")]
    TicketOpened,
    #[serde(rename = "ticket.closed")]
    TicketClosed,
    #[serde(rename = "order.disputed")]
    OrderDisputed,
    #[serde(rename = "order.dispute_closed")]
    DisputeClosed,
    #[serde(rename = "refund.failed")]
    RefundFailed,
    #[serde(rename = "subscription.cancel_failed")]
    CancellationFailed,
    #[serde(rename = "customer.blocked")]
    CustomerBlocked,
    #[serde(rename = "order.payment_surplus")]
    PaymentSurplus,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderPaid => "order.paid",
            EventType::PaymentFailed => "payment.failed",
            EventType::PaymentOverdue => "payment.overdue",
            EventType::RefundExecuted => "refund.executed",
            EventType::SubscriptionCancelled => "subscription.cancelled",
            EventType::TicketOpened => "ticket.opened",
            EventType::TicketClosed => "ticket.closed",
            EventType::OrderDisputed => "order.disputed",
            EventType::DisputeClosed => "order.dispute_closed",
            EventType::RefundFailed => "refund.failed",
            EventType::CancellationFailed => "subscription.cancel_failed",
            EventType::CustomerBlocked => "customer.blocked",
            EventType::PaymentSurplus => "order.payment_surplus",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Message {
    Email(Email),
    Event(DomainEvent),
}

impl Message {
    /// The message without its content (an e-mail's text and HTML, an event's detail), which
    /// may hold secret links: what a sent message is kept as.
    pub fn redacted(self) -> Message {
        match self {
            Message::Email(email) => Message::Email(Email {
                text: String::new(),
                html: String::new(),
                ..email
            }),
            Message::Event(event) => Message::Event(DomainEvent {
                detail: serde_json::Value::Null,
                ..event
            }),
        }
    }
}

impl DomainEvent {
    /// What integrations receive as the event's detail: the outbox id (to drop repeats), the
    /// vendor, and the event's own data. The same on EventBridge and in the dev outbox.
    pub fn envelope(&self, id: &OutboxId, vendor: &VendorId) -> serde_json::Value {
        serde_json::json!({ "id": id, "vendor_id": vendor, "data": self.detail })
    }
}
