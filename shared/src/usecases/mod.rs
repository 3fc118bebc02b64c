//! Use cases: load, decide with the domain, commit one decision in one transaction.

pub mod vendors;
