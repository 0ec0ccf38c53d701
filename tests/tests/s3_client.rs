//! The encrypting S3 client against real servers: `s3s-fs` (verifies SigV4)
//! and `moto`. Round trips, ranges, multipart, copy, and tampering done
//! directly on the stored objects.

use std::collections::HashMap;
use std::sync::Arc;

use s3seal::keyring::{Keyring, RawAesKeyring};
use s3seal::object::ObjectSuite;
use s3seal::s3::{Client, Config};
use s3seal::{Error, cmm::DefaultCmm};
use s3seal_tests::moto::MotoServer;
use s3seal_tests::s3client::moto_s3_client;
use s3seal_tests::s3fs::S3FsServer;

const F: usize = 64 * 1024;

/// One of the real stores, kept alive for the test.
enum Store {
    Fs(S3FsServer),
    Moto(MotoServer),
}

impl Store {
    fn raw(&self) -> aws_sdk_s3::Client {
        match self {
            Store::Fs(s) => s.client(),
            Store::Moto(m) => moto_s3_client(m),
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Store::Fs(_) => "s3s-fs",
            Store::Moto(_) => "moto",
        }
    }
}

async fn stores() -> Vec<Store> {
    let fs = S3FsServer::start().expect("s3s-fs");
    let moto = MotoServer::start().expect("moto (run tests/setup-python.sh)");
    let stores = vec![Store::Fs(fs), Store::Moto(moto)];
    for s in &stores {
        for b in ["bkt-one", "bkt-two"] {
            s.raw().create_bucket().bucket(b).send().await.expect("create bucket");
        }
    }
    stores
}

fn keyring() -> Arc<dyn Keyring> {
    Arc::new(RawAesKeyring::new("tests", "object-key", &[0x5a; 32]).unwrap())
}

fn client(raw: aws_sdk_s3::Client, config: Config) -> Client {
    Client::with_cmm(raw, Arc::new(DefaultCmm::new(keyring())), config)
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 131) ^ (i >> 9)) as u8 ^ seed).collect()
}

