//! The proxy's encryption layer served by `s3s` (SigV4 verified) over an
//! `s3s-fs` upstream, driven by `aws-sdk-s3` as an unmodified client:
//! what the client stores comes back byte-identical (also when assembled
//! from parts copied with UploadPartCopy), and what the upstream holds is
//! ciphertext.

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use s3seal::cmm::DefaultCmm;
use s3seal::keyring::RawAesKeyring;
use s3seal_proxy::layer::EncryptingS3;
use s3seal_proxy::metrics::Metrics;
use s3seal_tests::s3client::s3_client;
use s3seal_tests::s3fs::{S3FsServer, ServiceServer};

const CLIENT_KEY: &str = "proxy-client";
const CLIENT_SECRET: &str = "proxy-client-secret-0123456789";

struct Setup {
    upstream: S3FsServer,
    _proxy: ServiceServer,
    client: aws_sdk_s3::Client,
}

async fn setup() -> Setup {
    let upstream = S3FsServer::start().expect("s3s-fs");
    upstream.create_bucket("data").await.expect("bucket");
    let keyring = Arc::new(RawAesKeyring::new("proxy", "k", &[0x33; 32]).unwrap());
    let sdk = s3seal::s3::Client::with_cmm(upstream.client(), Arc::new(DefaultCmm::new(keyring)), Default::default());
    let layer = EncryptingS3::new(sdk, s3s_aws::Proxy::from(upstream.client()), Arc::new(Metrics::default()), 65536);
    let mut b = S3ServiceBuilder::new(layer);
    b.set_auth(SimpleAuth::from_single(CLIENT_KEY, CLIENT_SECRET));
    let proxy = ServiceServer::start(b.build()).expect("proxy");
    let client = s3_client(&proxy.endpoint(), CLIENT_KEY, CLIENT_SECRET);
    Setup { upstream, _proxy: proxy, client }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[1]).collect()
}

fn md5_hex(b: &[u8]) -> String {
    let mut d = s3seal::checksum::PlaintextDigest::new(None);
    d.update(b);
    d.finish().md5_hex().unwrap_or_default()
}

async fn get(c: &aws_sdk_s3::Client, key: &str, range: Option<&str>) -> Vec<u8> {
    let o = c.get_object().bucket("data").key(key).set_range(range.map(str::to_string)).send().await.expect("get");
    o.body.collect().await.expect("body").into_bytes().to_vec()
}

