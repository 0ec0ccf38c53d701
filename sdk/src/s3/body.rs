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
use crate::inplace::{FrameBuffer, InPlaceDecrypt};
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
    dec: Option<FrameDecryptor>,
    frames: FrameBuffer,
    /// Unencrypted objects: bytes read and not yet handed out.
    chunk: Vec<u8>,
    chunk_pos: usize,
    chunk_len: usize,
    skip: u64,
    remaining: u64,
    done: bool,
    failed: bool,
}

impl std::fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBody")
            .field("remaining", &self.remaining)
            .field("encrypted", &self.dec.is_some())
            .finish()
    }
}

impl ObjectBody {
    pub(crate) fn decrypting(inner: Pin<Box<dyn AsyncRead + Send>>, dec: FrameDecryptor, skip: u64, len: u64) -> Self {
        Self::new(inner, Some(dec), skip, len)
    }

    pub(crate) fn plain(inner: Pin<Box<dyn AsyncRead + Send>>, len: u64) -> Self {
        Self::new(inner, None, 0, len)
    }

    fn new(inner: Pin<Box<dyn AsyncRead + Send>>, dec: Option<FrameDecryptor>, skip: u64, len: u64) -> Self {
        Self {
            inner,
            dec,
            frames: FrameBuffer::new(),
            chunk: Vec::new(),
            chunk_pos: 0,
            chunk_len: 0,
            skip,
            remaining: len,
            done: false,
            failed: false,
        }
    }

    /// Reads the whole body into memory.
    pub async fn collect(mut self) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(usize::try_from(self.remaining).unwrap_or(0).min(64 << 20));
        self.read_to_end(&mut v).await.map_err(|e| match e.into_inner() {
            Some(inner) => match inner.downcast::<Error>() {
                Ok(err) => *err,
                Err(other) => Error::io_other(other),
            },
            None => Error::io_other("read failed"),
        })?;
        Ok(v)
    }

    /// Unencrypted objects: hands out what was read, else reads more.
    fn poll_plain(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.chunk_pos < self.chunk_len {
                let n = (self.chunk_len - self.chunk_pos).min(buf.remaining()).min(clamp(self.remaining));
                buf.put_slice(&self.chunk[self.chunk_pos..self.chunk_pos + n]);
                self.chunk_pos += n;
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    self.chunk_pos = self.chunk_len;
                }
                return Poll::Ready(Ok(()));
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            if self.chunk.is_empty() {
                self.chunk.resize(PLAIN_CHUNK, 0);
            }
            let mut rb = ReadBuf::new(&mut self.chunk);
            ready!(self.inner.as_mut().poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            (self.chunk_pos, self.chunk_len) = (0, n);
            if n == 0 {
                self.done = true;
                if self.remaining > 0 {
                    return Poll::Ready(Err(invalid(Error::Truncated("the object ended early"))));
                }
            }
        }
    }

    /// Encrypted objects: hands out verified plaintext of the requested
    /// range, reading and opening frames as needed; plaintext before the
    /// range or past its end is verified, then dropped.
    fn poll_decrypted(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let Some(dec) = self.dec.as_mut() else { return Poll::Ready(Err(invalid(Error::Crypto("no decryptor")))) };
        loop {
            if self.skip > 0 || self.remaining == 0 {
                self.frames.open(dec).map_err(invalid)?;
                let ready = self.frames.plaintext().len();
                if ready > 0 {
                    let drop = if self.skip > 0 { ready.min(clamp(self.skip)) } else { ready };
                    self.frames.consume(drop);
                    self.skip = self.skip.saturating_sub(drop as u64);
                    continue;
                }
            } else {
                let start = buf.filled().len();
                let room = (buf.initialized().len() - start).min(clamp(self.remaining));
                let n = self.frames.read_to(dec, &mut buf.initialized_mut()[start..start + room]).map_err(invalid)?;
                if n > 0 {
                    buf.advance(n);
                    self.remaining -= n as u64;
                    return Poll::Ready(Ok(()));
                }
                let ready = self.frames.plaintext();
                if !ready.is_empty() {
                    let n = ready.len().min(buf.remaining()).min(clamp(self.remaining));
                    buf.put_slice(&ready[..n]);
                    self.frames.consume(n);
                    self.remaining -= n as u64;
                    return Poll::Ready(Ok(()));
                }
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            let want = self.frames.want(dec.preferred_read_len());
            let mut rb = ReadBuf::new(self.frames.space(want));
            ready!(self.inner.as_mut().poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                self.done = true;
                let pending = self.frames.pending();
                if !pending.is_empty() {
                    // An incomplete frame (or one too many): the byte
                    // decryptor reports which.
                    dec.update(pending, &mut Vec::new()).map_err(invalid)?;
                }
                dec.finish().map_err(invalid)?;
            } else {
                self.frames.filled(n);
            }
        }
    }
}

/// A decryption error as an I/O error (inner I/O errors pass unchanged).
fn invalid(e: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// `n` as a `usize`, saturating.
fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl AsyncRead for ObjectBody {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "object decryption already failed")));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let r = if this.dec.is_some() { this.poll_decrypted(cx, buf) } else { this.poll_plain(cx, buf) };
        match ready!(r) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => {
                this.failed = true;
                this.frames.clear();
                this.chunk_pos = this.chunk_len;
                Poll::Ready(Err(e))
            }
        }
    }
}