async fn get(c: &Client, bucket: &str, key: &str, range: Option<&str>) -> Result<Vec<u8>, Error> {
    let mut req = c.get_object().bucket(bucket).key(key);
    if let Some(r) = range {
        req = req.range(r);
    }
    let out = req.send().await?;
    let len = out.content_length;
    let body = out.body.collect().await?;
    assert_eq!(body.len() as u64, len, "content length matches the body");
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_sizes_and_ranges() {
    for store in stores().await {
        let c = client(store.raw(), Config::default());
        let name = store.name();
        for (i, n) in [0usize, 1, F - 1, F, F + 1, 3 * F + 7, 10 * 1024 * 1024].into_iter().enumerate() {
            let key = format!("dir/obj-{i}");
            let pt = data(n, i as u8);
            c.put_object()
                .bucket("bkt-one")
                .key(&key)
                .body(pt.clone())
                .content_type("text/plain")
                .metadata("owner", "tests")
                .send()
                .await
                .unwrap();
            assert_eq!(get(&c, "bkt-one", &key, None).await.unwrap(), pt, "{name} {n}");
            let head = c.head_object().bucket("bkt-one").key(&key).send().await.unwrap();
            assert_eq!(head.content_length, n as u64);
            assert_eq!(head.stored_length, s3seal::object::ciphertext_len(n as u64, F as u64));
            assert_eq!(head.headers.metadata.get("owner").map(String::as_str), Some("tests"));
            assert!(!head.headers.metadata.contains_key("s3seal-envelope"), "our metadata is hidden");
            assert_eq!(head.headers.content_type.as_deref(), Some("text/plain"));
            if n == 0 {
                assert!(matches!(
                    get(&c, "bkt-one", &key, Some("bytes=0-")).await,
                    Err(Error::InvalidRange { length: 0 })
                ));
                continue;
            }
            let cases = [
                (format!("bytes=0-{}", n - 1), 0, n - 1),
                (format!("bytes={}-", n / 2), n / 2, n - 1),
                (format!("bytes=-{}", n.min(100)), n - n.min(100), n - 1),
                ("bytes=0-0".to_string(), 0, 0),
                (format!("bytes={}-{}", n.saturating_sub(2), n + 1000), n.saturating_sub(2), n - 1),
                (
                    format!("bytes={}-{}", (F - 3).min(n - 1), (F + 3).min(n - 1)),
                    (F - 3).min(n - 1),
                    (F + 3).min(n - 1),
                ),
            ];
            for (r, a, b) in cases {
                assert_eq!(get(&c, "bkt-one", &key, Some(&r)).await.unwrap(), pt[a..=b], "{name} size {n} range {r}");
            }
            let e = get(&c, "bkt-one", &key, Some(&format!("bytes={n}-"))).await.unwrap_err();
            assert!(matches!(e, Error::InvalidRange { .. }), "{name}: {e}");
        }
        // Listing reports plaintext sizes, with no extra requests.
        let list = c.list_objects_v2().bucket("bkt-one").prefix("dir/").send().await.unwrap();
        let sizes: HashMap<String, i64> =
            list.contents().iter().map(|o| (o.key().unwrap().to_string(), o.size().unwrap())).collect();
        assert_eq!(sizes["dir/obj-3"], F as i64, "{name}");
        assert_eq!(sizes["dir/obj-4"], F as i64 + 1);
        assert_eq!(sizes["dir/obj-0"], 0);
        assert_eq!(sizes["dir/obj-6"], 10 * 1024 * 1024);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_out_of_order_and_ranges() {
    for store in stores().await {
        let c = client(store.raw(), Config::default());
        let name = store.name();
        let part = 5 * 1024 * 1024 + 2 * F; // a multiple of the frame
        let pt = data(3 * part + 12345, 9);
        let up = c.create_multipart_upload().bucket("bkt-one").key("mp").send().await.unwrap();
        // Parts 3, 1, 2 at once.
        let mut tasks = Vec::new();
        for n in [3u32, 1, 2, 4] {
            let up = up.clone();
            let start = (n as usize - 1) * part;
            let chunk = pt[start..(start + part).min(pt.len())].to_vec();
            tasks.push(tokio::spawn(async move {
                let len = chunk.len() as u64;
                up.upload_part(n, chunk, len).await
            }));
        }
        let mut parts = Vec::new();
        for t in tasks {
            parts.push(t.await.unwrap().unwrap());
        }
        up.complete(parts).await.unwrap();
        assert_eq!(get(&c, "bkt-one", "mp", None).await.unwrap(), pt, "{name} whole");
        // Ranges: within part 2, across the part 1/2 and 3/4 boundaries, the tail.
        for (a, b) in [
            (part + 10, part + 100),
            (part - 5, part + 5),
            (3 * part - F - 1, 3 * part + 100),
            (pt.len() - 7, pt.len() - 1),
        ] {
            let r = format!("bytes={a}-{b}");
            assert_eq!(get(&c, "bkt-one", "mp", Some(&r)).await.unwrap(), pt[a..=b], "{name} {r}");
        }
        // A fresh client has no layout cached: it learns the part size again.
        let fresh = client(store.raw(), Config::default());
        let r = format!("bytes={}-{}", 2 * part + 1, 2 * part + 9);
        assert_eq!(get(&fresh, "bkt-one", "mp", Some(&r)).await.unwrap(), pt[2 * part + 1..=2 * part + 9]);

        // A middle part that is not a multiple of the frame is refused.
        let up = c.create_multipart_upload().bucket("bkt-one").key("bad").send().await.unwrap();
        let p1 = up.upload_part(1, data(5 * 1024 * 1024 + 1, 1), 5 * 1024 * 1024 + 1).await.unwrap();
        let p2 = up.upload_part(2, data(10, 2), 10).await.unwrap();
        let e = up.complete(vec![p1.clone(), p2]).await.unwrap_err();
        assert!(e.to_string().contains("multiple of the 65536-byte frame"), "{name}: {e}");
        // Gaps in part numbers are refused too.
        let p3 = up.upload_part(3, data(10, 3), 10).await.unwrap();
        let e = up.complete(vec![p1, p3]).await.unwrap_err();
        assert!(e.to_string().contains("without gaps"), "{e}");
        up.abort().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_streams_in_parallel_parts() {
    for store in stores().await {
        let config = Config { part_size: 5 * 1024 * 1024, concurrency: 3, ..Config::default() };
        let c = client(store.raw(), config);
        for n in [17usize, 5 * 1024 * 1024, 16 * 1024 * 1024 + 3] {
            let pt = data(n, 4);
            let reader = std::io::Cursor::new(pt.clone());
            let out = c
                .upload()
                .bucket("bkt-two")
                .key("up")
                .body(s3seal::s3::Body::from_reader(reader))
                .send()
                .await
                .unwrap();
            assert_eq!(out.plaintext_length, n as u64);
            let got = get(&c, "bkt-two", "up", None).await.unwrap_or_else(|e| panic!("{} {n}: {e:?}", store.name()));
            assert_eq!(got, pt, "{} {n}", store.name());
            if n > 1000 {
                let r = format!("bytes={}-{}", n - 1000, n - 1);
                assert_eq!(get(&c, "bkt-two", "up", Some(&r)).await.unwrap(), pt[n - 1000..]);
            }
        }
        // put_object without a length streams through the same path.
        let pt = data(6 * 1024 * 1024, 5);
        c.put_object()
            .bucket("bkt-two")
            .key("unknown-len")
            .body(s3seal::s3::Body::from_reader(std::io::Cursor::new(pt.clone())))
            .send()
            .await
            .unwrap();
        assert_eq!(get(&c, "bkt-two", "unknown-len", None).await.unwrap(), pt);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chacha_suite_and_copy() {
    for store in stores().await {
        let config = Config { suite: ObjectSuite::ChaCha20Poly1305Commit, ..Config::default() };
        let c = client(store.raw(), config);
        let pt = data(3 * F + 5, 7);
        c.put_object().bucket("bkt-one").key("src").body(pt.clone()).metadata("m", "v").send().await.unwrap();
        assert_eq!(get(&c, "bkt-one", "src", None).await.unwrap(), pt);
        // Copy within the bucket and to another bucket; rename = copy + delete.
        c.copy_object().source("bkt-one", "src").bucket("bkt-one").key("copy").send().await.unwrap();
        c.copy_object().source("bkt-one", "src").bucket("bkt-two").key("elsewhere").send().await.unwrap();
        assert_eq!(get(&c, "bkt-one", "copy", None).await.unwrap(), pt);
        assert_eq!(get(&c, "bkt-two", "elsewhere", None).await.unwrap(), pt);
        assert_eq!(
            c.head_object()
                .bucket("bkt-two")
                .key("elsewhere")
                .send()
                .await
                .unwrap()
                .headers
                .metadata
                .get("m")
                .map(String::as_str),
            Some("v")
        );
        c.delete_object().bucket("bkt-one").key("src").send().await.unwrap();
        assert!(get(&c, "bkt-one", "src", None).await.is_err());
        assert_eq!(get(&c, "bkt-one", "copy", Some("bytes=5-9")).await.unwrap(), pt[5..=9]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_on_the_store_is_detected() {
    for store in stores().await {
        let raw = store.raw();
        let c = client(raw.clone(), Config::default());
        let name = store.name();
        let a = data(2 * F + 100, 1);
        let b = data(2 * F + 100, 2);
        c.put_object().bucket("bkt-one").key("a").body(a.clone()).send().await.unwrap();
        c.put_object().bucket("bkt-one").key("b").body(b.clone()).send().await.unwrap();
        let fetch = |key: &'static str| {
            let raw = raw.clone();
            async move {
                let o = raw.get_object().bucket("bkt-one").key(key).send().await.unwrap();
                let meta = o.metadata().cloned().unwrap_or_default();
                (o.body.collect().await.unwrap().into_bytes().to_vec(), meta)
            }
        };
        let store_raw = |key: &'static str, body: Vec<u8>, meta: HashMap<String, String>| {
            let raw = raw.clone();
            async move {
                raw.put_object()
                    .bucket("bkt-one")
                    .key(key)
                    .body(body.into())
                    .set_metadata(Some(meta))
                    .send()
                    .await
                    .unwrap();
            }
        };
        let (body_a, meta_a) = fetch("a").await;
        let (body_b, meta_b) = fetch("b").await;

        // A byte flipped in the body, at the start, a frame boundary, the end.
        for at in [0, F + 15, F + 16, body_a.len() - 1] {
            let mut t = body_a.clone();
            t[at] ^= 0x20;
            store_raw("a", t, meta_a.clone()).await;
            let e = get(&c, "bkt-one", "a", None).await.unwrap_err();
            assert!(matches!(e, Error::Authentication("object frame")), "{name} flip {at}: {e}");
        }
        store_raw("a", body_a.clone(), meta_a.clone()).await;
        assert_eq!(get(&c, "bkt-one", "a", None).await.unwrap(), a, "restored");
        // The same bytes under key "t" are refused even untouched: the
        // envelope is bound to key "a".
        store_raw("t", body_a.clone(), meta_a.clone()).await;
        assert!(get(&c, "bkt-one", "t", None).await.is_err());
        // Every byte of the envelope metadata value matters.
        let env = meta_a["s3seal-envelope"].clone();
        for i in (0..env.len()).step_by(7) {
            let mut chars: Vec<char> = env.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let mut m = meta_a.clone();
            m.insert("s3seal-envelope".into(), chars.into_iter().collect());
            store_raw("a", body_a.clone(), m).await;
            assert!(get(&c, "bkt-one", "a", None).await.is_err(), "{name} envelope char {i}");
        }
        // Swapped bodies.
        store_raw("a", body_b.clone(), meta_a.clone()).await;
        store_raw("b", body_a.clone(), meta_b.clone()).await;
        assert!(get(&c, "bkt-one", "a", None).await.is_err());
        assert!(get(&c, "bkt-one", "b", None).await.is_err());
        // Restored, both read again.
        store_raw("a", body_a.clone(), meta_a.clone()).await;
        assert_eq!(get(&c, "bkt-one", "a", None).await.unwrap(), a);
        // A plain S3 copy (body and metadata) to another key is refused.
        raw.copy_object().bucket("bkt-one").key("plain-copy").copy_source("bkt-one/a").send().await.unwrap();
        let e = get(&c, "bkt-one", "plain-copy", None).await.unwrap_err();
        assert!(matches!(e, Error::Authentication(_)), "{name}: {e}");
        // Truncated by whole frames.
        store_raw("a", body_a[..2 * (F + 16)].to_vec(), meta_a.clone()).await;
        let e = get(&c, "bkt-one", "a", None).await.unwrap_err();
        assert!(matches!(e, Error::Authentication(_)), "{name} truncated: {e}");
        // An object s3seal did not write is a clear error, unless allowed.
        raw.put_object().bucket("bkt-one").key("plain").body(b"hello".to_vec().into()).send().await.unwrap();
        let e = get(&c, "bkt-one", "plain", None).await.unwrap_err();
        assert!(matches!(e, Error::NotEncrypted { .. }), "{e}");
        assert!(e.to_string().contains("not encrypted by s3seal"));
        let lax = client(raw.clone(), Config { allow_unencrypted: true, ..Config::default() });
        assert_eq!(get(&lax, "bkt-one", "plain", None).await.unwrap(), b"hello");
        assert_eq!(get(&lax, "bkt-one", "plain", Some("bytes=1-2")).await.unwrap(), b"el");
        // The wrong key: a clear error naming the key it needs.
        let other = Client::new(raw.clone(), Arc::new(RawAesKeyring::new("tests", "other", &[1; 32]).unwrap()));
        let e = get(&other, "bkt-one", "b", None).await.unwrap_err();
        assert!(e.to_string().contains("tests:object-key"), "{e}");
    }
}

/// The aws-sdk-s3 input builders given as templates reach the store: read
/// back from moto directly (HEAD, GetObjectTagging), for put_object,
/// upload (single request and multipart), create_multipart_upload and
/// copy_object; their conditions are enforced there; and a template that
/// sets a body-describing field is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_templates_reach_the_store() {
    use aws_sdk_s3::operation::copy_object::CopyObjectInput;
    use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadInput;
    use aws_sdk_s3::operation::delete_object::DeleteObjectInput;
    use aws_sdk_s3::operation::put_object::PutObjectInput;
    use aws_sdk_s3::types::{ServerSideEncryption, StorageClass, TaggingDirective};

    let moto = MotoServer::start().expect("moto (run tests/setup-python.sh)");
    let raw = moto_s3_client(&moto);
    raw.create_bucket().bucket("tpl").send().await.expect("create bucket");
    let config = Config { part_size: 5 * 1024 * 1024, ..Config::default() };
    let c = client(raw.clone(), config);
    let template = || {
        PutObjectInput::builder()
            .tagging("team=blue&tier=1")
            .storage_class(StorageClass::StandardIa)
            .cache_control("max-age=60")
            .website_redirect_location("/elsewhere")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .metadata("from-template", "yes")
    };
    let check = |key: &'static str| {
        let raw = raw.clone();
        async move {
            let head = raw.head_object().bucket("tpl").key(key).send().await.expect("HEAD on moto");
            assert_eq!(head.storage_class(), Some(&StorageClass::StandardIa), "{key}");
            assert_eq!(head.cache_control(), Some("max-age=60"), "{key}");
            assert_eq!(head.website_redirect_location(), Some("/elsewhere"), "{key}");
            assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256), "{key}");
            assert_eq!(head.metadata().and_then(|m| m.get("from-template")).map(String::as_str), Some("yes"));
            assert!(head.metadata().is_some_and(|m| m.contains_key("s3seal-envelope")), "{key}: envelope kept");
            let tags = raw.get_object_tagging().bucket("tpl").key(key).send().await.expect("tagging");
            let mut tags: Vec<_> = tags.tag_set().iter().map(|t| format!("{}={}", t.key(), t.value())).collect();
            tags.sort();
            assert_eq!(tags, ["team=blue", "tier=1"], "{key}");
        }
    };
    c.put_object().bucket("tpl").key("put").body(data(1000, 1)).request(template()).send().await.expect("put");
    check("put").await;
    c.upload().bucket("tpl").key("small").body(data(1000, 2)).request(template()).send().await.expect("small");
    check("small").await;
    let big = data(6 * 1024 * 1024, 3);
    let out = c.upload().bucket("tpl").key("big").body(big.clone()).request(template()).send().await.expect("big");
    assert_eq!(out.parts, 2);
    check("big").await;
    assert_eq!(get(&c, "tpl", "big", None).await.unwrap(), big);
    let create =
        CreateMultipartUploadInput::builder().tagging("team=blue&tier=1").storage_class(StorageClass::StandardIa);
    let up = c.create_multipart_upload().bucket("tpl").key("mpu").request(create).send().await.expect("create");
    let part = up.upload_part(1, data(10, 4), 10).await.expect("part");
    up.complete(vec![part]).await.expect("complete");
    let head = raw.head_object().bucket("tpl").key("mpu").send().await.expect("HEAD");
    assert_eq!(head.storage_class(), Some(&StorageClass::StandardIa));
    let copy = CopyObjectInput::builder().tagging_directive(TaggingDirective::Replace).tagging("copied=1");
    c.copy_object().source("tpl", "put").bucket("tpl").key("copy").request(copy).send().await.expect("copy");
    let tags = raw.get_object_tagging().bucket("tpl").key("copy").send().await.expect("tagging");
    assert_eq!(tags.tag_set().iter().map(|t| t.key()).collect::<Vec<_>>(), ["copied"]);

    // Conditions: enforced by the store, seen as PreconditionFailed.
    let e = c
        .put_object()
        .bucket("tpl")
        .key("put")
        .body(data(5, 5))
        .request(PutObjectInput::builder().if_none_match("*"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), s3seal::ErrorKind::PreconditionFailed, "{e}");
    let e = c
        .upload()
        .bucket("tpl")
        .key("big")
        .body(big.clone())
        .request(PutObjectInput::builder().if_none_match("*"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), s3seal::ErrorKind::PreconditionFailed, "multipart upload: {e}");
    let wrong = DeleteObjectInput::builder().if_match("\"0123456789abcdef0123456789abcdef\"");
    let e = c.delete_object().bucket("tpl").key("put").request(wrong).send().await.unwrap_err();
    assert_eq!(e.kind(), s3seal::ErrorKind::PreconditionFailed, "{e}");
    assert_eq!(get(&c, "tpl", "put", None).await.unwrap(), data(1000, 1), "not deleted");
    let source_wrong = CopyObjectInput::builder().copy_source_if_none_match(
        raw.head_object().bucket("tpl").key("put").send().await.expect("HEAD").e_tag().unwrap_or_default(),
    );
    let e = c.copy_object().source("tpl", "put").bucket("tpl").key("c2").request(source_wrong).send().await;
    assert_eq!(e.unwrap_err().kind(), s3seal::ErrorKind::PreconditionFailed);

    // Body-describing fields are refused, nothing sent.
    let e = c
        .put_object()
        .bucket("tpl")
        .key("refused")
        .body(data(5, 6))
        .request(PutObjectInput::builder().content_md5("1B2M2Y8AsgTpgAmY7PhCfg=="))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnsupportedRequestField { field: "Content-MD5", .. }), "{e}");
    assert!(raw.head_object().bucket("tpl").key("refused").send().await.is_err(), "nothing stored");
}
