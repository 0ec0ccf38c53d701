//! UploadPartCopy (issue 13 item 5): parts copied from plaintext ranges of
//! encrypted sources, sealed again as parts of the destination upload.
//!
//! * SDK (`MultipartUpload::upload_part_copy`) on moto (S3 + KMS): parts
//!   from a single-request source, from a multipart source written without
//!   a part-size hint (the range starts in its second part and crosses into
//!   the third), from an older version of a versioned source (whole), from
//!   an S3 Encryption Client object (written by the official Python
//!   client), and a last part of odd length; the completed object reads
//!   back byte-identical (whole and across part boundaries) and is stored
//!   as ciphertext of the format's length with no plaintext window in it.
//!   The `x-amz-copy-source-if-*` conditions give `412` or go through as S3
//!   weighs them; ranges outside the source, bad part numbers and template
//!   fields the client owns are refused; a tampered source fails the copy
//!   with an integrity error and stores no part.
//! * The real proxy binary over moto, driven by `aws-sdk-s3`: the same
//!   sources written through the proxy, copied with `x-amz-copy-source`
//!   (with `?versionId=`) and `x-amz-copy-source-range`, mixed with an
//!   UploadPart; the answers carry the part ETag CompleteMultipartUpload
//!   takes and a LastModified; conditions on the ETags the proxy shows;
//!   S3's `400 InvalidArgument` for bad ranges and part numbers.
//! * Managed copies through the proxy binary by real clients, on moto and
//!   on the embedded store: `aws s3 cp` and `aws s3 mv` of 20 MiB within a
//!   bucket and across buckets, and `aws s3 sync` bucket to bucket twice
//!   (the second run copies nothing) (aws cli v1 and v2), boto3 `client.copy()`
//!   of 30 MiB; the copies are multipart (the stored ETag names the parts),
//!   read back byte-identical and are ciphertext at rest.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyInputBuilder;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, VersioningConfiguration};
use s3seal::cmm::DefaultCmm;
use s3seal::keyring::KmsKeyring;
use s3seal::s3::{Client, Config};
use s3seal::{Error, ErrorKind};
use s3seal_tests::clients::{
    CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, Clients, FRAME, ProxyOptions, ProxyProcess, TestFile, Tool, Upstream,
    assert_ciphertext_at_rest, find_plaintext, plaintext,
};
use s3seal_tests::python;
use serde_json::Value;

const MIB: usize = 1024 * 1024;
const PART: usize = 5 * MIB;
const F: usize = FRAME as usize;
const SRC: &str = "copy-src";
const DST: &str = "copy-dst";

fn file(name: &str, magic: u32, len: usize) -> TestFile {
    TestFile { name: name.to_string(), data: plaintext(magic, len), magic }
}

/// The sources every API test copies from.
struct Sources {
    single: TestFile,
    multi: TestFile,
    v1: TestFile,
    v2: TestFile,
    s3ec: TestFile,
}

impl Sources {
    fn new() -> Self {
        Self {
            single: file("single", 0x5ec0_0001, PART + MIB + 123),
            multi: file("multi", 0x5ec0_0002, 2 * PART + MIB + 5),
            v1: file("versioned", 0x5ec0_0003, PART),
            v2: file("versioned", 0x5ec0_0004, 1000),
            s3ec: file("s3ec", 0x5ec0_0005, PART + 777),
        }
    }

    fn all(&self) -> Vec<TestFile> {
        vec![self.single.clone(), self.multi.clone(), self.v1.clone(), self.v2.clone(), self.s3ec.clone()]
    }
}

