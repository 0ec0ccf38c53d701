//! Interop with the official Amazon S3 Encryption Client for Python
//! (`amazon-s3-encryption-client-python`, in `.venv-s3ec`), on moto (S3 +
//! KMS):
//!
//! * objects it writes (formats V3 and V2, with and without encryption
//!   context, single PUT and multipart, instruction-file mode) read back
//!   through `s3seal::s3::Client` (whole, ranged, HEAD) and through the real
//!   `s3seal proxy`;
//! * objects `s3seal::s3::Client` writes in V3 mode (KMS single and
//!   multipart, raw AES, raw RSA) read back with the Python client;
//! * tampered objects (body, tag, commitment, message id, context, wrapping
//!   algorithm, mixed formats) and V2 under the default policy are refused.
//!
//! The Python client does not write instruction files; the instruction-file
//! cases move its metadata into `<key>.instruction` the way the Java client
//! lays that mode out (`tests/python/s3ec_peer.py to-instruction-file`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use s3seal::cmm::DefaultCmm;
use s3seal::keyring::{Keyring, KmsKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding};
use s3seal::s3::{Body, Client, Config, WriteFormat};
use s3seal::{CommitmentPolicy, Error};
use s3seal_tests::clients::{ProxyOptions, ProxyProcess, Upstream, plaintext};
use s3seal_tests::python;

const BUCKET: &str = "s3ec";
const PART: usize = 5 * 1024 * 1024;

struct Case {
    key: &'static str,
    len: usize,
    v2: bool,
    context: Option<(&'static str, &'static str)>,
    part_size: Option<usize>,
    instruction_file: bool,
}

const fn case(key: &'static str, len: usize, v2: bool) -> Case {
    Case { key, len, v2, context: None, part_size: None, instruction_file: false }
}

fn python_cases() -> Vec<Case> {
    vec![
        case("v3/empty", 0, false),
        case("v3/one", 1, false),
        case("v3/70k", 70_001, false),
        Case { context: Some(("team", "blue")), ..case("v3/context", 70_000, false) },
        Case { part_size: Some(PART), ..case("v3/multipart", 2 * PART + 777, false) },
        Case { instruction_file: true, ..case("v3/instruction", 65_536, false) },
        Case {
            instruction_file: true,
            context: Some(("team", "green")),
            ..case("v3/instruction-context", 4097, false)
        },
        case("v2/one", 1, true),
        case("v2/70k", 70_001, true),
        Case { context: Some(("team", "blue")), ..case("v2/context", 1000, true) },
        Case { part_size: Some(PART), ..case("v2/multipart", PART + 5, true) },
        Case { instruction_file: true, ..case("v2/instruction", 33_333, true) },
    ]
}

