//! Throughput of the S3 object format against the raw AEAD, in one run.
//!
//! For each AEAD backend and each object suite (AES-256-GCM and
//! ChaCha20-Poly1305, both committing):
//!
//! * the baseline: the suite's raw AEAD sealing and opening the payload in
//!   64 KiB pieces, out of place into a reused buffer (the least work any
//!   encryptor of this payload must do, as in `throughput.rs`), with no
//!   associated data, like the object's frames (a non-empty AAD would also
//!   be unfair to the baseline: it knocks RustCrypto's AVX2 Poly1305 off
//!   its 4-block path, making raw ChaCha20-Poly1305 about 25% slower);
//! * object encryption: one single-request object (part 0, known length)
//!   sealed by a [`PartEncryptor`] fed 256 KiB chunks, its output buffer
//!   drained and reused after each chunk, as the streaming upload does;
//! * object decryption: the same object's body fed 256 KiB chunks (which
//!   do not line up with the 64 KiB + 16 byte frames) to a
//!   [`FrameDecryptor`] with `update_to`, into a reused output buffer
//!   drained after each chunk;
//! * two more ways of decrypting, for comparison: "append", `update`
//!   appending to a reused `Vec` (which must initialize each frame's space
//!   before the AEAD writes it), and "buffered", the path of the streaming
//!   download (`ObjectBody`): ciphertext copied into a [`FrameBuffer`] in
//!   the pieces `ObjectBody` asks its reader for (three whole frames; a
//!   socket read copies likewise), frames opened from there straight into
//!   a reused read buffer of `S3SEAL_BENCH_CHUNK_KIB`.
//!
//! The object key is derived once, outside the timings (deriving it is an
//! HKDF per object, not per byte). Single-threaded. Raw and object runs
//! alternate, so both see the same machine; each GB/s figure is the median
//! of its runs, each ratio the median of the per-round ratios of object
//! throughput over raw AEAD throughput of the same direction, backend and
//! suite (target: at least 0.85), and each "best" the ratio of the best
//! runs (steadier when other work shares the CPU).
//!
//! Run: `cargo bench -p s3seal --bench objects` (set `S3SEAL_BENCH_MIB` to
//! change the payload size, `S3SEAL_BENCH_RUNS` the repetitions,
//! `S3SEAL_BENCH_CHUNK_KIB` the size of the pieces fed to the object
//! encryptor and decryptor, and `S3SEAL_BENCH_FILTER` to a substring of a
//! row's "backend suite", e.g. `rustcrypto ChaCha20`, to run only matching
//! rows).

use std::time::Instant;

use s3seal::hazmat::aead::{AeadKey, TAG_LEN};
use s3seal::hazmat::object::{FrameDecryptor, FramePosition, NewObject, PartEncryptor, SealedObject};
use s3seal::hazmat::{FrameBuffer, InPlaceDecrypt};
use s3seal::materials::DataKey;
use s3seal::object::FLAG_END_MARKED;
use s3seal::object::{ObjectSuite, ciphertext_len, plaintext_len};
use s3seal::{Backend, EncryptionContext};

/// Plaintext bytes per frame (the client's default).
const FRAME: usize = 64 * 1024;
/// Bytes fed per call by default, as the streaming upload and download
/// read them (`S3SEAL_BENCH_CHUNK_KIB` changes it).
const CHUNK_KIB: usize = 256;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Throughputs of a baseline and of the object format, compared.
struct Compared {
    /// Median GB/s of the baseline.
    base: f64,
    /// Median GB/s of the object format.
    object: f64,
    /// Median of the per-round ratios object / baseline.
    ratio: f64,
    /// Best object GB/s over best baseline GB/s (the least disturbed runs
    /// of each: steadier than the median on a busy machine).
    best_ratio: f64,
}

