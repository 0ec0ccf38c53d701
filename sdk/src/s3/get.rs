//! Downloads and metadata reads, with plaintext sizes and ranges.

use aws_sdk_s3::primitives::DateTime;

use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::object::frame::FrameFlags;
use crate::object::layout::{FRAME_OVERHEAD, frame_count};
use crate::object::{
    ByteRange, Envelope, FrameDecryptor, FramePosition, SealedObject, frames_for_range, plaintext_len,
};
use crate::s3::body::ObjectBody;
use crate::s3::head::{Conditions, HeadObject, HeadObjectOutput, ReadAccount};
use crate::s3::settings::{StoredSettings, stored_settings};
use crate::s3::write::ObjectHeaders;
use crate::s3::{Client, s3_error};
use crate::s3ec::content;
use crate::s3ec::metadata::{ContentMetadata, is_s3ec_key};
use crate::s3ec::seal::open_key;

/// Builder of a download. See [`Client::get_object`].
#[derive(Debug)]
pub struct GetObject {
    client: Client,
    bucket: String,
    key: String,
    range: Option<Result<ByteRange>>,
    version_id: Option<String>,
    context: EncryptionContext,
    conditions: Conditions,
    account: ReadAccount,
}

/// A downloaded object: verified plaintext, streamed.
#[derive(Debug)]
pub struct GetObjectOutput {
    /// The plaintext (of the range, if one was asked).
    pub body: ObjectBody,
    /// Bytes in `body`.
    pub content_length: u64,
    /// `bytes first-last/total` in plaintext offsets, for ranged reads.
    pub content_range: Option<String>,
    /// Plaintext size of the whole object.
    pub object_size: u64,
    /// The store's ETag (of the ciphertext).
    pub e_tag: Option<String>,
    /// Last modification time.
    pub last_modified: Option<DateTime>,
    /// Standard headers and user metadata (s3seal's own keys removed).
    pub headers: ObjectHeaders,
    /// Version id.
    pub version_id: Option<String>,
    /// The envelope, for s3seal objects.
    pub envelope: Option<Envelope>,
    /// The content metadata, for Amazon S3 Encryption Client objects.
    pub s3ec: Option<ContentMetadata>,
    /// The store's settings of the object (storage class, SSE, Object Lock, ...).
    pub settings: StoredSettings,
}

