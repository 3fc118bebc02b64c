//! E-mail texts per kind and language (de, en). A first fixed set; vendor-overridable templates
//! with merge fields (R-N2) replace these texts later.

use crate::domain::notifications::{Email, EmailKind};

/// German for `de`, English for everything else.
fn is_german(language: &str) -> bool {
    language.eq_ignore_ascii_case("de")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What an order confirmation needs to say.
pub struct OrderConfirmation<'a> {
    pub to: &'a str,
    pub language: &'a str,
    pub customer_name: &'a str,
    pub vendor_name: &'a str,
    pub order_number: &'a str,
    pub offer_name: &'a str,
    pub total: &'a str,
    pub customer_link: &'a str,
}

pub fn order_confirmation(c: &OrderConfirmation<'_>) -> Email {
    let (subject, text) = if is_german(c.language) {
        (
            format!("Ihre Bestellung {} bei {}", c.order_number, c.vendor_name),
            format!(
                "Hallo {},\n\nvielen Dank für Ihre Bestellung {} ({}), Gesamtbetrag {}.\n\nIhre Bestellung ansehen und bezahlen: {}\n",
                c.customer_name, c.order_number, c.offer_name, c.total, c.customer_link
            ),
        )
    } else {
        (
            format!("Your order {} with {}", c.order_number, c.vendor_name),
            format!(
                "Hello {},\n\nthank you for your order {} ({}), total {}.\n\nView and pay your order: {}\n",
                c.customer_name, c.order_number, c.offer_name, c.total, c.customer_link
            ),
        )
    };
    email(
        c.to,
        c.language,
        EmailKind::OrderConfirmation,
        subject,
        text,
    )
}

/// To the customer: the order's links were renewed (R-O4); the old link opens nothing now.
pub struct LinkRenewal<'a> {
    pub to: &'a str,
    pub language: &'a str,
    pub customer_name: &'a str,
    pub vendor_name: &'a str,
    pub order_number: &'a str,
    pub customer_link: &'a str,
}

pub fn order_link_renewed(n: &LinkRenewal<'_>) -> Email {
    let (subject, text) = if is_german(n.language) {
        (
            format!("Neuer Link zu Ihrer Bestellung {}", n.order_number),
            format!(
                "Hallo {},\n\n{} hat den Link zu Ihrer Bestellung {} erneuert; der bisherige Link öffnet sie nicht mehr.\n\nIhre Bestellung: {}\n",
                n.customer_name, n.vendor_name, n.order_number, n.customer_link
            ),
        )
    } else {
        (
            format!("New link to your order {}", n.order_number),
            format!(
                "Hello {},\n\n{} renewed the link to your order {}; the previous link no longer opens it.\n\nYour order: {}\n",
                n.customer_name, n.vendor_name, n.order_number, n.customer_link
            ),
        )
    };
    email(n.to, n.language, EmailKind::OrderLinkRenewed, subject, text)
}

/// What a payment receipt or a failed-payment notice says.
pub struct PaymentNotice<'a> {
    pub to: &'a str,
    pub language: &'a str,
    pub customer_name: &'a str,
    pub vendor_name: &'a str,
    pub order_number: &'a str,
    pub amount: &'a str,
    pub customer_link: &'a str,
}

fn html_of(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| format!("<p>{}</p>", escape_html(paragraph.trim())))
        .collect()
}

pub(crate) fn email(
    to: &str,
    language: &str,
    kind: EmailKind,
    subject: String,
    text: String,
) -> Email {
    Email {
        to: to.to_string(),
        html: html_of(&text),
        subject,
        text,
        kind,
        language: if is_german(language) {
            "de".into()
        } else {
            "en".into()
        },
    }
}

pub fn payment_receipt(n: &PaymentNotice<'_>) -> Email {
    let (subject, text) = if is_german(n.language) {
        (
            format!("Zahlungsbeleg {} – {}", n.order_number, n.vendor_name),
            format!(
                "Hallo {},\n\nwir haben Ihre Zahlung über {} für die Bestellung {} erhalten. Vielen Dank!\n\nIhre Bestellung: {}\n",
                n.customer_name, n.amount, n.order_number, n.customer_link
            ),
        )
    } else {
        (
            format!("Payment receipt {} – {}", n.order_number, n.vendor_name),
            format!(
                "Hello {},\n\nwe received your payment of {} for order {}. Thank you!\n\nYour order: {}\n",
                n.customer_name, n.amount, n.order_number, n.customer_link
            ),
        )
    };
    email(n.to, n.language, EmailKind::PaymentReceipt, subject, text)
}

