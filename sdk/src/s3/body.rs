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
const SEND_CHUNK: usize = 256 * 1024;

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
    let (tx, rx) = mpsc::channel(2);
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
    ChannelBody { rx, len: ciphertext_len }
}

/// The plaintext of a downloaded object (or of a range of it), verified
/// frame by frame as it streams.
pub struct ObjectBody {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    dec: Option<FrameDecryptor>,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
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
        Self {
            inner,
            dec: Some(dec),
            chunk: Vec::new(),
            out: Vec::new(),
            pos: 0,
            skip,
            remaining: len,
            done: false,
            failed: false,
        }
    }

    pub(crate) fn plain(inner: Pin<Box<dyn AsyncRead + Send>>, len: u64) -> Self {
        Self {
            inner,
            dec: None,
            chunk: Vec::new(),
            out: Vec::new(),
            pos: 0,
            skip: 0,
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
                Err(other) => Error::Io(io::Error::other(other)),
            },
            None => Error::Io(io::Error::other("read failed")),
        })?;
        Ok(v)
    }

    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), io::Error>> {
        self.out.clear();
        self.pos = 0;
        if self.chunk.is_empty() {
            self.chunk.resize(256 * 1024, 0);
        }
        let mut rb = ReadBuf::new(&mut self.chunk);
        ready!(self.inner.as_mut().poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        let result = match &mut self.dec {
            Some(dec) if n == 0 => dec.finish(),
            Some(dec) => dec.update(&self.chunk[..n], &mut self.out),
            None => {
                self.out.extend_from_slice(&self.chunk[..n]);
                if n == 0 && self.remaining > 0 { Err(Error::Truncated("the object ended early")) } else { Ok(()) }
            }
        };
        if let Err(e) = result {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        if n == 0 {
            self.done = true;
        }
        // Drop plaintext before the requested range, and past its end.
        if self.skip > 0 {
            let s = (self.skip as usize).min(self.out.len());
            self.pos = s;
            self.skip -= s as u64;
        }
        let available = (self.out.len() - self.pos) as u64;
        if available > self.remaining {
            self.out.truncate(self.pos + self.remaining as usize);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ObjectBody {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "object decryption already failed")));
        }
        while this.pos == this.out.len() && !this.done {
            if let Err(e) = ready!(this.fill(cx)) {
                this.failed = true;
                this.out.clear();
                this.pos = 0;
                return Poll::Ready(Err(e));
            }
        }
        let n = buf.remaining().min(this.out.len() - this.pos);
        buf.put_slice(&this.out[this.pos..this.pos + n]);
        this.pos += n;
        this.remaining -= n as u64;
        Poll::Ready(Ok(()))
    }
}
