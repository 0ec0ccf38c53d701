//! The bottom of the write path, shared by single-request, multipart and
//! S3 Encryption Client uploads: the headers kept with an object, one
//! PutObject, and reading a part's worth of a body.

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::s3::{Client, s3_error};

/// S3's smallest part other than the last.
pub(crate) const MIN_PART: u64 = 5 * 1024 * 1024;

/// Standard object headers kept alongside the encrypted body.
#[derive(Debug, Clone, Default)]
pub struct ObjectHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// User metadata (`x-amz-meta-*`, without the prefix).
    pub metadata: HashMap<String, String>,
}

/// Conditions on a write, checked by the store when the object lands (S3's
/// conditional writes): a caller that must not overwrite, or must replace
/// only what it read, says so here rather than checking first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteConditions {
    /// `If-Match`: the store's ETag of the object to replace (`*`: any).
    pub if_match: Option<String>,
    /// `If-None-Match: *`: only if no object has the key.
    pub if_none_match: Option<String>,
}

impl WriteConditions {
    /// Whether there is no condition.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }
}

/// Result of an upload.
#[derive(Debug, Clone)]
pub struct PutObjectOutput {
    /// The ETag the store gave the ciphertext.
    pub e_tag: Option<String>,
    /// Version id, on versioned buckets.
    pub version_id: Option<String>,
    /// Plaintext bytes stored.
    pub plaintext_length: u64,
    /// Ciphertext bytes stored.
    pub ciphertext_length: u64,
}

/// Sends one PutObject of `stored` bytes of ciphertext from `body` (the
/// encryption of `plaintext` bytes), with `metadata` and `headers`, if the
/// store finds `conditions` hold.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_put(
    client: &Client,
    bucket: &str,
    key: &str,
    headers: &ObjectHeaders,
    metadata: HashMap<String, String>,
    body: ByteStream,
    plaintext: u64,
    stored: u64,
    conditions: &WriteConditions,
) -> Result<PutObjectOutput> {
    let request = client
        .shared
        .s3_upload
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_length(i64::try_from(stored).map_err(|_| Error::InvalidParameter("object too large".into()))?)
        .set_metadata(Some(metadata))
        .set_if_match(conditions.if_match.clone())
        .set_if_none_match(conditions.if_none_match.clone());
    let out = with_headers!(request, headers).body(body).send().await.map_err(|e| s3_error("PutObject", e))?;
    Ok(PutObjectOutput {
        e_tag: out.e_tag,
        version_id: out.version_id,
        plaintext_length: plaintext,
        ciphertext_length: stored,
    })
}

/// Reads up to `size` bytes (fewer only at the end of the stream).
pub(crate) async fn read_part(reader: &mut (dyn tokio::io::AsyncRead + Send + Unpin), size: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(usize::MAX).min(64 << 20));
    reader.take(size).read_to_end(&mut buf).await?;
    Ok(buf)
}
