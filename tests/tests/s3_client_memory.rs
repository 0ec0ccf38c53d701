//! Streaming a 100 MiB object through the encrypting client keeps the
//! process's peak memory under 64 MiB. Alone in its own test binary, so
//! that no other test's allocations count; the peak is read from
//! `/proc/self/status` (VmHWM).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use s3seal::cmm::DefaultCmm;
use s3seal::keyring::RawAesKeyring;
use s3seal::s3::{Body, Client, Config};
use s3seal_tests::moto::MotoServer;
use s3seal_tests::s3client::moto_s3_client;
use s3seal_tests::s3fs::S3FsServer;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

const SIZE: u64 = 100 * 1024 * 1024;

fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Deterministic plaintext produced on the fly.
struct Generated {
    pos: u64,
    len: u64,
}

impl AsyncRead for Generated {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.len - self.pos) as usize;
        let start = self.pos;
        let chunk: Vec<u8> = (0..n as u64).map(|i| byte_at(start + i)).collect();
        buf.put_slice(&chunk);
        self.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

async fn round_trip(c: &Client, key: &str) {
    c.put_object()
        .bucket("big")
        .key(key)
        .body(Body::from_reader(Generated { pos: 0, len: SIZE }))
        .content_length(SIZE)
        .send()
        .await
        .expect("put");
    let out = c.get_object().bucket("big").key(key).send().await.expect("get");
    assert_eq!(out.content_length, SIZE);
    let mut body = out.body;
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = 0u64;
    loop {
        let n = body.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, byte_at(pos + i as u64), "byte {}", pos + i as u64);
        }
        pos += n as u64;
    }
    assert_eq!(pos, SIZE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_streams_in_bounded_memory() {
    let before = peak_rss_kib();
    let keyring = Arc::new(RawAesKeyring::new("mem", "k", &[9; 32]).unwrap());
    let fs = S3FsServer::start().expect("s3s-fs");
    fs.create_bucket("big").await.expect("bucket");
    let c = Client::with_cmm(fs.client(), Arc::new(DefaultCmm::new(keyring.clone())), Config::default());
    round_trip(&c, "through-s3s-fs").await;
    let moto = MotoServer::start().expect("moto");
    let raw = moto_s3_client(&moto);
    raw.create_bucket().bucket("big").send().await.expect("bucket");
    let c = Client::with_cmm(raw, Arc::new(DefaultCmm::new(keyring)), Config::default());
    round_trip(&c, "through-moto").await;
    let peak = peak_rss_kib();
    eprintln!("peak RSS {} MiB (at start {} MiB) for two 100 MiB round trips", peak / 1024, before / 1024);
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB is not under 64 MiB");
}
