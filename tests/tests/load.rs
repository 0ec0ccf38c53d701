//! The load test (not in the default run): `LOAD_CLIENTS` concurrent
//! clients (default 64) for `LOAD_SECS` seconds (default 60) of mixed
//! PutObject, GetObject (whole and ranged), ListObjectsV2 and multipart
//! uploads against the real `s3seal proxy` on its embedded store. Every
//! byte read back is compared with what was written; the test fails on any
//! error or mismatch, and prints per operation the count and the p50 / p99
//! latency, and the proxy's peak RSS.
//!
//! ```text
//! cargo build --release -p s3seal-cli --bin s3seal
//! S3SEAL_TEST_BINARY=$PWD/target/release/s3seal \
//!   cargo nextest run -p s3seal-tests --release --run-ignored only -E 'binary(load)' --no-capture
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3seal_tests::clients::{ProxyOptions, ProxyProcess};

const BUCKET: &str = "load";
const PART: usize = 5 * 1024 * 1024;

/// Latencies by operation.
type Timings = Arc<Mutex<BTreeMap<&'static str, Vec<Duration>>>>;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The content of object `seed`, `len` bytes (cheap, and different per
/// object and offset).
fn content(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(0x9E37_79B9) ^ (i >> 11)) as u8).collect()
}

async fn timed<T>(
    t: &Timings,
    op: &'static str,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    let r = f.await;
    if r.is_ok() {
        t.lock().expect("timings").entry(op).or_default().push(start.elapsed());
    }
    r
}

async fn get(c: &aws_sdk_s3::Client, key: &str, range: Option<String>) -> anyhow::Result<Vec<u8>> {
    let out = c.get_object().bucket(BUCKET).key(key).set_range(range).send().await?;
    Ok(out.body.collect().await?.into_bytes().to_vec())
}

async fn multipart(c: &aws_sdk_s3::Client, key: &str, body: &[u8]) -> anyhow::Result<()> {
    let up = c.create_multipart_upload().bucket(BUCKET).key(key).send().await?;
    let id = up.upload_id().unwrap_or_default().to_string();
    let mut parts = Vec::new();
    for (i, chunk) in body.chunks(PART).enumerate() {
        let n = i32::try_from(i + 1)?;
        let part = c.upload_part().bucket(BUCKET).key(key).upload_id(&id).part_number(n);
        let out = part.body(ByteStream::from(chunk.to_vec())).send().await?;
        parts.push(CompletedPart::builder().part_number(n).set_e_tag(out.e_tag).build());
    }
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    c.complete_multipart_upload().bucket(BUCKET).key(key).upload_id(&id).multipart_upload(done).send().await?;
    Ok(())
}

/// One client's loop until `deadline`: every step writes an object, reads
/// it back whole and by a range, and every tenth lists or uploads in parts.
async fn client_loop(c: aws_sdk_s3::Client, id: u64, deadline: Instant, t: Timings) -> anyhow::Result<u64> {
    let mut step = 0u64;
    while Instant::now() < deadline {
        let seed = id << 32 | step;
        let key = format!("c{id}/o{}", step % 8);
        let len = [1usize, 1000, 64 * 1024, 300_000, 1_500_000][(step % 5) as usize];
        let body = content(seed, len);
        timed(&t, "PutObject", async {
            c.put_object().bucket(BUCKET).key(&key).body(ByteStream::from(body.clone())).send().await?;
            Ok(())
        })
        .await?;
        let whole = timed(&t, "GetObject", get(&c, &key, None)).await?;
        anyhow::ensure!(whole == body, "client {id} step {step}: GET of {key} differs");
        let (a, b) = (len as u64 / 3, (len as u64 * 2 / 3).max(len as u64 / 3));
        let part = timed(&t, "GetObject range", get(&c, &key, Some(format!("bytes={a}-{b}")))).await?;
        anyhow::ensure!(part == body[a as usize..=b as usize], "client {id} step {step}: range of {key} differs");
        if step % 10 == 3 {
            let listed = timed(&t, "ListObjectsV2", async {
                Ok(c.list_objects_v2().bucket(BUCKET).prefix(format!("c{id}/")).send().await?)
            })
            .await?;
            anyhow::ensure!(!listed.contents().is_empty(), "client {id}: its objects are listed");
        }
        if step % 10 == 7 {
            let key = format!("c{id}/mpu");
            let body = content(seed ^ 0xFF, 2 * PART + 12_345);
            timed(&t, "multipart upload", multipart(&c, &key, &body)).await?;
            let back = timed(&t, "GetObject", get(&c, &key, None)).await?;
            anyhow::ensure!(back == body, "client {id} step {step}: multipart object differs");
        }
        step += 1;
    }
    Ok(step)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the load test: run it by hand (see the module documentation)"]
async fn mixed_load_against_the_embedded_store() {
    let (clients, secs) = (env_or("LOAD_CLIENTS", 64), env_or("LOAD_SECS", 60));
    let dir = tempfile::Builder::new().prefix("load-").tempdir().expect("temp dir");
    let proxy = ProxyProcess::start_embedded(dir.path(), &ProxyOptions::default()).expect("embedded proxy");
    let c = proxy.sdk_client();
    c.create_bucket().bucket(BUCKET).send().await.expect("CreateBucket");
    let timings: Timings = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> =
        (0..clients).map(|id| tokio::spawn(client_loop(proxy.sdk_client(), id, deadline, timings.clone()))).collect();
    let mut steps = 0;
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.expect("client task") {
            Ok(n) => steps += n,
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let rss = proxy.pid().map_or(0, peak_rss_kib);
    println!("{clients} clients × {secs} s: {steps} steps, {} errors, proxy peak RSS {} MiB", errors.len(), rss / 1024);
    for (op, mut d) in timings.lock().expect("timings").clone() {
        d.sort_unstable();
        let (p50, p99) = (percentile(&d, 0.5), percentile(&d, 0.99));
        println!(
            "  {op:18} {:7} ops  p50 {:8.1} ms  p99 {:8.1} ms",
            d.len(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    assert!(errors.is_empty(), "errors:\n{}", errors.join("\n"));
}
