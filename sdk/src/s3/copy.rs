//! Copy, delete and list.

use std::collections::HashMap;

use aws_sdk_s3::operation::copy_object::builders::CopyObjectInputBuilder;
use aws_sdk_s3::operation::delete_object::builders::DeleteObjectInputBuilder;
use aws_sdk_s3::types::{MetadataDirective, Object};

use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::object::plaintext_len;
use crate::s3::head::{Conditions, HeadObjectOutput};
use crate::s3::request::{check_copy, target, with_object_headers};
use crate::s3::sse::with_sse_default;
use crate::s3::write::ObjectHeaders;
use crate::s3::{Client, RESERVED_PREFIX, check_metadata_size, s3_error};
use crate::s3ec::metadata::{INSTRUCTION_SUFFIX, is_s3ec_key};

/// Largest object S3 copies in one request.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// The `x-amz-copy-source-if-*` conditions of a copy template
/// (CopyObject or UploadPartCopy), as read conditions on the source.
macro_rules! copy_source_conditions {
    ($t:expr) => {{
        let t = $t;
        $crate::s3::Conditions {
            if_match: t.get_copy_source_if_match().clone(),
            if_none_match: t.get_copy_source_if_none_match().clone(),
            if_modified_since: *t.get_copy_source_if_modified_since(),
            if_unmodified_since: *t.get_copy_source_if_unmodified_since(),
        }
    }};
}
pub(crate) use copy_source_conditions;

