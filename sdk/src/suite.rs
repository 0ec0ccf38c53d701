//! Algorithm suites of the AWS Encryption SDK message format and the
//! commitment policy that gates them.
//!
//! Each suite fixes the AEAD, the key derivation, whether the data key is
//! committed, and the signature algorithm. Ids and properties follow the
//! ESDK specification (`framework/algorithm-suites.md`).

use std::fmt;

use crate::crypto::aead::AeadAlgorithm;
pub use crate::crypto::signature::SignatureAlgorithm;
use crate::error::{Error, Result};

/// How the data key becomes the key that encrypts frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// The data key is used as is (legacy suites `0x0014`, `0x0046`, `0x0078`).
    Identity,
    /// HKDF-SHA256 with info = suite id || message id (format v1).
    HkdfSha256,
    /// HKDF-SHA384 with info = suite id || message id (format v1).
    HkdfSha384,
    /// HKDF-SHA512 with the message id as salt and key commitment (format v2).
    HkdfSha512Committing,
}

/// An algorithm suite of the ESDK message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlgorithmSuite {
    /// `0x0014`: AES-128-GCM, no key derivation (format v1).
    Aes128GcmIv12Tag16NoKdf,
    /// `0x0046`: AES-192-GCM, no key derivation (format v1).
    Aes192GcmIv12Tag16NoKdf,
    /// `0x0078`: AES-256-GCM, no key derivation (format v1).
    Aes256GcmIv12Tag16NoKdf,
    /// `0x0114`: AES-128-GCM, HKDF-SHA256 (format v1).
    Aes128GcmIv12Tag16HkdfSha256,
    /// `0x0146`: AES-192-GCM, HKDF-SHA256 (format v1).
    Aes192GcmIv12Tag16HkdfSha256,
    /// `0x0178`: AES-256-GCM, HKDF-SHA256 (format v1).
    Aes256GcmIv12Tag16HkdfSha256,
    /// `0x0214`: AES-128-GCM, HKDF-SHA256, ECDSA P-256 (format v1).
    Aes128GcmIv12Tag16HkdfSha256EcdsaP256,
    /// `0x0346`: AES-192-GCM, HKDF-SHA384, ECDSA P-384 (format v1).
    Aes192GcmIv12Tag16HkdfSha384EcdsaP384,
    /// `0x0378`: AES-256-GCM, HKDF-SHA384, ECDSA P-384 (format v1).
    Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
    /// `0x0478`: AES-256-GCM, HKDF-SHA512, key commitment (format v2). The default.
    Aes256GcmHkdfSha512CommitKey,
    /// `0x0578`: AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384 (format v2).
    Aes256GcmHkdfSha512CommitKeyEcdsaP384,
}

impl AlgorithmSuite {
    /// Every suite, in id order.
    pub const ALL: [AlgorithmSuite; 11] = [
        Self::Aes128GcmIv12Tag16NoKdf,
        Self::Aes192GcmIv12Tag16NoKdf,
        Self::Aes256GcmIv12Tag16NoKdf,
        Self::Aes128GcmIv12Tag16HkdfSha256,
        Self::Aes192GcmIv12Tag16HkdfSha256,
        Self::Aes256GcmIv12Tag16HkdfSha256,
        Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256,
        Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384,
        Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
        Self::Aes256GcmHkdfSha512CommitKey,
        Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ];

    /// The two-byte id written in message headers.
    pub const fn id(self) -> u16 {
        match self {
            Self::Aes128GcmIv12Tag16NoKdf => 0x0014,
            Self::Aes192GcmIv12Tag16NoKdf => 0x0046,
            Self::Aes256GcmIv12Tag16NoKdf => 0x0078,
            Self::Aes128GcmIv12Tag16HkdfSha256 => 0x0114,
            Self::Aes192GcmIv12Tag16HkdfSha256 => 0x0146,
            Self::Aes256GcmIv12Tag16HkdfSha256 => 0x0178,
            Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256 => 0x0214,
            Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384 => 0x0346,
            Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384 => 0x0378,
            Self::Aes256GcmHkdfSha512CommitKey => 0x0478,
            Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => 0x0578,
        }
    }

