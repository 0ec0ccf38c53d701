//! Opening and starting Amazon S3 Encryption Client objects with a
//! materials manager: the S3 Encryption Client format's protocol. The
//! content encryption itself is in [`super::content`], the metadata in
//! [`super::metadata`].

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::cmm::MaterialsManager;
use crate::context::EncryptionContext;
use crate::crypto::gcm_stream::GcmEncryptor;
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::s3ec::content::ContentKey;
use crate::s3ec::metadata::{ContentMetadata, Format, v3_metadata};
use crate::s3ec::suite::{COMMITTING_IV, ContentSuite, MESSAGE_ID_LEN, WrapAlgorithm, derive_committing_key};
use crate::suite::CommitmentPolicy;

/// Opens the content key of an object: checks the commitment policy and
/// the caller's encryption context, unwraps the data key, and for V3
/// checks the key commitment (in constant time) before deriving the key.
///
/// `expected` is the caller's KMS encryption context: when not empty, the
/// stored context without the reserved keys must equal it.
pub(crate) async fn open_key(
    cmm: &dyn MaterialsManager,
    meta: &ContentMetadata,
    policy: CommitmentPolicy,
    expected: &EncryptionContext,
) -> Result<ContentKey> {
    if !meta.suite.is_committing() && policy == CommitmentPolicy::RequireEncryptRequireDecrypt {
        return Err(Error::S3ecCommitmentPolicy { policy, suite: meta.suite });
    }
    if meta.wrapped.algorithm == WrapAlgorithm::KmsContext && !expected.is_empty() {
        let stored = meta.wrapped.caller_context();
        if &stored != expected {
            return Err(Error::EncryptionContext(format!(
                "the object's encryption context {stored:?} differs from the expected {expected:?}"
            )));
        }
    } else if !expected.is_empty() {
        return Err(Error::EncryptionContext(format!(
            "an encryption context was given, but the object's key is wrapped with {}, which does not use one",
            meta.wrapped.algorithm
        )));
    }
    let data_key = cmm.s3ec_decrypt(&meta.wrapped).await?;
    match meta.format {
        Format::V2 => {
            Ok(ContentKey { key: Zeroizing::new(data_key.as_bytes().to_vec()), iv: meta.iv, aad: Vec::new() })
        }
        Format::V3 => {
            let (Some(message_id), Some(stored)) = (meta.message_id, meta.commitment) else {
                return Err(Error::malformed("V3 metadata without message id or commitment"));
            };
            let derived = derive_committing_key(data_key.as_bytes(), &message_id)?;
            if !bool::from(derived.commitment.ct_eq(&stored)) {
                return Err(Error::CommitmentMismatch);
            }
            Ok(ContentKey { key: derived.key, iv: COMMITTING_IV, aad: meta.suite.id().to_be_bytes().to_vec() })
        }
    }
}

/// A new V3 object: its metadata and the encryptor of its content.
pub(crate) struct NewObject {
    /// The object metadata to store (`x-amz-c`, `x-amz-3`, ...).
    pub metadata: Vec<(String, String)>,
    /// Encrypts the content; its tag goes after the last byte.
    pub encryptor: GcmEncryptor,
}

impl std::fmt::Debug for NewObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewObject").field("metadata", &self.metadata).finish_non_exhaustive()
    }
}

/// Starts a V3 object: a new data key from `cmm`, a random message id,
/// the derived content key and its commitment.
pub(crate) async fn new_v3_object(cmm: &dyn MaterialsManager, context: &EncryptionContext) -> Result<NewObject> {
    let suite = ContentSuite::CommittingAesGcm;
    let (data_key, wrapped) = cmm.s3ec_encrypt(suite, context).await?;
    let message_id: [u8; MESSAGE_ID_LEN] = random::array()?;
    if message_id.iter().all(|b| *b == 0) {
        return Err(Error::Crypto("the random generator returned zeros"));
    }
    let derived = derive_committing_key(data_key.as_bytes(), &message_id)?;
    let metadata = v3_metadata(&wrapped, &message_id, &derived.commitment)?;
    let encryptor = GcmEncryptor::new(&derived.key, &COMMITTING_IV, &suite.id().to_be_bytes())?;
    Ok(NewObject { metadata, encryptor })
}
