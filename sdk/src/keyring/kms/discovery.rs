//! [`KmsDiscoveryKeyring`]: decrypts data keys wrapped under any AWS KMS
//! key the caller may use, optionally filtered by partition and account.

use std::fmt;

use async_trait::async_trait;

use super::arn::{KmsArn, edk_key_arn};
use super::attempts::Attempts;
use super::client::{Kms, kms_options};
use crate::error::{Error, Result};
use crate::keyring::{Keyring, already_has_key};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::s3ec::{WrapAlgorithm, WrappedKey};

/// The optional filter of a discovery keyring.
#[derive(Debug, Clone)]
struct DiscoveryFilter {
    partition: String,
    accounts: Vec<String>,
}

/// A keyring that decrypts data keys wrapped under any AWS KMS key the
/// caller may use (ESDK `aws-kms-discovery-keyring.md`). It cannot encrypt.
///
/// Each `aws-kms` encrypted data key is tried with `KeyId` set to the key
/// ARN the message names, unless a filter ([`KmsDiscoveryKeyring::with_filter`])
/// excludes its partition or account. KMS calls run on the Tokio runtime
/// captured at construction, if any (see the [module documentation](super)).
#[derive(Clone)]
pub struct KmsDiscoveryKeyring {
    kms: Kms,
    filter: Option<DiscoveryFilter>,
}

impl fmt::Debug for KmsDiscoveryKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KmsDiscoveryKeyring({})", self.describe())
    }
}

kms_options!(KmsDiscoveryKeyring);

impl KmsDiscoveryKeyring {
    /// A discovery keyring calling KMS through `client`.
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        Self { kms: Kms::new(client), filter: None }
    }

    /// Only decrypts data keys wrapped under keys of `partition` (`aws`,
    /// `aws-cn`, ...) owned by one of `accounts`.
    pub fn with_filter(
        mut self,
        partition: impl Into<String>,
        accounts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.filter = Some(DiscoveryFilter {
            partition: partition.into(),
            accounts: accounts.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Why the filter excludes `arn`, if it does.
    fn excluded(&self, arn: &KmsArn) -> Option<String> {
        let f = self.filter.as_ref()?;
        if f.partition != arn.partition {
            return Some(format!("partition {:?} is not the filter's {:?}", arn.partition, f.partition));
        }
        if !f.accounts.contains(&arn.account) {
            return Some(format!(
                "account {} is not one the filter allows ({})",
                arn.account,
                if f.accounts.is_empty() { "none".into() } else { f.accounts.join(", ") }
            ));
        }
        None
    }
}

#[async_trait]
impl Keyring for KmsDiscoveryKeyring {
    async fn on_encrypt(&self, _materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        Err(Error::Keyring {
            keyring: self.describe(),
            message: "a KMS discovery keyring can only decrypt; to encrypt, use a KMS keyring with a key ARN".into(),
        })
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
        let mut attempts = Attempts::default();
        for edk in edks {
            let Some((arn_str, arn)) = edk_key_arn(&me, edk)? else {
                continue;
            };
            if let Some(why) = self.excluded(&arn) {
                attempts.notes.push(format!("{me}: skipped key {arn_str}: {why}"));
                continue;
            }
            match self.kms.unwrap_edk(arn_str, edk, &materials).await {
                Ok(dk) => {
                    materials.data_key = Some(dk);
                    return Ok(materials);
                }
                Err(f) => attempts.failed(&me, f),
            }
        }
        Err(attempts.into_error(&me))
    }

    async fn s3ec_unwrap(&self, key: &WrappedKey) -> Result<Option<DataKey>> {
        if key.algorithm != WrapAlgorithm::KmsContext {
            return Ok(None);
        }
        let (dk, arn) = self.kms.unwrap_s3ec(None, key).await?;
        let arn_str = arn.unwrap_or_default();
        match KmsArn::parse(&arn_str) {
            Some(a) => {
                if let Some(why) = self.excluded(&a) {
                    return Err(Error::Keyring {
                        keyring: self.describe(),
                        message: format!("the object's key {arn_str} is excluded: {why}"),
                    });
                }
            }
            None if self.filter.is_some() => {
                return Err(Error::Keyring {
                    keyring: self.describe(),
                    message: "KMS did not name the key it decrypted with, so the discovery filter cannot be applied"
                        .into(),
                });
            }
            None => {}
        }
        Ok(Some(dk))
    }

    fn describe(&self) -> String {
        match &self.filter {
            None => "kms-discovery".into(),
            Some(f) => format!("kms-discovery:{}", f.accounts.join(",")),
        }
    }
}
