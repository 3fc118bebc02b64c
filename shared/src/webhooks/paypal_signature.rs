//! PayPal's transmission signature (API.md, R-P1). PayPal signs
//! `{transmission_id}|{transmission_time}|{webhook_id}|{crc32(raw body) as decimal}` with
//! RSA-SHA256 and names the signing certificate by URL. We accept the URL only on PayPal's API
//! hosts over HTTPS, check the served chain up to a trusted root at the injected clock's time,
//! require the leaf to be PayPal's message-verification certificate, and keep verified chains
//! per URL so a warm function fetches each certificate once.
//!
//! Cheap refusals first, so an anonymous caller cannot make us fetch or burn CPU: a transmission
//! more than `TRANSMISSION_TOLERANCE` from the injected clock is refused before anything else;
//! the certificate URL must be exactly `https://{PayPal API host}/v1/notifications/certs/CERT-…`
//! (no port, query or fragment), kept by that form, so variants of one URL are one entry; the
//! cache evicts the least recently used chain, and remembers a failed fetch for a minute.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Uri};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webpki::{EndEntityCert, KeyUsage};

/// The only hosts a certificate may come from.
pub const CERTIFICATE_HOSTS: [&str; 4] = [
    "api.paypal.com",
    "api-m.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.sandbox.paypal.com",
];

/// The names PayPal's signing certificate is issued to (live and sandbox).
pub const SIGNER_NAMES: [&str; 2] = [
    "messageverificationcerts.paypal.com",
    "messageverificationcerts.sandbox.paypal.com",
];

/// How many certificate chains a warm function keeps (PayPal rotates rarely; the URL names one).
const CACHE_LIMIT: usize = 16;
/// How far a transmission's time may be from ours (PayPal signs each delivery, retries too).
pub const TRANSMISSION_TOLERANCE: chrono::Duration = chrono::Duration::minutes(5);
/// How long a failed certificate fetch is answered from memory instead of fetched again.
const FAILED_FETCH_KEPT: chrono::Duration = chrono::Duration::minutes(1);
/// The path of PayPal's certificates.
const CERTIFICATE_PATH: &str = "/v1/notifications/certs/CERT-";

