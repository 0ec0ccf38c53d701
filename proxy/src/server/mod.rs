//! The server: listeners (plain or TLS), client authentication, the
//! encryption layer over the upstream, the admin endpoints and graceful
//! shutdown.
//!
//! ```no_run
//! # async fn run() -> Result<(), s3seal_proxy::Error> {
//! use s3seal_proxy::config::PartialSettings;
//! use s3seal_proxy::server::Server;
//! let settings = PartialSettings::from_env()?.resolve()?;
//! let server = Server::start(settings).await?;
//! println!("{}", server.banner());
//! server.run_until_signal().await
//! # }
//! ```

mod connections;
mod edge;
mod info;
mod listen;
mod logging;
mod signals;
mod tls;
mod upstream;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use s3s::S3;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3seal::cache::CachingCmm;
use s3seal::cmm::DefaultCmm;
use s3seal::keyspec::KeySpec;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::Admin;
use crate::auth::ClientAuth;
use crate::config::{ClientCredential, Settings};
use crate::embedded::Embedded;
use crate::error::{Error, Result};
use crate::layer::EncryptingS3;
use crate::metrics::Metrics;
use edge::{AuthRules, Edge};
use info::ServerInfo;
use listen::{ClientConnections, Listeners, serve_admin, serve_clients};
use logging::Logged;
pub use logging::{DEFAULT_LOG_FILTER, init_tracing};
pub use signals::Signals;
use upstream::prepare;

/// What the encryption layer is built from (see [`Server::start_with_layer`]).
pub struct LayerParts {
    /// The encrypting S3 client over the upstream (keyring, cache, suite,
    /// frame length from the settings).
    pub client: s3seal::s3::Client,
    /// A typed forwarder to the same upstream, for the operations that
    /// carry no object data.
    pub forward: s3s_aws::Proxy,
    /// The counters served on `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Plaintext bytes per frame of new objects.
    pub frame_length: u32,
}

impl std::fmt::Debug for LayerParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerParts").field("client", &self.client).field("frame_length", &self.frame_length).finish()
    }
}

/// The encryption layer: every authenticated client request goes through
/// it (there is no path to the upstream around it).
fn encryption_layer(parts: LayerParts) -> Result<EncryptingS3> {
    Ok(EncryptingS3::new(parts.client, parts.forward, parts.metrics, parts.frame_length))
}

/// A running proxy. Stop it with [`Server::shutdown`] (graceful) or
/// [`Server::run_until_signal`]; dropping it stops the listeners abruptly.
#[derive(Debug)]
pub struct Server {
    info: ServerInfo,
    metrics: Arc<Metrics>,
    cache: Arc<CachingCmm>,
    stop: watch::Sender<bool>,
    draining: Arc<AtomicBool>,
    main: Option<JoinHandle<()>>,
    admin: Option<JoinHandle<()>>,
    embedded: Option<Embedded>,
}

impl Server {
    /// Starts the proxy with the encryption layer: binds the listeners,
    /// starts the embedded upstream if no upstream is configured (and
    /// generates its key and client credentials if none are configured),
    /// builds the keyring and cache, and serves until shut down.
    pub async fn start(settings: Settings) -> Result<Self> {
        Self::start_with_layer(settings, encryption_layer).await
    }

