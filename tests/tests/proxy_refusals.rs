//! Refusals of the real `s3seal proxy` binary (issue 4, must-show 3), over
//! an `s3s-fs` upstream reached through a TCP relay that counts the bytes
//! the proxy sends it:
//!
//! * unsigned, wrong-secret and expired-presign requests get 403 with the
//!   S3 error code, store nothing and never reach the upstream;
//! * a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` upload (signed chunks, made here
//!   by hand) is accepted as sent, and refused with 403 when one byte of a
//!   chunk is changed after signing: nothing is stored;
//! * every operation the proxy cannot serve safely (SelectObjectContent,
//!   WriteGetObjectResponse, GetObjectAttributes, GetObject by part number)
//!   gets an S3 error and never reaches the upstream (UploadPartCopy is
//!   served: `tests/tests/copy_parts.rs`);
//! * a browser POST upload (form with a signed policy) is refused the same
//!   way (from its head, by the server's edge), and never reaches the
//!   upstream;
//! * a KMS key that does not exist (a permanent fault) is a 400 naming KMS,
//!   not a 503 that clients would retry, and nothing is stored.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, ensure};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use s3seal_tests::clients::{
    CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, CountingRelay, ProxyOptions, ProxyProcess, REGION, RawResponse, Upstream,
    forge, raw_http, sigv4,
};
use s3seal_tests::s3client::s3_client;

const BUCKET: &str = "refusals";

struct Setup {
    upstream: Upstream,
    relay: CountingRelay,
    proxy: ProxyProcess,
    client: aws_sdk_s3::Client,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("proxy-refusals-").tempdir()?;
        let upstream = Upstream::s3fs()?;
        let relay = CountingRelay::start(upstream.addr()).await?;
        let options = ProxyOptions { upstream_endpoint: Some(relay.endpoint()), ..Default::default() };
        let proxy = ProxyProcess::start(&upstream, dir.path(), &options)?;
        let client = proxy.sdk_client();
        client.create_bucket().bucket(BUCKET).send().await.context("create bucket")?;
        client
            .put_object()
            .bucket(BUCKET)
            .key("existing")
            .body(ByteStream::from(b"an object stored through the proxy".to_vec()))
            .send()
            .await
            .context("put existing")?;
        Ok(Self { upstream, relay, proxy, client, _dir: dir })
    }

    fn host(&self) -> String {
        self.proxy.addr().to_string()
    }

    /// Fails if `key` exists on the upstream.
    async fn not_stored(&self, key: &str) -> Result<()> {
        let direct = self.upstream.direct_client();
        let head = direct.head_object().bucket(BUCKET).key(key).send().await;
        ensure!(head.is_err(), "{key} was stored on the upstream");
        let listed = direct.list_objects_v2().bucket(BUCKET).send().await?;
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        ensure!(!keys.contains(&key), "{key} is listed on the upstream: {keys:?}");
        Ok(())
    }

    /// Runs `op` and fails if the proxy sent the upstream anything meanwhile.
    async fn unforwarded<T>(&self, what: &str, op: impl std::future::Future<Output = T>) -> Result<T> {
        let before = self.relay.bytes_sent();
        let n_before = self.relay.request_lines().len();
        let out = op.await;
        // Anything the proxy forwards is on the wire before its answer.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = self.relay.bytes_sent();
        ensure!(
            after == before,
            "{what}: the proxy sent {} bytes to the upstream: {:?}",
            after - before,
            &self.relay.request_lines()[n_before..]
        );
        Ok(out)
    }
}

async fn raw(addr: std::net::SocketAddr, request: Vec<u8>) -> Result<RawResponse> {
    tokio::task::spawn_blocking(move || raw_http(addr, &request)).await?
}

