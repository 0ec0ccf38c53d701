//! Decryption for readers without an intermediate output buffer:
//! ciphertext is read into a buffer the reader owns, and each complete
//! frame is opened either straight into the caller's read buffer (when its
//! plaintext fits there) or in place, the reader then handing out slices
//! of its own buffer.
//!
//! Compared with appending plaintext to a separate output buffer and
//! copying it out, this saves zero-filling that buffer and one copy of
//! every frame. The rules on what may be released are unchanged: a frame's
//! plaintext becomes visible only after its tag verified (a failed open
//! zeroes whatever it wrote, see [`crate::crypto::aead::AeadKey::open_to`]
//! and [`crate::crypto::aead::AeadKey::open_in_place`], and the read fails),
//! and plaintext a decryptor holds back (the final frame of a signed
//! message) is released only when the decryptor says so.

use std::ops::Range;

use crate::error::Result;

mod buffer;
mod reader;

pub use buffer::FrameBuffer;
pub(crate) use reader::{PlaintextStream, poll_async, read_blocking};

/// The outcome of one step of in-place decryption.
#[derive(Debug)]
pub enum Step {
    /// The unit at the start of the input is incomplete: it is at least
    /// this many bytes long (exactly, when the length is known).
    Need(usize),
    /// The first `consumed` bytes of the input were processed; the verified
    /// plaintext they held, possibly empty, is `input[plaintext]`.
    Opened {
        /// Bytes of input used.
        consumed: usize,
        /// Where the verified plaintext lies in the input.
        plaintext: Range<usize>,
    },
    /// The first `consumed` bytes of the input were processed; their
    /// verified plaintext was written to the start of the output.
    Written {
        /// Bytes of input used.
        consumed: usize,
        /// Bytes of plaintext written.
        len: usize,
    },
    /// The first `consumed` bytes of the input were processed and released
    /// `plaintext` that had been held back (the final frame of a signed
    /// message, once the signature verified).
    Released {
        /// Bytes of input used.
        consumed: usize,
        /// The plaintext released.
        plaintext: Vec<u8>,
    },
}

/// A decryptor that can open units (frames, footers) in place.
pub trait InPlaceDecrypt {
    /// Processes the unit at the start of `input`, which is not empty, if
    /// it is complete: its plaintext is written to `out` when it fits there
    /// and need not be held back, else decrypted in place. On error
    /// neither the unit's bytes nor `out` may be used (a failed open zeroes
    /// what it wrote).
    fn open_next(&mut self, input: &mut [u8], out: &mut [u8]) -> Result<Step>;

    /// How many bytes a reader should ideally read when no unit is in
    /// progress.
    fn preferred_read_len(&self) -> usize;

    /// At the end of the input: fails unless every unit arrived whole and
    /// no bytes are left over. `pending` are the bytes read and not yet
    /// processed (the start of an incomplete unit, or one too many).
    fn finish_input(&mut self, pending: &[u8]) -> Result<()>;
}
