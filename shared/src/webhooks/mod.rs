//! Payment-provider webhooks: verified on the raw bytes before anything is parsed (R-P1).

pub mod paypal_signature;
pub mod stripe_signature;
