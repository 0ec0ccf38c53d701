//! The encryption layer: an `s3s::S3` implementation that stores every
//! object in the s3seal object format through the SDK's encrypting client,
//! forwards operations that carry no object data to the upstream, and
//! refuses everything else.
//!
//! * Object data (PutObject, GetObject, HeadObject, multipart, CopyObject)
//!   goes through [`s3seal::s3::Client`]: bodies are encrypted before they
//!   leave and verified frame by frame when they come back.
//! * Listings are forwarded and their sizes rewritten to plaintext sizes by
//!   the format's arithmetic.
//! * Client checksums (`Content-MD5`, `x-amz-checksum-*` headers or
//!   trailers) are verified against the plaintext and never forwarded; a
//!   mismatch aborts the upstream write, so nothing is stored.
//! * Operations not known to be safe (SelectObjectContent, UploadPartCopy,
//!   WriteGetObjectResponse, GetObjectAttributes, torrents, restores, ...)
//!   are not implemented here, so s3s answers `NotImplemented` and nothing
//!   reaches the upstream. Browser POST uploads reach `put_object` through
//!   s3s and are stored encrypted like any other upload.
//!
//! ETags: a PutObject or UploadPart response carries the MD5 of the
//! plaintext (tools check it against what they sent), and a completed
//! multipart upload the MD5-of-part-MD5s form over those. Stored objects
//! keep the store's ETag of the ciphertext; single-request objects are
//! shown with a `-0` suffix so that sync tools do not mistake it for the
//! MD5 of the content (they fall back to size, time or their own metadata,
//! and converge); no plaintext hash is ever stored.
//!
//! Multipart uploads are stateless: the upload id handed to clients carries
//! the upstream upload id and the object's envelope, so any proxy instance
//! can take any part, and a restart loses nothing.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use s3seal::checksum::{ChecksumAlgorithm as Alg, Digests, PlaintextDigest};
use s3seal::object::{Envelope, plaintext_len};
use s3seal::s3::{Body, CompletedPart as SealedPart, MultipartUpload, ObjectHeaders};
use s3seal::{EncryptionContext, Error};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::metrics::Metrics;

/// The encrypting S3 service.
pub struct EncryptingS3 {
    client: s3seal::s3::Client,
    forward: s3s_aws::Proxy,
    metrics: Arc<Metrics>,
    frame_length: u32,
}

impl std::fmt::Debug for EncryptingS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingS3").field("frame_length", &self.frame_length).finish_non_exhaustive()
    }
}

impl EncryptingS3 {
    /// A layer that encrypts through `client` and forwards the rest with
    /// `forward` (both over the same upstream). `frame_length` is used to
    /// report plaintext sizes in listings.
    pub fn new(client: s3seal::s3::Client, forward: s3s_aws::Proxy, metrics: Arc<Metrics>, frame_length: u32) -> Self {
        Self { client, forward, metrics, frame_length }
    }
}

// ---------------------------------------------------------------- errors

fn custom(code: &'static str, status: http::StatusCode, message: String) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(status);
    e
}

/// Maps an SDK error to the S3 error a client should see.
fn map_err(e: Error) -> S3Error {
    use http::StatusCode as S;
    match e {
        Error::S3 { status, code, message, operation } => {
            // An upstream answer without an S3 error code (a transport
            // failure, an unparsable body) is logged here and not echoed:
            // its text can hold upstream headers and ids.
            // A 4xx keeps its status and gets a code that says so (a HEAD
            // answer has no body, hence no code).
            let (code_str, message) = match (code, status) {
                (Some(c), _) => (c, message),
                (None, Some(s @ 400..=499)) => {
                    tracing::warn!(operation, status = s, %message, "upstream refused the request");
                    let code = match s {
                        403 => "AccessDenied",
                        404 => "NotFound",
                        412 => "PreconditionFailed",
                        _ => "InvalidRequest",
                    };
                    (code.to_string(), format!("the upstream store refused {operation} (HTTP {s})"))
                }
                (None, _) => {
                    tracing::warn!(operation, %message, "upstream request failed");
                    ("ServiceUnavailable".to_string(), format!("the upstream store failed to answer {operation}"))
                }
            };
            let mut err = S3Error::with_message(code_str.parse().unwrap_or(S3ErrorCode::InternalError), message);
            match status.and_then(|s| S::from_u16(s).ok()) {
                Some(s) => err.set_status_code(s),
                None => err.set_status_code(S::SERVICE_UNAVAILABLE),
            }
            err
        }
        Error::InvalidRange { length } => {
            let mut err = s3_error!(InvalidRange, "The requested range is not satisfiable (object size {length})");
            err.set_status_code(S::RANGE_NOT_SATISFIABLE);
            err
        }
        Error::NotEncrypted { bucket, key } => custom(
            "S3SealNotEncrypted",
            S::FORBIDDEN,
            format!("s3://{bucket}/{key} was not written through s3seal; the proxy does not serve unencrypted objects"),
        ),
        Error::Kms { operation, message, .. } => custom(
            "S3SealKeyServiceUnavailable",
            S::SERVICE_UNAVAILABLE,
            format!("AWS KMS {operation} failed: {message}"),
        ),
        Error::NoDecryptableKey(d) => custom("S3SealNoKey", S::FORBIDDEN, d.to_string()),
        Error::InvalidParameter(m) => s3_error!(InvalidRequest, "{m}"),
        Error::EncryptionContext(m) => s3_error!(InvalidRequest, "encryption context: {m}"),
        Error::Io(io) => custom("S3SealUpstreamError", S::BAD_GATEWAY, format!("I/O error: {io}")),
        other if other.is_verification_failure() => custom(
            "S3SealIntegrityError",
            S::INTERNAL_SERVER_ERROR,
            format!("the stored object failed verification and was not served: {other}"),
        ),
        other => s3_error!(InternalError, "{other}"),
    }
}

