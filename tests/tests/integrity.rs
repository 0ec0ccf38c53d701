//! Tampering is loud, and dropped trailing parts are detected (issue 14,
//! items 5 and 7), over moto and the embedded store:
//!
//! * **Through the real `s3seal proxy` binary, with raw HTTP**: stored
//!   objects (single-request and multipart) are altered directly in the
//!   store (a byte flipped in the first, a middle and the last frame;
//!   truncated inside a frame, at a frame boundary and at a part
//!   boundary), then read whole and by ranges. Every read either answers
//!   an S3 error before any byte (`500 S3SealIntegrityError` when the
//!   first frame it would return fails) or starts and is aborted: fewer
//!   bytes than its `Content-Length` and a closed connection, never a clean
//!   shorter body. The proxy logs each failure (bucket, key, frame) and
//!   counts it on `/metrics`.
//! * **Dropped trailing parts** of multipart uploads without END_MARKED
//!   (every proxy upload, and the SDK's low-level uploads): re-completing
//!   the upstream upload with fewer parts (with `aws-sdk-s3` and the
//!   upstream upload id) and copying over the object with fewer parts are
//!   refused on whole reads, suffix ranges and HEAD, through the proxy and
//!   through the SDK, because the object's final record (FORMAT.md 2.15)
//!   no longer matches; copies of a recorded object stay readable.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3seal::s3::{Client, Config};
use s3seal::{DefaultCmm, Error, RawAesKeyring};
use s3seal_tests::clients::{
    CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, ProxyOptions, ProxyProcess, REGION, Upstream, sigv4,
};

const BUCKET: &str = "integrity";
const OTHER_BUCKET: &str = "integrity-other";
const F: u64 = 65536;
const UNIT: usize = F as usize + 16;
const PART: usize = 5 * 1024 * 1024;

fn data(n: usize, seed: u64) -> Vec<u8> {
    (0..n as u64).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 7) as u8).collect()
}

/// Ciphertext bytes of a part of `p` plaintext bytes.
fn part_ct(p: usize) -> usize {
    s3seal::object::ciphertext_len(p as u64, F) as usize
}

// ---------------------------------------------------------------- the store

/// The stored bytes and user metadata of `key`, read directly.
async fn stored(direct: &aws_sdk_s3::Client, key: &str) -> (Vec<u8>, HashMap<String, String>) {
    let out = direct.get_object().bucket(BUCKET).key(key).send().await.expect("direct GET");
    let meta = out.metadata().cloned().unwrap_or_default();
    (out.body.collect().await.expect("direct body").into_bytes().to_vec(), meta)
}

/// Replaces `key` in the store with `body`, keeping `meta` (the envelope).
async fn replace(direct: &aws_sdk_s3::Client, key: &str, body: Vec<u8>, meta: &HashMap<String, String>) {
    direct
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .set_metadata(Some(meta.clone()))
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("direct PUT of the tampered object");
}

fn flip(body: &[u8], at: usize) -> Vec<u8> {
    let mut b = body.to_vec();
    b[at] ^= 0x20;
    b
}

/// The attacker's copy-over: a new upstream multipart upload of `key`
/// with the object's own metadata (envelope), made of its first `keep`
/// stored parts (`UploadPartCopy` where the store has it, else the same
/// bytes uploaded again), completed directly.
async fn copy_over_with_fewer_parts(
    direct: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    parts: &[usize],
    keep: usize,
) {
    let head = direct.head_object().bucket(bucket).key(key).send().await.expect("direct HEAD");
    let meta = head.metadata().cloned().unwrap_or_default();
    let up = direct
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .set_metadata(Some(meta))
        .send()
        .await
        .expect("direct CreateMultipartUpload");
    let id = up.upload_id().expect("upload id");
    let mut done = Vec::new();
    let mut at = 0usize;
    for (i, &p) in parts[..keep].iter().enumerate() {
        let n = i as i32 + 1;
        let (a, b) = (at, at + part_ct(p) - 1);
        at = b + 1;
        let copied = direct
            .upload_part_copy()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .copy_source(format!("{bucket}/{key}"))
            .copy_source_range(format!("bytes={a}-{b}"))
            .send()
            .await;
        let e_tag = match copied {
            Ok(c) => c.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string),
            Err(_) => {
                let got = direct.get_object().bucket(bucket).key(key).range(format!("bytes={a}-{b}")).send().await;
                let bytes = got.expect("direct ranged GET").body.collect().await.expect("body").into_bytes();
                let r = direct.upload_part().bucket(bucket).key(key).upload_id(id).part_number(n);
                r.body(ByteStream::from(bytes)).send().await.expect("direct UploadPart").e_tag().map(str::to_string)
            }
        };
        done.push(CompletedPart::builder().part_number(n).set_e_tag(e_tag).build());
    }
    direct
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .expect("direct CompleteMultipartUpload of the copy-over");
}

