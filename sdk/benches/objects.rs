//! Throughput of the S3 object format against the raw AEAD, in one run.
//!
//! For each AEAD backend and each object suite (AES-256-GCM and
//! ChaCha20-Poly1305, both committing):
//!
//! * the baseline: the suite's raw AEAD sealing and opening the payload in
//!   64 KiB pieces, out of place into a reused buffer (the least work any
//!   encryptor of this payload must do, as in `throughput.rs`);
//! * object encryption: one single-request object (part 0, known length)
//!   sealed by a [`PartEncryptor`] fed 256 KiB chunks, its output buffer
//!   drained and reused after each chunk, as the streaming upload does;
//! * object decryption: the same object's body fed 256 KiB chunks (which
//!   do not line up with the 64 KiB + 16 byte frames) to a
//!   [`FrameDecryptor`], its output buffer drained and reused after each
//!   chunk, as the streaming download does.
//!
//! The object key is derived once, outside the timings (deriving it is an
//! HKDF per object, not per byte). Each figure is the median of several
//! runs, single-threaded; ratios are object throughput over raw AEAD
//! throughput of the same direction, backend and suite (target: at least
//! 0.85).
//!
//! Run: `cargo bench -p s3seal --bench objects` (set `S3SEAL_BENCH_MIB` to
//! change the payload size, `S3SEAL_BENCH_RUNS` the repetitions).

use std::time::Instant;

use s3seal::crypto::aead::{AeadKey, TAG_LEN};
use s3seal::materials::DataKey;
use s3seal::object::envelope::FLAG_END_MARKED;
use s3seal::object::{
    FrameDecryptor, FramePosition, NewObject, ObjectSuite, PartEncryptor, SealedObject, ciphertext_len, plaintext_len,
};
use s3seal::{Backend, EncryptionContext};

/// Plaintext bytes per frame (the client's default).
const FRAME: usize = 64 * 1024;
/// Bytes fed per call, as the streaming upload and download read them.
const CHUNK: usize = 256 * 1024;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `f` `runs` times over `bytes` bytes and returns the median GB/s.
fn measure(runs: usize, bytes: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let v = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            bytes as f64 / t.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    median(v)
}

/// A nonce made of a counter, for the baseline.
fn nonce(i: usize) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[8..].copy_from_slice(&(i as u32).to_be_bytes());
    n
}

fn suite_name(suite: ObjectSuite) -> &'static str {
    match suite {
        ObjectSuite::Aes256GcmCommit => "AES-256-GCM",
        ObjectSuite::ChaCha20Poly1305Commit => "ChaCha20",
    }
}

/// Median GB/s of one backend and suite.
struct Row {
    raw_seal: f64,
    raw_open: f64,
    obj_enc: f64,
    obj_dec: f64,
}

