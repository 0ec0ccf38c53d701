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

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::S3;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3seal::cache::CachingCmm;
use s3seal::cmm::DefaultCmm;
use s3seal::keyspec::KeySpec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::admin::Admin;
use crate::auth::ClientAuth;
use crate::config::{ClientCredential, DEFAULT_REGION, Settings, TlsSettings, UpstreamSettings};
use crate::embedded::Embedded;
use crate::error::{Error, Result};
use crate::layer::EncryptingS3;
use crate::metrics::Metrics;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Where the upstream is and what was generated for an embedded one.
#[derive(Debug)]
struct Prepared {
    s3: aws_sdk_s3::Client,
    upstream: String,
    embedded: Option<Embedded>,
    clients: Vec<ClientCredential>,
    generated_clients: bool,
    stored_clients: bool,
    keys: Vec<KeySpec>,
    generated_key: bool,
}

/// A running proxy. Stop it with [`Server::shutdown`] (graceful) or
/// [`Server::run_until_signal`]; dropping it stops the listeners abruptly.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    tls: bool,
    domains: Vec<String>,
    upstream: String,
    clients: Vec<ClientCredential>,
    generated_clients: bool,
    stored_clients: bool,
    keys: Vec<KeySpec>,
    generated_key: bool,
    data_dir: Option<PathBuf>,
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
        let acceptor = settings.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| Error::io(format!("cannot listen on {}", settings.listen), e))?;
        let local_addr = listener.local_addr().map_err(|e| Error::io("cannot read the listener's address", e))?;
        let admin_listener = match settings.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr).await.map_err(|e| Error::io(format!("cannot listen on {addr} (admin)"), e))?,
            ),
            None => None,
        };
        let admin_addr = admin_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
            .map_err(|e| Error::io("cannot read the admin listener's address", e))?;

        let prepared = prepare(&settings).await?;
        let keyring = s3seal::keyspec::keyring_from_specs(&prepared.keys, || {
            kms_client(prepared.keys.iter().find_map(KeySpec::kms_region))
        })
        .await
        .map_err(Error::Keys)?;
        let cache = Arc::new(
            CachingCmm::new(Arc::new(DefaultCmm::new(keyring)), settings.cache)
                .map_err(|e| Error::Config(format!("cache limits: {e}")))?,
        );
        let client_config = s3seal::s3::Config {
            suite: settings.suite,
            frame_length: settings.frame_length,
            commitment_policy: settings.commitment_policy,
            // The embedded upstream is plain http on 127.0.0.1.
            unsigned_upload_payloads: settings.upstream.as_ref().is_none_or(|u| u.unsigned_payloads),
            ..s3seal::s3::Config::default()
        };
        let client = s3seal::s3::Client::with_cmm(prepared.s3.clone(), cache.clone(), client_config);
        let metrics = Arc::new(Metrics::default());
        let s3 = layer(LayerParts {
            client,
            forward: s3s_aws::Proxy::from(prepared.s3.clone()),
            metrics: metrics.clone(),
            frame_length: settings.frame_length,
        })?;

        let service = {
            let mut b = S3ServiceBuilder::new(s3);
            b.set_auth(ClientAuth::new(&prepared.clients));
            if !settings.domains.is_empty() {
                b.set_host(crate::host::DomainHost::new(&settings.domains));
            }
            b.build()
        };

        let (stop, stop_rx) = watch::channel(false);
        let draining = Arc::new(AtomicBool::new(false));
        let main = tokio::spawn(serve_clients(
            listener,
            acceptor.clone(),
            Logged { inner: service },
            stop_rx.clone(),
            settings.shutdown_timeout,
        ));
        let admin = admin_listener.map(|l| {
            let admin = Admin::new(metrics.clone(), Some(cache.clone())).with_draining(draining.clone());
            tokio::spawn(serve_admin(l, admin, stop_rx))
        });
        let data_dir = prepared.embedded.as_ref().map(|_| absolute(&settings.data_dir));
        tracing::info!(
            %local_addr,
            tls = acceptor.is_some(),
            admin = ?admin_addr,
            upstream = %prepared.upstream,
            client_keys = prepared.clients.len(),
            keys = %prepared.keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            "s3seal proxy started"
        );
        Ok(Self {
            local_addr,
            admin_addr,
            tls: acceptor.is_some(),
            domains: settings.domains.clone(),
            upstream: prepared.upstream,
            clients: prepared.clients,
            generated_clients: prepared.generated_clients,
            stored_clients: prepared.stored_clients,
            keys: prepared.keys,
            generated_key: prepared.generated_key,
            data_dir,
            metrics,
            cache,
            stop,
            draining,
            main: Some(main),
            admin,
            embedded: prepared.embedded,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The admin address (`/metrics`, `/health`), if on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The endpoint URL clients use (`http://` or `https://`; a wildcard
    /// listen address is shown as the loopback address).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", shown(self.local_addr))
    }

    /// The credentials clients may sign with (configured or generated).
    pub fn client_credentials(&self) -> &[ClientCredential] {
        &self.clients
    }

    /// True if the client credentials were generated by this start.
    pub fn generated_client_credentials(&self) -> bool {
        self.generated_clients
    }

    /// The keys in use (configured, or the embedded upstream's key file).
    pub fn keys(&self) -> &[KeySpec] {
        &self.keys
    }

    /// True if the key file was generated by this start.
    pub fn generated_key(&self) -> bool {
        self.generated_key
    }

    /// The upstream, as shown in logs (endpoint URL, `AWS S3` or the
    /// embedded directory).
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The embedded upstream's data directory (absolute), if embedded.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
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
        use std::fmt::Write as _;
        let mut out = String::new();
        let endpoint = self.endpoint();
        let _ = writeln!(out, "s3seal proxy: encrypting S3 endpoint at {endpoint}");
        let _ = writeln!(out, "  upstream:  {}", self.upstream);
        for k in &self.keys {
            let note =
                if self.generated_key { " (generated now: back it up, without it the data is lost)" } else { "" };
            let _ = writeln!(out, "  key:       {k}{note}");
        }
        if !self.domains.is_empty() {
            let _ = writeln!(
                out,
                "  domains:   {} (virtual-host addressing; path-style always works)",
                self.domains.join(", ")
            );
        }
        match self.admin_addr {
            Some(a) => {
                let a = shown(a);
                let _ = writeln!(out, "  admin:     http://{a}/metrics  http://{a}/health");
            }
            None => {
                let _ = writeln!(out, "  admin:     off");
            }
        }
        let first = self.clients.first();
        // Only credentials the proxy generated (and keeps in its data
        // directory) are shown with their secret: configured ones never are.
        if let (Some(c), Some(dir)) = (first.filter(|_| self.stored_clients), &self.data_dir) {
            let stored = dir.join(crate::embedded::CREDENTIALS_FILE);
            let note = if self.generated_clients { "generated now" } else { "stored" };
            let _ = writeln!(out, "  clients:   {} ({note} in {})", c.access_key, stored.display());
            let _ = writeln!(out);
            let _ = writeln!(out, "Use it with any S3 client, for example:");
            let _ = writeln!(out, "  export AWS_ACCESS_KEY_ID={}", c.access_key);
            let _ = writeln!(out, "  export AWS_SECRET_ACCESS_KEY={}", c.secret_key.expose());
            let _ = writeln!(out, "  export AWS_DEFAULT_REGION={DEFAULT_REGION}");
            let _ = writeln!(out, "  aws --endpoint-url {endpoint} s3 mb s3://demo");
            let _ = writeln!(out, "  aws --endpoint-url {endpoint} s3 cp ./some-file s3://demo/");
            let _ = writeln!(out, "  aws --endpoint-url {endpoint} s3 ls s3://demo/");
            let _ = writeln!(
                out,
                "Objects are stored encrypted under {}.",
                dir.join(crate::embedded::OBJECTS_DIR).display()
            );
        } else {
            let ids: Vec<&str> = self.clients.iter().map(|c| c.access_key.as_str()).collect();
            let _ = writeln!(out, "  clients:   {} (secret keys as configured)", ids.join(", "));
            let _ = writeln!(out);
            let _ = writeln!(out, "Example: aws --endpoint-url {endpoint} s3 ls");
            if let Some(dir) = &self.data_dir {
                let _ = writeln!(
                    out,
                    "Objects are stored encrypted under {}.",
                    dir.join(crate::embedded::OBJECTS_DIR).display()
                );
            }
        }
        out
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

/// A wildcard address shown as the loopback address (what a local client uses).
fn shown(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf()))
}

