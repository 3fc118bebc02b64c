//! sellerdesk on a laptop: every function's routes, the outbox dispatcher on a timer and the dev
//! routes, on one port, over the embedded store (or the AWS adapters with `--aws`).

pub mod config;
mod dev_routes;
mod outbox_wake;
mod simulated_provider;

use bytes::Bytes;
use config::DevConfig;
use dev_routes::DevTools;
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use outbox_wake::WatchedStore;
use sellerdesk::api::edge::{self, Cors};
use sellerdesk::api::routes::{Function, match_route};
use sellerdesk::api::{ApiError, ApiRequest, ApiResponse, MAX_CSV_BODY};
use sellerdesk::app::App;
use sellerdesk::bootstrap::AwsSettings;
use sellerdesk::domain::clock::{Clock, SettableClock};
use sellerdesk::domain::ids::OsEntropy;
use sellerdesk::domain::token::{LinkKey, SecretDigest, random_secret};
use sellerdesk::outbox::dispatch::Dispatcher;
use sellerdesk::outbox::local::LocalOutbox;
use sellerdesk::outbox::{EventPublisher, Mailer};
use sellerdesk::payments::https::{HttpsClient, native_roots};
use sellerdesk::store::ItemStore;
use sellerdesk::store::embedded::EmbeddedStore;
use sellerdesk::webhooks::paypal_signature::{HttpsCertificates, PayPalVerifier};
use simulated_provider::SimulatedProvider;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tracing::Instrument;

/// The table `--aws` uses when `SELLERDESK_TABLE` is not set; created if missing.
pub const DEV_TABLE: &str = "sellerdesk-dev";

