//! E-mail through Amazon SESv2. The outbox id goes along as a message tag, so a repeat after a
//! crash between send and mark-sent can be recognised downstream.

use super::{DeliveryError, Mailer};
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
        }
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
            .send()
            .await
            .map_err(|e| DeliveryError::new("ses", e))?;
        Ok(())
    }
}