/// Builder of a server-side copy. See [`Client::copy_object`].
#[derive(Debug)]
pub struct CopyObject {
    client: Client,
    source_bucket: String,
    source_key: String,
    source_version: Option<String>,
    bucket: String,
    key: String,
    context: EncryptionContext,
    replace: Option<ObjectHeaders>,
    request: CopyObjectInputBuilder,
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
            source_version: None,
            bucket: String::new(),
            key: String::new(),
            context: EncryptionContext::new(),
            replace: None,
            request: CopyObjectInputBuilder::default(),
        }
    }

    /// The rest of the request, as an `aws-sdk-s3` template: the target's
    /// tagging (and `x-amz-tagging-directive`), storage class, ACL, Object
    /// Lock, SSE-S3/SSE-KMS, `If-Match`/`If-None-Match` on the target, and
    /// the `x-amz-copy-source-if-*` conditions on the source (checked on the
    /// source's HEAD, the copy then pinned to the ETag that HEAD saw, so a
    /// source replaced in between fails the copy). The copy source and the
    /// metadata directive are the client's (refused in the template).
    pub fn request(mut self, template: CopyObjectInputBuilder) -> Self {
        self.request = template;
        self
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

    /// A version of the source (`x-amz-copy-source: …?versionId=`); by
    /// default its current version. Copying an older version over the
    /// current one restores it.
    pub fn source_version_id(mut self, version_id: impl Into<String>) -> Self {
        self.source_version = Some(version_id.into());
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
    pub async fn send(mut self) -> Result<CopyObjectOutput> {
        check_copy(&self.request)?;
        let t = &self.request;
        (self.bucket, self.key) = target(&self.bucket, &self.key, (t.get_bucket().as_ref(), t.get_key().as_ref()));
        let head = self.source_head().await?;
        if let Some(meta) = &head.s3ec {
            return self.copy_s3ec(&head, meta.instruction_file).await;
        }
        let sh = &self.client.shared;
        let envelope = head
            .envelope
            .clone()
            .ok_or_else(|| Error::NotEncrypted { bucket: self.source_bucket.clone(), key: self.source_key.clone() })?;
        check_copy_size(&head)?;
        let sealed = self.client.open_envelope(envelope, &self.source_bucket, &self.source_key, &self.context).await?;
        if self.bucket != self.source_bucket
            && let Some(record) =
                self.client.check_final_shape(&self.source_bucket, &sealed, head.stored_length).await?
        {
            // The record binds only what the copy keeps (message id, data
            // key, lengths): the same record, in the destination bucket.
            self.client.put_final_record(&self.bucket, &sealed, record.parts, record.plaintext_length).await?;
        }
        let new_envelope = if self.bucket == self.source_bucket {
            sealed.rebind_key(&self.key)?
        } else {
            sealed.rebind_bucket(sh.cmm.as_ref(), &self.bucket, &self.key).await?
        };
        let headers = self.replace.clone().unwrap_or_else(|| head.headers.clone());
        let mut metadata = headers.metadata.clone();
        self.client.attach_envelope(&self.bucket, &mut metadata, &new_envelope).await?;
        let request = with_object_headers!(self.copy_request(&head), &headers);
        let out = with_sse_default!(request, &sh.config.server_side_encryption)
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(Some(metadata))
            .send_with(&sh.s3)
            .await
            .map_err(|e| s3_error("CopyObject", e))?;
        let r = out.copy_object_result;
        Ok(CopyObjectOutput { e_tag: r.and_then(|r| r.e_tag), version_id: out.version_id })
    }

    /// The source's HEAD, under the template's `x-amz-copy-source-if-*`
    /// conditions (see [`copy_source_head`]).
    async fn source_head(&self) -> Result<HeadObjectOutput> {
        let conditions = copy_source_conditions!(&self.request);
        copy_source_head(&self.client, &self.source_bucket, &self.source_key, self.source_version.clone(), conditions)
            .await
    }

    /// The template as the copy request: target and source set, the
    /// source's conditions replaced by its ETag as the HEAD saw it.
    fn copy_request(&self, head: &HeadObjectOutput) -> CopyObjectInputBuilder {
        self.request
            .clone()
            .bucket(&self.bucket)
            .key(&self.key)
            .copy_source(self.copy_source())
            .set_copy_source_if_match(head.e_tag.clone())
            .set_copy_source_if_none_match(None)
            .set_copy_source_if_modified_since(None)
            .set_copy_source_if_unmodified_since(None)
    }
}

impl CopyObject {
    /// `x-amz-copy-source`: `bucket/key` (URL-encoded), with the version.
    fn copy_source(&self) -> String {
        let source = format!("{}/{}", self.source_bucket, url_encode_key(&self.source_key));
        match &self.source_version {
            Some(v) => format!("{source}?versionId={}", url_encode_key(v)),
            None => source,
        }
    }
}

/// A copy source's HEAD (of `version`, if given) under the
/// `x-amz-copy-source-if-*` conditions, weighed as S3 weighs them (RFC
/// 9110: `if-match` decides alone when present, else
/// `if-unmodified-since`; `if-none-match` likewise over
/// `if-modified-since`). A source that fails them fails the copy: `412`,
/// as S3 answers a copy, also where a read would get `304`.
pub(crate) async fn copy_source_head(
    client: &Client,
    bucket: &str,
    key: &str,
    version: Option<String>,
    mut conditions: Conditions,
) -> Result<HeadObjectOutput> {
    if conditions.if_match.is_some() {
        conditions.if_unmodified_since = None;
    }
    if conditions.if_none_match.is_some() {
        conditions.if_modified_since = None;
    }
    let head = client.head_object().bucket(bucket).key(key).set_version_id(version).conditions(conditions);
    head.send().await.map_err(|e| match e {
        Error::S3 { operation, status: Some(304), .. } => Error::S3 {
            operation,
            status: Some(412),
            code: Some("PreconditionFailed".into()),
            message: "At least one of the pre-conditions you specified did not hold".into(),
        },
        other => other,
    })
}

/// Copies go in one request, up to S3's limit for one.
fn check_copy_size(head: &HeadObjectOutput) -> Result<()> {
    if head.stored_length > MAX_SINGLE_COPY {
        return Err(Error::InvalidParameter(format!(
            "copying objects over 5 GiB ({} bytes stored) is not supported yet",
            head.stored_length
        )));
    }
    Ok(())
}

impl CopyObject {
    /// Copies an Amazon S3 Encryption Client object: its formats bind
    /// nothing to the bucket or key, so the body and its encryption
    /// metadata are copied as they are (server-side), with the instruction
    /// file if the object has one.
    async fn copy_s3ec(self, head: &HeadObjectOutput, instruction_file: bool) -> Result<CopyObjectOutput> {
        let sh = &self.client.shared;
        check_copy_size(head)?;
        let mut request = self.copy_request(head);
        if let Some(headers) = &self.replace {
            // The user's headers and metadata, plus the source's encryption metadata.
            let raw = sh
                .s3
                .head_object()
                .bucket(&self.source_bucket)
                .key(&self.source_key)
                .set_version_id(self.source_version.clone())
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
            request = with_object_headers!(request, headers)
                .metadata_directive(MetadataDirective::Replace)
                .set_metadata(Some(metadata));
        }
        if instruction_file {
            let source = format!(
                "{}/{}",
                self.source_bucket,
                url_encode_key(&format!("{}{INSTRUCTION_SUFFIX}", self.source_key))
            );
            with_sse_default!(sh.s3.copy_object(), &sh.config.server_side_encryption)
                .bucket(&self.bucket)
                .key(format!("{}{INSTRUCTION_SUFFIX}", self.key))
                .copy_source(source)
                .send()
                .await
                .map_err(|e| s3_error("CopyObject", e))?;
        }
        let request = with_sse_default!(request, &sh.config.server_side_encryption);
        let out = request.send_with(&sh.s3).await.map_err(|e| s3_error("CopyObject", e))?;
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
    request: DeleteObjectInputBuilder,
}

impl DeleteObject {
    pub(crate) fn new(client: Client) -> Self {
        Self { client, bucket: String::new(), key: String::new(), request: DeleteObjectInputBuilder::default() }
    }

    bucket_and_key!();

    /// The rest of the request, as an `aws-sdk-s3` template (version id,
    /// `If-Match`, MFA, Object Lock bypass, expected bucket owner, request
    /// payer): sent as it is.
    pub fn request(mut self, template: DeleteObjectInputBuilder) -> Self {
        self.request = template;
        self
    }

    /// Deletes the object, and the sidecar holding its envelope if it has
    /// one and the bucket does not keep versions (see
    /// [`Client::delete_sidecars`]). A delete of a given version leaves
    /// sidecars alone.
    pub async fn send(self) -> Result<()> {
        let t = &self.request;
        let (bucket, key) = target(&self.bucket, &self.key, (t.get_bucket().as_ref(), t.get_key().as_ref()));
        let sh = &self.client.shared;
        // The sidecar pointer is in the object's metadata; a failed HEAD
        // (a missing object, say) must not block the delete itself.
        let head = match t.get_version_id() {
            None => sh.s3.head_object().bucket(&bucket).key(&key).send().await.ok(),
            Some(_) => None,
        };
        self.request.bucket(&bucket).key(&key).send_with(&sh.s3).await.map_err(|e| s3_error("DeleteObject", e))?;
        if let Some(meta) = head.as_ref().and_then(|h| h.metadata()) {
            self.client.delete_sidecars(&bucket, [meta]).await?;
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
    /// they are. s3seal's own objects (`.s3seal/`: envelope sidecars, final
    /// records) are not listed.
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
            let ours = |o: &Object| o.key().is_some_and(|k| k.starts_with(RESERVED_PREFIX));
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
