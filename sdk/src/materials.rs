//! Cryptographic materials: the data key in its plaintext and encrypted
//! forms, and the bundles that keyrings and materials managers pass around
//! (`framework/structures.md` of the ESDK specification).

use std::fmt;

use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::crypto::signature::SigningKey;
use crate::error::{Error, Result};
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// A plaintext data key. Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct DataKey(Zeroizing<Vec<u8>>);

impl DataKey {
    /// Wraps key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        DataKey(Zeroizing::new(bytes))
    }

    /// Generates a random key of `len` bytes.
    pub fn generate(len: usize) -> Result<Self> {
        let mut k = Zeroizing::new(vec![0u8; len]);
        crate::crypto::random::fill(&mut k)?;
        Ok(DataKey(k))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({} bytes)", self.0.len())
    }
}

/// The provider id of data keys encrypted by AWS KMS.
pub const KMS_PROVIDER_ID: &str = "aws-kms";

/// Length of what follows the key name in raw AES provider info: tag length
/// in bits (u32, 128), IV length (u32, 12), IV.
pub(crate) const RAW_AES_INFO_SUFFIX: usize = 4 + 4 + crate::crypto::aead::NONCE_LEN;

/// Returns the key name from raw AES provider info (key name || tag bits ||
/// IV length || IV), if it has that shape.
pub fn raw_aes_key_name(provider_info: &[u8]) -> Option<&[u8]> {
    let n = provider_info.len().checked_sub(RAW_AES_INFO_SUFFIX)?;
    let (name, rest) = provider_info.split_at(n);
    let iv_len = crate::crypto::aead::NONCE_LEN as u32;
    (rest[..4] == 128u32.to_be_bytes() && rest[4..8] == iv_len.to_be_bytes()).then_some(name)
}

/// A data key encrypted by one key-management key, as stored in a message.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EncryptedDataKey {
    /// Who can decrypt it: the keyring namespace, or `aws-kms`.
    pub provider_id: Vec<u8>,
    /// Which key within the provider (and, for raw AES, the IV and tag length).
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// A short human-readable name: `provider:key`, as users write key specs.
    pub fn describe(&self) -> String {
        let provider = String::from_utf8_lossy(&self.provider_id);
        let info = if provider == KMS_PROVIDER_ID {
            String::from_utf8_lossy(&self.provider_info).into_owned()
        } else {
            raw_aes_key_name(&self.provider_info)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_else(|| String::from_utf8_lossy(&self.provider_info).into_owned())
        };
        format!("{provider}:{info}")
    }
}

impl fmt::Debug for EncryptedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedDataKey({}, {} bytes)", self.describe(), self.ciphertext.len())
    }
}

/// What a keyring receives and returns when encrypting.
#[derive(Debug)]
pub struct EncryptionMaterials {
    /// The suite the message will use.
    pub suite: AlgorithmSuite,
    /// The full encryption context (stored and authenticated-only pairs).
    pub encryption_context: EncryptionContext,
    /// Keys of `encryption_context` that are authenticated but not stored.
    pub required_context_keys: Vec<String>,
    /// The plaintext data key, once a keyring generated or received it.
    pub data_key: Option<DataKey>,
    /// Every encrypted form of the data key so far.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// The signing key of signed suites.
    pub signing_key: Option<SigningKey>,
}

impl EncryptionMaterials {
    /// Empty materials for `suite` and `ctx`.
    pub fn new(suite: AlgorithmSuite, encryption_context: EncryptionContext) -> Self {
        Self {
            suite,
            encryption_context,
            required_context_keys: Vec::new(),
            data_key: None,
            encrypted_data_keys: Vec::new(),
            signing_key: None,
        }
    }

    /// The data key: the one a keyring before this one generated, else a
    /// fresh random key of the suite's length (what a keyring that wraps,
    /// rather than generates, does first).
    pub fn data_key_or_generate(&mut self) -> Result<&DataKey> {
        if self.data_key.is_none() {
            self.data_key = Some(DataKey::generate(self.suite.data_key_len())?);
        }
        self.data_key.as_ref().ok_or(Error::Crypto("no data key"))
    }

    /// Checks what the ESDK requires of complete materials.
    pub fn validate(&self) -> Result<()> {
        let dk = self.data_key.as_ref().ok_or_else(|| Error::Keyring {
            keyring: "materials".into(),
            message: "no keyring generated a data key".into(),
        })?;
        if dk.as_bytes().len() != self.suite.data_key_len() {
            return Err(Error::InvalidKey(format!(
                "data key is {} bytes, suite {} needs {}",
                dk.as_bytes().len(),
                self.suite,
                self.suite.data_key_len()
            )));
        }
        if self.encrypted_data_keys.is_empty() {
            return Err(Error::Keyring {
                keyring: "materials".into(),
                message: "no encrypted data key was produced".into(),
            });
        }
        if self.suite.signature().is_some() != self.signing_key.is_some() {
            return Err(Error::Crypto("signing key does not match the suite"));
        }
        if let Some(k) = self.required_context_keys.iter().find(|k| !self.encryption_context.contains_key(*k)) {
            return Err(Error::EncryptionContext(format!("required key {k:?} is missing")));
        }
        Ok(())
    }
}

/// What a keyring receives and returns when decrypting.
#[derive(Debug, Clone)]
pub struct DecryptionMaterials {
    /// The suite of the message.
    pub suite: AlgorithmSuite,
    /// The encryption context: stored pairs plus reproduced-only pairs.
    pub encryption_context: EncryptionContext,
    /// Keys of `encryption_context` that were supplied by the caller and
    /// are authenticated but not stored.
    pub required_context_keys: Vec<String>,
    /// The plaintext data key, once a keyring decrypted one.
    pub data_key: Option<DataKey>,
    /// The base64 signature verification key of signed suites.
    pub verification_key: Option<String>,
}

impl DecryptionMaterials {
    /// Empty materials for `suite` and `ctx`.
    pub fn new(suite: AlgorithmSuite, encryption_context: EncryptionContext) -> Self {
        Self { suite, encryption_context, required_context_keys: Vec::new(), data_key: None, verification_key: None }
    }
}

/// A request for encryption materials.
#[derive(Debug, Clone)]
pub struct EncryptionRequest {
    /// The caller's encryption context.
    pub encryption_context: EncryptionContext,
    /// Keys of the context to authenticate without storing them.
    pub required_context_keys: Vec<String>,
    /// The requested suite, if any.
    pub suite: Option<AlgorithmSuite>,
    /// The commitment policy in force.
    pub commitment_policy: CommitmentPolicy,
    /// The plaintext length, when known (caching managers count it).
    pub plaintext_length: Option<u64>,
}

/// A request for decryption materials.
#[derive(Debug, Clone, Copy)]
pub struct DecryptRequest<'a> {
    /// The suite of the message.
    pub suite: AlgorithmSuite,
    /// The commitment policy in force.
    pub commitment_policy: CommitmentPolicy,
    /// The message's encrypted data keys.
    pub encrypted_data_keys: &'a [EncryptedDataKey],
    /// The context stored in the message.
    pub encryption_context: &'a EncryptionContext,
    /// The context the caller expects (may hold pairs not stored).
    pub reproduced_context: &'a EncryptionContext,
}
