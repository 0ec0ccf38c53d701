//! Fuzz targets for the parsers that read untrusted bytes: the ESDK
//! message header and the object envelope here, the S3 Encryption Client
//! metadata in `s3ec::metadata`'s tests.
//!
//! They run on the stable toolchain with bolero's random engine, as unit
//! tests: one second each in `cargo test`, and for as many inputs as asked
//! with `BOLERO_RANDOM_ITERATIONS=1000000 cargo test -p s3seal --release
//! --lib fuzz` (docs/CONTRIBUTING.md). Each input is either raw bytes or a
//! valid seed with byte edits, a cut and a tail, so that the parsers are
//! reached past their first checks. The seeds are the committed corpus,
//! `testvectors/fuzz/<target>/` (header seeds written by `write_corpus`,
//! ignored by default), and the object vectors' envelopes. A target passes
//! when no input panics and the round-trip properties below hold; what the
//! parsers accept is checked by the known-answer tests.

use std::sync::Arc;

use bolero::check;

use crate::client::{Client, EncryptOptions};
use crate::keyring::RawAesKeyring;
use crate::message::{Header, ParseLimits};
use crate::object::Envelope;
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// No limit on encrypted data keys: the widest parse.
const LIMITS: ParseLimits = ParseLimits { max_encrypted_data_keys: None };

/// A fuzz input: which seed, byte edits `(position, value)`, where to cut,
/// bytes to append, or (`raw`) the tail alone.
pub(crate) type Mutation = (u8, Vec<(u16, u8)>, Option<u16>, Vec<u8>, bool);

/// `seeds[i]` with the edits, cut and tail of `m`.
pub(crate) fn mutate(seeds: &[Vec<u8>], m: &Mutation) -> Vec<u8> {
    let (i, edits, cut, tail, raw) = m;
    if *raw || seeds.is_empty() {
        return tail.clone();
    }
    let mut b = seeds[usize::from(*i) % seeds.len()].clone();
    for (pos, v) in edits {
        if !b.is_empty() {
            let p = usize::from(*pos) % b.len();
            b[p] = *v;
        }
    }
    if let Some(c) = cut {
        b.truncate(usize::from(*c) % (b.len() + 1));
    }
    b.extend_from_slice(tail);
    b
}

/// ESDK headers made by this crate: every suite, with and without an
/// encryption context.
fn header_seeds() -> Vec<Vec<u8>> {
    let keyring = Arc::new(RawAesKeyring::new("fuzz", "key", &[7u8; 32]).expect("keyring"));
    let policies = [CommitmentPolicy::ForbidEncryptAllowDecrypt, CommitmentPolicy::RequireEncryptAllowDecrypt];
    let clients: Vec<Client> =
        policies.into_iter().map(|p| Client::builder(keyring.clone()).commitment_policy(p).build()).collect();
    let mut seeds = Vec::new();
    for (suite, client) in AlgorithmSuite::ALL.into_iter().flat_map(|s| clients.iter().map(move |c| (s, c))) {
        for context in [vec![], vec![("purpose", "fuzz"), ("team", "a")]] {
            let mut opts = EncryptOptions { suite: Some(suite), ..EncryptOptions::default() };
            for (k, v) in context {
                opts.context.insert(k.into(), v.into());
            }
            let Ok(message) = client.encrypt_blocking(b"fuzz", &opts) else { continue };
            if let Ok(Some((_, used))) = Header::parse(&message, LIMITS) {
                seeds.push(message[..used].to_vec());
            }
        }
    }
    assert!(!seeds.is_empty(), "no header seeds");
    seeds
}

/// The files of `dir` (under `testvectors/`) whose names end in `suffix`.
fn files(dir: &str, suffix: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/../testvectors/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .filter_map(|p| std::fs::read(p).ok())
                .collect()
        })
        .unwrap_or_default();
    seeds.sort();
    seeds
}

/// The committed corpus of a target.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    files(&format!("fuzz/{target}"), "")
}

/// The envelopes of the committed object vectors.
fn envelope_seeds() -> Vec<Vec<u8>> {
    let seeds = files("objects", ".envelope");
    assert!(!seeds.is_empty(), "no envelope seeds");
    seeds
}

/// Writes the generated header seeds to the corpus
/// (`cargo test -p s3seal --lib fuzz::write_corpus -- --ignored`).
#[test]
#[ignore = "writes testvectors/fuzz"]
fn write_corpus() {
    let dir = format!("{}/../testvectors/fuzz/message-header", env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&dir).expect("corpus dir");
    for (i, seed) in header_seeds().iter().enumerate() {
        std::fs::write(format!("{dir}/{i:02}.bin"), seed).expect("corpus file");
    }
}

#[test]
fn message_header() {
    let mut seeds = header_seeds();
    seeds.extend(corpus("message-header"));
    check!().with_type::<Mutation>().for_each(|m| {
        let input = mutate(&seeds, m);
        if let Ok(Some((header, used))) = Header::parse(&input, LIMITS) {
            // A parsed header is exactly the bytes it consumed.
            assert_eq!(header.to_bytes(), input[..used]);
        }
        let tight = ParseLimits { max_encrypted_data_keys: Some(1) };
        if let Ok(Some((header, _))) = Header::parse(&input, tight) {
            assert!(header.encrypted_data_keys.len() <= 1);
        }
    });
}

#[test]
fn object_envelope() {
    let seeds = envelope_seeds();
    check!().with_type::<Mutation>().for_each(|m| {
        let input = mutate(&seeds, m);
        if let Ok(envelope) = Envelope::parse(&input) {
            // What parses serializes back to the same bytes (the format is
            // canonical).
            assert_eq!(envelope.to_bytes().ok().as_deref(), Some(&input[..]));
        }
    });
}