fn bench(backend: Backend, suite: ObjectSuite, payload: &[u8], runs: usize) -> Row {
    let size = payload.len();

    // Baseline: the raw AEAD of the suite over the payload in 64 KiB pieces.
    let key = AeadKey::new(backend, suite.aead(), &[1u8; 32]).expect("key");
    let mut unit = vec![0u8; FRAME + TAG_LEN];
    let raw_seal = measure(runs, size, || {
        for (i, chunk) in payload.chunks(FRAME).enumerate() {
            key.seal_to(&nonce(i), b"aad", chunk, &mut unit[..chunk.len() + TAG_LEN]).expect("seal");
        }
    });
    let mut sealed = Vec::with_capacity(size + size.div_ceil(FRAME) * TAG_LEN);
    for (i, chunk) in payload.chunks(FRAME).enumerate() {
        key.seal_append(&nonce(i), b"aad", chunk, &mut sealed).expect("seal");
    }
    let raw_open = measure(runs, size, || {
        for (i, c) in sealed.chunks(FRAME + TAG_LEN).enumerate() {
            key.open_to(&nonce(i), b"aad", c, &mut unit[..c.len() - TAG_LEN], "bench").expect("open");
        }
    });
    drop(sealed);

    // The object: fixed data key and message id (no keyring, no randomness).
    let context = EncryptionContext::new();
    let object = SealedObject::from_parts(
        backend,
        NewObject {
            bucket: "bench-bucket",
            key: "bench/object",
            context: &context,
            suite,
            frame_length: FRAME as u32,
            flags: FLAG_END_MARKED,
            part_frames: 0,
            plaintext_length: Some(size as u64),
        },
        DataKey::new(vec![9u8; 32]),
        Vec::new(),
        [5u8; 32],
    )
    .expect("object");
    let f = FRAME as u64;
    let c_len = ciphertext_len(size as u64, f);
    let encryptor = || PartEncryptor::new(object.key.clone(), 0, FRAME as u32, true, Some(size as u64)).expect("enc");

    // The whole ciphertext once, for decryption and a round-trip check.
    let mut ct = Vec::with_capacity(c_len as usize);
    let mut enc = encryptor();
    for chunk in payload.chunks(CHUNK) {
        enc.update(chunk, &mut ct).expect("update");
    }
    enc.finish(&mut ct).expect("finish");
    assert_eq!(ct.len() as u64, c_len, "ciphertext length");
    assert_eq!(plaintext_len(c_len, f).expect("length"), size as u64);

    let mut out = Vec::with_capacity(CHUNK + 4 * (FRAME + TAG_LEN));
    let mut sent = 0usize;
    let obj_enc = measure(runs, size, || {
        let mut enc = encryptor();
        for chunk in payload.chunks(CHUNK) {
            enc.update(chunk, &mut out).expect("update");
            sent += out.len(); // "sent": drained, the buffer reused
            out.clear();
        }
        enc.finish(&mut out).expect("finish");
        sent += out.len();
        out.clear();
    });
    assert_eq!(sent as u64, c_len * (runs as u64 + 1), "every run produced the whole ciphertext");

    let frames = size.div_ceil(FRAME).max(1) as u64;
    let decryptor = || {
        let start = FramePosition { part: 0, index: 0 };
        FrameDecryptor::new(object.key.clone(), &object.envelope, size as u64, 0, frames - 1, start, None).expect("dec")
    };
    let mut check = Vec::with_capacity(size);
    let mut dec = decryptor();
    for chunk in ct.chunks(CHUNK) {
        dec.update(chunk, &mut check).expect("decrypt");
    }
    dec.finish().expect("finish");
    assert!(check == payload, "round trip");
    drop(check);

    let mut received = 0usize;
    let obj_dec = measure(runs, size, || {
        let mut dec = decryptor();
        for chunk in ct.chunks(CHUNK) {
            dec.update(chunk, &mut out).expect("decrypt");
            received += out.len(); // "read": drained, the buffer reused
            out.clear();
        }
        dec.finish().expect("finish");
    });
    assert_eq!(received, size * (runs + 1), "every run produced the whole plaintext");

    Row { raw_seal, raw_open, obj_enc, obj_dec }
}

fn main() {
    let mib = env_usize("S3SEAL_BENCH_MIB", 256);
    let runs = env_usize("S3SEAL_BENCH_RUNS", 5);
    let size = mib * 1024 * 1024;
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    println!("payload {mib} MiB, frame 64 KiB, chunks of 256 KiB, median of {runs} runs, one thread");
    println!(
        "{:<11} {:<11} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7}",
        "backend", "suite", "raw seal", "raw open", "obj enc", "obj dec", "enc/raw", "dec/raw"
    );
    for backend in Backend::ALL {
        for suite in [ObjectSuite::Aes256GcmCommit, ObjectSuite::ChaCha20Poly1305Commit] {
            let r = bench(backend, suite, &payload, runs);
            println!(
                "{:<11} {:<11} {:>7.2}GB/s {:>7.2}GB/s {:>7.2}GB/s {:>7.2}GB/s {:>7.2} {:>7.2}",
                backend.to_string(),
                suite_name(suite),
                r.raw_seal,
                r.raw_open,
                r.obj_enc,
                r.obj_dec,
                r.obj_enc / r.raw_seal,
                r.obj_dec / r.raw_open
            );
        }
    }
}