// ----------------------------------------------------------------- ETags

/// The ETag clients see for a stored object.
fn etag_out(stored: Option<&str>) -> Option<ETag> {
    let v = stored?.trim_matches('"');
    Some(ETag::Strong(if v.contains('-') { v.to_string() } else { format!("{v}-0") }))
}

/// Rewrites an ETag as a client saw it into the store's ETag.
fn etag_in(shown: &str) -> String {
    let v = shown.trim_matches('"');
    let v = v.strip_suffix("-0").unwrap_or(v);
    format!("\"{v}\"")
}

fn condition_in(c: Option<ETagCondition>) -> Option<String> {
    match c? {
        ETagCondition::Any => Some("*".to_string()),
        ETagCondition::ETag(e) => Some(etag_in(e.value())),
    }
}

/// A read's `If-*` headers, as the SDK takes them (ETags as stored).
fn conditions(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> S3Result<s3seal::s3::Conditions> {
    Ok(s3seal::s3::Conditions {
        if_match: condition_in(if_match),
        if_none_match: condition_in(if_none_match),
        if_modified_since: timestamp(if_modified_since)?,
        if_unmodified_since: timestamp(if_unmodified_since)?,
    })
}

/// The version id a write reports to the client. S3 names no version for a
/// write into an unversioned bucket; some stores (moto) answer
/// `x-amz-version-id: null` there and then refuse `versionId=null` on
/// reads, and clients (rclone after a multipart upload) read the object
/// back by the version they were given: a `null` version is therefore not
/// passed on (the object just written is the current one either way).
fn written_version(v: Option<String>) -> Option<String> {
    v.filter(|v| v != "null")
}

fn rewrite_etag(e: &mut Option<ETag>) {
    if let Some(tag) = e.take() {
        *e = etag_out(Some(tag.value()));
    }
}

// ------------------------------------------------------- request bodies

/// What a client said the plaintext's checksums are.
#[derive(Debug, Default, Clone)]
struct Expected {
    md5: Option<String>,
    header: Option<(Alg, String)>,
    trailer: Option<Alg>,
}

impl Expected {
    fn from_headers(
        headers: &http::HeaderMap,
        md5: Option<String>,
        values: [(Alg, Option<String>); 5],
    ) -> S3Result<Self> {
        let header = values.into_iter().find_map(|(a, v)| v.map(|v| (a, v)));
        let trailer = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .and_then(|names| names.split(',').find_map(|n| Alg::from_header_name(n.trim())));
        Ok(Self { md5, header, trailer })
    }

    fn algorithm(&self) -> Option<Alg> {
        self.header.as_ref().map(|(a, _)| *a).or(self.trailer)
    }
}

/// The outcome of reading a request body, shared with the handler.
#[derive(Debug, Default)]
struct BodyOutcome {
    digests: Option<Digests>,
    mismatch: Option<S3Error>,
    bytes: u64,
}

/// Bodies of at least this many bytes (or of unknown length) are hashed on
/// a thread of their own, beside decoding and encryption.
const HASH_ASIDE_MIN: u64 = 1 << 20;

/// Chunks go to the hashing thread in batches of at least this many bytes
/// (fewer thread wake-ups), at most [`HASH_QUEUE`] batches queued: the
/// memory it can hold back is bounded (chunks are shared, not copied).
const HASH_BATCH: usize = 256 * 1024;

/// Batches queued for the hashing thread.
const HASH_QUEUE: usize = 4;

/// Where the plaintext digests (MD5 for the ETag, the client's checksum)
/// are computed.
enum Hasher {
    /// In the reading task (small bodies: a thread hop would cost more).
    Inline(Option<Box<PlaintextDigest>>),
    /// On a blocking-pool thread fed through a bounded channel, so that the
    /// hashing runs in parallel with chunk verification and encryption.
    Aside {
        tx: tokio_util::sync::PollSender<Vec<Bytes>>,
        done: tokio::task::JoinHandle<Digests>,
        batch: Vec<Bytes>,
        batch_len: usize,
    },
    Finished,
}

impl Hasher {
    fn new(algorithm: Option<Alg>, aside: bool) -> Self {
        if !aside {
            return Self::Inline(Some(Box::new(PlaintextDigest::new(algorithm))));
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(HASH_QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            let mut d = PlaintextDigest::new(algorithm);
            while let Some(batch) = rx.blocking_recv() {
                for chunk in batch {
                    d.update(&chunk);
                }
            }
            d.finish()
        });
        Self::Aside { tx: tokio_util::sync::PollSender::new(tx), done, batch: Vec::new(), batch_len: 0 }
    }

    /// Takes `chunk` into the digests (inline) or into the next batch.
    fn add(&mut self, chunk: &Bytes) {
        match self {
            Self::Inline(Some(d)) => d.update(chunk),
            Self::Aside { batch, batch_len, .. } => {
                *batch_len += chunk.len();
                batch.push(chunk.clone());
            }
            Self::Inline(None) | Self::Finished => {}
        }
    }

    /// Sends a full batch (any batch with `all`) to the hashing thread;
    /// `Pending` while the queue is full.
    fn poll_flush(&mut self, cx: &mut Context<'_>, all: bool) -> Poll<io::Result<()>> {
        if let Self::Aside { tx, batch, batch_len, .. } = self
            && (*batch_len >= HASH_BATCH || (all && !batch.is_empty()))
        {
            let gone = || io::Error::other("the plaintext hasher stopped");
            ready!(tx.poll_reserve(cx)).map_err(|_| gone())?;
            tx.send_item(std::mem::take(batch)).map_err(|_| gone())?;
            *batch_len = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// The digests of everything added.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Digests>> {
        let result = match self {
            Self::Inline(d) => d.take().map(|d| d.finish()).ok_or_else(|| io::Error::other("no digest")),
            Self::Aside { .. } => {
                ready!(self.poll_flush(cx, true))?;
                let Self::Aside { tx, done, .. } = self else { return Poll::Ready(Err(io::Error::other("no digest"))) };
                tx.close();
                ready!(Pin::new(done).poll(cx)).map_err(io::Error::other)
            }
            Self::Finished => Err(io::Error::other("the body was already hashed")),
        };
        *self = Self::Finished;
        Poll::Ready(result)
    }
}

/// The client's body stream, each chunk handed to a [`Hasher`] as it
/// passes (shared, not copied).
struct HashingStream {
    inner: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
    hasher: Hasher,
    pending: Option<Bytes>,
}

impl Stream for HashingStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(chunk) = this.pending.take() {
                // The chunk is in the batch already; wait for room to send
                // a full batch before passing it on.
                match this.hasher.poll_flush(cx, false) {
                    Poll::Pending => {
                        this.pending = Some(chunk);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => return Poll::Ready(Some(Ok(chunk))),
                }
            }
            match ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) => {
                    this.hasher.add(&chunk);
                    this.pending = Some(chunk);
                }
                other => return Poll::Ready(other),
            }
        }
    }
}

