//! E-mail through Amazon SESv2. The outbox id goes along as a message tag, so a repeat after a
//! crash between send and mark-sent can be recognised downstream.

use super::{DeliveryError, FailureKind, Mailer};
use crate::domain::ids::OutboxId;
use crate::domain::notifications::Email;
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use chrono::{DateTime, Utc};

#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Client,
    from: String,
    /// Sends through this configuration set, whose bounce and complaint events SES reports.
    configuration_set: Option<String>,
}

fn utf8(text: &str) -> Result<Content, DeliveryError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| DeliveryError::new("ses", e))
}

impl SesMailer {
    pub fn new(client: Client, from: impl Into<String>) -> SesMailer {
        SesMailer {
            client,
            from: from.into(),
            configuration_set: None,
        }
    }

    pub fn with_configuration_set(mut self, name: Option<String>) -> SesMailer {
        self.configuration_set = name;
        self
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(
        &self,
        id: &OutboxId,
        email: &Email,
        _now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        let tag = MessageTag::builder()
            .name("outbox_id")
            .value(id.as_str())
            .build()
            .map_err(|e| DeliveryError::new("ses", e))?;
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .email_tags(tag)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|error| {
                use aws_sdk_sesv2::error::ProvideErrorMetadata;
                let code = error.code().map(str::to_string);
                let said = error.message().map_or_else(
                    || aws_sdk_sesv2::error::DisplayErrorContext(&error).to_string(),
                    str::to_string,
                );
                DeliveryError::classified("ses", classify(code.as_deref()), code, SesSaid(said))
            })?;
        Ok(())
    }
}

/// What SES said about a refused send (kept on the item for the operator; never logged).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SesSaid(String);

/// What an SES error code means for the dispatcher. Rate and quota errors pass with time;
/// refusals of this message or of our sender do not; anything else (timeouts, 5xx) may pass.
pub fn classify(code: Option<&str>) -> FailureKind {
    match code {
        Some(
            "TooManyRequestsException"
            | "LimitExceededException"
            | "Throttling"
            | "ThrottlingException"
            | "SendingPausedException",
        ) => FailureKind::Throttled,
        Some(
            "MessageRejected"
            | "MailFromDomainNotVerifiedException"
            | "BadRequestException"
            | "NotFoundException"
            | "AccountSuspendedException",
        ) => FailureKind::Permanent,
        _ => FailureKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 11, §3: a quota breach waits, a refusal fails at once, the rest is retried.
    #[test]
    fn ses_errors_are_classified_by_their_code() {
        assert_eq!(
            classify(Some("TooManyRequestsException")),
            FailureKind::Throttled
        );
        assert_eq!(
            classify(Some("LimitExceededException")),
            FailureKind::Throttled
        );
        assert_eq!(classify(Some("MessageRejected")), FailureKind::Permanent);
        assert_eq!(
            classify(Some("MailFromDomainNotVerifiedException")),
            FailureKind::Permanent
        );
        assert_eq!(classify(Some("InternalFailure")), FailureKind::Transient);
        assert_eq!(classify(None), FailureKind::Transient);
    }
}