/// The attacker's re-completion: the open upstream upload of `key`,
/// completed directly with its parts `1..=keep` (ETags from ListParts).
async fn complete_upstream_with(direct: &aws_sdk_s3::Client, bucket: &str, key: &str, upstream_id: &str, keep: i32) {
    let listed = direct.list_parts().bucket(bucket).key(key).upload_id(upstream_id).send().await.expect("ListParts");
    let parts: Vec<CompletedPart> = listed
        .parts()
        .iter()
        .filter(|p| p.part_number().is_some_and(|n| n <= keep))
        .map(|p| {
            CompletedPart::builder().set_part_number(p.part_number()).set_e_tag(p.e_tag().map(str::to_string)).build()
        })
        .collect();
    assert_eq!(parts.len(), keep as usize);
    direct
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upstream_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("the attacker's direct CompleteMultipartUpload with fewer parts");
}

async fn stored_len(direct: &aws_sdk_s3::Client, bucket: &str, key: &str) -> usize {
    let h = direct.head_object().bucket(bucket).key(key).send().await.expect("direct HEAD");
    h.content_length().unwrap_or(-1) as usize
}

// ------------------------------------------------------------- raw HTTP

/// What a client saw of one GET, read to the end of the connection.
#[derive(Debug)]
struct Seen {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    code: Option<String>,
    body: Vec<u8>,
    /// The read ended in an error (a reset) rather than at EOF.
    reset: bool,
}

impl Seen {
    /// A complete, successful answer: what a tampered object must never get.
    fn clean(&self) -> bool {
        (200..300).contains(&self.status)
            && match self.content_length {
                Some(n) => self.body.len() == n,
                None => self.chunked && self.body.ends_with(b"0\r\n\r\n"),
            }
    }
}

/// A signed GET of `key` through the proxy, over one HTTP/1.1 connection
/// read until the server closes it.
fn raw_get(proxy: &ProxyProcess, key: &str, range: Option<&str>) -> Seen {
    let signer = sigv4::Signer::new(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION, SystemTime::now());
    let host = proxy.addr().to_string();
    let extra: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
    let req = sigv4::signed_request(&signer, "GET", &host, &format!("/{BUCKET}/{key}"), "", &extra, b"");
    let mut s = TcpStream::connect(proxy.addr()).expect("connect to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    s.write_all(&req).expect("send the GET");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    let reset = loop {
        match s.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break true,
        }
    };
    let Some(split) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        // Closed before a whole response head: an aborted answer.
        eprintln!("GET {key} {range:?}: closed before a response head ({} bytes, reset {reset})", bytes.len());
        return Seen { status: 0, content_length: None, chunked: false, code: None, body: bytes, reset };
    };
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
    let header = |name: &str| {
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let body = bytes[split + 4..].to_vec();
    let text = String::from_utf8_lossy(&body);
    let code =
        text.find("<Code>").and_then(|a| text[a + 6..].find("</Code>").map(|b| text[a + 6..a + 6 + b].to_string()));
    Seen {
        status,
        content_length: header("content-length").and_then(|v| v.parse().ok()),
        chunked: header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")),
        code,
        body,
        reset,
    }
}

/// Every read of a tampered object is loud: an S3 error before any byte,
/// or an aborted transfer. Returns true when it was an error answer.
fn assert_loud(seen: &Seen, what: &str) -> bool {
    assert!(!seen.clean(), "{what}: a clean answer for a tampered object: {seen:?}");
    if seen.status >= 400 {
        assert!(seen.code.is_some(), "{what}: {} without an S3 error body", seen.status);
        return true;
    }
    assert!(seen.status == 0 || (200..300).contains(&seen.status), "{what}: status {}", seen.status);
    if let Some(n) = seen.content_length {
        assert!(seen.body.len() < n, "{what}: {} of {n} bytes (reset: {})", seen.body.len(), seen.reset);
    }
    false
}

