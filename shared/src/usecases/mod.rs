//! Use cases: load, decide with the domain, commit one decision in one transaction.
//!
//! `ports` is where every use case starts (the ports it is handed, its error, retries, loading a
//! vendor or an order); the other files are what several concepts share (counters, secret links,
//! list pages). Each folder is one concept; a concept imports only those listed before it here
//! and the shared files, never one that imports it back.

pub mod ports;

pub mod counters;
pub mod links;
pub mod listing;
pub mod limits;

pub mod catalogue;
pub mod customers;
pub mod vendors;
pub mod orders;
pub mod refunds;
pub mod payments;
pub mod tickets;
