//! Sealing and opening object envelopes: the object format's protocol.
//!
//! [`SealedObject::create`] asks a materials manager for a data key bound to
//! the bucket and builds a new envelope; [`SealedObject::open`] unwraps the
//! data key of a stored envelope and checks its commitment and header tag
//! before the key is used. The byte layout is in [`super::envelope`].

use std::sync::Arc;

use subtle::ConstantTimeEq;

use crate::cmm::MaterialsManager;
use crate::context::{self, EncryptionContext};
use crate::crypto::aead::{Backend, TAG_LEN};
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::materials::{DataKey, DecryptRequest, EncryptedDataKey, EncryptionRequest};
use crate::object::envelope::{BUCKET_CONTEXT_KEY, Envelope, ObjectSuite};
use crate::object::frame::ObjectKey;
use crate::object::layout::ciphertext_len;
use crate::object::record::FinalRecord;
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// The materials suite used for objects: a 32-byte data key, committing.
const MATERIALS_SUITE: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;

/// The HKDF label of an upload binding tag ([`SealedObject::upload_binding_tag`]).
const UPLOAD_BINDING_LABEL: &[u8] = b"s3seal upload binding v1";
/// Bytes in an upload binding tag.
pub(crate) const UPLOAD_BINDING_TAG_LEN: usize = 32;

/// An object's envelope together with its ready-to-use key.
#[derive(Debug, Clone)]
pub struct SealedObject {
    /// The envelope (to store, or as read).
    pub envelope: Envelope,
    /// The object key.
    pub key: Arc<ObjectKey>,
    data_key: DataKey,
    auth_only: EncryptionContext,
}

/// Parameters of a new object.
#[derive(Debug, Clone)]
pub struct NewObject<'a> {
    /// Bucket the object is written to.
    pub bucket: &'a str,
    /// Object key.
    pub key: &'a str,
    /// Caller's encryption context (stored in the envelope).
    pub context: &'a EncryptionContext,
    /// Frame AEAD.
    pub suite: ObjectSuite,
    /// Plaintext bytes per frame.
    pub frame_length: u32,
    /// Envelope flags.
    pub flags: u8,
    /// Frames per part other than the last, 0 if unknown.
    pub part_frames: u32,
    /// Plaintext length, when known (for caching limits).
    pub plaintext_length: Option<u64>,
}

fn bucket_context(ctx: &EncryptionContext, bucket: &str) -> Result<EncryptionContext> {
    context::check_caller_context(ctx)?;
    if ctx.contains_key(BUCKET_CONTEXT_KEY) {
        return Err(Error::EncryptionContext(format!("{BUCKET_CONTEXT_KEY} is set by s3seal")));
    }
    let mut c = ctx.clone();
    c.insert(BUCKET_CONTEXT_KEY.to_string(), bucket.to_string());
    Ok(c)
}

/// What an object asks of the materials manager: a committing data key
/// bound to `ctx`, whose bucket entry is authenticated but not stored.
fn object_request(ctx: EncryptionContext, plaintext_length: Option<u64>) -> EncryptionRequest {
    EncryptionRequest {
        encryption_context: ctx,
        required_context_keys: vec![BUCKET_CONTEXT_KEY.to_string()],
        suite: Some(MATERIALS_SUITE),
        commitment_policy: CommitmentPolicy::RequireEncryptRequireDecrypt,
        plaintext_length,
    }
}

impl SealedObject {
    /// Obtains a data key for a new object and builds its envelope.
    pub async fn create(cmm: &dyn MaterialsManager, backend: Backend, new: NewObject<'_>) -> Result<Self> {
        if new.frame_length == 0 {
            return Err(Error::InvalidParameter("frame length must be at least 1".into()));
        }
        let ctx = bucket_context(new.context, new.bucket)?;
        let materials = cmm.get_encryption_materials(object_request(ctx, new.plaintext_length)).await?;
        let data_key = materials.data_key.clone().ok_or(Error::Crypto("materials without a data key"))?;
        let message_id = random::array::<32>()?;
        let (auth_only, stored): (EncryptionContext, EncryptionContext) =
            materials.encryption_context.into_iter().partition(|(k, _)| materials.required_context_keys.contains(k));
        Self::seal(backend, &new, data_key, materials.encrypted_data_keys, message_id, stored, auth_only)
    }