/// Reads the client's plaintext, computing its MD5 and the checksum the
/// client declared. At the end it compares; on a mismatch it fails the read
/// (so the encrypted upload is never finished) and records why.
struct VerifyingReader {
    inner: StreamReader<HashingStream, Bytes>,
    checked: bool,
    expected: Expected,
    trailers: Option<s3s::TrailingHeaders>,
    outcome: Arc<Mutex<BodyOutcome>>,
}

impl VerifyingReader {
    /// `len`: the body's length, if known (it decides where to hash).
    fn new(
        blob: Option<StreamingBlob>,
        len: Option<u64>,
        expected: Expected,
        trailers: Option<s3s::TrailingHeaders>,
    ) -> (Self, Arc<Mutex<BodyOutcome>>) {
        let stream: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>> = match blob {
            Some(b) => Box::pin(b.map_err(io::Error::other)),
            None => Box::pin(futures_util::stream::empty()),
        };
        let outcome = Arc::new(Mutex::new(BodyOutcome::default()));
        let hasher = Hasher::new(expected.algorithm(), len.is_none_or(|n| n >= HASH_ASIDE_MIN));
        let stream = HashingStream { inner: stream, hasher, pending: None };
        (
            Self { inner: StreamReader::new(stream), checked: false, expected, trailers, outcome: outcome.clone() },
            outcome,
        )
    }

    fn check(&mut self, digests: Digests) -> Result<(), S3Error> {
        if let Some(want) = &self.expected.md5
            && want.trim() != digests.md5_base64()
        {
            return Err(s3_error!(BadDigest, "The Content-MD5 you specified did not match what we received."));
        }
        let declared = match (&self.expected.header, self.expected.trailer) {
            (Some((a, v)), _) => Some((*a, v.clone())),
            (None, Some(a)) => self
                .trailers
                .as_ref()
                .and_then(|t| t.read(|h| h.get(a.header_name()).and_then(|v| v.to_str().ok()).map(str::to_string)))
                .flatten()
                .map(|v| (a, v)),
            (None, None) => None,
        };
        if let Some((a, want)) = declared
            && digests.checksum.as_ref().map(|(_, v)| v.as_str()) != Some(want.trim())
        {
            return Err(s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                a.header_name()
            ));
        }
        if let Ok(mut o) = self.outcome.lock() {
            o.digests = Some(digests);
        }
        Ok(())
    }
}

impl AsyncRead for VerifyingReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if let Err(e) = ready!(Pin::new(&mut this.inner).poll_read(cx, buf)) {
            // The client's body failed (e.g. a signed chunk did not verify):
            // that, not the upstream write it aborts, is the answer.
            if let Ok(mut o) = this.outcome.lock()
                && o.mismatch.is_none()
            {
                o.mismatch = Some(client_body_error(&e));
            }
            return Poll::Ready(Err(e));
        }
        let n = buf.filled().len() - before;
        if n == 0 {
            if !this.checked {
                let digests = match ready!(this.inner.get_mut().hasher.poll_finish(cx)) {
                    Ok(d) => d,
                    Err(e) => {
                        if let Ok(mut o) = this.outcome.lock()
                            && o.mismatch.is_none()
                        {
                            o.mismatch = Some(s3_error!(InternalError, "hashing the body failed: {e}"));
                        }
                        return Poll::Ready(Err(e));
                    }
                };
                this.checked = true;
                if let Err(e) = this.check(digests) {
                    if let Ok(mut o) = this.outcome.lock() {
                        o.mismatch = Some(e);
                    }
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "checksum mismatch")));
                }
            }
        } else if let Ok(mut o) = this.outcome.lock() {
            o.bytes += n as u64;
        }
        Poll::Ready(Ok(()))
    }
}

/// The S3 error for a client body that could not be read: a signed chunk
/// that does not verify is `SignatureDoesNotMatch` (403), anything else an
/// incomplete body (400). (`s3s` does not export its chunk error type; its
/// message names the variant.)
fn client_body_error(e: &io::Error) -> S3Error {
    let text = e.to_string();
    if text.contains("SignatureMismatch") {
        s3_error!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided (a signed chunk)."
        )
    } else {
        s3_error!(IncompleteBody, "The request body could not be read: {text}")
    }
}

