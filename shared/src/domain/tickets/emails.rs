//! Ticket e-mails in the one format of R-T9: why at the top, then the newest comment, the link,
//! the ticket's details, the order's details, and the whole comment history at the bottom —
//! to the customer (with the ticket link) and to the vendor's support address (with the ticket id).

use crate::domain::notifications::{Email, EmailKind};
use crate::domain::tickets::{CloseReason, Party, Ticket, TicketState, TicketType};

/// What happened, which decides the notice and the kind (R-N3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketNews {
    Opened,
    Reply,
    TypeChanged,
    Closed,
    /// `refund_possible`: the customer could turn the ticket into a refund request now (the
    /// customer's copy says so only then).
    InactivityWarning {
        refund_possible: bool,
    },
    RefundExecuted {
        amount: String,
        /// The refund of a plan's charge ended the plan (R-R3).
        plan_ended: bool,
    },
    /// Executed on our side, but no call reaches its provider yet (R-R5): the platform holds the
    /// money and the refund is in progress.
    RefundInProgress {
        amount: String,
        plan_ended: bool,
    },
    /// Due, but the refund could not run (issue 16, item 1): `why` in the reader's words.
    NotExecutable {
        why: NotExecutableWhy,
    },
    /// Due, but the plan had ended already (issue 16, item 2).
    NothingToCancel,
    /// R-O10: a chargeback is open, so the request closes without a refund.
    ClosedDisputed,
    /// R-R1: a vendor's own refund request came due, but the available balance does not cover
    /// its net part: it stays open and is tried again daily.
    RefundWaitsForBalance {
        needed: String,
        available: String,
    },
    CancellationExecuted,
}

impl TicketNews {
    fn kind(&self) -> EmailKind {
        match self {
            TicketNews::Opened => EmailKind::TicketOpened,
            TicketNews::Reply => EmailKind::TicketReply,
            TicketNews::TypeChanged => EmailKind::TicketChanged,
            TicketNews::Closed => EmailKind::TicketClosed,
            TicketNews::InactivityWarning { .. } => EmailKind::TicketInactivityWarning,
            TicketNews::RefundExecuted { .. } | TicketNews::RefundInProgress { .. } => {
                EmailKind::RefundConfirmation
            }
            TicketNews::ClosedDisputed
            | TicketNews::NotExecutable { .. }
            | TicketNews::NothingToCancel => EmailKind::TicketClosed,
            TicketNews::RefundWaitsForBalance { .. } => EmailKind::TicketChanged,
            TicketNews::CancellationExecuted => EmailKind::CancellationConfirmation,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    Customer,
    Vendor,
}

/// The order as a ticket e-mail describes it.
pub struct OrderFacts<'a> {
    pub number: &'a str,
    pub offer_name: &'a str,
    pub total: &'a str,
    pub vendor_name: &'a str,
}

pub struct TicketMail<'a> {
    pub to: &'a str,
    pub language: &'a str,
    pub recipient: Recipient,
    pub news: &'a TicketNews,
    pub ticket: &'a Ticket,
    pub order: &'a OrderFacts<'a>,
    /// The recipient's own ticket link: the customer's, or the vendor's (acting as the vendor,
    /// R-T9); without one the mail names the ticket id.
    pub ticket_link: Option<&'a str>,
    /// The vendor's time zone: every time in the mail is its wall time, with its name (R-M3).
    pub zone: chrono_tz::Tz,
}

/// A time as the vendor's wall time with the zone's name: `2026-11-24 10:00 Europe/Berlin`.
fn wall_time(at: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
    format!(
        "{} {}",
        at.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
        zone.name()
    )
}

struct Words {
    german: bool,
}

impl Words {
    fn pick<'a>(&self, de: &'a str, en: &'a str) -> &'a str {
        if self.german { de } else { en }
    }

