//! Copy, delete and list.

use std::collections::HashMap;

use aws_sdk_s3::types::{MetadataDirective, Object};

use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::object::plaintext_len;
use crate::s3::get::HeadObjectOutput;
use crate::s3::write::ObjectHeaders;
use crate::s3::{Client, SIDECAR_PREFIX, check_metadata_size, s3_error};
use crate::s3ec::metadata::{INSTRUCTION_SUFFIX, is_s3ec_key};

/// Largest object S3 copies in one request.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// Builder of a server-side copy. See [`Client::copy_object`].
#[derive(Debug)]
pub struct CopyObject {
    client: Client,
    source_bucket: String,
    source_key: String,
    bucket: String,
    key: String,
    context: EncryptionContext,
    replace: Option<ObjectHeaders>,
}

/// Result of a copy.
#[derive(Debug, Clone)]
pub struct CopyObjectOutput {
    /// The new object's ETag.
    pub e_tag: Option<String>,
    /// Version id of the new object.
    pub version_id: Option<String>,
}

impl CopyObject {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            source_bucket: String::new(),
            source_key: String::new(),
            bucket: String::new(),
            key: String::new(),
            context: EncryptionContext::new(),
            replace: None,
        }
    }

    /// Replaces the standard headers and user metadata of the copy
    /// (S3's `x-amz-metadata-directive: REPLACE`); by default they are
    /// copied from the source.
    pub fn replace_headers(mut self, headers: ObjectHeaders) -> Self {
        self.replace = Some(headers);
        self
    }

    /// The object to copy.
    pub fn source(mut self, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        self.source_bucket = bucket.into();
        self.source_key = key.into();
        self
    }

    /// Destination bucket.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = bucket.into();
        self
    }

    /// Destination key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Requires an encryption context pair of the source.
    pub fn context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// Verifies the source envelope, re-authenticates it for the
    /// destination and copies the body server-side (never downloaded).
    pub async fn send(self) -> Result<CopyObjectOutput> {
        let sh = &self.client.shared;
        let head = self.client.head_object().bucket(&self.source_bucket).key(&self.source_key).send().await?;
        if let Some(meta) = &head.s3ec {
            return self.copy_s3ec(&head, meta.instruction_file).await;
        }
        let envelope = head
            .envelope
            .clone()
            .ok_or_else(|| Error::NotEncrypted { bucket: self.source_bucket.clone(), key: self.source_key.clone() })?;
        if head.stored_length > MAX_SINGLE_COPY {
            return Err(Error::InvalidParameter(format!(
                "copying objects over 5 GiB ({} bytes stored) is not supported yet",
                head.stored_length
            )));
        }
        let sealed = self.client.open_envelope(envelope, &self.source_bucket, &self.source_key, &self.context).await?;
        let new_envelope = if self.bucket == self.source_bucket {
            sealed.rebind_key(&self.key)?
        } else {
            sealed.rebind_bucket(sh.cmm.as_ref(), &self.bucket, &self.key).await?
        };
        let headers = self.replace.clone().unwrap_or_else(|| head.headers.clone());
        let mut metadata = headers.metadata.clone();
        self.client.attach_envelope(&self.bucket, &mut metadata, &new_envelope).await?;
        let source = format!("{}/{}", self.source_bucket, url_encode_key(&self.source_key));
        let request = sh
            .s3
            .copy_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .copy_source(source)
            .set_copy_source_if_match(head.e_tag.clone())
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(Some(metadata));
        let out = with_headers!(request, headers).send().await.map_err(|e| s3_error("CopyObject", e))?;
        let r = out.copy_object_result;
        Ok(CopyObjectOutput { e_tag: r.and_then(|r| r.e_tag), version_id: out.version_id })
    }
}

