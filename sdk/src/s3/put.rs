//! Single-request uploads.

use aws_sdk_s3::primitives::ByteStream;

use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::object::NewObject;
use crate::object::envelope::FLAG_END_MARKED;
use crate::object::{PartEncryptor, SealedObject, ciphertext_len};
use crate::s3::body::{Body, encrypting_body};
use crate::s3::s3ec::put_s3ec;
use crate::s3::write::{ObjectHeaders, PutObjectOutput, WriteConditions, send_put};
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
    conditions: WriteConditions,
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
            conditions: WriteConditions::default(),
        }
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

    /// Conditions the store checks when the object lands (`If-Match`,
    /// `If-None-Match: *`). Honoured by single-request uploads in the
    /// s3seal format (a known length); any other upload with conditions is
    /// refused ([`Error::InvalidParameter`]), never sent without them.
    pub fn conditions(mut self, conditions: WriteConditions) -> Self {
        self.conditions = conditions;
        self
    }

    /// Encrypts and uploads.
    pub async fn send(self) -> Result<PutObjectOutput> {
        let body = self.body.unwrap_or(Body::Bytes(bytes::Bytes::new()));
        let len = self.content_length.or(body.known_len());
        if !self.conditions.is_empty()
            && (self.client.shared.config.write_format == WriteFormat::S3ecV3 || len.is_none())
        {
            return Err(Error::InvalidParameter("conditional writes need a known length and the s3seal format".into()));
        }
        if self.client.shared.config.write_format == WriteFormat::S3ecV3 {
            let len = self.content_length.or(body.known_len());
            return put_s3ec(&self.client, &self.bucket, &self.key, &self.context, &self.headers, body, len)
                .await
                .map(|(out, _)| out);
        }
        match self.content_length.or(body.known_len()) {
            Some(len) => {
                let conditions = Some(&self.conditions).filter(|c| !c.is_empty());
                put_sealed(&self.client, &self.bucket, &self.key, &self.context, &self.headers, body, len, conditions)
                    .await
            }
            None => {
                let out = self
                    .client
                    .upload()
                    .bucket(self.bucket)
                    .key(self.key)
                    .body(body)
                    .with_context(self.context)
                    .headers(self.headers)
                    .send()
                    .await?;
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

/// Uploads `len` plaintext bytes from `body` as one encrypted object, if
/// the store finds `conditions` hold.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn put_sealed(
    client: &Client,
    bucket: &str,
    key: &str,
    context: &EncryptionContext,
    headers: &ObjectHeaders,
    body: Body,
    len: u64,
    conditions: Option<&WriteConditions>,
) -> Result<PutObjectOutput> {
    let sh = &client.shared;
    let f = sh.config.frame_length;
    let sealed = SealedObject::create(
        sh.cmm.as_ref(),
        sh.config.backend,
        NewObject {
            bucket,
            key,
            context,
            suite: sh.config.suite,
            frame_length: f,
            flags: FLAG_END_MARKED,
            part_frames: 0,
            plaintext_length: Some(len),
        },
    )
    .await?;
    let mut metadata = headers.metadata.clone();
    client.attach_envelope(bucket, &mut metadata, &sealed.envelope).await?;
    let enc = PartEncryptor::new(sealed.key.clone(), 0, f, true, Some(len))?;
    let c_len = ciphertext_len(len, u64::from(f));
    let stream = ByteStream::from_body_1_x(encrypting_body(body.into_reader(), enc, c_len));
    let conditions = conditions.cloned().unwrap_or_default();
    send_put(client, bucket, key, headers, metadata, stream, len, c_len, &conditions).await
}
