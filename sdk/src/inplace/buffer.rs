//! The reader's buffer: ciphertext in, verified plaintext out, in place.

use std::ops::Range;

use super::{InPlaceDecrypt, Step};
use crate::error::Result;

/// A reader's buffer for decryption without an output buffer: ciphertext
/// is read into it, and each complete unit is opened straight into the
/// reader's output (see [`FrameBuffer::read_to`]) or else in place, its
/// verified plaintext then read out of this buffer as slices.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
    /// First byte not yet processed.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// Verified plaintext not yet consumed, inside `buf`.
    plain: Range<usize>,
    /// Plaintext released by a decryptor (held back until then).
    released: Vec<u8>,
    /// Bytes of `released` already consumed.
    released_pos: usize,
    /// Length of the unit in progress, when an open asked for more bytes.
    need: usize,
}

impl FrameBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verified plaintext ready to be read; empty when none is.
    pub fn plaintext(&self) -> &[u8] {
        if self.released_pos < self.released.len() {
            &self.released[self.released_pos..]
        } else {
            &self.buf[self.plain.clone()]
        }
    }

    /// Marks the first `n` bytes of [`FrameBuffer::plaintext`] as read.
    pub fn consume(&mut self, n: usize) {
        if self.released_pos < self.released.len() {
            self.released_pos = (self.released_pos + n).min(self.released.len());
        } else {
            self.plain.start = (self.plain.start + n).min(self.plain.end);
        }
    }

    /// Bytes read but not processed yet: the start of a unit.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// How many bytes to read next: the rest of the unit in progress (so
    /// that reads line up with units again), else `preferred`.
    pub fn want(&self, preferred: usize) -> usize {
        let pending = self.end - self.start;
        if pending == 0 { preferred.max(1) } else { self.need.saturating_sub(pending).max(1) }
    }

    /// Space for `len` more bytes of ciphertext, after any pending bytes.
    /// Call [`FrameBuffer::filled`] with the number of bytes written. Only
    /// call it once the plaintext was read.
    pub fn space(&mut self, len: usize) -> &mut [u8] {
        self.plain = 0..0;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < len && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.end + len {
            self.buf.resize(self.end + len, 0);
        }
        &mut self.buf[self.end..self.end + len]
    }

    /// Records that `n` bytes were written at the start of the last
    /// [`FrameBuffer::space`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Appends `bytes` as ciphertext read.
    pub fn push(&mut self, bytes: &[u8]) {
        self.space(bytes.len()).copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// Reads verified plaintext into `out`: what is ready, else the next
    /// complete unit's, opened straight into `out` when it fits. Returns 0
    /// when more input is needed, or when `out` is empty (after opening
    /// units in place until some plaintext is ready). On error nothing is
    /// left to read, and `out` must not be used.
    pub fn read_to(&mut self, dec: &mut impl InPlaceDecrypt, out: &mut [u8]) -> Result<usize> {
        let r = self.read_units(dec, out);
        if r.is_err() {
            self.clear();
        }
        r
    }

    fn read_units(&mut self, dec: &mut impl InPlaceDecrypt, out: &mut [u8]) -> Result<usize> {
        loop {
            let ready = self.plaintext();
            if !ready.is_empty() {
                let n = ready.len().min(out.len());
                out[..n].copy_from_slice(&ready[..n]);
                self.consume(n);
                return Ok(n);
            }
            if self.start == self.end {
                return Ok(0);
            }
            match dec.open_next(&mut self.buf[self.start..self.end], out)? {
                Step::Need(n) => {
                    self.need = n;
                    return Ok(0);
                }
                Step::Written { consumed, len } => {
                    self.start += consumed;
                    if len > 0 {
                        return Ok(len);
                    }
                }
                Step::Opened { consumed, plaintext } => {
                    self.plain = self.start + plaintext.start..self.start + plaintext.end;
                    self.start += consumed;
                }
                Step::Released { consumed, plaintext } => {
                    self.released = plaintext;
                    self.released_pos = 0;
                    self.start += consumed;
                }
            }
        }
    }

    /// Opens complete units in place until some plaintext is ready (see
    /// [`FrameBuffer::plaintext`]) or more input is needed. On error
    /// nothing is left to read.
    pub fn open(&mut self, dec: &mut impl InPlaceDecrypt) -> Result<()> {
        self.read_to(dec, &mut []).map(|_| ())
    }

    /// Drops everything: plaintext not read yet and pending bytes.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.plain = 0..0;
        self.released = Vec::new();
        self.released_pos = 0;
        self.need = 0;
    }
}
