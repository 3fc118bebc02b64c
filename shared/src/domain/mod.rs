//! The pure, synchronous domain: no I/O, no AWS types. The files here are the shared kernels
//! (money and tax, ids, clock, calendar, tokens); each folder is one concept of DOMAIN.md.

pub mod calendar;
pub mod clock;
pub mod ids;
pub mod money;
pub mod tax;
pub mod token;

pub mod catalogue;
pub mod customers;
pub mod notifications;
pub mod orders;
pub mod refunds;
pub mod tickets;
pub mod vendors;
