//! Throughput of message encryption against the raw AEAD, in one run.
//!
//! For each AEAD backend: AES-256-GCM seal and open of the payload in
//! 64 KiB buffers, out of place into a reused buffer (the baseline), then encryption and decryption of a 256 MiB payload as
//! an ESDK message (suite 0x0478, 64 KiB frames), both from a slice into a
//! reused buffer and streamed through the `std::io` adapters. Each figure
//! is the median of several runs, single-threaded. Each run measures every
//! variant once (so load on a shared machine hits them alike); a ratio is
//! the median over runs of message throughput over raw AEAD throughput of
//! the same direction in the same run.
//!
//! One-shot encryption ("msg enc") is `MessageEncryptor::encrypt_to` into
//! a reused buffer (what `Client::encrypt` does, into a zeroed allocation).
//! One-shot decryption is measured two ways: "msg dec" with
//! `BodyDecryptor::decrypt_body_to` into a reused buffer (what
//! `Client::decrypt` does, into a zeroed allocation), and "append" with
//! `BodyDecryptor::update` appending to a reused `Vec` (which must
//! initialize each frame's space before the AEAD writes it).
//!
//! Run: `cargo bench -p s3seal --bench throughput` (set `S3SEAL_BENCH_MIB`
//! to change the payload size, `S3SEAL_BENCH_RUNS` the repetitions, and
//! `S3SEAL_BENCH_FILTER` to a substring of the backend names to run only
//! those backends).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use s3seal::hazmat::aead::{AeadAlgorithm, AeadKey};
use s3seal::keyring::RawAesKeyring;
use s3seal::message::{Header, ParseLimits};
use s3seal::stream::{DecryptingReader, EncryptingWriter};
use s3seal::{Backend, Client, EncryptOptions, EncryptionContext};

const FRAME: usize = 64 * 1024;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `f` once over `bytes` bytes and returns GB/s.
fn gbps(bytes: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    bytes as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let mib = env_usize("S3SEAL_BENCH_MIB", 256);
    let runs = env_usize("S3SEAL_BENCH_RUNS", 5);
    let size = mib * 1024 * 1024;
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    println!("payload {mib} MiB, suite 0x0478, frame 64 KiB, median of {runs} runs, one thread");
    let filter = std::env::var("S3SEAL_BENCH_FILTER").unwrap_or_default();
    println!(
        "{:<11} {:>9} {:>9} {:>11} {:>11} {:>7} {:>7} {:>11} {:>11} {:>7} {:>7} {:>11} {:>7}",
        "backend",
        "raw seal",
        "raw open",
        "msg enc",
        "msg dec",
        "enc/raw",
        "dec/raw",
        "stream enc",
        "stream dec",
        "enc/raw",
        "dec/raw",
        "append",
        "app/raw"
    );
    let keyring = Arc::new(RawAesKeyring::new("bench", "key", &[7u8; 32]).expect("key"));
    let none = EncryptionContext::new();
    for backend in Backend::ALL {
        if !backend.to_string().contains(&filter) {
            continue;
        }
        let key = AeadKey::new(backend, AeadAlgorithm::Aes256Gcm, &[1u8; 32]).expect("key");
        let nonce = |i: usize| {
            let mut n = [0u8; 12];
            n[8..].copy_from_slice(&(i as u32).to_be_bytes());
            n
        };
        let mut unit = vec![0u8; FRAME + 16];
        let mut sealed = Vec::with_capacity(size + size / FRAME * 16 + 16);
        for (i, chunk) in payload.chunks(FRAME).enumerate() {
            key.seal_append(&nonce(i), b"aad", chunk, &mut sealed).expect("seal");
        }
        let client = Client::builder(keyring.clone()).backend(backend).build();
        let opts = EncryptOptions::default();
        let mut ct_buf = vec![0u8; size + size / FRAME * 40 + 4096];
        let mut ct_len = 0;
        let mut pt = Vec::with_capacity(size);
        let mut pt_buf = vec![0u8; size + size / FRAME * 40 + 4096];
        let mut sink = vec![0u8; FRAME];
        // Each run measures every variant once, so that the machine's load
        // hits them alike; ratios are taken per run, then the median.
        let mut rows: Vec<[f64; 7]> = Vec::new();
        for run in 0..=runs {
            let raw_seal = gbps(size, || {
                for (i, chunk) in payload.chunks(FRAME).enumerate() {
                    key.seal_to(&nonce(i), b"aad", chunk, &mut unit[..chunk.len() + 16]).expect("seal");
                }
            });
            let raw_open = gbps(size, || {
                for (i, c) in sealed.chunks(FRAME + 16).enumerate() {
                    key.open_to(&nonce(i), b"aad", c, &mut unit[..c.len() - 16], "bench").expect("open");
                }
            });
            let msg_enc = gbps(size, || {
                let mut enc = futures_executor::block_on(client.encryptor(&opts)).expect("encryptor");
                ct_len = enc.encrypt_to(&payload, &mut ct_buf).expect("encrypt");
            });
            let ct = &ct_buf[..ct_len];
            let mut pt_len = 0;
            let msg_dec = gbps(size, || {
                let (h, used) =
                    Header::parse(ct, ParseLimits { max_encrypted_data_keys: None }).expect("parse").expect("header");
                let mut dec = futures_executor::block_on(client.body_decryptor(&h, &none)).expect("materials");
                pt_len = dec.decrypt_body_to(&ct[used..], &mut pt_buf).expect("decrypt");
            });
            assert!(pt_buf[..pt_len] == payload[..], "round trip");
            let append = gbps(size, || {
                pt.clear();
                let (h, used) =
                    Header::parse(ct, ParseLimits { max_encrypted_data_keys: None }).expect("parse").expect("header");
                let mut dec = futures_executor::block_on(client.body_decryptor(&h, &none)).expect("materials");
                dec.update(&ct[used..], &mut pt).expect("decrypt");
                dec.finish().expect("finish");
            });
            assert!(pt == payload, "round trip");
            let stream_enc = gbps(size, || {
                let mut w = EncryptingWriter::new(&client, std::io::sink(), &opts).expect("writer");
                for chunk in payload.chunks(FRAME) {
                    w.write_all(chunk).expect("write");
                }
                w.finish().expect("finish");
            });
            let stream_dec = gbps(size, || {
                let mut r = DecryptingReader::new(&client, ct, &none).expect("reader");
                while r.read(&mut sink).expect("read") > 0 {}
            });
            if run > 0 {
                rows.push([raw_seal, raw_open, msg_enc, msg_dec, stream_enc, stream_dec, append]);
            }
        }
        let col = |i: usize| median(rows.iter().map(|r| r[i]).collect());
        let ratio = |num: usize, den: usize| median(rows.iter().map(|r| r[num] / r[den]).collect());
        println!(
            "{:<11} {:>7.2}GB/s {:>7.2}GB/s {:>8.2}GB/s {:>8.2}GB/s {:>7.2} {:>7.2} {:>8.2}GB/s {:>8.2}GB/s {:>7.2} {:>7.2} {:>8.2}GB/s {:>7.2}",
            backend.to_string(),
            col(0),
            col(1),
            col(2),
            col(3),
            ratio(2, 0),
            ratio(3, 1),
            col(4),
            col(5),
            ratio(4, 0),
            ratio(5, 1),
            col(6),
            ratio(6, 1)
        );
    }
}
