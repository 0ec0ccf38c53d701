//! Throughput of message encryption against the raw AEAD, in one run.
//!
//! For each AEAD backend: AES-256-GCM seal and open of the payload in
//! 64 KiB buffers, out of place into a reused buffer (the baseline), then encryption and decryption of a 256 MiB payload as
//! an ESDK message (suite 0x0478, 64 KiB frames), both from a slice into a
//! reused buffer and streamed through the `std::io` adapters. Each figure
//! is the median of several runs, single-threaded; ratios are message
//! throughput over raw AEAD throughput of the same direction.
//!
//! Run: `cargo bench -p s3seal --bench throughput` (set `S3SEAL_BENCH_MIB`
//! to change the payload size, `S3SEAL_BENCH_RUNS` the repetitions).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use s3seal::crypto::aead::{AeadAlgorithm, AeadKey};
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

fn main() {
    let mib = env_usize("S3SEAL_BENCH_MIB", 256);
    let runs = env_usize("S3SEAL_BENCH_RUNS", 5);
    let size = mib * 1024 * 1024;
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    println!("payload {mib} MiB, suite 0x0478, frame 64 KiB, median of {runs} runs, one thread");
    println!(
        "{:<11} {:>9} {:>9} {:>11} {:>11} {:>7} {:>7} {:>11} {:>11} {:>7} {:>7}",
        "backend", "raw seal", "raw open", "msg enc", "msg dec", "enc/raw", "dec/raw", "stream enc", "stream dec", "enc/raw", "dec/raw"
    );
    let keyring = Arc::new(RawAesKeyring::new("bench", "key", &[7u8; 32]).expect("key"));
    for backend in Backend::ALL {
        // Baseline: the raw AEAD over the payload in 64 KiB buffers, out of
        // place into a reused buffer (the least work any encryptor of this
        // payload must do).
        let key = AeadKey::new(backend, AeadAlgorithm::Aes256Gcm, &[1u8; 32]).expect("key");
        let nonce = |i: usize| {
            let mut n = [0u8; 12];
            n[8..].copy_from_slice(&(i as u32).to_be_bytes());
            n
        };
        let mut unit = vec![0u8; FRAME + 16];
        let raw_seal = measure(runs, size, || {
            for (i, chunk) in payload.chunks(FRAME).enumerate() {
                key.seal_to(&nonce(i), b"aad", chunk, &mut unit[..chunk.len() + 16]).expect("seal");
            }
        });
        let mut sealed = Vec::with_capacity(size + size / FRAME * 16 + 16);
        for (i, chunk) in payload.chunks(FRAME).enumerate() {
            key.seal_append(&nonce(i), b"aad", chunk, &mut sealed).expect("seal");
        }
        let raw_open = measure(runs, size, || {
            for (i, c) in sealed.chunks(FRAME + 16).enumerate() {
                key.open_to(&nonce(i), b"aad", c, &mut unit[..c.len() - 16], "bench").expect("open");
            }
        });
        drop(sealed);

        let client = Client::builder(keyring.clone()).backend(backend).build();
        let opts = EncryptOptions::default();
        let mut ct = Vec::with_capacity(size + size / FRAME * 40 + 4096);
        let msg_enc = measure(runs, size, || {
            ct.clear();
            let mut enc = futures_executor::block_on(client.encryptor(&opts)).expect("encryptor");
            enc.update(&payload, &mut ct).expect("update");
            enc.finish(&mut ct).expect("finish");
        });
        let none = EncryptionContext::new();
        let mut pt = Vec::with_capacity(size);
        let msg_dec = measure(runs, size, || {
            pt.clear();
            let (h, used) = Header::parse(&ct, ParseLimits { max_encrypted_data_keys: None }).expect("parse").expect("header");
            let mut dec = futures_executor::block_on(client.body_decryptor(&h, &none)).expect("materials");
            dec.update(&ct[used..], &mut pt).expect("decrypt");
            dec.finish().expect("finish");
        });
        assert_eq!(pt, payload, "round trip");

        let stream_enc = measure(runs, size, || {
            let mut w = EncryptingWriter::new(&client, std::io::sink(), &opts).expect("writer");
            for chunk in payload.chunks(FRAME) {
                w.write_all(chunk).expect("write");
            }
            w.finish().expect("finish");
        });
        let mut sink = vec![0u8; FRAME];
        let stream_dec = measure(runs, size, || {
            let mut r = DecryptingReader::new(&client, &ct[..], &none).expect("reader");
            while r.read(&mut sink).expect("read") > 0 {}
        });
        println!(
            "{:<11} {:>7.2}GB/s {:>7.2}GB/s {:>8.2}GB/s {:>8.2}GB/s {:>7.2} {:>7.2} {:>8.2}GB/s {:>8.2}GB/s {:>7.2} {:>7.2}",
            backend.to_string(),
            raw_seal,
            raw_open,
            msg_enc,
            msg_dec,
            msg_enc / raw_seal,
            msg_dec / raw_open,
            stream_enc,
            stream_dec,
            stream_enc / raw_seal,
            stream_dec / raw_open
        );
    }
}
