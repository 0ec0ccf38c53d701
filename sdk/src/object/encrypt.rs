//! Encrypts one part of an object (or a whole single-request object) into
//! frames, holding at most one frame of plaintext.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::object::frame::{FrameFlags, ObjectKey};

/// Encrypts the frames of one part.
#[derive(Debug)]
pub struct PartEncryptor {
    key: Arc<ObjectKey>,
    part: u32,
    end_of_object: bool,
    frame: usize,
    index: u32,
    pending: Vec<u8>,
    finished: bool,
    expected_len: Option<u64>,
    sealed: u64,
}

impl PartEncryptor {
    /// Starts part `part` (0 for a single-request object). When
    /// `last_of_object` is true its final frame also carries the
    /// end-of-object flag. With `expected_len` (the part's plaintext
    /// length) frames are sealed straight from the input; without it, a
    /// full frame is held back until more input shows it is not the last.
    pub fn new(
        key: Arc<ObjectKey>,
        part: u32,
        frame_length: u32,
        last_of_object: bool,
        expected_len: Option<u64>,
    ) -> Result<Self> {
        if frame_length == 0 {
            return Err(Error::InvalidParameter("frame length must be at least 1".into()));
        }
        if part > 10_000 {
            return Err(Error::InvalidParameter(format!("part number {part} is above 10000")));
        }
        Ok(Self {
            key,
            part,
            end_of_object: last_of_object,
            frame: frame_length as usize,
            index: 0,
            pending: Vec::new(),
            finished: false,
            expected_len,
            sealed: 0,
        })
    }

    fn seal(&mut self, plaintext: &[u8], flags: FrameFlags, out: &mut Vec<u8>) -> Result<()> {
        self.key.seal_frame_append(self.part, self.index, flags, plaintext, out)?;
        self.sealed += plaintext.len() as u64;
        self.index =
            self.index.checked_add(1).ok_or_else(|| Error::InvalidParameter("part has too many frames".into()))?;
        Ok(())
    }

    /// Encrypts `input`, appending whole frames to `out`.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidParameter("update after finish".into()));
        }
        if let Some(e) = self.expected_len
            && self.sealed + (self.pending.len() + input.len()) as u64 > e
        {
            return Err(Error::InvalidParameter(format!("more plaintext than the declared {e} bytes")));
        }
        let f = self.frame;
        // A full frame may be sealed as a middle frame only when more
        // plaintext is known to follow it.
        let more_after = |this: &Self, extra: usize| match this.expected_len {
            Some(e) => this.sealed + (f as u64) < e,
            None => extra > 0,
        };
        while !input.is_empty() {
            if self.pending.len() == f && more_after(self, input.len()) {
                let frame = std::mem::take(&mut self.pending);
                let r = self.seal(&frame, FrameFlags::NONE, out);
                self.pending = frame;
                self.pending.clear();
                r?;
            }
            if self.pending.is_empty() {
                while input.len() >= f && more_after(self, input.len() - f) {
                    let (frame, rest) = input.split_at(f);
                    self.seal(frame, FrameFlags::NONE, out)?;
                    input = rest;
                }
            }
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact(f.min(1 << 20));
            }
            let take = (f - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
        }
        Ok(())
    }

    /// Seals the part's last frame.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidParameter("finish called twice".into()));
        }
        if let Some(e) = self.expected_len
            && self.sealed + self.pending.len() as u64 != e
        {
            return Err(Error::InvalidParameter(format!(
                "the part ended after {} bytes, not the declared {e}",
                self.sealed + self.pending.len() as u64
            )));
        }
        self.finished = true;
        let flags = FrameFlags::last_of_part(self.end_of_object);
        let pending = std::mem::take(&mut self.pending);
        self.seal(&pending, flags, out)
    }
}