    /// Looks a suite up by its id.
    pub fn from_id(id: u16) -> Result<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id).ok_or(Error::UnsupportedSuite(id))
    }

    /// The message format version this suite is written with (1 or 2).
    pub const fn message_format_version(self) -> u8 {
        if self.is_committing() { 2 } else { 1 }
    }

    /// The AEAD that encrypts frames and authenticates the header.
    pub const fn aead(self) -> AeadAlgorithm {
        match self.data_key_len() {
            16 => AeadAlgorithm::Aes128Gcm,
            24 => AeadAlgorithm::Aes192Gcm,
            _ => AeadAlgorithm::Aes256Gcm,
        }
    }

    /// Length in bytes of the data key (and of the derived key).
    pub const fn data_key_len(self) -> usize {
        match self {
            Self::Aes128GcmIv12Tag16NoKdf
            | Self::Aes128GcmIv12Tag16HkdfSha256
            | Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256 => 16,
            Self::Aes192GcmIv12Tag16NoKdf
            | Self::Aes192GcmIv12Tag16HkdfSha256
            | Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384 => 24,
            _ => 32,
        }
    }

    /// The key derivation.
    pub const fn kdf(self) -> Kdf {
        match self {
            Self::Aes128GcmIv12Tag16NoKdf | Self::Aes192GcmIv12Tag16NoKdf | Self::Aes256GcmIv12Tag16NoKdf => {
                Kdf::Identity
            }
            Self::Aes128GcmIv12Tag16HkdfSha256
            | Self::Aes192GcmIv12Tag16HkdfSha256
            | Self::Aes256GcmIv12Tag16HkdfSha256
            | Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256 => Kdf::HkdfSha256,
            Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384 | Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384 => {
                Kdf::HkdfSha384
            }
            Self::Aes256GcmHkdfSha512CommitKey | Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => {
                Kdf::HkdfSha512Committing
            }
        }
    }

    /// The signature algorithm, if the suite signs messages.
    pub const fn signature(self) -> Option<SignatureAlgorithm> {
        match self {
            Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256 => Some(SignatureAlgorithm::EcdsaP256Sha256),
            Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384
            | Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384
            | Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => Some(SignatureAlgorithm::EcdsaP384Sha384),
            _ => None,
        }
    }

    /// True when the suite commits to its data key (format v2).
    pub const fn is_committing(self) -> bool {
        matches!(self.kdf(), Kdf::HkdfSha512Committing)
    }

    /// Length of the suite data field of a v2 header (the commitment).
    pub const fn suite_data_len(self) -> usize {
        if self.is_committing() { 32 } else { 0 }
    }
}

impl fmt::Display for AlgorithmSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.id())
    }
}

/// Which algorithm suites may be used, following ESDK's commitment policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitmentPolicy {
    /// Encrypt only with non-committing suites; decrypt anything.
    ForbidEncryptAllowDecrypt,
    /// Encrypt with committing suites; decrypt anything.
    RequireEncryptAllowDecrypt,
    /// Encrypt and decrypt only committing suites. The default.
    #[default]
    RequireEncryptRequireDecrypt,
}

impl CommitmentPolicy {
    /// Fails unless the policy allows encrypting with `suite`.
    pub fn check_encrypt(self, suite: AlgorithmSuite) -> Result<()> {
        let ok = match self {
            Self::ForbidEncryptAllowDecrypt => !suite.is_committing(),
            _ => suite.is_committing(),
        };
        if ok { Ok(()) } else { Err(Error::CommitmentPolicy { policy: self, suite }) }
    }

    /// Fails unless the policy allows decrypting a message of `suite`.
    pub fn check_decrypt(self, suite: AlgorithmSuite) -> Result<()> {
        if self == Self::RequireEncryptRequireDecrypt && !suite.is_committing() {
            return Err(Error::CommitmentPolicy { policy: self, suite });
        }
        Ok(())
    }

    /// The suite used when the caller names none.
    pub const fn default_suite(self) -> AlgorithmSuite {
        match self {
            Self::ForbidEncryptAllowDecrypt => AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
            _ => AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
        }
    }
}

impl fmt::Display for CommitmentPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ForbidEncryptAllowDecrypt => "forbid-encrypt-allow-decrypt",
            Self::RequireEncryptAllowDecrypt => "require-encrypt-allow-decrypt",
            Self::RequireEncryptRequireDecrypt => "require-encrypt-require-decrypt",
        })
    }
}

impl std::str::FromStr for CommitmentPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "forbid-encrypt-allow-decrypt" => Ok(Self::ForbidEncryptAllowDecrypt),
            "require-encrypt-allow-decrypt" => Ok(Self::RequireEncryptAllowDecrypt),
            "require-encrypt-require-decrypt" => Ok(Self::RequireEncryptRequireDecrypt),
            other => Err(Error::InvalidParameter(format!(
                "unknown commitment policy {other:?} (expected require-encrypt-require-decrypt, require-encrypt-allow-decrypt or forbid-encrypt-allow-decrypt)"
            ))),
        }
    }
}
