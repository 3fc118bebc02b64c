//! Support tickets with their timed rules (R-T0–R-T8): pure state changes. Every change takes
//! `now` and the vendor's time zone and returns what happened; the one timer a ticket has next
//! (execution, an inactivity warning, auto-close) is derived from its state, so a sweep that
//! runs twice finds nothing more to do.

pub mod emails;

use crate::domain::calendar::{add_business_days, defer_off_weekend};
use crate::domain::ids::{OrderId, TicketId, VendorId};
use crate::domain::validation::has_control_characters;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketType {
    Support,
    Refund,
    Cancel,
}

impl TicketType {
    /// Refund and cancel tickets are executed when due (R-T1, R-T5).
    pub fn is_request(self) -> bool {
        matches!(self, TicketType::Refund | TicketType::Cancel)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    Open,
    Closed,
}

/// Who acted: the customer (ticket link), the vendor (API key, dashboard) or a help desk
/// through the vendor's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Customer,
    Vendor,
    Api,
}

impl Party {
    fn is_vendor_side(self) -> bool {
        matches!(self, Party::Vendor | Party::Api)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Awaiting {
    Vendor,
    Customer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    ClosedByCustomer,
    ClosedByVendor,
    /// The refund or cancellation was executed (R-T5).
    Executed,
    /// No activity (R-T6, R-T7).
    Inactive,
    /// Due, but the request could not run (nothing left to refund, the window passed, a
    /// chargeback open): nothing was refunded (issue 16, item 1).
    NotExecutable,
    /// Due, but the plan had ended already: nothing was cancelled (issue 16, item 2).
    NothingToCancel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub author: Party,
    pub body: String,
    pub at: DateTime<Utc>,
    /// `platform`: written by the platform for the author (a request taken by phone, seed 004;
    /// issue 16, item 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub vendor_id: VendorId,
    pub order_id: OrderId,
    #[serde(rename = "type")]
    pub ticket_type: TicketType,
    pub state: TicketState,
    pub opened_by: Party,
    pub opened_at: DateTime<Utc>,
    /// When a refund/cancel ticket is executed (R-T1–R-T4); `None` for support tickets.
    pub due_at: Option<DateTime<Utc>>,
    /// When the refund/cancel request was made (opened as one, or turned into one): the refund
    /// window counts to here (R-R2), whenever it is executed.
    #[serde(default)]
    pub requested_at: Option<DateTime<Utc>>,
    /// The last comment or type change: inactivity counts from here (R-T8).
    pub last_activity: DateTime<Utc>,
    pub awaiting: Awaiting,
    /// Inactivity warnings sent since the last activity.
    pub warnings_sent: u32,
    /// When the latest of them went out: a late one (a sweep after an outage) moves what
    /// follows, so each warning precedes the next step by the normal gap (issue 16, item 5).
    #[serde(default)]
    pub last_warned_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<CloseReason>,
    pub comments: Vec<Comment>,
    /// Bumped to revoke the ticket link (R-O4 properties).
    pub link_generation: u32,
    /// The link key the ticket link is derived with (rotation keeps older links working).
    #[serde(default)]
    pub link_key: crate::domain::token::LinkKeyId,
    /// Times a vendor's own refund request came due while the available balance did not cover
    /// it (R-R1): it stays open and is tried again a day later.
    #[serde(default)]
    pub balance_waits: u32,
    /// The calendar its timers keep (R-T1's weekends, R-T7's business days): the vendor's time
    /// zone when it was opened, so a later change of the vendor's zone moves no timer already
    /// running — what the ticket shows and when the sweep fires stay one. Tickets from before
    /// carry none and keep the vendor's current zone.
    #[serde(default)]
    pub zone: Option<String>,
}

/// What the platform knows about the vendor when a rule depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub tz: Tz,
    /// R-V4, R-T3.
    pub restricted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is closed")]
    Closed,
    #[error("a restricted vendor cannot close tickets or change their type")]
    VendorRestricted,
    #[error("the ticket already has this type")]
    SameType,
    #[error("only the customer can turn a ticket into a refund or cancel request")]
    OnlyCustomerRequests,
    #[error("the message is empty, longer than 10 000 characters or holds control characters")]
    BadMessage,
    #[error("the ticket holds as much conversation as it can; open a new one")]
    Full,
}

/// The longest comment.
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// The most a ticket's comments may hold (UTF-8 bytes), so the ticket stays one item well
/// under the store's 400 KB, its views under ~350 KB, whatever the comments hold.
pub const MAX_CONVERSATION_BYTES: usize = 150_000;
/// The most comments a ticket holds.
pub const MAX_COMMENTS: usize = 200;

fn message(body: &str) -> Result<String, TicketError> {
    let body = body.trim();
    if body.is_empty()
        || body.chars().count() > MAX_MESSAGE_CHARS
        || has_control_characters(body, true)
    {
        return Err(TicketError::BadMessage);
    }
    Ok(body.to_string())
}

/// When a refund/cancel request becomes due (R-T1, R-T2, R-T3, R-T4).
pub fn request_due_at(by: Party, from: DateTime<Utc>, policy: Policy) -> DateTime<Utc> {
    if by.is_vendor_side() || policy.restricted {
        from + Duration::minutes(5)
    } else {
        defer_off_weekend(from + Duration::hours(24), policy.tz)
    }
}

/// What opening a ticket takes.
pub struct NewTicket<'a> {
    pub id: TicketId,
    pub vendor_id: VendorId,
    pub order_id: OrderId,
    pub ticket_type: TicketType,
    pub by: Party,
    pub body: &'a str,
}

