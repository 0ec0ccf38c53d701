//! Attacks on the proxy's edge (issue 14, items 1, 2, 3 and 6): hand-made
//! requests (`s3seal_tests::clients::forge`, raw TCP) against the real
//! `s3seal proxy` binary, over an `s3s-fs` upstream reached through a
//! [`CountingRelay`] that counts the bytes the proxy sends it (moto with
//! KMS for the encrypted-data-key test). Each test states what it checks:
//! the answer (status and S3 error code), and where it matters that
//! nothing reached the upstream and nothing was stored.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use s3seal_tests::clients::forge;
use s3seal_tests::clients::{
    CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, CountingRelay, ProxyOptions, ProxyProcess, REGION, RawResponse, Upstream,
    raw_http, sigv4,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUCKET: &str = "attacks";
/// The proxy's body window: a body must bring 1 KiB/s over each 3 s of waiting.
const BODY_TIMEOUT_SECS: u64 = 3;
const EXISTING: &[u8] = b"an object stored through the proxy";

struct Setup {
    upstream: Upstream,
    relay: CountingRelay,
    proxy: ProxyProcess,
    client: aws_sdk_s3::Client,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// An `s3s-fs` upstream behind a counting relay, and a proxy with a
    /// 3 s body window and `extra` settings (TOML tables).
    async fn start(extra: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("proxy-attacks-").tempdir()?;
        let upstream = Upstream::s3fs()?;
        let relay = CountingRelay::start(upstream.addr()).await?;
        let options = ProxyOptions {
            upstream_endpoint: Some(relay.endpoint()),
            extra_config: format!("[limits]\nbody_timeout_secs = {BODY_TIMEOUT_SECS}\nmin_body_rate = 1024\n{extra}"),
            ..Default::default()
        };
        let proxy = ProxyProcess::start(&upstream, dir.path(), &options)?;
        let client = proxy.sdk_client();
        client.create_bucket().bucket(BUCKET).send().await.context("create bucket")?;
        let body = ByteStream::from(EXISTING.to_vec());
        client.put_object().bucket(BUCKET).key("existing").body(body).send().await.context("put existing")?;
        Ok(Self { upstream, relay, proxy, client, _dir: dir })
    }

    fn host(&self) -> String {
        self.proxy.addr().to_string()
    }

    fn signer(&self, region: &str) -> sigv4::Signer {
        sigv4::Signer::new(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, region, SystemTime::now())
    }

    /// Sends `request` and fails unless the proxy sent the upstream nothing
    /// meanwhile.
    async fn unforwarded(&self, what: &str, request: Vec<u8>) -> Result<RawResponse> {
        let before = self.relay.bytes_sent();
        let n_before = self.relay.request_lines().len();
        let r = raw(self.proxy.addr(), request).await.with_context(|| what.to_string())?;
        // Anything the proxy forwards is on the wire before its answer.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = self.relay.bytes_sent() - before;
        ensure!(
            sent == 0,
            "{what}: the proxy sent {sent} bytes upstream: {:?}",
            &self.relay.request_lines()[n_before..]
        );
        Ok(r)
    }

    /// Fails if `key` exists on the upstream.
    async fn not_stored(&self, key: &str) -> Result<()> {
        let head = self.upstream.direct_client().head_object().bucket(BUCKET).key(key).send().await;
        ensure!(head.is_err(), "{key} was stored on the upstream");
        Ok(())
    }
}

async fn raw(addr: SocketAddr, request: Vec<u8>) -> Result<RawResponse> {
    tokio::task::spawn_blocking(move || raw_http(addr, &request)).await?
}

fn expect(r: &RawResponse, status: u16, code: &str, what: &str) -> Result<()> {
    ensure!(
        r.status == status && r.error_code().as_deref() == Some(code),
        "{what}: expected {status} {code}, got {} {:?}: {}",
        r.status,
        r.error_code(),
        r.text()
    );
    Ok(())
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The peak resident set of process `pid` (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM")
}

const FLOOD_POSTS: usize = 100;
const FLOOD_BYTES: u64 = 100 * 1024 * 1024;

/// One unsigned 100 MiB form POST, its body generated as it is sent; the
/// status line of the answer, and how many body bytes got out.
async fn form_post_flood(addr: SocketAddr, host: String) -> Result<(String, u64)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut r, mut w) = stream.into_split();
    let head = format!(
        "POST /{BUCKET} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=flood\r\nContent-Length: {FLOOD_BYTES}\r\n\r\n--flood\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n"
    );
    w.write_all(head.as_bytes()).await?;
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0u64;
        while sent < FLOOD_BYTES {
            let n = chunk.len().min(usize::try_from(FLOOD_BYTES - sent).unwrap_or(usize::MAX));
            if w.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            sent += n as u64;
        }
        sent
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), r.read_to_end(&mut answer)).await;
    writer.abort();
    let sent = writer.await.unwrap_or(0);
    let text = String::from_utf8_lossy(&answer).into_owned();
    Ok((text, sent))
}