    /// Like [`Server::start`], with the S3 implementation that serves
    /// authenticated client requests built by `layer` (for tests of the
    /// server machinery, or another layer). Client authentication, TLS,
    /// addressing, the admin endpoints and shutdown are the same.
    pub async fn start_with_layer<S, F>(settings: Settings, layer: F) -> Result<Self>
    where
        S: S3,
        F: FnOnce(LayerParts) -> Result<S>,
    {
        // Fail on unusable TLS files and taken ports before anything else.
        let listeners = Listeners::bind(&settings).await?;
        let prepared = prepare(&settings).await?;
        let cache = data_key_cache(&prepared.access.keys, &settings).await?;
        let metrics = Arc::new(Metrics::default());
        let s3 = layer(LayerParts {
            client: encrypting_client(&prepared.s3, &cache, &settings),
            forward: s3s_aws::Proxy::from(prepared.s3.clone()),
            metrics: metrics.clone(),
            frame_length: settings.frame_length,
        })?;
        let service = s3_service(s3, &prepared.access.clients, &settings);
        let auth = auth_rules(&settings, &prepared.s3);
        let edge = Arc::new(Edge::new(auth, settings.requests, metrics.clone()));

        let (stop, stop_rx) = watch::channel(false);
        let draining = Arc::new(AtomicBool::new(false));
        let conns = ClientConnections::new(
            listeners.acceptor.clone(),
            Logged { inner: service, edge, ticket: None },
            (settings.limits, settings.requests),
            metrics.clone(),
        );
        let main = tokio::spawn(serve_clients(listeners.client, conns, stop_rx.clone(), settings.shutdown_timeout));
        let admin = listeners.admin.map(|l| {
            let admin = Admin::new(metrics.clone(), Some(cache.clone())).with_draining(draining.clone());
            tokio::spawn(serve_admin(l, admin, stop_rx))
        });
        let info = ServerInfo {
            local_addr: listeners.local_addr,
            admin_addr: listeners.admin_addr,
            tls: listeners.acceptor.is_some(),
            domains: settings.domains.clone(),
            upstream: prepared.upstream,
            access: prepared.access,
            data_dir: prepared.data_dir,
        };
        tracing::info!(
            local_addr = %info.local_addr,
            tls = info.tls,
            admin = ?info.admin_addr,
            upstream = %info.upstream,
            client_keys = info.access.clients.len(),
            keys = %info.access.keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            "s3seal proxy started"
        );
        Ok(Self { info, metrics, cache, stop, draining, main: Some(main), admin, embedded: prepared.embedded })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.info.local_addr
    }

    /// The admin address (`/metrics`, `/health`), if on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.info.admin_addr
    }

    /// The endpoint URL clients use (`http://` or `https://`; a wildcard
    /// listen address is shown as the loopback address).
    pub fn endpoint(&self) -> String {
        self.info.endpoint()
    }

    /// The credentials clients may sign with (configured or generated).
    pub fn client_credentials(&self) -> &[ClientCredential] {
        &self.info.access.clients
    }

    /// True if the client credentials were generated by this start.
    pub fn generated_client_credentials(&self) -> bool {
        self.info.access.generated_clients
    }

    /// The keys in use (configured, or the embedded upstream's key file).
    pub fn keys(&self) -> &[KeySpec] {
        &self.info.access.keys
    }

    /// True if the key file was generated by this start.
    pub fn generated_key(&self) -> bool {
        self.info.access.generated_key
    }

    /// The upstream, as shown in logs (endpoint URL, `AWS S3` or the
    /// embedded directory).
    pub fn upstream(&self) -> &str {
        &self.info.upstream
    }

    /// The embedded upstream's data directory (absolute), if embedded.
    pub fn data_dir(&self) -> Option<&Path> {
        self.info.data_dir.as_deref()
    }

    /// The embedded upstream's endpoint (`http://127.0.0.1:PORT`, with
    /// random credentials only the proxy knows), if embedded.
    pub fn embedded_endpoint(&self) -> Option<String> {
        self.embedded.as_ref().map(Embedded::endpoint)
    }

    /// A client that reads the embedded upstream directly (what is stored:
    /// ciphertext), if embedded. For tests and inspection.
    pub fn embedded_client(&self) -> Option<aws_sdk_s3::Client> {
        self.embedded.as_ref().map(Embedded::client)
    }

    /// The counters served on `/metrics`.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The data-key cache (its counters are served on `/metrics`).
    pub fn cache(&self) -> &Arc<CachingCmm> {
        &self.cache
    }

    /// What to print at startup: the endpoint, the upstream, the keys, the
    /// admin address and how to use it. Secret keys are shown only when
    /// they were generated (an operator must learn them somehow); configured
    /// ones never are.
    pub fn banner(&self) -> String {
        self.info.banner()
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, then shuts down gracefully;
    /// a second signal during the drain stops at once. The signal handlers
    /// are installed now: to catch signals sent while starting, install
    /// them first with [`Signals::install`] and call [`Server::run_until`].
    pub async fn run_until_signal(self) -> Result<()> {
        let signals = Signals::install()?;
        self.run_until(signals).await
    }

    /// Like [`Server::run_until_signal`], with handlers installed earlier.
    pub async fn run_until(self, mut signals: Signals) -> Result<()> {
        signals.recv().await;
        tracing::info!("signal received: shutting down (a second signal stops at once)");
        tokio::select! {
            r = self.shutdown() => r,
            () = signals.recv() => {
                // Dropping the shutdown future drops the server, which
                // aborts every listener and connection.
                tracing::warn!("second signal: stopping now, closing open connections");
                Ok(())
            }
        }
    }

    /// Shuts down gracefully: stops accepting connections, lets open
    /// requests finish (up to the configured shutdown timeout, then closes
    /// what is left), then stops the admin listener and the embedded
    /// upstream. `/health` answers 503 while draining.
    pub async fn shutdown(mut self) -> Result<()> {
        self.draining.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        if let Some(main) = self.main.take() {
            let _ = main.await;
        }
        if let Some(admin) = self.admin.take() {
            let _ = admin.await;
        }
        if let Some(embedded) = self.embedded.take() {
            embedded.stop().await;
        }
        tracing::info!("s3seal proxy stopped");
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(t) = &self.main {
            t.abort();
        }
        if let Some(t) = &self.admin {
            t.abort();
        }
    }
}