/// Takes the outcome after the upload: a checksum mismatch or a client body
/// error wins over the upload error it caused.
fn body_result<T>(outcome: &Arc<Mutex<BodyOutcome>>, upload: Result<T, Error>) -> S3Result<(T, Digests, u64)> {
    let mut o = outcome.lock().map_err(|_| s3_error!(InternalError))?;
    if let Some(e) = o.mismatch.take() {
        return Err(e);
    }
    let value = upload.map_err(map_err)?;
    let digests = o.digests.take().ok_or_else(|| s3_error!(IncompleteBody, "the request body ended early"))?;
    Ok((value, digests, o.bytes))
}

fn length(content_length: Option<i64>) -> S3Result<Option<u64>> {
    content_length
        .map(|n| u64::try_from(n).map_err(|_| s3_error!(InvalidArgument, "negative Content-Length")))
        .transpose()
}

/// The plaintext length of a request body: `Content-Length`, or for an
/// `aws-chunked` body sent with HTTP chunked transfer coding (no
/// `Content-Length`: botocore over https with `STREAMING-UNSIGNED-PAYLOAD-TRAILER`)
/// the `x-amz-decoded-content-length` header.
fn body_length(content_length: Option<i64>, headers: &http::HeaderMap) -> S3Result<Option<u64>> {
    if let Some(n) = length(content_length)? {
        return Ok(Some(n));
    }
    headers
        .get("x-amz-decoded-content-length")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| s3_error!(InvalidArgument, "invalid x-amz-decoded-content-length"))
        })
        .transpose()
}

/// S3 treats an empty `delimiter` (`delimiter=`, as rclone sends for a
/// recursive listing) as no delimiter; not every upstream does.
fn no_empty_delimiter(d: &mut Option<String>) {
    if d.as_deref() == Some("") {
        *d = None;
    }
}

/// `Content-Encoding` without the `aws-chunked` token, which describes the
/// client's transfer framing (already decoded here), not the object.
fn content_encoding(v: Option<String>) -> Option<String> {
    let kept: Vec<&str> = v
        .as_deref()?
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

fn user_metadata(m: Option<Metadata>) -> std::collections::HashMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

// ------------------------------------------------------- response bodies

/// Makes a `Send` stream `Sync` by owning it behind a mutex that is only
/// ever accessed through `&mut` (so never contended).
struct SyncStream<S>(Mutex<S>);

impl<S: Stream + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().0.get_mut() {
            Ok(s) => Pin::new(s).poll_next(cx),
            Err(_) => Poll::Ready(None),
        }
    }
}

fn plaintext_blob(body: s3seal::s3::ObjectBody, metrics: Arc<Metrics>) -> StreamingBlob {
    let stream =
        ReaderStream::with_capacity(body, 256 * 1024).inspect_ok(move |b| metrics.add_bytes_out(b.len() as u64));
    StreamingBlob::wrap(SyncStream(Mutex::new(Box::pin(stream))))
}

fn range_header(r: &Range) -> String {
    match r {
        Range::Int { first, last: Some(last) } => format!("bytes={first}-{last}"),
        Range::Int { first, last: None } => format!("bytes={first}-"),
        Range::Suffix { length } => format!("bytes=-{length}"),
    }
}

fn timestamp(t: Option<Timestamp>) -> S3Result<Option<aws_sdk_s3::primitives::DateTime>> {
    t.map(s3s_aws::conv::try_into_aws).transpose()
}

fn timestamp_out(t: Option<aws_sdk_s3::primitives::DateTime>) -> S3Result<Option<Timestamp>> {
    t.map(s3s_aws::conv::try_from_aws).transpose()
}

// ---------------------------------------------------------- upload ids

/// The upload id handed to clients: the upstream id and the envelope.
fn encode_upload_id(upstream: &str, envelope: &Envelope) -> S3Result<String> {
    let env = envelope.to_bytes().map_err(map_err)?;
    let id = upstream.as_bytes();
    let n = u16::try_from(id.len()).map_err(|_| s3_error!(InternalError, "upstream upload id too long"))?;
    let mut raw = Vec::with_capacity(3 + id.len() + env.len());
    raw.push(1u8);
    raw.extend_from_slice(&n.to_be_bytes());
    raw.extend_from_slice(id);
    raw.extend_from_slice(&env);
    Ok(format!("s3seal.{}", B64URL.encode(raw)))
}

fn decode_upload_id(id: &str) -> S3Result<(String, Envelope)> {
    let bad = || s3_error!(NoSuchUpload, "The specified upload does not exist (not an s3seal upload id).");
    let raw = id.strip_prefix("s3seal.").and_then(|b| B64URL.decode(b).ok()).ok_or_else(bad)?;
    if raw.len() < 3 || raw[0] != 1 {
        return Err(bad());
    }
    let n = usize::from(u16::from_be_bytes([raw[1], raw[2]]));
    let upstream = raw.get(3..3 + n).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(bad)?.to_string();
    let envelope = Envelope::parse(raw.get(3 + n..).ok_or_else(bad)?).map_err(|_| bad())?;
    Ok((upstream, envelope))
}

/// The multipart ETag S3 would give the plaintext: MD5 of the parts' MD5s.
fn multipart_etag(part_md5s: &[String]) -> Option<String> {
    let mut d = PlaintextDigest::new(None);
    for m in part_md5s {
        let hex = m.trim_matches('"');
        let bytes = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        if bytes.len() != 16 {
            return None;
        }
        d.update(&bytes);
    }
    Some(format!("{}-{}", d.finish().md5_hex(), part_md5s.len()))
}

