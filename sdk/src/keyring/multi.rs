//! The multi-keyring: one generator and any number of children
//! (ESDK `framework/multi-keyring.md`). Every keyring wraps the same data
//! key, so any one of them can decrypt.

use std::sync::Arc;

use async_trait::async_trait;

use crate::context::EncryptionContext;
use crate::error::{Error, NoKeyDetails, Result};
use crate::keyring::Keyring;
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::s3ec::{ContentSuite, WrappedKey};

/// A keyring made of other keyrings.
#[derive(Debug, Clone)]
pub struct MultiKeyring {
    generator: Option<Arc<dyn Keyring>>,
    children: Vec<Arc<dyn Keyring>>,
}

impl MultiKeyring {
    /// A multi-keyring whose `generator` makes the data key and whose
    /// `children` each wrap it too.
    pub fn new(generator: Option<Arc<dyn Keyring>>, children: Vec<Arc<dyn Keyring>>) -> Result<Self> {
        if generator.is_none() && children.is_empty() {
            return Err(Error::InvalidParameter("a multi-keyring needs at least one keyring".into()));
        }
        Ok(Self { generator, children })
    }

    /// The first keyring generates, the others wrap: the usual shape.
    pub fn from_keyrings(mut keyrings: Vec<Arc<dyn Keyring>>) -> Result<Self> {
        if keyrings.is_empty() {
            return Err(Error::InvalidParameter("a multi-keyring needs at least one keyring".into()));
        }
        let generator = keyrings.remove(0);
        Self::new(Some(generator), keyrings)
    }

    fn all(&self) -> impl Iterator<Item = &Arc<dyn Keyring>> {
        self.generator.iter().chain(self.children.iter())
    }
}

#[async_trait]
impl Keyring for MultiKeyring {
    async fn on_encrypt(&self, mut materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        // With a data key already present (re-wrapping an existing key),
        // the generator wraps it like any child.
        if let Some(g) = &self.generator {
            materials = g.on_encrypt(materials).await?;
        } else if materials.data_key.is_none() {
            return Err(Error::Keyring {
                keyring: self.describe(),
                message: "no generator and no data key to wrap".into(),
            });
        }
        for child in &self.children {
            materials = child.on_encrypt(materials).await?;
        }
        Ok(materials)
    }

    async fn on_decrypt(
        &self,
        materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        if materials.data_key.is_some() {
            return Err(crate::keyring::already_has_key(&self.describe()));
        }
        let mut attempts = Vec::new();
        for k in self.all() {
            match k.on_decrypt(materials.clone(), edks).await {
                Ok(m) if m.data_key.is_some() => return Ok(m),
                Ok(_) => attempts.push(k.describe()),
                Err(Error::NoDecryptableKey(d)) => attempts.extend(d.attempts),
                Err(e) => attempts.push(format!("{}: {e}", k.describe())),
            }
        }
        Err(Error::NoDecryptableKey(NoKeyDetails { message_keys: Vec::new(), attempts }))
    }

    async fn s3ec_unwrap(&self, key: &WrappedKey) -> Result<Option<DataKey>> {
        let mut last_error = None;
        for k in self.all() {
            match k.s3ec_unwrap(key).await {
                Ok(Some(dk)) => return Ok(Some(dk)),
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
        }
        last_error.map_or(Ok(None), Err)
    }

    async fn s3ec_wrap(
        &self,
        suite: ContentSuite,
        context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>> {
        // An S3 Encryption Client object holds one wrapped key: the generator's.
        match &self.generator {
            Some(g) => g.s3ec_wrap(suite, context).await,
            None => Ok(None),
        }
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self.all().map(|k| k.describe()).collect();
        format!("multi[{}]", parts.join(", "))
    }
}