/// 100 unsigned 100 MiB browser POST uploads at once: each is answered
/// `501 NotImplemented` from its head alone (so the proxy's peak RSS stays
/// under 128 MiB, where s3s alone would buffer every body), and nothing
/// reaches the upstream. A signed POST upload is refused the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_posts_are_refused_from_their_head() -> Result<()> {
    let s = Setup::start("").await?;
    let pid = s.proxy.pid().context("the proxy's pid")?;
    let before = s.relay.bytes_sent();
    let floods = (0..FLOOD_POSTS).map(|_| form_post_flood(s.proxy.addr(), s.host()));
    let answers = futures_util::future::join_all(floods).await;
    let mut body_bytes = 0;
    for a in answers {
        let (text, sent) = a?;
        ensure!(text.starts_with("HTTP/1.1 501"), "an unsigned form POST was not refused with 501: {text:?}");
        ensure!(text.contains("<Code>NotImplemented</Code>"), "{text}");
        body_bytes += sent;
    }
    let peak = peak_rss_kib(pid)?;
    println!("{FLOOD_POSTS} form POSTs: {} MiB of bodies got out; proxy peak RSS {} MiB", body_bytes >> 20, peak >> 10);
    ensure!(peak < 128 * 1024, "the proxy's peak RSS is {peak} KiB, over 128 MiB");
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(s.relay.bytes_sent() == before, "a form POST reached the upstream");

    let signed = forge::signed_post_form(&s.signer(REGION), &s.host(), BUCKET, "posted", "plaintext of a form POST");
    let r = s.unforwarded("signed form POST", signed).await?;
    expect(&r, 501, "NotImplemented", "signed form POST")?;
    s.not_stored("posted").await?;
    ensure!(s.proxy.log().contains("reason=\"post_upload\"") || s.proxy.log().contains("reason=post_upload"));
    Ok(())
}

/// SigV2, correctly signed, is refused by default (header and presigned):
/// `400 InvalidRequest` as AWS answers, nothing forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv2_is_refused_by_default() -> Result<()> {
    let s = Setup::start("").await?;
    let path = format!("/{BUCKET}/existing");
    let date = httpdate::fmt_http_date(SystemTime::now());
    let get = forge::sigv2_get(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, &s.host(), &path, &date);
    expect(&s.unforwarded("SigV2 header", get).await?, 400, "InvalidRequest", "SigV2 header")?;
    let get = forge::sigv2_presigned_get(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, &s.host(), &path, now_secs() + 300);
    expect(&s.unforwarded("SigV2 presigned", get).await?, 400, "InvalidRequest", "SigV2 presigned")?;
    Ok(())
}

