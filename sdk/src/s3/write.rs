//! The bottom of the write path, shared by single-request, multipart and
//! S3 Encryption Client uploads: the headers kept with an object, one
//! PutObject, and reading a part's worth of a body.

use std::collections::HashMap;

use aws_sdk_s3::operation::put_object::builders::PutObjectInputBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::s3::sse::with_sse_default;
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
/// encryption of `plaintext` bytes): `request` (target, headers and the
/// caller's fields) with `metadata` (the user's and the envelope).
pub(crate) async fn send_put(
    client: &Client,
    request: PutObjectInputBuilder,
    metadata: HashMap<String, String>,
    body: ByteStream,
    plaintext: u64,
    stored: u64,
) -> Result<PutObjectOutput> {
    let request = with_sse_default!(request, &client.shared.config.server_side_encryption);
    let request = with_lock_checksum(request);
    let out = request
        .content_length(i64::try_from(stored).map_err(|_| Error::InvalidParameter("object too large".into()))?)
        .set_metadata(Some(metadata))
        .body(body)
        .send_with(&client.shared.s3_upload)
        .await
        .map_err(|e| s3_error("PutObject", e))?;
    Ok(PutObjectOutput {
        e_tag: out.e_tag,
        version_id: out.version_id,
        plaintext_length: plaintext,
        ciphertext_length: stored,
    })
}

/// A PutObject with Object Lock settings carries a checksum, as S3
/// requires (`Content-MD5` or `x-amz-sdk-checksum-algorithm`): CRC32 over
/// the ciphertext, unless the request names its own algorithm.
fn with_lock_checksum(request: PutObjectInputBuilder) -> PutObjectInputBuilder {
    let locked = request.get_object_lock_mode().is_some()
        || request.get_object_lock_retain_until_date().is_some()
        || request.get_object_lock_legal_hold_status().is_some();
    if locked && request.get_checksum_algorithm().is_none() {
        request.checksum_algorithm(ChecksumAlgorithm::Crc32)
    } else {
        request
    }
}

/// Reads up to `size` bytes (fewer only at the end of the stream).
pub(crate) async fn read_part(reader: &mut (dyn tokio::io::AsyncRead + Send + Unpin), size: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(usize::MAX).min(64 << 20));
    reader.take(size).read_to_end(&mut buf).await?;
    Ok(buf)
}
