//! E-mails about an order's money, addressed to its customer in their language with their link.

use crate::domain::customers::Customer;
use crate::domain::money::Money;
use crate::domain::notifications::Email;
use crate::domain::notifications::emails::{PaymentNotice, PaymentRequestNotice, RequestTiming};
use crate::domain::orders::Order;
use crate::domain::token::{LinkKeys, TokenError};
use crate::domain::vendors::Vendor;
use crate::usecases::links::current_order_link;

pub fn payment_notice(
    vendor: &Vendor,
    link_keys: &LinkKeys,
    order: &Order,
    customer: &Customer,
    amount: Money,
    build: fn(&PaymentNotice<'_>) -> Email,
) -> Result<Email, TokenError> {
    notice_with(vendor, link_keys, order, customer, amount, |notice| {
        build(notice)
    })
}

/// Issue 15, defect 1: an instalment to pay through the link, due on `due_at`.
pub fn payment_request_notice(
    vendor: &Vendor,
    link_keys: &LinkKeys,
    order: &Order,
    customer: &Customer,
    amount: Money,
    due_at: chrono::DateTime<chrono::Utc>,
    timing: RequestTiming,
) -> Result<Email, TokenError> {
    let due_date = due_at
        .with_timezone(&order.calendar())
        .format("%Y-%m-%d")
        .to_string();
    notice_with(vendor, link_keys, order, customer, amount, |payment| {
        crate::domain::notifications::emails::payment_request(&PaymentRequestNotice {
            payment: PaymentNotice { ..*payment },
            due_date: &due_date,
            timing,
        })
    })
}

/// The notice's facts — the customer's language, name and current link — handed to `build`.
fn notice_with(
    vendor: &Vendor,
    link_keys: &LinkKeys,
    order: &Order,
    customer: &Customer,
    amount: Money,
    build: impl FnOnce(&PaymentNotice<'_>) -> Email,
) -> Result<Email, TokenError> {
    let link = current_order_link(link_keys, vendor, order)?;
    let language = customer
        .language
        .clone()
        .unwrap_or_else(|| vendor.default_language.clone());
    let name = order.buyer_name(customer);
    Ok(build(&PaymentNotice {
        to: order.recipient(customer),
        language: &language,
        customer_name: &name,
        vendor_name: &vendor.name,
        order_number: &order.number,
        amount: &amount.to_string(),
        customer_link: &link,
    }))
}
