//! Decrypts a contiguous span of an object's frames, releasing each
//! frame's plaintext only after its tag verified.
//!
//! Frame positions come from the layout: part 0 for single-request objects;
//! for multipart objects the part and index of the first frame are given
//! (from a known or discovered part size), and each later frame is either
//! the next index in the same part or, after a frame flagged end-of-part,
//! index 0 of the next part. When the part size is not known, whether a
//! frame ends its part is found by trying both flags, which costs one extra
//! AEAD attempt per part and admits no other interpretation: a frame
//! verifies under exactly one position.

use std::sync::Arc;

use crate::crypto::aead::TAG_LEN;
use crate::error::{Error, Result};
use crate::inplace::{InPlaceDecrypt, Step};
use crate::object::envelope::Envelope;
use crate::object::frame::{FrameFlags, ObjectKey};

/// Bytes an object reader should ideally read at a time.
const READ_LEN: usize = crate::tuning::IO_CHUNK;
use crate::object::layout;

/// Where a frame sits in the object's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePosition {
    /// Part number (0 for single-request objects).
    pub part: u32,
    /// Index of the frame within its part.
    pub index: u32,
}

impl FramePosition {
    /// The position of global frame `frame` in an object whose parts other
    /// than the last hold `part_frames` frames (multipart) or in a
    /// single-request object (`part_frames == None`).
    pub fn of(frame: u64, part_frames: Option<u64>) -> Result<Self> {
        let too_big = || Error::malformed("frame position out of range");
        Ok(match part_frames {
            None => FramePosition { part: 0, index: u32::try_from(frame).map_err(|_| too_big())? },
            Some(0) => return Err(Error::malformed("part size of zero frames")),
            Some(k) => FramePosition {
                part: u32::try_from(frame / k + 1).map_err(|_| too_big())?,
                index: u32::try_from(frame % k).map_err(|_| too_big())?,
            },
        })
    }
}

/// Decrypts frames `first..=last` of one object.
#[derive(Debug)]
pub struct FrameDecryptor {
    key: Arc<ObjectKey>,
    frame: usize,
    multipart: bool,
    end_marked: bool,
    part_frames: Option<u64>,
    next: FramePosition,
    global: u64,
    last: u64,
    object_last: u64,
    object_last_len: usize,
    buf: Vec<u8>,
    /// A copy of a frame's ciphertext, for a second in-place attempt.
    spare: Vec<u8>,
}

/// How the flags of the next frame are known.
enum Flags {
    /// From its position.
    Known(FrameFlags),
    /// Not known: the frame may or may not end its part.
    EitherEnd,
}

impl FrameDecryptor {
    /// Prepares to decrypt frames `first..=last` of an object of
    /// `plaintext_len` bytes described by `envelope`. `first_position` is
    /// where frame `first` sits; `part_frames` the frames per part when
    /// known (for multipart objects).
    pub fn new(
        key: Arc<ObjectKey>,
        envelope: &Envelope,
        plaintext_len: u64,
        first: u64,
        last: u64,
        first_position: FramePosition,
        part_frames: Option<u64>,
    ) -> Result<Self> {
        let f = u64::from(envelope.frame_length);
        let frames = layout::frame_count(plaintext_len, f);
        if first > last || last >= frames {
            return Err(Error::InvalidParameter("frame span outside the object".into()));
        }
        let object_last = frames - 1;
        let object_last_len = usize::try_from(plaintext_len - object_last * f)
            .map_err(|_| Error::malformed("frame too large"))?
            + TAG_LEN;
        Ok(Self {
            key,
            frame: envelope.frame_length as usize,
            multipart: envelope.is_multipart(),
            end_marked: envelope.is_end_marked(),
            part_frames: if envelope.is_multipart() { part_frames } else { None },
            next: first_position,
            global: first,
            last,
            object_last,
            object_last_len,
            buf: Vec::new(),
            spare: Vec::new(),
        })
    }

    fn unit_len(&self) -> usize {
        if self.global == self.object_last { self.object_last_len } else { self.frame + TAG_LEN }
    }

    /// The index in the object of the next frame to verify (after a
    /// failure, the frame that failed).
    pub fn next_frame(&self) -> u64 {
        self.global
    }

    /// True once every frame of the span was verified.
    pub fn is_done(&self) -> bool {
        self.global > self.last
    }

    /// Splits `input` into frames, buffering a partial one across calls,
    /// and hands each whole frame to `open`.
    fn feed(&mut self, mut input: &[u8], mut open: impl FnMut(&mut Self, &[u8]) -> Result<()>) -> Result<()> {
        while !input.is_empty() {
            if self.is_done() {
                return Err(Error::malformed("more ciphertext than the requested frames"));
            }
            let need = self.unit_len();
            if self.buf.is_empty() && input.len() >= need {
                let (unit, rest) = input.split_at(need);
                open(self, unit)?;
                input = rest;
            } else {
                let take = (need - self.buf.len()).min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.buf.len() == need {
                    let unit = std::mem::take(&mut self.buf);
                    let r = open(self, &unit);
                    self.buf = unit;
                    self.buf.clear();
                    r?;
                }
            }
        }
        Ok(())
    }

