//! The high-level upload: one request for a small body, parallel parts
//! for a large one.

use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadInputBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectInputBuilder;
use tokio::task::JoinSet;

use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::object::ciphertext_len;
use crate::s3::Client;
use crate::s3::body::Body;
use crate::s3::put::put_sealed;
use crate::s3::request::{complete_from_put, create_from_put, put_request};
use crate::s3::s3ec::put_s3ec;
use crate::s3::write::{MIN_PART, ObjectHeaders, read_part};

use super::{CompleteOutput, CompletedPart, CreateMultipartUpload, MultipartUpload};

/// Builder of a high-level upload. See [`Client::upload`].
#[derive(Debug)]
pub struct Upload {
    client: Client,
    bucket: String,
    key: String,
    body: Option<Body>,
    context: EncryptionContext,
    headers: ObjectHeaders,
    request: PutObjectInputBuilder,
}

/// Result of a high-level upload.
#[derive(Debug, Clone)]
pub struct UploadOutput {
    /// The store's ETag.
    pub e_tag: Option<String>,
    /// Version id.
    pub version_id: Option<String>,
    /// Plaintext bytes uploaded.
    pub plaintext_length: u64,
    /// Ciphertext bytes stored.
    pub ciphertext_length: u64,
    /// Parts used (0 for a single request).
    pub parts: u32,
}

impl Upload {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            bucket: String::new(),
            key: String::new(),
            body: None,
            context: EncryptionContext::new(),
            headers: ObjectHeaders::default(),
            request: PutObjectInputBuilder::default(),
        }
    }

    /// The rest of the request, as an `aws-sdk-s3` PutObject template (see
    /// [`PutObject::request`](crate::s3::PutObject::request)). When the body
    /// takes parts, its fields go to CreateMultipartUpload and its
    /// conditions (`If-Match`, `If-None-Match`) to CompleteMultipartUpload.
    pub fn request(mut self, template: PutObjectInputBuilder) -> Self {
        self.request = template;
        self
    }

    bucket_and_key!();

    /// The plaintext.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Adds an encryption context pair.
    pub fn context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    pub(crate) fn with_context(mut self, context: EncryptionContext) -> Self {
        self.context = context;
        self
    }

    /// Standard headers and user metadata.
    pub fn headers(mut self, headers: ObjectHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// Reads the body, uploading in one request if it fits in one part and
    /// in parallel parts otherwise. Memory: at most `concurrency + 1` parts.
    pub async fn send(self) -> Result<UploadOutput> {
        let sh = self.client.shared.clone();
        let request = put_request(self.request, &self.bucket, &self.key, &self.headers)?;
        let body = self.body.unwrap_or(Body::Bytes(bytes::Bytes::new()));
        if sh.config.write_format == crate::s3::WriteFormat::S3ecV3 {
            let len = body.known_len();
            let (out, parts) = put_s3ec(&self.client, &self.context, request, body, len).await?;
            return Ok(UploadOutput {
                e_tag: out.e_tag,
                version_id: out.version_id,
                plaintext_length: out.plaintext_length,
                ciphertext_length: out.ciphertext_length,
                parts,
            });
        }
        let f = u64::from(sh.config.frame_length);
        let part_size = (sh.config.part_size.max(MIN_PART) / f).max(1) * f;
        let mut reader = body.into_reader();
        let first = read_part(&mut reader, part_size).await?;
        if (first.len() as u64) < part_size {
            let len = first.len() as u64;
            let out = put_sealed(&self.client, &self.context, request, first.into(), len).await?;
            return Ok(UploadOutput {
                e_tag: out.e_tag,
                version_id: out.version_id,
                plaintext_length: len,
                ciphertext_length: out.ciphertext_length,
                parts: 0,
            });
        }
        let upload = CreateMultipartUpload::new(self.client.clone())
            .request(create_from_put(&request))
            .end_marked()
            .part_size_hint(part_size);
        let upload = CreateMultipartUpload { context: self.context.clone(), ..upload }.send().await?;
        match send_parts(&upload, reader, first, part_size, sh.config.concurrency, complete_from_put(&request)).await {
            Ok(out) => Ok(UploadOutput {
                e_tag: out.e_tag,
                version_id: out.version_id,
                plaintext_length: out.plaintext_length,
                ciphertext_length: ciphertext_len(out.plaintext_length, f),
                parts: number_of_parts(out.plaintext_length, part_size),
            }),
            Err(e) => {
                let _ = upload.abort().await;
                Err(e)
            }
        }
    }
}

/// Sends the parts of `reader` (its first part read already), at most
/// `concurrency` at once, and completes the upload.
async fn send_parts(
    upload: &MultipartUpload,
    mut reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    mut current: Vec<u8>,
    part_size: u64,
    concurrency: usize,
    complete: CompleteMultipartUploadInputBuilder,
) -> Result<CompleteOutput> {
    let mut tasks: JoinSet<Result<CompletedPart>> = JoinSet::new();
    let mut done = Vec::new();
    let mut number = 1u32;
    loop {
        // Read ahead one part to learn whether this one is the last.
        let next = read_part(&mut reader, part_size).await?;
        let last = next.is_empty();
        while tasks.len() >= concurrency.max(1) {
            if let Some(r) = tasks.join_next().await {
                done.push(r.map_err(Error::io_other)??);
            }
        }
        let up = upload.clone();
        let len = current.len() as u64;
        let body = Body::from(current);
        tasks.spawn(async move { up.part(number, body, len, last).await });
        if last {
            break;
        }
        if number == 10_000 {
            return Err(Error::InvalidParameter("the stream needs more than 10000 parts: raise the part size".into()));
        }
        number += 1;
        current = next;
    }
    while let Some(r) = tasks.join_next().await {
        done.push(r.map_err(Error::io_other)??);
    }
    upload.complete_with(done, complete).await
}

fn number_of_parts(len: u64, part: u64) -> u32 {
    u32::try_from(len.div_ceil(part).max(1)).unwrap_or(u32::MAX)
}