/// Times `base` and `object` alternately, `runs` times each after one
/// warm-up of each, over `bytes` bytes. Alternating makes both see the same
/// machine (other load, clock changes), so their ratio holds even when the
/// absolute figures wander.
fn compare(runs: usize, bytes: usize, mut base: impl FnMut(), mut object: impl FnMut()) -> Compared {
    let gbps = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        bytes as f64 / t.elapsed().as_secs_f64() / 1e9
    };
    base();
    object();
    let (mut b, mut o, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let x = gbps(&mut base);
        let y = gbps(&mut object);
        b.push(x);
        o.push(y);
        r.push(y / x);
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let best_ratio = best(&o) / best(&b);
    Compared { base: median(b), object: median(o), ratio: median(r), best_ratio }
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

/// One backend and suite: encryption against sealing, decryption against
/// opening.
struct Row {
    enc: Compared,
    dec: Compared,
    append: Compared,
    buffered: Compared,
}

fn bench(backend: Backend, suite: ObjectSuite, payload: &[u8], runs: usize, chunk_len: usize) -> Row {
    let size = payload.len();

    // Baseline: the raw AEAD of the suite over the payload in 64 KiB pieces.
    let key = AeadKey::new(backend, suite.aead(), &[1u8; 32]).expect("key");
    let mut unit = vec![0u8; FRAME + TAG_LEN];
    let mut sealed = Vec::with_capacity(size + size.div_ceil(FRAME) * TAG_LEN);
    for (i, chunk) in payload.chunks(FRAME).enumerate() {
        key.seal_append(&nonce(i), b"", chunk, &mut sealed).expect("seal");
    }

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
    let frames = size.div_ceil(FRAME).max(1) as u64;
    let decryptor = || {
        let start = FramePosition { part: 0, index: 0 };
        FrameDecryptor::new(object.key.clone(), &object.envelope, size as u64, 0, frames - 1, start, None).expect("dec")
    };

    // The whole ciphertext once, for decryption, and a round-trip check.
    let mut ct = Vec::with_capacity(c_len as usize);
    let mut enc = encryptor();
    for chunk in payload.chunks(chunk_len) {
        enc.update(chunk, &mut ct).expect("update");
    }
    enc.finish(&mut ct).expect("finish");
    assert_eq!(ct.len() as u64, c_len, "ciphertext length");
    assert_eq!(plaintext_len(c_len, f).expect("length"), size as u64);
    let mut check = Vec::with_capacity(size);
    let mut dec = decryptor();
    for chunk in ct.chunks(chunk_len) {
        dec.update(chunk, &mut check).expect("decrypt");
    }
    dec.finish().expect("finish");
    assert!(check == payload, "round trip");
    drop(check);

    let mut out = Vec::with_capacity(chunk_len + 4 * (FRAME + TAG_LEN));
    let mut sent = 0u64;
    let enc = compare(
        runs,
        size,
        || {
            for (i, chunk) in payload.chunks(FRAME).enumerate() {
                key.seal_to(&nonce(i), b"", chunk, &mut unit[..chunk.len() + TAG_LEN]).expect("seal");
            }
        },
        || {
            let mut enc = encryptor();
            for chunk in payload.chunks(chunk_len) {
                enc.update(chunk, &mut out).expect("update");
                sent += out.len() as u64; // "sent": drained, the buffer reused
                out.clear();
            }
            enc.finish(&mut out).expect("finish");
            sent += out.len() as u64;
            out.clear();
        },
    );
    assert_eq!(sent, c_len * (runs as u64 + 1), "every run produced the whole ciphertext");

    let open_raw = |unit: &mut [u8]| {
        for (i, c) in sealed.chunks(FRAME + TAG_LEN).enumerate() {
            key.open_to(&nonce(i), b"", c, &mut unit[..c.len() - TAG_LEN], "bench").expect("open");
        }
    };
    let mut received = 0usize;
    let mut plain = vec![0u8; chunk_len + FRAME + TAG_LEN];
    let dec = compare(
        runs,
        size,
        || open_raw(&mut unit),
        || {
            let mut dec = decryptor();
            for chunk in ct.chunks(chunk_len) {
                received += dec.update_to(chunk, &mut plain).expect("decrypt"); // drained, the buffer reused
            }
            dec.finish().expect("finish");
        },
    );
    assert_eq!(received, size * (runs + 1), "every run produced the whole plaintext");

    let mut received = 0usize;
    let append = compare(
        runs,
        size,
        || open_raw(&mut unit),
        || {
            let mut dec = decryptor();
            for chunk in ct.chunks(chunk_len) {
                dec.update(chunk, &mut out).expect("decrypt");
                received += out.len(); // "read": drained, the buffer reused
                out.clear();
            }
            dec.finish().expect("finish");
        },
    );
    assert_eq!(received, size * (runs + 1), "every run produced the whole plaintext");

    let mut received = 0usize;
    let mut frames = FrameBuffer::new();
    let mut read_buf = vec![0u8; chunk_len];
    let buffered = compare(
        runs,
        size,
        || open_raw(&mut unit),
        || {
            let mut dec = decryptor();
            let mut input = &ct[..];
            while !input.is_empty() {
                // As much as ObjectBody asks of its reader (whole frames, up
                // to 256 KiB), as from a socket that always has data.
                let (chunk, rest) = input.split_at(frames.want(dec.preferred_read_len()).min(input.len()));
                input = rest;
                frames.push(chunk);
                loop {
                    let n = frames.read_to(&mut dec, &mut read_buf).expect("decrypt");
                    if n == 0 {
                        break;
                    }
                    received += n;
                }
            }
            assert!(frames.pending().is_empty(), "whole frames");
            dec.finish().expect("finish");
        },
    );
    assert_eq!(received, size * (runs + 1), "every run produced the whole plaintext");

    Row { enc, dec, append, buffered }
}

fn main() {
    let mib = env_usize("S3SEAL_BENCH_MIB", 256);
    let runs = env_usize("S3SEAL_BENCH_RUNS", 11);
    let chunk_kib = env_usize("S3SEAL_BENCH_CHUNK_KIB", CHUNK_KIB).max(1);
    let filter = std::env::var("S3SEAL_BENCH_FILTER").unwrap_or_default();
    let size = mib * 1024 * 1024;
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    println!("payload {mib} MiB, frame 64 KiB, chunks of {chunk_kib} KiB, {runs} alternating runs, one thread");
    println!("GB/s: medians; ratio: median of per-run object/raw; best: best object / best raw");
    println!("append, buffer: dec/raw of the other two ways of decrypting (see the module doc)");
    println!(
        "{:<11} {:<11} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "backend",
        "suite",
        "raw seal",
        "obj enc",
        "raw open",
        "obj dec",
        "enc/raw",
        "best",
        "dec/raw",
        "best",
        "append",
        "best",
        "buffer",
        "best"
    );
    for backend in Backend::ALL {
        for suite in [ObjectSuite::Aes256GcmCommit, ObjectSuite::ChaCha20Poly1305Commit] {
            if !format!("{backend} {}", suite_name(suite)).contains(&filter) {
                continue;
            }
            let Row { enc, dec, append, buffered } = bench(backend, suite, &payload, runs, chunk_kib * 1024);
            println!(
                "{:<11} {:<11} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2}",
                backend.to_string(),
                suite_name(suite),
                enc.base,
                enc.object,
                dec.base,
                dec.object,
                enc.ratio,
                enc.best_ratio,
                dec.ratio,
                dec.best_ratio,
                append.ratio,
                append.best_ratio,
                buffered.ratio,
                buffered.best_ratio
            );
        }
    }
}