// ------------------------------------------------------------ the layer

impl EncryptingS3 {
    async fn resume(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<MultipartUpload> {
        let (upstream, envelope) = decode_upload_id(upload_id)?;
        MultipartUpload::resume(&self.client, bucket, key, upstream, envelope, &EncryptionContext::new())
            .await
            .map_err(map_err)
    }

    fn observe<T>(&self, op: &'static str, r: S3Result<T>) -> S3Result<T> {
        self.metrics.request(op);
        if r.is_err() {
            self.metrics.error(op);
        }
        r
    }

    /// After objects of `bucket` were deleted (`keys`, with their stored
    /// metadata): deletes their envelope sidecars, for those that had one,
    /// unless the bucket keeps versions. A failure here does not fail the
    /// delete the client asked for (the sidecars are left over).
    async fn delete_sidecars(&self, bucket: &str, deleted: &[(String, std::collections::HashMap<String, String>)]) {
        if let Err(e) = self.client.delete_sidecars(bucket, deleted.iter().map(|(_, m)| m)).await {
            let keys: Vec<&str> = deleted.iter().map(|(k, _)| k.as_str()).collect();
            tracing::warn!(bucket, ?keys, error = %e, "could not delete the envelope sidecars of deleted objects");
        }
    }

    fn plaintext_size(&self, size: &mut Option<i64>) {
        if let Some(s) = size.and_then(|s| u64::try_from(s).ok())
            && let Ok(p) = plaintext_len(s, u64::from(self.frame_length))
        {
            *size = i64::try_from(p).ok();
        }
    }
}

#[async_trait::async_trait]
impl S3 for EncryptingS3 {
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let r = self.put_object_inner(req).await;
        self.observe("PutObject", r)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let r = self.get_object_inner(req).await;
        self.observe("GetObject", r)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let r = self.head_object_inner(req).await;
        self.observe("HeadObject", r)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let r = self.create_multipart_upload_inner(req).await;
        self.observe("CreateMultipartUpload", r)
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let r = self.upload_part_inner(req).await;
        self.observe("UploadPart", r)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let r = self.complete_multipart_upload_inner(req).await;
        self.observe("CompleteMultipartUpload", r)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let mut req = req;
        if let Ok((upstream, _)) = decode_upload_id(&req.input.upload_id) {
            req.input.upload_id = upstream;
        }
        let r = self.forward.abort_multipart_upload(req).await;
        self.observe("AbortMultipartUpload", r)
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let r = self.list_parts_inner(req).await;
        self.observe("ListParts", r)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let r = self.copy_object_inner(req).await;
        self.observe("CopyObject", r)
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let mut req = req;
        no_empty_delimiter(&mut req.input.delimiter);
        let r = self.forward.list_objects(req).await.map(|mut resp| {
            hide_sidecars(&mut resp.output.contents, &mut resp.output.common_prefixes, |o| o.key.as_deref());
            for o in resp.output.contents.iter_mut().flatten() {
                self.plaintext_size(&mut o.size);
                rewrite_etag(&mut o.e_tag);
            }
            resp
        });
        self.observe("ListObjects", r)
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let mut req = req;
        no_empty_delimiter(&mut req.input.delimiter);
        let r = self.forward.list_objects_v2(req).await.map(|mut resp| {
            let before = resp.output.contents.as_ref().map_or(0, Vec::len)
                + resp.output.common_prefixes.as_ref().map_or(0, Vec::len);
            hide_sidecars(&mut resp.output.contents, &mut resp.output.common_prefixes, |o| o.key.as_deref());
            let after = resp.output.contents.as_ref().map_or(0, Vec::len)
                + resp.output.common_prefixes.as_ref().map_or(0, Vec::len);
            if let Some(n) = resp.output.key_count.as_mut() {
                *n -= i32::try_from(before - after).unwrap_or(0);
            }
            for o in resp.output.contents.iter_mut().flatten() {
                self.plaintext_size(&mut o.size);
                rewrite_etag(&mut o.e_tag);
            }
            resp
        });
        self.observe("ListObjectsV2", r)
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let r = self.forward.list_object_versions(req).await.map(|mut resp| {
            hide_sidecars(&mut resp.output.versions, &mut resp.output.common_prefixes, |o| o.key.as_deref());
            for o in resp.output.versions.iter_mut().flatten() {
                self.plaintext_size(&mut o.size);
                rewrite_etag(&mut o.e_tag);
            }
            resp
        });
        self.observe("ListObjectVersions", r)
    }

