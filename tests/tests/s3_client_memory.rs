//! Streaming a 100 MiB object through the encrypting client keeps the
//! process's peak memory under 64 MiB. Alone in its own test binary, so
//! that no other test's allocations count; the peak is read from
//! `/proc/self/status` (VmHWM).

use std::sync::Arc;

use s3seal::cmm::DefaultCmm;
use s3seal::keyring::RawAesKeyring;
use s3seal::s3::{Body, Client, Config};
use s3seal_tests::memory::{Generated, check_stream, peak_rss_kib};
use s3seal_tests::moto::MotoServer;
use s3seal_tests::s3client::moto_s3_client;
use s3seal_tests::s3fs::S3FsServer;

const SIZE: u64 = 100 * 1024 * 1024;

async fn round_trip(c: &Client, key: &str) {
    c.put_object()
        .bucket("big")
        .key(key)
        .body(Body::from_reader(Generated::new(SIZE)))
        .content_length(SIZE)
        .send()
        .await
        .expect("put");
    let out = c.get_object().bucket("big").key(key).send().await.expect("get");
    assert_eq!(out.content_length, SIZE);
    check_stream(out.body, 0, SIZE).await;
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
