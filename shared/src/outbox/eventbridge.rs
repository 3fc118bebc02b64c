//! Domain events to an EventBridge bus: source `sellerdesk`, detail-type the event type, detail
//! `{id, vendor_id, data}` — `id` is the outbox id, the key for consumers to drop repeats.

use super::{DeliveryError, EventPublisher};
use crate::domain::ids::{OutboxId, VendorId};
use crate::domain::notifications::DomainEvent;
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chrono::{DateTime, Utc};

pub const EVENT_SOURCE: &str = "sellerdesk";

#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

#[derive(Debug, thiserror::Error)]
#[error("EventBridge refused the event: {code}")]
struct Refused {
    code: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> EventBridgePublisher {
        EventBridgePublisher {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(
        &self,
        id: &OutboxId,
        vendor: &VendorId,
        event: &DomainEvent,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let detail = event.envelope(id, vendor);
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(event.event_type.as_str())
            .detail(detail.to_string())
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                now.timestamp(),
            ))
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| DeliveryError::new("eventbridge", e))?;
        if output.failed_entry_count() > 0 {
            let code = output
                .entries()
                .iter()
                .find_map(|e| e.error_code().map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            return Err(DeliveryError::new("eventbridge", Refused { code }));
        }
        Ok(())
    }
}
