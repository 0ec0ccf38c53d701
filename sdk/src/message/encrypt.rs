//! The message encryptor: a push-style state machine with no I/O of its
//! own. Feed plaintext with [`MessageEncryptor::update`], end with
//! [`MessageEncryptor::finish`]; ciphertext is appended to the caller's
//! buffer. It holds at most one frame of plaintext, so memory stays
//! O(frame length) whatever the message size.

use crate::context;
use crate::crypto::aead::{AeadKey, Backend, TAG_LEN};
use crate::crypto::random;
use crate::crypto::signature::Signer;
use crate::error::{Error, Result};
use crate::materials::EncryptionMaterials;
use crate::message::body::{BodyKind, FINAL_FRAME_MARKER, body_aad, frame_nonce};
use crate::message::header::Header;
use crate::message::keys as kdf;

/// Where ciphertext goes: appended to a `Vec`, or written into a slice
/// the caller sized (no zero-filling pass before the AEAD writes).
trait Sink {
    /// Bytes written so far.
    fn position(&self) -> usize;
    /// Writes `bytes` as they are.
    fn put(&mut self, bytes: &[u8]) -> Result<()>;
    /// Writes the sealing of `plaintext` (ciphertext then tag).
    fn seal(&mut self, key: &AeadKey, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<()>;
    /// What was written from `from` on.
    fn written(&self, from: usize) -> &[u8];
}

impl Sink for Vec<u8> {
    fn position(&self) -> usize {
        self.len()
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }

    fn seal(&mut self, key: &AeadKey, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<()> {
        key.seal_append(nonce, aad, plaintext, self)
    }

    fn written(&self, from: usize) -> &[u8] {
        &self[from..]
    }
}

/// A caller-sized output slice and the write position in it.
struct SliceSink<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl SliceSink<'_> {
    fn take(&mut self, n: usize) -> Result<&mut [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| Error::InvalidParameter("the output buffer is too small for the message".into()))?;
        let out = &mut self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
}

impl Sink for SliceSink<'_> {
    fn position(&self) -> usize {
        self.pos
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.take(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    fn seal(&mut self, key: &AeadKey, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<()> {
        let out = self.take(plaintext.len() + TAG_LEN)?;
        key.seal_to(nonce, aad, plaintext, out)
    }

    fn written(&self, from: usize) -> &[u8] {
        &self.buf[from..self.pos]
    }
}

/// The longest ECDSA signature in DER: P-384, two 48-byte integers.
const MAX_SIGNATURE_LEN: usize = 104;

/// Encrypts one message.
pub struct MessageEncryptor {
    header: Header,
    header_pending: bool,
    key: AeadKey,
    frame_len: usize,
    seq: u32,
    pending: Vec<u8>,
    aad: Vec<u8>,
    signer: Option<Signer>,
    finished: bool,
    expected_len: Option<u64>,
    sealed: u64,
}

impl std::fmt::Debug for MessageEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageEncryptor").field("suite", &self.header.suite).field("seq", &self.seq).finish()
    }
}

impl MessageEncryptor {
    /// Starts a message with complete encryption `materials`.
    pub fn new(materials: EncryptionMaterials, frame_length: u32, backend: Backend) -> Result<Self> {
        let message_id = if materials.suite.message_format_version() == 1 {
            random::array::<16>()?.to_vec()
        } else {
            random::array::<32>()?.to_vec()
        };
        Self::with_message_id(materials, frame_length, backend, message_id)
    }

    /// Starts a message with a caller-chosen message id: for known-answer
    /// tests only. A message id must never repeat under one data key.
    pub fn with_message_id(
        materials: EncryptionMaterials,
        frame_length: u32,
        backend: Backend,
        message_id: Vec<u8>,
    ) -> Result<Self> {
        materials.validate()?;
        if frame_length == 0 {
            return Err(Error::InvalidParameter("frame length must be at least 1 byte".into()));
        }
        let suite = materials.suite;
        let data_key = materials.data_key.as_ref().ok_or(Error::Crypto("materials lost their data key"))?;
        let derived = kdf::derive_message_key(suite, data_key.as_bytes(), &message_id)?;
        let suite_data = if suite.is_committing() {
            kdf::derive_commitment(data_key.as_bytes(), &message_id)?.to_vec()
        } else {
            Vec::new()
        };
        let key = AeadKey::new(backend, suite.aead(), &derived)?;
        let (stored, auth_only): (context::EncryptionContext, context::EncryptionContext) =
            materials.encryption_context.into_iter().partition(|(k, _)| !materials.required_context_keys.contains(k));
        let mut header =
            Header::build(suite, message_id, stored, materials.encrypted_data_keys, frame_length, suite_data)?;
        let mut aad = header.body_bytes().to_vec();
        aad.extend_from_slice(&context::serialize(&auth_only)?);
        let tag = key.seal_in_place(&header.header_iv, &aad, &mut [])?;
        header.set_auth_tag(tag);
        let signer = materials.signing_key.map(Signer::new);
        let frame_len =
            usize::try_from(frame_length).map_err(|_| Error::InvalidParameter("frame length too large".into()))?;
        Ok(Self {
            header,
            header_pending: true,
            key,
            frame_len,
            seq: 1,
            pending: Vec::new(),
            aad: Vec::with_capacity(128),
            signer,
            finished: false,
            expected_len: None,
            sealed: 0,
        })
    }

    /// Declares the plaintext length. With it, a message whose length is a
    /// multiple of the frame length ends in a full final frame, and a
    /// different amount of plaintext is an error; without it, full frames
    /// are sealed as soon as they fill, and the final frame may be empty.
    pub fn with_plaintext_length(mut self, len: Option<u64>) -> Self {
        self.expected_len = len;
        self
    }

