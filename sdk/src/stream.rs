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
use crate::inplace::FrameBuffer;
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
    dec: BodyDecryptor,
    frames: FrameBuffer,
    done: bool,
    failed: bool,
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
        let mut frames = FrameBuffer::new();
        frames.push(&rest);
        Ok(Self { inner, header, dec, frames, done: false, failed: false })
    }

    /// The verified header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads more ciphertext into the buffer; at the end of the input,
    /// checks that the message is complete.
    fn fill(&mut self) -> Result<()> {
        let want = self.frames.want(self.dec.preferred_read_len());
        let space = self.frames.space(want);
        let n = loop {
            match self.inner.read(space) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            self.done = true;
            end_of_input(&mut self.dec, &self.frames)
        } else {
            self.frames.filled(n);
            Ok(())
        }
    }

    fn read_plaintext(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let n = self.frames.read_to(&mut self.dec, buf)?;
            if n > 0 || self.done {
                return Ok(n);
            }
            self.fill()?;
        }
    }
}

/// At the end of the input: fails unless the message is complete and no
/// bytes are left over.
fn end_of_input(dec: &mut BodyDecryptor, frames: &FrameBuffer) -> Result<()> {
    let pending = frames.pending();
    if !pending.is_empty() {
        // An incomplete unit: the byte decryptor buffers it and reports
        // what is missing (or that the message had already ended).
        dec.update(pending, &mut Vec::new())?;
    }
    dec.finish()
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "decryption already failed"));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_plaintext(buf).map_err(|e| {
            self.failed = true;
            self.frames.clear();
            e.into()
        })
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
    dec: BodyDecryptor,
    frames: FrameBuffer,
    done: bool,
    failed: bool,
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
        let mut frames = FrameBuffer::new();
        frames.push(&rest);
        Ok(Self { inner, header, dec, frames, done: false, failed: false })
    }

    /// The verified header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads more ciphertext into the buffer; at the end of the input,
    /// checks that the message is complete.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let want = self.frames.want(self.dec.preferred_read_len());
        let mut rb = ReadBuf::new(self.frames.space(want));
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        Poll::Ready(if n == 0 {
            self.done = true;
            end_of_input(&mut self.dec, &self.frames)
        } else {
            self.frames.filled(n);
            Ok(())
        })
    }

    fn poll_plaintext(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<Result<()>> {
        loop {
            // Plaintext goes straight into the caller's buffer where it is
            // already initialized; else it is copied out of ours.
            let n = {
                let start = buf.filled().len();
                let out = &mut buf.initialized_mut()[start..];
                self.frames.read_to(&mut self.dec, out)?
            };
            if n > 0 {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            let ready = self.frames.plaintext();
            if !ready.is_empty() {
                let n = ready.len().min(buf.remaining());
                buf.put_slice(&ready[..n]);
                self.frames.consume(n);
                return Poll::Ready(Ok(()));
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_fill(cx))?;
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsyncDecryptingReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "decryption already failed")));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match ready!(this.poll_plaintext(cx, buf)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => {
                this.failed = true;
                this.frames.clear();
                Poll::Ready(Err(e.into()))
            }
        }
    }
}
