//! Hashing a request body's plaintext as it passes, for the checksums the
//! client declared (`Content-MD5`, `x-amz-checksum-*`): inline for small
//! bodies, on a thread of its own beside decoding and encryption for large
//! ones. A body without declared checksums is not hashed at all.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::Stream;
use s3seal::checksum::{ChecksumAlgorithm as Alg, Digests, PlaintextDigest};

/// Bodies of at least this many bytes (or of unknown length) are hashed on
/// a thread of their own, beside decoding and encryption.
pub(super) const HASH_ASIDE_MIN: u64 = 1 << 20;

/// Chunks go to the hashing thread in batches of at least this many bytes
/// (fewer thread wake-ups), at most [`HASH_QUEUE`] batches queued: the
/// memory it can hold back is bounded (chunks are shared, not copied).
const HASH_BATCH: usize = s3seal::tuning::IO_CHUNK;

/// Batches queued for the hashing thread.
const HASH_QUEUE: usize = 4;

/// Where the plaintext digests (the client's `Content-MD5` and checksum)
/// are computed.
pub(super) enum Hasher {
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
    /// Computes the MD5 only if `md5`, and `algorithm`'s checksum if any.
    pub(super) fn new(md5: bool, algorithm: Option<Alg>, aside: bool) -> Self {
        if !aside {
            return Self::Inline(Some(Box::new(PlaintextDigest::with_md5(md5, algorithm))));
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(HASH_QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            let mut d = PlaintextDigest::with_md5(md5, algorithm);
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
    pub(super) fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Digests>> {
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
pub(super) struct HashingStream {
    pub(super) inner: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
    pub(super) hasher: Hasher,
    pub(super) pending: Option<Bytes>,
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
