//! Fuzz targets for the parsers that read untrusted bytes: the ESDK
//! message header and the object envelope here, the S3 Encryption Client
//! metadata in `s3ec::metadata`'s tests.
//!
//! They run on the stable toolchain with bolero's random engine, as unit
//! tests: one second each in `cargo test`, and for as many inputs as asked
//! with `BOLERO_RANDOM_ITERATIONS=1000000 cargo test -p s3seal --release
//! --lib fuzz` (docs/CONTRIBUTING.md). Each input is either raw bytes or a
//! valid seed with byte edits, a cut and a tail, so that the parsers are
//! reached past their first checks. The committed corpus
//! (`sdk/src/__fuzz__/`) is replayed on every run. A target passes when no
//! input panics; what the parsers accept is checked by the known-answer
//! tests.

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

/// The envelopes of the committed object vectors.
fn envelope_seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testvectors/objects");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("testvectors/objects")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "envelope"))
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no envelope seeds");
    seeds
}

#[test]
fn message_header() {
    let seeds = header_seeds();
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