/// Under `insecure_allow_sigv2`, SigV2 works, with its `Date` held to
/// 15 minutes either way and presigned URLs to 7 days ahead; with `region
/// = "*"` a SigV4 scope of any region is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv2_under_the_opt_in_checks_its_dates() -> Result<()> {
    let s = Setup::start("[auth]\ninsecure_allow_sigv2 = true\nregion = \"*\"\n").await?;
    let (host, path) = (s.host(), format!("/{BUCKET}/existing"));
    let v2_get = |t: SystemTime| {
        forge::sigv2_get(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, &host, &path, &httpdate::fmt_http_date(t))
    };
    let r = raw(s.proxy.addr(), v2_get(SystemTime::now())).await?;
    ensure!(r.status == 200 && r.body == EXISTING, "SigV2 GET under the opt-in: {} {}", r.status, r.text());
    for (what, t) in [
        ("20 minutes old", SystemTime::now() - Duration::from_secs(1200)),
        ("20 minutes ahead", SystemTime::now() + Duration::from_secs(1200)),
    ] {
        expect(&s.unforwarded(what, v2_get(t)).await?, 403, "RequestTimeTooSkewed", what)?;
    }
    let presigned = |expires| forge::sigv2_presigned_get(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, &host, &path, expires);
    let r = raw(s.proxy.addr(), presigned(now_secs() + 300)).await?;
    ensure!(r.status == 200 && r.body == EXISTING, "SigV2 presigned GET: {} {}", r.status, r.text());
    let r = s.unforwarded("SigV2 presigned for 8 days", presigned(now_secs() + 8 * 86_400)).await?;
    expect(&r, 400, "AuthorizationQueryParametersError", "SigV2 presigned for 8 days")?;
    // Any region, under region = "*".
    let r = raw(s.proxy.addr(), forge::header_signed_get(&s.signer("eu-west-3"), &host, &path, true)).await?;
    ensure!(r.status == 200, "a SigV4 GET for eu-west-3 under region = \"*\": {} {}", r.status, r.text());
    Ok(())
}

/// SigV4 as strict as AWS: presigned URLs valid 604800 s at most (604801:
/// `400 AuthorizationQueryParametersError`), the scope's service `s3` and
/// region the proxy's (`sts`, `eu-west-1`: 400), `host` signed (400);
/// each correctly signed, each refused before anything is forwarded,
/// each control (the same request within the rules) answered 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_presign_scope_and_host_rules() -> Result<()> {
    let s = Setup::start("").await?;
    let (host, path) = (s.host(), format!("/{BUCKET}/existing"));
    let signer = s.signer(REGION);
    let hosted = [("host", host.as_str())];
    let r = raw(s.proxy.addr(), forge::presigned_get(&signer, &host, &path, 604_800, &hosted)).await?;
    ensure!(r.status == 200 && r.body == EXISTING, "presigned for 604800 s: {} {}", r.status, r.text());
    let r = s.unforwarded("604801", forge::presigned_get(&signer, &host, &path, 604_801, &hosted)).await?;
    expect(&r, 400, "AuthorizationQueryParametersError", "X-Amz-Expires 604801")?;
    let unhosted = [("x-s3seal-test", "1")];
    let r =
        s.unforwarded("presigned, host unsigned", forge::presigned_get(&signer, &host, &path, 60, &unhosted)).await?;
    expect(&r, 400, "AuthorizationQueryParametersError", "presigned, host unsigned")?;
    let sts = sigv4::Signer::for_service(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION, "sts", SystemTime::now());
    let r = s.unforwarded("presigned for sts", forge::presigned_get(&sts, &host, &path, 60, &hosted)).await?;
    expect(&r, 400, "AuthorizationQueryParametersError", "presigned for sts")?;

    let r = raw(s.proxy.addr(), forge::header_signed_get(&signer, &host, &path, true)).await?;
    ensure!(r.status == 200 && r.body == EXISTING, "header-signed GET: {} {}", r.status, r.text());
    for (what, signer, sign_host) in [
        ("scope service sts", &sts, true),
        ("scope region eu-west-1", &s.signer("eu-west-1"), true),
        ("host not signed", &signer, false),
    ] {
        let r = s.unforwarded(what, forge::header_signed_get(signer, &host, &path, sign_host)).await?;
        expect(&r, 400, "AuthorizationHeaderMalformed", what)?;
    }
    let log = s.proxy.log();
    for reason in ["presign_expiry", "scope_service", "scope_region", "host_unsigned"] {
        ensure!(log.contains(reason), "no refusal logged with reason {reason}:\n{log}");
    }
    Ok(())
}