impl GetObject {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            bucket: String::new(),
            key: String::new(),
            range: None,
            version_id: None,
            context: EncryptionContext::new(),
            conditions: Conditions::default(),
            account: ReadAccount::default(),
        }
    }

    bucket_and_key!();

    /// A plaintext range as in a `Range` header: `bytes=a-b`, `bytes=a-` or
    /// `bytes=-n` (a malformed one fails the request when it is sent).
    pub fn range(mut self, range: impl AsRef<str>) -> Self {
        self.range = Some(ByteRange::parse(range.as_ref()));
        self
    }

    /// A plaintext range, already parsed.
    pub fn byte_range(mut self, range: ByteRange) -> Self {
        self.range = Some(Ok(range));
        self
    }

    /// A specific version.
    pub fn version_id(mut self, v: impl Into<String>) -> Self {
        self.version_id = Some(v.into());
        self
    }

    /// Requires an encryption context pair.
    pub fn context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// Read conditions.
    pub fn conditions(mut self, c: Conditions) -> Self {
        self.conditions = c;
        self
    }

    /// Who reads (expected bucket owner, requester pays).
    pub fn account(mut self, a: ReadAccount) -> Self {
        self.account = a;
        self
    }

    /// Fetches, verifies and streams the plaintext.
    pub async fn send(self) -> Result<GetObjectOutput> {
        match self.range.clone() {
            None => self.whole().await,
            Some(r) => self.ranged(r?).await,
        }
    }

    /// A read of this object's stored bytes, under `If-Match: etag` (for
    /// ranged reads, the version an earlier HEAD saw).
    fn stored_read(&self, etag: Option<String>) -> aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder {
        self.client
            .shared
            .s3_read
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .set_expected_bucket_owner(self.account.expected_bucket_owner.clone())
            .set_request_payer(self.account.request_payer.clone())
            .set_if_match(etag)
    }

    async fn whole(self) -> Result<GetObjectOutput> {
        let sh = &self.client.shared;
        let c = &self.conditions;
        let resp = self
            .stored_read(c.if_match.clone())
            .set_if_none_match(c.if_none_match.clone())
            .set_if_modified_since(c.if_modified_since)
            .set_if_unmodified_since(c.if_unmodified_since)
            .send()
            .await
            .map_err(|e| s3_error("GetObject", e))?;
        let mut metadata = resp.metadata().cloned().unwrap_or_default();
        let envelope = self.client.detach_envelope(&self.bucket, &mut metadata).await?;
        let stored = u64::try_from(resp.content_length().unwrap_or(0)).unwrap_or(0);
        let mut out = GetObjectOutput {
            body: ObjectBody::plain(Box::pin(tokio::io::empty()), 0),
            content_length: stored,
            content_range: None,
            object_size: stored,
            e_tag: resp.e_tag.clone(),
            last_modified: resp.last_modified,
            settings: stored_settings!(resp),
            headers: headers!(resp, metadata),
            version_id: resp.version_id.clone(),
            envelope: None,
            s3ec: None,
        };
        let reader = Box::pin(resp.body.into_async_read());
        let Some(envelope) = envelope else {
            if let Some(meta) = self.client.s3ec_metadata(&self.bucket, &self.key, &out.headers.metadata).await? {
                let key = open_key(sh.cmm.as_ref(), &meta, sh.config.commitment_policy, &self.context).await?;
                let verified = content::authenticate(reader, stored, key, &sh.config.s3ec_spool).await?;
                let p = verified.len();
                out.body = ObjectBody::plain(verified.into_reader(0, p).await?, p);
                out.content_length = p;
                out.object_size = p;
                out.headers.metadata.retain(|k, _| !is_s3ec_key(k));
                out.s3ec = Some(meta);
                return Ok(out);
            }
            if !sh.config.allow_unencrypted {
                return Err(Error::NotEncrypted { bucket: self.bucket, key: self.key });
            }
            out.body = ObjectBody::plain(reader, stored);
            return Ok(out);
        };
        let sealed = self.client.open_envelope(envelope.clone(), &self.bucket, &self.key, &self.context).await?;
        self.client.check_final_shape(&self.bucket, &sealed, stored).await?;
        let f = u64::from(envelope.frame_length);
        let p = plaintext_len(stored, f)?;
        let frames = frame_count(p, f);
        let first = FramePosition { part: u32::from(envelope.is_multipart()), index: 0 };
        let hint = (envelope.part_frames > 0).then_some(u64::from(envelope.part_frames));
        let dec = FrameDecryptor::new(sealed.key.clone(), &envelope, p, 0, frames - 1, first, hint)?;
        out.body = ObjectBody::decrypting(reader, dec, 0, p);
        out.content_length = p;
        out.object_size = p;
        out.envelope = Some(envelope);
        Ok(out)
    }

    async fn ranged(self, range: ByteRange) -> Result<GetObjectOutput> {
        let head = HeadObject::new(self.client.clone())
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .conditions(self.conditions.clone())
            .account(self.account.clone())
            .send_raw()
            .await?;
        let sh = &self.client.shared;
        let Some(envelope) = head.envelope.clone() else {
            if let Some(meta) = head.s3ec.clone() {
                return self.s3ec_range(head, meta, range).await;
            }
            if !sh.config.allow_unencrypted {
                return Err(Error::NotEncrypted { bucket: self.bucket, key: self.key });
            }
            return self.plain_range(head, range).await;
        };
        let p = head.content_length;
        let sealed = self.client.open_envelope(envelope.clone(), &self.bucket, &self.key, &self.context).await?;
        // Before the range is resolved: a suffix range of a cut object
        // would otherwise be the wrong tail.
        self.client.check_final_shape(&self.bucket, &sealed, head.stored_length).await?;
        let (a, b) = range.resolve(p).ok_or(Error::InvalidRange { length: p })?;
        let f = u64::from(envelope.frame_length);
        let span = frames_for_range(a, b, p, f)?;
        let etag = head.e_tag.clone();
        let part_frames = if !envelope.is_multipart() {
            None
        } else if envelope.part_frames > 0 {
            Some(u64::from(envelope.part_frames))
        } else if span.first_frame == 0 {
            None
        } else {
            Some(self.client.part_frames(&self.bucket, &self.key, etag.as_deref(), &sealed, p).await?)
        };
        let first = if envelope.is_multipart() {
            match part_frames {
                Some(k) => FramePosition::of(span.first_frame, Some(k))?,
                None => FramePosition { part: 1, index: 0 },
            }
        } else {
            FramePosition::of(span.first_frame, None)?
        };
        let dec = FrameDecryptor::new(
            sealed.key.clone(),
            &envelope,
            p,
            span.first_frame,
            span.last_frame,
            first,
            part_frames,
        )?;
        let resp = self
            .stored_read(etag.clone())
            .range(format!("bytes={}-{}", span.ciphertext_first, span.ciphertext_last))
            .send()
            .await
            .map_err(|e| s3_error("GetObject", e))?;
        Ok(GetObjectOutput {
            body: ObjectBody::decrypting(Box::pin(resp.body.into_async_read()), dec, span.skip, span.len),
            content_length: span.len,
            content_range: Some(format!("bytes {a}-{b}/{p}")),
            object_size: p,
            e_tag: head.e_tag,
            last_modified: head.last_modified,
            headers: head.headers,
            settings: head.settings,
            version_id: head.version_id,
            envelope: Some(envelope),
            s3ec: None,
        })
    }

    /// A range of an S3 Encryption Client object: cut from the
    /// authenticated whole object, or (opt-in) decrypted alone without
    /// authentication.
    async fn s3ec_range(
        self,
        head: HeadObjectOutput,
        meta: ContentMetadata,
        range: ByteRange,
    ) -> Result<GetObjectOutput> {
        let sh = &self.client.shared;
        let p = head.content_length;
        let (a, b) = range.resolve(p).ok_or(Error::InvalidRange { length: p })?;
        let count = b - a + 1;
        let key = open_key(sh.cmm.as_ref(), &meta, sh.config.commitment_policy, &self.context).await?;
        let request = self.stored_read(head.e_tag.clone());
        let body = if sh.config.s3ec_unauthenticated_ranges {
            let resp = request.range(format!("bytes={a}-{b}")).send().await.map_err(|e| s3_error("GetObject", e))?;
            content::unauthenticated_range_reader(&key, a, count, Box::pin(resp.body.into_async_read()))?
        } else {
            let resp = request.send().await.map_err(|e| s3_error("GetObject", e))?;
            let stored = u64::try_from(resp.content_length().unwrap_or(0)).unwrap_or(0);
            let verified =
                content::authenticate(resp.body.into_async_read(), stored, key, &sh.config.s3ec_spool).await?;
            if verified.len() != p {
                return Err(Error::malformed("the object changed between reads"));
            }
            verified.into_reader(a, count).await?
        };
        Ok(GetObjectOutput {
            body: ObjectBody::plain(body, count),
            content_length: count,
            content_range: Some(format!("bytes {a}-{b}/{p}")),
            object_size: p,
            e_tag: head.e_tag,
            last_modified: head.last_modified,
            headers: head.headers,
            settings: head.settings,
            version_id: head.version_id,
            envelope: None,
            s3ec: Some(meta),
        })
    }

    async fn plain_range(self, head: HeadObjectOutput, range: ByteRange) -> Result<GetObjectOutput> {
        let len = head.content_length;
        let (a, b) = range.resolve(len).ok_or(Error::InvalidRange { length: len })?;
        let resp = self
            .stored_read(head.e_tag.clone())
            .range(format!("bytes={a}-{b}"))
            .send()
            .await
            .map_err(|e| s3_error("GetObject", e))?;
        Ok(GetObjectOutput {
            body: ObjectBody::plain(Box::pin(resp.body.into_async_read()), b - a + 1),
            content_length: b - a + 1,
            content_range: Some(format!("bytes {a}-{b}/{len}")),
            object_size: len,
            e_tag: head.e_tag,
            last_modified: head.last_modified,
            headers: head.headers,
            settings: head.settings,
            version_id: head.version_id,
            envelope: None,
            s3ec: None,
        })
    }
}