/// How often the dev server's own sweep runs (the Scheduler's job in AWS).
const SWEEP_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data folder {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the link key in {path} is malformed")]
    LinkKey { path: PathBuf },
    #[error("cannot open the embedded store")]
    Store(#[source] sellerdesk::store::StoreError),
    #[error("cannot set up the AWS adapters")]
    Aws(#[source] sellerdesk::bootstrap::BootstrapError),
    #[error("cannot create the DynamoDB table")]
    AwsTable(#[source] sellerdesk::store::StoreError),
    #[error("cannot set up the HTTPS client")]
    Https(#[source] sellerdesk::payments::https::TransportError),
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
}

/// A started server: where it listens and how to reach the admin routes.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub admin_token: String,
    /// The platform's Stripe endpoint secret `POST /webhooks/stripe` verifies.
    pub stripe_webhook_secret: String,
    pub storage: String,
    server: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and sweeping (committed data is already durable).
    pub fn stop(self) {
        self.server.abort();
        self.sweeper.abort();
    }
}

struct Server {
    app: App,
    dev: DevTools,
    cors: Cors,
    /// Counts the outbox items commits create, so their request dispatches them.
    watched: Arc<WatchedStore>,
    /// The port it listens on: the only `Host` it answers is `127.0.0.1:PORT` or `localhost:PORT`.
    port: u16,
}

/// Whether `Host` names this server on loopback. A web page the user visits cannot then read
/// or drive the dev server by pointing a name of its own at 127.0.0.1 (DNS rebinding).
/// A request in absolute form (`GET http://name/ HTTP/1.1`) is judged by its URI's authority,
/// which HTTP says wins over `Host`; more than one `Host` is refused.
fn host_is_loopback(uri: &http::Uri, headers: &http::HeaderMap, port: u16) -> bool {
    let loopback = |host: &str| {
        let host = host.trim().to_ascii_lowercase();
        host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
    };
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return false;
    }
    let header_ok = first
        .and_then(|host| host.to_str().ok())
        .is_some_and(loopback);
    match uri.authority() {
        Some(authority) => header_ok && loopback(authority.as_str()),
        None => header_ok,
    }
}

/// Where records live and where e-mails and events go.
struct Backends {
    store: Arc<dyn ItemStore>,
    mailer: Arc<dyn Mailer>,
    events: Arc<dyn EventPublisher>,
    /// Said in the banner.
    storage: String,
}

/// The embedded store with the local channels, or with `--aws` the AWS adapters.
async fn open_backends(config: &DevConfig) -> Result<Backends, StartError> {
    if config.aws {
        let settings = AwsSettings::from_env(Some(DEV_TABLE)).map_err(StartError::Aws)?;
        let adapters = sellerdesk::bootstrap::aws_adapters(&settings).await;
        adapters
            .store
            .create_table_if_missing()
            .await
            .map_err(StartError::AwsTable)?;
        return Ok(Backends {
            storage: format!("DynamoDB table {}", adapters.store.table()),
            store: adapters.store,
            mailer: adapters.mailer,
            events: adapters.events,
        });
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let file = config.data_dir.join("sellerdesk.sqlite3");
    let store: Arc<dyn ItemStore> =
        Arc::new(EmbeddedStore::open(&file).map_err(StartError::Store)?);
    let local = Arc::new(LocalOutbox::new(Arc::clone(&store)));
    Ok(Backends {
        store,
        mailer: local.clone(),
        events: local,
        storage: file.display().to_string(),
    })
}

/// The link key lives beside the data, so customer links survive restarts (owner-only file).
fn load_or_create_link_key(data_dir: &std::path::Path) -> Result<LinkKey, StartError> {
    let path = data_dir.join("link-key");
    let io = |source| StartError::DataDir {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    if let Ok(text) = std::fs::read_to_string(&path) {
        return LinkKey::from_base64(&text).map_err(|_| StartError::LinkKey { path: path.clone() });
    }
    let key = LinkKey::generate(&OsEntropy);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io)?;
    std::io::Write::write_all(&mut file, key.to_base64().as_bytes()).map_err(io)?;
    Ok(key)
}

/// Opens the store, binds the port and starts serving and sweeping in the background.
pub async fn start(config: DevConfig) -> Result<RunningServer, StartError> {
    let clock = Arc::new(SettableClock::ticking());
    let Backends {
        store,
        mailer,
        events,
        storage,
    } = open_backends(&config).await?;
    let watched = Arc::new(WatchedStore::new(store));
    let store: Arc<dyn ItemStore> = Arc::clone(&watched) as Arc<dyn ItemStore>;
    let local_outbox = LocalOutbox::new(Arc::clone(&store));
    let admin_token = config
        .admin_token
        .clone()
        .unwrap_or_else(|| random_secret("adm", &OsEntropy));
    let link_key = load_or_create_link_key(&config.data_dir)?;
    let stripe_webhook_secret = config
        .stripe_webhook_secret
        .clone()
        .unwrap_or_else(|| random_secret("whsec", &OsEntropy));
    let listener = TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| StartError::Bind {
            port: config.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        port: config.port,
        source,
    })?;
    let simulated = Arc::new(SimulatedProvider::new(
        format!("http://{addr}"),
        Arc::clone(&store),
    ));
    let app = App::new(
        Arc::clone(&store),
        Arc::clone(&clock) as Arc<dyn Clock>,
        Arc::new(OsEntropy),
        Some(SecretDigest::of(&admin_token)),
        link_key,
    )
    // Vendors' portals may be on the frontends the dev server serves (its CORS origins).
    .with_portal(sellerdesk::domain::vendors::PortalPolicy {
        allowed_origins: config.cors_origins.clone(),
        ..Default::default()
    })
    .with_payments(Arc::clone(&simulated) as Arc<dyn sellerdesk::payments::PaymentProvider>)
    .with_paypal(PayPalVerifier::new(
        Arc::new(HttpsCertificates(
            HttpsClient::new(sellerdesk::payments::https::OUTBOUND_TIMEOUT)
                .map_err(StartError::Https)?,
        )),
        native_roots(),
    ))
    .with_webhook_secrets(sellerdesk::app::WebhookSecrets {
        stripe: vec![stripe_webhook_secret.clone()],
        paypal_webhook_id: None,
    })
    .with_limits(
        config
            .rate_limits
            .then_some(sellerdesk::usecases::limits::Limits::DEFAULT),
    );
    let dispatcher = Arc::new(Dispatcher::new(
        store,
        mailer,
        events,
        Arc::clone(&clock) as Arc<dyn Clock>,
    ));
    let server = Arc::new(Server {
        watched,
        port: addr.port(),
        cors: Cors::new(config.cors_origins.clone(), |_| true),
        app: app.clone(),
        dev: DevTools {
            app,
            clock,
            dispatcher: Arc::clone(&dispatcher),
            local_outbox,
            stripe_webhook_secret: stripe_webhook_secret.clone(),
            simulated: Arc::clone(&simulated),
            sweeping: tokio::sync::Mutex::new(()),
        },
    });
    let sweeping = Arc::clone(&server);
    let sweeper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            // As the scheduled sweeps do on AWS (failures are logged inside).
            let _ = sweeping.dev.sweep().await;
        }
    });
    let server = tokio::spawn(accept_loop(listener, server));
    Ok(RunningServer {
        addr,
        admin_token,
        stripe_webhook_secret,
        storage,
        server,
        sweeper,
    })
}

/// The longest request line (method, path and query) served. hyper itself answers a longer one
/// (past 64 KiB) with a bare 414; the contract's errors are JSON, so such a request is answered
/// here, before hyper reads it.
const MAX_REQUEST_LINE: usize = 16 * 1024;