pub fn payment_failed(n: &PaymentNotice<'_>) -> Email {
    failure_notice(
        n,
        (
            "Bitte zahlen Sie erneut oder ändern Sie die Zahlungsart:",
            "Please pay again or change the payment method:",
        ),
    )
}

/// A failed payment that the provider tries again itself (a subscription's renewal): the link
/// cannot pay it, so the notice does not ask for that (issue 15, review).
pub fn payment_failed_will_retry(n: &PaymentNotice<'_>) -> Email {
    failure_notice(
        n,
        (
            "Sie wird automatisch erneut versucht; bitte sorgen Sie dafür, dass Ihre Zahlungsart belastet werden kann.\n\nIhre Bestellung:",
            "It will be tried again automatically; please make sure your payment method can be charged.\n\nYour order:",
        ),
    )
}

/// A failed payment's notice; `next` (German, English) says what happens now, before the link.
fn failure_notice(n: &PaymentNotice<'_>, next: (&str, &str)) -> Email {
    let (subject, text) = if is_german(n.language) {
        (
            format!("Zahlung fehlgeschlagen: {}", n.order_number),
            format!(
                "Hallo {},\n\nIhre Zahlung über {} für die Bestellung {} ist fehlgeschlagen. {} {}\n",
                n.customer_name, n.amount, n.order_number, next.0, n.customer_link
            ),
        )
    } else {
        (
            format!("Payment failed: {}", n.order_number),
            format!(
                "Hello {},\n\nyour payment of {} for order {} failed. {} {}\n",
                n.customer_name, n.amount, n.order_number, next.1, n.customer_link
            ),
        )
    };
    email(n.to, n.language, EmailKind::PaymentFailed, subject, text)
}

/// When an instalment the customer pays through the link is due, as its request says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestTiming {
    /// Days ahead; `payable_now`: the vendor allows paying it early (else the link pays it
    /// from its day on).
    Ahead {
        payable_now: bool,
    },
    Today,
    /// Its day has passed (a plan paid late, a sweep after an outage).
    Overdue,
}

/// An instalment the customer pays through the link, due on `due_date`.
pub struct PaymentRequestNotice<'a> {
    pub payment: PaymentNotice<'a>,
    pub due_date: &'a str,
    pub timing: RequestTiming,
}

pub fn payment_request(r: &PaymentRequestNotice<'_>) -> Email {
    let n = &r.payment;
    let german = is_german(n.language);
    let (subject, when, pay) = match (r.timing, german) {
        (RequestTiming::Ahead { payable_now }, true) => (
            format!(
                "Am {} fällig: {} für {}",
                r.due_date, n.amount, n.order_number
            ),
            format!("ist am {} fällig", r.due_date),
            if payable_now {
                "Sie können sie schon jetzt hier bezahlen"
            } else {
                "Ab diesem Tag können Sie sie hier bezahlen"
            },
        ),
        (RequestTiming::Ahead { payable_now }, false) => (
            format!("Due on {}: {} for {}", r.due_date, n.amount, n.order_number),
            format!("is due on {}", r.due_date),
            if payable_now {
                "You can pay it now here"
            } else {
                "From that day you can pay it here"
            },
        ),
        (RequestTiming::Today, true) => (
            format!("Heute fällig: {} für {}", n.amount, n.order_number),
            "ist heute fällig".to_string(),
            "Bitte zahlen Sie hier",
        ),
        (RequestTiming::Today, false) => (
            format!("Due today: {} for {}", n.amount, n.order_number),
            "is due today".to_string(),
            "Please pay here",
        ),
        (RequestTiming::Overdue, true) => (
            format!("Überfällig: {} für {}", n.amount, n.order_number),
            format!("war am {} fällig und ist noch offen", r.due_date),
            "Bitte zahlen Sie hier",
        ),
        (RequestTiming::Overdue, false) => (
            format!("Overdue: {} for {}", n.amount, n.order_number),
            format!("was due on {} and is still open", r.due_date),
            "Please pay here",
        ),
    };
    let text = if german {
        format!(
            "Hallo {},\n\ndie nächste Rate über {} für die Bestellung {} bei {} {when}. {pay}: {}\n",
            n.customer_name, n.amount, n.order_number, n.vendor_name, n.customer_link
        )
    } else {
        format!(
            "Hello {},\n\nthe next instalment of {} for order {} with {} {when}. {pay}: {}\n",
            n.customer_name, n.amount, n.order_number, n.vendor_name, n.customer_link
        )
    };
    email(n.to, n.language, EmailKind::PaymentRequest, subject, text)
}

