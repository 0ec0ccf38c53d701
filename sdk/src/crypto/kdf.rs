//! Key derivation for ESDK messages (`framework/algorithm-suites.md`).
//!
//! * Format v1 HKDF suites: `HKDF(hash, salt = none, ikm = data key,
//!   info = suite id || message id)`.
//! * Format v2 committing suites: with `salt = message id` and HKDF-SHA512,
//!   the frame key uses `info = suite id || "DERIVEKEY"` and the commitment
//!   `info = "COMMITKEY"`.

use hkdf::Hkdf;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::suite::{AlgorithmSuite, Kdf};

/// Length of the key commitment of committing suites.
pub const COMMITMENT_LEN: usize = 32;

/// A derived key, zeroized on drop.
pub type SecretBytes = Zeroizing<Vec<u8>>;

fn expand<H>(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]], len: usize) -> Result<SecretBytes>
where
    H: hkdf::hmac::EagerHash + Clone,
    <H as hkdf::hmac::EagerHash>::Core: Sync,
{
    let hk = Hkdf::<H>::new(salt, ikm);
    let mut okm = Zeroizing::new(vec![0u8; len]);
    hk.expand_multi_info(info, &mut okm).map_err(|_| Error::Crypto("HKDF output too long"))?;
    Ok(okm)
}

/// HKDF-SHA512 with `salt`, as used by the committing suites and by the
/// object format.
pub fn hkdf_sha512(salt: &[u8], ikm: &[u8], info: &[&[u8]], len: usize) -> Result<SecretBytes> {
    expand::<Sha512>(Some(salt), ikm, info, len)
}

/// Derives the key that encrypts the frames (and authenticates the header)
/// of a message from its data key.
pub fn derive_message_key(suite: AlgorithmSuite, data_key: &[u8], message_id: &[u8]) -> Result<SecretBytes> {
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
        Kdf::HkdfSha256 => expand::<Sha256>(None, data_key, &[&id, message_id], len),
        Kdf::HkdfSha384 => expand::<Sha384>(None, data_key, &[&id, message_id], len),
        Kdf::HkdfSha512Committing => hkdf_sha512(message_id, data_key, &[&id, b"DERIVEKEY"], len),
    }
}

/// Derives the key commitment of a committing suite.
pub fn derive_commitment(data_key: &[u8], message_id: &[u8]) -> Result<[u8; COMMITMENT_LEN]> {
    let k = hkdf_sha512(message_id, data_key, &[b"COMMITKEY"], COMMITMENT_LEN)?;
    let mut out = [0u8; COMMITMENT_LEN];
    out.copy_from_slice(&k);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5869, test case 1 (HKDF-SHA256).
    #[test]
    fn rfc5869_case1() {
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = expand::<Sha256>(Some(&salt), &ikm, &[&info], 42).unwrap();
        assert_eq!(
            okm.as_slice(),
            &[
                0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36, 0x2f, 0x2a, 0x2d,
                0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf, 0x34, 0x00,
                0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65
            ][..]
        );
    }
}
