//! Conformance: the same S3 cases against three targets, moto directly
//! (the reference), the real `s3seal proxy` in front of moto, and the proxy
//! in embedded mode, and the proxy's answers held to moto's: conditional
//! PUT, CompleteMultipartUpload, GET, HEAD, DELETE and CopyObject, and the
//! ETag model (one ETag per object, the same from every operation, usable
//! in `If-Match`).
//!
//! Each case returns, per request, what S3 answers (from the S3 API
//! reference) and what the target answered. Where moto differs from S3,
//! [`moto_answer`] says what moto answers; the embedded store must
//! answer every case as S3 or moto does
//! ([`embedded_conforms`]).

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3seal_tests::clients::{ProxyOptions, ProxyProcess, Upstream};
use s3seal_tests::s3client::status;

/// Which target a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Moto,
    ProxyOverMoto,
    Embedded,
}

struct Target {
    kind: Kind,
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// One request of a case: its label, S3's answer, the target's.
type Answer = (&'static str, u16, u16);

/// Where moto (5.2.6, `tests/requirements/peers.txt`) answers otherwise
/// than S3, measured: it ignores `If-Match` on CompleteMultipartUpload,
/// `x-amz-copy-source-if-match` on CopyObject and `If-None-Match` on the
/// target of a CopyObject (all answered `200`, where S3 answers `412`).
fn moto_answer(label: &str) -> Option<u16> {
    match label {
        "complete If-Match wrong" | "copy source-if-match wrong" | "copy target If-None-Match * existing" => Some(200),
        _ => None,
    }
}

/// The embedded store answers as S3 or moto does (it enforces every
/// condition these cases use, so a `501` would be a failure).
fn embedded_conforms(label: &str, s3: u16, got: u16) -> bool {
    got == s3 || moto_answer(label) == Some(got)
}

const WRONG: &str = "\"0123456789abcdef0123456789abcdef\"";

impl Target {
    async fn put(&self, key: &str, body: &[u8]) -> Result<String> {
        let out = self.client.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(body.to_vec())).send();
        out.await.context("PutObject")?.e_tag.context("PutObject without ETag")
    }

    async fn head_etag(&self, key: &str) -> Result<String> {
        let out = self.client.head_object().bucket(&self.bucket).key(key).send().await.context("HeadObject")?;
        out.e_tag.context("HeadObject without ETag")
    }

    /// A one-part multipart upload of `key`, completed under `cond`
    /// (`if_match`, `if_none_match`).
    async fn multipart(&self, key: &str, cond: (Option<&str>, Option<&str>)) -> Result<(u16, Option<String>)> {
        let c = &self.client;
        let up = c.create_multipart_upload().bucket(&self.bucket).key(key).send().await?;
        let id = up.upload_id().context("upload id")?;
        let part = c.upload_part().bucket(&self.bucket).key(key).upload_id(id).part_number(1);
        let part = part.body(ByteStream::from(vec![7u8; 1000])).send().await.context("UploadPart")?;
        let parts = vec![CompletedPart::builder().part_number(1).set_e_tag(part.e_tag).build()];
        let r = c
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .set_if_match(cond.0.map(str::to_string))
            .set_if_none_match(cond.1.map(str::to_string))
            .send()
            .await;
        let s = status(&r);
        if r.is_err() {
            let _ = c.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(id).send().await;
        }
        Ok((s, r.ok().and_then(|o| o.e_tag)))
    }
}

async fn put_cases(t: &Target) -> Result<Vec<Answer>> {
    let (c, b) = (&t.client, &t.bucket);
    let e = t.put("put", b"one").await?;
    let put = |key: &str, body: &'static [u8]| c.put_object().bucket(b).key(key).body(ByteStream::from_static(body));
    Ok(vec![
        ("put If-None-Match * existing", 412, status(&put("put", b"x").if_none_match("*").send().await)),
        ("put If-None-Match * absent", 200, status(&put("put-new", b"x").if_none_match("*").send().await)),
        ("put If-Match wrong", 412, status(&put("put", b"x").if_match(WRONG).send().await)),
        ("put If-Match right", 200, status(&put("put", b"two").if_match(&e).send().await)),
        ("put If-Match absent key", 404, status(&put("put-absent", b"x").if_match(&e).send().await)),
    ])
}

async fn complete_cases(t: &Target) -> Result<Vec<Answer>> {
    t.put("mp", b"one").await?;
    let e = t.head_etag("mp").await?;
    let mut out = vec![
        ("complete If-None-Match * existing", 412, t.multipart("mp", (None, Some("*"))).await?.0),
        ("complete If-None-Match * absent", 200, t.multipart("mp-new", (None, Some("*"))).await?.0),
        ("complete If-Match wrong", 412, t.multipart("mp", (Some(WRONG), None)).await?.0),
    ];
    let e = if out[2].2 == 200 { t.head_etag("mp").await? } else { e };
    out.push(("complete If-Match right", 200, t.multipart("mp", (Some(&e), None)).await?.0));
    Ok(out)
}

async fn read_cases(t: &Target) -> Result<Vec<Answer>> {
    let (c, b) = (&t.client, &t.bucket);
    let e = t.put("read", b"read me").await?;
    let get = || c.get_object().bucket(b).key("read");
    let head = || c.head_object().bucket(b).key("read");
    Ok(vec![
        ("get If-Match right", 200, status(&get().if_match(&e).send().await)),
        ("get If-Match wrong", 412, status(&get().if_match(WRONG).send().await)),
        ("get If-None-Match right", 304, status(&get().if_none_match(&e).send().await)),
        ("get If-None-Match wrong", 200, status(&get().if_none_match(WRONG).send().await)),
        ("head If-Match right", 200, status(&head().if_match(&e).send().await)),
        ("head If-Match wrong", 412, status(&head().if_match(WRONG).send().await)),
        ("head If-None-Match right", 304, status(&head().if_none_match(&e).send().await)),
        ("head If-None-Match wrong", 200, status(&head().if_none_match(WRONG).send().await)),
    ])
}

async fn delete_cases(t: &Target) -> Result<Vec<Answer>> {
    let (c, b) = (&t.client, &t.bucket);
    let e = t.put("del", b"delete me").await?;
    let wrong = status(&c.delete_object().bucket(b).key("del").if_match(WRONG).send().await);
    let kept = status(&c.head_object().bucket(b).key("del").send().await);
    let right = status(&c.delete_object().bucket(b).key("del").if_match(&e).send().await);
    let gone = status(&c.head_object().bucket(b).key("del").send().await);
    Ok(vec![
        ("delete If-Match wrong", 412, wrong),
        ("object kept after a refused delete", 200, kept),
        ("delete If-Match right", 200, right),
        ("object gone after the delete", 404, gone),
    ])
}

async fn copy_cases(t: &Target) -> Result<Vec<Answer>> {
    let (c, b) = (&t.client, &t.bucket);
    let e = t.put("src", b"copy me").await?;
    t.put("dst-existing", b"here").await?;
    let copy = |to: &str| c.copy_object().bucket(b).key(to).copy_source(format!("{b}/src"));
    Ok(vec![
        ("copy source-if-match wrong", 412, status(&copy("dst").copy_source_if_match(WRONG).send().await)),
        ("copy source-if-match right", 200, status(&copy("dst").copy_source_if_match(&e).send().await)),
        ("copy source-if-none-match right", 412, status(&copy("dst").copy_source_if_none_match(&e).send().await)),
        ("copy source-if-none-match wrong", 200, status(&copy("dst").copy_source_if_none_match(WRONG).send().await)),
        ("copy target If-None-Match * existing", 412, status(&copy("dst-existing").if_none_match("*").send().await)),
    ])
}

/// Keys S3 accepts, each its own object: written, read back, listed as
/// itself (also URL-encoded), and deleted, with no key aliasing another.
const KEYS: [(&str, &str); 14] = [
    ("key plus", "keys/a+b.txt"),
    ("key space", "keys/a b.txt"),
    ("key percent", "keys/c%2Bd.txt"),
    ("key unicode", "keys/ünï/cødé ✓.txt"),
    ("key dot segment", "keys/./dot"),
    ("key dot-dot segment", "keys/../up"),
    ("key inner dot", "keys/a/./b"),
    ("key double slash", "keys/a//b"),
    ("key inner dot-dot", "keys/a/q/../b"),
    ("key plain", "keys/a/b"),
    ("key trailing slash", "keys/folder/"),
    ("key question and hash", "keys/a?b#c&d=e"),
    ("key quotes and angles", "keys/\"q\" <x> 'y'"),
    ("key tilde and star", "keys/~*!$(),;@"),
];

/// The [`KEYS`] cases: `200` for each key that round-trips whole.
async fn key_cases(t: &Target) -> Result<Vec<Answer>> {
    let (c, b) = (&t.client, &t.bucket);
    let long = format!("keys/{}", "k".repeat(1019));
    let mut keys: Vec<(&'static str, String)> = KEYS.iter().map(|(l, k)| (*l, k.to_string())).collect();
    keys.push(("key of 1024 bytes", long));
    for (_, key) in &keys {
        let body = ByteStream::from(key.as_bytes().to_vec());
        c.put_object().bucket(b).key(key).body(body).send().await.with_context(|| format!("PUT {key:?}"))?;
    }
    let listed = c.list_objects_v2().bucket(b).prefix("keys/").send().await.context("ListObjectsV2")?;
    let listed: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
    let encoded = c.list_objects_v2().bucket(b).prefix("keys/").encoding_type("url".into()).send().await?;
    let decoded: Vec<String> = encoded.contents().iter().filter_map(|o| o.key()).map(percent_decode).collect();
    let mut answers = Vec::new();
    for (label, key) in &keys {
        let got = c.get_object().bucket(b).key(key).send().await;
        let body = match got {
            Ok(o) => o.body.collect().await.map(|b| b.into_bytes().to_vec()).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let whole = body == key.as_bytes() && listed.contains(key) && decoded.contains(key);
        let deleted = c.delete_object().bucket(b).key(key).send().await.is_ok()
            && c.head_object().bucket(b).key(key).send().await.is_err();
        answers.push((*label, 200, if whole && deleted { 200 } else { 500 }));
    }
    Ok(answers)
}

/// `%XX` escapes decoded (a listing's `encoding-type=url` keys).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (x, _) => {
                out.push(x);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The ETag model: the ETag PutObject and CompleteMultipartUpload answer
/// is the one HEAD, GET and the listings show, and it works in `If-Match`.
async fn etag_model(t: &Target) -> Result<Vec<Answer>> {
    let (c, b) = (&t.client, &t.bucket);
    let single = t.put("etag-single", b"some bytes").await?;
    let (s, multi) = t.multipart("etag-multi", (None, None)).await?;
    ensure!(s == 200, "{:?}: multipart upload answered {s}", t.kind);
    let multi = multi.context("CompleteMultipartUpload without ETag")?;
    for (key, etag) in [("etag-single", &single), ("etag-multi", &multi)] {
        ensure!(&t.head_etag(key).await? == etag, "{:?} {key}: HEAD shows another ETag than the write", t.kind);
        let got = c.get_object().bucket(b).key(key).send().await?.e_tag;
        ensure!(got.as_ref() == Some(etag), "{:?} {key}: GET shows {got:?}, the write {etag}", t.kind);
        let v2 = c.list_objects_v2().bucket(b).prefix(key).send().await?;
        let listed = v2.contents().first().and_then(|o| o.e_tag());
        ensure!(listed == Some(etag.as_str()), "{:?} {key}: ListObjectsV2 shows {listed:?}", t.kind);
        let v1 = c.list_objects().bucket(b).prefix(key).send().await?;
        let listed = v1.contents().first().and_then(|o| o.e_tag());
        ensure!(listed == Some(etag.as_str()), "{:?} {key}: ListObjects shows {listed:?}", t.kind);
        let versions = c.list_object_versions().bucket(b).prefix(key).send().await?;
        let listed = versions.versions().first().and_then(|o| o.e_tag());
        ensure!(listed == Some(etag.as_str()), "{:?} {key}: ListObjectVersions shows {listed:?}", t.kind);
    }
    if t.kind != Kind::Moto {
        ensure!(single.trim_matches('"').ends_with("-0"), "{:?}: single-part ETag {single} without -0", t.kind);
        ensure!(multi.trim_matches('"').ends_with("-1"), "{:?}: multipart ETag {multi}", t.kind);
    }
    let get = |key: &'static str, e: &str| c.get_object().bucket(b).key(key).if_match(e).send();
    Ok(vec![
        ("get If-Match with the PUT ETag", 200, status(&get("etag-single", &single).await)),
        ("get If-Match with the Complete ETag", 200, status(&get("etag-multi", &multi).await)),
    ])
}

/// Every case on `t`.
async fn answers(t: &Target) -> Result<Vec<Answer>> {
    t.client.create_bucket().bucket(&t.bucket).send().await.context("CreateBucket")?;
    let mut all = put_cases(t).await?;
    all.extend(complete_cases(t).await?);
    all.extend(read_cases(t).await?);
    all.extend(delete_cases(t).await?);
    all.extend(copy_cases(t).await?);
    all.extend(etag_model(t).await?);
    all.extend(key_cases(t).await?);
    Ok(all)
}

/// Runs every case on moto directly and on `tested`; fails listing each
/// answer that is neither S3's, nor moto's where moto differs, nor (for
/// the embedded store) the documented refusal.
async fn conforms(upstream: &Upstream, tested: &Target) {
    let reference = Target { kind: Kind::Moto, client: upstream.direct_client(), bucket: "conf-reference".into() };
    let want = answers(&reference).await.expect("the cases on moto");
    let got = answers(tested).await.unwrap_or_else(|e| panic!("the cases on {:?}: {e:#}", tested.kind));
    let mut wrong = Vec::new();
    for ((label, s3, moto), (_, _, answer)) in want.iter().zip(&got) {
        eprintln!("{label:40} S3 {s3}  moto {moto}  {:?} {answer}", tested.kind);
        if *moto != *s3 && moto_answer(label) != Some(*moto) {
            wrong.push(format!("moto: {label}: {moto}, S3 answers {s3} (moto_answer does not say so)"));
        }
        let ok = match tested.kind {
            Kind::Embedded => embedded_conforms(label, *s3, *answer),
            _ => answer == s3 || answer == moto,
        };
        if !ok {
            wrong.push(format!("{:?}: {label}: {answer}, S3 {s3}, moto {moto}", tested.kind));
        }
    }
    assert!(wrong.is_empty(), "answers that do not conform:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_over_moto_answers_as_moto() {
    let dir = tempfile::Builder::new().prefix("conformance-").tempdir().expect("temp dir");
    let upstream = Upstream::moto().await.expect("moto");
    let proxy = ProxyProcess::start(&upstream, dir.path(), &ProxyOptions::default()).expect("proxy");
    let tested = Target { kind: Kind::ProxyOverMoto, client: proxy.sdk_client(), bucket: "conf-proxy".into() };
    conforms(&upstream, &tested).await;
}

/// The embedded store behind the proxy: every case answered as S3 does
/// (or as moto does where moto differs), listings included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_proxy_answers_as_moto() {
    let dir = tempfile::Builder::new().prefix("conformance-embedded-").tempdir().expect("temp dir");
    let upstream = Upstream::moto().await.expect("moto");
    let proxy = ProxyProcess::start_embedded(dir.path(), &ProxyOptions::default()).expect("embedded proxy");
    let tested = Target { kind: Kind::Embedded, client: proxy.sdk_client(), bucket: "conf-embedded".into() };
    conforms(&upstream, &tested).await;
}

/// Two `If-None-Match: *` PUTs of one key through two proxy instances in
/// front of one moto, at once: exactly one is stored (200), the other is
/// refused (412), and the stored object is the winner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_create_only_puts_through_two_proxies() {
    let dir = tempfile::Builder::new().prefix("conformance-race-").tempdir().expect("temp dir");
    let upstream = Upstream::moto().await.expect("moto");
    let start = |name: &str| {
        ProxyProcess::start(&upstream, dir.path(), &ProxyOptions { name: name.into(), ..Default::default() })
            .expect("proxy")
    };
    let (a, b) = (start("a"), start("b"));
    let (ca, cb) = (a.sdk_client(), b.sdk_client());
    ca.create_bucket().bucket("race").send().await.expect("CreateBucket");
    for round in 0..5 {
        let key = format!("once-{round}");
        let body_a = vec![b'a'; 300_000 + round];
        let body_b = vec![b'b'; 200_000 + round];
        let put = |c: &aws_sdk_s3::Client, body: Vec<u8>| {
            c.put_object().bucket("race").key(&key).if_none_match("*").body(ByteStream::from(body)).send()
        };
        let (ra, rb) = tokio::join!(put(&ca, body_a.clone()), put(&cb, body_b.clone()));
        let (sa, sb) = (status(&ra), status(&rb));
        assert!(matches!((sa, sb), (200, 412) | (412, 200)), "round {round}: a {sa}, b {sb}");
        let winner = if sa == 200 { &body_a } else { &body_b };
        let got = tokio::time::timeout(Duration::from_secs(30), ca.get_object().bucket("race").key(&key).send())
            .await
            .expect("GET in time")
            .expect("GET");
        assert_eq!(&got.body.collect().await.expect("body").into_bytes().to_vec(), winner, "round {round}");
    }
}

/// The request fields a client sends through the proxy reach the store:
/// read back from moto directly (HEAD, GetObjectTagging) after a PUT, a
/// multipart upload and a copy; a field the proxy cannot pass is refused
/// with `501 NotImplemented` naming it, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_passes_request_fields_to_the_store() {
    use aws_sdk_s3::types::{ServerSideEncryption, StorageClass, TaggingDirective};
    let dir = tempfile::Builder::new().prefix("conformance-fields-").tempdir().expect("temp dir");
    let upstream = Upstream::moto().await.expect("moto");
    let proxy = ProxyProcess::start(&upstream, dir.path(), &ProxyOptions::default()).expect("proxy");
    let (c, raw) = (proxy.sdk_client(), upstream.direct_client());
    c.create_bucket().bucket("fields").send().await.expect("CreateBucket");
    c.put_object()
        .bucket("fields")
        .key("put")
        .body(ByteStream::from_static(b"tagged"))
        .tagging("team=blue")
        .storage_class(StorageClass::StandardIa)
        .cache_control("max-age=60")
        .website_redirect_location("/elsewhere")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("PutObject");
    let up = c
        .create_multipart_upload()
        .bucket("fields")
        .key("mpu")
        .tagging("team=green")
        .storage_class(StorageClass::StandardIa)
        .send()
        .await
        .expect("CreateMultipartUpload");
    let id = up.upload_id().expect("upload id");
    let part = c.upload_part().bucket("fields").key("mpu").upload_id(id).part_number(1);
    let part = part.body(ByteStream::from_static(b"part")).send().await.expect("UploadPart");
    let parts = vec![CompletedPart::builder().part_number(1).set_e_tag(part.e_tag).build()];
    c.complete_multipart_upload()
        .bucket("fields")
        .key("mpu")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("CompleteMultipartUpload");
    c.copy_object()
        .bucket("fields")
        .key("copy")
        .copy_source("fields/put")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("team=red")
        .send()
        .await
        .expect("CopyObject");
    for (key, tag) in [("put", "team=blue"), ("mpu", "team=green"), ("copy", "team=red")] {
        let tags = raw.get_object_tagging().bucket("fields").key(key).send().await.expect("GetObjectTagging");
        let tags: Vec<_> = tags.tag_set().iter().map(|t| format!("{}={}", t.key(), t.value())).collect();
        assert_eq!(tags, [tag], "{key}");
    }
    for key in ["put", "mpu"] {
        let head = raw.head_object().bucket("fields").key(key).send().await.expect("HEAD on moto");
        assert_eq!(head.storage_class(), Some(&StorageClass::StandardIa), "{key}");
    }
    let head = raw.head_object().bucket("fields").key("put").send().await.expect("HEAD on moto");
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(head.website_redirect_location(), Some("/elsewhere"));
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));

    let r = c
        .put_object()
        .bucket("fields")
        .key("append")
        .body(ByteStream::from_static(b"more"))
        .write_offset_bytes(0)
        .send()
        .await;
    assert_eq!(status(&r), 501, "{r:?}");
    assert!(format!("{r:?}").contains("x-amz-write-offset-bytes"), "{r:?}");
    assert!(raw.head_object().bucket("fields").key("append").send().await.is_err(), "nothing stored");
}