/// The read must be refused before any byte, as an integrity failure.
fn assert_refused(seen: &Seen, what: &str) {
    assert_eq!(
        (seen.status, seen.code.as_deref()),
        (500, Some("S3SealIntegrityError")),
        "{what}: {:?}",
        String::from_utf8_lossy(&seen.body[..seen.body.len().min(300)])
    );
}

/// The read must start (`status`) and be cut short, and what arrived must
/// be a prefix of `want` (only verified plaintext is sent).
fn assert_aborted(seen: &Seen, status: u16, want: &[u8], what: &str) {
    assert_eq!(seen.status, status, "{what}: {:?}", seen.code);
    assert!(!assert_loud(seen, what));
    assert_eq!(seen.content_length, Some(want.len()), "{what}");
    assert!(seen.body[..] == want[..seen.body.len()], "{what}: the bytes sent are not the plaintext");
}

async fn start(name: &str) -> (tempfile::TempDir, Upstream, ProxyProcess) {
    let dir = tempfile::Builder::new().prefix("integrity-").tempdir().expect("temp dir");
    let upstream = Upstream::start(name).await.expect("upstream");
    let opts = ProxyOptions { name: "proxy".into(), admin: true, ..Default::default() };
    let proxy = ProxyProcess::start(&upstream, dir.path(), &opts).expect("s3seal proxy");
    proxy.sdk_client().create_bucket().bucket(BUCKET).send().await.expect("CreateBucket");
    (dir, upstream, proxy)
}

/// Uploads `parts` (plaintext sizes) of `data` through the proxy to `key`,
/// completing the upload unless `complete` is false; returns the proxy's
/// upload id.
async fn proxy_upload(proxy: &ProxyProcess, key: &str, data: &[u8], parts: &[usize], complete: bool) -> String {
    let c = proxy.sdk_client();
    let up = c.create_multipart_upload().bucket(BUCKET).key(key).send().await.expect("CreateMultipartUpload");
    let id = up.upload_id().expect("upload id").to_string();
    let mut done = Vec::new();
    let mut at = 0;
    for (i, &p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let body = ByteStream::from(data[at..at + p].to_vec());
        at += p;
        let r = c.upload_part().bucket(BUCKET).key(key).upload_id(&id).part_number(n).body(body).send().await;
        let r = r.expect("UploadPart");
        done.push(CompletedPart::builder().part_number(n).set_e_tag(r.e_tag().map(str::to_string)).build());
    }
    if complete {
        c.complete_multipart_upload()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
            .send()
            .await
            .expect("CompleteMultipartUpload");
    }
    id
}

// ------------------------------------------------- must-show 3: loud tampering

