//! The pure, synchronous domain: no I/O, no AWS types. The files here are the shared kernels
//! (money and tax, countries, ids, clock, calendar, tokens, field errors); each folder is one concept of DOMAIN.md,
//! listed so that each imports only kernels and the concepts before it.

pub mod calendar;
pub mod clock;
pub mod country;
pub mod ids;
pub mod money;
pub mod vat_id;
pub mod tax;
pub mod token;
pub mod validation;

pub mod notifications;
pub mod vendors;
pub mod catalogue;
pub mod customers;
pub mod orders;
pub mod refunds;
pub mod tickets;
