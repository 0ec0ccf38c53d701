//! The upstream store: the embedded one (with a generated key and client
//! credentials where none are configured) or the configured one, and the
//! AWS clients that reach it and KMS.

use std::path::{Path, PathBuf};

use super::info::KeysAndClients;
use crate::config::{DEFAULT_REGION, Settings, UpstreamSettings};
use crate::embedded::Embedded;
use crate::error::{Error, Result};

/// Where the upstream is and what was generated for an embedded one.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) s3: aws_sdk_s3::Client,
    pub(super) upstream: String,
    pub(super) embedded: Option<Embedded>,
    pub(super) access: KeysAndClients,
    /// The embedded upstream's data directory (absolute), if embedded.
    pub(super) data_dir: Option<PathBuf>,
}

/// Sets up the upstream: the embedded one (with generated key and
/// credentials where none are configured) or the configured one.
pub(super) async fn prepare(settings: &Settings) -> Result<Prepared> {
    match &settings.upstream {
        None => prepare_embedded(settings).await,
        Some(u) => prepare_external(settings, u).await,
    }
}

async fn prepare_embedded(settings: &Settings) -> Result<Prepared> {
    let embedded = Embedded::start(&settings.data_dir).await?;
    let (keys, generated_key) = if settings.keys.is_empty() {
        let (spec, generated) = crate::embedded::ensure_key(&settings.data_dir)?;
        (vec![spec], generated)
    } else {
        (settings.keys.clone(), false)
    };
    let stored_clients = settings.clients.is_empty();
    let (clients, generated_clients) = if stored_clients {
        crate::embedded::ensure_client_credentials(&settings.data_dir)?
    } else {
        (settings.clients.clone(), false)
    };
    Ok(Prepared {
        s3: embedded.client(),
        upstream: format!("embedded store over {} (ciphertext on disk)", embedded.root().display()),
        embedded: Some(embedded),
        access: KeysAndClients { clients, generated_clients, stored_clients, keys, generated_key },
        data_dir: Some(absolute(&settings.data_dir)),
    })
}

async fn prepare_external(settings: &Settings, u: &UpstreamSettings) -> Result<Prepared> {
    if settings.clients.is_empty() {
        return Err(Error::Config("with an upstream endpoint, client credentials are required".into()));
    }
    if settings.keys.is_empty() {
        return Err(Error::Config("with an upstream endpoint, at least one key is required".into()));
    }
    Ok(Prepared {
        s3: upstream_client(u).await?,
        upstream: u.endpoint.clone().unwrap_or_else(|| "AWS S3".into()),
        embedded: None,
        access: KeysAndClients {
            clients: settings.clients.clone(),
            generated_clients: false,
            stored_clients: false,
            keys: settings.keys.clone(),
            generated_key: false,
        },
        data_dir: None,
    })
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf()))
}

/// The upstream `aws-sdk-s3` client: the standard AWS configuration chain,
/// with the settings' endpoint, region, addressing and credentials on top.
/// Every request it sends is signed with the upstream credentials.
async fn upstream_client(u: &UpstreamSettings) -> Result<aws_sdk_s3::Client> {
    use aws_sdk_s3::config::{Credentials, Region};
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &u.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(c) = &u.credentials {
        loader = loader.credentials_provider(Credentials::new(
            c.access_key.clone(),
            c.secret_key.expose().to_string(),
            c.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "s3seal-proxy-settings",
        ));
    }
    let sdk = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(u.path_style);
    if let Some(endpoint) = &u.endpoint {
        b = b.endpoint_url(endpoint);
    }
    if sdk.region().is_none() {
        b = b.region(Region::new(DEFAULT_REGION));
    }
    if let Some(path) = &u.ca_bundle {
        b = b.http_client(ca_bundle_client(path)?);
    }
    Ok(aws_sdk_s3::Client::from_conf(b.build()))
}

/// An HTTPS client that trusts the CA certificates of `path` (PEM) besides
/// the system's roots.
fn ca_bundle_client(path: &Path) -> Result<aws_sdk_s3::config::SharedHttpClient> {
    use aws_smithy_http_client::tls;
    let pem = std::fs::read(path).map_err(|e| Error::Tls(format!("upstream CA bundle {}: {e}", path.display())))?;
    let context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::default().with_pem_certificate(pem))
        .build()
        .map_err(|e| Error::Tls(format!("upstream CA bundle {}: {e}", path.display())))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}
