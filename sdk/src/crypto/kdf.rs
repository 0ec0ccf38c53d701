//! HKDF (RFC 5869) over SHA-256, SHA-384 and SHA-512: the key-derivation
//! primitive of every format. Which inputs each format feeds it is the
//! format's business (`message::keys`, `object::frame`, `s3ec::suite`).

use hkdf::Hkdf;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

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

/// HKDF-SHA256 (the format v1 suites use no salt).
pub fn hkdf_sha256(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]], len: usize) -> Result<SecretBytes> {
    expand::<Sha256>(salt, ikm, info, len)
}

/// HKDF-SHA384 (the format v1 suites use no salt).
pub fn hkdf_sha384(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]], len: usize) -> Result<SecretBytes> {
    expand::<Sha384>(salt, ikm, info, len)
}

/// HKDF-SHA512 with `salt`, as used by the committing suites and by the
/// object format.
pub fn hkdf_sha512(salt: &[u8], ikm: &[u8], info: &[&[u8]], len: usize) -> Result<SecretBytes> {
    expand::<Sha512>(Some(salt), ikm, info, len)
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
