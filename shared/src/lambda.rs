//! The Lambda side of a function: function-URL events in, the shared handlers, answers out.
//! Each function binary is `lambda::run(Function::X)`.

use crate::api::routes::Function;
use crate::api::{ApiRequest, ApiResponse};
use crate::app::App;
use crate::bootstrap;
use crate::outbox::dispatch::Dispatcher;
use bytes::Bytes;
use lambda_http::{Body, Request, Response, service_fn};
use tracing::Instrument;

/// The function URL's request as the app reads it, with the caller's address (from the request
/// context, never from a header the caller could send) under [`crate::api::SOURCE_HEADER`].
pub fn to_api_request(request: Request) -> ApiRequest {
    use lambda_http::RequestExt;
    let source = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.http.source_ip.clone()
        }
        _ => None,
    };
    let (mut parts, body) = request.into_parts();
    parts.headers.remove(crate::api::SOURCE_HEADER);
    if let Some(value) = source.and_then(|ip| http::HeaderValue::from_str(&ip).ok()) {
        parts.headers.insert(crate::api::SOURCE_HEADER, value);
    }
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    }
}

/// Text answers (JSON, HTML, CSV) go as text; anything else (a PDF invoice) as bytes, which the
/// function URL sends base64-encoded, so no byte is lost.
pub fn to_lambda_response(response: ApiResponse) -> Response<Body> {
    let is_text = response
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|kind| kind.starts_with("text/") || kind.starts_with("application/json"));
    let body = match std::str::from_utf8(&response.body) {
        Ok(text) if is_text => Body::Text(text.to_string()),
        _ => Body::Binary(response.body.to_vec()),
    };
    let mut answer = Response::new(body);
    *answer.status_mut() = response.status;
    *answer.headers_mut() = response.headers;
    answer
}

/// Answers one function-URL request with the routes of `function`.
pub async fn handle(app: &App, function: Function, request: Request) -> Response<Body> {
    let request = to_api_request(request);
    // The route's template is recorded once matched; the path (it may hold a token) never is.
    let span = tracing::info_span!(
        "request",
        function = function.name(),
        method = %request.method,
        route = tracing::field::Empty
    );
    let answer = app
        .handle(&request, |f| f == function)
        .instrument(span)
        .await;
    to_lambda_response(answer)
}

/// The whole life of a function: JSON logs, clients built once per cold start, then requests.
pub async fn run(function: Function) -> Result<(), lambda_http::Error> {
    tracing_init_json();
    let app = bootstrap::aws_app_from_env().await?;
    lambda_http::run(service_fn(|request: Request| {
        let app = &app;
        async move { Ok::<_, std::convert::Infallible>(handle(app, function, request).await) }
    }))
    .await
}

/// The functions that serve no route: they run on a schedule or on the table's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// Every minute (EventBridge Scheduler): the tickets' timers and the provider calls.
    ScheduledSweeps,
    /// The only sender of mail and events: on the table's stream (new outbox items at once), on
    /// SES's feedback (SNS), and every minute (retries and the safety net).
    OutboxDispatcher,
}

impl Worker {
    pub const ALL: [Worker; 2] = [Worker::ScheduledSweeps, Worker::OutboxDispatcher];

    pub fn name(self) -> &'static str {
        match self {
            Worker::ScheduledSweeps => "scheduled-sweeps",
            Worker::OutboxDispatcher => "outbox-dispatcher",
        }
    }
}

/// How long before the invocation's deadline a worker stops claiming new work.
pub const DEADLINE_MARGIN: chrono::Duration = chrono::Duration::seconds(10);

/// The budget of one invocation: its deadline (milliseconds since the epoch) less the margin.
pub fn budget_of(context: &lambda_http::lambda_runtime::Context) -> crate::domain::clock::Budget {
    i64::try_from(context.deadline)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(crate::domain::clock::Budget::unbounded, |deadline| {
            crate::domain::clock::Budget::until(deadline - DEADLINE_MARGIN)
        })
}

/// The outbox items a DynamoDB stream event reports (`Records[].dynamodb.Keys`).
pub fn stream_keys(event: &serde_json::Value) -> Vec<crate::store::Key> {
    event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|record| {
            let keys = &record["dynamodb"]["Keys"];
            let pk = keys["pk"]["S"].as_str()?;
            let sk = keys["sk"]["S"].as_str()?;
            sk.starts_with("OUTBOX#")
                .then(|| crate::store::Key::new(pk, sk))
        })
        .collect()
}

/// The whole life of a worker: any event wakes it; it does its sweeps and reports them. A
/// failure is returned, so the scheduler's retry policy (then its dead-letter queue) or the
/// stream's retries apply.
pub async fn run_worker(worker: Worker) -> Result<(), lambda_http::Error> {
    tracing_init_json();
    let (app, dispatcher) = bootstrap::aws_runtime_from_env().await?;
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        |event: lambda_http::LambdaEvent<serde_json::Value>| {
            let (app, dispatcher) = (&app, &dispatcher);
            async move {
                let budget = budget_of(&event.context);
                work(worker, app, dispatcher, &event.payload, budget).await
            }
        },
    ))
    .await
}

/// What one invocation of `worker` does with its event, within `budget`: its report.
pub async fn work(
    worker: Worker,
    app: &App,
    dispatcher: &Dispatcher,
    payload: &serde_json::Value,
    budget: crate::domain::clock::Budget,
) -> Result<serde_json::Value, lambda_http::Error> {
    let (sweeps, suppressed, outbox) = match worker {
        // Every minute: the tickets' timers and the provider calls, each within its share of
        // the invocation's time. What they write to the outbox goes out through the stream.
        Worker::ScheduledSweeps => {
            let sweeps = app.run_sweeps_within(budget).await?;
            (Some(sweeps), 0, Default::default())
        }
        // The only sender of mail and events. Its records: SES's bounces and complaints
        // (through SNS) onto the suppression list, and the stream's new outbox items, by key.
        Worker::OutboxDispatcher if payload["Records"].is_array() => {
            let feedback = crate::outbox::suppression::from_sns_event(payload);
            dispatcher.suppress(&feedback).await?;
            let outbox = dispatcher.dispatch_keys(&stream_keys(payload)).await?;
            (None, feedback.len(), outbox)
        }
        // Its schedule (every minute): the outbox's retries and safety net.
        Worker::OutboxDispatcher => (None, 0, dispatcher.dispatch_due_within(budget).await?),
    };
    tracing::info!(
        worker = worker.name(),
        ?sweeps,
        suppressed,
        ?outbox,
        "worker ran"
    );
    Ok(serde_json::json!({ "sweeps": sweeps, "suppressed": suppressed, "outbox": outbox }))
}

fn tracing_init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(true)
        .without_time()
        .try_init();
}