    fn author(&self, party: Party) -> &'static str {
        match (party, self.german) {
            (Party::Customer, true) => "Kunde",
            (Party::Customer, false) => "Customer",
            (Party::Vendor, true) => "Anbieter",
            (Party::Vendor, false) => "Vendor",
            (Party::Api, true) => "Anbieter (Helpdesk)",
            (Party::Api, false) => "Vendor (help desk)",
        }
    }

    /// The subject's few words: what happened, not the whole notice (issue 16, item 9).
    fn title(&self, news: &TicketNews, ticket: &Ticket) -> &'static str {
        match news {
            TicketNews::Opened => self.pick("Neues Ticket", "New ticket"),
            TicketNews::Reply => self.pick("Neue Antwort", "New reply"),
            TicketNews::TypeChanged => self.pick("Ticket geändert", "Ticket changed"),
            TicketNews::Closed => match ticket.close_reason {
                Some(CloseReason::Inactive) => self.pick(
                    "Ticket wegen Inaktivität geschlossen",
                    "Ticket closed for inactivity",
                ),
                _ => self.pick("Ticket geschlossen", "Ticket closed"),
            },
            TicketNews::InactivityWarning { .. } => {
                self.pick("Ticket wird bald geschlossen", "Ticket closes soon")
            }
            TicketNews::RefundExecuted { .. } => {
                self.pick("Erstattung ausgeführt", "Refund executed")
            }
            TicketNews::RefundInProgress { .. } => {
                self.pick("Erstattung in Bearbeitung", "Refund under way")
            }
            TicketNews::NotExecutable { .. } => {
                self.pick("Erstattung nicht ausgeführt", "Refund not executed")
            }
            TicketNews::NothingToCancel => self.pick("Nichts zu kündigen", "Nothing to cancel"),
            TicketNews::ClosedDisputed => self.pick(
                "Ticket geschlossen: Rückbuchung offen",
                "Ticket closed: chargeback open",
            ),
            TicketNews::RefundWaitsForBalance { .. } => {
                self.pick("Erstattung wartet auf Guthaben", "Refund waits for balance")
            }
            TicketNews::CancellationExecuted => {
                self.pick("Abonnement gekündigt", "Subscription cancelled")
            }
        }
    }

    /// Why the ticket was closed, in the reader's words (issue 16, item 9).
    fn closed(&self, ticket: &Ticket, recipient: Recipient) -> &'static str {
        match (ticket.close_reason, recipient) {
            (Some(CloseReason::ClosedByCustomer), Recipient::Customer) => self.pick(
                "Sie haben das Ticket geschlossen.",
                "You closed the ticket.",
            ),
            (Some(CloseReason::ClosedByCustomer), Recipient::Vendor) => self.pick(
                "Der Kunde hat das Ticket geschlossen.",
                "The customer closed the ticket.",
            ),
            (Some(CloseReason::ClosedByVendor), Recipient::Customer) => self.pick(
                "Der Anbieter hat das Ticket geschlossen.",
                "The vendor closed the ticket.",
            ),
            (Some(CloseReason::ClosedByVendor), Recipient::Vendor) => self.pick(
                "Sie haben das Ticket geschlossen.",
                "You closed the ticket.",
            ),
            (Some(CloseReason::Inactive), _) => self.pick(
                "Das Ticket wurde geschlossen, weil es längere Zeit keine Antwort gab.",
                "The ticket was closed because there was no reply for a while.",
            ),
            (Some(CloseReason::Executed), _) => self.pick(
                "Die Anfrage wurde ausgeführt; das Ticket ist geschlossen.",
                "The request was executed; the ticket is closed.",
            ),
            (Some(CloseReason::NotExecutable | CloseReason::NothingToCancel), _) => self.pick(
                "Die Anfrage wurde nicht ausgeführt; das Ticket ist geschlossen.",
                "The request was not executed; the ticket is closed.",
            ),
            (None, _) => self.pick("Das Ticket wurde geschlossen.", "The ticket was closed."),
        }
    }

    fn state(&self, state: TicketState) -> &'static str {
        match state {
            TicketState::Open => self.pick("offen", "open"),
            TicketState::Closed => self.pick("geschlossen", "closed"),
        }
    }

    fn kind(&self, kind: TicketType) -> &'static str {
        match kind {
            TicketType::Support => self.pick("Support", "support"),
            TicketType::Refund => self.pick("Erstattung", "refund"),
            TicketType::Cancel => self.pick("Kündigung", "cancellation"),
        }
    }

    fn notice(&self, news: &TicketNews, ticket: &Ticket, recipient: Recipient) -> String {
        let text = match news {
            TicketNews::Opened => self.pick("Ein neues Ticket wurde eröffnet.", "A new ticket was opened."),
            TicketNews::Reply => self.pick("Es gibt eine neue Antwort.", "There is a new reply."),
            TicketNews::TypeChanged => self.pick("Die Art des Tickets wurde geändert.", "The ticket's type was changed."),
            TicketNews::Closed => self.closed(ticket, recipient),
            TicketNews::InactivityWarning {
                refund_possible: true,
            } if recipient == Recipient::Customer => self.pick(
                "Dieses Ticket ist seit einiger Zeit ohne Antwort und wird bald automatisch geschlossen. Sie können es jederzeit in eine Erstattungsanfrage umwandeln.",
                "This ticket has had no reply for a while and will be closed automatically soon. You can turn it into a refund request at any time.",
            ),
            TicketNews::InactivityWarning { .. } => self.pick(
                "Dieses Ticket ist seit einiger Zeit ohne Antwort und wird bald automatisch geschlossen.",
                "This ticket has had no reply for a while and will be closed automatically soon.",
            ),
            TicketNews::RefundExecuted { amount, plan_ended } => {
                let done = if self.german {
                    format!("Die Erstattung über {amount} wurde ausgeführt.")
                } else {
                    format!("The refund of {amount} was executed.")
                };
                return self.with_plan_end(done, *plan_ended);
            }
            TicketNews::RefundInProgress { amount, plan_ended } => {
                let done = if self.german {
                    format!("Die Erstattung über {amount} ist veranlasst und in Bearbeitung.")
                } else {
                    format!("The refund of {amount} is under way.")
                };
                return self.with_plan_end(done, *plan_ended);
            }
            TicketNews::NotExecutable { why } => {
                let why = match why {
                    NotExecutableWhy::NothingToRefund => self.pick(
                        "es ist nichts mehr zu erstatten",
                        "nothing is left to refund",
                    ),
                    NotExecutableWhy::WindowPassed => self.pick(
                        "die Frist für Erstattungen war bei der Anfrage schon abgelaufen",
                        "the refund period had already ended when it was asked for",
                    ),
                    NotExecutableWhy::NotRefundable => self.pick(
                        "die Bestellung kann nicht erstattet werden",
                        "the order cannot be refunded",
                    ),
                };
                return if self.german {
                    format!("Die Erstattung wurde nicht ausgeführt: {why}. Das Ticket wurde geschlossen.")
                } else {
                    format!("The refund was not executed: {why}. The ticket was closed.")
                };
            }
            TicketNews::NothingToCancel => self.pick(
                "Es gab nichts zu kündigen: der Plan war schon beendet. Das Ticket wurde geschlossen.",
                "There was nothing to cancel: the plan had already ended. The ticket was closed.",
            ),
            TicketNews::RefundWaitsForBalance { needed, available } => {
                return if self.german {
                    format!("Die Erstattung kann noch nicht ausgeführt werden: das verfügbare Guthaben ({available}) deckt den Nettobetrag ({needed}) nicht. Sie wird täglich erneut versucht; das Ticket bleibt offen.")
                } else {
                    format!("The refund cannot be executed yet: the available balance ({available}) does not cover its net part ({needed}). It is tried again daily; the ticket stays open.")
                };
            }
            TicketNews::ClosedDisputed => self.pick(
                "Zu dieser Bestellung ist eine Rückbuchung offen; bis sie entschieden ist, ist keine Erstattung möglich. Das Ticket wurde geschlossen.",
                "A chargeback is open on this order; until it is decided no refund can be made. The ticket was closed.",
            ),
            TicketNews::CancellationExecuted => self.pick(
                "Das Abonnement wurde gekündigt; es folgen keine weiteren Zahlungen.",
                "The subscription was cancelled; no further payments will be taken.",
            ),
        };
        text.to_string()
    }
}

