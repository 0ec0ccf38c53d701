//! Single-request uploads.

use aws_sdk_s3::operation::put_object::builders::PutObjectInputBuilder;
use aws_sdk_s3::primitives::ByteStream;

use crate::context::EncryptionContext;
use crate::error::Result;
use crate::object::NewObject;
use crate::object::envelope::FLAG_END_MARKED;
use crate::object::{PartEncryptor, SealedObject, ciphertext_len};
use crate::s3::body::{Body, encrypting_body};
use crate::s3::request::put_request;
use crate::s3::s3ec::put_s3ec;
use crate::s3::write::{ObjectHeaders, PutObjectOutput, send_put};
use crate::s3::{Client, WriteFormat};

/// Builder of a single-request upload. See [`Client::put_object`].
#[derive(Debug)]
pub struct PutObject {
    client: Client,
    bucket: String,
    key: String,
    body: Option<Body>,
    content_length: Option<u64>,
    context: EncryptionContext,
    headers: ObjectHeaders,
    request: PutObjectInputBuilder,
}

impl PutObject {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            bucket: String::new(),
            key: String::new(),
            body: None,
            content_length: None,
            context: EncryptionContext::new(),
            headers: ObjectHeaders::default(),
            request: PutObjectInputBuilder::default(),
        }
    }

    /// The rest of the request, as an `aws-sdk-s3` template: tagging,
    /// storage class, ACL and grants, Object Lock, SSE-S3/SSE-KMS, expected
    /// bucket owner, request payer, `Expires`, `If-Match`/`If-None-Match`
    /// ... are sent as set there. Bucket, key, headers and metadata given to
    /// this builder win over the template's. Fields that describe the body
    /// (body, length, checksums, `Content-MD5`) and SSE-C are refused with
    /// [`Error::UnsupportedRequestField`](crate::Error::UnsupportedRequestField).
    /// A body of unknown length that turns into a multipart upload carries
    /// the same fields (the conditions on its completion).
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

    /// The plaintext length of a streamed body. Without it, a streamed body
    /// is buffered up to the part size and uploaded in parts if larger.
    pub fn content_length(mut self, len: u64) -> Self {
        self.content_length = Some(len);
        self
    }

    /// Adds an encryption context pair (stored in the envelope, bound to
    /// the data key).
    pub fn context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// `Content-Type` of the plaintext.
    pub fn content_type(mut self, v: impl Into<String>) -> Self {
        self.headers.content_type = Some(v.into());
        self
    }

    /// Adds a user metadata pair.
    pub fn metadata(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.metadata.insert(k.into(), v.into());
        self
    }

    /// Sets all standard headers and user metadata at once.
    pub fn headers(mut self, headers: ObjectHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// Encrypts and uploads.
    pub async fn send(self) -> Result<PutObjectOutput> {
        let body = self.body.unwrap_or(Body::Bytes(bytes::Bytes::new()));
        let request = put_request(self.request, &self.bucket, &self.key, &self.headers)?;
        let len = self.content_length.or(body.known_len());
        if self.client.shared.config.write_format == WriteFormat::S3ecV3 {
            return put_s3ec(&self.client, &self.context, request, body, len).await.map(|(out, _)| out);
        }
        match len {
            Some(len) => put_sealed(&self.client, &self.context, request, body, len).await,
            None => {
                let out = self.client.upload().body(body).with_context(self.context).request(request).send().await?;
                Ok(PutObjectOutput {
                    e_tag: out.e_tag,
                    version_id: out.version_id,
                    plaintext_length: out.plaintext_length,
                    ciphertext_length: out.ciphertext_length,
                })
            }
        }
    }
}

/// Uploads `len` plaintext bytes from `body` as one encrypted object, as
/// `request` (checked, its target and headers set) asks.
pub(crate) async fn put_sealed(
    client: &Client,
    context: &EncryptionContext,
    request: PutObjectInputBuilder,
    body: Body,
    len: u64,
) -> Result<PutObjectOutput> {
    let sh = &client.shared;
    let f = sh.config.frame_length;
    let bucket = request.get_bucket().clone().unwrap_or_default();
    let key = request.get_key().clone().unwrap_or_default();
    let sealed = SealedObject::create(
        sh.cmm.as_ref(),
        sh.config.backend,
        NewObject {
            bucket: &bucket,
            key: &key,
            context,
            suite: sh.config.suite,
            frame_length: f,
            flags: FLAG_END_MARKED,
            part_frames: 0,
            plaintext_length: Some(len),
        },
    )
    .await?;
    let mut metadata = request.get_metadata().clone().unwrap_or_default();
    client.attach_envelope(&bucket, &mut metadata, &sealed.envelope).await?;
    let enc = PartEncryptor::new(sealed.key.clone(), 0, f, true, Some(len))?;
    let c_len = ciphertext_len(len, u64::from(f));
    let stream = ByteStream::from_body_1_x(encrypting_body(body.into_reader(), enc, c_len));
    send_put(client, request, metadata, stream, len, c_len).await
}