/// The data-key cache over a keyring of `keys` (KMS clients from the
/// standard AWS chain).
async fn data_key_cache(keys: &[KeySpec], settings: &Settings) -> Result<Arc<CachingCmm>> {
    let keyring = s3seal::keyspec::keyring_from_specs(keys, || {
        s3seal::keyring::kms::client_from_aws_chain(keys.iter().find_map(KeySpec::kms_region))
    })
    .await
    .map_err(Error::Keys)?;
    Ok(Arc::new(
        CachingCmm::new(Arc::new(DefaultCmm::new(keyring)), settings.cache)
            .map_err(|e| Error::Config(format!("cache limits: {e}")))?,
    ))
}

/// The encrypting S3 client over the upstream `s3`.
fn encrypting_client(s3: &aws_sdk_s3::Client, cache: &Arc<CachingCmm>, settings: &Settings) -> s3seal::s3::Client {
    let config = s3seal::s3::Config {
        suite: settings.suite,
        frame_length: settings.frame_length,
        commitment_policy: settings.commitment_policy,
        // The embedded upstream is plain http on 127.0.0.1.
        unsigned_upload_payloads: settings.upstream.as_ref().is_none_or(|u| u.unsigned_payloads),
        server_side_encryption: settings.upstream.as_ref().and_then(|u| u.sse.clone()),
        max_encrypted_data_keys: Some(settings.max_encrypted_data_keys),
        ..s3seal::s3::Config::default()
    };
    s3seal::s3::Client::with_cmm(s3.clone(), cache.clone(), config)
}

/// The S3 protocol service over `s3`: client authentication, with
/// `domains` virtual-host addressing, and the limit on XML bodies (which
/// `s3s` reads whole, after the signature check).
fn s3_service<S: S3>(s3: S, clients: &[ClientCredential], settings: &Settings) -> S3Service {
    let mut b = S3ServiceBuilder::new(s3);
    b.set_auth(ClientAuth::new(clients));
    if !settings.domains.is_empty() {
        b.set_host(crate::host::DomainHost::new(&settings.domains));
    }
    let mut config = s3s::config::S3Config::default();
    config.xml_max_body_size = settings.requests.max_xml_body_bytes;
    b.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(config))));
    b.build()
}

/// How clients authenticate: the client region resolved (by default the
/// upstream client's), logged; loudly when SigV2 is allowed.
fn auth_rules(settings: &Settings, upstream: &aws_sdk_s3::Client) -> AuthRules {
    use crate::config::ClientRegion;
    let region = match &settings.auth.region {
        ClientRegion::Any => None,
        ClientRegion::Named(r) => Some(r.clone()),
        ClientRegion::Upstream => Some(
            upstream.config().region().map_or_else(|| crate::config::DEFAULT_REGION.to_string(), ToString::to_string),
        ),
    };
    let rules = AuthRules { region, insecure_allow_sigv2: settings.auth.insecure_allow_sigv2 };
    let region = rules.region.as_deref().unwrap_or(crate::config::ANY_REGION);
    if rules.insecure_allow_sigv2 {
        tracing::warn!(
            region,
            "insecure_allow_sigv2 is on: clients may sign with AWS Signature Version 2 (HMAC-SHA1, no payload hash, no region)"
        );
    } else {
        tracing::info!(region, "clients sign with SigV4 for this region");
    }
    rules
}
