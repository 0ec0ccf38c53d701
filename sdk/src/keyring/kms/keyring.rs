//! [`KmsKeyring`]: wraps data keys under one AWS KMS key.

use std::fmt;

use async_trait::async_trait;

use super::PROVIDER_ID;
use super::arn::{KmsArn, check_identifier, edk_key_arn};
use super::attempts::Attempts;
use super::client::{Kms, kms_options};
use crate::context::EncryptionContext;
use crate::error::Result;
use crate::keyring::{Keyring, already_has_key};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::s3ec::{self, ContentSuite, WrapAlgorithm, WrappedKey};

/// A keyring that wraps data keys under one AWS KMS key
/// (ESDK `aws-kms-keyring.md`).
///
/// The key may be named by key id, key ARN, alias (`alias/name`) or alias
/// ARN for encryption. Decryption follows the ESDK: only encrypted data keys
/// whose key ARN equals the configured identifier are tried, so a keyring
/// that must decrypt should be given the key ARN (use
/// [`KmsDiscoveryKeyring`] to decrypt without knowing it).
///
/// KMS calls run on the Tokio runtime captured at construction, if any (see
/// the [module documentation](super) and [`KmsKeyring::with_runtime`]).
///
/// ```no_run
/// # async fn f() -> s3seal::Result<()> {
/// let config = aws_config::load_from_env().await;
/// let keyring = s3seal::keyring::KmsKeyring::new(
///     aws_sdk_kms::Client::new(&config),
///     "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
/// );
/// # Ok(()) }
/// ```
///
/// [`KmsDiscoveryKeyring`]: super::KmsDiscoveryKeyring
#[derive(Clone)]
pub struct KmsKeyring {
    key_id: String,
    kms: Kms,
}

impl fmt::Debug for KmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KmsKeyring({})", self.describe())
    }
}

kms_options!(KmsKeyring);

impl KmsKeyring {
    /// A keyring for the KMS key `key_id` (key id, key ARN, alias or alias
    /// ARN), called through `client`. An invalid identifier (empty, or a
    /// malformed ARN) is reported by the first operation.
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { key_id: key_id.into(), kms: Kms::new(client) }
    }

    /// The configured key identifier.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[async_trait]
impl Keyring for KmsKeyring {
    async fn on_encrypt(&self, mut materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        check_identifier(&self.key_id)?;
        let ctx = &materials.encryption_context;
        let edk = match &materials.data_key {
            None => {
                let (mut plaintext, ciphertext, arn) = self
                    .kms
                    .generate_data_key(&self.key_id, materials.suite.data_key_len(), ctx)
                    .await
                    .map_err(|f| f.error)?;
                tracing::debug!(key = %arn, "KMS generated a data key");
                materials.data_key = Some(DataKey::new(std::mem::take(&mut *plaintext)));
                EncryptedDataKey { provider_id: PROVIDER_ID.into(), provider_info: arn.into_bytes(), ciphertext }
            }
            Some(dk) => {
                let (ciphertext, arn) =
                    self.kms.encrypt(&self.key_id, dk.as_bytes(), ctx).await.map_err(|f| f.error)?;
                tracing::debug!(key = %arn, "KMS encrypted the data key");
                EncryptedDataKey { provider_id: PROVIDER_ID.into(), provider_info: arn.into_bytes(), ciphertext }
            }
        };
        materials.encrypted_data_keys.push(edk);
        Ok(materials)
    }

    async fn on_decrypt(
        &self,
        mut materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        let me = self.describe();
        if materials.data_key.is_some() {
            return Err(already_has_key(&me));
        }
        check_identifier(&self.key_id)?;
        let mut attempts = Attempts::default();
        let mut other_kms_keys = 0usize;
        for edk in edks {
            let Some((arn, _)) = edk_key_arn(&me, edk)? else {
                continue;
            };
            if arn != self.key_id {
                other_kms_keys += 1;
                continue;
            }
            match self.kms.unwrap_edk(arn, edk, &materials).await {
                Ok(dk) => {
                    materials.data_key = Some(dk);
                    return Ok(materials);
                }
                Err(f) => attempts.failed(&me, f),
            }
        }
        let is_key_arn = KmsArn::parse(&self.key_id).is_some_and(|a| a.is_key());
        if attempts.tried == 0 && other_kms_keys > 0 && !is_key_arn {
            attempts.notes.push(format!(
                "{me}: the keyring names its key by {:?}, but messages name KMS keys by key ARN; \
                 configure the key ARN (or use a discovery keyring) to decrypt",
                self.key_id
            ));
        }
        Err(attempts.into_error(&me))
    }

    async fn s3ec_unwrap(&self, key: &WrappedKey) -> Result<Option<DataKey>> {
        if key.algorithm != WrapAlgorithm::KmsContext {
            return Ok(None);
        }
        check_identifier(&self.key_id)?;
        self.kms.unwrap_s3ec(Some(&self.key_id), key).await.map(|(k, _)| Some(k))
    }

    async fn s3ec_wrap(
        &self,
        suite: ContentSuite,
        context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>> {
        check_identifier(&self.key_id)?;
        let ctx = s3ec::wrap::kms_context(suite, context)?;
        let (mut plaintext, ciphertext, arn) =
            self.kms.generate_data_key(&self.key_id, s3ec::DATA_KEY_LEN, &ctx).await.map_err(|f| f.error)?;
        tracing::debug!(key = %arn, "KMS generated an S3 Encryption Client data key");
        let dk = DataKey::new(std::mem::take(&mut *plaintext));
        Ok(Some((dk, WrappedKey { algorithm: WrapAlgorithm::KmsContext, suite, ciphertext, context: ctx })))
    }

    fn describe(&self) -> String {
        format!("kms:{}", self.key_id)
    }
}