impl Client {
    /// Frames per part of a multipart object written without a part-size
    /// hint: learned by binary search over single-frame reads (frame `j`
    /// verifies as part 1, index `j` exactly when it lies in part 1), then
    /// cached by ETag. A wrong answer cannot yield plaintext: every frame
    /// is verified at the position the layout gives it.
    async fn part_frames(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        sealed: &SealedObject,
        p: u64,
    ) -> Result<u64> {
        let cache_key = (bucket.to_string(), key.to_string(), etag.unwrap_or_default().to_string());
        if let Some(k) = self.shared.layouts.lock().ok().and_then(|m| m.get(&cache_key).copied()) {
            return Ok(k);
        }
        let f = u64::from(sealed.envelope.frame_length);
        let frames = frame_count(p, f);
        let unit = f + FRAME_OVERHEAD;
        // Classifies frame j: Some(true) = last frame of part 1,
        // Some(false) = inside part 1, None = beyond part 1.
        let probe = |j: u64| async move {
            let first = j * unit;
            let last = ((j + 1) * unit).min(crate::object::ciphertext_len(p, f)) - 1;
            let resp = self
                .shared
                .s3_read
                .get_object()
                .bucket(bucket)
                .key(key)
                .set_if_match(etag.map(str::to_string))
                .range(format!("bytes={first}-{last}"))
                .send()
                .await
                .map_err(|e| s3_error("GetObject", e))?;
            let bytes = resp.body.collect().await.map_err(Error::io_other)?.into_bytes();
            let idx = u32::try_from(j).map_err(|_| Error::malformed("frame index out of range"))?;
            let mut scratch = Vec::new();
            let end_flags = FrameFlags::last_of_part(j + 1 == frames && sealed.envelope.is_end_marked());
            if sealed.key.open_frame_append(1, idx, end_flags, &bytes, &mut scratch).is_ok() {
                return Ok::<_, Error>(Some(true));
            }
            if j + 1 < frames && sealed.key.open_frame_append(1, idx, FrameFlags::NONE, &bytes, &mut scratch).is_ok() {
                return Ok(Some(false));
            }
            Ok(None)
        };
        // Find the last frame of part 1: the smallest j classified Some(true).
        let (mut lo, mut hi) = (0u64, frames - 1);
        let k = loop {
            if lo > hi {
                return Err(Error::malformed("could not find the part layout of this multipart object"));
            }
            let mid = lo + (hi - lo) / 2;
            match probe(mid).await? {
                Some(true) => break mid + 1,
                Some(false) => lo = mid + 1,
                None => {
                    if mid == 0 {
                        return Err(Error::Authentication("object frame"));
                    }
                    hi = mid - 1
                }
            }
        };
        if let Ok(mut m) = self.shared.layouts.lock() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(cache_key, k);
        }
        Ok(k)
    }
}