async fn tampering_is_loud(name: &str) {
    let (_dir, upstream, proxy) = start(name).await;
    let direct = upstream.direct_client();
    let c = proxy.sdk_client();

    // A single-request object of 5 frames.
    let single = data(4 * F as usize + 100, 1);
    c.put_object().bucket(BUCKET).key("single").body(ByteStream::from(single.clone())).send().await.expect("PUT");
    let (body, meta) = stored(&direct, "single").await;
    assert_eq!(body.len(), 4 * UNIT + 116);
    assert!(raw_get(&proxy, "single", None).clean(), "the untouched object reads cleanly");

    // First frame: refused before any byte, whole and by a range.
    replace(&direct, "single", flip(&body, 10), &meta).await;
    assert_refused(&raw_get(&proxy, "single", None), "first frame flipped, whole");
    assert_refused(&raw_get(&proxy, "single", Some("bytes=0-99")), "first frame flipped, range");
    assert!(raw_get(&proxy, "single", Some("bytes=65536-")).clean(), "a range without the altered frame");

    // A middle frame: the whole read starts and is aborted; a range that
    // starts there is refused.
    replace(&direct, "single", flip(&body, 2 * UNIT + 7), &meta).await;
    assert_aborted(&raw_get(&proxy, "single", None), 200, &single, "middle frame flipped, whole");
    assert_aborted(&raw_get(&proxy, "single", Some("bytes=0-")), 206, &single, "middle frame flipped, range from 0");
    assert_refused(&raw_get(&proxy, "single", Some("bytes=131072-")), "middle frame flipped, range from it");
    let sdk = c.get_object().bucket(BUCKET).key("single").send().await.expect("the answer starts");
    assert!(sdk.body.collect().await.is_err(), "an SDK sees the aborted body as an error");

    // The last frame.
    replace(&direct, "single", flip(&body, body.len() - 3), &meta).await;
    assert_aborted(&raw_get(&proxy, "single", None), 200, &single, "last frame flipped, whole");
    assert_refused(&raw_get(&proxy, "single", Some("bytes=-10")), "last frame flipped, suffix");

    // Truncations: inside the last frame, and at a frame boundary (the new
    // last frame lacks the end flags).
    replace(&direct, "single", body[..body.len() - 100].to_vec(), &meta).await;
    assert_loud(&raw_get(&proxy, "single", None), "cut inside the last frame, whole");
    assert_loud(&raw_get(&proxy, "single", Some("bytes=-10")), "cut inside the last frame, suffix");
    replace(&direct, "single", body[..3 * UNIT].to_vec(), &meta).await;
    assert_aborted(&raw_get(&proxy, "single", None), 200, &single[..3 * F as usize], "cut at a frame boundary, whole");
    assert_refused(&raw_get(&proxy, "single", Some("bytes=-10")), "cut at a frame boundary, suffix");

    // A multipart object (recorded): frames flipped in parts 1 and 2,
    // cuts inside a frame and at the part boundary.
    let parts = [PART, 100_000];
    let multi = data(PART + 100_000, 2);
    proxy_upload(&proxy, "multi", &multi, &parts, true).await;
    let (body, meta) = stored(&direct, "multi").await;
    assert!(raw_get(&proxy, "multi", None).clean(), "the untouched multipart object reads cleanly");
    replace(&direct, "multi", flip(&body, 5), &meta).await;
    assert_refused(&raw_get(&proxy, "multi", None), "multipart, first frame flipped");
    replace(&direct, "multi", flip(&body, part_ct(PART) + UNIT + 9), &meta).await;
    assert_aborted(&raw_get(&proxy, "multi", None), 200, &multi, "multipart, a frame of part 2 flipped");
    assert_refused(&raw_get(&proxy, "multi", Some("bytes=-100")), "multipart, last frame flipped, suffix");
    replace(&direct, "multi", flip(&body, PART / 2), &meta).await;
    assert_aborted(
        &raw_get(&proxy, "multi", Some("bytes=1000-")),
        206,
        &multi[1000..],
        "multipart, a middle frame of part 1",
    );
    replace(&direct, "multi", body[..body.len() - 7].to_vec(), &meta).await;
    assert_loud(&raw_get(&proxy, "multi", None), "multipart, cut inside the last frame");
    replace(&direct, "multi", body[..part_ct(PART)].to_vec(), &meta).await;
    assert_refused(&raw_get(&proxy, "multi", None), "multipart, cut at the part boundary, whole");
    assert_refused(&raw_get(&proxy, "multi", Some("bytes=-100")), "multipart, cut at the part boundary, suffix");

    // Logged with bucket, key and frame, and counted.
    let log = proxy.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("integrity failure")).collect();
    assert!(
        lines.iter().any(|l| l.contains("bucket=integrity") && l.contains("key=single") && l.contains("frame=2")),
        "no log line for the middle frame of single:\n{log}"
    );
    assert!(lines.iter().any(|l| l.contains("key=multi") && l.contains("streaming=true")), "{log}");
    let failures = proxy.metric("s3seal_integrity_failures_total").expect("metrics");
    let errors = proxy.metric("s3seal_errors_total{operation=\"GetObject\"}").expect("metrics");
    assert!(failures >= 19, "s3seal_integrity_failures_total = {failures}");
    assert!(errors >= failures, "s3seal_errors_total{{GetObject}} = {errors} < {failures}");
    eprintln!("{name}: {failures} integrity failures counted, {} logged", lines.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_through_the_proxy_is_loud_moto() {
    tampering_is_loud("moto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_through_the_proxy_is_loud_embedded() {
    tampering_is_loud("embedded").await;
}

// ------------------------------------ must-show 4: dropped parts, proxy

fn integrity_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<impl std::fmt::Debug, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
    what: &str,
) {
    let e = r.expect_err(what);
    let status = e.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(500), "{what}: {e:?}");
    if let Some(code) = e.code() {
        assert_eq!(code, "S3SealIntegrityError", "{what}");
    }
}

