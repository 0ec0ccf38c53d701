//! The key schedule of ESDK messages (`framework/algorithm-suites.md`).
//!
//! * Format v1 HKDF suites: `HKDF(hash, salt = none, ikm = data key,
//!   info = suite id || message id)`.
//! * Format v2 committing suites: with `salt = message id` and HKDF-SHA512,
//!   the frame key uses `info = suite id || "DERIVEKEY"` and the commitment
//!   `info = "COMMITKEY"`.

use zeroize::Zeroizing;

use crate::crypto::kdf::{SecretBytes, hkdf_sha256, hkdf_sha384, hkdf_sha512};
use crate::error::{Error, Result};
use crate::suite::{AlgorithmSuite, Kdf};

/// Length of the key commitment of committing suites.
pub(crate) const COMMITMENT_LEN: usize = 32;

/// Derives the key that encrypts the frames (and authenticates the header)
/// of a message from its data key.
pub(crate) fn derive_message_key(suite: AlgorithmSuite, data_key: &[u8], message_id: &[u8]) -> Result<SecretBytes> {
    if data_key.len() != suite.data_key_len() {
        return Err(Error::InvalidKey(format!(
            "suite {suite} needs a {}-byte data key, got {}",
            suite.data_key_len(),
            data_key.len()
        )));
    }
    let id = suite.id().to_be_bytes();
    let len = suite.data_key_len();
    match suite.kdf() {
        Kdf::Identity => Ok(Zeroizing::new(data_key.to_vec())),
        Kdf::HkdfSha256 => hkdf_sha256(None, data_key, &[&id, message_id], len),
        Kdf::HkdfSha384 => hkdf_sha384(None, data_key, &[&id, message_id], len),
        Kdf::HkdfSha512Committing => hkdf_sha512(message_id, data_key, &[&id, b"DERIVEKEY"], len),
    }
}

/// Derives the key commitment of a committing suite.
pub(crate) fn derive_commitment(data_key: &[u8], message_id: &[u8]) -> Result<[u8; COMMITMENT_LEN]> {
    let k = hkdf_sha512(message_id, data_key, &[b"COMMITKEY"], COMMITMENT_LEN)?;
    let mut out = [0u8; COMMITMENT_LEN];
    out.copy_from_slice(&k);
    Ok(out)
}
