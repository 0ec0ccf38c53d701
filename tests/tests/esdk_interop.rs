//! Interoperability with the official Python AWS Encryption SDK (4.x with the
//! Material Providers Library), both ways, through `tests/python/esdk_peer.py`.
//!
//! For every keyring kind (raw AES, raw RSA, multi = AES generator + RSA
//! child, AWS KMS on a real moto server) the matrix covers suites `0x0478`
//! and `0x0578`, frame lengths 1, 4096 and 65536, and plaintexts of 0 bytes,
//! 1 byte, exactly two frames, and three frames and a bit:
//!
//! * messages s3seal writes decrypt in Python to identical bytes;
//! * messages Python writes decrypt with s3seal to identical bytes, with the
//!   suite, frame length and encryption context Python was asked for.
//!
//! Python jobs are batched (one process per direction per test), because each
//! Python start costs about a second.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s3seal::keyring::{Keyring, KmsKeyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding};
use s3seal::{AlgorithmSuite, Client, EncryptOptions, EncryptionContext};
use s3seal_tests::moto::MotoServer;
use s3seal_tests::python;
use serde_json::{Value, json};

const SUITES: [AlgorithmSuite; 2] =
    [AlgorithmSuite::Aes256GcmHkdfSha512CommitKey, AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384];
/// Frame lengths of the messages s3seal writes.
const FRAMES: [u32; 3] = [1, 4096, 65536];
/// Frame lengths of the messages Python writes: the Python ESDK refuses to
/// write a frame length that is not a multiple of 128 ("Frame size must be a
/// non-negative multiple of the block size of the crypto algorithm: 128"; it
/// takes AES's block size in bits as bytes), so its smallest is 128. It does
/// read 1-byte frames, which the s3seal -> Python direction checks.
const PY_FRAMES: [u32; 3] = [128, 4096, 65536];

/// One keyring, as s3seal and as the Python peer see it.
#[derive(Clone)]
struct Side {
    rust: Arc<dyn Keyring>,
    py: Value,
    label: &'static str,
}

/// The keyring that encrypts, and the keyrings that must each be able to
/// decrypt what it wrote (cases take them in turn).
struct KeyringSetup {
    encrypt: Side,
    decrypt: Vec<Side>,
}

struct Case {
    id: String,
    suite: AlgorithmSuite,
    frame: u32,
    plaintext: Vec<u8>,
    context: EncryptionContext,
}

/// Deterministic, incompressible-looking bytes (xorshift64*).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn suite_hex(suite: AlgorithmSuite) -> String {
    format!("0x{:04x}", suite.id())
}

fn matrix(tag: &str, frames: [u32; 3]) -> Vec<Case> {
    let mut cases = Vec::new();
    for suite in SUITES {
        for frame in frames {
            let f = frame as usize;
            for (what, len) in [("empty", 0), ("1byte", 1), ("2frames", 2 * f), ("3frames+17", 3 * f + 17)] {
                let id = format!("{tag}-{}-f{frame}-{what}", suite_hex(suite));
                let mut context = EncryptionContext::new();
                // Every other case carries no context at all.
                if cases.len() % 2 == 0 {
                    context.insert("purpose".into(), "esdk-interop".into());
                    context.insert("case".into(), id.clone());
                }
                cases.push(Case { plaintext: bytes(len, cases.len() as u64 + 1), id, suite, frame, context });
            }
        }
    }
    cases
}

fn aes_side(key: &[u8; 32]) -> Result<Side> {
    Ok(Side {
        rust: Arc::new(RawAesKeyring::new("s3seal-interop", "aes-key-1", key)?),
        py: json!({"type": "aes", "namespace": "s3seal-interop", "name": "aes-key-1",
                   "key_b64": B64.encode(key)}),
        label: "aes",
    })
}

fn rsa_side(pem: &str, padding: &str) -> Result<Side> {
    let parsed: RsaPadding = padding.parse()?;
    Ok(Side {
        rust: Arc::new(RawRsaKeyring::from_pem("s3seal-interop", "rsa-key-1", pem.as_bytes(), parsed)?),
        py: json!({"type": "rsa", "namespace": "s3seal-interop", "name": "rsa-key-1",
                   "pem": pem, "padding": padding}),
        label: "rsa",
    })
}

fn multi_side(aes: &Side, rsa: &Side) -> Result<Side> {
    Ok(Side {
        rust: Arc::new(MultiKeyring::from_keyrings(vec![aes.rust.clone(), rsa.rust.clone()])?),
        py: json!({"type": "multi", "generator": aes.py, "children": [rsa.py]}),
        label: "multi",
    })
}