/// Sets up the upstream: the embedded one (with generated key and
/// credentials where none are configured) or the configured one.
async fn prepare(settings: &Settings) -> Result<Prepared> {
    match &settings.upstream {
        None => {
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
                upstream: format!("embedded s3s-fs over {} (ciphertext on disk)", embedded.root().display()),
                embedded: Some(embedded),
                clients,
                generated_clients,
                stored_clients,
                keys,
                generated_key,
            })
        }
        Some(u) => {
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
                clients: settings.clients.clone(),
                generated_clients: false,
                stored_clients: false,
                keys: settings.keys.clone(),
                generated_key: false,
            })
        }
    }
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
        use aws_smithy_http_client::tls;
        let pem = std::fs::read(path).map_err(|e| Error::Tls(format!("upstream CA bundle {}: {e}", path.display())))?;
        let context = tls::TlsContext::builder()
            .with_trust_store(tls::TrustStore::default().with_pem_certificate(pem))
            .build()
            .map_err(|e| Error::Tls(format!("upstream CA bundle {}: {e}", path.display())))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(context)
            .build_https();
        b = b.http_client(http);
    }
    Ok(aws_sdk_s3::Client::from_conf(b.build()))
}

/// A KMS client from the standard AWS chain (as the CLI's); the region of a
/// key ARN when the chain names none.
async fn kms_client(fallback_region: Option<String>) -> aws_sdk_kms::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let mut builder = aws_sdk_kms::config::Builder::from(&config);
    if config.region().is_none()
        && let Some(region) = fallback_region
    {
        builder = builder.region(aws_sdk_kms::config::Region::new(region));
    }
    aws_sdk_kms::Client::from_conf(builder.build())
}

