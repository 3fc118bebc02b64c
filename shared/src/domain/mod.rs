//! The pure, synchronous domain: no I/O, no AWS types.

pub mod access;
pub mod calendar;
pub mod catalogue;
pub mod clock;
pub mod customer;
pub mod emails;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod order;
pub mod refund;
pub mod tax;
pub mod ticket;
pub mod ticket_emails;
pub mod token;
pub mod vendor;
