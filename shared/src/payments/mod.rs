//! The payment-provider port: what the back office asks of a provider (start a payment, refund,
//! cancel a plan). Every call carries an idempotency key, so a retry never charges or refunds
//! twice. Outcomes arrive later by webhook; a call's answer only says the provider took it.

pub mod form;
pub mod https;
pub mod stripe_api;
pub mod stripe_units;

use crate::domain::catalogue::Interval;
use crate::domain::ids::{CustomerId, OrderId, VendorId};
use crate::domain::money::Money;
use crate::domain::orders::SavedMethod;
use async_trait::async_trait;

/// A payment page for an order's open amount (R-P4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSessionRequest {
    /// Whose order: travels in the provider's metadata, so the platform's one webhook route
    /// finds the vendor (all payments run on the platform's account).
    pub vendor_id: VendorId,
    pub order_id: OrderId,
    /// Travels in the provider's metadata beside the order id: its webhooks then read the order
    /// and the customer in one round trip.
    pub customer_id: CustomerId,
    pub order_number: String,
    pub description: String,
    pub amount: Money,
    pub customer_email: String,
    /// `Some`: the first payment of a subscription, renewing at this interval.
    pub renews_every: Option<Interval>,
    /// Where the provider sends the customer after paying; `{CHECKOUT_SESSION_ID}` is Stripe's
    /// placeholder for its session. Never the customer link: its token would sit in the
    /// provider's records and the browser's history.
    pub success_url: String,
    /// Where the provider sends the customer who goes back without paying.
    pub cancel_url: String,
    /// The customer-link token (the dev server's simulated provider pays by it).
    pub order_token: String,
    pub idempotency_key: String,
    /// `Some`: later instalments are charged to the payment method used now (issue 15): the
    /// provider saves it for off-session use, and the page shows this consent text.
    pub save_for_later: Option<String>,
}

/// One instalment charged to the customer's saved payment method while they are away (issue
/// 15, defect 1). The provider's payment is created first and its id recorded, then confirmed,
/// so a retry days later confirms the same payment and never makes a second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffSessionPayment {
    pub vendor_id: VendorId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub order_number: String,
    pub description: String,
    /// The schedule item it pays (also in the provider's metadata).
    pub seq: u32,
    pub amount: Money,
    pub method: SavedMethod,
    /// The order's customer e-mail (the dev server's simulated provider declines `+decline`).
    pub customer_email: String,
    pub idempotency_key: String,
}

/// Where a confirmed off-session payment stands; its money or failure arrives as the usual
/// events either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffSessionOutcome {
    Succeeded,
    /// Taken, not yet settled (a bank debit).
    Processing,
    /// The card was declined (R-P2): the failure event counts the attempt.
    Declined {
        code: String,
    },
    /// The bank wants the customer (3-D Secure): only the payment link can pay it.
    NeedsCustomer,
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSession {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub vendor_id: VendorId,
    /// The provider's payment to refund: a payment intent (`pi_…`) or a charge (`ch_…`).
    pub payment: String,
    pub amount: Money,
    pub order_id: OrderId,
    /// Our refund id: the idempotency key and the provider's metadata, so its webhook finds it.
    pub refund_id: String,
    /// Which part of the refund (one per payment it returns money of); also in the key.
    pub part: u32,
}

impl RefundRequest {
    /// The provider's idempotency key: the refund's id, with its part after the first.
    pub fn idempotency_key(&self) -> String {
        match self.part {
            0 => self.refund_id.clone(),
            part => format!("{}-{part}", self.refund_id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    pub id: String,
    pub state: RefundState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelSubscriptionRequest {
    pub subscription: String,
    pub idempotency_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("no payment provider is configured")]
    NotConfigured,
    #[error("the provider refused the request ({status}): {code}")]
    Rejected { status: u16, code: String },
    #[error("the provider could not be reached")]
    Transport(#[source] https::TransportError),
    #[error("the provider's answer is not what we expect")]
    Malformed(#[source] serde_json::Error),
    #[error("the amount cannot be expressed in the provider's units")]
    Amount(#[source] stripe_units::StripeUnitsError),
}

impl ProviderError {
    /// Whether trying again later may succeed: no answer, or the provider's own trouble (5xx),
    /// throttling (429) or a request with the same key still running (409). Any other refusal
    /// is for good.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Transport(_) | ProviderError::Malformed(_) => true,
            ProviderError::Rejected { status, .. } => {
                *status == 429 || *status == 409 || *status >= 500
            }
            ProviderError::NotConfigured | ProviderError::Amount(_) => false,
        }
    }
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    async fn create_payment_session(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError>;

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError>;

    async fn cancel_subscription(
        &self,
        request: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError>;

    /// Creates, unconfirmed, the provider's payment of one instalment: its id.
    async fn create_off_session_payment(
        &self,
        request: &OffSessionPayment,
    ) -> Result<String, ProviderError>;

    /// Confirms the payment `create_off_session_payment` made, unless it was confirmed before
    /// (then answers where it stands): calling it again never charges twice.
    async fn confirm_off_session_payment(
        &self,
        payment: &str,
        idempotency_key: &str,
    ) -> Result<OffSessionOutcome, ProviderError>;

    /// Cancels a payment `create_off_session_payment` made that is no longer wanted: `true`
    /// when it is cancelled (or was), `false` when it was charged already.
    async fn cancel_off_session_payment(&self, payment: &str) -> Result<bool, ProviderError>;
}

/// Where no provider is configured: every call answers `NotConfigured`, nothing is pretended.
pub struct NoProvider;

#[async_trait]
impl PaymentProvider for NoProvider {
    async fn create_payment_session(
        &self,
        _request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn refund(&self, _request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn cancel_subscription(
        &self,
        _request: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn create_off_session_payment(
        &self,
        _request: &OffSessionPayment,
    ) -> Result<String, ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn confirm_off_session_payment(
        &self,
        _payment: &str,
        _idempotency_key: &str,
    ) -> Result<OffSessionOutcome, ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn cancel_off_session_payment(&self, _payment: &str) -> Result<bool, ProviderError> {
        Err(ProviderError::NotConfigured)
    }
}
