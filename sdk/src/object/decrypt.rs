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
use crate::object::envelope::Envelope;
use crate::object::frame::{END_OF_OBJECT, END_OF_PART, ObjectKey};
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
        })
    }

    fn unit_len(&self) -> usize {
        if self.global == self.object_last { self.object_last_len } else { self.frame + TAG_LEN }
    }

    /// True once every frame of the span was verified.
    pub fn is_done(&self) -> bool {
        self.global > self.last
    }

    /// Decrypts what it can of `input`, appending verified plaintext to `out`.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        while !input.is_empty() {
            if self.is_done() {
                return Err(Error::malformed("more ciphertext than the requested frames"));
            }
            let need = self.unit_len();
            if self.buf.is_empty() && input.len() >= need {
                let (unit, rest) = input.split_at(need);
                self.frame_into(unit, out)?;
                input = rest;
            } else {
                let take = (need - self.buf.len()).min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.buf.len() == need {
                    let unit = std::mem::take(&mut self.buf);
                    let r = self.frame_into(&unit, out);
                    self.buf = unit;
                    self.buf.clear();
                    r?;
                }
            }
        }
        Ok(())
    }

    fn try_open(&self, unit: &[u8], flags: u32, out: &mut Vec<u8>) -> Result<()> {
        self.key.open_frame_append(self.next.part, self.next.index, flags, unit, out)
    }

    fn frame_into(&mut self, unit: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let ended_part = if self.global == self.object_last {
            let flags = END_OF_PART | if self.end_marked { END_OF_OBJECT } else { 0 };
            self.try_open(unit, flags, out)?;
            true
        } else if !self.multipart {
            self.try_open(unit, 0, out)?;
            false
        } else if let Some(k) = self.part_frames {
            let end = u64::from(self.next.index) + 1 == k;
            self.try_open(unit, if end { END_OF_PART } else { 0 }, out)?;
            end
        } else {
            match self.try_open(unit, 0, out) {
                Ok(()) => false,
                Err(_) => {
                    self.try_open(unit, END_OF_PART, out)?;
                    true
                }
            }
        };
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

    /// Fails unless every frame of the span arrived.
    pub fn finish(&self) -> Result<()> {
        if self.is_done() && self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Truncated("the object ends before its last frame"))
        }
    }
}