/// No 16-byte window of `plain` appears in `stored`.
fn no_plaintext_window(plain: &[u8], stored: &[u8]) {
    if plain.len() < 16 {
        return;
    }
    let windows: std::collections::HashSet<&[u8]> = plain.windows(16).step_by(7).collect();
    assert!(!stored.windows(16).any(|w| windows.contains(w)), "plaintext found upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_and_are_ciphertext_upstream() {
    let s = setup().await;
    for (i, n) in [0usize, 1, 65536, 65537, 300_000].into_iter().enumerate() {
        let key = format!("o{i}");
        let pt = data(n);
        let put = s
            .client
            .put_object()
            .bucket("data")
            .key(&key)
            .body(ByteStream::from(pt.clone()))
            .content_type("application/x-test")
            .metadata("who", "me")
            .send()
            .await
            .expect("put");
        assert_ne!(put.e_tag().map(|e| e.trim_matches('"').to_string()), Some(md5_hex(&pt)), "no plaintext MD5");
        assert_eq!(get(&s.client, &key, None).await, pt, "size {n}");
        let head = s.client.head_object().bucket("data").key(&key).send().await.expect("head");
        assert_eq!(head.e_tag(), put.e_tag(), "PUT answers the ETag HEAD shows");
        assert!(put.e_tag().is_some_and(|e| e.trim_matches('"').ends_with("-0")), "{:?}", put.e_tag());
        assert_eq!(head.content_length(), Some(n as i64));
        assert_eq!(head.content_type(), Some("application/x-test"));
        assert_eq!(head.metadata().and_then(|m| m.get("who")).map(String::as_str), Some("me"));
        assert!(!head.metadata().is_some_and(|m| m.contains_key("s3seal-envelope")), "envelope hidden");
        let stored = std::fs::read(s.upstream.object_path("data", &key)).expect("stored file");
        assert_eq!(stored.len() as u64, s3seal::object::ciphertext_len(n as u64, 65536));
        no_plaintext_window(&pt, &stored);
        if n > 10 {
            let r = get(&s.client, &key, Some(&format!("bytes=3-{}", n - 2))).await;
            assert_eq!(r, pt[3..n - 1]);
            assert_eq!(get(&s.client, &key, Some("bytes=-5")).await, pt[n - 5..]);
        }
    }
    let list = s.client.list_objects_v2().bucket("data").send().await.expect("list");
    let sizes: Vec<(String, i64)> =
        list.contents().iter().map(|o| (o.key().unwrap().to_string(), o.size().unwrap())).collect();
    assert!(sizes.contains(&("o3".to_string(), 65537)), "{sizes:?}");
    let e = s.client.get_object().bucket("data").key("o1").range("bytes=5-").send().await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(416));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_and_copy_through_the_proxy() {
    let s = setup().await;
    let part = 5 * 1024 * 1024;
    let pt = data(2 * part + 1234);
    let up = s.client.create_multipart_upload().bucket("data").key("mp").send().await.expect("create");
    let id = up.upload_id().expect("id").to_string();
    let mut parts = Vec::new();
    for (i, chunk) in pt.chunks(part).enumerate().rev() {
        let n = i as i32 + 1;
        let r = s
            .client
            .upload_part()
            .bucket("data")
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .expect("part");
        assert_ne!(r.e_tag().map(|e| e.trim_matches('"').to_string()), Some(md5_hex(chunk)), "no plaintext MD5");
        parts.push(CompletedPart::builder().part_number(n).set_e_tag(r.e_tag().map(str::to_string)).build());
    }
    parts.sort_by_key(|p| p.part_number());
    let done = s
        .client
        .complete_multipart_upload()
        .bucket("data")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    assert!(done.e_tag().is_some_and(|e| e.ends_with("-3\"") || e.ends_with("-3")), "{:?}", done.e_tag());
    let head = s.client.head_object().bucket("data").key("mp").send().await.expect("head");
    assert_eq!(head.e_tag(), done.e_tag(), "Complete answers the ETag HEAD shows");
    assert_eq!(get(&s.client, "mp", None).await, pt);
    assert_eq!(
        get(&s.client, "mp", Some(&format!("bytes={}-{}", part - 10, part + 10))).await,
        pt[part - 10..=part + 10]
    );
    no_plaintext_window(&pt[..100_000], &std::fs::read(s.upstream.object_path("data", "mp")).unwrap());

    s.client.copy_object().bucket("data").key("mp-copy").copy_source("data/mp").send().await.expect("copy");
    assert_eq!(get(&s.client, "mp-copy", Some("bytes=0-99")).await, pt[..100]);
    // The same plaintext assembled from copied parts (UploadPartCopy).
    let up = s.client.create_multipart_upload().bucket("data").key("mp-parts").send().await.expect("create");
    let id = up.upload_id().expect("id").to_string();
    let mut parts = Vec::new();
    for (n, source, range) in
        [(1, "data/mp", format!("bytes=0-{}", part - 1)), (2, "data/mp-copy", format!("bytes={part}-{}", pt.len() - 1))]
    {
        let copy = s.client.upload_part_copy().bucket("data").key("mp-parts").upload_id(&id).part_number(n);
        let r = copy.copy_source(source).copy_source_range(range).send().await.expect("part copy");
        let e_tag = r.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string);
        parts.push(CompletedPart::builder().part_number(n).set_e_tag(e_tag).build());
    }
    let done = s.client.complete_multipart_upload().bucket("data").key("mp-parts").upload_id(&id);
    let parts = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    done.multipart_upload(parts).send().await.expect("complete copied parts");
    assert_eq!(get(&s.client, "mp-parts", None).await, pt);
    let stored = std::fs::read(s.upstream.object_path("data", "mp-parts")).unwrap();
    assert_eq!(stored.len() as u64, s3seal::object::ciphertext_len(pt.len() as u64, 65536));
    for at in [0, part - 16, part + 100] {
        assert!(!stored.windows(32).any(|w| w == &pt[at..at + 32]), "plaintext at {at} found upstream");
    }
    s.client.delete_object().bucket("data").key("mp").send().await.expect("delete");
    assert_eq!(get(&s.client, "mp-copy", None).await.len(), pt.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_store_nothing() {
    let s = setup().await;
    // A wrong Content-MD5: BadDigest, and nothing reaches the upstream.
    let e = s
        .client
        .put_object()
        .bucket("data")
        .key("bad-md5")
        .body(ByteStream::from(b"hello world".to_vec()))
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==") // the MD5 of the empty string
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400), "{e:?}");
    assert!(format!("{e:?}").contains("BadDigest"));
    assert!(!s.upstream.object_path("data", "bad-md5").exists(), "nothing stored");
    // A wrong flexible checksum in a header: refused the same way.
    let e = s
        .client
        .put_object()
        .bucket("data")
        .key("bad-crc")
        .body(ByteStream::from(b"hello world".to_vec()))
        .checksum_crc32("AAAAAA==")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("BadDigest"), "{e:?}");
    assert!(!s.upstream.object_path("data", "bad-crc").exists(), "nothing stored");
    // The right ones pass.
    s.client
        .put_object()
        .bucket("data")
        .key("good")
        .body(ByteStream::from(b"hello world".to_vec()))
        .content_md5("XrY7u+Ae7tCTyyK7j1rNww==")
        .send()
        .await
        .expect("good md5");
    // The same for bodies big enough to be hashed beside the encryption.
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut d = s3seal::checksum::PlaintextDigest::new(Some(s3seal::checksum::ChecksumAlgorithm::Crc32));
    d.update(&big);
    let digests = d.finish();
    let e = s
        .client
        .put_object()
        .bucket("data")
        .key("big-bad-md5")
        .body(ByteStream::from(big.clone()))
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("BadDigest"), "{e:?}");
    assert!(!s.upstream.object_path("data", "big-bad-md5").exists(), "nothing stored");
    let e = s
        .client
        .put_object()
        .bucket("data")
        .key("big-bad-crc")
        .body(ByteStream::from(big.clone()))
        .checksum_crc32("AAAAAA==")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("BadDigest"), "{e:?}");
    assert!(!s.upstream.object_path("data", "big-bad-crc").exists(), "nothing stored");
    let out = s
        .client
        .put_object()
        .bucket("data")
        .key("big-good")
        .body(ByteStream::from(big.clone()))
        .set_content_md5(digests.md5_base64())
        .checksum_crc32(digests.checksum.clone().map(|(_, v)| v).unwrap_or_default())
        .send()
        .await
        .expect("big, good md5 and crc32");
    let head = s.client.head_object().bucket("data").key("big-good").send().await.expect("head");
    assert_eq!(out.e_tag(), head.e_tag());
    assert_eq!(get(&s.client, "big-good", None).await, big);
    // A wrong secret: 403.
    let bad = s3_client(&s._proxy.endpoint(), CLIENT_KEY, "wrong-secret");
    let e = bad.list_objects_v2().bucket("data").send().await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    // Unsafe operations are refused, never passed through.
    let e = s
        .client
        .get_object_attributes()
        .bucket("data")
        .key("x")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(501));
    let e = s
        .client
        .upload_part_copy()
        .bucket("data")
        .key("x")
        .upload_id("u")
        .part_number(1)
        .copy_source("data/y")
        .send()
        .await
        .unwrap_err();
    // UploadPartCopy is served (tests/tests/copy_parts.rs); an upload id
    // the proxy did not hand out names no upload.
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
}