fn aes_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes(32, 0xAE5)[..]);
    key
}

/// One 2048-bit RSA key (PKCS #8 PEM), made once by Python's `cryptography`.
fn rsa_pem() -> Result<String> {
    static PEM: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    PEM.get_or_init(|| {
        let make = || -> Result<String> {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("rsa.pem");
            let args = ["gen-rsa", "--bits", "2048", "--out"].map(String::from);
            let mut args = args.to_vec();
            args.push(path.display().to_string());
            python::run_script_ok("esdk_peer.py", args)?;
            std::fs::read_to_string(&path).context("reading the generated RSA key")
        };
        make().map_err(|e| format!("{e:#}"))
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

/// Runs jobs in one `esdk_peer.py batch` process; returns each job's
/// outcome by id.
async fn run_batch(
    dir: &Path,
    name: &str,
    jobs: Vec<Value>,
) -> Result<HashMap<String, std::result::Result<(), String>>> {
    let path = dir.join(format!("{name}-jobs.json"));
    std::fs::write(&path, serde_json::to_vec(&jobs)?).context("writing the job file")?;
    let expected = jobs.len();
    let out = tokio::task::spawn_blocking(move || {
        python::run_script("esdk_peer.py", ["batch".to_string(), "--jobs".to_string(), path.display().to_string()])
    })
    .await
    .context("joining the Python peer")??;
    let mut results = HashMap::new();
    for line in out.stdout_text().lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).with_context(|| format!("peer line {line:?}"))?;
        let id = v["id"].as_str().unwrap_or_default().to_string();
        let outcome = if v["ok"].as_bool() == Some(true) {
            Ok(())
        } else {
            Err(v["error"].as_str().unwrap_or("(no message)").to_string())
        };
        results.insert(id, outcome);
    }
    if results.len() != expected {
        bail!("the Python peer answered {} of {expected} jobs (exit {}):\n{}", results.len(), out.status, out.stderr);
    }
    Ok(results)
}

fn job_path(dir: &Path, id: &str, ext: &str) -> PathBuf {
    dir.join(format!("{id}.{ext}"))
}

/// s3seal encrypts every case; Python decrypts; the bytes must match.
async fn rust_to_python(dir: &Path, setup: &KeyringSetup, cases: &[Case]) -> Result<Vec<String>> {
    let client = Client::new(setup.encrypt.rust.clone());
    let mut jobs = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let opts = EncryptOptions::default()
            .with_context(case.context.clone())
            .with_suite(case.suite)
            .with_frame_length(case.frame);
        let ct =
            client.encrypt(&case.plaintext, &opts).await.with_context(|| format!("{}: s3seal encrypt", case.id))?;
        ensure!(
            ct.len() > 3 && ct[0] == 2 && u16::from_be_bytes([ct[1], ct[2]]) == case.suite.id(),
            "{}: s3seal did not write a v2 message with suite {}",
            case.id,
            suite_hex(case.suite)
        );
        let ct_path = job_path(dir, &case.id, "r2p.ct");
        std::fs::write(&ct_path, &ct)?;
        let dec = &setup.decrypt[i % setup.decrypt.len()];
        jobs.push(json!({
            "id": case.id, "op": "decrypt", "keyring": dec.py,
            "in": ct_path, "out": job_path(dir, &case.id, "r2p.pt"),
            "context": case.context,
        }));
    }
    let results = run_batch(dir, "r2p", jobs).await?;
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dec = setup.decrypt[i % setup.decrypt.len()].label;
        match &results[&case.id] {
            Err(e) => failures.push(format!("s3seal->python {} (decrypt with {dec}): {e}", case.id)),
            Ok(()) => {
                let got = std::fs::read(job_path(dir, &case.id, "r2p.pt"))?;
                if got != case.plaintext {
                    failures.push(format!(
                        "s3seal->python {}: Python returned {} bytes, expected {} (different content)",
                        case.id,
                        got.len(),
                        case.plaintext.len()
                    ));
                }
            }
        }
    }
    Ok(failures)
}