/// `aws-chunked` uploads, every chunk correctly signed: without the final
/// zero-length chunk `400 IncompleteBody`; a body shorter than its signed
/// `x-amz-decoded-content-length` `400 IncompleteBody`; longer (a lying
/// length) `400 InvalidRequest`. Nothing is stored; the same upload, whole,
/// is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_must_be_whole_and_as_declared() -> Result<()> {
    let s = Setup::start("").await?;
    let data: Vec<u8> = (0..150_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let chunks: Vec<&[u8]> = data.chunks(65_536).collect();
    let n = data.len() as u64;
    let put = |key: &str, final_chunk, declared| {
        forge::chunked_put(&s.signer(REGION), &s.host(), &format!("/{BUCKET}/{key}"), &chunks, final_chunk, declared)
    };
    let r = raw(s.proxy.addr(), put("whole", true, n)).await?;
    ensure!(r.status == 200, "a whole chunked upload was refused: {} {}", r.status, r.text());
    for (key, final_chunk, declared, code) in [
        ("no-final-chunk", false, n, "IncompleteBody"),
        ("short-body", true, n + 1000, "IncompleteBody"),
        ("lying-length", true, n - 1000, "InvalidRequest"),
    ] {
        let r = raw(s.proxy.addr(), put(key, final_chunk, declared)).await?;
        expect(&r, 400, code, key)?;
        s.not_stored(key).await?;
    }
    Ok(())
}

/// An authenticated PUT that trickles one byte every 2 s is answered `400
/// RequestTimeout` within the 3 s body window (plus a margin), logged and
/// not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_put_is_timed_out() -> Result<()> {
    let s = Setup::start("").await?;
    let path = format!("/{BUCKET}/trickle");
    let head = forge::unsigned_payload_head(&s.signer(REGION), "PUT", &s.host(), &path, "", 1000);
    let stream = tokio::net::TcpStream::connect(s.proxy.addr()).await?;
    let (mut r, mut w) = stream.into_split();
    w.write_all(&head).await?;
    let t0 = Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..30 {
            if w.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let elapsed = t0.elapsed();
    trickle.abort();
    ensure!(read.is_ok(), "the trickling PUT was still open after 30 s");
    let text = String::from_utf8_lossy(&answer);
    println!("trickling PUT answered after {elapsed:?}: {}", text.lines().next().unwrap_or(""));
    ensure!(text.starts_with("HTTP/1.1 400") && text.contains("<Code>RequestTimeout</Code>"), "{text}");
    let limit = Duration::from_secs(BODY_TIMEOUT_SECS + 4);
    ensure!(elapsed < limit, "answered after {elapsed:?}, over {limit:?}");
    s.not_stored("trickle").await?;
    ensure!(s.proxy.log().contains("body_too_slow"), "the timeout was not logged");
    Ok(())
}

