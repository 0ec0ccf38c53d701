//! Logging: the subscriber, its default filter and the access log.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use s3s::service::S3Service;

use super::connections::Ticket;
use super::edge::Edge;

/// The S3 service behind the edge, with one log line per request: method,
/// path (never the query, which holds presigned signatures), status,
/// duration.
#[derive(Clone)]
pub(super) struct Logged {
    pub(super) inner: S3Service,
    /// What every request passes first (see [`super::edge`]).
    pub(super) edge: Arc<Edge>,
    /// The connection's admission: tells it when a request is in flight.
    pub(super) ticket: Option<Arc<Ticket>>,
}

/// Marks a request in flight on its connection until dropped.
struct InFlight(Option<Arc<Ticket>>);

impl InFlight {
    fn new(ticket: Option<Arc<Ticket>>) -> Self {
        if let Some(t) = &ticket {
            t.request_started();
        }
        Self(ticket)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.request_ended();
        }
    }
}

impl hyper::service::Service<http::Request<Incoming>> for Logged {
    type Response = s3s::HttpResponse;
    type Error = s3s::HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let inner = self.inner.clone();
        let edge = self.edge.clone();
        let in_flight = InFlight::new(self.ticket.clone());
        Box::pin(async move {
            let _in_flight = in_flight;
            let t0 = Instant::now();
            let mut result = match edge.admit(req) {
                Err(refused) => Ok(*refused),
                Ok((req, admitted)) => {
                    let r = inner.call(req).await;
                    edge.settle(&method, &path, &admitted, r)
                }
            };
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
