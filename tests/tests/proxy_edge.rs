//! The proxy's edge under connection floods (docs/PROXY.md, "Connections"):
//! the real `s3seal proxy` binary, run under an open-file limit of 1024,
//! takes 2,000 silent TCP connections and 500 HTTP/2 (h2c) connections that
//! go quiet after the preface, and
//!
//! * still answers a signed GET, each within 1 s, during the flood (idle
//!   connections give way to new ones when the proxy is full);
//! * closes every flood connection within its idle timeout (plus a margin);
//! * never runs out of file descriptors, and logs the limits it chose.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use aws_sdk_s3::primitives::ByteStream;
use s3seal_tests::clients::{ProxyOptions, ProxyProcess, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BUCKET: &str = "edge";
const OPEN_FILES: u64 = 1024;
const IDLE_TIMEOUT_SECS: u64 = 3;
const SILENT_TCP: usize = 2_000;
const QUIET_H2C: usize = 500;

/// The HTTP/2 client preface and an empty SETTINGS frame: a connection
/// that has chosen HTTP/2 and then says nothing.
const H2C_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

async fn flood(addr: SocketAddr, n: usize, preface: &[u8]) -> Result<Vec<TcpStream>> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(addr).await.with_context(|| format!("flood connection {i}"))?;
        if !preface.is_empty() {
            // The proxy may already have closed it to make room: that is fine.
            let _ = s.write_all(preface).await;
        }
        conns.push(s);
    }
    Ok(conns)
}

/// True when the proxy closed `s` (end of stream or reset) within `wait`;
/// what it sent first (an HTTP/2 SETTINGS or GOAWAY frame) is skipped.
async fn closed_by_proxy(mut s: TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

async fn timed_get(client: &aws_sdk_s3::Client) -> Result<Duration> {
    let t0 = Instant::now();
    let out = client.get_object().bucket(BUCKET).key("k").send().await.context("signed GET during the flood")?;
    let body = out.body.collect().await.context("GET body")?.into_bytes();
    ensure!(&body[..] == b"still served", "wrong body");
    Ok(t0.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_floods_do_not_lock_clients_out() -> Result<()> {
    let needed = (SILENT_TCP + QUIET_H2C + 256) as u64;
    let have = rlimit::increase_nofile_limit(u64::MAX).context("raising this test's open-file limit")?;
    ensure!(have >= needed, "this test needs {needed} open files, the hard limit is {have}");
    let dir = tempfile::tempdir()?;
    let upstream = Upstream::s3fs()?;
    let options = ProxyOptions {
        name: "edge".into(),
        extra_config: format!("[limits]\nidle_timeout_secs = {IDLE_TIMEOUT_SECS}\n"),
        open_files: Some(OPEN_FILES),
        ..ProxyOptions::default()
    };
    let proxy = ProxyProcess::start(&upstream, dir.path(), &options)?;
    let client = proxy.sdk_client();
    client.create_bucket().bucket(BUCKET).send().await?;
    client.put_object().bucket(BUCKET).key("k").body(ByteStream::from_static(b"still served")).send().await?;

    let t0 = Instant::now();
    let mut flooded = flood(proxy.addr(), SILENT_TCP, b"").await?;
    let first = timed_get(&client).await?;
    flooded.extend(flood(proxy.addr(), QUIET_H2C, H2C_PREFACE).await?);
    let second = timed_get(&client).await?;
    let flood_time = t0.elapsed();
    println!("flood of {} connections in {flood_time:?}; GETs during it: {first:?}, {second:?}", flooded.len());
    ensure!(first < Duration::from_secs(1) && second < Duration::from_secs(1), "GET too slow: {first:?}, {second:?}");

    // Every flood connection is closed within the idle timeout, counted
    // from the last one opened (with a margin for a loaded machine).
    let wait = Duration::from_secs(IDLE_TIMEOUT_SECS + 5);
    let closed = futures_util::future::join_all(flooded.into_iter().map(|s| closed_by_proxy(s, wait))).await;
    let open = closed.iter().filter(|c| !**c).count();
    ensure!(open == 0, "{open} of {} flood connections still open after {wait:?}", closed.len());
    ensure!(timed_get(&client).await? < Duration::from_secs(1), "GET after the flood too slow");

    let log = proxy.log();
    ensure!(!log.contains("Too many open files"), "the proxy ran out of file descriptors:\n{log}");
    ensure!(
        log.contains(&format!("open_files={OPEN_FILES}")) && log.contains("max_connections=426"),
        "the proxy did not log the limits it fitted to 1024 open files:\n{log}"
    );
    Ok(())
}