/// Why a due refund request did not run (issue 16, item 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotExecutableWhy {
    NothingToRefund,
    WindowPassed,
    NotRefundable,
}

impl Words {
    /// A refund's notice, and that the plan ended with it (R-R3; issue 16, item 3).
    fn with_plan_end(&self, done: String, plan_ended: bool) -> String {
        if !plan_ended {
            return done;
        }
        let ended = self.pick(
            "Der Plan wurde damit beendet; es folgen keine weiteren Zahlungen.",
            "The plan ended with it; no further payments will be taken.",
        );
        format!("{done} {ended}")
    }
}

/// How much of the history (characters) a ticket mail carries beside its newest comment.
pub const HISTORY_CHARS: usize = 20_000;

pub fn ticket_email(mail: &TicketMail<'_>) -> Email {
    let words = Words {
        german: mail.language.eq_ignore_ascii_case("de"),
    };
    let ticket = mail.ticket;
    let subject = format!(
        "[{}] {} – {} {}",
        mail.order.vendor_name,
        words.title(mail.news, ticket),
        words.pick("Bestellung", "Order"),
        mail.order.number
    );
    let mut text = format!("{}\n\n", words.notice(mail.news, ticket, mail.recipient));
    if let Some(newest) = ticket.comments.last() {
        text.push_str(&format!(
            "{} ({}, {}):\n{}\n\n",
            words.pick("Neuester Kommentar", "Newest comment"),
            words.author(newest.author),
            wall_time(newest.at, mail.zone),
            newest.body
        ));
    }
    match mail.ticket_link {
        Some(link) => text.push_str(&format!(
            "{}: {link}\n\n",
            words.pick("Zum Ticket", "Open the ticket")
        )),
        None => text.push_str(&format!(
            "{}: {}\n\n",
            words.pick("Ticket-Nummer", "Ticket id"),
            ticket.id
        )),
    }
    text.push_str(&format!(
        "{}: {} · {}: {} · {}: {}",
        words.pick("Art", "Type"),
        words.kind(ticket.ticket_type),
        words.pick("Status", "State"),
        words.state(ticket.state),
        words.pick("Eröffnet", "Opened"),
        wall_time(ticket.opened_at, mail.zone),
    ));
    if let Some(due) = ticket.due_at {
        text.push_str(&format!(
            " · {}: {}",
            words.pick("Fällig", "Due"),
            wall_time(due, mail.zone)
        ));
    }
    text.push_str(&format!(
        "\n{} {}: {}, {} {}\n\n{}:\n",
        words.pick("Bestellung", "Order"),
        mail.order.number,
        mail.order.offer_name,
        words.pick("Gesamt", "total"),
        mail.order.total,
        words.pick("Verlauf", "History"),
    ));
    // The history's newest comments, as many as fit a bounded mail (issue 12, §3); the rest
    // are on the ticket's page behind its link.
    let mut budget = HISTORY_CHARS;
    let shown = ticket
        .comments
        .iter()
        .rev()
        .take_while(|comment| {
            let size = comment.body.chars().count();
            let fits = size <= budget;
            budget = budget.saturating_sub(size);
            fits
        })
        .count();
    let earlier = ticket.comments.len() - shown;
    if earlier > 0 {
        text.push_str(&format!(
            "({earlier} {})\n",
            words.pick(
                "frühere Kommentare stehen im Ticket",
                "earlier comments are on the ticket"
            )
        ));
    }
    for comment in &ticket.comments[earlier..] {
        text.push_str(&format!(
            "— {} ({}):\n{}\n",
            words.author(comment.author),
            wall_time(comment.at, mail.zone),
            comment.body
        ));
    }
    crate::domain::notifications::emails::email(
        mail.to,
        mail.language,
        mail.news.kind(),
        subject,
        text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{OrderId, SeededEntropy, TicketId, VendorId};
    use crate::domain::tickets::{NewTicket, Policy, TicketType};
    use chrono::{DateTime, Duration};

    // Issue 12, §3: a conversation of the largest comments stays one storable item, and its
    // mails carry a bounded tail of it with the link
    #[test]
    fn a_ticket_of_huge_comments_stays_bounded_and_so_do_its_mails() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .to_utc();
        let e = SeededEntropy::new(4);
        let policy = Policy {
            tz: chrono_tz::Europe::Berlin,
            restricted: false,
        };
        let huge = "<".repeat(crate::domain::tickets::MAX_MESSAGE_CHARS);
        let new = NewTicket {
            id: TicketId::generate(now, &e),
            vendor_id: VendorId::generate(now, &e),
            order_id: OrderId::generate(now, &e),
            ticket_type: TicketType::Support,
            by: Party::Customer,
            body: &huge,
        };
        let mut ticket = Ticket::open(new, now, policy).unwrap();
        let mut refused = None;
        for n in 1..40 {
            if let Err(error) = ticket.comment(Party::Customer, &huge, now + Duration::minutes(n)) {
                refused = Some(error);
                break;
            }
        }
        assert_eq!(refused, Some(crate::domain::tickets::TicketError::Full));
        let stored = serde_json::to_string(&ticket).unwrap();
        assert!(stored.len() < 300 * 1024, "{}", stored.len());
        let order = OrderFacts {
            number: "SD-000007",
            offer_name: "Videokurs",
            total: "11.89 EUR",
            vendor_name: "Kurswerk",
        };
        let mail = ticket_email(&TicketMail {
            to: "a@example.com",
            language: "de",
            recipient: Recipient::Customer,
            news: &TicketNews::InactivityWarning {
                refund_possible: true,
            },
            ticket: &ticket,
            order: &order,
            ticket_link: Some("https://portal.example/tickets/tok"),
            zone: chrono_tz::Europe::Berlin,
        });
        let size = serde_json::to_string(&mail).unwrap().len();
        assert!(size < 200 * 1024, "{size}");
        assert!(mail.text.contains("https://portal.example/tickets/tok"));
        assert!(mail.text.contains("frühere Kommentare stehen im Ticket"));
    }

    // R-T9
    #[test]
    fn every_ticket_mail_has_why_newest_link_details_and_history_in_that_order() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .to_utc();
        let e = SeededEntropy::new(3);
        let policy = Policy {
            tz: chrono_tz::Europe::Berlin,
            restricted: false,
        };
        let new = NewTicket {
            id: TicketId::generate(now, &e),
            vendor_id: VendorId::generate(now, &e),
            order_id: OrderId::generate(now, &e),
            ticket_type: TicketType::Support,
            by: Party::Customer,
            body: "Der Download geht nicht",
        };
        let mut ticket = Ticket::open(new, now, policy).unwrap();
        ticket
            .comment(
                Party::Vendor,
                "Bitte nochmal versuchen",
                now + Duration::hours(1),
            )
            .unwrap();
        let order = OrderFacts {
            number: "SD-000007",
            offer_name: "Videokurs",
            total: "11.89 EUR",
            vendor_name: "Kurswerk",
        };
        let news = TicketNews::InactivityWarning {
            refund_possible: true,
        };
        let mail = |recipient, language, link| {
            ticket_email(&TicketMail {
                to: "a@example.com",
                language,
                recipient,
                news: &news,
                ticket: &ticket,
                order: &order,
                ticket_link: link,
                zone: chrono_tz::Europe::Berlin,
            })
        };
        let customer = mail(
            Recipient::Customer,
            "de",
            Some("https://portal.example/tickets/tok"),
        );
        let text = &customer.text;
        let positions: Vec<usize> = [
            "Sie können es jederzeit in eine Erstattungsanfrage umwandeln",
            "Neuester Kommentar (Anbieter",
            "Zum Ticket: https://portal.example/tickets/tok",
            "Art: Support",
            "Bestellung SD-000007: Videokurs",
            "Verlauf:",
            "Der Download geht nicht",
        ]
        .iter()
        .map(|part| {
            text.find(part)
                .unwrap_or_else(|| panic!("missing {part:?} in {text}"))
        })
        .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(customer.kind, EmailKind::TicketInactivityWarning);
        // the vendor's copy names the ticket, never the customer's link, and no refund hint
        let vendor = mail(Recipient::Vendor, "en", None);
        assert!(vendor.text.contains(&format!("Ticket id: {}", ticket.id)));
        assert!(!vendor.text.contains("refund request"));
        assert!(vendor.subject.contains("Order SD-000007"));
        // R-M3 (issue 13, defect 5): times are the vendor's wall time, with the zone's name
        assert!(
            text.contains("Eröffnet: 2026-11-23 10:00 Europe/Berlin"),
            "{text}"
        );
        assert!(
            text.contains("(Anbieter, 2026-11-23 11:00 Europe/Berlin)"),
            "{text}"
        );
        assert!(!text.contains("UTC"), "{text}");
    }

    // R-T9 (issue 16, item 9): a close says why — the customer, the vendor, inactivity — each in
    // the reader's words; a German mail says its details in German; subjects stay short
    #[test]
    fn each_close_reason_has_its_own_notice_in_the_readers_language() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .to_utc();
        let e = SeededEntropy::new(5);
        let policy = Policy {
            tz: chrono_tz::Europe::Berlin,
            restricted: false,
        };
        let open = || {
            Ticket::open(
                NewTicket {
                    id: TicketId::generate(now, &e),
                    vendor_id: VendorId::generate(now, &e),
                    order_id: OrderId::generate(now, &e),
                    ticket_type: TicketType::Support,
                    by: Party::Customer,
                    body: "Frage",
                },
                now,
                policy,
            )
            .unwrap()
        };
        let order = OrderFacts {
            number: "SD-000007",
            offer_name: "Videokurs",
            total: "11.89 EUR",
            vendor_name: "Kurswerk",
        };
        let mail = |ticket: &Ticket, news: &TicketNews, recipient, language| {
            ticket_email(&TicketMail {
                to: "a@example.com",
                language,
                recipient,
                news,
                ticket,
                order: &order,
                ticket_link: None,
                zone: chrono_tz::Europe::Berlin,
            })
        };
        let mut by_customer = open();
        by_customer.close(Party::Customer, now, policy).unwrap();
        let mut by_vendor = open();
        by_vendor.close(Party::Vendor, now, policy).unwrap();
        let mut inactive = open();
        for days in [30, 40, 50] {
            inactive.fire_due(now + Duration::days(days), chrono_tz::Europe::Berlin);
        }
        assert_eq!(inactive.close_reason, Some(CloseReason::Inactive));
        let first_line = |email: Email| email.text.lines().next().unwrap_or_default().to_string();
        let notices: Vec<String> = [&by_customer, &by_vendor, &inactive]
            .into_iter()
            .flat_map(|ticket| {
                [Recipient::Customer, Recipient::Vendor]
                    .map(|to| first_line(mail(ticket, &TicketNews::Closed, to, "en")))
            })
            .collect();
        assert_eq!(
            notices,
            [
                "You closed the ticket.",
                "The customer closed the ticket.",
                "The vendor closed the ticket.",
                "You closed the ticket.",
                "The ticket was closed because there was no reply for a while.",
                "The ticket was closed because there was no reply for a while.",
            ]
        );
        let german = mail(&by_vendor, &TicketNews::Closed, Recipient::Customer, "de");
        assert!(
            german.text.contains("Art: Support · Status: geschlossen"),
            "{}",
            german.text
        );
        assert!(!german.text.contains("Closed"), "{}", german.text);
        let warning = mail(
            &open(),
            &TicketNews::InactivityWarning {
                refund_possible: true,
            },
            Recipient::Customer,
            "de",
        );
        assert_eq!(
            warning.subject,
            "[Kurswerk] Ticket wird bald geschlossen – Bestellung SD-000007"
        );
    }
}