/// Whole read, suffix range and HEAD of `key` through the proxy all fail
/// as integrity failures (raw HTTP for the GETs, the SDK for HEAD).
async fn proxy_refuses(proxy: &ProxyProcess, key: &str, what: &str) {
    assert_refused(&raw_get(proxy, key, None), &format!("{what}: whole"));
    assert_refused(&raw_get(proxy, key, Some("bytes=-1000")), &format!("{what}: suffix range"));
    assert_refused(&raw_get(proxy, key, Some("bytes=0-99")), &format!("{what}: first bytes"));
    let c = proxy.sdk_client();
    integrity_error(c.head_object().bucket(BUCKET).key(key).send().await, &format!("{what}: HEAD"));
    integrity_error(c.get_object().bucket(BUCKET).key(key).send().await, &format!("{what}: SDK GET"));
}

async fn proxy_reads(proxy: &ProxyProcess, key: &str, want: &[u8]) {
    let c = proxy.sdk_client();
    let got = c.get_object().bucket(BUCKET).key(key).send().await.expect("GET").body.collect().await;
    assert!(got.expect("body").into_bytes() == want, "{key}: whole");
    let got = c.get_object().bucket(BUCKET).key(key).range("bytes=-1000").send().await.expect("suffix GET");
    assert!(got.body.collect().await.expect("body").into_bytes() == want[want.len() - 1000..], "{key}: suffix");
    let head = c.head_object().bucket(BUCKET).key(key).send().await.expect("HEAD");
    assert_eq!(head.content_length(), Some(want.len() as i64), "{key}: HEAD");
}