/// A refund's confirmation (R-R5), or the vendor's notice that it failed.
pub struct RefundNotice<'a> {
    pub to: &'a str,
    pub language: &'a str,
    pub vendor_name: &'a str,
    pub order_number: &'a str,
    pub amount: &'a str,
    /// No call reaches the payment's provider yet (R-R5): the refund is under way, not done.
    pub in_progress: bool,
    /// The refund ended the order's plan (R-R3): no further payments (issue 16, item 3).
    pub plan_ended: bool,
}

pub fn refund_confirmation(n: &RefundNotice<'_>) -> Email {
    let (subject, text) = if is_german(n.language) {
        (
            format!("Erstattung {} – {}", n.order_number, n.vendor_name),
            if n.in_progress {
                format!(
                    "Für die Bestellung {} ist die Erstattung über {} veranlasst und in Bearbeitung.\n",
                    n.order_number, n.amount
                )
            } else {
                format!(
                    "Für die Bestellung {} wurden {} erstattet. Die Gutschrift erscheint je nach Zahlungsart in einigen Tagen.\n",
                    n.order_number, n.amount
                )
            },
        )
    } else {
        (
            format!("Refund {} – {}", n.order_number, n.vendor_name),
            if n.in_progress {
                format!(
                    "The refund of {} for order {} is under way.\n",
                    n.amount, n.order_number
                )
            } else {
                format!(
                    "{} was refunded for order {}. Depending on the payment method it shows in a few days.\n",
                    n.amount, n.order_number
                )
            },
        )
    };
    let text = match (n.plan_ended, is_german(n.language)) {
        (false, _) => text,
        (true, true) => {
            format!("{text}\nDer Plan wurde damit beendet; es folgen keine weiteren Zahlungen.\n")
        }
        (true, false) => {
            format!("{text}\nThe plan ended with it; no further payments will be taken.\n")
        }
    };
    email(
        n.to,
        n.language,
        EmailKind::RefundConfirmation,
        subject,
        text,
    )
}

pub fn refund_failed(n: &RefundNotice<'_>) -> Email {
    let (subject, text) = if is_german(n.language) {
        (
            format!("Erstattung fehlgeschlagen: {}", n.order_number),
            format!(
                "Der Zahlungsanbieter hat die Erstattung über {} für die Bestellung {} nicht ausgeführt. Die Belastung Ihres Guthabens wurde zurückgenommen; bitte erstatten Sie auf anderem Weg.\n",
                n.amount, n.order_number
            ),
        )
    } else {
        (
            format!("Refund failed: {}", n.order_number),
            format!(
                "The payment provider did not carry out the refund of {} for order {}. The debit of your balance was reversed; please refund another way.\n",
                n.amount, n.order_number
            ),
        )
    };
    email(n.to, n.language, EmailKind::RefundFailed, subject, text)
}

/// What the vendor is told when the provider did not cancel a subscription (R-R4): no further
/// charges are due on our side, but the provider may still charge until it is stopped there.
pub struct CancellationNotice<'a> {
    pub to: &'a str,
    pub language: &'a str,
    pub order_number: &'a str,
    pub subscription: &'a str,
}

pub fn cancellation_failed(n: &CancellationNotice<'_>) -> Email {
    let (subject, text) = if is_german(n.language) {
        (
            format!("Kündigung nicht ausgeführt: {}", n.order_number),
            format!(
                "Der Zahlungsanbieter hat das Abonnement {} der Bestellung {} nicht gekündigt. Bitte kündigen Sie es dort, damit keine weiteren Zahlungen eingezogen werden; eingehende Zahlungen erstatten Sie bitte.\n",
                n.subscription, n.order_number
            ),
        )
    } else {
        (
            format!("Cancellation not carried out: {}", n.order_number),
            format!(
                "The payment provider did not cancel subscription {} of order {}. Please cancel it there so that no further payments are taken; refund any that arrive.\n",
                n.subscription, n.order_number
            ),
        )
    };
    email(
        n.to,
        n.language,
        EmailKind::CancellationFailed,
        subject,
        text,
    )
}

