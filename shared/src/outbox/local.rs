//! The dev server's channels: sent e-mails and events are kept in the store under `DEV#OUTBOX`
//! (browsable at `GET /_dev/outbox`), each created at most once per outbox id.

use super::{DeliveryError, EventPublisher, Mailer};
use crate::domain::ids::{OutboxId, VendorId};
use crate::domain::notifications::{DomainEvent, Email};
use crate::store::{Condition, Item, ItemStore, Key, Query, SortRange, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const PARTITION: &str = "DEV#OUTBOX";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub kind: crate::domain::notifications::EmailKind,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct LocalOutbox {
    store: Arc<dyn ItemStore>,
}

impl LocalOutbox {
    pub fn new(store: Arc<dyn ItemStore>) -> LocalOutbox {
        LocalOutbox { store }
    }

    async fn record(&self, sk: String, body: serde_json::Value) -> Result<(), DeliveryError> {
        let item = Item::new(Key::new(PARTITION, sk), body);
        match self.store.put(item, Condition::Absent).await {
            // Already recorded under this outbox id: a repeat, not a second message.
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(error) => Err(DeliveryError::new("local outbox", error)),
        }
    }

    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::table(PARTITION, SortRange::Prefix(prefix.into())).after(cursor);
            let page = self.store.query(&query).await?;
            for item in &page.items {
                all.push(item.decode()?);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Everything sent so far, oldest first.
    pub async fn emails(&self) -> Result<Vec<SentEmail>, StoreError> {
        self.list("EMAIL#").await
    }

    pub async fn events(&self) -> Result<Vec<PublishedEvent>, StoreError> {
        self.list("EVENT#").await
    }
}

#[async_trait]
impl Mailer for LocalOutbox {
    async fn send(
        &self,
        id: &OutboxId,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let sent = SentEmail {
            to: email.to.clone(),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
            kind: email.kind,
            sent_at: now,
        };
        let body = serde_json::to_value(sent).map_err(|e| DeliveryError::new("local outbox", e))?;
        self.record(format!("EMAIL#{id}"), body).await
    }
}

#[async_trait]
impl EventPublisher for LocalOutbox {
    async fn publish(
        &self,
        id: &OutboxId,
        vendor: &VendorId,
        event: &DomainEvent,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let published = PublishedEvent {
            event_type: event.event_type.as_str().to_string(),
            detail: event.envelope(id, vendor),
            at: now,
        };
        let body =
            serde_json::to_value(published).map_err(|e| DeliveryError::new("local outbox", e))?;
        self.record(format!("EVENT#{id}"), body).await
    }
}