    // Operations that carry no object data: forwarded as they are.

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let r = self.forward.list_buckets(req).await;
        self.observe("list_buckets", r)
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let r = self.forward.create_bucket(req).await;
        self.observe("create_bucket", r)
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let r = self.forward.delete_bucket(req).await;
        self.observe("delete_bucket", r)
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let r = self.forward.head_bucket(req).await;
        self.observe("head_bucket", r)
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let r = self.forward.get_bucket_location(req).await;
        self.observe("get_bucket_location", r)
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let r = self.forward.get_bucket_versioning(req).await;
        self.observe("get_bucket_versioning", r)
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let r = self.forward.put_bucket_versioning(req).await;
        self.observe("put_bucket_versioning", r)
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let r = self.forward.get_bucket_tagging(req).await;
        self.observe("get_bucket_tagging", r)
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let r = self.forward.put_bucket_tagging(req).await;
        self.observe("put_bucket_tagging", r)
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let r = self.forward.delete_bucket_tagging(req).await;
        self.observe("delete_bucket_tagging", r)
    }

    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        let r = self.forward.get_bucket_acl(req).await;
        self.observe("get_bucket_acl", r)
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let r = self.forward.get_bucket_policy(req).await;
        self.observe("get_bucket_policy", r)
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let r = self.forward.put_bucket_policy(req).await;
        self.observe("put_bucket_policy", r)
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let r = self.forward.delete_bucket_policy(req).await;
        self.observe("delete_bucket_policy", r)
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let r = self.forward.get_bucket_lifecycle_configuration(req).await;
        self.observe("get_bucket_lifecycle_configuration", r)
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let r = self.forward.put_bucket_lifecycle_configuration(req).await;
        self.observe("put_bucket_lifecycle_configuration", r)
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let r = self.forward.delete_bucket_lifecycle(req).await;
        self.observe("delete_bucket_lifecycle", r)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let bucket = req.input.bucket.clone();
        let key = req.input.key.clone();
        // Deleting the current object (no version id): its envelope
        // sidecar, if any, goes too. The pointer is in the metadata, read
        // before the object is gone.
        let before = match req.input.version_id {
            None => self.client.stored_metadata(&bucket, &key).await.ok(),
            Some(_) => None,
        };
        let r = self.forward.delete_object(req).await;
        if r.is_ok()
            && let Some(meta) = before
        {
            self.delete_sidecars(&bucket, &[(key, meta)]).await;
        }
        self.observe("delete_object", r)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        use futures_util::StreamExt;
        let bucket = req.input.bucket.clone();
        let current: Vec<String> =
            req.input.delete.objects.iter().filter(|o| o.version_id.is_none()).map(|o| o.key.clone()).collect();
        // As for DeleteObject: the metadata of each current object, read
        // first (a few at a time), so that sidecars can follow them.
        let before: Vec<(String, std::collections::HashMap<String, String>)> = futures_util::stream::iter(current)
            .map(|key| {
                let bucket = &bucket;
                async move {
                    let meta = self.client.stored_metadata(bucket, &key).await.ok()?;
                    meta.contains_key(s3seal::s3::SIDECAR_REF_KEY).then_some((key, meta))
                }
            })
            .buffer_unordered(16)
            .filter_map(|x| async move { x })
            .collect()
            .await;
        let r = self.forward.delete_objects(req).await;
        if let Ok(resp) = &r {
            let failed: std::collections::HashSet<&str> =
                resp.output.errors.iter().flatten().filter_map(|e| e.key.as_deref()).collect();
            let deleted: Vec<_> = before.into_iter().filter(|(key, _)| !failed.contains(key.as_str())).collect();
            self.delete_sidecars(&bucket, &deleted).await;
        }
        self.observe("delete_objects", r)
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let r = self.forward.get_object_tagging(req).await;
        self.observe("get_object_tagging", r)
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let r = self.forward.put_object_tagging(req).await;
        self.observe("put_object_tagging", r)
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let r = self.forward.delete_object_tagging(req).await;
        self.observe("delete_object_tagging", r)
    }

    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        let r = self.forward.get_object_acl(req).await;
        self.observe("get_object_acl", r)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let r = self.forward.list_multipart_uploads(req).await;
        self.observe("list_multipart_uploads", r)
    }
}

