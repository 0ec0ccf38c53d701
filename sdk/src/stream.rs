//! Streaming adapters over the message state machines, for `std::io` and
//! for Tokio.
//!
//! Memory is O(frame length) whatever the message size: each adapter holds
//! at most one frame of input, one read chunk, and the output of one chunk
//! (decrypting readers decrypt in place, in their read buffer).
//! Decrypting readers release a frame's plaintext only after its tag
//! verified; for signed suites the final frame is held until the signature
//! verified; a message that ends early is an error at end of stream.
//!
//! The `std::io` adapters obtain materials by blocking on the keyring's
//! future. Keyrings that call remote services (AWS KMS) need a Tokio
//! runtime to drive their calls: build them inside one, or give them a
//! runtime handle; never call the blocking adapters from async code.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::client::{Client, EncryptOptions};
use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::inplace::{PlaintextStream, poll_async, read_blocking};
use crate::message::{BodyDecryptor, Header, MessageEncryptor, ParseLimits};

/// Bytes read from the inner reader at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Parses a header incrementally from chunks; returns the header and the
/// bytes that followed it.
fn push_header_bytes(buf: &mut Vec<u8>, limits: ParseLimits) -> Result<Option<(Header, Vec<u8>)>> {
    Ok(Header::parse(buf, limits)?.map(|(h, used)| (h, buf.split_off(used))))
}

/// Error when the stream ends inside the header.
fn header_eof() -> Error {
    Error::Truncated("the input ends inside the message header")
}

/// Writes an encrypted message to an inner [`Write`]. Call
/// [`EncryptingWriter::finish`] at the end: a writer dropped without it
/// leaves a truncated message, which every reader rejects.
pub struct EncryptingWriter<W: Write> {
    inner: W,
    enc: MessageEncryptor,
    out: Vec<u8>,
}

impl<W: Write> EncryptingWriter<W> {
    /// Obtains materials (blocking) and starts a message on `inner`.
    pub fn new(client: &Client, inner: W, opts: &EncryptOptions) -> Result<Self> {
        let enc = futures_executor::block_on(client.encryptor(opts))?;
        Ok(Self { inner, enc, out: Vec::new() })
    }

    /// The header of the message being written.
    pub fn header(&self) -> &Header {
        self.enc.header()
    }

    /// Writes the final frame and footer, flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.enc.finish(&mut self.out)?;
        self.inner.write_all(&self.out)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(READ_CHUNK);
        self.out.clear();
        self.enc.update(&buf[..n], &mut self.out)?;
        self.inner.write_all(&self.out)?;
        self.out.clear();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads plaintext from an encrypted message on an inner [`Read`].
///
/// Ciphertext is read into a buffer of about one frame and each frame is
/// decrypted there, in place; once its tag verified, reads copy its
/// plaintext straight out of that buffer.
pub struct DecryptingReader<R: Read> {
    inner: R,
    header: Header,
    plaintext: PlaintextStream<BodyDecryptor>,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads and verifies the header (blocking on the keyring), ready to
    /// stream the body.
    pub fn new(client: &Client, mut inner: R, reproduced: &EncryptionContext) -> Result<Self> {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 8 * 1024];
        let (header, rest) = loop {
            let n = inner.read(&mut chunk)?;
            if n == 0 {
                return Err(header_eof());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(found) = push_header_bytes(&mut buf, client.parse_limits())? {
                break found;
            }
        };
        let dec = futures_executor::block_on(client.body_decryptor(&header, reproduced))?;
        Ok(Self { inner, header, plaintext: PlaintextStream::whole(dec, &rest) })
    }

    /// The verified header.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_blocking(&mut self.plaintext, &mut self.inner, buf)
    }
}

/// Writes an encrypted message to an inner [`AsyncWrite`]. Shut it down
/// (`AsyncWriteExt::shutdown`) to write the final frame.
pub struct AsyncEncryptingWriter<W> {
    inner: W,
    enc: MessageEncryptor,
    out: Vec<u8>,
    flushed: usize,
    finished: bool,
}

impl<W: AsyncWrite + Unpin> AsyncEncryptingWriter<W> {
    /// Obtains materials and starts a message on `inner`.
    pub async fn new(client: &Client, inner: W, opts: &EncryptOptions) -> Result<Self> {
        let enc = client.encryptor(opts).await?;
        Ok(Self { inner, enc, out: Vec::new(), flushed: 0, finished: false })
    }

    /// The header of the message being written.
    pub fn header(&self) -> &Header {
        self.enc.header()
    }

    /// The inner writer (after shutdown).
    pub fn into_inner(self) -> W {
        self.inner
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.flushed < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.flushed..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.flushed += n;
        }
        self.out.clear();
        self.flushed = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AsyncEncryptingWriter<W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(Err(io::Error::other("write after shutdown")));
        }
        ready!(this.poll_drain(cx))?;
        let n = buf.len().min(READ_CHUNK);
        this.enc.update(&buf[..n], &mut this.out)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if !this.finished {
            this.finished = true;
            this.enc.finish(&mut this.out)?;
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Reads plaintext from an encrypted message on an inner [`AsyncRead`],
/// decrypting each frame in place as [`DecryptingReader`] does.
pub struct AsyncDecryptingReader<R> {
    inner: R,
    header: Header,
    plaintext: PlaintextStream<BodyDecryptor>,
}

impl<R: AsyncRead + Unpin> AsyncDecryptingReader<R> {
    /// Reads and verifies the header, ready to stream the body.
    pub async fn new(client: &Client, mut inner: R, reproduced: &EncryptionContext) -> Result<Self> {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 8 * 1024];
        let (header, rest) = loop {
            let n = inner.read(&mut chunk).await?;
            if n == 0 {
                return Err(header_eof());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(found) = push_header_bytes(&mut buf, client.parse_limits())? {
                break found;
            }
        };
        let dec = client.body_decryptor(&header, reproduced).await?;
        Ok(Self { inner, header, plaintext: PlaintextStream::whole(dec, &rest) })
    }

    /// The verified header.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsyncDecryptingReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        poll_async(&mut this.plaintext, Pin::new(&mut this.inner), cx, buf)
    }
}