/// Python encrypts every case; s3seal decrypts; the bytes must match.
async fn python_to_rust(dir: &Path, setup: &KeyringSetup, cases: &[Case]) -> Result<Vec<String>> {
    let mut jobs = Vec::new();
    for case in cases {
        let pt_path = job_path(dir, &case.id, "p2r.pt");
        std::fs::write(&pt_path, &case.plaintext)?;
        jobs.push(json!({
            "id": case.id, "op": "encrypt", "keyring": setup.encrypt.py,
            "in": pt_path, "out": job_path(dir, &case.id, "p2r.ct"),
            "suite": suite_hex(case.suite), "frame_length": case.frame,
            "context": case.context,
        }));
    }
    let results = run_batch(dir, "p2r", jobs).await?;
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dec = &setup.decrypt[i % setup.decrypt.len()];
        if let Err(e) = &results[&case.id] {
            failures.push(format!("python->s3seal {}: Python encrypt failed: {e}", case.id));
            continue;
        }
        let ct = std::fs::read(job_path(dir, &case.id, "p2r.ct"))?;
        let client = Client::new(dec.rust.clone());
        match client.decrypt(&ct, &case.context).await {
            Err(e) => failures.push(format!("python->s3seal {} (decrypt with {}): {e}", case.id, dec.label)),
            Ok(out) => {
                let mut problems = Vec::new();
                if out.plaintext != case.plaintext {
                    problems.push(format!(
                        "plaintext differs ({} bytes, expected {})",
                        out.plaintext.len(),
                        case.plaintext.len()
                    ));
                }
                if out.header.suite != case.suite {
                    problems.push(format!("suite {:?}", out.header.suite));
                }
                if out.header.frame_length != case.frame {
                    problems.push(format!("frame length {}", out.header.frame_length));
                }
                for (k, v) in &case.context {
                    if out.header.encryption_context.get(k) != Some(v) {
                        problems.push(format!("context pair {k}={v} missing"));
                    }
                }
                if !problems.is_empty() {
                    failures.push(format!("python->s3seal {}: {}", case.id, problems.join("; ")));
                }
            }
        }
    }
    Ok(failures)
}

