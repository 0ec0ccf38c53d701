//! UploadPartCopy: a part of an upload made from a plaintext range of
//! another encrypted object.
//!
//! The format allows no server-side shortcut: every frame's nonce holds
//! its part number and its key is bound to the object, so the source's
//! frames cannot become the part's. The source range is read through the
//! decrypting reader (each frame authenticated before its bytes are
//! released; an S3 Encryption Client object authenticated whole first) and
//! streamed into the part's encrypting body: memory stays bounded whatever
//! the part's size.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use aws_sdk_s3::operation::upload_part::builders::UploadPartInputBuilder;
use aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyInputBuilder;
use aws_sdk_s3::primitives::DateTime;
use tokio::io::{AsyncRead, ReadBuf};

use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::object::ByteRange;
use crate::s3::body::{Body, ObjectBody};
use crate::s3::copy::{copy_source_conditions, copy_source_head};
use crate::s3::head::Conditions;
use crate::s3::request::check_part_copy;

use super::{CompletedPart, MultipartUpload, check_part_number};

/// Largest part S3 copies: 5 GiB.
const MAX_COPY_PART: u64 = 5 * 1024 * 1024 * 1024;

/// Builder of a part copied from another object. See
/// [`MultipartUpload::upload_part_copy`].
#[derive(Debug)]
pub struct UploadPartCopy {
    upload: MultipartUpload,
    part_number: u32,
    source_bucket: String,
    source_key: String,
    source_version_id: Option<String>,
    range: Option<(u64, u64)>,
    context: EncryptionContext,
    request: UploadPartCopyInputBuilder,
    last: bool,
}

/// A part copied from another object.
#[derive(Debug, Clone)]
pub struct UploadPartCopyOutput {
    /// The part as [`MultipartUpload::complete`] takes it (its store ETag
    /// and plaintext length).
    pub part: CompletedPart,
    /// When the part was stored (the store's UploadPart answer carries no
    /// date: this client's clock when the answer came).
    pub last_modified: DateTime,
    /// The version of the source that was read, as the store named it.
    pub source_version_id: Option<String>,
    /// The store's ETag of the source that was read.
    pub source_e_tag: Option<String>,
}

impl MultipartUpload {
    /// Uploads part `part_number` (1 to 10000) from a plaintext range of
    /// another encrypted object (s3seal or S3 Encryption Client): read,
    /// authenticated and decrypted, then sealed again as this upload's
    /// part, streaming. Name the source with
    /// [`UploadPartCopy::source`]; without
    /// [`UploadPartCopy::source_range`] the whole source is copied. As for
    /// [`upload_part`](Self::upload_part), every part but the last must
    /// hold a multiple of the frame length (checked on completion).
    pub fn upload_part_copy(&self, part_number: u32) -> UploadPartCopy {
        UploadPartCopy {
            upload: self.clone(),
            part_number,
            source_bucket: String::new(),
            source_key: String::new(),
            source_version_id: None,
            range: None,
            context: EncryptionContext::new(),
            request: UploadPartCopyInputBuilder::default(),
            last: false,
        }
    }
}

impl UploadPartCopy {
    /// The object to copy from.
    pub fn source(mut self, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        self.source_bucket = bucket.into();
        self.source_key = key.into();
        self
    }

    /// A specific version of the source.
    pub fn source_version_id(mut self, version_id: impl Into<String>) -> Self {
        self.source_version_id = Some(version_id.into());
        self
    }

    /// The plaintext bytes `first..=last` of the source (S3's
    /// `x-amz-copy-source-range: bytes=first-last`); both must lie within
    /// the source, else the copy fails with [`Error::InvalidRange`].
    pub fn source_range(mut self, first: u64, last: u64) -> Self {
        self.range = Some((first, last));
        self
    }

    /// Requires an encryption context pair of the source.
    pub fn context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// The rest of the request, as an `aws-sdk-s3` template: the
    /// `x-amz-copy-source-if-*` conditions on the source (checked on the
    /// source's HEAD as S3 weighs them, `412` when they fail; the read
    /// that follows is pinned to the ETag that HEAD saw, so a source
    /// replaced in between fails the copy), request payer and expected
    /// bucket owner (sent with the part). The source, its range, the
    /// target and the part number are given to this builder (refused in
    /// the template), as are SSE-C and the source's expected owner.
    pub fn request(mut self, template: UploadPartCopyInputBuilder) -> Self {
        self.request = template;
        self
    }

