//! Use cases: load, decide with the domain, commit one decision in one transaction.

pub mod ports;

pub mod counters;
pub mod links;
pub mod listing;

pub mod catalogue;
pub mod customers;
pub mod orders;
pub mod payments;
pub mod refunds;
pub mod tickets;
pub mod vendors;
