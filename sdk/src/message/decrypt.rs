//! The message decryptor: verifies a parsed header against decryption
//! materials (commitment first, then the header tag), then decrypts the
//! body as bytes are pushed in, with no I/O of its own.
//!
//! Plaintext is released only after its frame's tag verified. For signed
//! suites the final frame's plaintext is held back until the signature in
//! the footer verifies. Input is buffered one frame at most (a non-framed
//! body, a legacy layout, is buffered whole up to a configurable limit).

use subtle::ConstantTimeEq;

use crate::codec::Reader;
use crate::context;
use crate::crypto::aead::{AeadKey, Backend, NONCE_LEN, TAG_LEN};
use crate::crypto::signature::Verifier;
use crate::error::{Error, Result};
use crate::inplace::{InPlaceDecrypt, Step};
use crate::materials::DecryptionMaterials;
use crate::message::body::{
    BodyKind, FINAL_FRAME_MARKER, FINAL_FRAME_OVERHEAD, MAX_NON_FRAMED_LEN, REGULAR_FRAME_OVERHEAD, body_aad,
    frame_nonce,
};
use crate::message::header::{ContentType, Header};
use crate::message::keys as kdf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Frames,
    NonFramed,
    Footer,
    Done,
}

/// The framing of one body unit.
struct UnitHead {
    kind: BodyKind,
    seq: u32,
    nonce: [u8; NONCE_LEN],
    /// Offset of the ciphertext (followed by the tag) in the unit.
    body: usize,
}

/// `out[from..from + len]`, or an error if `out` is too short.
fn room(out: &mut [u8], from: usize, len: usize) -> Result<&mut [u8]> {
    out.get_mut(from..from + len).ok_or_else(|| Error::InvalidParameter("output too short for the plaintext".into()))
}

enum Need {
    /// The unit at the start of the input is exactly this long.
    Exactly(usize),
    /// At least this many bytes are needed to learn the unit's length.
    AtLeast(usize),
}

/// Decrypts the body of one message whose header has been verified.
pub struct BodyDecryptor {
    key: AeadKey,
    message_id: Vec<u8>,
    frame_len: usize,
    next_seq: u32,
    state: State,
    buf: Vec<u8>,
    aad: Vec<u8>,
    verifier: Option<Verifier>,
    held: Vec<u8>,
    max_non_framed: u64,
}

impl std::fmt::Debug for BodyDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyDecryptor").field("state", &self.state).field("next_seq", &self.next_seq).finish()
    }
}

impl BodyDecryptor {
    /// Checks the key commitment and the header tag with `materials`, and
    /// prepares to decrypt the body. `max_non_framed` bounds the memory a
    /// legacy non-framed body may take.
    pub fn new(
        header: &Header,
        materials: &DecryptionMaterials,
        backend: Backend,
        max_non_framed: u64,
    ) -> Result<Self> {
        if materials.suite != header.suite {
            return Err(Error::Crypto("materials are for another suite"));
        }
        let data_key = materials.data_key.as_ref().ok_or(Error::NoDecryptableKey(Default::default()))?;
        if header.suite.is_committing() {
            let expected = kdf::derive_commitment(data_key.as_bytes(), &header.message_id)?;
            if !bool::from(expected.as_slice().ct_eq(header.suite_data.as_slice())) {
                return Err(Error::CommitmentMismatch);
            }
        }
        let derived = kdf::derive_message_key(header.suite, data_key.as_bytes(), &header.message_id)?;
        let key = AeadKey::new(backend, header.suite.aead(), &derived)?;
        let auth_only = context::filter(&materials.encryption_context, &materials.required_context_keys);
        let mut aad = header.body_bytes().to_vec();
        aad.extend_from_slice(&context::serialize(&auth_only)?);
        let mut tag = header.auth_tag;
        key.open_in_place(&header.header_iv, &aad, &mut tag, "message header")?;
        let verifier = match (header.suite.signature(), &materials.verification_key) {
            (Some(alg), Some(pk)) => {
                let mut v = Verifier::new(alg, pk)?;
                v.update(&header.to_bytes());
                Some(v)
            }
            (Some(_), None) => {
                return Err(Error::EncryptionContext("signed message without a verification key".into()));
            }
            (None, _) => None,
        };
        let frame_len = usize::try_from(header.frame_length).map_err(|_| Error::malformed("frame length too large"))?;
        Ok(Self {
            key,
            message_id: header.message_id.clone(),
            frame_len,
            next_seq: 1,
            state: match header.content_type {
                ContentType::Framed => State::Frames,
                ContentType::NonFramed => State::NonFramed,
            },
            buf: Vec::new(),
            aad: Vec::with_capacity(128),
            verifier,
            held: Vec::new(),
            max_non_framed,
        })
    }