    /// Seals the part as the last of an end-marked upload (see
    /// [`MultipartUpload::upload_last_part`]).
    pub fn last_part(mut self) -> Self {
        self.last = true;
        self
    }

    /// Reads the source range and uploads it as the part.
    pub async fn send(self) -> Result<UploadPartCopyOutput> {
        check_part_copy(&self.request)?;
        check_part_number(self.part_number)?;
        if self.last && !self.upload.sealed.envelope.is_end_marked() {
            return Err(Error::InvalidParameter("the upload was not created end-marked".into()));
        }
        let t = &self.request;
        let conditions = copy_source_conditions!(t);
        let (bucket, key) = (&self.source_bucket, &self.source_key);
        let head =
            copy_source_head(&self.upload.client, bucket, key, self.source_version_id.clone(), conditions).await?;
        let p = head.content_length;
        let len = match self.range {
            None => p,
            Some((first, last)) if first <= last && last < p => last - first + 1,
            Some(_) => return Err(Error::InvalidRange { length: p }),
        };
        if len > MAX_COPY_PART {
            return Err(Error::InvalidParameter(format!(
                "a copied part holds at most {MAX_COPY_PART} bytes; this one would hold {len}"
            )));
        }
        let source = self.read_source(head.e_tag.clone(), len).await?;
        let (reader, failure) = Recording::new(source);
        let template = UploadPartInputBuilder::default()
            .set_request_payer(t.get_request_payer().clone())
            .set_expected_bucket_owner(t.get_expected_bucket_owner().clone());
        let stored = self.upload.part_with(self.part_number, Body::from_reader(reader), len, self.last, template).await;
        // A source that failed while it streamed fails the part for that
        // reason (the upload only saw its body end early).
        let part = match (stored, failure.take()) {
            (Err(_), Some(cause)) => return Err(cause),
            (Err(e), None) => return Err(e),
            (Ok(_), Some(cause)) => return Err(cause),
            (Ok(part), None) => part,
        };
        Ok(UploadPartCopyOutput {
            part,
            last_modified: DateTime::from(SystemTime::now()),
            source_version_id: head.version_id,
            source_e_tag: head.e_tag,
        })
    }

    /// The source's plaintext (the range, or all of it), pinned to the
    /// ETag its HEAD saw; fails unless it holds `len` bytes.
    async fn read_source(&self, e_tag: Option<String>, len: u64) -> Result<ObjectBody> {
        let mut get = self
            .upload
            .client
            .get_object()
            .bucket(&self.source_bucket)
            .key(&self.source_key)
            .conditions(Conditions { if_match: e_tag, ..Conditions::default() });
        for (k, v) in &self.context {
            get = get.context(k, v);
        }
        if let Some(v) = &self.source_version_id {
            get = get.version_id(v);
        }
        if let Some((first, last)) = self.range {
            get = get.byte_range(ByteRange::FromTo(first, last));
        }
        let out = get.send().await?;
        if out.content_length != len {
            return Err(Error::malformed("the copy source changed while it was read"));
        }
        Ok(out.body)
    }
}

/// The first error of a reader, kept for the caller.
#[derive(Debug, Clone, Default)]
struct Failure(Arc<Mutex<Option<Error>>>);

impl Failure {
    fn take(&self) -> Option<Error> {
        self.0.lock().ok().and_then(|mut f| f.take())
    }

    fn record(&self, e: &io::Error) {
        let cause = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()).cloned();
        let cause = cause.unwrap_or_else(|| Error::io_other(e.to_string()));
        if let Ok(mut f) = self.0.lock()
            && f.is_none()
        {
            *f = Some(cause);
        }
    }
}

/// The source's plaintext as the part's body, recording why it failed.
struct Recording {
    inner: ObjectBody,
    failure: Failure,
}

impl Recording {
    fn new(inner: ObjectBody) -> (Self, Failure) {
        let failure = Failure::default();
        (Self { inner, failure: failure.clone() }, failure)
    }
}

impl AsyncRead for Recording {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Err(e)) = &r {
            this.failure.record(e);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_the_sdk_error_it_carries() {
        let f = Failure::default();
        f.record(&io::Error::new(io::ErrorKind::InvalidData, Error::Authentication("object frame")));
        f.record(&io::Error::other("later"));
        assert!(matches!(f.take(), Some(Error::Authentication(_))));
        assert!(f.take().is_none());
        f.record(&io::Error::other("plain"));
        assert!(matches!(f.take(), Some(Error::Io(_))));
    }
}
