//! The admin endpoints, on their own listener (never the client one):
//!
//! * `GET /health`: `200 ok` while the server runs, `503 shutting down`
//!   during a graceful shutdown.
//! * `GET /metrics`: Prometheus text format: the layer's request, error and
//!   byte counters ([`Metrics::render`]) and the data-key cache's hits,
//!   misses and keyring calls (KMS calls when the keys are KMS keys), read
//!   when scraped.
//!
//! Anything else is 404; methods other than GET and HEAD are 405.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use s3seal::cache::{CacheStats, CachingCmm};

use crate::metrics::Metrics;

/// What the admin endpoints report.
#[derive(Debug, Clone)]
pub struct Admin {
    metrics: Arc<Metrics>,
    cache: Option<Arc<CachingCmm>>,
    draining: Arc<AtomicBool>,
}

impl Admin {
    /// Reports `metrics` and, when given, the counters of `cache`.
    pub fn new(metrics: Arc<Metrics>, cache: Option<Arc<CachingCmm>>) -> Self {
        Self { metrics, cache, draining: Arc::new(AtomicBool::new(false)) }
    }

    /// Makes `/health` answer `503 shutting down` once `draining` is set
    /// (so load balancers stop sending requests during a graceful shutdown).
    pub fn with_draining(mut self, draining: Arc<AtomicBool>) -> Self {
        self.draining = draining;
        self
    }

    /// The `/metrics` text.
    pub fn render(&self) -> String {
        let mut out = self.metrics.render();
        if let Some(cache) = &self.cache {
            render_cache(&mut out, &cache.stats(), cache.cache().len());
        }
        out
    }

    /// Answers one admin request.
    pub async fn handle<B>(&self, req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = req.uri().path();
        let (status, content_type, body) = match (req.method(), path) {
            (&Method::GET | &Method::HEAD, "/health") if self.draining.load(Ordering::SeqCst) => {
                (StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", "shutting down\n".to_string())
            }
            (&Method::GET | &Method::HEAD, "/health") => {
                (StatusCode::OK, "text/plain; charset=utf-8", "ok\n".to_string())
            }
            (&Method::GET | &Method::HEAD, "/metrics") => {
                (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", self.render())
            }
            (_, "/health" | "/metrics") => {
                (StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "method not allowed\n".to_string())
            }
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found (try /metrics or /health)\n".to_string(),
            ),
        };
        let body = if req.method() == Method::HEAD { Bytes::new() } else { Bytes::from(body) };
        let mut resp = Response::new(Full::new(body));
        *resp.status_mut() = status;
        resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
        Ok(resp)
    }
}

/// Appends the cache counters in Prometheus text format.
pub fn render_cache(out: &mut String, stats: &CacheStats, entries: usize) {
    let sides = [("encrypt", stats.encrypt), ("decrypt", stats.decrypt)];
    let _ = writeln!(out, "# HELP s3seal_cache_hits_total Materials requests served from the data-key cache.");
    let _ = writeln!(out, "# TYPE s3seal_cache_hits_total counter");
    for (side, s) in sides {
        let _ = writeln!(out, "s3seal_cache_hits_total{{side=\"{side}\"}} {}", s.hits);
    }
    let _ = writeln!(out, "# HELP s3seal_cache_misses_total Materials requests not served from the data-key cache.");
    let _ = writeln!(out, "# TYPE s3seal_cache_misses_total counter");
    for (side, s) in sides {
        let _ = writeln!(out, "s3seal_cache_misses_total{{side=\"{side}\"}} {}", s.misses);
    }
    let _ = writeln!(
        out,
        "# HELP s3seal_keyring_calls_total Calls to the keyring (with KMS keys: KMS GenerateDataKey/Decrypt calls)."
    );
    let _ = writeln!(out, "# TYPE s3seal_keyring_calls_total counter");
    for (side, s) in sides {
        let _ = writeln!(out, "s3seal_keyring_calls_total{{side=\"{side}\"}} {}", s.underlying_calls);
    }
    let _ = writeln!(out, "# HELP s3seal_cache_entries Entries in the data-key cache.");
    let _ = writeln!(out, "# TYPE s3seal_cache_entries gauge");
    let _ = writeln!(out, "s3seal_cache_entries {entries}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints() {
        let metrics = Arc::new(Metrics::default());
        metrics.request("PutObject");
        let admin = Admin::new(metrics, None);
        let get = |p: &str| Request::get(p).body(()).unwrap();
        let r = admin.handle(get("/health")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = admin.handle(get("/metrics")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = admin.handle(get("/nope")).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = admin.handle(Request::post("/health").body(()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let draining = Arc::new(AtomicBool::new(true));
        let admin2 = admin.clone().with_draining(draining);
        assert_eq!(admin2.handle(get("/health")).await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(admin.render().contains("s3seal_requests_total{operation=\"PutObject\"} 1"));
    }

    #[test]
    fn cache_text() {
        let mut out = String::new();
        let mut stats = CacheStats::default();
        stats.encrypt.hits = 999;
        stats.encrypt.underlying_calls = 1;
        render_cache(&mut out, &stats, 3);
        assert!(out.contains("s3seal_cache_hits_total{side=\"encrypt\"} 999"));
        assert!(out.contains("s3seal_keyring_calls_total{side=\"encrypt\"} 1"));
        assert!(out.contains("s3seal_cache_entries 3"));
    }
}