/// moto with a KMS key, its endpoint and a temporary directory.
struct Moto {
    upstream: Upstream,
    key_arn: String,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Moto {
    async fn start() -> Result<Self> {
        let upstream = Upstream::moto().await?;
        let (endpoint, key_arn) = match &upstream {
            Upstream::Moto { server, key_arn } => (server.endpoint(), key_arn.clone()),
            Upstream::S3Fs(_) | Upstream::Embedded { .. } => bail!("moto expected"),
        };
        Ok(Self { upstream, key_arn, endpoint, dir: tempfile::tempdir()? })
    }

    async fn sdk(&self) -> Result<Client> {
        let Upstream::Moto { server, .. } = &self.upstream else { bail!("moto expected") };
        let keyring = Arc::new(KmsKeyring::new(server.kms_client().await, &self.key_arn));
        Ok(Client::with_cmm(self.upstream.direct_client(), Arc::new(DefaultCmm::new(keyring)), Config::default()))
    }

    /// Writes `f` as an S3 Encryption Client V3 object (multipart in 5 MiB
    /// parts) with the official Python client, under the same KMS key.
    fn s3ec_put(&self, bucket: &str, key: &str, f: &TestFile) -> Result<()> {
        let path = self.dir.path().join(format!("{}.s3ec-in", f.name));
        std::fs::write(&path, &f.data)?;
        let path = path.display().to_string();
        let args = [
            "put",
            "--endpoint",
            &self.endpoint,
            "--bucket",
            bucket,
            "--key",
            key,
            "--in",
            &path,
            "--kms-key",
            &self.key_arn,
            "--format",
            "v3",
            "--part-size",
            "5242880",
        ];
        let out = python::run_s3ec_peer(args)?;
        ensure!(out.status.success(), "s3ec_peer.py put {key} failed: {}", out.stderr.trim());
        Ok(())
    }
}

async fn enable_versioning(c: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    c.put_bucket_versioning().bucket(bucket).versioning_configuration(on).send().await?;
    Ok(())
}

/// The stored object read straight from the upstream: ciphertext of the
/// format's length for `want`, without any 16-byte window of `files`.
async fn assert_sealed_at_rest(
    direct: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    want: usize,
    files: &[TestFile],
) -> Result<()> {
    let stored = direct.get_object().bucket(bucket).key(key).send().await?.body.collect().await?.into_bytes();
    let len = s3seal::object::ciphertext_len(want as u64, FRAME);
    ensure!(stored.len() as u64 == len, "{bucket}/{key}: {} bytes stored, the format gives {len}", stored.len());
    if let Some((which, at)) = find_plaintext(&stored, files) {
        bail!("{bucket}/{key} holds plaintext of {which} at offset {at}");
    }
    Ok(())
}

// ---------------------------------------------------------------- SDK

/// Writes the sources through the SDK (and the S3EC one with the Python
/// client); returns the version id of the first version of `versioned`.
async fn sdk_sources(m: &Moto, sdk: &Client, s: &Sources) -> Result<String> {
    let direct = m.upstream.direct_client();
    for b in [SRC, DST] {
        direct.create_bucket().bucket(b).send().await?;
    }
    enable_versioning(&direct, SRC).await?;
    sdk.put_object().bucket(SRC).key("single").body(s.single.data.clone()).send().await?;
    // Multipart without a part-size hint: ranged reads find the layout.
    let up = sdk.create_multipart_upload().bucket(SRC).key("multi").send().await?;
    let mut parts = Vec::new();
    for (i, chunk) in s.multi.data.chunks(PART).enumerate() {
        parts.push(up.upload_part(i as u32 + 1, chunk.to_vec(), chunk.len() as u64).await?);
    }
    up.complete(parts).await?;
    let v1 = sdk.put_object().bucket(SRC).key("versioned").body(s.v1.data.clone()).send().await?;
    sdk.put_object().bucket(SRC).key("versioned").body(s.v2.data.clone()).send().await?;
    m.s3ec_put(SRC, "s3ec", &s.s3ec)?;
    v1.version_id.context("no version id for a write into a versioned bucket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_copies_parts_from_sealed_and_s3ec_sources() -> Result<()> {
    let m = Moto::start().await?;
    let sdk = m.sdk().await?;
    let s = Sources::new();
    let v1 = sdk_sources(&m, &sdk, &s).await?;
    let up = sdk.create_multipart_upload().bucket(DST).key("assembled").send().await?;
    let from = |n: u32, key: &str| up.upload_part_copy(n).source(SRC, key);
    let (a, b) = (PART + F, 2 * PART + F - 1);
    let copies = vec![
        from(1, "single").source_range(0, (PART - 1) as u64),
        from(2, "multi").source_range(a as u64, b as u64),
        from(3, "versioned").source_version_id(&v1),
        from(4, "s3ec").source_range(0, (PART - 1) as u64),
        from(5, "multi").source_range(3, 100_002),
    ];
    let mut parts = Vec::new();
    for c in copies {
        let out = c.send().await?;
        ensure!(out.source_e_tag.is_some(), "no source ETag in {out:?}");
        parts.push(out.part);
    }
    ensure!(parts[2].plaintext_length == PART as u64, "whole-source part: {:?}", parts[2]);
    up.complete(parts).await?;
    let want =
        [&s.single.data[..PART], &s.multi.data[a..=b], &s.v1.data, &s.s3ec.data[..PART], &s.multi.data[3..=100_002]]
            .concat();
    let got = sdk.get_object().bucket(DST).key("assembled").send().await?.body.collect().await?;
    ensure!(got == want, "the assembled object differs ({} bytes, expected {})", got.len(), want.len());
    let across = format!("bytes={}-{}", 2 * PART - 10, 3 * PART + 10);
    let got = sdk.get_object().bucket(DST).key("assembled").range(across).send().await?.body.collect().await?;
    ensure!(got == want[2 * PART - 10..=3 * PART + 10], "a range across copied parts differs");
    assert_sealed_at_rest(&m.upstream.direct_client(), DST, "assembled", want.len(), &s.all()).await?;
    sdk_conditions_and_refusals(&m, &sdk, &s).await
}

/// `x-amz-copy-source-if-*` as S3 weighs them, and what is refused.
async fn sdk_conditions_and_refusals(m: &Moto, sdk: &Client, s: &Sources) -> Result<()> {
    let head = sdk.head_object().bucket(SRC).key("single").send().await?;
    let (etag, modified) = (head.e_tag.clone().context("etag")?, head.last_modified.context("last modified")?);
    let before = DateTime::from_secs(modified.secs() - 60);
    let up = sdk.create_multipart_upload().bucket(DST).key("conditions").send().await?;
    let copy =
        |t: UploadPartCopyInputBuilder| up.upload_part_copy(1).source(SRC, "single").source_range(0, 999).request(t);
    let t = UploadPartCopyInputBuilder::default;
    let failing = [
        ("if-match other", t().copy_source_if_match("\"0123456789abcdef0123456789abcdef\"")),
        ("if-none-match the ETag", t().copy_source_if_none_match(&etag)),
        ("if-modified-since its date", t().copy_source_if_modified_since(modified)),
        ("if-unmodified-since before it", t().copy_source_if_unmodified_since(before)),
    ];
    for (what, template) in failing {
        match copy(template).send().await {
            Err(Error::S3 { status: Some(412), .. }) => {}
            other => bail!("{what}: expected 412, got {other:?}"),
        }
    }
    let passing = [
        ("if-match the ETag", t().copy_source_if_match(&etag)),
        (
            "if-match wins over if-unmodified-since",
            t().copy_source_if_match(&etag).copy_source_if_unmodified_since(before),
        ),
        (
            "if-none-match wins over if-modified-since",
            t().copy_source_if_none_match("\"other\"").copy_source_if_modified_since(modified),
        ),
        ("if-modified-since before it", t().copy_source_if_modified_since(before)),
    ];
    for (what, template) in passing {
        let out = copy(template).send().await.with_context(|| what.to_string())?;
        ensure!(out.part.plaintext_length == 1000, "{what}: {out:?}");
    }
    // Ranges outside the source, part numbers, the client's own fields.
    let n = s.single.data.len() as u64;
    for (first, last) in [(0, n), (n, n + 5), (7, 6)] {
        let e = up.upload_part_copy(1).source(SRC, "single").source_range(first, last).send().await.unwrap_err();
        ensure!(matches!(e, Error::InvalidRange { length } if length == n), "range {first}-{last}: {e:?}");
    }
    for part in [0, 10_001] {
        let e = up.upload_part_copy(part).source(SRC, "single").send().await.unwrap_err();
        ensure!(matches!(e, Error::InvalidParameter(_)), "part {part}: {e:?}");
    }
    for template in
        [t().copy_source("x/y"), t().copy_source_range("bytes=0-1"), t().sse_customer_key("k"), t().part_number(2)]
    {
        let e = copy(template).send().await.unwrap_err();
        ensure!(matches!(e, Error::UnsupportedRequestField { operation: "UploadPartCopy", .. }), "{e:?}");
    }
    sdk_tampered_source(m, sdk, &up).await?;
    up.abort().await?;
    Ok(())
}

/// A source whose stored frame was altered fails the copy as an integrity
/// failure; the part is not stored.
async fn sdk_tampered_source(m: &Moto, sdk: &Client, up: &s3seal::s3::MultipartUpload) -> Result<()> {
    let direct = m.upstream.direct_client();
    let data = plaintext(0x5ec0_0006, 3 * F);
    sdk.put_object().bucket(DST).key("tampered").body(data).send().await?;
    let stored = direct.get_object().bucket(DST).key("tampered").send().await?;
    let meta = stored.metadata().cloned();
    let mut body = stored.body.collect().await?.into_bytes().to_vec();
    body[F + 16 + 100] ^= 1;
    direct.put_object().bucket(DST).key("tampered").set_metadata(meta).body(ByteStream::from(body)).send().await?;
    let e = up.upload_part_copy(7).source(DST, "tampered").send().await.unwrap_err();
    ensure!(e.is_verification_failure(), "a tampered source: {e:?}");
    ensure!(e.kind() == ErrorKind::Integrity, "a tampered source: {e:?} ({:?})", e.kind());
    let parts = up.stored_parts().await?;
    ensure!(parts.iter().all(|p| p.part_number != 7), "a part was stored from a tampered source: {parts:?}");
    Ok(())
}

// ---------------------------------------------------------------- proxy

fn status(e: &aws_sdk_s3::error::SdkError<impl ProvideErrorMetadata + std::fmt::Debug>) -> (u16, String) {
    (e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0), e.code().unwrap_or_default().to_string())
}

/// Writes the sources through the proxy (the S3EC one with the Python
/// client, straight to moto); returns the first version of `versioned`.
async fn proxy_sources(m: &Moto, c: &aws_sdk_s3::Client, s: &Sources) -> Result<String> {
    for b in [SRC, DST] {
        c.create_bucket().bucket(b).send().await?;
    }
    enable_versioning(c, SRC).await?;
    c.put_object().bucket(SRC).key("single").body(ByteStream::from(s.single.data.clone())).send().await?;
    let up = c.create_multipart_upload().bucket(SRC).key("multi").send().await?;
    let id = up.upload_id().context("upload id")?;
    let mut parts = CompletedMultipartUpload::builder();
    for (i, chunk) in s.multi.data.chunks(PART).enumerate() {
        let n = i as i32 + 1;
        let body = ByteStream::from(chunk.to_vec());
        let p = c.upload_part().bucket(SRC).key("multi").upload_id(id).part_number(n).body(body).send().await?;
        parts = parts.parts(CompletedPart::builder().part_number(n).set_e_tag(p.e_tag).build());
    }
    c.complete_multipart_upload().bucket(SRC).key("multi").upload_id(id).multipart_upload(parts.build()).send().await?;
    let v1 = c.put_object().bucket(SRC).key("versioned").body(ByteStream::from(s.v1.data.clone())).send().await?;
    c.put_object().bucket(SRC).key("versioned").body(ByteStream::from(s.v2.data.clone())).send().await?;
    m.s3ec_put(SRC, "s3ec", &s.s3ec)?;
    v1.version_id.context("no version id through the proxy for a write into a versioned bucket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_copies_parts_from_encrypted_sources() -> Result<()> {
    let m = Moto::start().await?;
    let proxy = ProxyProcess::start(&m.upstream, m.dir.path(), &ProxyOptions::default())?;
    let result = proxy_scenario(&m, &proxy).await;
    if let Err(e) = &result {
        let log = proxy.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("{e:#}\n--- proxy log (last lines)\n{}", tail.join("\n"));
    }
    result
}

async fn proxy_scenario(m: &Moto, proxy: &ProxyProcess) -> Result<()> {
    let c = proxy.sdk_client();
    let s = Sources::new();
    let v1 = proxy_sources(m, &c, &s).await?;
    let up = c.create_multipart_upload().bucket(DST).key("assembled").send().await?;
    let id = up.upload_id().context("upload id")?.to_string();
    let (a, b) = (PART + F, 2 * PART + F - 1);
    let copies = [
        (1, format!("{SRC}/single"), Some(format!("bytes=0-{}", PART - 1))),
        (2, format!("{SRC}/multi"), Some(format!("bytes={a}-{b}"))),
        (3, format!("{SRC}/versioned?versionId={v1}"), None),
        (4, format!("{SRC}/s3ec"), Some(format!("bytes=0-{}", PART - 1))),
    ];
    let mut parts = CompletedMultipartUpload::builder();
    for (n, source, range) in copies {
        let copy = c.upload_part_copy().bucket(DST).key("assembled").upload_id(&id).part_number(n);
        let out =
            copy.copy_source(&source).set_copy_source_range(range).send().await.with_context(|| source.clone())?;
        let r = out.copy_part_result().context("no CopyPartResult")?;
        ensure!(r.last_modified().is_some(), "{source}: no LastModified");
        if n == 3 {
            ensure!(out.copy_source_version_id() == Some(v1.as_str()), "{source}: {:?}", out.copy_source_version_id());
        }
        parts = parts.parts(CompletedPart::builder().part_number(n).set_e_tag(r.e_tag().map(str::to_string)).build());
    }
    // A part uploaded as such, among copied ones.
    let last = plaintext(0x5ec0_0007, 70_001);
    let p = c.upload_part().bucket(DST).key("assembled").upload_id(&id).part_number(5);
    let p = p.body(ByteStream::from(last.clone())).send().await?;
    parts = parts.parts(CompletedPart::builder().part_number(5).set_e_tag(p.e_tag).build());
    let listed = c.list_parts().bucket(DST).key("assembled").upload_id(&id).send().await?;
    let sizes: Vec<i64> = listed.parts().iter().filter_map(|p| p.size()).collect();
    ensure!(sizes == [PART as i64, PART as i64, PART as i64, PART as i64, 70_001], "ListParts sizes {sizes:?}");
    let complete = c.complete_multipart_upload().bucket(DST).key("assembled").upload_id(&id);
    complete
        .multipart_upload(parts.build())
        .send()
        .await
        .context("CompleteMultipartUpload with the copied parts' ETags")?;
    let want = [&s.single.data[..PART], &s.multi.data[a..=b], &s.v1.data, &s.s3ec.data[..PART], &last].concat();
    let got = c.get_object().bucket(DST).key("assembled").send().await?.body.collect().await?.into_bytes();
    ensure!(
        got == want,
        "the assembled object differs through the proxy ({} bytes, expected {})",
        got.len(),
        want.len()
    );
    let mut files = s.all();
    files.push(TestFile { name: "last".into(), data: last, magic: 0x5ec0_0007 });
    assert_sealed_at_rest(&m.upstream.direct_client(), DST, "assembled", want.len(), &files).await?;
    odd_key_source(&c, &s).await?;
    proxy_conditions_and_refusals(&c, &s).await
}

/// A source key that must be percent-encoded in `x-amz-copy-source`.
async fn odd_key_source(c: &aws_sdk_s3::Client, s: &Sources) -> Result<()> {
    let key = "odd dir/k\u{fc}+y=1&x.bin";
    let encoded = "odd%20dir/k%C3%BC%2By%3D1%26x.bin";
    let data = &s.single.data[..70_001];
    c.put_object().bucket(SRC).key(key).body(ByteStream::from(data.to_vec())).send().await?;
    let up = c.create_multipart_upload().bucket(DST).key(key).send().await?;
    let id = up.upload_id().context("upload id")?;
    let copy = c.upload_part_copy().bucket(DST).key(key).upload_id(id).part_number(1);
    let out = copy.copy_source(format!("{SRC}/{encoded}")).send().await.context("copy from an odd key")?;
    let e_tag = out.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string);
    let parts =
        CompletedMultipartUpload::builder().parts(CompletedPart::builder().part_number(1).set_e_tag(e_tag).build());
    c.complete_multipart_upload().bucket(DST).key(key).upload_id(id).multipart_upload(parts.build()).send().await?;
    let got = c.get_object().bucket(DST).key(key).send().await?.body.collect().await?.into_bytes();
    ensure!(got == data, "the copy of an odd key differs");
    Ok(())
}

async fn proxy_conditions_and_refusals(c: &aws_sdk_s3::Client, s: &Sources) -> Result<()> {
    let head = c.head_object().bucket(SRC).key("single").send().await?;
    let etag = head.e_tag().context("etag")?.to_string();
    ensure!(etag.trim_matches('"').ends_with("-0"), "the proxy shows {etag}");
    let modified = *head.last_modified().context("last modified")?;
    let before = DateTime::from_secs(modified.secs() - 60);
    let up = c.create_multipart_upload().bucket(DST).key("conditions").send().await?;
    let id = up.upload_id().context("upload id")?;
    let copy = || {
        let b = c.upload_part_copy().bucket(DST).key("conditions").upload_id(id).part_number(1);
        b.copy_source(format!("{SRC}/single")).copy_source_range("bytes=0-999")
    };
    let cases = [
        ("if-match the shown ETag", copy().copy_source_if_match(&etag), 200),
        ("if-match other", copy().copy_source_if_match("\"0123456789abcdef0123456789abcdef-0\""), 412),
        ("if-none-match the shown ETag", copy().copy_source_if_none_match(&etag), 412),
        ("if-modified-since its date", copy().copy_source_if_modified_since(modified), 412),
        ("if-unmodified-since before it", copy().copy_source_if_unmodified_since(before), 412),
        ("if-match wins", copy().copy_source_if_match(&etag).copy_source_if_unmodified_since(before), 200),
    ];
    for (what, req, want) in cases {
        let got = match req.send().await {
            Ok(_) => (200, String::new()),
            Err(e) => status(&e),
        };
        ensure!(got.0 == want, "{what}: {got:?}, expected {want}");
        ensure!(want == 200 || got.1 == "PreconditionFailed", "{what}: {got:?}");
    }
    let n = s.single.data.len();
    let bad = [
        ("0-10".to_string(), 1),
        ("bytes=0-".to_string(), 1),
        ("bytes=-10".to_string(), 1),
        (format!("bytes=0-{n}"), 1),
        (format!("bytes={n}-{}", n + 1), 1),
        ("bytes=0-9".to_string(), 0),
        ("bytes=0-9".to_string(), 10_001),
    ];
    for (range, part) in bad {
        let req = copy().copy_source_range(&range).part_number(part);
        let e = req.send().await.expect_err(&range);
        ensure!(status(&e) == (400, "InvalidArgument".to_string()), "{range} part {part}: {:?}", status(&e));
    }
    let e =
        c.upload_part_copy().bucket(DST).key("x").upload_id("u").part_number(1).copy_source(format!("{SRC}/single"));
    let e = e.send().await.expect_err("an upload id the proxy did not give");
    ensure!(status(&e) == (404, "NoSuchUpload".to_string()), "{:?}", status(&e));
    Ok(())
}

// ---------------------------------------------------------------- managed copies

const BIG: &str = "f20m";

/// A proxy over `upstream` (moto or the embedded store) and the clients
/// configured for it.
struct Rig {
    t0: Instant,
    dir: tempfile::TempDir,
    upstream: Upstream,
    proxy: ProxyProcess,
    clients: Clients,
}

impl Rig {
    async fn start(upstream: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("copy-parts-").tempdir()?;
        let upstream = Upstream::start(upstream).await?;
        let proxy = ProxyProcess::start(&upstream, dir.path(), &ProxyOptions::default())?;
        let clients = Clients::new(&dir.path().join("clients"), proxy.endpoint(), None)?;
        Ok(Self { t0: Instant::now(), dir, upstream, proxy, clients })
    }