/// The one timer a ticket has next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// R-T5: execute the refund or cancellation.
    Execute(DateTime<Utc>),
    /// R-T6, R-T7: warn both sides.
    Warn(DateTime<Utc>),
    /// R-T6, R-T7: close for inactivity.
    AutoClose(DateTime<Utc>),
}

impl Timer {
    pub fn at(self) -> DateTime<Utc> {
        match self {
            Timer::Execute(at) | Timer::Warn(at) | Timer::AutoClose(at) => at,
        }
    }
}

/// What a sweep did to a ticket whose timer was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    Execute(TicketType),
    Warned,
    AutoClosed,
}

impl Ticket {
    /// A new ticket; the opener's message is its first comment.
    pub fn open(
        new: NewTicket<'_>,
        now: DateTime<Utc>,
        policy: Policy,
    ) -> Result<Ticket, TicketError> {
        let body = message(new.body)?;
        let by = new.by;
        Ok(Ticket {
            id: new.id,
            vendor_id: new.vendor_id,
            order_id: new.order_id,
            ticket_type: new.ticket_type,
            state: TicketState::Open,
            opened_by: by,
            opened_at: now,
            due_at: new
                .ticket_type
                .is_request()
                .then(|| request_due_at(by, now, policy)),
            requested_at: new.ticket_type.is_request().then_some(now),
            last_activity: now,
            awaiting: awaiting_after(by),
            warnings_sent: 0,
            last_warned_at: None,
            closed_at: None,
            close_reason: None,
            comments: vec![Comment {
                author: by,
                body,
                at: now,
                via: None,
            }],
            link_generation: 0,
            link_key: Default::default(),
            balance_waits: 0,
            zone: Some(policy.tz.name().to_string()),
        })
    }

    /// The calendar its timers keep: its own zone, else `fallback` (the vendor's).
    pub fn calendar(&self, fallback: Tz) -> Tz {
        self.zone
            .as_deref()
            .and_then(|name| name.parse().ok())
            .unwrap_or(fallback)
    }

    fn ensure_open(&self) -> Result<(), TicketError> {
        match self.state {
            TicketState::Open => Ok(()),
            TicketState::Closed => Err(TicketError::Closed),
        }
    }