/// What the vendor is told when a customer disputes a charge.
pub struct DisputeNotice<'a> {
    pub to: &'a str,
    pub language: &'a str,
    pub order_number: &'a str,
    pub amount: &'a str,
    pub debited: &'a str,
    pub reason: &'a str,
}

pub fn dispute_opened(n: &DisputeNotice<'_>) -> Email {
    let (subject, text) = if is_german(n.language) {
        (
            format!("Zahlung angefochten: {}", n.order_number),
            format!(
                "Eine Zahlung über {} für die Bestellung {} wurde angefochten (Grund: {}).\n\nIhr Guthaben wurde mit {} belastet, der Zugang ist bis zur Klärung pausiert. Bitte reagieren Sie beim Zahlungsanbieter.\n",
                n.amount, n.order_number, n.reason, n.debited
            ),
        )
    } else {
        (
            format!("Payment disputed: {}", n.order_number),
            format!(
                "A payment of {} for order {} was disputed (reason: {}).\n\nYour balance was debited {} and access is paused until it is settled. Please respond at the payment provider.\n",
                n.amount, n.order_number, n.reason, n.debited
            ),
        )
    };
    email(n.to, n.language, EmailKind::DisputeOpened, subject, text)
}

/// A dispute decided (R-O10): `won` gives the debit back and restores access.
pub fn dispute_closed(n: &DisputeNotice<'_>, won: bool) -> Email {
    let (subject, text) = match (is_german(n.language), won) {
        (true, true) => (
            format!("Anfechtung gewonnen: {}", n.order_number),
            format!(
                "Die Anfechtung der Zahlung über {} für die Bestellung {} wurde zu Ihren Gunsten entschieden.\n\nDie Belastung von {} wurde Ihrem Guthaben wieder gutgeschrieben, der Zugang ist wieder aktiv.\n",
                n.amount, n.order_number, n.debited
            ),
        ),
        (true, false) => (
            format!("Anfechtung verloren: {}", n.order_number),
            format!(
                "Die Anfechtung der Zahlung über {} für die Bestellung {} wurde zugunsten des Kunden entschieden.\n\nDie Belastung von {} bleibt bestehen; der Betrag gilt als erstattet.\n",
                n.amount, n.order_number, n.debited
            ),
        ),
        (false, true) => (
            format!("Dispute won: {}", n.order_number),
            format!(
                "The dispute of a payment of {} for order {} was decided in your favour.\n\nThe debit of {} was credited back to your balance and access is active again.\n",
                n.amount, n.order_number, n.debited
            ),
        ),
        (false, false) => (
            format!("Dispute lost: {}", n.order_number),
            format!(
                "The dispute of a payment of {} for order {} was decided for the customer.\n\nThe debit of {} stays; the amount counts as refunded.\n",
                n.amount, n.order_number, n.debited
            ),
        ),
    };
    email(n.to, n.language, EmailKind::DisputeClosed, subject, text)
}

/// What the vendor is told when a mail to its customer was given up.
pub struct UndeliverableNotice<'a> {
    pub to: &'a str,
    pub language: &'a str,
    /// The customer's address the mail was for.
    pub recipient: &'a str,
    /// The lost mail's subject.
    pub subject: &'a str,
    /// Why: `bounce`, `complaint`, or the mail provider's error code.
    pub reason: &'a str,
}

pub fn mail_undeliverable(n: &UndeliverableNotice<'_>) -> Email {
    let german = is_german(n.language);
    let reason = match (n.reason, german) {
        ("bounce", true) => "die Adresse ist unzustellbar",
        ("bounce", false) => "the address bounced",
        ("complaint", true) => "eine frühere E-Mail wurde als Spam gemeldet",
        ("complaint", false) => "an earlier mail was marked as spam",
        (code, _) => code,
    };
    let (subject, text) = if german {
        (
            format!("E-Mail nicht zustellbar: {}", n.recipient),
            format!(
                "Die E-Mail „{}“ an {} konnte nicht zugestellt werden (Grund: {}). Bitte erreichen Sie die Kundin oder den Kunden auf anderem Weg und prüfen Sie die Adresse.\n",
                n.subject, n.recipient, reason
            ),
        )
    } else {
        (
            format!("Mail undeliverable: {}", n.recipient),
            format!(
                "The mail \"{}\" to {} could not be delivered (reason: {}). Please reach the customer another way and check the address.\n",
                n.subject, n.recipient, reason
            ),
        )
    };
    email(
        n.to,
        n.language,
        EmailKind::MailUndeliverable,
        subject,
        text,
    )
}

