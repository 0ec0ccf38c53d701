//! The listeners: binding them, the accept loops, serving connections and
//! draining them on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::logging::Logged;
use super::tls::tls_acceptor;
use crate::admin::Admin;
use crate::config::Settings;
use crate::error::{Error, Result};

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
pub(super) async fn serve_clients(
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
    let serve = |socket| accept_one(socket, acceptor.clone(), http.clone(), service.clone(), graceful.watcher());
    // On errors such as too many open files: keep serving.
    accept_until_stopped(&listener, &mut stop, &mut connections, "accept failed", serve).await;
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
pub(super) async fn serve_admin(listener: TcpListener, admin: Admin, mut stop: watch::Receiver<bool>) {
    let admin = Arc::new(admin);
    let mut connections = JoinSet::new();
    let serve = |socket| {
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
    F: FnMut(TcpStream) -> Fut,
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
                Ok((socket, _peer)) => {
                    connections.spawn(serve(socket));
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