    /// True when a frame of `len` more bytes would end the declared plaintext.
    fn ends_message(&self, len: usize) -> bool {
        self.expected_len.is_some_and(|e| self.sealed + len as u64 >= e)
    }

    /// The header this message will start with.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn emit_header(&mut self, out: &mut impl Sink) -> Result<()> {
        if self.header_pending {
            self.header_pending = false;
            let start = out.position();
            out.put(&self.header.to_bytes())?;
            if let Some(s) = &mut self.signer {
                s.update(out.written(start));
            }
        }
        Ok(())
    }

    /// The most bytes a message of `plaintext_len` bytes can take: header,
    /// frames and, for signed suites, the longest signature.
    pub fn ciphertext_len_bound(&self, plaintext_len: usize) -> usize {
        let f = self.frame_len;
        let regular = plaintext_len.saturating_sub(1) / f;
        let last = plaintext_len - regular * f;
        let footer = if self.signer.is_some() { 2 + MAX_SIGNATURE_LEN } else { 0 };
        self.header.to_bytes().len() + regular * (4 + 12 + f + TAG_LEN) + (4 + 4 + 12 + 4 + last + TAG_LEN) + footer
    }

    /// Encrypts a whole message of `plaintext` into `out` (at least
    /// [`MessageEncryptor::ciphertext_len_bound`] bytes) and returns its
    /// length. The AEAD writes straight into `out`: with a freshly zeroed
    /// allocation there is no separate pass over the output.
    pub fn encrypt_to(&mut self, plaintext: &[u8], out: &mut [u8]) -> Result<usize> {
        let mut sink = SliceSink { buf: out, pos: 0 };
        self.update_sink(plaintext, &mut sink)?;
        self.finish_sink(&mut sink)?;
        Ok(sink.pos)
    }

    /// Encrypts `input`, appending ciphertext to `out`. Frames are sealed
    /// straight from `input` (one pass, no copy) when whole.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.update_sink(input, out)
    }

    fn update_sink(&mut self, mut input: &[u8], out: &mut impl Sink) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidParameter("update after finish".into()));
        }
        self.emit_header(out)?;
        if let Some(e) = self.expected_len
            && self.sealed + (self.pending.len() + input.len()) as u64 > e
        {
            return Err(Error::InvalidParameter(format!("more plaintext than the declared {e} bytes")));
        }
        let f = self.frame_len;
        while !input.is_empty() {
            if self.pending.is_empty() {
                while input.len() >= f && !self.ends_message(f) {
                    let (frame, rest) = input.split_at(f);
                    self.seal_regular(frame, out)?;
                    input = rest;
                }
                if input.is_empty() {
                    break;
                }
            }
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact(f.min(1 << 20));
            }
            let take = (f - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == f && !self.ends_message(f) {
                let frame = std::mem::take(&mut self.pending);
                let r = self.seal_regular(&frame, out);
                self.pending = frame;
                self.pending.clear();
                r?;
            }
        }
        Ok(())
    }

    fn seal_regular(&mut self, plaintext: &[u8], out: &mut impl Sink) -> Result<()> {
        if self.seq == FINAL_FRAME_MARKER {
            return Err(Error::InvalidParameter(
                "message too large: more than 2^32 - 1 frames; use a larger frame length".into(),
            ));
        }
        let start = out.position();
        let nonce = frame_nonce(self.seq);
        out.put(&self.seq.to_be_bytes())?;
        out.put(&nonce)?;
        self.seal_into(BodyKind::Frame, &nonce, plaintext, out)?;
        if let Some(s) = &mut self.signer {
            s.update(out.written(start));
        }
        self.seq += 1;
        self.sealed += plaintext.len() as u64;
        Ok(())
    }

    fn seal_into(&mut self, kind: BodyKind, nonce: &[u8; 12], plaintext: &[u8], out: &mut impl Sink) -> Result<()> {
        body_aad(&mut self.aad, &self.header.message_id, kind, self.seq, plaintext.len() as u64);
        out.seal(&self.key, nonce, &self.aad, plaintext)
    }

    /// Writes the final frame (and the signature footer of signed suites).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.finish_sink(out)
    }

    fn finish_sink(&mut self, out: &mut impl Sink) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidParameter("finish called twice".into()));
        }
        if let Some(e) = self.expected_len
            && self.sealed + self.pending.len() as u64 != e
        {
            return Err(Error::InvalidParameter(format!(
                "the plaintext ended after {} bytes, not the declared {e}",
                self.sealed + self.pending.len() as u64
            )));
        }
        self.emit_header(out)?;
        self.finished = true;
        let start = out.position();
        let nonce = frame_nonce(self.seq);
        let pending = std::mem::take(&mut self.pending);
        let len = u32::try_from(pending.len()).map_err(|_| Error::Crypto("frame longer than 2^32"))?;
        out.put(&FINAL_FRAME_MARKER.to_be_bytes())?;
        out.put(&self.seq.to_be_bytes())?;
        out.put(&nonce)?;
        out.put(&len.to_be_bytes())?;
        self.seal_into(BodyKind::FinalFrame, &nonce, &pending, out)?;
        if let Some(mut s) = self.signer.take() {
            s.update(out.written(start));
            let sig = s.finish()?;
            let n = u16::try_from(sig.len()).map_err(|_| Error::Crypto("signature longer than 2^16"))?;
            out.put(&n.to_be_bytes())?;
            out.put(&sig)?;
        }
        Ok(())
    }
}