impl EncryptingS3 {
    async fn put_object_inner(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let S3Request { input, headers, trailing_headers, .. } = req;
        let early_answer_to_expect_continue = input.content_length == Some(0)
            && headers.get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let expected = Expected::from_headers(
            &headers,
            input.content_md5.clone(),
            [
                (Alg::Crc32, input.checksum_crc32.clone()),
                (Alg::Crc32c, input.checksum_crc32c.clone()),
                (Alg::Crc64Nvme, input.checksum_crc64nvme.clone()),
                (Alg::Sha1, input.checksum_sha1.clone()),
                (Alg::Sha256, input.checksum_sha256.clone()),
            ],
        )?;
        if input.sse_customer_key.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "SSE-C is not supported through s3seal (objects are already encrypted)"
            ));
        }
        let len = body_length(input.content_length, &headers)?;
        let (reader, outcome) = VerifyingReader::new(input.body, len, expected, trailing_headers);
        let headers = ObjectHeaders {
            content_type: input.content_type,
            cache_control: input.cache_control,
            content_disposition: input.content_disposition,
            content_encoding: content_encoding(input.content_encoding),
            content_language: input.content_language,
            metadata: user_metadata(input.metadata),
        };
        let mut put = self
            .client
            .put_object()
            .bucket(&input.bucket)
            .key(&input.key)
            .headers(headers)
            .body(Body::from_reader(reader));
        if let Some(n) = len {
            put = put.content_length(n);
        }
        let result = put.send().await;
        let (out, digests, bytes) = body_result(&outcome, result)?;
        self.metrics.add_bytes_in(bytes);
        let output = PutObjectOutput {
            e_tag: Some(ETag::Strong(digests.md5_hex())),
            version_id: written_version(out.version_id),
            ..Default::default()
        };
        let mut resp = S3Response::new(output);
        if early_answer_to_expect_continue {
            // hyper answers an empty body's `Expect: 100-continue` with the
            // final response alone (no 100 Continue, as S3 would send);
            // botocore (aws cli v1/v2, boto3) then misreads a later response
            // on the same pooled connection under concurrency (`aws s3 sync`
            // of a directory with an empty file: a 30 s stall, then
            // "KeyError 'ETag'"). A fresh connection for the next request
            // avoids it.
            resp.headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        Ok(resp)
    }

    async fn get_object_inner(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        if input.part_number.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "GetObject with partNumber is not supported through s3seal; use a Range"
            ));
        }
        if input.sse_customer_key.is_some() {
            return Err(s3_error!(NotImplemented, "SSE-C is not supported through s3seal"));
        }
        let conditions =
            conditions(input.if_match, input.if_none_match, input.if_modified_since, input.if_unmodified_since)?;
        let mut get = self.client.get_object().bucket(&input.bucket).key(&input.key).conditions(conditions);
        if let Some(v) = input.version_id {
            get = get.version_id(v);
        }
        let ranged = input.range.is_some();
        if let Some(r) = &input.range {
            get = get.range(range_header(r));
        }
        let out = get.send().await.map_err(map_err)?;
        let output = GetObjectOutput {
            content_length: i64::try_from(out.content_length).ok(),
            content_range: out.content_range.clone(),
            accept_ranges: Some("bytes".into()),
            e_tag: etag_out(out.e_tag.as_deref()),
            last_modified: timestamp_out(out.last_modified)?,
            metadata: Some(out.headers.metadata.clone().into_iter().collect()),
            content_type: input.response_content_type.or(out.headers.content_type.clone()),
            cache_control: input.response_cache_control.or(out.headers.cache_control.clone()),
            content_disposition: input.response_content_disposition.or(out.headers.content_disposition.clone()),
            content_encoding: input.response_content_encoding.or(out.headers.content_encoding.clone()),
            content_language: input.response_content_language.or(out.headers.content_language.clone()),
            version_id: out.version_id.clone(),
            body: Some(plaintext_blob(out.body, self.metrics.clone())),
            ..Default::default()
        };
        let mut resp = S3Response::new(output);
        if ranged {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    async fn head_object_inner(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        if input.part_number.is_some() {
            return Err(s3_error!(NotImplemented, "HeadObject with partNumber is not supported through s3seal"));
        }
        let conditions =
            conditions(input.if_match, input.if_none_match, input.if_modified_since, input.if_unmodified_since)?;
        let mut head = self.client.head_object().bucket(&input.bucket).key(&input.key).conditions(conditions);
        if let Some(v) = input.version_id {
            head = head.version_id(v);
        }
        let out = head.send().await.map_err(map_err)?;
        let mut content_length = i64::try_from(out.content_length).ok();
        let mut content_range = None;
        if let Some(r) = &input.range {
            match s3seal::object::ByteRange::parse(&range_header(r)).ok().and_then(|b| b.resolve(out.content_length)) {
                Some((a, b)) => {
                    content_length = i64::try_from(b - a + 1).ok();
                    content_range = Some(format!("bytes {a}-{b}/{}", out.content_length));
                }
                None => return Err(map_err(Error::InvalidRange { length: out.content_length })),
            }
        }
        let output = HeadObjectOutput {
            content_length,
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: etag_out(out.e_tag.as_deref()),
            last_modified: timestamp_out(out.last_modified)?,
            metadata: Some(out.headers.metadata.into_iter().collect()),
            content_type: out.headers.content_type,
            cache_control: out.headers.cache_control,
            content_disposition: out.headers.content_disposition,
            content_encoding: out.headers.content_encoding,
            content_language: out.headers.content_language,
            version_id: out.version_id,
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn create_multipart_upload_inner(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        if input.sse_customer_key.is_some() {
            return Err(s3_error!(NotImplemented, "SSE-C is not supported through s3seal"));
        }
        let headers = ObjectHeaders {
            content_type: input.content_type,
            cache_control: input.cache_control,
            content_disposition: input.content_disposition,
            content_encoding: content_encoding(input.content_encoding),
            content_language: input.content_language,
            metadata: user_metadata(input.metadata),
        };
        let up = self
            .client
            .create_multipart_upload()
            .bucket(&input.bucket)
            .key(&input.key)
            .headers(headers)
            .send()
            .await
            .map_err(map_err)?;
        let output = CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(encode_upload_id(up.upload_id(), up.envelope())?),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn upload_part_inner(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let S3Request { input, headers, trailing_headers, .. } = req;
        let up = self.resume(&input.bucket, &input.key, &input.upload_id).await?;
        let part = u32::try_from(input.part_number).ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
            s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
        })?;
        let len = body_length(input.content_length, &headers)?
            .ok_or_else(|| s3_error!(MissingContentLength, "UploadPart needs the part's length"))?;
        let expected = Expected::from_headers(
            &headers,
            input.content_md5.clone(),
            [
                (Alg::Crc32, input.checksum_crc32.clone()),
                (Alg::Crc32c, input.checksum_crc32c.clone()),
                (Alg::Crc64Nvme, input.checksum_crc64nvme.clone()),
                (Alg::Sha1, input.checksum_sha1.clone()),
                (Alg::Sha256, input.checksum_sha256.clone()),
            ],
        )?;
        let (reader, outcome) = VerifyingReader::new(input.body, Some(len), expected, trailing_headers);
        let result = up.upload_part(part, Body::from_reader(reader), len).await;
        let (_, digests, bytes) = body_result(&outcome, result)?;
        self.metrics.add_bytes_in(bytes);
        let output = UploadPartOutput { e_tag: Some(ETag::Strong(digests.md5_hex())), ..Default::default() };
        Ok(S3Response::new(output))
    }

    async fn complete_multipart_upload_inner(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let up = self.resume(&input.bucket, &input.key, &input.upload_id).await?;
        let requested: Vec<(u32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let n = p.part_number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| s3_error!(InvalidPart))?;
                Ok((n, p.e_tag.map(|e| e.value().to_string()).unwrap_or_default()))
            })
            .collect::<S3Result<_>>()?;
        if requested.is_empty() {
            return Err(s3_error!(MalformedXML, "You must specify at least one part"));
        }
        if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(s3_error!(InvalidPartOrder, "The list of parts was not in ascending order."));
        }
        let stored = up.stored_parts().await.map_err(map_err)?;
        let mut parts = Vec::with_capacity(requested.len());
        for (n, _) in &requested {
            let s = stored
                .iter()
                .find(|s| s.part_number == *n)
                .ok_or_else(|| s3_error!(InvalidPart, "Part {n} was not uploaded"))?;
            parts.push(SealedPart { part_number: *n, e_tag: s.e_tag.clone(), plaintext_length: s.plaintext_length });
        }
        let out = up.complete(parts).await.map_err(|e| match e {
            Error::InvalidParameter(m) => s3_error!(InvalidPart, "{m}"),
            other => map_err(other),
        })?;
        let md5s: Vec<String> = requested.into_iter().map(|(_, e)| e).collect();
        let output = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: multipart_etag(&md5s).map(ETag::Strong).or_else(|| etag_out(out.e_tag.as_deref())),
            version_id: written_version(out.version_id),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn list_parts_inner(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let up = self.resume(&input.bucket, &input.key, &input.upload_id).await?;
        let mut stored = up.stored_parts().await.map_err(map_err)?;
        // S3 lists parts in ascending part number; not every upstream does.
        stored.sort_by_key(|p| p.part_number);
        let parts = stored
            .into_iter()
            .map(|p| Part {
                part_number: i32::try_from(p.part_number).ok(),
                size: i64::try_from(p.plaintext_length).ok(),
                e_tag: p.e_tag.as_deref().map(|e| ETag::Strong(e.trim_matches('"').to_string())),
                ..Default::default()
            })
            .collect();
        let output = ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            parts: Some(parts),
            is_truncated: Some(false),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn copy_object_inner(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, version_id: None } => (bucket.to_string(), key.to_string()),
            CopySource::Bucket { .. } => {
                return Err(s3_error!(NotImplemented, "copying a specific version is not supported through s3seal"));
            }
            _ => return Err(s3_error!(NotImplemented, "access point copy sources are not supported through s3seal")),
        };
        let mut copy = self.client.copy_object().source(&src_bucket, &src_key).bucket(&input.bucket).key(&input.key);
        if input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE) {
            copy = copy.replace_headers(ObjectHeaders {
                content_type: input.content_type,
                cache_control: input.cache_control,
                content_disposition: input.content_disposition,
                content_encoding: content_encoding(input.content_encoding),
                content_language: input.content_language,
                metadata: user_metadata(input.metadata),
            });
        } else if src_bucket == input.bucket && src_key == input.key {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata."
            ));
        }
        let out = copy.send().await.map_err(map_err)?;
        let output = CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult { e_tag: etag_out(out.e_tag.as_deref()), ..Default::default() }),
            version_id: written_version(out.version_id),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }
}