/// Bodies over their limits are refused from the head, before a byte of
/// them is read: a 6 GiB PutObject (`400 EntityTooLarge`), a 3 MiB
/// DeleteObjects XML (`400 MaxMessageLengthExceeded`); an unsigned PUT
/// and a badly signed DeleteObjects get their 403 without their bodies
/// being sent; a 70 KiB header gets `431`. A DeleteObjects naming 1001 keys is `400 MalformedXML`, as
/// S3 answers, and reaches nothing upstream (1000 keys are forwarded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused_before_their_body() -> Result<()> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let s = Setup::start("").await?;
    let signer = s.signer(REGION);
    let big_put = forge::unsigned_payload_head(&signer, "PUT", &s.host(), &format!("/{BUCKET}/big"), "", 6 << 30);
    expect(&s.unforwarded("6 GiB PUT", big_put).await?, 400, "EntityTooLarge", "6 GiB PUT")?;
    let big_xml = forge::unsigned_payload_head(&signer, "POST", &s.host(), &format!("/{BUCKET}"), "delete=", 3 << 20);
    expect(&s.unforwarded("3 MiB DeleteObjects", big_xml).await?, 400, "MaxMessageLengthExceeded", "3 MiB XML")?;
    // No body is read before the signature is checked: an unsigned PUT and
    // a DeleteObjects signed with a wrong secret, heads only (their 50 MiB
    // and 1 MiB bodies never sent), are answered at once.
    let unsigned = format!(
        "PUT /{BUCKET}/unsigned HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        s.host(),
        50 << 20
    );
    expect(&s.unforwarded("unsigned 50 MiB PUT", unsigned.into_bytes()).await?, 403, "AccessDenied", "unsigned PUT")?;
    let wrong = sigv4::Signer::new(CLIENT_ACCESS_KEY, "not-the-secret", REGION, SystemTime::now());
    let delete = forge::unsigned_payload_head(&wrong, "POST", &s.host(), &format!("/{BUCKET}"), "delete=", 1 << 20);
    let r = s.unforwarded("DeleteObjects, wrong secret", delete).await?;
    expect(&r, 403, "SignatureDoesNotMatch", "DeleteObjects signed with a wrong secret")?;
    let huge_header = format!(
        "GET /{BUCKET}/existing HTTP/1.1\r\nHost: {}\r\nx-padding: {}\r\nConnection: close\r\n\r\n",
        s.host(),
        "a".repeat(70 * 1024)
    );
    let r = s.unforwarded("70 KiB header", huge_header.into_bytes()).await?;
    ensure!(r.status == 431, "a 70 KiB header: {} {}", r.status, r.text());

    let ids = |n: usize| -> Result<Delete> {
        let objects =
            (0..n).map(|i| ObjectIdentifier::builder().key(format!("k{i}")).build()).collect::<Result<Vec<_>, _>>()?;
        Ok(Delete::builder().set_objects(Some(objects)).build()?)
    };
    let before = s.relay.bytes_sent();
    let e = s.client.delete_objects().bucket(BUCKET).delete(ids(1001)?).send().await.expect_err("1001 keys");
    let status = e.raw_response().map(|r| r.status().as_u16());
    ensure!(status == Some(400) && e.code() == Some("MalformedXML"), "1001 keys: {status:?} {:?}", e.code());
    tokio::time::sleep(Duration::from_millis(100)).await;
    ensure!(s.relay.bytes_sent() == before, "DeleteObjects of 1001 keys reached the upstream");
    s.client.delete_objects().bucket(BUCKET).delete(ids(1000)?).send().await.context("1000 keys")?;
    Ok(())
}

/// `s3seal.` + base64url(2 ‖ len ‖ upstream id ‖ tag ‖ envelope), split.
fn split_upload_id(id: &str) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id.strip_prefix("s3seal.").context("prefix")?)?;
    ensure!(raw.len() > 35 && raw[0] == 2, "not a version-2 upload id");
    let n = usize::from(u16::from_be_bytes([raw[1], raw[2]]));
    Ok((raw[3..3 + n].to_vec(), raw[3 + n..35 + n].to_vec(), raw[35 + n..].to_vec()))
}

