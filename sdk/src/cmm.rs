//! Cryptographic materials managers: the layer between messages and
//! keyrings that adds signing keys, enforces the commitment policy and
//! reconciles the stored and the reproduced encryption context.

use std::sync::Arc;

use async_trait::async_trait;

use crate::context::{self, EncryptionContext, PUBLIC_KEY_FIELD};
use crate::crypto::signature::SigningKey;
use crate::error::{Error, Result};
use crate::keyring::Keyring;
use crate::materials::{DataKey, DecryptRequest, DecryptionMaterials, EncryptionMaterials, EncryptionRequest};
use crate::s3ec::{ContentSuite, WrappedKey};

/// Supplies materials for encrypting and decrypting messages.
#[async_trait]
pub trait MaterialsManager: Send + Sync + std::fmt::Debug {
    /// Materials for a new message.
    async fn get_encryption_materials(&self, request: EncryptionRequest) -> Result<EncryptionMaterials>;

    /// Materials for decrypting a message with the given header fields.
    async fn decrypt_materials(&self, request: DecryptRequest<'_>) -> Result<DecryptionMaterials>;

    /// Wraps an existing data key for a new encryption context (used when
    /// an object is copied to another bucket: same data key, new encrypted
    /// data keys). Managers that cannot do this return an error.
    async fn rewrap(&self, request: EncryptionRequest, data_key: DataKey) -> Result<EncryptionMaterials> {
        let _ = (request, data_key);
        Err(Error::InvalidParameter("this materials manager cannot re-wrap data keys".into()))
    }

    /// Unwraps the data key of an Amazon S3 Encryption Client object.
    async fn s3ec_decrypt(&self, key: &WrappedKey) -> Result<DataKey> {
        let _ = key;
        Err(Error::UnsupportedS3ec("this materials manager cannot read S3 Encryption Client objects".into()))
    }

    /// A new data key, wrapped for an S3 Encryption Client object.
    async fn s3ec_encrypt(&self, suite: ContentSuite, context: &EncryptionContext) -> Result<(DataKey, WrappedKey)> {
        let _ = (suite, context);
        Err(Error::UnsupportedS3ec("this materials manager cannot write S3 Encryption Client objects".into()))
    }
}

/// The default manager: one keyring, ESDK's rules.
#[derive(Debug, Clone)]
pub struct DefaultCmm {
    keyring: Arc<dyn Keyring>,
}

impl DefaultCmm {
    /// A manager over `keyring`.
    pub fn new(keyring: Arc<dyn Keyring>) -> Self {
        Self { keyring }
    }

    /// The keyring this manager uses.
    pub fn keyring(&self) -> &Arc<dyn Keyring> {
        &self.keyring
    }
}

#[async_trait]
impl MaterialsManager for DefaultCmm {
    async fn s3ec_decrypt(&self, key: &WrappedKey) -> Result<DataKey> {
        match self.keyring.s3ec_unwrap(key).await? {
            Some(k) => Ok(k),
            None => Err(Error::NoDecryptableKey(crate::error::NoKeyDetails {
                message_keys: vec![format!("S3 Encryption Client {} key", key.algorithm)],
                attempts: vec![format!("{} (it does not unwrap {} keys)", self.keyring.describe(), key.algorithm)],
            })),
        }
    }

    async fn s3ec_encrypt(&self, suite: ContentSuite, context: &EncryptionContext) -> Result<(DataKey, WrappedKey)> {
        self.keyring.s3ec_wrap(suite, context).await?.ok_or_else(|| Error::Keyring {
            keyring: self.keyring.describe(),
            message: "this keyring cannot wrap keys for S3 Encryption Client objects".into(),
        })
    }

    async fn get_encryption_materials(&self, request: EncryptionRequest) -> Result<EncryptionMaterials> {
        let suite = request.suite.unwrap_or(request.commitment_policy.default_suite());
        request.commitment_policy.check_encrypt(suite)?;
        if request.encryption_context.contains_key(PUBLIC_KEY_FIELD) {
            return Err(Error::EncryptionContext(format!("{PUBLIC_KEY_FIELD} is reserved")));
        }
        let mut ctx = request.encryption_context;
        let signing_key = match suite.signature() {
            Some(alg) => {
                let key = SigningKey::generate(alg)?;
                ctx.insert(PUBLIC_KEY_FIELD.to_string(), key.public_key_base64());
                Some(key)
            }
            None => None,
        };
        let mut materials = EncryptionMaterials::new(suite, ctx);
        materials.required_context_keys = request.required_context_keys;
        materials.signing_key = signing_key;
        let materials = self.keyring.on_encrypt(materials).await?;
        materials.validate()?;
        Ok(materials)
    }

    async fn rewrap(&self, request: EncryptionRequest, data_key: DataKey) -> Result<EncryptionMaterials> {
        let suite = request.suite.unwrap_or(request.commitment_policy.default_suite());
        if suite.signature().is_some() {
            return Err(Error::InvalidParameter("signed suites cannot be re-wrapped".into()));
        }
        let mut materials = EncryptionMaterials::new(suite, request.encryption_context);
        materials.required_context_keys = request.required_context_keys;
        materials.data_key = Some(data_key);
        let materials = self.keyring.on_encrypt(materials).await?;
        materials.validate()?;
        Ok(materials)
    }

    async fn decrypt_materials(&self, request: DecryptRequest<'_>) -> Result<DecryptionMaterials> {
        request.commitment_policy.check_decrypt(request.suite)?;
        let (ctx, required) = merge_reproduced(request.encryption_context, request.reproduced_context)?;
        let verification_key = match (request.suite.signature(), ctx.get(PUBLIC_KEY_FIELD)) {
            (Some(_), Some(k)) => Some(k.clone()),
            (Some(_), None) => {
                return Err(Error::EncryptionContext(format!(
                    "signed suite {} but no {PUBLIC_KEY_FIELD} in the encryption context",
                    request.suite
                )));
            }
            (None, Some(_)) => {
                return Err(Error::EncryptionContext(format!(
                    "unsigned suite {} but the encryption context holds {PUBLIC_KEY_FIELD}",
                    request.suite
                )));
            }
            (None, None) => None,
        };
        let mut materials = DecryptionMaterials::new(request.suite, ctx);
        materials.required_context_keys = required;
        materials.verification_key = verification_key;
        let materials = self.keyring.on_decrypt(materials, request.encrypted_data_keys).await?;
        match &materials.data_key {
            Some(k) if k.as_bytes().len() == request.suite.data_key_len() => Ok(materials),
            Some(_) => Err(Error::InvalidKey("decrypted data key has the wrong length".into())),
            None => Err(Error::NoDecryptableKey(Default::default())),
        }
    }
}

/// Checks the reproduced context against the stored one and returns the
/// merged context and the keys that were only reproduced (ESDK
/// `cmm-interface.md`, Decrypt Materials).
pub fn merge_reproduced(
    stored: &EncryptionContext,
    reproduced: &EncryptionContext,
) -> Result<(EncryptionContext, Vec<String>)> {
    let mut ctx = stored.clone();
    let mut required = Vec::new();
    for (k, v) in reproduced {
        match stored.get(k) {
            Some(s) if s == v => {}
            Some(_) => {
                return Err(Error::EncryptionContext(format!(
                    "the message's encryption context has a different value for {k:?} than the one supplied"
                )));
            }
            None => {
                ctx.insert(k.clone(), v.clone());
                required.push(k.clone());
            }
        }
    }
    let _ = context::serialize(&ctx)?;
    Ok((ctx, required))
}
