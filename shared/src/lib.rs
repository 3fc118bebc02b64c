//! sellerdesk: the domain, the ports, the use cases and the adapters every function shares.

#[cfg(feature = "aws")]
pub mod aws;
pub mod domain;
pub mod outbox;
pub mod store;
