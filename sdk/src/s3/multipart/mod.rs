//! Multipart uploads: parts sealed independently (the part number is in
//! every frame's nonce), so they may be sent in any order, concurrently.

use std::sync::Arc;

use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadInputBuilder;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadInputBuilder;
use aws_sdk_s3::operation::upload_part::builders::UploadPartInputBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart as S3Part};

use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::object::NewObject;
use crate::object::envelope::{FLAG_END_MARKED, FLAG_MULTIPART, FLAG_RECORDED};
use crate::object::{Envelope, PartEncryptor, SealedObject, ciphertext_len};
use crate::s3::body::{Body, encrypting_body};
use crate::s3::request::{check_complete, check_create, target, with_object_headers};
use crate::s3::sse::with_sse_default;
use crate::s3::write::ObjectHeaders;
use crate::s3::{Client, s3_error};

mod copy_part;
mod list_parts;
mod upload;

pub use copy_part::{UploadPartCopy, UploadPartCopyOutput};
use list_parts::ListPartsRootCompat;
pub use upload::{Upload, UploadOutput};

/// Bytes in an upload's binding tag ([`MultipartUpload::binding_tag`]).
pub const UPLOAD_BINDING_TAG_LEN: usize = crate::object::seal::UPLOAD_BINDING_TAG_LEN;

/// Builder of a multipart upload. See [`Client::create_multipart_upload`].
#[derive(Debug)]
pub struct CreateMultipartUpload {
    client: Client,
    bucket: String,
    key: String,
    context: EncryptionContext,
    headers: ObjectHeaders,
    request: CreateMultipartUploadInputBuilder,
    flags: u8,
    part_frames: u32,
}

/// A part that was uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// Part number, 1 to 10000.
    pub part_number: u32,
    /// The store's ETag of the part.
    pub e_tag: Option<String>,
    /// Plaintext bytes in the part.
    pub plaintext_length: u64,
}

/// An open multipart upload. Cheap to clone; parts may be uploaded from
/// several tasks at once.
#[derive(Debug, Clone)]
pub struct MultipartUpload {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    sealed: Arc<SealedObject>,
}

impl CreateMultipartUpload {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            bucket: String::new(),
            key: String::new(),
            context: EncryptionContext::new(),
            headers: ObjectHeaders::default(),
            request: CreateMultipartUploadInputBuilder::default(),
            flags: FLAG_MULTIPART | FLAG_RECORDED,
            part_frames: 0,
        }
    }

    bucket_and_key!();

    /// Adds an encryption context pair.
    pub fn context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// Standard headers and user metadata.
    pub fn headers(mut self, headers: ObjectHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// The rest of the request, as an `aws-sdk-s3` template (tagging,
    /// storage class, ACL, Object Lock, SSE-S3/SSE-KMS, ...; see
    /// [`PutObject::request`](crate::s3::PutObject::request)). Checksum
    /// settings and SSE-C are refused.
    pub fn request(mut self, template: CreateMultipartUploadInputBuilder) -> Self {
        self.request = template;
        self
    }

    /// Promises that every part but the last holds `part_size` plaintext
    /// bytes (a multiple of the frame length), which lets ranged reads find
    /// frames without probing.
    pub fn part_size_hint(mut self, part_size: u64) -> Self {
        let f = u64::from(self.client.shared.config.frame_length);
        self.part_frames = u32::try_from(part_size / f).unwrap_or(0);
        self
    }

    /// Promises that the last part will be sent with
    /// [`MultipartUpload::upload_last_part`], so readers detect the loss of
    /// whole trailing parts from the frames alone. Without it, the upload
    /// is *recorded*: completing it first stores a final record of the
    /// object's shape (`.s3seal/records/`), which readers require.
    pub fn end_marked(mut self) -> Self {
        self.flags = (self.flags | FLAG_END_MARKED) & !FLAG_RECORDED;
        self
    }

    /// Obtains the data key and starts the upload.
    pub async fn send(self) -> Result<MultipartUpload> {
        let sh = &self.client.shared;
        if sh.config.write_format == crate::s3::WriteFormat::S3ecV3 {
            return Err(Error::InvalidParameter(
                "S3 Encryption Client objects are one AES-GCM stream whose parts must be encrypted in sequence: \
                 write them with put_object or upload"
                    .into(),
            ));
        }
        check_create(&self.request)?;
        let t = &self.request;
        let (bucket, key) = target(&self.bucket, &self.key, (t.get_bucket().as_ref(), t.get_key().as_ref()));
        let sealed = SealedObject::create(
            sh.cmm.as_ref(),
            sh.config.backend,
            NewObject {
                bucket: &bucket,
                key: &key,
                context: &self.context,
                suite: sh.config.suite,
                frame_length: sh.config.frame_length,
                flags: self.flags,
                part_frames: self.part_frames,
                plaintext_length: None,
            },
        )
        .await?;
        let request = with_object_headers!(self.request, &self.headers).bucket(&bucket).key(&key);
        let mut metadata = request.get_metadata().clone().unwrap_or_default();
        self.client.attach_envelope(&bucket, &mut metadata, &sealed.envelope).await?;
        let out = with_sse_default!(request, &sh.config.server_side_encryption)
            .set_metadata(Some(metadata))
            .send_with(&sh.s3)
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", e))?;
        let upload_id = out.upload_id.ok_or_else(|| Error::S3 {
            operation: "CreateMultipartUpload",
            status: None,
            code: None,
            message: "no upload id in the response".into(),
        })?;
        Ok(MultipartUpload { client: self.client.clone(), bucket, key, upload_id, sealed: Arc::new(sealed) })
    }
}

