//! Envelopes that do not fit in object metadata: stored in a sidecar
//! object, with a pointer in the data object's metadata (`docs/FORMAT.md`
//! section 2.1).
//!
//! The sidecar's key is content-addressed: `.s3seal/envelopes/<hex
//! SHA-256 of the envelope bytes>`, its body the envelope bytes, and the
//! data object's metadata `s3seal-envelope-ref` holds the same hex digest.
//! A reader fetches the sidecar, checks its digest against the pointer, and
//! then treats the envelope exactly as an inline one (whose header tag binds
//! it to the bucket and key, so a swapped sidecar cannot decrypt).

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::object::Envelope;
use crate::object::envelope::METADATA_KEY;
use crate::s3::sse::with_sse_default;
use crate::s3::{Client, MAX_USER_METADATA, check_metadata_size, s3_error};

/// User-metadata key of the pointer to a sidecar envelope.
pub const SIDECAR_REF_KEY: &str = "s3seal-envelope-ref";
/// Key prefix of sidecar objects.
pub const SIDECAR_PREFIX: &str = ".s3seal/envelopes/";
/// The largest sidecar a reader accepts.
const MAX_SIDECAR: u64 = 1024 * 1024;

fn metadata_size(meta: &HashMap<String, String>) -> usize {
    meta.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// The sidecar key for a pointer value, after checking its form.
fn sidecar_key(pointer: &str) -> Result<String> {
    if pointer.len() != 64 || !pointer.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(Error::malformed(format!("{SIDECAR_REF_KEY} is not a SHA-256 hex digest")));
    }
    Ok(format!("{SIDECAR_PREFIX}{pointer}"))
}

impl Client {
    /// Puts `envelope` into `metadata`; if metadata would then exceed S3's
    /// limit, stores the envelope in a sidecar object instead and puts a
    /// pointer to it. Returns the sidecar's key when one was written.
    pub(crate) async fn attach_envelope(
        &self,
        bucket: &str,
        metadata: &mut HashMap<String, String>,
        envelope: &Envelope,
    ) -> Result<Option<String>> {
        metadata.remove(SIDECAR_REF_KEY);
        metadata.insert(METADATA_KEY.to_string(), envelope.to_metadata_value()?);
        if metadata_size(metadata) <= MAX_USER_METADATA {
            return Ok(None);
        }
        metadata.remove(METADATA_KEY);
        let bytes = envelope.to_bytes()?;
        let pointer = hex::encode(Sha256::digest(&bytes));
        metadata.insert(SIDECAR_REF_KEY.to_string(), pointer.clone());
        check_metadata_size(metadata)?;
        let key = sidecar_key(&pointer)?;
        self.put_own_object(bucket, &key, bytes).await?;
        tracing::debug!(bucket, sidecar = %key, "envelope stored in a sidecar object");
        Ok(Some(key))
    }

    /// Stores one of s3seal's own objects (under `.s3seal/`: a sidecar, a
    /// final record) as it is: no envelope, no metadata.
    pub(crate) async fn put_own_object(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<()> {
        with_sse_default!(self.shared.s3.put_object(), &self.shared.config.server_side_encryption)
            .bucket(bucket)
            .key(key)
            .content_type("application/octet-stream")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| s3_error("PutObject", e))?;
        Ok(())
    }

    /// Takes the envelope out of an object's `metadata`: inline, or from
    /// the sidecar it points to. `None` when the object has neither.
    pub(crate) async fn detach_envelope(
        &self,
        bucket: &str,
        metadata: &mut HashMap<String, String>,
    ) -> Result<Option<Envelope>> {
        let pointer = metadata.remove(SIDECAR_REF_KEY);
        if let Some(v) = metadata.remove(METADATA_KEY) {
            return Envelope::from_metadata_value(&v).map(Some);
        }
        let Some(pointer) = pointer else { return Ok(None) };
        let key = sidecar_key(pointer.trim())?;
        let resp =
            self.shared.s3_read.get_object().bucket(bucket).key(&key).send().await.map_err(|e| {
                match s3_error("GetObject", e) {
                    Error::S3 { status: Some(404), .. } => {
                        Error::malformed(format!("the object's envelope sidecar s3://{bucket}/{key} is missing"))
                    }
                    other => other,
                }
            })?;
        let mut bytes = Vec::new();
        resp.body.into_async_read().take(MAX_SIDECAR + 1).read_to_end(&mut bytes).await?;
        if bytes.len() as u64 > MAX_SIDECAR {
            return Err(Error::malformed(format!("the envelope sidecar {key} is larger than {MAX_SIDECAR} bytes")));
        }
        if hex::encode(Sha256::digest(&bytes)) != pointer.trim() {
            return Err(Error::malformed(format!(
                "the envelope sidecar {key} does not match its digest (it was altered or replaced)"
            )));
        }
        Envelope::parse(&bytes).map(Some)
    }

    /// The stored user metadata of `bucket`/`key` (a HEAD of the stored
    /// object), for [`Client::delete_sidecars`] after a delete.
    pub async fn stored_metadata(&self, bucket: &str, key: &str) -> Result<HashMap<String, String>> {
        let head =
            self.shared.s3.head_object().bucket(bucket).key(key).send().await.map_err(|e| s3_error("HeadObject", e))?;
        Ok(head.metadata().cloned().unwrap_or_default())
    }

    /// Whether `bucket` keeps (or has kept) object versions, so that a
    /// deleted object may still be read or restored. Versioning that was
    /// ever enabled counts, as does not being able to tell; a server
    /// without versioning support (`NotImplemented`) does not.
    async fn may_keep_versions(&self, bucket: &str) -> bool {
        match self.shared.s3.get_bucket_versioning().bucket(bucket).send().await {
            Ok(out) => out.status().is_some(),
            Err(e) => {
                use aws_sdk_s3::error::ProvideErrorMetadata;
                if e.as_service_error().and_then(|s| s.code()) == Some("NotImplemented") {
                    return false;
                }
                // A successful answer the SDK cannot decode: moto answers
                // for a never-versioned bucket with an empty element of
                // another name. Without a `Status` in it, nothing is
                // versioned.
                e.raw_response().is_none_or(|r| {
                    r.status().as_u16() != 200
                        || r.body().bytes().is_none_or(|b| b.windows(8).any(|w| w == b"<Status>"))
                })
            }
        }
    }

    /// After the objects whose stored `metadata` these were (see
    /// [`Client::stored_metadata`]) were deleted, deletes the sidecars
    /// holding their envelopes, for those that had one. Returns how many
    /// sidecars were deleted.
    ///
    /// Sidecars are kept in buckets that keep versions: an older version
    /// of an object, or an object restored from behind its delete marker,
    /// still needs its envelope. The bucket's versioning is asked once.
    pub async fn delete_sidecars<'a>(
        &self,
        bucket: &str,
        metadata: impl IntoIterator<Item = &'a HashMap<String, String>>,
    ) -> Result<usize> {
        let keys = metadata
            .into_iter()
            .filter(|m| !m.contains_key(METADATA_KEY))
            .filter_map(|m| m.get(SIDECAR_REF_KEY))
            .map(|pointer| sidecar_key(pointer.trim()))
            .collect::<Result<Vec<String>>>()?;
        if keys.is_empty() || self.may_keep_versions(bucket).await {
            return Ok(0);
        }
        for key in &keys {
            self.shared
                .s3
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| s3_error("DeleteObject", e))?;
        }
        Ok(keys.len())
    }
}