async fn both_ways(tag: &str, setup: KeyringSetup) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let r2p = matrix(&format!("{tag}-r2p"), FRAMES);
    let p2r = matrix(&format!("{tag}-p2r"), PY_FRAMES);
    let mut failures = rust_to_python(dir.path(), &setup, &r2p).await?;
    failures.extend(python_to_rust(dir.path(), &setup, &p2r).await?);
    if !failures.is_empty() {
        bail!("{} of {} interop checks failed:\n  {}", failures.len(), r2p.len() + p2r.len(), failures.join("\n  "));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_aes_both_ways() -> Result<()> {
    let aes = aes_side(&aes_key())?;
    both_ways("aes", KeyringSetup { encrypt: aes.clone(), decrypt: vec![aes] }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_rsa_both_ways() -> Result<()> {
    let rsa = rsa_side(&rsa_pem()?, "oaep-sha256")?;
    both_ways("rsa", KeyringSetup { encrypt: rsa.clone(), decrypt: vec![rsa] }).await
}

/// AES generator + RSA child: each of the two encrypted data keys must
/// decrypt on its own, on both sides, and so must the multi-keyring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_keyring_both_ways() -> Result<()> {
    let aes = aes_side(&aes_key())?;
    let rsa = rsa_side(&rsa_pem()?, "oaep-sha256")?;
    let multi = multi_side(&aes, &rsa)?;
    both_ways("multi", KeyringSetup { encrypt: multi.clone(), decrypt: vec![rsa, aes, multi] }).await
}

/// Every RSA padding scheme, both ways (one suite, one frame length).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_rsa_every_padding_both_ways() -> Result<()> {
    let pem = rsa_pem()?;
    let dir = tempfile::tempdir()?;
    let mut failures = Vec::new();
    let mut checks = 0;
    for padding in ["oaep-sha1", "oaep-sha256", "oaep-sha384", "oaep-sha512", "pkcs1"] {
        let side = rsa_side(&pem, padding)?;
        let setup = KeyringSetup { encrypt: side.clone(), decrypt: vec![side] };
        let mut context = EncryptionContext::new();
        context.insert("padding".into(), padding.into());
        let cases = vec![Case {
            id: format!("rsa-{padding}"),
            suite: AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
            frame: 4096,
            plaintext: bytes(2 * 4096 + 5, 7),
            context,
        }];
        let sub = dir.path().join(padding);
        std::fs::create_dir(&sub)?;
        failures.extend(rust_to_python(&sub, &setup, &cases).await?);
        failures.extend(python_to_rust(&sub, &setup, &cases).await?);
        checks += 2;
    }
    ensure!(failures.is_empty(), "{} of {checks} failed:\n  {}", failures.len(), failures.join("\n  "));
    Ok(())
}

/// AWS KMS keyring against a real moto KMS, which enforces the encryption
/// context: both SDKs must send KMS the same context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_keyring_on_moto_both_ways() -> Result<()> {
    let moto = tokio::task::spawn_blocking(MotoServer::start).await??;
    let kms = moto.kms_client().await;
    let key = kms.create_key().description("s3seal esdk interop").send().await.context("creating a KMS key in moto")?;
    let arn = key
        .key_metadata()
        .map(|m| m.arn().unwrap_or_default().to_string())
        .filter(|a| !a.is_empty())
        .context("moto returned no key ARN")?;
    let side = Side {
        rust: Arc::new(KmsKeyring::new(kms, arn.clone())),
        py: json!({"type": "kms", "key_arn": arn, "endpoint": moto.endpoint(), "region": "us-east-1"}),
        label: "kms",
    };
    let result = both_ways("kms", KeyringSetup { encrypt: side.clone(), decrypt: vec![side] }).await;
    result.with_context(|| format!("moto log tail:\n{}", tail(&moto.log(), 1500)))
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let start = (start..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
    &s[start..]
}

/// The checks above can fail: a wrong reproduced context and a flipped body
/// byte are refused by each side, on messages the other side wrote, while
/// the same messages with the right context and intact bytes are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_context_and_tampering_are_refused_both_ways() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let aes = aes_side(&aes_key())?;
    let client = Client::new(aes.rust.clone());
    let plaintext = bytes(3 * 4096 + 1, 99);
    let ctx: EncryptionContext = BTreeMap::from([("tenant".to_string(), "a".to_string())]);
    let wrong: EncryptionContext = BTreeMap::from([("tenant".to_string(), "b".to_string())]);

    // s3seal writes; Python must accept the good copy and refuse the rest.
    let opts = EncryptOptions::default().with_context(ctx.clone()).with_frame_length(4096);
    let ct = client.encrypt(&plaintext, &opts).await?;
    let mut flipped = ct.clone();
    let at = flipped.len() - 40; // inside the final frame's ciphertext/tag
    flipped[at] ^= 0x01;
    std::fs::write(d.join("good.ct"), &ct)?;
    std::fs::write(d.join("flipped.ct"), &flipped)?;
    let job = |id: &str, input: &str, context: &EncryptionContext| {
        json!({"id": id, "op": "decrypt", "keyring": aes.py, "in": d.join(input),
               "out": d.join(format!("{id}.pt")), "context": context})
    };
    let results = run_batch(
        d,
        "neg",
        vec![job("good", "good.ct", &ctx), job("wrong-context", "good.ct", &wrong), job("flipped", "flipped.ct", &ctx)],
    )
    .await?;
    ensure!(results["good"].is_ok(), "Python refused a good message: {:?}", results["good"]);
    ensure!(std::fs::read(d.join("good.pt"))? == plaintext, "Python decrypted other bytes");
    ensure!(results["wrong-context"].is_err(), "Python accepted a wrong encryption context");
    ensure!(results["flipped"].is_err(), "Python accepted a tampered message");

    // Python writes; s3seal must accept the good copy and refuse the rest.
    std::fs::write(d.join("py.pt"), &plaintext)?;
    let results = run_batch(
        d,
        "neg-enc",
        vec![json!({"id": "enc", "op": "encrypt", "keyring": aes.py, "in": d.join("py.pt"),
                    "out": d.join("py.ct"), "suite": "0x0478", "frame_length": 4096,
                    "context": ctx})],
    )
    .await?;
    ensure!(results["enc"].is_ok(), "Python encrypt failed: {:?}", results["enc"]);
    let py_ct = std::fs::read(d.join("py.ct"))?;
    let out = client.decrypt(&py_ct, &ctx).await.context("s3seal refused a good Python message")?;
    ensure!(out.plaintext == plaintext, "s3seal decrypted other bytes");
    ensure!(client.decrypt(&py_ct, &wrong).await.is_err(), "s3seal accepted a wrong encryption context");
    let mut py_flipped = py_ct.clone();
    let at = py_flipped.len() - 40;
    py_flipped[at] ^= 0x01;
    ensure!(client.decrypt(&py_flipped, &ctx).await.is_err(), "s3seal accepted a tampered Python message");
    Ok(())
}