impl MultipartUpload {
    /// Resumes an upload started elsewhere, from its envelope (for
    /// stateless servers that carry the envelope themselves).
    pub async fn resume(
        client: &Client,
        bucket: impl Into<String>,
        key: impl Into<String>,
        upload_id: impl Into<String>,
        envelope: Envelope,
        context: &EncryptionContext,
    ) -> Result<Self> {
        let (bucket, key) = (bucket.into(), key.into());
        let sealed = client.open_envelope(envelope, &bucket, &key, context).await?;
        Ok(Self { client: client.clone(), bucket, key, upload_id: upload_id.into(), sealed: Arc::new(sealed) })
    }

    /// The tag that binds this upload's envelope to its store upload id,
    /// bucket and key, made with the upload's data key (see
    /// [`verify_binding_tag`](Self::verify_binding_tag)). A stateless
    /// server hands it out with the envelope.
    pub fn binding_tag(&self) -> Result<[u8; UPLOAD_BINDING_TAG_LEN]> {
        self.sealed.upload_binding_tag(&self.upload_id, &self.bucket, &self.key)
    }

    /// Checks a tag made by [`binding_tag`](Self::binding_tag) for this
    /// upload: [`Error::Authentication`] unless it was made for this
    /// envelope's data key, this store upload id, this bucket and this key.
    /// A resumed upload's id and envelope come from the client: check
    /// before anything is sent to the store.
    pub fn verify_binding_tag(&self, tag: &[u8]) -> Result<()> {
        self.sealed.check_upload_binding_tag(&self.upload_id, &self.bucket, &self.key, tag)
    }

    /// The store's upload id.
    pub fn upload_id(&self) -> &str {
        &self.upload_id
    }