/// Whether the connection's first request line is longer than [`MAX_REQUEST_LINE`], by peeking
/// at what the client sent (nothing is consumed); a slow client gets a second to send it, after
/// which hyper reads the request as usual.
async fn request_line_is_too_long(stream: &tokio::net::TcpStream) -> bool {
    let mut buffer = vec![0u8; MAX_REQUEST_LINE + 2];
    let peek = async {
        loop {
            let Ok(seen) = stream.peek(&mut buffer).await else {
                return false;
            };
            if seen == 0 || buffer[..seen].windows(2).any(|pair| pair == b"\r\n") {
                return false;
            }
            if seen > MAX_REQUEST_LINE {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(1), peek)
        .await
        .unwrap_or(false)
}

/// An answer written straight onto the connection (HTTP/1.1, then the connection closes).
fn raw_response(answer: &ApiResponse) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.status.as_u16(),
        answer.status.canonical_reason().unwrap_or(""),
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        if let Ok(value) = value.to_str() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&answer.body);
    bytes
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(error = %error, "accept failed");
                continue;
            }
        };
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            let mut stream = stream;
            if request_line_is_too_long(&stream).await {
                let answer = ApiError::new(
                    StatusCode::URI_TOO_LONG,
                    "uri_too_long",
                    format!("the request line is longer than {MAX_REQUEST_LINE} bytes"),
                )
                .to_response();
                let _ = stream.write_all(&raw_response(&answer)).await;
                let _ = stream.shutdown().await;
                return;
            }
            let service = service_fn(move |request| {
                let server = Arc::clone(&server);
                async move { Ok::<_, std::convert::Infallible>(server.serve(request, peer).await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
}

impl Server {
    async fn serve(
        &self,
        mut request: hyper::Request<Incoming>,
        peer: std::net::SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        // The caller's address is the connection's, never a header the caller sent (the abuse
        // limits count by it), as the function URL's request context is on AWS.
        let headers = request.headers_mut();
        headers.remove(sellerdesk::api::SOURCE_HEADER);
        if let Ok(value) = http::HeaderValue::from_str(&peer.ip().to_string()) {
            headers.insert(sellerdesk::api::SOURCE_HEADER, value);
        }
        // The route's template is recorded once matched; the path (it may hold a token) never is.
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            route = tracing::field::Empty
        );
        self.serve_in_span(request).instrument(span).await
    }

    async fn serve_in_span(
        &self,
        request: hyper::Request<Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        // A body declared larger than any route takes is refused before it is waited for.
        let declared = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let too_large = declared.is_some_and(|length| length > MAX_CSV_BODY as u64);
        let answer = if !host_is_loopback(&parts.uri, &parts.headers, self.port) {
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                "the dev server answers only as 127.0.0.1:PORT or localhost:PORT",
            )
            .to_response()
        } else if too_large {
            ApiError::payload_too_large(MAX_CSV_BODY).to_response()
        } else {
            self.read_and_answer(parts, body).await
        };
        tracing::info!(status = answer.status.as_u16(), "answered");
        let mut response = hyper::Response::new(Full::new(answer.body));
        *response.status_mut() = answer.status;
        *response.headers_mut() = answer.headers;
        response
    }

    async fn read_and_answer(&self, parts: http::request::Parts, body: Incoming) -> ApiResponse {
        match Limited::new(body, MAX_CSV_BODY).collect().await {
            Err(_) => ApiError::payload_too_large(MAX_CSV_BODY).to_response(),
            Ok(collected) => {
                let request = ApiRequest {
                    method: parts.method,
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().map(str::to_string),
                    headers: parts.headers,
                    body: collected.to_bytes(),
                };
                let written_before = self.watched.new_outbox_items();
                let answer = self.answer(&request).await;
                if self.watched.new_outbox_items() != written_before {
                    // As the table's stream does on AWS: what the request wrote goes out now.
                    if let Err(error) = self.dev.dispatcher.dispatch_due().await {
                        tracing::error!(error = %error, "outbox dispatch failed");
                    }
                }
                answer
            }
        }
    }

    /// Every route of every function, plus the dev routes, with the function URLs' CORS.
    async fn answer(&self, request: &ApiRequest) -> ApiResponse {
        if let Some(preflight) = self.cors.preflight(request) {
            return preflight;
        }
        let response = match match_route(&request.method, &request.path, |_| true) {
            Ok(matched) => {
                tracing::Span::current().record("route", matched.template);
                if matched.function == Function::DevServer {
                    self.dev.respond(&matched, request).await
                } else {
                    self.app.respond(&matched, request).await
                }
            }
            Err(miss) => edge::unmatched(miss, &request.path, |_| true),
        };
        self.cors
            .decorate(request, edge::for_method(&request.method, response))
    }
}
