//! The suppression list (issue 11, §3): addresses that bounced for good or complained are never
//! mailed again. SES reports bounces and complaints of the configuration set the mailer sends
//! with to an SNS topic, which invokes the outbox dispatcher with them; the dispatcher looks every
//! recipient up before sending. Keyed by a digest of the address, so the list holds no address in
//! clear.

use crate::domain::token::SecretDigest;
use crate::store::{Condition, Item, ItemStore, Key, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// A permanent bounce: the address does not exist or refuses mail for good.
    Bounce,
    /// The recipient marked a mail as spam.
    Complaint,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Bounce => "bounce",
            SuppressionReason::Complaint => "complaint",
        }
    }
}

/// One address to suppress, as a bounce or complaint reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub address: String,
    pub reason: SuppressionReason,
    /// SES's feedback id, kept for the operator.
    pub feedback_id: Option<String>,
}

/// The record of a suppressed address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SuppressionRecord {
    reason: SuppressionReason,
    at: DateTime<Utc>,
    feedback_id: Option<String>,
}

/// An address as mail systems compare it: without surrounding space, case folded.
fn normalized(address: &str) -> String {
    address.trim().to_lowercase()
}

pub fn suppression_key(address: &str) -> Key {
    let digest = SecretDigest::of(&normalized(address)).to_hex();
    Key::new(format!("SUPPRESSED#{digest}"), "MAIL")
}

/// The suppressions an SES event record reports (`eventType`, or `notificationType` for an
/// identity's own notifications): every recipient of a permanent bounce, every recipient of a
/// complaint. Transient bounces (a full mailbox) and other events suppress nothing.
pub fn from_ses_event(event: &Value) -> Vec<Suppression> {
    let kind = event["eventType"]
        .as_str()
        .or_else(|| event["notificationType"].as_str());
    let (reason, recipients, feedback) = match kind {
        Some("Bounce") if event["bounce"]["bounceType"] == "Permanent" => (
            SuppressionReason::Bounce,
            &event["bounce"]["bouncedRecipients"],
            &event["bounce"]["feedbackId"],
        ),
        Some("Complaint") => (
            SuppressionReason::Complaint,
            &event["complaint"]["complainedRecipients"],
            &event["complaint"]["feedbackId"],
        ),
        _ => return Vec::new(),
    };
    recipients
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|recipient| recipient["emailAddress"].as_str())
        .map(|address| Suppression {
            address: address.to_string(),
            reason,
            feedback_id: feedback.as_str().map(str::to_string),
        })
        .collect()
}

/// The suppressions in a Lambda SNS event (`Records[].Sns.Message`, each an SES event record as
/// JSON text). Records of other sources (the table's stream) are not feedback.
pub fn from_sns_event(event: &Value) -> Vec<Suppression> {
    event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|record| record["EventSource"] == "aws:sns")
        .filter_map(|record| record["Sns"]["Message"].as_str())
        .filter_map(|message| serde_json::from_str::<Value>(message).ok())
        .flat_map(|ses_event| from_ses_event(&ses_event))
        .collect()
}

/// Puts the addresses on the list. SNS may deliver a notification twice: a repeat rewrites the
/// same record.
pub async fn record(
    store: &dyn ItemStore,
    suppressions: &[Suppression],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for suppression in suppressions {
        let key = suppression_key(&suppression.address);
        let record = SuppressionRecord {
            reason: suppression.reason,
            at: now,
            feedback_id: suppression.feedback_id.clone(),
        };
        let body = serde_json::to_value(&record).map_err(|source| StoreError::Malformed {
            key: key.clone(),
            source,
        })?;
        store.put(Item::new(key, body), Condition::Always).await?;
    }
    Ok(())
}

/// Why `address` is suppressed, if it is.
pub async fn lookup(
    store: &dyn ItemStore,
    address: &str,
) -> Result<Option<SuppressionReason>, StoreError> {
    match store.get(&suppression_key(address)).await? {
        Some(item) => Ok(Some(item.decode::<SuppressionRecord>()?.reason)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_permanent_bounce_suppresses_each_bounced_recipient() {
        let event = json!({"eventType": "Bounce", "bounce": {"bounceType": "Permanent",
            "feedbackId": "fb-1", "bouncedRecipients": [{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}]}});
        let found = from_ses_event(&event);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].reason, SuppressionReason::Bounce);
        assert_eq!(found[1].address, "b@example.com");
        assert_eq!(found[0].feedback_id.as_deref(), Some("fb-1"));
    }

    #[test]
    fn a_transient_bounce_and_a_delivery_suppress_nothing() {
        let transient = json!({"eventType": "Bounce", "bounce": {"bounceType": "Transient",
            "bouncedRecipients": [{"emailAddress": "a@example.com"}]}});
        assert!(from_ses_event(&transient).is_empty());
        assert!(from_ses_event(&json!({"eventType": "Delivery"})).is_empty());
    }

    #[test]
    fn a_complaint_suppresses_its_recipients_also_as_an_identity_notification() {
        let event = json!({"notificationType": "Complaint", "complaint": {
            "complainedRecipients": [{"emailAddress": "c@example.com"}]}});
        assert_eq!(
            from_ses_event(&event)[0].reason,
            SuppressionReason::Complaint
        );
    }

    #[test]
    fn addresses_are_one_entry_whatever_their_case() {
        assert_eq!(
            suppression_key(" Anna@Example.COM"),
            suppression_key("anna@example.com")
        );
        assert!(!suppression_key("anna@example.com").pk.contains("anna"));
    }

    #[test]
    fn stream_records_are_not_feedback() {
        let stream = json!({"Records": [{"eventSource": "aws:dynamodb", "dynamodb": {}}]});
        assert!(from_sns_event(&stream).is_empty());
    }
}
