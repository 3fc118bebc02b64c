//! sellerdesk: the domain, the ports, the use cases and the adapters every function shares.

pub mod domain;
pub mod store;
#[cfg(feature = "aws")]
pub mod aws;
pub mod outbox;
