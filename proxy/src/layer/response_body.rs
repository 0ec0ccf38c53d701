//! Response bodies: the decrypted plaintext streamed to the client.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::{Stream, TryStreamExt};
use s3s::dto::StreamingBlob;
use tokio_util::io::ReaderStream;

use crate::metrics::Metrics;

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

pub(super) fn plaintext_blob(body: s3seal::s3::ObjectBody, metrics: Arc<Metrics>) -> StreamingBlob {
    let stream = ReaderStream::with_capacity(body, s3seal::tuning::IO_CHUNK)
        .inspect_ok(move |b| metrics.add_bytes_out(b.len() as u64));
    StreamingBlob::wrap(SyncStream(Mutex::new(Box::pin(stream))))
}