#[derive(Debug, thiserror::Error)]
pub enum PayPalSignatureError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the signing algorithm is not SHA256withRSA")]
    UnsupportedAlgorithm,
    #[error("the certificate URL is not a PayPal certificate URL")]
    UntrustedCertificateUrl,
    #[error("the transmission time is missing or too far from now")]
    OutsideTolerance,
    #[error("the vendor has no PayPal webhook id")]
    NoWebhookId,
    #[error("the signature is not base64")]
    MalformedSignature,
    #[error("the certificate could not be fetched")]
    Fetch(#[source] CertificateFetchError),
    #[error("the certificate is not PEM")]
    MalformedCertificate(#[source] rustls_pki_types::pem::Error),
    #[error("the certificate does not chain to a trusted root or is not PayPal's")]
    UntrustedCertificate(#[source] webpki::Error),
    #[error("the certificate is not issued to PayPal's message verification")]
    NotPayPalsCertificate,
    #[error("the signature does not match")]
    NoMatch(#[source] webpki::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("fetching {url} failed: {reason}")]
pub struct CertificateFetchError {
    pub url: String,
    pub reason: String,
}

/// Where certificates come from (HTTPS in production, a fixed map in tests).
#[async_trait]
pub trait CertificateSource: Send + Sync {
    /// The PEM served at `url`.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, CertificateFetchError>;
}

/// Where PayPal is not set up: every fetch fails, so every PayPal webhook is refused.
pub struct NoCertificates;

#[async_trait]
impl CertificateSource for NoCertificates {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, CertificateFetchError> {
        Err(CertificateFetchError {
            url: url.to_string(),
            reason: "no certificate source is configured".into(),
        })
    }
}

/// Fetches certificates over HTTPS (the URL was checked against PayPal's hosts before).
pub struct HttpsCertificates(pub crate::payments::https::HttpsClient);

#[async_trait]
impl CertificateSource for HttpsCertificates {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, CertificateFetchError> {
        let failed = |reason: String| CertificateFetchError {
            url: url.to_string(),
            reason,
        };
        let request = http::Request::get(url)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .map_err(|error| failed(error.to_string()))?;
        let (status, body) = self
            .0
            .send(request)
            .await
            .map_err(|error| failed(error.to_string()))?;
        if !status.is_success() {
            return Err(failed(format!("answered {status}")));
        }
        Ok(body.to_vec())
    }
}

/// The transmission headers PayPal sends with every webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission {
    pub id: String,
    pub time: String,
    pub certificate_url: String,
    pub algorithm: String,
    pub signature: String,
}

impl Transmission {
    pub fn from_headers(headers: &HeaderMap) -> Result<Transmission, PayPalSignatureError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
                .ok_or(PayPalSignatureError::MissingHeader(name))
        };
        Ok(Transmission {
            id: header("paypal-transmission-id")?,
            time: header("paypal-transmission-time")?,
            certificate_url: header("paypal-cert-url")?,
            algorithm: header("paypal-auth-algo")?,
            signature: header("paypal-transmission-sig")?,
        })
    }
}

/// The bytes PayPal signs.
pub fn signed_message(transmission: &Transmission, webhook_id: &str, body: &[u8]) -> String {
    format!(
        "{}|{}|{webhook_id}|{}",
        transmission.id,
        transmission.time,
        crc32fast::hash(body)
    )
}

/// The one form of a PayPal certificate URL: HTTPS on one of PayPal's API hosts, default port,
/// no user info, the certificates' path with a `CERT-` name of letters, digits and dashes, no
/// query or fragment. Anything else is refused before any fetch.
pub fn canonical_certificate_url(url: &str) -> Result<String, PayPalSignatureError> {
    let refused = PayPalSignatureError::UntrustedCertificateUrl;
    if url.contains('#') {
        return Err(refused);
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| PayPalSignatureError::UntrustedCertificateUrl)?;
    let authority = uri
        .authority()
        .ok_or(PayPalSignatureError::UntrustedCertificateUrl)?;
    let plain_host = authority.as_str() == authority.host();
    let host = authority.host().to_ascii_lowercase();
    let pinned = CERTIFICATE_HOSTS.contains(&host.as_str());
    let name = uri
        .path()
        .strip_prefix(CERTIFICATE_PATH)
        .unwrap_or_default();
    let named = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if uri.scheme_str() == Some("https") && plain_host && pinned && named && uri.query().is_none() {
        Ok(format!("https://{host}{CERTIFICATE_PATH}{name}"))
    } else {
        Err(refused)
    }
}

/// Whether the URL is one PayPal's certificates may be fetched from.
pub fn check_certificate_url(url: &str) -> Result<(), PayPalSignatureError> {
    canonical_certificate_url(url).map(|_| ())
}

/// A chain kept while warm, or a fetch that failed lately.
enum Kept {
    Chain(Arc<Vec<CertificateDer<'static>>>),
    Failed {
        until: DateTime<Utc>,
        reason: String,
    },
}

struct Entry {
    kept: Kept,
    /// When it was last used, in the cache's own ticks: the least recently used goes first.
    used: u64,
}

#[derive(Default)]
struct ChainCache {
    entries: HashMap<String, Entry>,
    tick: u64,
}

impl ChainCache {
    fn get(&mut self, url: &str) -> Option<&Kept> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(url)?;
        entry.used = tick;
        Some(&entry.kept)
    }

    fn put(&mut self, url: String, kept: Kept) {
        self.tick += 1;
        if !self.entries.contains_key(&url) && self.entries.len() >= CACHE_LIMIT {
            // A failure never pushes out a working chain: it evicts only another failure, and
            // is not kept at all when the cache holds only chains.
            let is_failure = matches!(kept, Kept::Failed { .. });
            let oldest = self
                .entries
                .iter()
                .filter(|(_, entry)| !is_failure || matches!(entry.kept, Kept::Failed { .. }))
                .min_by_key(|(_, entry)| entry.used)
                .map(|(url, _)| url.clone());
            match oldest {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => return,
            }
        }
        self.entries.insert(
            url,
            Entry {
                kept,
                used: self.tick,
            },
        );
    }
}

/// Verifies transmissions against trusted roots, caching fetched chains per URL.
pub struct PayPalVerifier {
    source: Arc<dyn CertificateSource>,
    trusted_roots: Vec<CertificateDer<'static>>,
    chains: Mutex<ChainCache>,
}

impl PayPalVerifier {
    pub fn new(
        source: Arc<dyn CertificateSource>,
        trusted_roots: Vec<CertificateDer<'static>>,
    ) -> PayPalVerifier {
        PayPalVerifier {
            source,
            trusted_roots,
            chains: Mutex::new(ChainCache::default()),
        }
    }

    pub async fn verify(
        &self,
        transmission: &Transmission,
        webhook_id: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), PayPalSignatureError> {
        let sent_at = DateTime::parse_from_rfc3339(transmission.time.trim())
            .map_err(|_| PayPalSignatureError::OutsideTolerance)?;
        if (now - sent_at.to_utc()).abs() > TRANSMISSION_TOLERANCE {
            return Err(PayPalSignatureError::OutsideTolerance);
        }
        if transmission.algorithm != "SHA256withRSA" {
            return Err(PayPalSignatureError::UnsupportedAlgorithm);
        }
        let url = canonical_certificate_url(&transmission.certificate_url)?;
        let webhook_id = webhook_id
            .filter(|id| !id.is_empty())
            .ok_or(PayPalSignatureError::NoWebhookId)?;
        let signature = STANDARD
            .decode(transmission.signature.trim())
            .map_err(|_| PayPalSignatureError::MalformedSignature)?;
        let chain = self.chain(&url, now).await?;
        let message = signed_message(transmission, webhook_id, body);
        let result = self.check(&chain, message.as_bytes(), &signature, now);
        if matches!(result, Err(PayPalSignatureError::UntrustedCertificate(_))) {
            // A chain that stopped verifying (expired, rotated) is fetched afresh next time.
            self.forget(&url);
        }
        result
    }

    fn check(
        &self,
        chain: &[CertificateDer<'static>],
        message: &[u8],
        signature: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), PayPalSignatureError> {
        let (leaf, intermediates) =
            chain
                .split_first()
                .ok_or(PayPalSignatureError::UntrustedCertificate(
                    webpki::Error::BadDer,
                ))?;
        let leaf =
            EndEntityCert::try_from(leaf).map_err(PayPalSignatureError::UntrustedCertificate)?;
        let anchors = self
            .trusted_roots
            .iter()
            .map(webpki::anchor_from_trusted_cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(PayPalSignatureError::UntrustedCertificate)?;
        let seconds = u64::try_from(now.timestamp()).unwrap_or_default();
        let time = UnixTime::since_unix_epoch(Duration::from_secs(seconds));
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            intermediates,
            time,
            KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(PayPalSignatureError::UntrustedCertificate)?;
        let named_for_paypal = SIGNER_NAMES.iter().any(|name| {
            ServerName::try_from(*name)
                .is_ok_and(|name| leaf.verify_is_valid_for_subject_name(&name).is_ok())
        });
        if !named_for_paypal {
            return Err(PayPalSignatureError::NotPayPalsCertificate);
        }
        leaf.verify_signature(
            webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
            message,
            signature,
        )
        .map_err(PayPalSignatureError::NoMatch)
    }

    /// The chain at the canonical `url`: kept, or fetched (a failure is kept for a minute).
    async fn chain(
        &self,
        url: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<Vec<CertificateDer<'static>>>, PayPalSignatureError> {
        match self
            .chains
            .lock()
            .ok()
            .as_mut()
            .and_then(|c| match c.get(url) {
                Some(Kept::Chain(chain)) => Some(Ok(chain.clone())),
                Some(Kept::Failed { until, reason }) if now < *until => Some(Err(reason.clone())),
                _ => None,
            }) {
            Some(Ok(chain)) => return Ok(chain),
            Some(Err(reason)) => {
                return Err(PayPalSignatureError::Fetch(CertificateFetchError {
                    url: url.to_string(),
                    reason,
                }));
            }
            None => {}
        }
        let fetched = self.source.fetch(url).await;
        let keep = |kept: Kept| {
            if let Ok(mut chains) = self.chains.lock() {
                chains.put(url.to_string(), kept);
            }
        };
        let pem = match fetched {
            Ok(pem) => pem,
            Err(error) => {
                keep(Kept::Failed {
                    until: now + FAILED_FETCH_KEPT,
                    reason: error.reason.clone(),
                });
                return Err(PayPalSignatureError::Fetch(error));
            }
        };
        let chain = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(PayPalSignatureError::MalformedCertificate)?;
        let chain = Arc::new(chain);
        keep(Kept::Chain(chain.clone()));
        Ok(chain)
    }

    fn forget(&self, url: &str) {
        if let Ok(mut chains) = self.chains.lock() {
            chains.entries.remove(url);
        }
    }
}
