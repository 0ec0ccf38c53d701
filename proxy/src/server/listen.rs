//! The listeners: binding them, the accept loops, serving connections and
//! draining them on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::connections::{Gate, Ticket, fit_to_open_files};
use super::logging::Logged;
use super::tls::tls_acceptor;
use crate::admin::Admin;
use crate::config::{ConnectionLimits, RequestLimits, Settings};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// The bound listeners (client and admin) and the client listener's TLS.
pub(super) struct Listeners {
    pub(super) client: TcpListener,
    pub(super) local_addr: SocketAddr,
    pub(super) acceptor: Option<TlsAcceptor>,
    pub(super) admin: Option<TcpListener>,
    pub(super) admin_addr: Option<SocketAddr>,
}

impl Listeners {
    /// Binds the listeners of `settings`, and loads the TLS files first:
    /// unusable TLS files and taken ports fail before anything else.
    pub(super) async fn bind(settings: &Settings) -> Result<Self> {
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
        Ok(Self { client: listener, local_addr, acceptor, admin: admin_listener, admin_addr })
    }
}

/// HTTP/2 keep-alive: a ping after this long without frames...
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// ...which must be answered within this long.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Concurrent HTTP/2 requests on one connection.
const H2_MAX_STREAMS: u32 = 128;
/// How long an idle connection being closed may take to say goodbye (an
/// HTTP/2 GOAWAY and its ping) before it is dropped...
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// ...and one told to give way to a new connection: its descriptor is
/// needed now.
const EVICT_GRACE: Duration = Duration::from_millis(50);

/// What serving client connections needs, shared by all of them.
#[derive(Clone)]
pub(super) struct ClientConnections {
    acceptor: Option<TlsAcceptor>,
    service: Logged,
    limits: ConnectionLimits,
    gate: Arc<Gate>,
    metrics: Arc<Metrics>,
    http: ConnBuilder<TokioExecutor>,
}

impl ClientConnections {
    /// Client connections served by `service` (over TLS with `acceptor`)
    /// within `limits`, which are first fitted to the open-file limit.
    pub(super) fn new(
        acceptor: Option<TlsAcceptor>,
        service: Logged,
        (limits, requests): (ConnectionLimits, RequestLimits),
        metrics: Arc<Metrics>,
    ) -> Self {
        let limits = fit_to_open_files(limits);
        let mut http = ConnBuilder::new(TokioExecutor::new());
        // The read buffer bounds a request's head (431 beyond it) and what
        // one connection holds of a body at a time.
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(requests.max_header_bytes);
        http.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(requests.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_TIMEOUT)
            .max_concurrent_streams(H2_MAX_STREAMS);
        Self { acceptor, service, gate: Gate::new(&limits), limits, metrics, http }
    }
}

/// Counts a connection as open while it lives.
struct Open(Arc<Metrics>);

impl Open {
    fn new(metrics: &Arc<Metrics>) -> Self {
        metrics.connection(true);
        Self(metrics.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connection(false);
    }
}

/// Admits a connection (or closes it at once, counted and logged), then
/// serves it after the TLS handshake, if any.
async fn accept_one(socket: TcpStream, peer: SocketAddr, conns: ClientConnections, stop: watch::Receiver<bool>) {
    let ticket = match conns.gate.admit(peer.ip()) {
        Ok(t) => Arc::new(t),
        Err(refusal) => {
            conns.metrics.connection_refused(refusal.label());
            tracing::warn!(peer = %peer.ip(), limit = refusal.label(), "connection refused: every connection is busy");
            return;
        }
    };
    let _open = Open::new(&conns.metrics);
    let _ = socket.set_nodelay(true);
    match &conns.acceptor {
        None => serve_connection(socket, &conns, ticket, stop).await,
        Some(acceptor) => match tokio::time::timeout(conns.limits.header_timeout, acceptor.accept(socket)).await {
            Ok(Ok(tls)) => serve_connection(tls, &conns, ticket, stop).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => {
                conns.metrics.connection_closed("tls_handshake");
                tracing::debug!("TLS handshake timed out");
            }
        },
    }
}

/// Serves one connection until it ends, or closes it gracefully (the
/// request in flight, if any, is finished) when it has been idle too
/// long, when the gate needs its place, or on shutdown.
async fn serve_connection<IO>(io: IO, conns: &ClientConnections, ticket: Arc<Ticket>, mut stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = Logged { ticket: Some(ticket.clone()), ..conns.service.clone() };
    let conn = conns.http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let idle_timeout = conns.limits.idle_timeout;
    let reason = loop {
        // While busy, look again after a timeout's length.
        let wake = ticket.idle_deadline(idle_timeout).unwrap_or_else(|| Instant::now() + idle_timeout);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = ticket.evicted() => break Some("evicted"),
            _ = stop.changed() => break None,
            () = tokio::time::sleep_until(wake.into()) => {
                if ticket.idle_deadline(idle_timeout).is_some_and(|d| d <= Instant::now()) {
                    break Some("idle");
                }
            }
        }
    };
    conn.as_mut().graceful_shutdown();
    let Some(reason) = reason else {
        // Shutdown: requests in flight finish (the server's drain timeout
        // bounds the wait).
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        return;
    };
    conns.metrics.connection_closed(reason);
    tracing::debug!(reason, "closing an idle connection");
    // Nothing is in flight: a moment for the goodbye, then it is dropped
    // (an HTTP/2 peer that never answers the closing ping cannot hold it).
    let grace = if reason == "evicted" { EVICT_GRACE } else { CLOSE_GRACE };
    let _ = tokio::time::timeout(grace, conn).await;
}

/// The client accept loop; on stop, drains open connections for up to
/// `timeout`, then closes the rest.
pub(super) async fn serve_clients(
    listener: TcpListener,
    conns: ClientConnections,
    mut stop: watch::Receiver<bool>,
    timeout: Duration,
) {
    let mut connections = JoinSet::new();
    let stop_each = stop.clone();
    let serve = |socket, peer| accept_one(socket, peer, conns.clone(), stop_each.clone());
    // On errors such as too many open files: keep serving.
    accept_until_stopped(&listener, &mut stop, &mut connections, "accept failed", serve).await;
    drop(listener);
    let open = connections.len();
    tracing::info!(open_connections = open, "stopped accepting connections; draining");
    let drained = tokio::time::timeout(timeout, async { while connections.join_next().await.is_some() {} }).await;
    match drained {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => {
            tracing::warn!(timeout_secs = timeout.as_secs(), "shutdown timeout: closing the remaining connections");
        }
    }
    connections.shutdown().await;
}

/// The admin accept loop (HTTP/1.1), until stopped.
pub(super) async fn serve_admin(listener: TcpListener, admin: Admin, mut stop: watch::Receiver<bool>) {
    let admin = Arc::new(admin);
    let mut connections = JoinSet::new();
    let serve = |socket, _peer| {
        let admin = admin.clone();
        async move {
            let service = hyper::service::service_fn(move |req| {
                let admin = admin.clone();
                async move { admin.handle(req).await }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
        }
    };
    accept_until_stopped(&listener, &mut stop, &mut connections, "admin accept failed", serve).await;
    connections.shutdown().await;
}

/// Accepts connections until `stop` is set (or its sender is gone), each
/// served by a task of `connections` that `serve` makes. A failed accept
/// is logged as `failed` and serving goes on.
async fn accept_until_stopped<F, Fut>(
    listener: &TcpListener,
    stop: &mut watch::Receiver<bool>,
    connections: &mut JoinSet<()>,
    failed: &'static str,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    connections.spawn(serve(socket, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "{failed}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
