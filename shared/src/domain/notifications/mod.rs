//! Notifications (R-N1–R-N5): the e-mails and domain events a decision emits. The outbox stores
//! and sends them; the domain owns what they say.

pub mod emails;
