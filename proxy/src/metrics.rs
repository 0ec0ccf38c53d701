//! Counters the proxy exposes on its admin address, in Prometheus text
//! format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Request, byte and error counters. Shared by every connection.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<&'static str, u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    connections_open: AtomicU64,
    integrity_failures: AtomicU64,
    connections_refused: Mutex<BTreeMap<&'static str, u64>>,
    connections_closed: Mutex<BTreeMap<&'static str, u64>>,
    requests_refused: Mutex<BTreeMap<&'static str, u64>>,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

impl Metrics {
    /// Counts one request of operation `op`.
    pub fn request(&self, op: &'static str) {
        bump(&self.requests, op);
    }

    /// Counts one failed request of operation `op`.
    pub fn error(&self, op: &'static str) {
        bump(&self.errors, op);
    }

    /// Counts a stored object that failed verification when read (before
    /// or during its answer).
    pub fn integrity_failure(&self) {
        self.integrity_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts plaintext bytes received from clients.
    pub fn add_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts plaintext bytes sent to clients.
    pub fn add_bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a client connection opened (`true`) or closed.
    pub fn connection(&self, opened: bool) {
        if opened {
            self.connections_open.fetch_add(1, Ordering::Relaxed);
        } else {
            self.connections_open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Counts a client connection refused at accept, by `reason`.
    pub fn connection_refused(&self, reason: &'static str) {
        bump(&self.connections_refused, reason);
    }

    /// Counts a client connection the proxy closed, by `reason` (`idle`,
    /// `evicted`, `header_timeout`, `tls_handshake`).
    pub fn connection_closed(&self, reason: &'static str) {
        bump(&self.connections_closed, reason);
    }

    /// Counts a request refused at the edge (before or while its body is
    /// read), by `reason` (`sigv2`, `post_upload`, `body_too_slow`, ...).
    pub fn request_refused(&self, reason: &'static str) {
        bump(&self.requests_refused, reason);
    }

    /// Requests refused at the edge for `reason` so far.
    pub fn requests_refused(&self, reason: &str) -> u64 {
        self.requests_refused.lock().ok().and_then(|m| m.get(reason).copied()).unwrap_or(0)
    }

    /// Renders the counters in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE s3seal_requests_total counter");
        if let Ok(m) = self.requests.lock() {
            for (op, n) in m.iter() {
                let _ = writeln!(out, "s3seal_requests_total{{operation=\"{op}\"}} {n}");
            }
        }
        let _ = writeln!(out, "# TYPE s3seal_errors_total counter");
        if let Ok(m) = self.errors.lock() {
            for (op, n) in m.iter() {
                let _ = writeln!(out, "s3seal_errors_total{{operation=\"{op}\"}} {n}");
            }
        }
        let _ = writeln!(out, "# TYPE s3seal_integrity_failures_total counter");
        let _ = writeln!(out, "s3seal_integrity_failures_total {}", self.integrity_failures.load(Ordering::Relaxed));
        let _ = writeln!(out, "# TYPE s3seal_bytes_in_total counter");
        let _ = writeln!(out, "s3seal_bytes_in_total {}", self.bytes_in.load(Ordering::Relaxed));
        let _ = writeln!(out, "# TYPE s3seal_bytes_out_total counter");
        let _ = writeln!(out, "s3seal_bytes_out_total {}", self.bytes_out.load(Ordering::Relaxed));
        let _ = writeln!(out, "# TYPE s3seal_connections_open gauge");
        let _ = writeln!(out, "s3seal_connections_open {}", self.connections_open.load(Ordering::Relaxed));
        for (name, map) in [
            ("s3seal_connections_refused_total", &self.connections_refused),
            ("s3seal_connections_closed_total", &self.connections_closed),
            ("s3seal_requests_refused_total", &self.requests_refused),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter");
            if let Ok(m) = map.lock() {
                for (reason, n) in m.iter() {
                    let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
                }
            }
        }
        out
    }
}
