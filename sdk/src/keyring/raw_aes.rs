//! The raw AES keyring: wraps data keys with AES-GCM under a key the caller
//! holds (ESDK `framework/raw-aes-keyring.md`).
//!
//! Encrypted data key layout: provider id = key namespace; provider info =
//! key name || tag length in bits (u32, 128) || IV length (u32, 12) || IV;
//! ciphertext = wrapped key || tag. The AAD is the serialized encryption
//! context.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::context;
use crate::context::EncryptionContext;
use crate::crypto::aead::{self, AeadAlgorithm, Backend, NONCE_LEN, TAG_LEN};
use crate::crypto::random;
use crate::error::{Error, NoKeyDetails, Result};
use crate::keyring::{Keyring, already_has_key};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::s3ec::{self, ContentSuite, WrapAlgorithm, WrappedKey};

pub use crate::materials::raw_aes_key_name as key_name_of;

/// A keyring holding one AES wrapping key (128, 192 or 256 bits).
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: Zeroizing<Vec<u8>>,
    algorithm: AeadAlgorithm,
    backend: Backend,
}

impl std::fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawAesKeyring({})", self.describe())
    }
}

impl RawAesKeyring {
    /// A keyring for `key` (16, 24 or 32 bytes) named `namespace`/`name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, key: &[u8]) -> Result<Self> {
        let algorithm = match key.len() {
            16 => AeadAlgorithm::Aes128Gcm,
            24 => AeadAlgorithm::Aes192Gcm,
            32 => AeadAlgorithm::Aes256Gcm,
            n => {
                return Err(Error::InvalidKey(format!("a raw AES wrapping key must be 16, 24 or 32 bytes, got {n}")));
            }
        };
        let namespace = namespace.into();
        if namespace == crate::keyring::kms::PROVIDER_ID {
            return Err(Error::InvalidKey("the namespace \"aws-kms\" is reserved".into()));
        }
        Ok(Self {
            namespace,
            name: name.into(),
            key: Zeroizing::new(key.to_vec()),
            algorithm,
            backend: Backend::default(),
        })
    }

    /// Uses `backend` for wrapping (both give identical bytes).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    fn matches(&self, edk: &EncryptedDataKey) -> Option<Nonce> {
        if edk.provider_id != self.namespace.as_bytes() {
            return None;
        }
        let name = key_name_of(&edk.provider_info)?;
        if name != self.name.as_bytes() || edk.ciphertext.len() < TAG_LEN {
            return None;
        }
        edk.provider_info[edk.provider_info.len() - NONCE_LEN..].try_into().ok()
    }
}

type Nonce = aead::Nonce;

#[async_trait]
impl Keyring for RawAesKeyring {
    async fn on_encrypt(&self, mut materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let aad = context::serialize(&materials.encryption_context)?;
        let iv: Nonce = random::array()?;
        let dk = materials.data_key_or_generate()?.as_bytes();
        let ciphertext = aead::seal(self.backend, self.algorithm, &self.key, &iv, &aad, dk)?;
        let mut info = Vec::with_capacity(self.name.len() + crate::materials::RAW_AES_INFO_SUFFIX);
        info.extend_from_slice(self.name.as_bytes());
        info.extend_from_slice(&128u32.to_be_bytes());
        info.extend_from_slice(&(NONCE_LEN as u32).to_be_bytes());
        info.extend_from_slice(&iv);
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: self.namespace.as_bytes().to_vec(),
            provider_info: info,
            ciphertext,
        });
        Ok(materials)
    }

    async fn on_decrypt(
        &self,
        mut materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        if materials.data_key.is_some() {
            return Err(already_has_key(&self.describe()));
        }
        let aad = context::serialize(&materials.encryption_context)?;
        let mut attempts = Vec::new();
        for edk in edks {
            let Some(iv) = self.matches(edk) else { continue };
            match aead::open(self.backend, self.algorithm, &self.key, &iv, &aad, &edk.ciphertext, "raw AES key unwrap")
            {
                Ok(k) if k.len() == materials.suite.data_key_len() => {
                    materials.data_key = Some(DataKey::new(k.to_vec()));
                    return Ok(materials);
                }
                Ok(_) => attempts.push(format!("{}: unwrapped key has the wrong length", self.describe())),
                Err(_) => {
                    attempts.push(format!("{}: the key or the encryption context does not match", self.describe()))
                }
            }
        }
        if attempts.is_empty() {
            attempts.push(self.describe());
        }
        Err(Error::NoDecryptableKey(NoKeyDetails { message_keys: Vec::new(), attempts }))
    }

    async fn s3ec_unwrap(&self, key: &WrappedKey) -> Result<Option<DataKey>> {
        if key.algorithm != WrapAlgorithm::AesGcm {
            return Ok(None);
        }
        s3ec::wrap::aes_gcm_unwrap(self.backend, &self.key, key).map(Some).map_err(|e| match e {
            Error::Authentication(_) => Error::NoDecryptableKey(NoKeyDetails {
                message_keys: vec!["S3 Encryption Client AES/GCM key".into()],
                attempts: vec![format!("{}: the wrapping key does not match", self.describe())],
            }),
            other => other,
        })
    }

    async fn s3ec_wrap(
        &self,
        suite: ContentSuite,
        _context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>> {
        let dk = DataKey::generate(s3ec::DATA_KEY_LEN)?;
        let ciphertext = s3ec::wrap::aes_gcm_wrap(self.backend, &self.key, suite, dk.as_bytes())?;
        let mut matdesc = EncryptionContext::new();
        matdesc.insert("s3seal-key".into(), format!("{}:{}", self.namespace, self.name));
        Ok(Some((dk, WrappedKey { algorithm: WrapAlgorithm::AesGcm, suite, ciphertext, context: matdesc })))
    }

    fn describe(&self) -> String {
        format!("aes:{}:{}", self.namespace, self.name)
    }
}
