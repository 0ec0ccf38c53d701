//! A 100 MiB part copied with `upload_part_copy` (read, verified and sealed
//! again as it streams) keeps the process's peak memory under 64 MiB. Alone
//! in its own test binary, so that no other test's allocations count; the
//! peak is read from `/proc/self/status` (VmHWM). The store is `s3s-fs` in
//! this process, so its memory counts too.

use std::sync::Arc;

use s3seal::cmm::DefaultCmm;
use s3seal::keyring::RawAesKeyring;
use s3seal::s3::{Body, Client, Config};
use s3seal_tests::memory::{Generated, check_stream, peak_rss_kib};
use s3seal_tests::s3fs::S3FsServer;

const SIZE: u64 = 100 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mib_part_copies_in_bounded_memory() {
    let before = peak_rss_kib();
    let keyring = Arc::new(RawAesKeyring::new("mem", "k", &[9; 32]).unwrap());
    let fs = S3FsServer::start().expect("s3s-fs");
    fs.create_bucket("big").await.expect("bucket");
    let c = Client::with_cmm(fs.client(), Arc::new(DefaultCmm::new(keyring)), Config::default());
    let body = Body::from_reader(Generated::new(SIZE));
    c.put_object().bucket("big").key("source").body(body).content_length(SIZE).send().await.expect("put");
    let up = c.create_multipart_upload().bucket("big").key("copy").send().await.expect("create");
    let part = up.upload_part_copy(1).source("big", "source").send().await.expect("part copy");
    assert_eq!(part.part.plaintext_length, SIZE);
    up.complete(vec![part.part]).await.expect("complete");
    let out = c.get_object().bucket("big").key("copy").send().await.expect("get");
    assert_eq!(out.content_length, SIZE);
    check_stream(out.body, 0, SIZE).await;
    let peak = peak_rss_kib();
    eprintln!("peak RSS {} MiB (at start {} MiB) for a 100 MiB part copy", peak / 1024, before / 1024);
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB is not under 64 MiB");
}
