//! Keyrings: the objects that generate, wrap and unwrap data keys.
//!
//! The [`Keyring`] trait is public so that users can bring their own. The
//! built-in keyrings write encrypted data keys exactly as the AWS Encryption
//! SDK does, so messages interoperate with every ESDK implementation.

use async_trait::async_trait;

use crate::context::EncryptionContext;
use crate::error::Result;
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::s3ec::{ContentSuite, WrappedKey};

pub mod kms;
pub mod multi;
pub mod raw_aes;
pub mod raw_rsa;

pub use kms::{KmsDiscoveryKeyring, KmsKeyring};
pub use multi::MultiKeyring;
pub use raw_aes::RawAesKeyring;
pub use raw_rsa::{RawRsaKeyring, RsaPadding};

/// Generates, wraps and unwraps data keys (ESDK `keyring-interface.md`).
#[async_trait]
pub trait Keyring: Send + Sync + std::fmt::Debug {
    /// Adds an encrypted data key to `materials`, generating the plaintext
    /// data key first if the materials have none (when this keyring can).
    async fn on_encrypt(&self, materials: EncryptionMaterials) -> Result<EncryptionMaterials>;

    /// Sets the plaintext data key of `materials` from one of `edks`.
    /// Materials that already hold a data key are an error.
    async fn on_decrypt(
        &self,
        materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials>;

    /// Unwraps the data key of an Amazon S3 Encryption Client object (see
    /// [`crate::s3ec`]). `Ok(None)` when this keyring does not handle
    /// `key.algorithm` (the default: custom keyrings opt in).
    async fn s3ec_unwrap(&self, key: &WrappedKey) -> Result<Option<DataKey>> {
        let _ = key;
        Ok(None)
    }

    /// Generates a data key and wraps it as the S3 Encryption Client does,
    /// for a new object of `suite`. `context` is the caller's KMS
    /// encryption context. `Ok(None)` when this keyring cannot.
    async fn s3ec_wrap(
        &self,
        suite: ContentSuite,
        context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>> {
        let _ = (suite, context);
        Ok(None)
    }

    /// A short description for error messages, in key-spec form
    /// (`aes:acme:prod`, `kms:arn:...`).
    fn describe(&self) -> String;
}

pub(crate) fn already_has_key(name: &str) -> crate::Error {
    crate::Error::Keyring { keyring: name.to_string(), message: "materials already hold a data key".into() }
}
