//! Content suites and key-wrapping algorithms of the S3 Encryption Client
//! (`s3-encryption/data-format/content-metadata.md`,
//! `s3-encryption/key-derivation.md`).

use zeroize::Zeroizing;

use crate::crypto::gcm_stream::IV_LEN;
use crate::crypto::kdf::hkdf_sha512;
use crate::error::{Error, Result};

/// Length of the V3 message id (the HKDF salt).
pub(crate) const MESSAGE_ID_LEN: usize = 28;
/// Length of the V3 key commitment.
pub(crate) const COMMITMENT_LEN: usize = 28;
/// Length of the content data key (both suites use AES-256).
pub const DATA_KEY_LEN: usize = 32;
/// The fixed GCM IV of the committing suite: twelve `0x01` bytes.
pub(crate) const COMMITTING_IV: [u8; IV_LEN] = [1; IV_LEN];

/// How the object's content is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentSuite {
    /// `ALG_AES_256_GCM_IV12_TAG16_NO_KDF` (`0x0072`, format V2): the data
    /// key encrypts the content directly, under a random IV, no AAD. No key
    /// commitment.
    AesGcm,
    /// `ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (`0x0073`, format V3): the
    /// content key and a 28-byte key commitment are derived by HKDF-SHA512
    /// from the data key and a random 28-byte message id; IV `0x01 × 12`,
    /// AAD = the suite id as two bytes.
    CommittingAesGcm,
}

impl ContentSuite {
    /// The suite id.
    pub const fn id(self) -> u16 {
        match self {
            Self::AesGcm => 0x0072,
            Self::CommittingAesGcm => 0x0073,
        }
    }

    /// True for the key-committing suite.
    pub const fn is_committing(self) -> bool {
        matches!(self, Self::CommittingAesGcm)
    }

    /// The content algorithm as stored in `x-amz-cek-alg` / `x-amz-c`, and
    /// as bound into wrapped keys (KMS context value of
    /// `aws:x-amz-cek-alg`, raw AES wrapping AAD, RSA pseudo-key suffix).
    pub const fn name(self) -> &'static str {
        match self {
            Self::AesGcm => "AES/GCM/NoPadding",
            Self::CommittingAesGcm => "115",
        }
    }

    /// The suite of a stored content algorithm name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "AES/GCM/NoPadding" => Ok(Self::AesGcm),
            "115" => Ok(Self::CommittingAesGcm),
            "AES/CBC/PKCS5Padding" => Err(Error::UnsupportedS3ec(
                "the object is encrypted with AES-CBC (S3 Encryption Client V1), an unauthenticated legacy mode that s3seal does not decrypt".into(),
            )),
            other => Err(Error::UnsupportedS3ec(format!("unknown content encryption algorithm {other:?}"))),
        }
    }
}

impl std::fmt::Display for ContentSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#06x} ({})", self.id(), self.name())
    }
}

/// The content key and commitment of a V3 object.
pub(crate) struct DerivedKey {
    /// The AES-256-GCM content key.
    pub key: Zeroizing<Vec<u8>>,
    /// The key commitment (stored in `x-amz-d`).
    pub commitment: [u8; COMMITMENT_LEN],
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey")
    }
}

/// HKDF-SHA512 with `salt = message id`, `ikm = data key`; expands
/// `suite id ‖ "DERIVEKEY"` (32 bytes) and `suite id ‖ "COMMITKEY"` (28 bytes).
pub(crate) fn derive_committing_key(data_key: &[u8], message_id: &[u8]) -> Result<DerivedKey> {
    if data_key.len() != DATA_KEY_LEN {
        return Err(Error::InvalidKey(format!(
            "the S3 Encryption Client data key must be {DATA_KEY_LEN} bytes, got {}",
            data_key.len()
        )));
    }
    if message_id.len() != MESSAGE_ID_LEN {
        return Err(Error::malformed(format!(
            "the message id must be {MESSAGE_ID_LEN} bytes, got {}",
            message_id.len()
        )));
    }
    let id = ContentSuite::CommittingAesGcm.id().to_be_bytes();
    let c = hkdf_sha512(message_id, data_key, &[&id, b"COMMITKEY"], COMMITMENT_LEN)?;
    let mut commitment = [0u8; COMMITMENT_LEN];
    commitment.copy_from_slice(&c);
    let key = hkdf_sha512(message_id, data_key, &[&id, b"DERIVEKEY"], DATA_KEY_LEN)?;
    Ok(DerivedKey { key, commitment })
}

