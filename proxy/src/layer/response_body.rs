//! Response bodies: the decrypted plaintext streamed to the client.
//!
//! The first chunk is read (its frames verified) before the response is
//! answered, so an object whose first frame fails gets an S3 error instead
//! of a `200`. A frame that fails later ends the stream with an error,
//! which makes hyper abort the connection short of its `Content-Length`
//! (HTTP/1.1) or reset the stream (HTTP/2): never a clean, shorter body.
//! Every failure is logged (bucket, key, version, frame) and counted.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use s3s::dto::StreamingBlob;
use s3seal::Error;
use s3seal::s3::ObjectBody;

use super::errors::is_integrity_failure;
use crate::metrics::Metrics;

/// Makes a `Send` stream `Sync` by owning it behind a mutex that is only
/// ever accessed through `&mut` (so never contended).
struct SyncStream<S>(Mutex<S>);

impl<S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().0.get_mut() {
            Ok(s) => Pin::new(s).poll_next(cx),
            // A poisoned lock must not look like the end of the body.
            Err(_) => Poll::Ready(Some(Err(std::io::Error::other("response body lock poisoned")))),
        }
    }
}

/// The object a GET reads, for the log line of a failure.
#[derive(Debug, Clone)]
pub(super) struct ReadTarget {
    pub(super) operation: &'static str,
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) version: Option<String>,
}

impl ReadTarget {
    /// Logs and counts a stored object that failed verification. `frame`
    /// is the frame that failed, when one did; `streaming` when the
    /// response had already started (the connection is then aborted).
    pub(super) fn integrity_failure(&self, metrics: &Metrics, e: &Error, frame: Option<u64>, streaming: bool) {
        metrics.integrity_failure();
        tracing::warn!(
            operation = %self.operation,
            bucket = %self.bucket,
            key = %self.key,
            version = %self.version.as_deref().unwrap_or("-"),
            frame = %frame.map_or_else(|| "-".to_string(), |f| f.to_string()),
            streaming,
            error = %e,
            "stored object failed verification (integrity failure)"
        );
    }
}

/// Plaintext chunks of a GET body, at most this many bytes each.
const CHUNK: usize = s3seal::tuning::IO_CHUNK;

/// The body as a stream of chunks; an error ends it (and is logged and
/// counted once).
struct Plaintext {
    body: ObjectBody,
    first: Option<Bytes>,
    buf: BytesMut,
    metrics: Arc<Metrics>,
    target: ReadTarget,
    ended: bool,
    /// The failure to end the stream with, held back for one poll so that
    /// hyper flushes what it buffered (the head, verified plaintext) first.
    failure: Option<std::io::Error>,
}

impl Plaintext {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, std::io::Error>> {
        if self.buf.capacity() < CHUNK {
            self.buf.reserve(CHUNK);
        }
        let n = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut self.body), cx, &mut self.buf))?;
        Poll::Ready(Ok((n > 0).then(|| self.buf.split().freeze())))
    }
}

impl Stream for Plaintext {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if let Some(e) = this.failure.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        match ready!(this.poll_chunk(cx)) {
            Ok(Some(b)) => {
                this.metrics.add_bytes_out(b.len() as u64);
                Poll::Ready(Some(Ok(b)))
            }
            Ok(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.ended = true;
                let frame = this.body.next_frame();
                let err = ObjectBody::read_error(e);
                this.metrics.error(this.target.operation);
                if is_integrity_failure(&err) {
                    this.target.integrity_failure(&this.metrics, &err, frame, true);
                } else {
                    let t = &this.target;
                    tracing::warn!(bucket = %t.bucket, key = %t.key, error = %err, "GET body failed while streaming; connection aborted");
                }
                // Pending once (woken at once): hyper flushes the response
                // head and the verified bytes it holds before it sees the
                // error and drops the connection.
                this.failure = Some(std::io::Error::other(err));
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

/// The plaintext of `body` as a response body, its first chunk read (and
/// verified) now. On failure: the error and the frame that failed.
pub(super) async fn plaintext_blob(
    body: ObjectBody,
    metrics: Arc<Metrics>,
    target: ReadTarget,
) -> Result<StreamingBlob, (Error, Option<u64>)> {
    let mut stream = Plaintext {
        body,
        first: None,
        buf: BytesMut::with_capacity(CHUNK),
        metrics,
        target,
        ended: false,
        failure: None,
    };
    match std::future::poll_fn(|cx| stream.poll_chunk(cx)).await {
        Ok(Some(first)) => {
            stream.metrics.add_bytes_out(first.len() as u64);
            stream.first = Some(first);
        }
        Ok(None) => stream.ended = true,
        Err(e) => {
            let frame = stream.body.next_frame();
            return Err((ObjectBody::read_error(e), frame));
        }
    }
    Ok(StreamingBlob::wrap(SyncStream(Mutex::new(stream))))
}
