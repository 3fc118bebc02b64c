//! sellerdesk: the domain, the ports, the use cases and the adapters every function shares.

pub mod api;
pub mod app;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod bootstrap;
pub mod domain;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod outbox;
pub mod payments;
pub mod store;
pub mod usecases;
pub mod webhooks;