    /// Decrypts what it can of `input`, appending verified plaintext to `out`.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.feed(input, |d, unit| d.frame_into(unit, out))
    }

    /// How the next frame's flags are known.
    fn flags(&self) -> Flags {
        if self.global == self.object_last {
            Flags::Known(FrameFlags::last_of_part(self.end_marked))
        } else if !self.multipart {
            Flags::Known(FrameFlags::NONE)
        } else if let Some(k) = self.part_frames {
            let end = u64::from(self.next.index) + 1 == k;
            Flags::Known(if end { FrameFlags::END_OF_PART } else { FrameFlags::NONE })
        } else {
            Flags::EitherEnd
        }
    }

    /// Opens the next frame with `open(part, index, flags)`, which must
    /// leave the ciphertext intact when it fails, then moves past it.
    fn open_with(&mut self, mut open: impl FnMut(&ObjectKey, u32, u32, FrameFlags) -> Result<()>) -> Result<()> {
        let (part, index) = (self.next.part, self.next.index);
        let ended_part = match self.flags() {
            Flags::Known(flags) => {
                open(&self.key, part, index, flags)?;
                flags.ends_part()
            }
            Flags::EitherEnd => match open(&self.key, part, index, FrameFlags::NONE) {
                Ok(()) => false,
                Err(_) => {
                    open(&self.key, part, index, FrameFlags::END_OF_PART)?;
                    true
                }
            },
        };
        self.advance(ended_part)
    }

    fn frame_into(&mut self, unit: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.open_with(|key, part, index, flags| key.open_frame_append(part, index, flags, unit, out))
    }

    fn frame_to(&mut self, unit: &[u8], out: &mut [u8]) -> Result<()> {
        self.open_with(|key, part, index, flags| key.open_frame_to(part, index, flags, unit, out))
    }

    /// Opens the next frame in place. When the frame may or may not end its
    /// part, a copy of the ciphertext is kept for the second attempt (a
    /// failed open zeroes the buffer).
    fn frame_in_place(&mut self, unit: &mut [u8]) -> Result<()> {
        if matches!(self.flags(), Flags::EitherEnd) {
            let mut spare = std::mem::take(&mut self.spare);
            spare.clear();
            spare.extend_from_slice(unit);
            let r = self.open_with(|key, part, index, flags| {
                if flags != FrameFlags::NONE {
                    unit.copy_from_slice(&spare);
                }
                key.open_frame(part, index, flags, unit).map(|_| ())
            });
            self.spare = spare;
            return r;
        }
        self.open_with(|key, part, index, flags| key.open_frame(part, index, flags, unit).map(|_| ()))
    }

    fn advance(&mut self, ended_part: bool) -> Result<()> {
        self.next = if ended_part {
            FramePosition {
                part: self.next.part.checked_add(1).ok_or_else(|| Error::malformed("too many parts"))?,
                index: 0,
            }
        } else {
            FramePosition {
                part: self.next.part,
                index: self.next.index.checked_add(1).ok_or_else(|| Error::malformed("too many frames"))?,
            }
        };
        self.global += 1;
        Ok(())
    }

    /// Decrypts what it can of `input` into `out`, returning the number of
    /// plaintext bytes written there. `out` must have room for them: at
    /// most `input.len()` plus the bytes buffered from earlier calls (a
    /// frame's worth). Writing into memory the caller already initialized
    /// spares the zero-filling that appending to a `Vec` needs. On error
    /// `out` must not be used.
    pub fn update_to(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let mut written = 0;
        self.feed(input, |d, unit| {
            let len = unit.len() - TAG_LEN;
            let dest = out
                .get_mut(written..written + len)
                .ok_or_else(|| Error::InvalidParameter("output too short for the plaintext".into()))?;
            d.frame_to(unit, dest)?;
            written += len;
            Ok(())
        })?;
        Ok(written)
    }

    /// Fails unless every frame of the span arrived.
    pub fn finish(&self) -> Result<()> {
        if self.is_done() && self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Truncated("the object ends before its last frame"))
        }
    }
}

impl InPlaceDecrypt for FrameDecryptor {
    fn open_next(&mut self, input: &mut [u8], out: &mut [u8]) -> Result<Step> {
        if self.is_done() {
            return Err(Error::malformed("more ciphertext than the requested frames"));
        }
        let need = self.unit_len();
        if input.len() < need {
            return Ok(Step::Need(need));
        }
        let len = need - TAG_LEN;
        if let Some(dest) = out.get_mut(..len) {
            self.frame_to(&input[..need], dest)?;
            return Ok(Step::Written { consumed: need, len });
        }
        self.frame_in_place(&mut input[..need])?;
        Ok(Step::Opened { consumed: need, plaintext: 0..len })
    }

    fn preferred_read_len(&self) -> usize {
        // Whole frames, so that reads rarely split one.
        let unit = self.frame + TAG_LEN;
        unit * (READ_LEN / unit).max(1)
    }
    fn finish_input(&mut self, pending: &[u8]) -> Result<()> {
        if !pending.is_empty() {
            // An incomplete unit: the byte decryptor buffers it and reports
            // what is missing (or that the stream had already ended).
            self.update(pending, &mut Vec::new())?;
        }
        self.finish()
    }
}
