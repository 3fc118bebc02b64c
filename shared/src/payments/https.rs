//! One small HTTPS client for calls out of the platform (provider APIs, PayPal's certificates):
//! the operating system's trusted roots, HTTP/1.1, a timeout on every call. Built once per cold
//! start and shared.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;

/// How long one call out of a function (Stripe, PayPal's certificates) may take; the functions
/// that call out run for longer than this plus the store's calls (a template test checks it),
/// and a sweep starts a call only with this much of its budget left.
pub const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("TLS could not be set up")]
    Tls(#[source] rustls::Error),
    #[error("the request could not be built")]
    Request(#[source] http::Error),
    #[error("the request failed")]
    Send(#[source] hyper_util::client::legacy::Error),
    #[error("the answer could not be read")]
    Body(#[source] hyper::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// The operating system's trusted roots; an unreadable one is skipped, none is an empty list.
pub fn native_roots() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

#[derive(Clone)]
pub struct HttpsClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpsClient {
    /// `https` to the native roots; plain `http` too, for a local mock in tests.
    pub fn new(timeout: Duration) -> Result<HttpsClient, TransportError> {
        let mut roots = rustls::RootCertStore::empty();
        let (_added, _skipped) = roots.add_parsable_certificates(native_roots());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TransportError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpsClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), TransportError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(TransportError::Send)?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(TransportError::Body)?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| TransportError::Timeout(self.timeout))?
    }
}