    /// The object's envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.sealed.envelope
    }

    /// Encrypts and uploads part `part_number` (1 to 10000) of `len`
    /// plaintext bytes. Every part but the last must hold a multiple of the
    /// frame length; this is checked when the upload completes.
    pub async fn upload_part(&self, part_number: u32, body: impl Into<Body>, len: u64) -> Result<CompletedPart> {
        self.part(part_number, body.into(), len, false).await
    }

    /// [`upload_part`](Self::upload_part) with who sends it: the
    /// template's `x-amz-expected-bucket-owner` and `x-amz-request-payer`
    /// go with the part (nothing else of the template is used).
    pub async fn upload_part_as(
        &self,
        part_number: u32,
        body: impl Into<Body>,
        len: u64,
        template: &UploadPartInputBuilder,
    ) -> Result<CompletedPart> {
        let who = UploadPartInputBuilder::default()
            .set_expected_bucket_owner(template.get_expected_bucket_owner().clone())
            .set_request_payer(template.get_request_payer().clone());
        self.part_with(part_number, body.into(), len, false, who).await
    }

    /// Uploads the last part, marking the end of the object (for uploads
    /// created with [`CreateMultipartUpload::end_marked`]).
    pub async fn upload_last_part(&self, part_number: u32, body: impl Into<Body>, len: u64) -> Result<CompletedPart> {
        if !self.sealed.envelope.is_end_marked() {
            return Err(Error::InvalidParameter("the upload was not created end-marked".into()));
        }
        self.part(part_number, body.into(), len, true).await
    }

    pub(super) async fn part(&self, part_number: u32, body: Body, len: u64, last: bool) -> Result<CompletedPart> {
        self.part_with(part_number, body, len, last, UploadPartInputBuilder::default()).await
    }

    /// [`part`](Self::part) with the rest of the UploadPart request as a
    /// template (request payer, expected bucket owner: nothing that
    /// describes the body).
    pub(super) async fn part_with(
        &self,
        part_number: u32,
        body: Body,
        len: u64,
        last: bool,
        template: UploadPartInputBuilder,
    ) -> Result<CompletedPart> {
        check_part_number(part_number)?;
        let sh = &self.client.shared;
        let f = self.sealed.envelope.frame_length;
        let enc = PartEncryptor::new(self.sealed.key.clone(), part_number, f, last, Some(len))?;
        let c_len = ciphertext_len(len, u64::from(f));
        let out = template
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(i32::try_from(part_number).map_err(|_| Error::InvalidParameter("part number".into()))?)
            .content_length(i64::try_from(c_len).map_err(|_| Error::InvalidParameter("part too large".into()))?)
            .body(ByteStream::from_body_1_x(encrypting_body(body.into_reader(), enc, c_len)))
            .send_with(&sh.s3_upload)
            .await
            .map_err(|e| s3_error("UploadPart", e))?;
        Ok(CompletedPart { part_number, e_tag: out.e_tag, plaintext_length: len })
    }

    /// Completes the upload. Parts must be numbered 1..N without gaps, and
    /// every part but the last must hold a multiple of the frame length
    /// (as recorded in each [`CompletedPart`]); otherwise the upload stays
    /// open and an error says why. An upload not created
    /// [`end_marked`](CreateMultipartUpload::end_marked) first stores its
    /// final record (the part count and length, authenticated), so that
    /// readers detect an object later cut at a part boundary.
    pub async fn complete(&self, parts: Vec<CompletedPart>) -> Result<CompleteOutput> {
        self.complete_with(parts, CompleteMultipartUploadInputBuilder::default()).await
    }

    /// [`complete`](Self::complete) with the rest of the request as an
    /// `aws-sdk-s3` template: `If-Match`/`If-None-Match` (enforced by the
    /// store when the object is written), request payer, expected bucket
    /// owner. The part list and checksums are the client's; SSE-C is
    /// refused.
    pub async fn complete_with(
        &self,
        mut parts: Vec<CompletedPart>,
        template: CompleteMultipartUploadInputBuilder,
    ) -> Result<CompleteOutput> {
        check_complete(&template)?;
        parts.sort_by_key(|p| p.part_number);
        let total = self.check_parts(&parts)?;
        if self.sealed.envelope.is_recorded() {
            let n = u32::try_from(parts.len()).map_err(|_| Error::InvalidParameter("too many parts".into()))?;
            self.client.put_final_record(&self.bucket, &self.sealed, n, total).await?;
        }
        let s3_parts = parts
            .iter()
            .map(|p| {
                S3Part::builder()
                    .part_number(i32::try_from(p.part_number).unwrap_or(i32::MAX))
                    .set_e_tag(p.e_tag.clone())
                    .build()
            })
            .collect();
        let out = template
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(s3_parts)).build())
            .send_with(&self.client.shared.s3)
            .await
            .map_err(|e| s3_error("CompleteMultipartUpload", e))?;
        Ok(CompleteOutput { e_tag: out.e_tag, version_id: out.version_id, plaintext_length: total })
    }

    /// Checks that sorted `parts` make an object of this format; returns
    /// its plaintext length.
    fn check_parts(&self, parts: &[CompletedPart]) -> Result<u64> {
        for (i, p) in parts.iter().enumerate() {
            if p.part_number as usize != i + 1 {
                return Err(Error::InvalidParameter(format!(
                    "parts must be numbered 1..N without gaps; found part {} at position {}",
                    p.part_number,
                    i + 1
                )));
            }
        }
        if parts.is_empty() {
            return Err(Error::InvalidParameter("an upload needs at least one part".into()));
        }
        let f = u64::from(self.sealed.envelope.frame_length);
        let mut total = 0u64;
        for (i, p) in parts.iter().enumerate() {
            let plain = p.plaintext_length;
            if i + 1 == parts.len() && plain == 0 && parts.len() > 1 {
                return Err(Error::InvalidParameter(format!(
                    "part {} is empty: only a one-part upload may have an empty last part",
                    p.part_number
                )));
            }
            if i + 1 < parts.len() && (plain == 0 || plain % f != 0) {
                return Err(Error::InvalidParameter(format!(
                    "part {} holds {plain} bytes: every part but the last must hold a non-zero multiple of the {f}-byte frame",
                    p.part_number
                )));
            }
            total += plain;
        }
        Ok(total)
    }

    /// The parts the store holds for this upload: number, ETag and
    /// plaintext size (from the stored size by the format's arithmetic).
    pub async fn stored_parts(&self) -> Result<Vec<StoredPart>> {
        let f = u64::from(self.sealed.envelope.frame_length);
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = self
                .client
                .shared
                .s3
                .list_parts()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(&self.upload_id)
                .set_part_number_marker(marker.clone())
                .customize()
                .interceptor(ListPartsRootCompat)
                .send()
                .await
                .map_err(|e| s3_error("ListParts", e))?;
            for p in resp.parts() {
                let stored = u64::try_from(p.size().unwrap_or(0)).unwrap_or(0);
                out.push(StoredPart {
                    part_number: u32::try_from(p.part_number().unwrap_or(0)).unwrap_or(0),
                    e_tag: p.e_tag().map(str::to_string),
                    stored_length: stored,
                    plaintext_length: crate::object::plaintext_len(stored, f)?,
                });
            }
            marker = resp.next_part_number_marker().map(str::to_string);
            if resp.is_truncated() != Some(true) || marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Aborts the upload, discarding its parts.
    pub async fn abort(&self) -> Result<()> {
        self.client
            .shared
            .s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await
            .map_err(|e| s3_error("AbortMultipartUpload", e))?;
        Ok(())
    }
}