/// The TLS acceptor of the client listener (rustls with aws-lc-rs; ALPN
/// `http/1.1`).
fn tls_acceptor(t: &TlsSettings) -> Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&t.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("certificate file {}: {e}", t.cert.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!("certificate file {}: no CERTIFICATE in it", t.cert.display())));
    }
    let key =
        PrivateKeyDer::from_pem_file(&t.key).map_err(|e| Error::Tls(format!("key file {}: {e}", t.key.display())))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(format!("{} and {}: {e}", t.cert.display(), t.key.display())))?;
    // HTTP/1.1 only, like S3 itself: S3 clients are written and tested
    // against HTTP/1.1 (plain-text listeners still accept h2c).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The S3 service with one log line per request: method, path (never the
/// query, which holds presigned signatures), status, duration.
#[derive(Clone)]
struct Logged {
    inner: S3Service,
}

impl hyper::service::Service<http::Request<Incoming>> for Logged {
    type Response = s3s::HttpResponse;
    type Error = s3s::HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let inner = self.inner.clone();
        Box::pin(async move {
            let t0 = Instant::now();
            let mut result = hyper::service::Service::call(&inner, req).await;
            // A HEAD response has no body (error responses from s3s carry
            // their XML; HTTP/2 would treat that as a protocol error).
            if method == http::Method::HEAD
                && let Ok(resp) = &mut result
            {
                *resp.body_mut() = s3s::Body::empty();
            }
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            match &result {
                Ok(resp) if resp.status().is_server_error() => {
                    tracing::warn!(target: "s3seal_proxy::access", %method, %path, status = resp.status().as_u16(), ms);
                }
                Ok(resp) => {
                    tracing::info!(target: "s3seal_proxy::access", %method, %path, status = resp.status().as_u16(), ms);
                }
                Err(e) => tracing::warn!(target: "s3seal_proxy::access", %method, %path, error = ?e, ms),
            }
            result
        })
    }
}

/// Serves one connection (after the TLS handshake, if any) until it ends
/// or the graceful shutdown closes it.
async fn serve_connection<IO>(
    io: IO,
    http: ConnBuilder<TokioExecutor>,
    service: Logged,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = http.serve_connection(TokioIo::new(io), service).into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn accept_one(
    socket: TcpStream,
    acceptor: Option<TlsAcceptor>,
    http: ConnBuilder<TokioExecutor>,
    service: Logged,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let _ = socket.set_nodelay(true);
    match acceptor {
        None => serve_connection(socket, http, service, watcher).await,
        Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
            Ok(Ok(tls)) => serve_connection(tls, http, service, watcher).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
    }
}

/// The client accept loop; on stop, drains open connections for up to
/// `timeout`, then closes the rest.
async fn serve_clients(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    service: Logged,
    mut stop: watch::Receiver<bool>,
    timeout: Duration,
) {
    let mut http = ConnBuilder::new(TokioExecutor::new());
    // Slow clients may not hold a connection open without sending headers.
    http.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((socket, _peer)) => {
                    connections.spawn(accept_one(socket, acceptor.clone(), http.clone(), service.clone(), graceful.watcher()));
                }
                Err(e) => {
                    // Such as too many open files: keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let open = connections.len();
    tracing::info!(open_connections = open, "stopped accepting connections; draining");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(timeout) => {
            tracing::warn!(timeout_secs = timeout.as_secs(), "shutdown timeout: closing the remaining connections");
        }
    }
    connections.shutdown().await;
}

/// The admin accept loop (HTTP/1.1), until stopped.
async fn serve_admin(listener: TcpListener, admin: Admin, mut stop: watch::Receiver<bool>) {
    let admin = Arc::new(admin);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let admin = admin.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let admin = admin.clone();
                            async move { admin.handle(req).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(socket), service)
                            .await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// SIGINT and SIGTERM handlers (Ctrl-C only where there is no SIGTERM).
/// Once installed, these signals no longer end the process: they are
/// delivered to [`Signals::recv`].
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers. Must be called inside a Tokio runtime.
    pub fn install() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).map_err(|e| Error::io("cannot watch SIGINT", e))?,
                terminate: signal(SignalKind::terminate()).map_err(|e| Error::io("cannot watch SIGTERM", e))?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next SIGINT or SIGTERM.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The log filter when `RUST_LOG` is not set. Targets match by prefix, so
/// `s3s=off` would also silence `s3seal*`: those are named explicitly (the
/// longer directive wins).
pub const DEFAULT_LOG_FILTER: &str =
    "info,s3s=off,s3seal=info,s3seal_proxy=info,aws_config=warn,aws_smithy_runtime=warn";

/// Installs the log subscriber: human-readable lines with key=value fields
/// on stderr, filtered by `RUST_LOG` (default: `info` for the proxy, the
/// `s3s` protocol crates quiet, since their debug output contains request
/// headers). Does nothing if a subscriber is already installed.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}