/// Why money reached an order that did not ask for it (R-O2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurplusReason {
    /// More than the order had open.
    Overpaid,
    /// The order was superseded by a newer checkout, which the customer may have paid too.
    SupersededOrderPaid,
    /// Paid in another currency than the order's: recorded, not counted against the order.
    OtherCurrency,
}

impl SurplusReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SurplusReason::Overpaid => "overpaid",
            SurplusReason::SupersededOrderPaid => "superseded_order_paid",
            SurplusReason::OtherCurrency => "other_currency",
        }
    }
}

pub struct SurplusNotice<'a> {
    pub to: &'a str,
    pub language: &'a str,
    pub order_number: &'a str,
    /// What arrived.
    pub paid: &'a str,
    /// What of it the order did not ask for.
    pub surplus: &'a str,
    pub reason: SurplusReason,
}

/// To the vendor (R-O2, issue 14 defect 6): money the order did not ask for; it is kept on the
/// order and can be refunded from the order card.
pub fn payment_surplus(n: &SurplusNotice<'_>) -> Email {
    let german = is_german(n.language);
    let subject = if german {
        format!("Zahlung prüfen: {}", n.order_number)
    } else {
        format!("Payment to check: {}", n.order_number)
    };
    let why = match (n.reason, german) {
        (SurplusReason::Overpaid, true) => format!(
            "Für die Bestellung {} gingen {} ein, {} mehr als offen war.",
            n.order_number, n.paid, n.surplus
        ),
        (SurplusReason::Overpaid, false) => format!(
            "A payment of {} arrived for order {}, {} more than was open.",
            n.paid, n.order_number, n.surplus
        ),
        (SurplusReason::SupersededOrderPaid, true) => format!(
            "Die Bestellung {} war durch eine neuere Bestellung derselben Kundin oder desselben Kunden ersetzt und wurde trotzdem mit {} bezahlt; sie ist wieder aktiv. Bitte prüfen Sie, ob auch die neuere Bestellung bezahlt wurde.",
            n.order_number, n.paid
        ),
        (SurplusReason::SupersededOrderPaid, false) => format!(
            "Order {} had been superseded by a newer checkout of the same customer and was paid {} after all; it is active again. Please check whether the newer order was paid too.",
            n.order_number, n.paid
        ),
        (SurplusReason::OtherCurrency, true) => format!(
            "Für die Bestellung {} gingen {} in einer anderen Währung ein. Der Betrag ist Ihrem Guthaben in dieser Währung gutgeschrieben, die Bestellung gilt dadurch nicht als bezahlt.",
            n.order_number, n.paid
        ),
        (SurplusReason::OtherCurrency, false) => format!(
            "A payment of {} in another currency arrived for order {}. It is credited to your balance in that currency; it does not count as paying the order.",
            n.paid, n.order_number
        ),
    };
    let advice = if german {
        "Der Betrag ist an der Bestellung vermerkt und kann dort erstattet werden."
    } else {
        "The amount is recorded on the order and can be refunded from it."
    };
    email(
        n.to,
        n.language,
        EmailKind::PaymentSurplus,
        subject,
        format!("{why}\n\n{advice}\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmation(language: &str) -> Email {
        order_confirmation(&OrderConfirmation {
            to: "anna@example.com",
            language,
            customer_name: "Anna <Test>",
            vendor_name: "Kurswerk",
            order_number: "SD-000001",
            offer_name: "Videokurs",
            total: "118.99 EUR",
            customer_link: "https://portal.example/orders/t",
        })
    }

    #[test]
    fn confirmations_speak_the_customers_language_and_escape_html() {
        let de = confirmation("de");
        assert!(de.subject.starts_with("Ihre Bestellung SD-000001"));
        assert!(
            de.text.contains("118.99 EUR") && de.text.contains("https://portal.example/orders/t")
        );
        assert!(de.html.contains("Anna &lt;Test&gt;"));
        assert_eq!(confirmation("fr").language, "en");
        assert!(confirmation("en").subject.starts_with("Your order"));
    }
}