    fn finish(mut self, what: &str, result: Result<()>) {
        if let Err(e) = result {
            let log = self.proxy.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            panic!("{what} over {}: {e:#}\n--- proxy log (last lines)\n{}", self.upstream.name(), tail.join("\n"));
        }
        self.proxy.stop().expect("graceful stop");
        eprintln!("{what} over {}: {:.1} s", self.upstream.name(), self.t0.elapsed().as_secs_f64());
    }

    /// The stored object's ETag names `parts` parts (a multipart copy).
    async fn assert_parts(&self, bucket: &str, key: &str, parts: usize) -> Result<()> {
        let head = self.upstream.direct_client().head_object().bucket(bucket).key(key).send().await?;
        let etag = head.e_tag().unwrap_or_default().trim_matches('"').to_string();
        ensure!(etag.ends_with(&format!("-{parts}")), "{bucket}/{key}: stored ETag {etag}, expected {parts} parts");
        Ok(())
    }
}

/// The data keys `bucket` holds on the upstream, sorted (s3seal's own
/// objects under `.s3seal/`, such as final records, left out).
async fn stored_keys(direct: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>> {
    let listed = direct.list_objects_v2().bucket(bucket).send().await?;
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .filter(|k| !k.starts_with(s3seal::s3::RESERVED_PREFIX))
        .collect();
    keys.sort();
    Ok(keys)
}

/// Skips (true) when `tool` is not installed, saying so.
fn missing(tool: Tool) -> bool {
    match tool.program() {
        Ok(_) => false,
        Err(e) => {
            eprintln!("SKIPPED: {e:#}");
            true
        }
    }
}

async fn aws_managed_copies(tool: Tool, upstream: &str) {
    if missing(tool) {
        return;
    }
    let rig = Rig::start(upstream).await.expect("rig");
    let result = aws_scenario(tool, &rig).await;
    rig.finish(&format!("{tool:?} cp/mv"), result);
}

async fn aws_scenario(tool: Tool, rig: &Rig) -> Result<()> {
    let (one, two) = ("cp-one", "cp-two");
    let big = file(BIG, 0x5ec0_1000 ^ tool as u32, 20 * MIB);
    let local = rig.dir.path().join(BIG);
    std::fs::write(&local, &big.data)?;
    let c = &rig.clients;
    c.make_bucket(tool, one)?;
    c.make_bucket(tool, two)?;
    c.upload(tool, &local, one, &format!("src/{BIG}"))?;
    let url = |b: &str, k: &str| format!("s3://{b}/{k}/{BIG}");
    let steps = [
        ("cp", url(one, "src"), url(two, "cp")),
        ("cp", url(one, "src"), url(one, "cp")),
        ("mv", url(one, "cp"), url(one, "mv")),
        ("mv", url(one, "mv"), url(two, "mv")),
    ];
    for (op, from, to) in &steps {
        let t = Instant::now();
        c.run(tool, &["s3", op, "--no-progress", from, to]).with_context(|| format!("{op} {from} {to}"))?;
        eprintln!("  {tool:?} s3 {op} {from} {to}: {:.1} s", t.elapsed().as_secs_f64());
    }
    // sync bucket to bucket, twice: the second run copies nothing.
    let (from, to) = (format!("s3://{one}/src/"), format!("s3://{two}/sync/"));
    for run in [1, 2] {
        let ran = c.run(tool, &["s3", "sync", "--no-progress", &from, &to]).with_context(|| format!("sync {run}"))?;
        let copies = ran.stdout.lines().filter(|l| l.trim_start().starts_with("copy:")).count();
        ensure!(copies == usize::from(run == 1), "sync {run} copied {copies} objects:\n{}", ran.stdout);
    }
    let direct = rig.upstream.direct_client();
    let held = stored_keys(&direct, one).await?;
    ensure!(held == [format!("src/{BIG}")], "{one} holds {held:?} (mv leaves no source behind)");
    let held = stored_keys(&direct, two).await?;
    ensure!(held == [format!("cp/{BIG}"), format!("mv/{BIG}"), format!("sync/{BIG}")], "{two} holds {held:?}");
    for key in ["cp", "mv", "sync"] {
        let back = rig.dir.path().join(format!("back-{key}"));
        c.download(tool, two, &format!("{key}/{BIG}"), &back)?;
        ensure!(std::fs::read(&back)? == big.data, "{two}/{key}/{BIG} differs from the source");
        rig.assert_parts(two, &format!("{key}/{BIG}"), 3).await?;
    }
    let files = [big];
    ensure!(assert_ciphertext_at_rest(&direct, one, &files).await? == 1, "{one} on the upstream");
    ensure!(assert_ciphertext_at_rest(&direct, two, &files).await? == 3, "{two} on the upstream");
    Ok(())
}

async fn boto3_managed_copy(upstream: &str) {
    let rig = Rig::start(upstream).await.expect("rig");
    let result = boto3_scenario(&rig).await;
    rig.finish("boto3 copy", result);
}

async fn boto3_scenario(rig: &Rig) -> Result<()> {
    let (one, two) = ("boto3-one", "boto3-two");
    let big = file("f30m", 0x5ec0_2000, 30 * MIB);
    let local = rig.dir.path().join("f30m");
    std::fs::write(&local, &big.data)?;
    let mut cmd = rig.clients.python("boto3_copy.py")?;
    cmd.args([
        "--endpoint",
        rig.proxy.endpoint(),
        "--access-key",
        CLIENT_ACCESS_KEY,
        "--secret-key",
        CLIENT_SECRET_KEY,
    ]);
    cmd.arg("--file").arg(&local).args(["--bucket", one, "--other-bucket", two]);
    cmd.arg("--out").arg(rig.dir.path().join("out"));
    let ran = rig.clients.run_command(&mut cmd)?;
    let report: Value = serde_json::from_str(&ran.stdout).with_context(|| format!("boto3 report: {}", ran.stdout))?;
    eprintln!("  boto3 {} copies: {:.1} s", report["boto3"], ran.elapsed.as_secs_f64());
    for label in ["copy", "same"] {
        let r = &report["copies"][label];
        let path = r["file"].as_str().context("file")?;
        ensure!(std::fs::read(path)? == big.data, "boto3 copy ({label}) differs: {r}");
        ensure!(r["size"].as_u64() == Some(big.data.len() as u64), "boto3 copy ({label}): {r}");
        let (bucket, key) = (r["bucket"].as_str().context("bucket")?, r["key"].as_str().context("key")?);
        rig.assert_parts(bucket, key, 4).await?;
    }
    let direct = rig.upstream.direct_client();
    let files = [big];
    ensure!(assert_ciphertext_at_rest(&direct, one, &files).await? == 2, "{one} on the upstream");
    ensure!(assert_ciphertext_at_rest(&direct, two, &files).await? == 1, "{two} on the upstream");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_v1_copies_moto() {
    aws_managed_copies(Tool::AwsV1, "moto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_v1_copies_embedded() {
    aws_managed_copies(Tool::AwsV1, "embedded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_v2_copies_moto() {
    aws_managed_copies(Tool::AwsV2, "moto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_v2_copies_embedded() {
    aws_managed_copies(Tool::AwsV2, "embedded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_copy_moto() {
    boto3_managed_copy("moto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_copy_embedded() {
    boto3_managed_copy("embedded").await;
}