    /// True once the whole message (including any footer) was verified.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn need(&self, data: &[u8]) -> Result<Need> {
        let mut r = Reader::new(data);
        Ok(match self.state {
            State::Frames => {
                let Ok(first) = r.u32() else { return Ok(Need::AtLeast(4)) };
                if first != FINAL_FRAME_MARKER {
                    return Ok(Need::Exactly(REGULAR_FRAME_OVERHEAD + self.frame_len));
                }
                let fixed = FINAL_FRAME_OVERHEAD - TAG_LEN;
                if data.len() < fixed {
                    return Ok(Need::AtLeast(fixed));
                }
                let len = u32::from_be_bytes([data[fixed - 4], data[fixed - 3], data[fixed - 2], data[fixed - 1]]);
                let len = usize::try_from(len).map_err(|_| Error::malformed("frame length too large"))?;
                if len > self.frame_len {
                    return Err(Error::malformed(format!(
                        "final frame of {len} bytes is longer than the frame length {}",
                        self.frame_len
                    )));
                }
                Need::Exactly(FINAL_FRAME_OVERHEAD + len)
            }
            State::NonFramed => {
                let fixed = NONCE_LEN + 8;
                if data.len() < fixed {
                    return Ok(Need::AtLeast(fixed));
                }
                let mut len_bytes = [0u8; 8];
                len_bytes.copy_from_slice(&data[NONCE_LEN..fixed]);
                let len = u64::from_be_bytes(len_bytes);
                if len > MAX_NON_FRAMED_LEN {
                    return Err(Error::malformed("non-framed body longer than the format allows"));
                }
                if len > self.max_non_framed {
                    return Err(Error::InvalidParameter(format!(
                        "non-framed message body of {len} bytes exceeds the limit of {} bytes for buffering; raise the limit to decrypt it",
                        self.max_non_framed
                    )));
                }
                Need::Exactly(fixed + len as usize + TAG_LEN)
            }
            State::Footer => match r.u16() {
                Ok(n) => Need::Exactly(2 + usize::from(n)),
                Err(_) => Need::AtLeast(2),
            },
            State::Done => return Err(Error::malformed("trailing bytes after the end of the message")),
        })
    }

    /// How many bytes a reader should ideally supply next: enough to finish
    /// the unit in progress, else a whole number of regular frames (about
    /// 64 KiB or one frame), so that frames rarely straddle reads and are
    /// decrypted straight from the read buffer.
    pub fn preferred_read_len(&self) -> usize {
        let unit = REGULAR_FRAME_OVERHEAD + self.frame_len;
        if self.buf.is_empty() {
            return unit * (65536 / unit).max(1);
        }
        match self.need(&self.buf) {
            Ok(Need::Exactly(n)) | Ok(Need::AtLeast(n)) => n.saturating_sub(self.buf.len()).max(1),
            Err(_) => 1,
        }
    }

    /// Decrypts what it can of `input`, appending verified plaintext to `out`.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        loop {
            if self.buf.is_empty() {
                if input.is_empty() {
                    return Ok(());
                }
                match self.need(input)? {
                    Need::Exactly(n) if input.len() >= n => {
                        self.unit(&input[..n], out)?;
                        input = &input[n..];
                    }
                    _ => {
                        self.buf.extend_from_slice(input);
                        return Ok(());
                    }
                }
            } else {
                let target = match self.need(&self.buf)? {
                    Need::Exactly(n) | Need::AtLeast(n) => n,
                };
                if self.buf.len() < target {
                    let take = (target - self.buf.len()).min(input.len());
                    self.buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                }
                match self.need(&self.buf)? {
                    Need::Exactly(n) if self.buf.len() == n => {
                        let unit = std::mem::take(&mut self.buf);
                        let r = self.unit(&unit, out);
                        self.buf = unit;
                        self.buf.clear();
                        r?;
                    }
                    _ if input.is_empty() => return Ok(()),
                    _ => {}
                }
            }
        }
    }

    fn frame_aad(&mut self, kind: BodyKind, seq: u32, ct_len: usize) -> &'static str {
        body_aad(&mut self.aad, &self.message_id, kind, seq, ct_len as u64);
        match kind {
            BodyKind::Frame => "message frame",
            BodyKind::FinalFrame => "final message frame",
            BodyKind::SingleBlock => "message body",
        }
    }

    /// Feeds a unit to the signature verifier (over its ciphertext, so
    /// before any in-place decryption) and parses its framing. Returns
    /// `None` for the footer.
    fn head(&mut self, unit: &[u8]) -> Result<Option<UnitHead>> {
        if let Some(v) = &mut self.verifier
            && self.state != State::Footer
        {
            v.update(unit);
        }
        let mut r = Reader::new(unit);
        Ok(Some(match self.state {
            State::Frames => {
                let first = r.u32()?;
                let is_final = first == FINAL_FRAME_MARKER;
                let seq = if is_final { r.u32()? } else { first };
                if seq != self.next_seq {
                    return Err(Error::malformed(format!(
                        "frame {seq} where frame {} was expected (frames reordered, dropped or duplicated)",
                        self.next_seq
                    )));
                }
                let nonce: [u8; NONCE_LEN] = r.array()?;
                if nonce != frame_nonce(seq) {
                    return Err(Error::malformed(format!("frame {seq} has an unexpected IV")));
                }
                if is_final {
                    r.u32()?;
                }
                let kind = if is_final { BodyKind::FinalFrame } else { BodyKind::Frame };
                UnitHead { kind, seq, nonce, body: r.position() }
            }
            State::NonFramed => {
                let nonce: [u8; NONCE_LEN] = r.array()?;
                r.u64()?;
                UnitHead { kind: BodyKind::SingleBlock, seq: 1, nonce, body: r.position() }
            }
            State::Footer => return Ok(None),
            State::Done => return Err(Error::malformed("trailing bytes after the end of the message")),
        }))
    }

    /// Whether the plaintext of a unit of `kind` is held back until the
    /// signature verified.
    fn holds(&self, kind: BodyKind) -> bool {
        self.verifier.is_some() && kind != BodyKind::Frame
    }

    /// Moves past an opened unit of `kind`.
    fn opened(&mut self, kind: BodyKind) {
        match kind {
            BodyKind::Frame => self.next_seq += 1,
            _ if self.verifier.is_some() => self.state = State::Footer,
            _ => self.state = State::Done,
        }
    }

    /// Verifies the footer's signature, returning the plaintext held back.
    fn footer(&mut self, unit: &[u8]) -> Result<Vec<u8>> {
        let sig = Reader::new(unit).len16_bytes()?;
        let v = self.verifier.take().ok_or(Error::Crypto("footer without a verifier"))?;
        v.verify(sig)?;
        self.state = State::Done;
        Ok(std::mem::take(&mut self.held))
    }

    fn unit(&mut self, unit: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let Some(h) = self.head(unit)? else {
            let mut held = self.footer(unit)?;
            out.append(&mut held);
            return Ok(());
        };
        let ct_and_tag = &unit[h.body..];
        let what = self.frame_aad(h.kind, h.seq, ct_and_tag.len() - TAG_LEN);
        let dest = if self.holds(h.kind) { &mut self.held } else { out };
        self.key.open_append(&h.nonce, &self.aad, ct_and_tag, dest, what)?;
        self.opened(h.kind);
        Ok(())
    }

    /// Decrypts a whole body (everything after the header) into `out`,
    /// which must be at least as long as `body` (the plaintext is never
    /// longer), and checks that the message is complete. Returns the length of the plaintext, which is
    /// `out[..len]`. The checks and errors are those of
    /// [`BodyDecryptor::update`] then [`BodyDecryptor::finish`]; on error
    /// `out` must not be used (a failed frame is zeroed there).
    ///
    /// Writing into memory the caller already initialized (and reuses,
    /// or got zeroed from the allocator) spares the zero-filling or copying
    /// that appending to a `Vec` needs before the AEAD can write.
    pub fn decrypt_body_to(&mut self, mut body: &[u8], out: &mut [u8]) -> Result<usize> {
        if !self.buf.is_empty() {
            return Err(Error::InvalidParameter("decrypt_body_to after a partial update".into()));
        }
        let mut written = 0;
        while !body.is_empty() {
            let n = match self.need(body)? {
                Need::Exactly(n) if body.len() >= n => n,
                // An incomplete last unit: `update` buffers it and `finish`
                // reports what is missing.
                _ => break,
            };
            let unit = &body[..n];
            match self.head(unit)? {
                None => {
                    let held = self.footer(unit)?;
                    room(out, written, held.len())?.copy_from_slice(&held);
                    written += held.len();
                }
                Some(h) => {
                    let len = n - h.body - TAG_LEN;
                    let what = self.frame_aad(h.kind, h.seq, len);
                    if self.holds(h.kind) {
                        self.key.open_append(&h.nonce, &self.aad, &unit[h.body..], &mut self.held, what)?;
                    } else {
                        let dst = room(out, written, len)?;
                        self.key.open_to_uncached(&h.nonce, &self.aad, &unit[h.body..], dst, what)?;
                        written += len;
                    }
                    self.opened(h.kind);
                }
            }
            body = &body[n..];
        }
        self.update(body, &mut Vec::new())?;
        self.finish()?;
        Ok(written)
    }

    /// Processes the unit at the start of `input` if it is complete: its
    /// plaintext is written to the start of `out` when it fits there and
    /// is not held back, else decrypted in place; see [`InPlaceDecrypt`].
    /// The same checks and the same holding back of plaintext apply as in
    /// [`BodyDecryptor::update`]; use one or the other for a message, not
    /// both.
    pub fn open_next(&mut self, input: &mut [u8], out: &mut [u8]) -> Result<Step> {
        let n = match self.need(input)? {
            Need::Exactly(n) if input.len() >= n => n,
            Need::Exactly(n) | Need::AtLeast(n) => return Ok(Step::Need(n)),
        };
        let unit = &mut input[..n];
        let Some(h) = self.head(unit)? else {
            return Ok(Step::Released { consumed: n, plaintext: self.footer(unit)? });
        };
        let len = n - h.body - TAG_LEN;
        let what = self.frame_aad(h.kind, h.seq, len);
        let held = self.holds(h.kind);
        if !held && len <= out.len() {
            self.key.open_to(&h.nonce, &self.aad, &unit[h.body..], &mut out[..len], what)?;
            self.opened(h.kind);
            return Ok(Step::Written { consumed: n, len });
        }
        let plain = self.key.open_in_place(&h.nonce, &self.aad, &mut unit[h.body..], what)?;
        let plaintext = if held {
            self.held.extend_from_slice(plain);
            plain.fill(0);
            0..0
        } else {
            h.body..h.body + len
        };
        self.opened(h.kind);
        Ok(Step::Opened { consumed: n, plaintext })
    }

    /// Ends the message: fails unless every frame (and the footer) arrived.
    pub fn finish(&mut self) -> Result<()> {
        match self.state {
            State::Done if self.buf.is_empty() => Ok(()),
            State::Done => Err(Error::malformed("trailing bytes after the end of the message")),
            State::Footer => Err(Error::Truncated("the signature footer is missing")),
            State::Frames | State::NonFramed => Err(Error::Truncated("the message ends before its final frame")),
        }
    }
}

impl InPlaceDecrypt for BodyDecryptor {
    fn open_next(&mut self, input: &mut [u8], out: &mut [u8]) -> Result<Step> {
        BodyDecryptor::open_next(self, input, out)
    }

    fn preferred_read_len(&self) -> usize {
        BodyDecryptor::preferred_read_len(self)
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
