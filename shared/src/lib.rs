//! sellerdesk: the domain, the ports, the use cases and the adapters every function shares.

pub mod domain;
pub mod store;