impl CopyObject {
    /// Copies an Amazon S3 Encryption Client object: its formats bind
    /// nothing to the bucket or key, so the body and its encryption
    /// metadata are copied as they are (server-side), with the instruction
    /// file if the object has one.
    async fn copy_s3ec(self, head: &HeadObjectOutput, instruction_file: bool) -> Result<CopyObjectOutput> {
        let sh = &self.client.shared;
        if head.stored_length > MAX_SINGLE_COPY {
            return Err(Error::InvalidParameter(format!(
                "copying objects over 5 GiB ({} bytes stored) is not supported yet",
                head.stored_length
            )));
        }
        let source = format!("{}/{}", self.source_bucket, url_encode_key(&self.source_key));
        let mut request = sh
            .s3
            .copy_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .copy_source(source)
            .set_copy_source_if_match(head.e_tag.clone());
        if let Some(headers) = &self.replace {
            // The user's headers and metadata, plus the source's encryption metadata.
            let raw = sh
                .s3
                .head_object()
                .bucket(&self.source_bucket)
                .key(&self.source_key)
                .set_if_match(head.e_tag.clone())
                .send()
                .await
                .map_err(|e| s3_error("HeadObject", e))?;
            let mut metadata: HashMap<String, String> =
                headers.metadata.iter().filter(|(k, _)| !is_s3ec_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
            for (k, v) in raw.metadata().into_iter().flatten() {
                if is_s3ec_key(k) {
                    metadata.insert(k.clone(), v.clone());
                }
            }
            check_metadata_size(&metadata)?;
            request = with_headers!(
                request.metadata_directive(MetadataDirective::Replace).set_metadata(Some(metadata)),
                headers
            );
        }
        if instruction_file {
            let source = format!(
                "{}/{}",
                self.source_bucket,
                url_encode_key(&format!("{}{INSTRUCTION_SUFFIX}", self.source_key))
            );
            sh.s3
                .copy_object()
                .bucket(&self.bucket)
                .key(format!("{}{INSTRUCTION_SUFFIX}", self.key))
                .copy_source(source)
                .send()
                .await
                .map_err(|e| s3_error("CopyObject", e))?;
        }
        let out = request.send().await.map_err(|e| s3_error("CopyObject", e))?;
        let r = out.copy_object_result;
        Ok(CopyObjectOutput { e_tag: r.and_then(|r| r.e_tag), version_id: out.version_id })
    }
}

/// Percent-encodes an object key for `x-amz-copy-source`, keeping `/`.
fn url_encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builder of a delete. See [`Client::delete_object`].
#[derive(Debug)]
pub struct DeleteObject {
    client: Client,
    bucket: String,
    key: String,
}

impl DeleteObject {
    pub(crate) fn new(client: Client) -> Self {
        Self { client, bucket: String::new(), key: String::new() }
    }

    /// The bucket.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = bucket.into();
        self
    }

    /// The object key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Deletes the object, and the sidecar holding its envelope if it has
    /// one and the bucket does not keep versions (see
    /// [`Client::delete_sidecars`]).
    pub async fn send(self) -> Result<()> {
        // The sidecar pointer is in the object's metadata; a failed HEAD
        // (a missing object, say) must not block the delete itself.
        let head = self.client.shared.s3.head_object().bucket(&self.bucket).key(&self.key).send().await.ok();
        self.client
            .shared
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
            .map_err(|e| s3_error("DeleteObject", e))?;
        if let Some(meta) = head.as_ref().and_then(|h| h.metadata()) {
            self.client.delete_sidecars(&self.bucket, [meta]).await?;
        }
        Ok(())
    }
}

/// Builder of a listing. See [`Client::list_objects_v2`].
#[derive(Debug)]
pub struct ListObjectsV2 {
    client: Client,
    bucket: String,
    prefix: Option<String>,
    continuation_token: Option<String>,
    max_keys: Option<i32>,
}

impl ListObjectsV2 {
    pub(crate) fn new(client: Client) -> Self {
        Self { client, bucket: String::new(), prefix: None, continuation_token: None, max_keys: None }
    }

    /// The bucket.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = bucket.into();
        self
    }

    /// Only keys with this prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Continue a truncated listing.
    pub fn continuation_token(mut self, t: impl Into<String>) -> Self {
        self.continuation_token = Some(t.into());
        self
    }

    /// At most this many keys.
    pub fn max_keys(mut self, n: i32) -> Self {
        self.max_keys = Some(n);
        self
    }

    /// Lists; sizes are plaintext sizes, computed from the stored sizes by
    /// the format's arithmetic with the configured frame length (no extra
    /// requests). Stored sizes that no plaintext size maps to are left as
    /// they are. Envelope sidecars (`.s3seal/envelopes/...`) are not listed.
    /// Sizes of S3 Encryption Client objects are not corrected here (a
    /// listing carries no metadata); `head_object` reports them exactly.
    pub async fn send(self) -> Result<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output> {
        let f = u64::from(self.client.shared.config.frame_length);
        let mut out = self
            .client
            .shared
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_prefix(self.prefix)
            .set_continuation_token(self.continuation_token)
            .set_max_keys(self.max_keys)
            .send()
            .await
            .map_err(|e| s3_error("ListObjectsV2", e))?;
        if let Some(objects) = out.contents.take() {
            let ours = |o: &Object| o.key().is_some_and(|k| k.starts_with(SIDECAR_PREFIX));
            out.contents = Some(objects.into_iter().filter(|o| !ours(o)).map(|o| plaintext_size(o, f)).collect());
        }
        Ok(out)
    }
}

fn plaintext_size(mut o: Object, frame: u64) -> Object {
    if let Some(p) = o.size.and_then(|s| u64::try_from(s).ok()).and_then(|s| plaintext_len(s, frame).ok()) {
        o.size = i64::try_from(p).ok();
    }
    o
}