fn join_upload_id(upstream: &[u8], tag: &[u8], envelope: &[u8]) -> String {
    let mut raw = vec![2u8];
    raw.extend_from_slice(&(upstream.len() as u16).to_be_bytes());
    raw.extend_from_slice(upstream);
    raw.extend_from_slice(tag);
    raw.extend_from_slice(envelope);
    format!("s3seal.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// Upload ids are bound to their upload, bucket and key: upload A's
/// upstream id with upload B's envelope, A's id used for B's key, an
/// altered tag, and A's envelope swollen to 200 encrypted data keys (over
/// `max_encrypted_data_keys`, refused before any unwrap) all get `404
/// NoSuchUpload` on UploadPart, ListParts, CompleteMultipartUpload and
/// AbortMultipartUpload, before anything is sent upstream. A's own id
/// still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spliced_upload_ids_are_unknown_uploads() -> Result<()> {
    let s = Setup::start("").await?;
    let c = &s.client;
    let create = |key: &'static str| async move {
        let up = c.create_multipart_upload().bucket(BUCKET).key(key).send().await?;
        anyhow::Ok(up.upload_id().context("upload id")?.to_string())
    };
    let (a, b) = (create("a").await?, create("b").await?);
    let (a_up, a_tag, a_env) = split_upload_id(&a)?;
    let (_, b_tag, b_env) = split_upload_id(&b)?;
    let mut bad_tag = a_tag.clone();
    bad_tag[0] ^= 1;
    // A's envelope with 200 copies of its encrypted data key.
    let mut many = s3seal::object::Envelope::parse(&a_env)?;
    many.encrypted_data_keys = vec![many.encrypted_data_keys[0].clone(); 200];
    let many = many.to_bytes()?;
    let cases = [
        ("A's upstream id with B's envelope", "b", join_upload_id(&a_up, &b_tag, &b_env)),
        ("A's id for B's key", "b", a.clone()),
        ("A's id with an altered tag", "a", join_upload_id(&a_up, &bad_tag, &a_env)),
        ("A's id with 200 encrypted data keys", "a", join_upload_id(&a_up, &a_tag, &many)),
    ];
    for (what, key, id) in &cases {
        let before = s.relay.bytes_sent();
        let part = c.upload_part().bucket(BUCKET).key(*key).upload_id(id).part_number(1);
        let e1 = part.body(ByteStream::from_static(b"part")).send().await.err().map(|e| e.code().map(String::from));
        let e2 = c
            .list_parts()
            .bucket(BUCKET)
            .key(*key)
            .upload_id(id)
            .send()
            .await
            .err()
            .map(|e| e.code().map(String::from));
        let e3 = c
            .abort_multipart_upload()
            .bucket(BUCKET)
            .key(*key)
            .upload_id(id)
            .send()
            .await
            .err()
            .map(|e| e.code().map(String::from));
        let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
            .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag("\"x-0\"").build())
            .build();
        let complete = c.complete_multipart_upload().bucket(BUCKET).key(*key).upload_id(id).multipart_upload(parts);
        let e4 = complete.send().await.err().map(|e| e.code().map(String::from));
        for (op, e) in [("UploadPart", e1), ("ListParts", e2), ("Abort", e3), ("Complete", e4)] {
            ensure!(e == Some(Some("NoSuchUpload".to_string())), "{what}: {op} answered {e:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ensure!(s.relay.bytes_sent() == before, "{what}: requests reached the upstream");
    }
    let part = c.upload_part().bucket(BUCKET).key("a").upload_id(&a).part_number(1);
    part.body(ByteStream::from_static(b"part")).send().await.context("A's own id")?;
    c.abort_multipart_upload().bucket(BUCKET).key("a").upload_id(&a).send().await.context("abort A")?;
    let log = s.proxy.log();
    if !log.contains("upload id refused") || !log.contains("too many encrypted data keys") {
        bail!("the refused upload ids were not logged with their reasons:\n{log}");
    }
    Ok(())
}

/// Replaces the envelope of `key` on the upstream (moto, written directly,
/// bypassing the proxy) with one holding thousands of encrypted data keys
/// (altered copies of its own, which KMS would refuse one call each, then
/// the real one), in a sidecar as the format allows. Returns how many.
async fn plant_many_keys(direct: &aws_sdk_s3::Client, key: &str) -> Result<usize> {
    use s3seal::object::{Envelope, METADATA_KEY};
    use s3seal::s3::{SIDECAR_PREFIX, SIDECAR_REF_KEY};
    use sha2::Digest;
    let stored = direct.get_object().bucket(BUCKET).key(key).send().await?;
    let mut metadata = stored.metadata().cloned().context("no metadata")?;
    let ciphertext = stored.body.collect().await?.into_bytes();
    let envelope = Envelope::from_metadata_value(metadata.get(METADATA_KEY).context("no envelope")?)?;
    let real = envelope.encrypted_data_keys.first().context("no key")?.clone();
    let size = real.provider_id.len() + real.provider_info.len() + real.ciphertext.len() + 6;
    // Sidecars are read up to 1 MiB.
    let n = (1_000_000 / size).min(5_000);
    let mut many = envelope.clone();
    many.encrypted_data_keys = (1..n)
        .map(|i| {
            let mut k = real.clone();
            let at = i % k.ciphertext.len();
            k.ciphertext[at] ^= 0x5a;
            k
        })
        .chain(std::iter::once(real.clone()))
        .collect();
    let bytes = many.to_bytes()?;
    let pointer = hex::encode(sha2::Sha256::digest(&bytes));
    let sidecar = format!("{SIDECAR_PREFIX}{pointer}");
    direct.put_object().bucket(BUCKET).key(&sidecar).body(ByteStream::from(bytes)).send().await?;
    metadata.remove(METADATA_KEY);
    metadata.insert(SIDECAR_REF_KEY.to_string(), pointer);
    let put = direct.put_object().bucket(BUCKET).key(key).set_metadata(Some(metadata));
    put.body(ByteStream::from(ciphertext)).send().await?;
    Ok(n)
}

/// A stored envelope with thousands of encrypted data keys costs zero KMS
/// calls: the SDK's client (default `max_encrypted_data_keys` 8, its KMS
/// client counted) fails with `Error::TooManyEncryptedDataKeys`, and the
/// proxy (restarted, so its cache is empty; its KMS traffic through a
/// counting relay) answers `403 InvalidObjectState`, while an ordinary
/// object read right after does reach KMS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_encrypted_data_keys_cost_no_kms_call() -> Result<()> {
    use s3seal::cmm::DefaultCmm;
    use s3seal::keyring::KmsKeyring;
    let dir = tempfile::Builder::new().prefix("proxy-attacks-edks-").tempdir()?;
    let upstream = Upstream::moto().await?;
    let kms_relay = CountingRelay::start(upstream.addr()).await?;
    let options =
        ProxyOptions { extra_env: vec![("AWS_ENDPOINT_URL_KMS", kms_relay.endpoint())], ..Default::default() };
    let mut proxy = ProxyProcess::start(&upstream, dir.path(), &options)?;
    let client = proxy.sdk_client();
    client.create_bucket().bucket(BUCKET).send().await?;
    for key in ["many-keys", "ordinary"] {
        client.put_object().bucket(BUCKET).key(key).body(ByteStream::from_static(EXISTING)).send().await?;
    }
    ensure!(kms_relay.bytes_sent() > 0, "the proxy's KMS calls do not go through the relay");
    let n = plant_many_keys(&upstream.direct_client(), "many-keys").await?;
    println!("planted an envelope with {n} encrypted data keys");

    let Upstream::Moto { server, key_arn } = &upstream else { bail!("not moto") };
    let (kms, calls) = s3seal_tests::kms_count::counted_kms_client(server);
    let keyring = std::sync::Arc::new(KmsKeyring::new(kms, key_arn));
    let sdk = s3seal::s3::Client::with_cmm(
        upstream.direct_client(),
        std::sync::Arc::new(DefaultCmm::new(keyring)),
        s3seal::s3::Config::default(),
    );
    let e = sdk.get_object().bucket(BUCKET).key("many-keys").send().await.err().context("the SDK read it")?;
    ensure!(matches!(e, s3seal::Error::TooManyEncryptedDataKeys { found, limit: 8 } if found == n), "SDK: {e:?}");
    ensure!(calls.total() == 0, "the SDK made KMS calls: {:?}", calls.snapshot());

    proxy.restart()?;
    let before = kms_relay.bytes_sent();
    let e = client.get_object().bucket(BUCKET).key("many-keys").send().await.err().context("the proxy served it")?;
    let status = e.raw_response().map(|r| r.status().as_u16());
    ensure!(status == Some(403) && e.code() == Some("InvalidObjectState"), "proxy: {status:?} {:?}", e.code());
    ensure!(e.message().is_some_and(|m| m.contains(&n.to_string())), "{:?}", e.message());
    tokio::time::sleep(Duration::from_millis(100)).await;
    ensure!(kms_relay.bytes_sent() == before, "the proxy called KMS for an envelope with {n} keys");
    let ordinary = client.get_object().bucket(BUCKET).key("ordinary").send().await?;
    ensure!(ordinary.body.collect().await?.into_bytes().as_ref() == EXISTING);
    ensure!(kms_relay.bytes_sent() > before, "the ordinary read made no KMS call (so the check above proves nothing)");
    Ok(())
}
