//! HeadObject: an object's plaintext size and metadata, from its envelope
//! (parsed, not opened) or its S3 Encryption Client metadata.

use aws_sdk_s3::primitives::DateTime;

use crate::crypto::gcm_stream::TAG_LEN;
use crate::error::{Error, Result};
use crate::object::{Envelope, plaintext_len};
use crate::s3::settings::{StoredSettings, stored_settings};
use crate::s3::write::ObjectHeaders;
use crate::s3::{Client, s3_error};
use crate::s3ec::metadata::{ContentMetadata, is_s3ec_key};

/// Conditions on a read, as the `If-*` headers of S3.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// `If-Match`.
    pub if_match: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<DateTime>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<DateTime>,
}

/// Who reads, sent with every request of a read (HEAD and GET): the
/// account the bucket must belong to, and the requester-pays
/// acknowledgement.
#[derive(Debug, Clone, Default)]
pub struct ReadAccount {
    /// `x-amz-expected-bucket-owner`.
    pub expected_bucket_owner: Option<String>,
    /// `x-amz-request-payer`.
    pub request_payer: Option<aws_sdk_s3::types::RequestPayer>,
}

/// Builder of a metadata read. See [`Client::head_object`].
#[derive(Debug)]
pub struct HeadObject {
    client: Client,
    bucket: String,
    key: String,
    version_id: Option<String>,
    conditions: Conditions,
    account: ReadAccount,
}

/// An object's plaintext size and metadata. The envelope is parsed, not
/// opened: no key is needed.
#[derive(Debug, Clone)]
pub struct HeadObjectOutput {
    /// Plaintext size (stored size for objects s3seal did not write).
    pub content_length: u64,
    /// Stored (ciphertext) size.
    pub stored_length: u64,
    /// The store's ETag.
    pub e_tag: Option<String>,
    /// Last modification time.
    pub last_modified: Option<DateTime>,
    /// Standard headers and user metadata (s3seal's own keys removed).
    pub headers: ObjectHeaders,
    /// Version id.
    pub version_id: Option<String>,
    /// The envelope, for s3seal objects.
    pub envelope: Option<Envelope>,
    /// The content metadata, for Amazon S3 Encryption Client objects.
    pub s3ec: Option<ContentMetadata>,
    /// The store's settings of the object (storage class, SSE, Object Lock, ...).
    pub settings: StoredSettings,
}

impl HeadObject {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            bucket: String::new(),
            key: String::new(),
            version_id: None,
            conditions: Conditions::default(),
            account: ReadAccount::default(),
        }
    }

    bucket_and_key!();

    /// The version to read, if any.
    pub(super) fn set_version_id(mut self, v: Option<String>) -> Self {
        self.version_id = v;
        self
    }

    /// A specific version.
    pub fn version_id(mut self, v: impl Into<String>) -> Self {
        self.version_id = Some(v.into());
        self
    }

    /// Read conditions.
    pub fn conditions(mut self, c: Conditions) -> Self {
        self.conditions = c;
        self
    }

    /// Who reads (expected bucket owner, requester pays).
    pub fn account(mut self, a: ReadAccount) -> Self {
        self.account = a;
        self
    }

    /// Reads the object's metadata. For a multipart object whose envelope
    /// requires a final record (`docs/FORMAT.md` section 2.15), the record
    /// is authenticated (the envelope is opened, so this needs a key that
    /// reads the object, unless the record is cached) and the stored length
    /// checked against it.
    pub async fn send(self) -> Result<HeadObjectOutput> {
        let allow = self.client.shared.config.allow_unencrypted;
        let (bucket, key) = (self.bucket.clone(), self.key.clone());
        let client = self.client.clone();
        let out = self.send_raw().await?;
        if out.envelope.is_none() && out.s3ec.is_none() && !allow {
            return Err(Error::NotEncrypted { bucket, key });
        }
        if let Some(envelope) = &out.envelope {
            client.check_final_shape_of(&bucket, &key, envelope, out.stored_length).await?;
        }
        Ok(out)
    }

    pub(super) async fn send_raw(self) -> Result<HeadObjectOutput> {
        let c = &self.conditions;
        let resp = self
            .client
            .shared
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .set_if_match(c.if_match.clone())
            .set_if_none_match(c.if_none_match.clone())
            .set_if_modified_since(c.if_modified_since)
            .set_if_unmodified_since(c.if_unmodified_since)
            .set_expected_bucket_owner(self.account.expected_bucket_owner.clone())
            .set_request_payer(self.account.request_payer.clone())
            .send()
            .await
            .map_err(|e| s3_error("HeadObject", e))?;
        let mut metadata = resp.metadata().cloned().unwrap_or_default();
        let envelope = self.client.detach_envelope(&self.bucket, &mut metadata).await?;
        let stored = u64::try_from(resp.content_length().unwrap_or(0)).unwrap_or(0);
        let s3ec = match envelope {
            Some(_) => None,
            None => self.client.s3ec_metadata(&self.bucket, &self.key, &metadata).await?,
        };
        let content_length = match (&envelope, &s3ec) {
            (Some(e), _) => plaintext_len(stored, u64::from(e.frame_length))?,
            (None, Some(_)) => {
                metadata.retain(|k, _| !is_s3ec_key(k));
                stored.checked_sub(TAG_LEN as u64).ok_or(Error::Truncated("the object is shorter than its tag"))?
            }
            (None, None) => stored,
        };
        Ok(HeadObjectOutput {
            content_length,
            stored_length: stored,
            e_tag: resp.e_tag,
            last_modified: resp.last_modified,
            settings: stored_settings!(resp),
            headers: headers!(resp, metadata),
            version_id: resp.version_id,
            envelope,
            s3ec,
        })
    }
}