/// Part numbers run from 1 to 10000.
fn check_part_number(part_number: u32) -> Result<()> {
    if !(1..=10_000).contains(&part_number) {
        return Err(Error::InvalidParameter(format!("part number {part_number} is not between 1 and 10000")));
    }
    Ok(())
}

/// A part held by the store for an open upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    /// Part number.
    pub part_number: u32,
    /// The store's ETag of the part.
    pub e_tag: Option<String>,
    /// Bytes stored (ciphertext).
    pub stored_length: u64,
    /// Plaintext bytes.
    pub plaintext_length: u64,
}

/// Result of completing a multipart upload.
#[derive(Debug, Clone)]
pub struct CompleteOutput {
    /// The store's ETag.
    pub e_tag: Option<String>,
    /// Version id.
    pub version_id: Option<String>,
    /// Plaintext bytes in the object.
    pub plaintext_length: u64,
}

#[cfg(test)]
mod binding_tests {
    use crate::context::EncryptionContext;
    use crate::crypto::aead::Backend;
    use crate::materials::DataKey;
    use crate::object::{NewObject, ObjectSuite, SealedObject};

    fn sealed(data_key: u8, message_id: u8) -> SealedObject {
        let ctx = EncryptionContext::new();
        let new = NewObject {
            bucket: "b",
            key: "k",
            context: &ctx,
            suite: ObjectSuite::default(),
            frame_length: 4096,
            flags: 0,
            part_frames: 0,
            plaintext_length: None,
        };
        SealedObject::from_parts(Backend::default(), new, DataKey::new(vec![data_key; 32]), vec![], [message_id; 32])
            .unwrap()
    }

    /// The tag binds the data key (and message id) to the store's upload
    /// id, the bucket and the key: changing any of them fails the check.
    #[test]
    fn the_binding_tag_names_its_upload_bucket_and_key() {
        let a = sealed(1, 1);
        let tag = a.upload_binding_tag("up-1", "b", "k").unwrap();
        a.check_upload_binding_tag("up-1", "b", "k", &tag).unwrap();
        for (id, bucket, key) in [("up-2", "b", "k"), ("up-1", "c", "k"), ("up-1", "b", "k2"), ("up-1b", "", "k")] {
            let e = a.check_upload_binding_tag(id, bucket, key, &tag).unwrap_err();
            assert!(matches!(e, crate::Error::Authentication(_)), "{id} {bucket} {key}: {e:?}");
        }
        // Lengths are bound: moving bytes between fields changes the tag.
        assert_ne!(a.upload_binding_tag("ab", "c", "k").unwrap(), a.upload_binding_tag("a", "bc", "k").unwrap());
        // Another upload's envelope (another data key or message id) does not accept it.
        assert!(sealed(2, 1).check_upload_binding_tag("up-1", "b", "k", &tag).is_err());
        assert!(sealed(1, 2).check_upload_binding_tag("up-1", "b", "k", &tag).is_err());
        assert!(a.check_upload_binding_tag("up-1", "b", "k", &tag[..31]).is_err());
    }
}
