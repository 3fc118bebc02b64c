//! Use cases: load, decide with the domain, commit one decision in one transaction.

pub mod counters;
pub mod ports;

pub mod catalogue;
pub mod customers;
pub mod orders;
pub mod payments;
pub mod refunds;
pub mod tickets;
pub mod vendors;

use crate::domain::vendors::FieldErrors;
use crate::store::StoreError;
use std::future::Future;

/// What a use case can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    /// R-C6: a blocked customer cannot check out.
    #[error("the customer is blocked")]
    CustomerBlocked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often a decision is reloaded and retried when a concurrent write got there first
/// (a burst of checkouts of one vendor all claim the next order number).
const ATTEMPTS: u32 = 12;

/// Runs `attempt` again while it fails on contention (a version check or a transaction conflict).
pub async fn retry_on_contention<T, F, Fut>(mut attempt: F) -> Result<T, UseCaseError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UseCaseError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(UseCaseError::Store(error)) if error.is_contention() && tries < ATTEMPTS => {
                tries += 1
            }
            other => return other,
        }
    }
}
