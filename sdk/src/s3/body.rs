//! Bodies: ciphertext produced from a plaintext reader for uploads, and
//! plaintext produced from a ciphertext stream for downloads.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::inplace::{InPlaceDecrypt, PlaintextStream, Step, poll_async};
use crate::object::{FrameDecryptor, PartEncryptor};

/// A plaintext source for an upload.
pub enum Body {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A stream, read once.
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::Reader(_) => f.write_str("Body::Reader"),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::Bytes(Bytes::from(v))
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Bytes(b)
    }
}

impl From<&'static [u8]> for Body {
    fn from(b: &'static [u8]) -> Self {
        Body::Bytes(Bytes::from_static(b))
    }
}

impl Body {
    /// A body read from `reader`.
    pub fn from_reader(reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Body::Reader(Box::new(reader))
    }

    /// The length, when it is known without reading.
    pub fn known_len(&self) -> Option<u64> {
        match self {
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Reader(_) => None,
        }
    }

    pub(crate) fn into_reader(self) -> Box<dyn AsyncRead + Send + Unpin> {
        match self {
            Body::Bytes(b) => Box::new(io::Cursor::new(b)),
            Body::Reader(r) => r,
        }
    }
}

/// Chunk size of the ciphertext handed to the HTTP client.
const SEND_CHUNK: usize = crate::tuning::IO_CHUNK;

/// An HTTP body fed by an encrypting task, so encryption runs beside the
/// upload. At most two chunks are queued: memory stays bounded.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<std::result::Result<Bytes, io::Error>>,
    len: u64,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
        match ready!(self.rx.poll_recv(cx)) {
            Some(Ok(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Some(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// A body of `len` bytes fed through a channel that holds at most two
/// chunks, and the sender that feeds it.
pub(crate) fn channel_body(len: u64) -> (mpsc::Sender<std::result::Result<Bytes, io::Error>>, ChannelBody) {
    let (tx, rx) = mpsc::channel(2);
    (tx, ChannelBody { rx, len })
}

/// Encrypts `reader` with `enc` on a spawned task and returns the body
/// that streams the ciphertext (`ciphertext_len` bytes).
pub(crate) fn encrypting_body(
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
    mut enc: PartEncryptor,
    ciphertext_len: u64,
) -> ChannelBody {
    let (tx, body) = channel_body(ciphertext_len);
    tokio::spawn(async move {
        let mut buf = vec![0u8; SEND_CHUNK];
        let mut out = Vec::with_capacity(SEND_CHUNK + 4096);
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let step = if n == 0 { enc.finish(&mut out) } else { enc.update(&buf[..n], &mut out) };
            if let Err(e) = step {
                let _ = tx.send(Err(io::Error::new(io::ErrorKind::InvalidData, e))).await;
                return;
            }
            if (n == 0 || out.len() >= SEND_CHUNK) && !out.is_empty() {
                let chunk = Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(SEND_CHUNK + 4096)));
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
            if n == 0 {
                return;
            }
        }
    });
    body
}

/// Bytes read at a time from an unencrypted object.
const PLAIN_CHUNK: usize = crate::tuning::IO_CHUNK;

/// The plaintext of a downloaded object (or of a range of it), verified
/// frame by frame as it streams.
///
/// Ciphertext is read into a buffer of the body's own; each frame is
/// opened straight into the caller's read buffer when its plaintext fits
/// in the initialized part of it, else in place, and then copied out.
pub struct ObjectBody {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    plaintext: PlaintextStream<ObjectDecryptor>,
}

impl std::fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBody")
            .field("remaining", &self.plaintext.remaining())
            .field("encrypted", &matches!(self.plaintext.decryptor(), ObjectDecryptor::Sealed(_)))
            .finish()
    }
}

impl ObjectBody {
    pub(crate) fn decrypting(inner: Pin<Box<dyn AsyncRead + Send>>, dec: FrameDecryptor, skip: u64, len: u64) -> Self {
        Self { inner, plaintext: PlaintextStream::span(ObjectDecryptor::Sealed(dec), skip, len) }
    }

    pub(crate) fn plain(inner: Pin<Box<dyn AsyncRead + Send>>, len: u64) -> Self {
        Self { inner, plaintext: PlaintextStream::span(ObjectDecryptor::Unsealed { left: len }, 0, len) }
    }

    /// Reads the whole body into memory.
    pub async fn collect(mut self) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(usize::try_from(self.plaintext.remaining()).unwrap_or(0).min(64 << 20));
        self.read_to_end(&mut v).await.map_err(Self::read_error)?;
        Ok(v)
    }

    /// The SDK error behind a failed read of an `ObjectBody` (the
    /// [`Error`] it carries, e.g. [`Error::Authentication`] for a frame
    /// that did not verify), or [`Error::Io`] for a failure of the
    /// transport.
    pub fn read_error(e: io::Error) -> Error {
        match e.into_inner() {
            Some(inner) => match inner.downcast::<Error>() {
                Ok(err) => *err,
                Err(other) => Error::io_other(other),
            },
            None => Error::io_other("read failed"),
        }
    }

    /// For an encrypted object: the index (in the whole object, from 0) of
    /// the next frame to verify; after a failed read, the frame that
    /// failed (or was missing). `None` for an object stored unencrypted.
    pub fn next_frame(&self) -> Option<u64> {
        match self.plaintext.decryptor() {
            ObjectDecryptor::Sealed(dec) => Some(dec.next_frame()),
            ObjectDecryptor::Unsealed { .. } => None,
        }
    }
}

impl AsyncRead for ObjectBody {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        poll_async(&mut this.plaintext, this.inner.as_mut(), cx, buf)
    }
}

/// What opens an object's bytes: its frames, or nothing at all for an
/// object stored without encryption.
#[derive(Debug)]
enum ObjectDecryptor {
    Sealed(FrameDecryptor),
    /// An unencrypted object with `left` bytes still to come.
    Unsealed {
        left: u64,
    },
}

impl InPlaceDecrypt for ObjectDecryptor {
    fn open_next(&mut self, input: &mut [u8], out: &mut [u8]) -> Result<Step> {
        let left = match self {
            Self::Sealed(dec) => return dec.open_next(input, out),
            Self::Unsealed { left } => left,
        };
        let n = input.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
        if n == 0 {
            return Err(Error::malformed("more bytes than the object's length"));
        }
        *left -= n as u64;
        Ok(match out.get_mut(..n) {
            Some(dest) => {
                dest.copy_from_slice(&input[..n]);
                Step::Written { consumed: n, len: n }
            }
            None => Step::Opened { consumed: n, plaintext: 0..n },
        })
    }

    fn preferred_read_len(&self) -> usize {
        match self {
            Self::Sealed(dec) => dec.preferred_read_len(),
            Self::Unsealed { .. } => PLAIN_CHUNK,
        }
    }

    fn finish_input(&mut self, pending: &[u8]) -> Result<()> {
        match self {
            Self::Sealed(dec) => dec.finish_input(pending),
            Self::Unsealed { left: 0 } if pending.is_empty() => Ok(()),
            Self::Unsealed { .. } => Err(Error::Truncated("the object ended early")),
        }
    }
}