fn service_error<E: ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (u16, String) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (status, e.code().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_get_403_and_store_nothing() {
    let s = Setup::start().await.expect("setup");
    let addr = s.proxy.addr();
    let host = s.host();

    // Unsigned PUT and GET.
    let put = format!(
        "PUT /{BUCKET}/unsigned HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    let r = s.unforwarded("unsigned PUT", raw(addr, put.into_bytes())).await.unwrap().unwrap();
    assert_eq!((r.status, r.error_code().as_deref()), (403, Some("AccessDenied")), "{}", r.text());
    s.not_stored("unsigned").await.unwrap();
    let get = format!("GET /{BUCKET}/existing HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let r = s.unforwarded("unsigned GET", raw(addr, get.into_bytes())).await.unwrap().unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!r.text().contains("an object stored"), "an unsigned GET got the object");

    // Right access key, wrong secret.
    let wrong = s3_client(s.proxy.endpoint(), CLIENT_ACCESS_KEY, "not-the-secret");
    let e = s
        .unforwarded(
            "wrong-secret PUT",
            wrong.put_object().bucket(BUCKET).key("wrong-secret").body(ByteStream::from_static(b"x")).send(),
        )
        .await
        .unwrap()
        .expect_err("a wrong secret was accepted");
    assert_eq!(service_error(&e), (403, "SignatureDoesNotMatch".to_string()));
    s.not_stored("wrong-secret").await.unwrap();
    let e = s
        .unforwarded("wrong-secret GET", wrong.get_object().bucket(BUCKET).key("existing").send())
        .await
        .unwrap()
        .expect_err("a wrong secret was accepted");
    assert_eq!(service_error(&e), (403, "SignatureDoesNotMatch".to_string()));

    // Presigned two hours ago for one minute: expired.
    let expired = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(7200))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let req = s.client.put_object().bucket(BUCKET).key("expired").presigned(expired.clone()).await.unwrap();
    let path = req.uri().trim_start_matches(s.proxy.endpoint()).to_string();
    let put = format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    let r = s.unforwarded("expired presigned PUT", raw(addr, put.into_bytes())).await.unwrap().unwrap();
    assert_eq!((r.status, r.error_code().as_deref()), (403, Some("AccessDenied")), "{}", r.text());
    s.not_stored("expired").await.unwrap();
    let req = s.client.get_object().bucket(BUCKET).key("existing").presigned(expired).await.unwrap();
    let path = req.uri().trim_start_matches(s.proxy.endpoint()).to_string();
    let get = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let r = s.unforwarded("expired presigned GET", raw(addr, get.into_bytes())).await.unwrap().unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    // The same URL, fresh, works (so the refusal is the expiry).
    let fresh = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let req = s.client.get_object().bucket(BUCKET).key("existing").presigned(fresh).await.unwrap();
    let path = req.uri().trim_start_matches(s.proxy.endpoint()).to_string();
    let r = raw(addr, format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes())
        .await
        .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "an object stored through the proxy"));

    s.proxy_stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_signed_chunk_gets_403_and_stores_nothing() {
    let s = Setup::start().await.expect("setup");
    let addr = s.proxy.addr();
    let host = s.host();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let signer = || sigv4::Signer::new(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION, SystemTime::now());

    // As signed: accepted, and reads back.
    let req = sigv4::signed_chunked_put(&signer(), &host, &format!("/{BUCKET}/chunked"), &data, 65536, |_| {});
    let r = raw(addr, req).await.unwrap();
    assert_eq!(r.status, 200, "a correctly signed chunked upload was refused: {}", r.text());
    let back = s.client.get_object().bucket(BUCKET).key("chunked").send().await.unwrap();
    assert_eq!(back.body.collect().await.unwrap().into_bytes().as_ref(), &data[..]);

    // One byte of a chunk's data changed after signing: in the first, the
    // second and the last chunk.
    for (key, offset) in [("tampered-second", 65536 + 1000), ("tampered-first", 10), ("tampered-last", 199_960)] {
        let req = sigv4::signed_chunked_put(&signer(), &host, &format!("/{BUCKET}/{key}"), &data, 65536, |body| {
            // Find the byte in the encoded body by its surrounding data.
            let needle = &data[offset..offset + 32];
            let at = body.windows(32).position(|w| w == needle).expect("chunk data in the body");
            body[at] ^= 0x01;
        });
        let r = raw(addr, req).await.unwrap();
        assert_eq!(r.status, 403, "{key}: a tampered chunk was not refused with 403: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("SignatureDoesNotMatch"), "{key}: {}", r.text());
        s.not_stored(key).await.unwrap();
    }
    s.proxy_stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_operations_never_reach_the_upstream() {
    use aws_sdk_s3::types::{
        CsvInput, CsvOutput, ExpressionType, InputSerialization, ObjectAttributes, OutputSerialization,
    };
    let s = Setup::start().await.expect("setup");
    let addr = s.proxy.addr();
    let host = s.host();
    let not_implemented = |what: &str, (status, code): (u16, String)| {
        assert!((400..600).contains(&status), "{what}: status {status}");
        assert_eq!(code, "NotImplemented", "{what}: status {status}");
    };

    // SelectObjectContent: would hand out ciphertext-derived results.
    let select = s.client.select_object_content().bucket(BUCKET).key("existing").expression("select * from s3object");
    let select = select
        .expression_type(ExpressionType::Sql)
        .input_serialization(InputSerialization::builder().csv(CsvInput::builder().build()).build())
        .output_serialization(OutputSerialization::builder().csv(CsvOutput::builder().build()).build());
    let e = s.unforwarded("SelectObjectContent", select.send()).await.unwrap().expect_err("SelectObjectContent");
    not_implemented("SelectObjectContent", service_error(&e));

    // GetObjectAttributes: would describe the ciphertext.
    let attrs = s
        .client
        .get_object_attributes()
        .bucket(BUCKET)
        .key("existing")
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Checksum);
    let e = s.unforwarded("GetObjectAttributes", attrs.send()).await.unwrap().expect_err("GetObjectAttributes");
    not_implemented("GetObjectAttributes", service_error(&e));

    // GetObject by part number.
    let by_part = s.client.get_object().bucket(BUCKET).key("existing").part_number(1);
    let e = s.unforwarded("GetObject partNumber", by_part.send()).await.unwrap().expect_err("GetObject partNumber");
    not_implemented("GetObject partNumber", service_error(&e));

    // WriteGetObjectResponse (S3 Object Lambda): signed by hand (the SDKs
    // send it to a route host name).
    let signer = sigv4::Signer::new(CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION, SystemTime::now());
    let wgor = sigv4::signed_request(
        &signer,
        "POST",
        &host,
        &format!("/{BUCKET}"),
        "",
        &[("x-amz-request-route", "route-1"), ("x-amz-request-token", "token-1")],
        b"plaintext that must not be stored",
    );
    let r = s.unforwarded("WriteGetObjectResponse", raw(addr, wgor)).await.unwrap().unwrap();
    not_implemented("WriteGetObjectResponse", (r.status, r.error_code().unwrap_or_default()));

    // Browser POST upload with a valid policy signature: refused from its
    // head, before the form is read.
    let plaintext = "plaintext of a browser POST upload, never stored in the clear";
    let post = forge::signed_post_form(&signer, &host, BUCKET, "posted", plaintext);
    let before = s.relay.bytes_sent();
    let r = raw(addr, post).await.unwrap();
    not_implemented("POST upload", (r.status, r.error_code().unwrap_or_default()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.relay.bytes_sent(), before, "a refused POST upload reached the upstream");
    s.not_stored("posted").await.unwrap();

    // And the upstream still works: a listing through the proxy does reach it.
    let before = s.relay.bytes_sent();
    s.client.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert!(s.relay.bytes_sent() > before, "the relay does not see the proxy's upstream requests");
    s.proxy_stop().await;
}

impl Setup {
    /// Stops the proxy gracefully (SIGTERM) and checks it exits cleanly.
    async fn proxy_stop(mut self) {
        self.proxy.stop().expect("graceful stop");
    }
}

/// A permanent KMS refusal (here: the configured key does not exist on a
/// real moto KMS) reaches the client as a 4xx with the KMS error, not as a
/// 503 that every S3 client retries; nothing reaches the store.
#[tokio::test]
async fn a_missing_kms_key_is_a_client_error_not_an_outage() -> Result<()> {
    let dir = tempfile::Builder::new().prefix("proxy-kms-missing-").tempdir()?;
    let upstream = Upstream::moto_with_missing_key()?;
    let proxy = ProxyProcess::start(&upstream, dir.path(), &ProxyOptions::default())?;
    let client = proxy.sdk_client();
    client.create_bucket().bucket(BUCKET).send().await.context("create bucket")?;
    let err = client
        .put_object()
        .bucket(BUCKET)
        .key("k")
        .body(ByteStream::from(b"never stored".to_vec()))
        .send()
        .await
        .expect_err("PutObject under a missing KMS key must fail");
    let status = err.raw_response().map(|r| r.status().as_u16());
    println!("missing KMS key: HTTP {status:?}, {:?}: {:?}", err.code(), err.message());
    ensure!(status == Some(400), "status {status:?}, expected 400: {err:?}\n{}", proxy.log());
    ensure!(err.code() == Some("KMS.NotFoundException"), "code {:?}: {err:?}", err.code());
    ensure!(err.message().is_some_and(|m| m.contains("GenerateDataKey")), "{:?}", err.message());
    let listed = upstream.direct_client().list_objects_v2().bucket(BUCKET).send().await?;
    ensure!(listed.key_count().unwrap_or(0) == 0, "something was stored: {:?}", listed.contents());
    Ok(())
}
