//! E-mail texts per kind and language (de, en). A first fixed set; vendor-overridable templates
//! with merge fields (R-N2) replace these texts later.

use crate::outbox::{Email, EmailKind};

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
    let html = text
        .split("\n\n")
        .map(|paragraph| format!("<p>{}</p>", escape_html(paragraph.trim())))
        .collect::<String>();
    Email {
        to: c.to.to_string(),
        subject,
        text,
        html,
        kind: EmailKind::OrderConfirmation,
        language: if is_german(c.language) {
            "de".into()
        } else {
            "en".into()
        },
    }
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
