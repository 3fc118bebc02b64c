//! The dev server's own routes (never in a Lambda build): the clock, sweeps, the sent outbox.

use crate::simulated_provider;
use http::StatusCode;
use sellerdesk::api::routes::{Matched, RouteId};
use sellerdesk::api::{ApiError, ApiRequest, ApiResponse};
use sellerdesk::domain::clock::{Clock, SettableClock, parse_duration};
use sellerdesk::domain::validation::FieldErrors;
use sellerdesk::outbox::dispatch::Dispatcher;
use sellerdesk::outbox::local::LocalOutbox;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub struct DevTools {
    pub app: sellerdesk::app::App,
    pub clock: Arc<SettableClock>,
    pub dispatcher: Arc<Dispatcher>,
    pub local_outbox: LocalOutbox,
    /// What the simulated provider signs its webhooks with (the platform's endpoint secret).
    pub stripe_webhook_secret: String,
    /// The simulated provider: the events it owes go out after each sweep.
    pub simulated: Arc<simulated_provider::SimulatedProvider>,
    /// Held for a whole sweep cycle: `/_dev/sweep` waits for a background cycle in flight, so
    /// what it answers has happened by the time it answers.
    pub sweeping: tokio::sync::Mutex<()>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClock {
    now: Option<String>,
    advance: Option<String>,
    /// `true`: the clock stands still until moved; `false`: it runs on (the default).
    frozen: Option<bool>,
}

/// The dev clock stays where every time it produces is an RFC 3339 instant the domain can add
/// periods to (a huge `advance` overflowed and stopped the server's clock).
const CLOCK_RANGE: &str = "would move the clock outside 2000-01-01..2100-01-01";

fn within_clock_range(at: chrono::DateTime<chrono::Utc>) -> Option<chrono::DateTime<chrono::Utc>> {
    let earliest = chrono::DateTime::from_timestamp(946_684_800, 0)?;
    let latest = chrono::DateTime::from_timestamp(4_102_444_800, 0)?;
    (earliest..latest).contains(&at).then_some(at)
}

fn field_error(field: &str, message: &str) -> ApiError {
    ApiError::validation(FieldErrors::from([(
        field.to_string(),
        message.to_string(),
    )]))
}

fn internal(error: impl std::error::Error) -> ApiError {
    tracing::error!(error = %error, "dev route failed");
    ApiError::internal()
}

impl DevTools {
    /// One sweep cycle, as the Scheduler runs it on AWS, by the injected clock: the timers and
    /// tasks due, the events the simulated provider owes, the renewals it bills, the outbox.
    /// One cycle at a time; a failing step is logged and the others still run.
    pub async fn sweep(&self) -> Result<serde_json::Value, ApiError> {
        let _one_at_a_time = self.sweeping.lock().await;
        let sweeps = self.app.run_sweeps().await;
        simulated_provider::send_owed_events(
            &self.app,
            &self.simulated,
            &self.stripe_webhook_secret,
        )
        .await;
        simulated_provider::bill_due_renewals(&self.app, &self.stripe_webhook_secret).await;
        let outbox = self.dispatcher.dispatch_due().await.map_err(internal)?;
        let sweeps = sweeps.map_err(|error| {
            tracing::error!(error = %error, "sweep failed");
            ApiError::from(error)
        })?;
        Ok(
            json!({ "tickets": sweeps.tickets, "provider": sweeps.provider, "collection": sweeps.collection, "outbox": outbox }),
        )
    }

    pub async fn respond(&self, matched: &Matched, request: &ApiRequest) -> ApiResponse {
        let session = matched
            .params
            .get("session")
            .map(String::as_str)
            .unwrap_or_default();
        match matched.route_id {
            RouteId::DevPayPage => return simulated_provider::page(&self.app, session).await,
            RouteId::DevPay => {
                return simulated_provider::pay(
                    &self.app,
                    &self.stripe_webhook_secret,
                    session,
                    request,
                )
                .await
                .unwrap_or_else(|error| error.to_response());
            }
            _ => {}
        }
        self.dispatch(matched.route_id, request)
            .await
            .unwrap_or_else(|error| error.to_response())
    }

    async fn dispatch(
        &self,
        route: RouteId,
        request: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        match route {
            RouteId::GetClock => Ok(self.clock_answer()),
            RouteId::SetClock => {
                let body: SetClock = request.json()?;
                match (body.now, body.advance) {
                    (Some(now), None) => {
                        let at = chrono::DateTime::parse_from_rfc3339(&now)
                            .map_err(|_| field_error("now", "is not an RFC 3339 time"))?
                            .with_timezone(&chrono::Utc);
                        within_clock_range(at).ok_or_else(|| field_error("now", CLOCK_RANGE))?;
                        match body.frozen {
                            Some(true) => self.clock.freeze(at),
                            Some(false) => self.clock.run_from(at),
                            None => self.clock.set(at),
                        }
                    }
                    (None, Some(advance)) => {
                        let by = parse_duration(&advance)
                            .map_err(|e| field_error("advance", &e.to_string()))?;
                        self.clock
                            .now()
                            .checked_add_signed(by)
                            .and_then(within_clock_range)
                            .ok_or_else(|| field_error("advance", CLOCK_RANGE))?;
                        self.clock.advance(by);
                    }
                    _ => return Err(field_error("now", "give exactly one of now or advance")),
                }
                Ok(self.clock_answer())
            }
            RouteId::RunSweeps => Ok(ApiResponse::json(StatusCode::OK, &self.sweep().await?)),
            RouteId::ListOutbox => {
                let emails = self.local_outbox.emails().await.map_err(internal)?;
                let events = self.local_outbox.events().await.map_err(internal)?;
                Ok(ApiResponse::json(
                    StatusCode::OK,
                    &json!({ "emails": emails, "events": events }),
                ))
            }
            _ => Err(ApiError::not_found()),
        }
    }

    fn clock_answer(&self) -> ApiResponse {
        ApiResponse::json(StatusCode::OK, &json!({ "now": self.clock.now() }))
    }
}
