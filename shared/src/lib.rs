//! sellerdesk: the domain, the ports, the use cases and the adapters every function shares.
//! The layers below are listed bottom up; each imports only the ones above it in this list.

/// Pure rules of DOMAIN.md (no I/O): kernels as files, one folder per concept.
pub mod domain;
/// The item-store port, its key layout, and the SQLite (embedded) and DynamoDB adapters.
pub mod store;
/// Outbox items written with each decision; the dispatcher and its SESv2/EventBridge/local channels.
pub mod outbox;
/// The payment-provider port (sessions, refunds, cancellations) and the Stripe REST adapter.
pub mod payments;
/// Provider webhook signatures (Stripe HMAC, PayPal certificates), checked on the raw bytes.
pub mod webhooks;
/// Use cases: load, decide with the domain, commit one decision in one transaction; by concept.
pub mod usecases;
/// The HTTP contract: requests, errors, the one route table and the edge around it.
pub mod api;
/// Thin handlers: a matched route and a request in, a use case called, a response out; the
/// OpenAPI document of what they read and answer.
pub mod app;
/// AWS SDK configuration, loaded once per cold start.
#[cfg(feature = "aws")]
pub mod aws;
/// Wiring of the AWS adapters into an `App` from the environment.
#[cfg(feature = "aws")]
pub mod bootstrap;
/// The function-URL glue every Lambda binary calls.
#[cfg(feature = "lambda")]
pub mod lambda;