/// How the data key is wrapped (`x-amz-wrap-alg` / `x-amz-w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrapAlgorithm {
    /// `AES/GCM` (`02`): `IV(12) ‖ AES-GCM(wrapping key, data key)`, AAD =
    /// the content algorithm name.
    AesGcm,
    /// `kms+context` (`12`): AWS KMS, with the stored encryption context
    /// (which includes `aws:x-amz-cek-alg`).
    KmsContext,
    /// `RSA-OAEP-SHA1` (`22`): RSA-OAEP (SHA-1, MGF1-SHA-1) of the pseudo
    /// key `len ‖ data key ‖ content algorithm name`.
    RsaOaepSha1,
}

impl WrapAlgorithm {
    /// The V2 name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AesGcm => "AES/GCM",
            Self::KmsContext => "kms+context",
            Self::RsaOaepSha1 => "RSA-OAEP-SHA1",
        }
    }

    /// The V3 two-digit code.
    pub const fn v3_code(self) -> &'static str {
        match self {
            Self::AesGcm => "02",
            Self::KmsContext => "12",
            Self::RsaOaepSha1 => "22",
        }
    }

    /// Parses a V2 `x-amz-wrap-alg` value.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "AES/GCM" => Ok(Self::AesGcm),
            "kms+context" => Ok(Self::KmsContext),
            "RSA-OAEP-SHA1" => Ok(Self::RsaOaepSha1),
            "kms" | "AESWrap" | "AES" | "RSA" | "RSA/ECB/OAEPWithSHA-256AndMGF1Padding" => {
                Err(Error::UnsupportedS3ec(format!(
                    "the data key is wrapped with the legacy algorithm {name:?} (S3 Encryption Client V1), which s3seal does not support"
                )))
            }
            other => Err(Error::UnsupportedS3ec(format!("unknown key wrapping algorithm {other:?}"))),
        }
    }

    /// Parses a V3 `x-amz-w` value.
    pub fn from_v3_code(code: &str) -> Result<Self> {
        match code {
            "02" => Ok(Self::AesGcm),
            "12" => Ok(Self::KmsContext),
            "22" => Ok(Self::RsaOaepSha1),
            other => Err(Error::UnsupportedS3ec(format!("unknown V3 key wrapping algorithm code {other:?}"))),
        }
    }
}

impl std::fmt::Display for WrapAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [ContentSuite::AesGcm, ContentSuite::CommittingAesGcm] {
            assert_eq!(ContentSuite::from_name(s.name()).expect("suite"), s);
        }
        for w in [WrapAlgorithm::AesGcm, WrapAlgorithm::KmsContext, WrapAlgorithm::RsaOaepSha1] {
            assert_eq!(WrapAlgorithm::from_name(w.name()).expect("name"), w);
            assert_eq!(WrapAlgorithm::from_v3_code(w.v3_code()).expect("code"), w);
        }
        assert!(matches!(ContentSuite::from_name("AES/CBC/PKCS5Padding"), Err(Error::UnsupportedS3ec(_))));
        assert!(matches!(WrapAlgorithm::from_name("kms"), Err(Error::UnsupportedS3ec(_))));
        assert!(WrapAlgorithm::from_v3_code("32").is_err());
    }

    #[test]
    fn derivation_depends_on_every_input() {
        let a = derive_committing_key(&[1; 32], &[2; 28]).expect("derive");
        let b = derive_committing_key(&[1; 32], &[3; 28]).expect("derive");
        let c = derive_committing_key(&[4; 32], &[2; 28]).expect("derive");
        assert_ne!(a.commitment, b.commitment);
        assert_ne!(a.commitment, c.commitment);
        assert_ne!(*a.key, *b.key);
        assert_ne!(&a.key[..28], &a.commitment[..]);
        assert!(derive_committing_key(&[1; 16], &[2; 28]).is_err());
        assert!(derive_committing_key(&[1; 32], &[2; 12]).is_err());
    }
}