fn data_of(c: &Case) -> Vec<u8> {
    let magic = c.key.bytes().fold(0x5eec_0000u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    plaintext(magic, c.len)
}

fn peer_ok(args: &[String]) -> Result<()> {
    let out = python::run_s3ec_peer(args)?;
    if !out.status.success() {
        bail!("s3ec_peer.py {} failed: {}", args.first().map(String::as_str).unwrap_or(""), out.stderr.trim());
    }
    Ok(())
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

struct World {
    upstream: Upstream,
    key_arn: String,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Result<Self> {
        let upstream = Upstream::moto().await?;
        let (endpoint, key_arn) = match &upstream {
            Upstream::Moto { server, key_arn } => (server.endpoint(), key_arn.clone()),
            Upstream::S3Fs(_) | Upstream::Embedded { .. } => bail!("moto expected"),
        };
        upstream.direct_client().create_bucket().bucket(BUCKET).send().await.context("CreateBucket")?;
        Ok(Self { upstream, key_arn, endpoint, dir: tempfile::tempdir()? })
    }

    async fn kms(&self) -> Result<aws_sdk_kms::Client> {
        match &self.upstream {
            Upstream::Moto { server, .. } => Ok(server.kms_client().await),
            Upstream::S3Fs(_) | Upstream::Embedded { .. } => bail!("moto expected"),
        }
    }

    fn client(&self, keyring: Arc<dyn Keyring>, config: Config) -> Client {
        Client::with_cmm(self.upstream.direct_client(), Arc::new(DefaultCmm::new(keyring)), config)
    }

    async fn kms_client(&self, config: Config) -> Result<Client> {
        Ok(self.client(Arc::new(KmsKeyring::new(self.kms().await?, &self.key_arn)), config))
    }

    fn python_put(&self, c: &Case) -> Result<Vec<u8>> {
        let data = data_of(c);
        let path = self.dir.path().join(c.key.replace('/', "_"));
        std::fs::write(&path, &data)?;
        let mut a = args(&["put", "--endpoint", &self.endpoint, "--bucket", BUCKET, "--key", c.key]);
        a.extend(args(&["--in", &path.display().to_string(), "--kms-key", &self.key_arn]));
        a.extend(args(&["--format", if c.v2 { "v2" } else { "v3" }]));
        if let Some((k, v)) = c.context {
            a.extend(args(&["--context", &format!("{k}={v}")]));
        }
        if let Some(p) = c.part_size {
            a.extend(args(&["--part-size", &p.to_string()]));
        }
        peer_ok(&a).with_context(|| format!("Python writing {}", c.key))?;
        if c.instruction_file {
            peer_ok(&args(&["to-instruction-file", "--endpoint", &self.endpoint, "--bucket", BUCKET, "--key", c.key]))?;
        }
        Ok(data)
    }

    fn python_get(&self, key: &str, extra: &[String]) -> Result<Vec<u8>> {
        let out = self.dir.path().join(format!("{}.got", key.replace('/', "_")));
        let mut a = args(&["get", "--endpoint", &self.endpoint, "--bucket", BUCKET, "--key", key]);
        a.extend(args(&["--out", &out.display().to_string()]));
        a.extend_from_slice(extra);
        peer_ok(&a).with_context(|| format!("Python reading {key}"))?;
        Ok(std::fs::read(&out)?)
    }

    /// The stored object: body and user metadata.
    async fn stored(&self, key: &str) -> Result<(Vec<u8>, HashMap<String, String>)> {
        let r = self.upstream.direct_client().get_object().bucket(BUCKET).key(key).send().await?;
        let meta = r.metadata().cloned().unwrap_or_default();
        Ok((r.body.collect().await?.into_bytes().to_vec(), meta))
    }

    async fn store(&self, key: &str, body: Vec<u8>, meta: HashMap<String, String>) -> Result<()> {
        self.upstream
            .direct_client()
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .set_metadata(Some(meta))
            .body(ByteStream::from(body))
            .send()
            .await?;
        Ok(())
    }
}

fn allow_v2() -> Config {
    Config { commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt, ..Config::default() }
}

async fn sdk_get(client: &Client, key: &str, range: Option<&str>, ctx: Option<(&str, &str)>) -> Result<Vec<u8>> {
    let mut get = client.get_object().bucket(BUCKET).key(key);
    if let Some(r) = range {
        get = get.range(r);
    }
    if let Some((k, v)) = ctx {
        get = get.context(k, v);
    }
    let out = get.send().await?;
    ensure!(out.s3ec.is_some(), "{key}: not read as an S3 Encryption Client object");
    ensure!(
        !out.headers.metadata.keys().any(|k| s3seal::s3ec::is_s3ec_key(k)),
        "{key}: encryption metadata shown to the caller: {:?}",
        out.headers.metadata
    );
    Ok(out.body.collect().await?)
}

fn ranges(len: usize) -> Vec<(String, std::ops::Range<usize>)> {
    let mut r = vec![
        ("bytes=0-0".to_string(), 0..1),
        (format!("bytes={}-", len / 2), len / 2..len),
        ("bytes=-1".to_string(), len - 1..len),
        (format!("bytes=1-{}", len - 2), 1..len - 1),
    ];
    if len > PART + 20 {
        r.push((format!("bytes={}-{}", PART - 10, PART + 9), PART - 10..PART + 10));
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_written_by_the_python_client_read_through_the_sdk_and_the_proxy() -> Result<()> {
    let w = World::start().await?;
    let strict = w.kms_client(Config::default()).await?;
    let lenient = w.kms_client(allow_v2()).await?;
    let unauthenticated = w.kms_client(Config { s3ec_unauthenticated_ranges: true, ..allow_v2() }).await?;
    let cases = python_cases();
    let mut written = Vec::new();
    for c in &cases {
        written.push(w.python_put(c)?);
    }
    let proxy = ProxyProcess::start(
        &w.upstream,
        w.dir.path(),
        &ProxyOptions {
            extra_config: "commitment_policy = \"require-encrypt-allow-decrypt\"\n".into(),
            ..Default::default()
        },
    )?;
    let via_proxy = proxy.sdk_client();
    for (c, data) in cases.iter().zip(&written) {
        let reader = if c.v2 { &lenient } else { &strict };
        let got = sdk_get(reader, c.key, None, None).await.with_context(|| format!("SDK reading {}", c.key))?;
        ensure!(got == *data, "{}: SDK read differs ({} bytes, expected {})", c.key, got.len(), data.len());
        if let Some((k, v)) = c.context {
            ensure!(sdk_get(reader, c.key, None, Some((k, v))).await? == *data, "{}: with its context", c.key);
            let wrong = sdk_get(reader, c.key, None, Some((k, "wrong"))).await;
            ensure!(
                matches!(wrong.as_ref().map_err(|e| e.downcast_ref::<Error>()), Err(Some(Error::EncryptionContext(_)))),
                "{}: a wrong context must be refused, got {wrong:?}",
                c.key
            );
        }
        if c.v2 {
            let refused = strict.get_object().bucket(BUCKET).key(c.key).send().await;
            ensure!(
                matches!(refused, Err(Error::S3ecCommitmentPolicy { .. })),
                "{}: V2 under the default policy must be refused, got {refused:?}",
                c.key
            );
        }
        let head = reader.head_object().bucket(BUCKET).key(c.key).send().await?;
        ensure!(head.content_length == c.len as u64, "{}: HEAD says {} bytes", c.key, head.content_length);
        ensure!(head.s3ec.is_some(), "{}: HEAD did not recognise the object", c.key);
        if c.len >= 2 {
            for (range, want) in ranges(c.len) {
                let got = sdk_get(reader, c.key, Some(&range), c.context).await?;
                ensure!(got == data[want.clone()], "{}: range {range} differs", c.key);
                let fast = sdk_get(&unauthenticated, c.key, Some(&range), c.context).await?;
                ensure!(fast == data[want], "{}: unauthenticated range {range} differs", c.key);
            }
        }
        // Through the proxy: same bytes, plaintext sizes, no encryption metadata.
        let r = via_proxy
            .get_object()
            .bucket(BUCKET)
            .key(c.key)
            .send()
            .await
            .with_context(|| format!("proxy GET {}\n--- proxy log\n{}", c.key, proxy.log()))?;
        ensure!(r.content_length() == Some(c.len as i64), "{}: proxy GET length {:?}", c.key, r.content_length());
        let meta = r.metadata().cloned().unwrap_or_default();
        ensure!(meta.keys().all(|k| !k.starts_with("x-amz-")), "{}: proxy shows {meta:?}", c.key);
        ensure!(r.body.collect().await?.into_bytes() == *data, "{}: proxy GET differs", c.key);
        let h = via_proxy.head_object().bucket(BUCKET).key(c.key).send().await?;
        ensure!(h.content_length() == Some(c.len as i64), "{}: proxy HEAD length {:?}", c.key, h.content_length());
        if c.len >= 2 {
            let (range, want) = ranges(c.len).swap_remove(1);
            let r = via_proxy.get_object().bucket(BUCKET).key(c.key).range(&range).send().await?;
            ensure!(r.body.collect().await?.into_bytes() == data[want], "{}: proxy range {range}", c.key);
        }
    }
    Ok(())
}

fn rsa_pem(dir: &Path) -> Result<String> {
    let path = dir.join("rsa.pem");
    python::run_script_ok("esdk_peer.py", args(&["gen-rsa", "--bits", "2048", "--out", &path.display().to_string()]))?;
    Ok(std::fs::read_to_string(&path)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_the_sdk_writes_in_v3_mode_read_with_the_python_client() -> Result<()> {
    let w = World::start().await?;
    let v3 = Config { write_format: WriteFormat::S3ecV3, part_size: PART as u64, ..Config::default() };
    let kms = w.kms_client(v3.clone()).await?;
    // KMS, single PUT, with and without context.
    for (key, len, ctx) in [
        ("sdk/empty", 0, None),
        ("sdk/one", 1, None),
        ("sdk/70k", 70_001, None),
        ("sdk/ctx", 4096, Some(("team", "red"))),
    ] {
        let data = plaintext(0x0053_d300 ^ len as u32, len);
        let mut put = kms.put_object().bucket(BUCKET).key(key).body(data.clone());
        if let Some((k, v)) = ctx {
            put = put.context(k, v);
        }
        put.send().await.with_context(|| format!("SDK writing {key}"))?;
        let (stored, meta) = w.stored(key).await?;
        ensure!(stored.len() == len + 16, "{key}: stored {} bytes", stored.len());
        ensure!(meta.get("x-amz-c").map(String::as_str) == Some("115"), "{key}: metadata {meta:?}");
        let mut extra = args(&["--kms-key", &w.key_arn]);
        if let Some((k, v)) = ctx {
            extra.extend(args(&["--context", &format!("{k}={v}")]));
        }
        ensure!(w.python_get(key, &extra)? == data, "{key}: Python read differs");
        ensure!(sdk_get(&kms, key, None, None).await? == data, "{key}: SDK read differs");
    }
    // KMS, sequential multipart from a stream of unknown length.
    let data = plaintext(0x0053_d3ff, 2 * PART + 12_345);
    let out = kms
        .upload()
        .bucket(BUCKET)
        .key("sdk/multipart")
        .body(Body::from_reader(std::io::Cursor::new(data.clone())))
        .send()
        .await?;
    ensure!(out.parts == 3, "expected 3 parts, got {}", out.parts);
    ensure!(
        w.python_get("sdk/multipart", &args(&["--kms-key", &w.key_arn]))? == data,
        "multipart: Python read differs"
    );
    ensure!(sdk_get(&kms, "sdk/multipart", None, None).await? == data, "multipart: SDK read differs");

    // Raw AES and raw RSA keys (read on the Python side with the official
    // client's content decryption and a raw keyring in the test script).
    let aes_key = [0x42u8; 32];
    let aes = w.client(Arc::new(RawAesKeyring::new("s3ec", "aes", &aes_key)?), v3.clone());
    let data = plaintext(0x0053_d3aa, 70_000);
    aes.put_object().bucket(BUCKET).key("sdk/aes").body(data.clone()).send().await?;
    ensure!(w.stored("sdk/aes").await?.1.get("x-amz-w").map(String::as_str) == Some("02"), "AES/GCM code");
    let got = w.python_get("sdk/aes", &args(&["--aes-key-b64", &B64.encode(aes_key)]))?;
    ensure!(got == data, "raw AES: Python read differs");
    ensure!(sdk_get(&aes, "sdk/aes", None, None).await? == data, "raw AES: SDK read differs");

    let pem = rsa_pem(w.dir.path())?;
    let pem_path = w.dir.path().join("rsa.pem");
    let rsa = w.client(Arc::new(RawRsaKeyring::from_pem("s3ec", "rsa", pem.as_bytes(), RsaPadding::OaepSha256)?), v3);
    let data = plaintext(0x0053_d3bb, 12_345);
    rsa.put_object().bucket(BUCKET).key("sdk/rsa").body(data.clone()).send().await?;
    ensure!(w.stored("sdk/rsa").await?.1.get("x-amz-w").map(String::as_str) == Some("22"), "RSA code");
    let got = w.python_get("sdk/rsa", &args(&["--rsa-pem", &pem_path.display().to_string()]))?;
    ensure!(got == data, "raw RSA: Python read differs");
    ensure!(sdk_get(&rsa, "sdk/rsa", None, None).await? == data, "raw RSA: SDK read differs");
    // The wrong raw key is refused.
    let other = w.client(Arc::new(RawAesKeyring::new("s3ec", "aes", &[0x43u8; 32])?), Config::default());
    ensure!(other.get_object().bucket(BUCKET).key("sdk/aes").send().await.is_err(), "wrong AES key accepted");
    Ok(())
}

fn b64_flip(v: &str) -> String {
    let mut b = B64.decode(v).unwrap_or_default();
    if let Some(x) = b.first_mut() {
        *x ^= 1;
    }
    B64.encode(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_s3ec_objects_are_refused() -> Result<()> {
    let w = World::start().await?;
    let strict = w.kms_client(Config::default()).await?;
    let lenient = w.kms_client(allow_v2()).await?;
    let v3 = Case { context: Some(("team", "blue")), ..case("t/v3", 70_000, false) };
    let v2 = case("t/v2", 70_000, true);
    let v3_data = w.python_put(&v3)?;
    w.python_put(&v2)?;
    let (body, meta) = w.stored(v3.key).await?;
    ensure!(sdk_get(&strict, v3.key, None, None).await? == v3_data, "untampered read");

    let mut attempts: Vec<(&str, Vec<u8>, HashMap<String, String>)> = Vec::new();
    let flip = |name: &'static str, at: usize| {
        let mut b = body.clone();
        b[at] ^= 0x80;
        (name, b, meta.clone())
    };
    attempts.push(flip("first body byte", 0));
    attempts.push(flip("middle body byte", body.len() / 2));
    attempts.push(flip("tag byte", body.len() - 1));
    attempts.push(("truncated", body[..body.len() - 1].to_vec(), meta.clone()));
    for (name, key) in [("commitment", "x-amz-d"), ("message id", "x-amz-i"), ("wrapped key", "x-amz-3")] {
        let mut m = meta.clone();
        let v = m.get(key).cloned().unwrap_or_default();
        m.insert(key.into(), b64_flip(&v));
        attempts.push((name, body.clone(), m));
    }
    let mut m = meta.clone();
    m.insert("x-amz-t".into(), m.get("x-amz-t").cloned().unwrap_or_default().replace("blue", "bluf"));
    attempts.push(("KMS context", body.clone(), m));
    let mut m = meta.clone();
    m.insert("x-amz-w".into(), "02".into());
    attempts.push(("wrapping algorithm", body.clone(), m));
    let mut m = meta.clone();
    m.insert("x-amz-c".into(), "AES/GCM/NoPadding".into());
    attempts.push(("content algorithm", body.clone(), m));
    let mut m = meta.clone();
    m.insert("x-amz-key-v2".into(), m.get("x-amz-3").cloned().unwrap_or_default());
    attempts.push(("mixed V2 and V3 keys", body.clone(), m));
    let mut m = meta.clone();
    m.remove("x-amz-3");
    attempts.push(("data key removed", body.clone(), m));

    for (i, (name, b, m)) in attempts.into_iter().enumerate() {
        let key = format!("t/tampered-{i}");
        w.store(&key, b, m).await?;
        let r = strict.get_object().bucket(BUCKET).key(&key).send().await;
        let err = match r {
            Ok(out) => match out.body.collect().await {
                Ok(_) => bail!("{name}: a tampered object was read"),
                Err(e) => e,
            },
            Err(e) => e,
        };
        match name {
            "commitment" | "message id" => {
                ensure!(matches!(err, Error::CommitmentMismatch), "{name}: expected a commitment mismatch, got {err}")
            }
            "first body byte" | "middle body byte" | "tag byte" => {
                ensure!(
                    matches!(err, Error::Authentication(_)),
                    "{name}: expected an authentication failure, got {err}"
                )
            }
            _ => {}
        }
        eprintln!("{name}: refused: {err}");
    }

    // V2: policy, then tampering under the lenient policy.
    let refused = strict.get_object().bucket(BUCKET).key(v2.key).send().await;
    ensure!(matches!(refused, Err(Error::S3ecCommitmentPolicy { .. })), "V2 under the default policy: {refused:?}");
    let msg = refused.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(msg.contains("require-encrypt-allow-decrypt"), "the policy error names the fix: {msg}");
    let (mut b2, m2) = w.stored(v2.key).await?;
    b2[10] ^= 1;
    w.store("t/v2-tampered", b2, m2.clone()).await?;
    let r = lenient.get_object().bucket(BUCKET).key("t/v2-tampered").send().await;
    ensure!(matches!(r, Err(Error::Authentication(_))), "tampered V2 body: {r:?}");
    let mut m = m2;
    m.insert("x-amz-iv".into(), b64_flip(m.get("x-amz-iv").map(String::as_str).unwrap_or("")));
    w.store("t/v2-iv", w.stored(v2.key).await?.0, m).await?;
    let r = lenient.get_object().bucket(BUCKET).key("t/v2-iv").send().await;
    ensure!(matches!(r, Err(Error::Authentication(_))), "changed V2 IV: {r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3ec_objects_copy_server_side_and_stay_readable() -> Result<()> {
    let w = World::start().await?;
    let client = w.kms_client(Config::default()).await?;
    let plain = Case { context: Some(("team", "blue")), ..case("c/v3", 9000, false) };
    let instr = Case { instruction_file: true, ..case("c/v3-instruction", 70_000, false) };
    let plain_data = w.python_put(&plain)?;
    let instr_data = w.python_put(&instr)?;
    client.copy_object().source(BUCKET, plain.key).bucket(BUCKET).key("c/copy").send().await?;
    client.copy_object().source(BUCKET, instr.key).bucket(BUCKET).key("c/copy-instruction").send().await?;
    let headers = s3seal::s3::ObjectHeaders {
        content_type: Some("text/x-replaced".into()),
        metadata: HashMap::from([("note".to_string(), "replaced".to_string())]),
        ..Default::default()
    };
    client
        .copy_object()
        .source(BUCKET, plain.key)
        .bucket(BUCKET)
        .key("c/replaced")
        .replace_headers(headers)
        .send()
        .await?;
    for (key, data, ctx) in [
        ("c/copy", &plain_data, plain.context),
        ("c/copy-instruction", &instr_data, None),
        ("c/replaced", &plain_data, plain.context),
    ] {
        ensure!(sdk_get(&client, key, None, None).await? == *data, "{key}: SDK read of the copy differs");
        let mut extra = args(&["--kms-key", &w.key_arn]);
        if let Some((k, v)) = ctx {
            extra.extend(args(&["--context", &format!("{k}={v}")]));
        }
        ensure!(w.python_get(key, &extra)? == *data, "{key}: Python read of the copy differs");
    }
    let out = client.get_object().bucket(BUCKET).key("c/replaced").send().await?;
    ensure!(out.headers.content_type.as_deref() == Some("text/x-replaced"), "replaced content type");
    ensure!(out.headers.metadata.get("note").map(String::as_str) == Some("replaced"), "replaced metadata");
    Ok(())
}