async fn dropped_parts_through_the_proxy(name: &str) {
    let (_dir, upstream, proxy) = start(name).await;
    let direct = upstream.direct_client();
    let c = proxy.sdk_client();
    let parts = [PART, PART, 300_000];
    let want = data(2 * PART + 300_000, 3);

    // Honest: read whole, by a suffix range and HEAD; its record is in the
    // store and hidden from listings; a copy reads too.
    proxy_upload(&proxy, "honest", &want, &parts, true).await;
    proxy_reads(&proxy, "honest", &want).await;
    let records = direct.list_objects_v2().bucket(BUCKET).prefix(".s3seal/records/").send().await.expect("list");
    assert_eq!(records.contents().len(), 1, "one final record");
    let listed = c.list_objects_v2().bucket(BUCKET).send().await.expect("list through the proxy");
    assert!(listed.contents().iter().all(|o| !o.key().unwrap_or_default().starts_with(".s3seal/")));
    let copy = c.copy_object().bucket(BUCKET).key("honest-copy").copy_source(format!("{BUCKET}/honest"));
    copy.send().await.expect("CopyObject through the proxy");
    proxy_reads(&proxy, "honest-copy", &want).await;

    // Copy-over with fewer parts, directly upstream: refused everywhere;
    // the copy made before is untouched.
    copy_over_with_fewer_parts(&direct, BUCKET, "honest", &parts, 2).await;
    assert_eq!(stored_len(&direct, BUCKET, "honest").await, 2 * part_ct(PART));
    proxy_refuses(&proxy, "honest", "copied over with 2 of 3 parts").await;
    proxy_reads(&proxy, "honest-copy", &want).await;

    // Re-completion upstream with fewer parts: the client's upload is
    // completed by the attacker (upstream upload id, parts 1 and 2) before
    // the client's CompleteMultipartUpload.
    let id = proxy_upload(&proxy, "recompleted", &want, &parts, false).await;
    let uploads = direct.list_multipart_uploads().bucket(BUCKET).send().await.expect("ListMultipartUploads");
    let upstream_id = uploads
        .uploads()
        .iter()
        .find(|u| u.key() == Some("recompleted"))
        .and_then(|u| u.upload_id())
        .expect("the upstream upload")
        .to_string();
    complete_upstream_with(&direct, BUCKET, "recompleted", &upstream_id, 2).await;
    let done = c.list_parts().bucket(BUCKET).key("recompleted").upload_id(&id).send().await;
    let client_complete = c
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("recompleted")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some((1..=3).map(|n| CompletedPart::builder().part_number(n).build()).collect::<Vec<_>>()))
                .build(),
        )
        .send()
        .await;
    eprintln!(
        "{name}: ListParts after the attack: {:?}; client's complete: {:?}",
        done.is_ok(),
        client_complete.is_ok()
    );
    assert_eq!(stored_len(&direct, BUCKET, "recompleted").await, 2 * part_ct(PART), "the store holds 2 parts");
    proxy_refuses(&proxy, "recompleted", "re-completed upstream with 2 of 3 parts").await;

    let log = proxy.log();
    assert!(
        log.lines().any(|l| l.contains("integrity failure") && l.contains("key=recompleted")),
        "no log line for recompleted:\n{log}"
    );
    let failures = proxy.metric("s3seal_integrity_failures_total").expect("metrics");
    assert!(failures >= 10, "s3seal_integrity_failures_total = {failures}");
    assert!(proxy.metric("s3seal_errors_total{operation=\"HeadObject\"}").expect("metrics") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_parts_through_the_proxy_moto() {
    dropped_parts_through_the_proxy("moto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_parts_through_the_proxy_embedded() {
    dropped_parts_through_the_proxy("embedded").await;
}

// -------------------------------------- must-show 4: dropped parts, SDK

fn sdk(direct: &aws_sdk_s3::Client) -> Client {
    let keyring = Arc::new(RawAesKeyring::new("integrity", "k1", &[42u8; 32]).expect("keyring"));
    Client::with_cmm(direct.clone(), Arc::new(DefaultCmm::new(keyring)), Config::default())
}

async fn sdk_read(c: &Client, bucket: &str, key: &str, range: Option<&str>) -> Result<Vec<u8>, Error> {
    let mut get = c.get_object().bucket(bucket).key(key);
    if let Some(r) = range {
        get = get.range(r);
    }
    get.send().await?.body.collect().await
}

async fn sdk_reads(c: &Client, bucket: &str, key: &str, want: &[u8]) {
    assert!(sdk_read(c, bucket, key, None).await.expect("whole") == want, "{bucket}/{key}");
    let tail = sdk_read(c, bucket, key, Some("bytes=-1000")).await.expect("suffix");
    assert!(tail == want[want.len() - 1000..], "{bucket}/{key}: suffix");
    let head = c.head_object().bucket(bucket).key(key).send().await.expect("HEAD");
    assert_eq!(head.content_length, want.len() as u64);
}

/// Whole read, suffix range and HEAD all fail with `check`.
async fn sdk_refuses(c: &Client, key: &str, what: &str, check: fn(&Error) -> bool) {
    for (r, how) in [
        (sdk_read(c, BUCKET, key, None).await.map(|_| ()), "whole"),
        (sdk_read(c, BUCKET, key, Some("bytes=-1000")).await.map(|_| ()), "suffix range"),
        (c.head_object().bucket(BUCKET).key(key).send().await.map(|_| ()), "HEAD"),
    ] {
        let e = r.expect_err(&format!("{what}: {how} accepted"));
        assert!(check(&e), "{what}: {how}: {e:?}");
        assert_eq!(e.kind(), s3seal::ErrorKind::Integrity, "{what}: {how}");
    }
}

fn shape_mismatch(e: &Error) -> bool {
    matches!(e, Error::ObjectShapeMismatch { .. })
}

async fn sdk_upload(
    c: &Client,
    key: &str,
    want: &[u8],
    parts: &[usize],
) -> (s3seal::s3::MultipartUpload, Vec<s3seal::s3::CompletedPart>) {
    let up = c.create_multipart_upload().bucket(BUCKET).key(key).send().await.expect("create");
    assert!(up.envelope().is_recorded(), "a low-level upload without end_marked is recorded");
    let mut done = Vec::new();
    let mut at = 0;
    for (i, &p) in parts.iter().enumerate() {
        done.push(up.upload_part(i as u32 + 1, want[at..at + p].to_vec(), p as u64).await.expect("part"));
        at += p;
    }
    (up, done)
}

async fn dropped_parts_through_the_sdk(name: &str) {
    let upstream = Upstream::start(name).await.expect("upstream");
    let direct = upstream.direct_client();
    for b in [BUCKET, OTHER_BUCKET] {
        direct.create_bucket().bucket(b).send().await.expect("CreateBucket");
    }
    let c = sdk(&direct);
    let parts = [PART, PART, 300_000];
    let want = data(2 * PART + 300_000, 4);

    // Honest, and copies in the same bucket and in another one.
    let (up, done) = sdk_upload(&c, "honest", &want, &parts).await;
    up.complete(done).await.expect("complete");
    sdk_reads(&c, BUCKET, "honest", &want).await;
    c.copy_object().source(BUCKET, "honest").bucket(BUCKET).key("copy").send().await.expect("copy");
    c.copy_object().source(BUCKET, "honest").bucket(OTHER_BUCKET).key("copy").send().await.expect("copy across");
    sdk_reads(&c, BUCKET, "copy", &want).await;
    sdk_reads(&sdk(&direct), OTHER_BUCKET, "copy", &want).await;

    // Copy-over with fewer parts.
    copy_over_with_fewer_parts(&direct, BUCKET, "honest", &parts, 2).await;
    sdk_refuses(&c, "honest", "copied over with 2 of 3 parts", shape_mismatch).await;
    sdk_refuses(&sdk(&direct), "honest", "copied over (fresh client)", shape_mismatch).await;
    sdk_reads(&c, BUCKET, "copy", &want).await;
    copy_over_with_fewer_parts(&direct, BUCKET, "copy", &parts, 1).await;
    sdk_refuses(&c, "copy", "copy cut to 1 of 3 parts", shape_mismatch).await;
    // The object cut short cannot be copied either.
    let e = c.copy_object().source(BUCKET, "honest").bucket(OTHER_BUCKET).key("x").send().await.expect_err("copy");
    assert!(shape_mismatch(&e), "{e:?}");

    // Re-completion upstream with fewer parts, before the client's complete.
    let (up, done) = sdk_upload(&c, "recompleted", &want, &parts).await;
    complete_upstream_with(&direct, BUCKET, "recompleted", up.upload_id(), 2).await;
    let r = up.complete(done).await;
    eprintln!("{name}: the client's complete after the attack: {:?}", r.as_ref().map(|_| ()));
    assert_eq!(stored_len(&direct, BUCKET, "recompleted").await, 2 * part_ct(PART), "the store holds 2 parts");
    sdk_refuses(&sdk(&direct), "recompleted", "re-completed with 2 of 3 parts", shape_mismatch).await;

    // A recorded object whose record is gone (completed outside s3seal).
    let (up, _) = sdk_upload(&c, "unrecorded", &want, &parts).await;
    complete_upstream_with(&direct, BUCKET, "unrecorded", up.upload_id(), 3).await;
    sdk_refuses(&sdk(&direct), "unrecorded", "completed without a record", |e| {
        matches!(e, Error::FinalRecordMissing { .. })
    })
    .await;

    // End-marked uploads (the SDK's `upload`) need no record.
    let before = direct.list_objects_v2().bucket(BUCKET).prefix(".s3seal/records/").send().await.expect("list");
    let big = data(2 * PART + 5, 5);
    let cfg = Config { part_size: PART as u64, ..Config::default() };
    let keyring = Arc::new(RawAesKeyring::new("integrity", "k1", &[42u8; 32]).expect("keyring"));
    let c2 = Client::with_cmm(direct.clone(), Arc::new(DefaultCmm::new(keyring)), cfg);
    let out = c2.upload().bucket(BUCKET).key("end-marked").body(big.clone()).send().await.expect("upload");
    assert_eq!(out.parts, 3);
    let after = direct.list_objects_v2().bucket(BUCKET).prefix(".s3seal/records/").send().await.expect("list");
    assert_eq!(before.contents().len(), after.contents().len(), "an end-marked upload writes no record");
    sdk_reads(&c2, BUCKET, "end-marked", &big).await;
    let listed = c.list_objects_v2().bucket(BUCKET).send().await.expect("list");
    assert!(listed.contents().iter().all(|o| !o.key().unwrap_or_default().starts_with(".s3seal/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_parts_through_the_sdk_moto() {
    dropped_parts_through_the_sdk("moto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_parts_through_the_sdk_embedded() {
    dropped_parts_through_the_sdk("embedded").await;
}
