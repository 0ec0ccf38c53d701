//! The one decrypting reader: the I/O-free half shared by the message
//! readers (`std::io` and Tokio) and the S3 client's object bodies.
//!
//! [`PlaintextStream`] holds a decryptor, its [`FrameBuffer`] and the span
//! of plaintext to hand out. Each adapter only says how ciphertext is read
//! (a closure over its inner reader); what is released, when, and how a
//! failure ends the stream is decided here, once.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

use super::{FrameBuffer, InPlaceDecrypt};
use crate::error::Result;

/// A decrypting reader without its input: verified plaintext of the span
/// `skip..skip + len` of what `dec` decrypts. Plaintext before the span and
/// after it is verified, then dropped; the input is read to its end, so a
/// stream that ends early or carries extra bytes fails.
#[derive(Debug)]
pub(crate) struct PlaintextStream<D> {
    dec: D,
    frames: FrameBuffer,
    skip: u64,
    remaining: u64,
    done: bool,
    failed: bool,
}

impl<D: InPlaceDecrypt> PlaintextStream<D> {
    /// All the plaintext of `dec`; `read` is ciphertext already read.
    pub(crate) fn whole(dec: D, read: &[u8]) -> Self {
        let mut s = Self::span(dec, 0, u64::MAX);
        s.frames.push(read);
        s
    }

    /// The `len` bytes of plaintext after the first `skip`.
    pub(crate) fn span(dec: D, skip: u64, len: u64) -> Self {
        Self { dec, frames: FrameBuffer::new(), skip, remaining: len, done: false, failed: false }
    }

    /// The decryptor.
    pub(crate) fn decryptor(&self) -> &D {
        &self.dec
    }

    /// Plaintext left to hand out (`u64::MAX` for a whole stream).
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Adds verified plaintext to `out`, reading ciphertext with
    /// `read_input` (which fills the slice it is given and returns how
    /// many bytes it wrote, 0 at the end of the input). Nothing added
    /// means the end of the plaintext. After an error every later read
    /// fails too, and no plaintext is left to read.
    pub(crate) fn poll_read(
        &mut self,
        out: &mut ReadBuf<'_>,
        read_input: impl FnMut(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<()>> {
        if self.failed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "decryption already failed")));
        }
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let r = ready!(self.poll_plaintext(out, read_input));
        if r.is_err() {
            self.failed = true;
            self.frames.clear();
        }
        Poll::Ready(r)
    }

    fn poll_plaintext(
        &mut self,
        out: &mut ReadBuf<'_>,
        mut read_input: impl FnMut(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.skip > 0 || self.remaining == 0 {
                if self.drop_verified()? {
                    continue;
                }
            } else if self.hand_out(out)? {
                return Poll::Ready(Ok(()));
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            let want = self.frames.want(self.dec.preferred_read_len());
            let n = ready!(read_input(self.frames.space(want)))?;
            if n == 0 {
                self.done = true;
                self.dec.finish_input(self.frames.pending())?;
            } else {
                self.frames.filled(n);
            }
        }
    }

    /// Outside the span: opens what is complete and drops its plaintext.
    /// False when more input is needed first.
    fn drop_verified(&mut self) -> Result<bool> {
        self.frames.open(&mut self.dec)?;
        let ready = self.frames.plaintext().len();
        if ready == 0 {
            return Ok(false);
        }
        let drop = if self.skip > 0 { ready.min(clamp(self.skip)) } else { ready };
        self.frames.consume(drop);
        self.skip = self.skip.saturating_sub(drop as u64);
        Ok(true)
    }

    /// Inside the span: adds plaintext to `out`, opening the next frame
    /// straight into its initialized part when the frame fits there.
    /// False when more input is needed first.
    fn hand_out(&mut self, out: &mut ReadBuf<'_>) -> Result<bool> {
        let start = out.filled().len();
        let room = (out.initialized().len() - start).min(clamp(self.remaining));
        let n = self.frames.read_to(&mut self.dec, &mut out.initialized_mut()[start..start + room])?;
        if n > 0 {
            out.advance(n);
            self.remaining -= n as u64;
            return Ok(true);
        }
        let ready = self.frames.plaintext();
        if ready.is_empty() {
            return Ok(false);
        }
        let n = ready.len().min(out.remaining()).min(clamp(self.remaining));
        out.put_slice(&ready[..n]);
        self.frames.consume(n);
        self.remaining -= n as u64;
        Ok(true)
    }
}

/// Runs one [`PlaintextStream::poll_read`] for a blocking reader: reads
/// plaintext into `buf` from `inner`, retrying interrupted reads.
pub(crate) fn read_blocking<D: InPlaceDecrypt>(
    stream: &mut PlaintextStream<D>,
    inner: &mut impl io::Read,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut out = ReadBuf::new(buf);
    let read_input = |space: &mut [u8]| {
        Poll::Ready(loop {
            match inner.read(space) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r,
            }
        })
    };
    match stream.poll_read(&mut out, read_input) {
        Poll::Ready(r) => r.map(|()| out.filled().len()),
        Poll::Pending => Err(io::Error::new(io::ErrorKind::WouldBlock, "a blocking read was not ready")),
    }
}

/// Runs one [`PlaintextStream::poll_read`] for an async reader: adds
/// plaintext to `out`, reading ciphertext from `inner`.
pub(crate) fn poll_async<D: InPlaceDecrypt>(
    stream: &mut PlaintextStream<D>,
    mut inner: Pin<&mut (impl AsyncRead + ?Sized)>,
    cx: &mut Context<'_>,
    out: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    stream.poll_read(out, |space| {
        let mut rb = ReadBuf::new(space);
        ready!(inner.as_mut().poll_read(cx, &mut rb))?;
        Poll::Ready(Ok(rb.filled().len()))
    })
}

/// `n` as a `usize`, saturating.
fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