    /// Builds an object from given materials and message id, with no
    /// keyring call and no randomness: for known-answer vectors and tests.
    /// A message id must never repeat under one data key.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        backend: Backend,
        new: NewObject<'_>,
        data_key: DataKey,
        encrypted_data_keys: Vec<EncryptedDataKey>,
        message_id: [u8; 32],
    ) -> Result<Self> {
        let mut auth_only = EncryptionContext::new();
        auth_only.insert(BUCKET_CONTEXT_KEY.to_string(), new.bucket.to_string());
        let _ = bucket_context(new.context, new.bucket)?;
        Self::seal(backend, &new, data_key, encrypted_data_keys, message_id, new.context.clone(), auth_only)
    }

    /// Derives the object key and builds the tagged envelope: `stored` is
    /// the context kept in the envelope, `auth_only` the context that is
    /// authenticated but not stored (the bucket).
    fn seal(
        backend: Backend,
        new: &NewObject<'_>,
        data_key: DataKey,
        encrypted_data_keys: Vec<EncryptedDataKey>,
        message_id: [u8; 32],
        stored: EncryptionContext,
        auth_only: EncryptionContext,
    ) -> Result<Self> {
        let (key, commitment) = ObjectKey::derive(new.suite, data_key.as_bytes(), &message_id, backend)?;
        let mut envelope = Envelope {
            suite: new.suite,
            flags: new.flags,
            frame_length: new.frame_length,
            part_frames: new.part_frames,
            message_id,
            encryption_context: stored,
            encrypted_data_keys,
            commitment,
            tag: [0; TAG_LEN],
        };
        envelope.tag = key.header_tag(&envelope.header_aad(new.key, &auth_only)?)?;
        Ok(Self { envelope, key: Arc::new(key), data_key, auth_only })
    }

    /// Opens the envelope of `bucket`/`key`: unwraps the data key, checks
    /// the commitment (before anything else uses the key) and the header
    /// tag. `reproduced` is the context the caller expects.
    pub async fn open(
        cmm: &dyn MaterialsManager,
        backend: Backend,
        envelope: Envelope,
        bucket: &str,
        key: &str,
        reproduced: &EncryptionContext,
        max_encrypted_data_keys: Option<usize>,
    ) -> Result<Self> {
        if let Some(limit) = max_encrypted_data_keys
            && envelope.encrypted_data_keys.len() > limit
        {
            return Err(Error::TooManyEncryptedDataKeys { found: envelope.encrypted_data_keys.len(), limit });
        }
        let reproduced = bucket_context(reproduced, bucket)?;
        let materials = cmm
            .decrypt_materials(DecryptRequest {
                suite: MATERIALS_SUITE,
                commitment_policy: CommitmentPolicy::RequireEncryptRequireDecrypt,
                encrypted_data_keys: &envelope.encrypted_data_keys,
                encryption_context: &envelope.encryption_context,
                reproduced_context: &reproduced,
            })
            .await
            .map_err(|e| match e {
                Error::NoDecryptableKey(mut d) => {
                    d.message_keys = envelope.encrypted_data_keys.iter().map(|k| k.describe()).collect();
                    Error::NoDecryptableKey(d)
                }
                other => other,
            })?;
        let data_key = materials.data_key.clone().ok_or(Error::NoDecryptableKey(Default::default()))?;
        let (okey, commitment) = ObjectKey::derive(envelope.suite, data_key.as_bytes(), &envelope.message_id, backend)?;
        if !bool::from(commitment.ct_eq(&envelope.commitment)) {
            return Err(Error::CommitmentMismatch);
        }
        let auth_only = context::filter(&materials.encryption_context, &materials.required_context_keys);
        okey.check_header_tag(&envelope.header_aad(key, &auth_only)?, &envelope.tag)?;
        Ok(Self { envelope, key: Arc::new(okey), data_key, auth_only })
    }

    /// A tag binding an upload of this object to the store's upload id and
    /// to the bucket and key: HKDF-SHA512 with the data key as input key
    /// material and the message id as salt, over a label and the three
    /// values, each preceded by its length (a PRF of them, keyed by the
    /// data key). Only a holder of the data key can make it, so an upload
    /// id that carries it cannot be paired with another upload's envelope
    /// or used for another bucket or key.
    pub fn upload_binding_tag(&self, upload_id: &str, bucket: &str, key: &str) -> Result<[u8; UPLOAD_BINDING_TAG_LEN]> {
        let [a, b, c] = [upload_id, bucket, key].map(|s| (s.len() as u64).to_be_bytes());
        let info: [&[u8]; 7] =
            [UPLOAD_BINDING_LABEL, &a, upload_id.as_bytes(), &b, bucket.as_bytes(), &c, key.as_bytes()];
        let okm = crate::crypto::kdf::hkdf_sha512(
            &self.envelope.message_id,
            self.data_key.as_bytes(),
            &info,
            UPLOAD_BINDING_TAG_LEN,
        )?;
        let mut tag = [0u8; UPLOAD_BINDING_TAG_LEN];
        tag.copy_from_slice(&okm);
        Ok(tag)
    }

    /// Checks a tag made by [`SealedObject::upload_binding_tag`] (in
    /// constant time): [`Error::Authentication`] if it does not bind this
    /// object to `upload_id`, `bucket` and `key`.
    pub fn check_upload_binding_tag(&self, upload_id: &str, bucket: &str, key: &str, tag: &[u8]) -> Result<()> {
        let want = self.upload_binding_tag(upload_id, bucket, key)?;
        if bool::from(want.as_slice().ct_eq(tag)) { Ok(()) } else { Err(Error::Authentication("upload binding tag")) }
    }

    /// The final record of this object completed with `parts` parts of
    /// `plaintext_length` bytes in all: its bytes, authenticated with the
    /// data key (`docs/FORMAT.md` section 2.15).
    pub fn final_record(&self, parts: u32, plaintext_length: u64) -> Result<Vec<u8>> {
        let record = FinalRecord {
            message_id: self.envelope.message_id,
            parts,
            plaintext_length,
            ciphertext_length: ciphertext_len(plaintext_length, u64::from(self.envelope.frame_length)),
        };
        record.to_bytes(self.data_key.as_bytes())
    }

    /// Authenticates the final record `bytes` of this object.
    pub fn open_final_record(&self, bytes: &[u8]) -> Result<FinalRecord> {
        let record = FinalRecord::open(bytes, &self.envelope.message_id, self.data_key.as_bytes())?;
        let f = u64::from(self.envelope.frame_length);
        if ciphertext_len(record.plaintext_length, f) != record.ciphertext_length || record.parts == 0 {
            return Err(Error::malformed("the object's final record names an impossible shape"));
        }
        Ok(record)
    }

    /// The envelope for the same body stored under another key of the
    /// same bucket (copy or rename): only the header tag changes.
    pub fn rebind_key(&self, new_key: &str) -> Result<Envelope> {
        let mut e = self.envelope.clone();
        e.tag = self.key.header_tag(&e.header_aad(new_key, &self.auth_only)?)?;
        Ok(e)
    }

    /// The envelope for the same body stored in another bucket: the data
    /// key is wrapped again for the new bucket's context (same data key,
    /// same message id, so the body is unchanged), then tagged for the new
    /// key.
    pub async fn rebind_bucket(&self, cmm: &dyn MaterialsManager, new_bucket: &str, new_key: &str) -> Result<Envelope> {
        let ctx = bucket_context(&self.envelope.encryption_context, new_bucket)?;
        let materials = cmm.rewrap(object_request(ctx, None), self.data_key.clone()).await?;
        let auth_only = context::filter(&materials.encryption_context, &materials.required_context_keys);
        let mut e = self.envelope.clone();
        e.encrypted_data_keys = materials.encrypted_data_keys;
        e.tag = self.key.header_tag(&e.header_aad(new_key, &auth_only)?)?;
        Ok(e)
    }
}