/// Drops the envelope sidecars (`.s3seal/envelopes/...`, written for
/// envelopes over S3's metadata limit) from a listing, and the `.s3seal/`
/// common prefix.
fn hide_sidecars<T>(
    items: &mut Option<Vec<T>>,
    prefixes: &mut Option<Vec<s3s::dto::CommonPrefix>>,
    key: impl Fn(&T) -> Option<&str>,
) {
    let top = s3seal::s3::SIDECAR_PREFIX.split('/').next().map(|p| format!("{p}/")).unwrap_or_default();
    if let Some(v) = items.as_mut() {
        v.retain(|o| !key(o).is_some_and(|k| k.starts_with(s3seal::s3::SIDECAR_PREFIX)));
    }
    if let Some(v) = prefixes.as_mut() {
        v.retain(|p| !p.prefix.as_deref().is_some_and(|p| p == top || p.starts_with(s3seal::s3::SIDECAR_PREFIX)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(etag_out(Some("\"abc\"")), Some(ETag::Strong("abc-0".into())));
        assert_eq!(etag_out(Some("\"abc-3\"")), Some(ETag::Strong("abc-3".into())));
        assert_eq!(etag_in("abc-0"), "\"abc\"");
        assert_eq!(etag_in("\"abc-3\""), "\"abc-3\"");
        assert_eq!(
            multipart_etag(&["0cc175b9c0f1b6a831c399e269772661".into(), "92eb5ffee6ae2fec3ad71c777531578f".into()]),
            Some("96e024ba2074fe77e8e965ba43a704be-2".to_string())
        );
        assert_eq!(multipart_etag(&["zz".into()]), None);
        assert_eq!(content_encoding(Some("aws-chunked".into())), None);
        assert_eq!(content_encoding(Some("gzip,aws-chunked".into())), Some("gzip".into()));
        assert_eq!(content_encoding(Some("gzip".into())), Some("gzip".into()));
    }

    #[test]
    fn null_version_of_a_write_is_not_passed_on() {
        assert_eq!(written_version(Some("null".into())), None);
        assert_eq!(written_version(Some("3HL4kqtJlcpXroDTDmJ".into())), Some("3HL4kqtJlcpXroDTDmJ".into()));
        assert_eq!(written_version(None), None);
    }

    #[test]
    fn upstream_4xx_without_code_keeps_its_status() {
        let e = map_err(Error::S3 { operation: "HeadObject", status: Some(400), code: None, message: "x".into() });
        assert_eq!(e.status_code(), Some(http::StatusCode::BAD_REQUEST));
        assert_eq!(e.code().as_str(), "InvalidRequest");
        let e = map_err(Error::S3 { operation: "GetObject", status: None, code: None, message: "x".into() });
        assert_eq!(e.status_code(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    }
}