    /// R-T8: a comment resets the inactivity timers; the other side is awaited.
    pub fn comment(
        &mut self,
        by: Party,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TicketError> {
        self.ensure_open()?;
        let body = message(body)?;
        let held: usize = self.comments.iter().map(|c| c.body.len()).sum();
        if self.comments.len() >= MAX_COMMENTS || held + body.len() > MAX_CONVERSATION_BYTES {
            return Err(TicketError::Full);
        }
        self.comments.push(Comment {
            author: by,
            body,
            at: now,
            via: None,
        });
        self.awaiting = awaiting_after(by);
        self.touch(now);
        Ok(())
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.last_activity = now;
        self.warnings_sent = 0;
        self.last_warned_at = None;
    }

    /// R-T4: a request turned into support is no refund (its timer is cancelled); support turned
    /// into a request — by the customer — is due as if opened now. A restricted vendor can do
    /// neither (R-T3).
    pub fn change_type(
        &mut self,
        to: TicketType,
        by: Party,
        now: DateTime<Utc>,
        policy: Policy,
    ) -> Result<(), TicketError> {
        self.ensure_open()?;
        if by.is_vendor_side() && policy.restricted {
            return Err(TicketError::VendorRestricted);
        }
        if to == self.ticket_type {
            return Err(TicketError::SameType);
        }
        // R-T4: the vendor may only close a request or turn it into support — never make one,
        // nor turn a refund into a cancellation or back (issue 16, item 1).
        if to.is_request() && by.is_vendor_side() {
            return Err(TicketError::OnlyCustomerRequests);
        }
        self.due_at = match (to.is_request(), self.ticket_type.is_request()) {
            (false, _) => None,
            // refund ↔ cancel keeps the time already running
            (true, true) => self.due_at,
            (true, false) => Some(request_due_at(by, now, policy)),
        };
        self.requested_at = match (to.is_request(), self.ticket_type.is_request()) {
            (false, _) => None,
            (true, true) => self.requested_at,
            (true, false) => Some(now),
        };
        self.ticket_type = to;
        self.touch(now);
        Ok(())
    }

    /// Either side closes (R-T4: a request closed before it is due saves the sale).
    pub fn close(
        &mut self,
        by: Party,
        now: DateTime<Utc>,
        policy: Policy,
    ) -> Result<(), TicketError> {
        self.ensure_open()?;
        if by.is_vendor_side() && policy.restricted {
            return Err(TicketError::VendorRestricted);
        }
        let reason = if by.is_vendor_side() {
            CloseReason::ClosedByVendor
        } else {
            CloseReason::ClosedByCustomer
        };
        self.finish(reason, now);
        Ok(())
    }

    /// A due request that could not run closes saying so, never as `executed` (issue 16).
    pub fn not_executed(&mut self, reason: CloseReason) {
        if self.close_reason == Some(CloseReason::Executed) {
            self.close_reason = Some(reason);
        }
    }

    fn finish(&mut self, reason: CloseReason, now: DateTime<Utc>) {
        self.state = TicketState::Closed;
        self.closed_at = Some(now);
        self.close_reason = Some(reason);
        self.due_at = None;
    }

    /// The next timer of an open ticket (R-T1–R-T7).
    pub fn next_timer(&self, tz: Tz) -> Option<Timer> {
        if self.state == TicketState::Closed {
            return None;
        }
        if self.ticket_type.is_request() {
            return self.due_at.map(Timer::Execute);
        }
        let last = self.last_activity;
        // The step after a warning comes no sooner than the normal gap after it went out.
        let after_warning =
            |scheduled: DateTime<Utc>, gap: &dyn Fn(DateTime<Utc>) -> DateTime<Utc>| {
                self.last_warned_at
                    .map_or(scheduled, |warned| scheduled.max(gap(warned)))
            };
        let two_days = |warned: DateTime<Utc>| warned + Duration::hours(48);
        let seven_business_days = |warned: DateTime<Utc>| add_business_days(warned, 7, tz);
        Some(match (self.awaiting, self.warnings_sent) {
            (Awaiting::Vendor, 0) => Timer::Warn(last + Duration::hours(48)),
            (Awaiting::Vendor, 1) => {
                Timer::Warn(after_warning(last + Duration::hours(96), &two_days))
            }
            (Awaiting::Vendor, _) => Timer::AutoClose(defer_off_weekend(
                after_warning(last + Duration::hours(144), &two_days),
                tz,
            )),
            (Awaiting::Customer, 0) => Timer::Warn(add_business_days(last, 7, tz)),
            (Awaiting::Customer, _) => Timer::AutoClose(after_warning(
                add_business_days(last, 14, tz),
                &seven_business_days,
            )),
        })
    }

    /// Fires the next timer if it is due at `now`; `None` when nothing is due (a second sweep).
    /// An executed request is closed here; the caller executes it in the same transaction.
    /// R-R1 for a vendor's own refund request (issue 13, defect 8): the available balance does
    /// not cover it when due, so it stays open and comes due again after `retry_in`. Answers
    /// whether this is the first time (both sides are told then, not every day).
    pub fn wait_for_balance(&mut self, now: DateTime<Utc>, retry_in: chrono::Duration) -> bool {
        self.due_at = Some(now + retry_in);
        self.balance_waits += 1;
        self.balance_waits == 1
    }

    pub fn fire_due(&mut self, now: DateTime<Utc>, tz: Tz) -> Option<Fired> {
        let timer = self.next_timer(tz).filter(|timer| timer.at() <= now)?;
        Some(match timer {
            Timer::Execute(_) => {
                let executed = self.ticket_type;
                self.finish(CloseReason::Executed, now);
                Fired::Execute(executed)
            }
            Timer::Warn(_) => {
                self.warnings_sent += 1;
                self.last_warned_at = Some(now);
                Fired::Warned
            }
            Timer::AutoClose(_) => {
                self.finish(CloseReason::Inactive, now);
                Fired::AutoClosed
            }
        })
    }
}

/// Who is awaited after `by` spoke.
fn awaiting_after(by: Party) -> Awaiting {
    if by.is_vendor_side() {
        Awaiting::Customer
    } else {
        Awaiting::Vendor
    }
}

#[cfg(test)]
mod tests;
