//! Reading a large Amazon S3 Encryption Client object (one AES-GCM tag
//! over the whole object) keeps memory bounded: the object is written in
//! format V3 by `s3seal::s3::Client` (parts encrypted in sequence), then
//! read back whole and by range; above the in-memory limit its ciphertext
//! is authenticated through an unnamed temporary file before any plaintext
//! is released. Alone in its own test binary so that the peak RSS
//! (`/proc/self/status` VmHWM) is this test's.

use std::sync::Arc;

use s3seal::Error;
use s3seal::cmm::DefaultCmm;
use s3seal::keyring::RawAesKeyring;
use s3seal::s3::{Body, Client, Config, WriteFormat};
use s3seal::s3ec::SpoolLimits;
use s3seal_tests::memory::{Generated, check_stream, peak_rss_kib};
use s3seal_tests::s3fs::S3FsServer;

const SIZE: u64 = 200 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_s3ec_objects_read_in_bounded_memory() {
    let before = peak_rss_kib();
    let keyring = Arc::new(RawAesKeyring::new("mem", "k", &[7; 32]).expect("keyring"));
    let fs = S3FsServer::start().expect("s3s-fs");
    fs.create_bucket("big").await.expect("bucket");
    let config = Config { write_format: WriteFormat::S3ecV3, ..Config::default() };
    let c = Client::with_cmm(fs.client(), Arc::new(DefaultCmm::new(keyring.clone())), config);
    let up = c
        .upload()
        .bucket("big")
        .key("s3ec")
        .body(Body::from_reader(Generated::new(SIZE)))
        .send()
        .await
        .expect("upload");
    assert_eq!(up.plaintext_length, SIZE);
    assert!(up.parts > 1, "expected a multipart upload, got {} part(s)", up.parts);
    let after_upload = peak_rss_kib();
    // Reset the peak so that the reads are measured on their own.
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM");

    let out = c.get_object().bucket("big").key("s3ec").send().await.expect("get");
    assert!(out.s3ec.is_some());
    assert_eq!(out.content_length, SIZE);
    check_stream(out.body, 0, SIZE).await;

    let (a, b) = (SIZE / 2 - 1000, SIZE / 2 + 70_000);
    let out = c.get_object().bucket("big").key("s3ec").range(format!("bytes={a}-{b}")).send().await.expect("range");
    assert_eq!(out.content_length, b - a + 1);
    check_stream(out.body, a, b - a + 1).await;

    // Without temporary files, an object over the memory limit is refused
    // with a clear error rather than held in memory.
    let config = Config {
        s3ec_spool: SpoolLimits { memory: 16 * 1024 * 1024, temp_file: false, temp_dir: None },
        ..Config::default()
    };
    let strict = Client::with_cmm(fs.client(), Arc::new(DefaultCmm::new(keyring)), config);
    match strict.get_object().bucket("big").key("s3ec").send().await {
        Err(Error::UnsupportedS3ec(m)) => assert!(m.contains("temporary files are disabled"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    let reads = peak_rss_kib();
    eprintln!(
        "{} MiB S3 Encryption Client object: peak RSS {} MiB while writing it (at start {} MiB; s3s-fs runs in this process), {} MiB while reading it whole and by range",
        SIZE >> 20,
        after_upload / 1024,
        before / 1024,
        reads / 1024,
    );
    assert!(after_upload < 64 * 1024, "peak RSS {after_upload} KiB while writing is not under 64 MiB");
    assert!(reads < 64 * 1024, "peak RSS {reads} KiB while reading is not under 64 MiB");
}
