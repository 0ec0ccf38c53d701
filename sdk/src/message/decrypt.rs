//! The message decryptor: verifies a parsed header against decryption
//! materials (commitment first, then the header tag), then decrypts the
//! body as bytes are pushed in, with no I/O of its own.
//!
//! Plaintext is released only after its frame's tag verified. For signed
//! suites the final frame's plaintext is held back until the signature in
//! the footer verifies. Input is buffered one frame at most (a non-framed
//! body, a legacy layout, is buffered whole up to a configurable limit).

use subtle::ConstantTimeEq;

use crate::context;
use crate::crypto::aead::{AeadKey, Backend, NONCE_LEN, TAG_LEN};
use crate::crypto::kdf;
use crate::crypto::signature::Verifier;
use crate::error::{Error, Result};
use crate::materials::DecryptionMaterials;
use crate::message::body::{
    BodyKind, FINAL_FRAME_MARKER, FINAL_FRAME_OVERHEAD, MAX_NON_FRAMED_LEN, REGULAR_FRAME_OVERHEAD, body_aad,
    frame_nonce,
};
use crate::message::codec::Reader;
use crate::message::header::{ContentType, Header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Frames,
    NonFramed,
    Footer,
    Done,
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

    fn open_into(
        &mut self,
        kind: BodyKind,
        seq: u32,
        nonce: &[u8; 12],
        ct_and_tag: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let len = (ct_and_tag.len() - TAG_LEN) as u64;
        body_aad(&mut self.aad, &self.message_id, kind, seq, len);
        let what = match kind {
            BodyKind::Frame => "message frame",
            BodyKind::FinalFrame => "final message frame",
            BodyKind::SingleBlock => "message body",
        };
        self.key.open_append(nonce, &self.aad, ct_and_tag, out, what)
    }

    fn unit(&mut self, unit: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if let Some(v) = &mut self.verifier
            && self.state != State::Footer
        {
            v.update(unit);
        }
        let mut r = Reader::new(unit);
        match self.state {
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
                    let rest = &unit[r.position()..];
                    if self.verifier.is_some() {
                        let mut held = std::mem::take(&mut self.held);
                        self.open_into(BodyKind::FinalFrame, seq, &nonce, rest, &mut held)?;
                        self.held = held;
                        self.state = State::Footer;
                    } else {
                        self.open_into(BodyKind::FinalFrame, seq, &nonce, rest, out)?;
                        self.state = State::Done;
                    }
                } else {
                    let rest = &unit[r.position()..];
                    self.open_into(BodyKind::Frame, seq, &nonce, rest, out)?;
                    self.next_seq += 1;
                }
            }
            State::NonFramed => {
                let nonce: [u8; NONCE_LEN] = r.array()?;
                r.u64()?;
                let rest = &unit[r.position()..];
                if self.verifier.is_some() {
                    let mut held = std::mem::take(&mut self.held);
                    self.open_into(BodyKind::SingleBlock, 1, &nonce, rest, &mut held)?;
                    self.held = held;
                    self.state = State::Footer;
                } else {
                    self.open_into(BodyKind::SingleBlock, 1, &nonce, rest, out)?;
                    self.state = State::Done;
                }
            }
            State::Footer => {
                let sig = r.len16_bytes()?;
                let v = self.verifier.take().ok_or(Error::Crypto("footer without a verifier"))?;
                v.verify(sig)?;
                out.append(&mut self.held);
                self.state = State::Done;
            }
            State::Done => return Err(Error::malformed("trailing bytes after the end of the message")),
        }
        Ok(())
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
