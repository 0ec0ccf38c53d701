//! The message encryptor: a push-style state machine with no I/O of its
//! own. Feed plaintext with [`MessageEncryptor::update`], end with
//! [`MessageEncryptor::finish`]; ciphertext is appended to the caller's
//! buffer. It holds at most one frame of plaintext, so memory stays
//! O(frame length) whatever the message size.

use crate::context;
use crate::crypto::aead::{AeadKey, Backend};
use crate::crypto::kdf;
use crate::crypto::random;
use crate::crypto::signature::Signer;
use crate::error::{Error, Result};
use crate::materials::EncryptionMaterials;
use crate::message::body::{BodyKind, FINAL_FRAME_MARKER, body_aad, frame_nonce};
use crate::message::header::Header;

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

    fn emit_header(&mut self, out: &mut Vec<u8>) {
        if self.header_pending {
            self.header_pending = false;
            let start = out.len();
            out.extend_from_slice(&self.header.to_bytes());
            if let Some(s) = &mut self.signer {
                s.update(&out[start..]);
            }
        }
    }

    /// Encrypts `input`, appending ciphertext to `out`. Frames are sealed
    /// straight from `input` (one pass, no copy) when whole.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidParameter("update after finish".into()));
        }
        self.emit_header(out);
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

    fn seal_regular(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.seq == FINAL_FRAME_MARKER {
            return Err(Error::InvalidParameter(
                "message too large: more than 2^32 - 1 frames; use a larger frame length".into(),
            ));
        }
        let start = out.len();
        let nonce = frame_nonce(self.seq);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&nonce);
        self.seal_into(BodyKind::Frame, &nonce, plaintext, out)?;
        if let Some(s) = &mut self.signer {
            s.update(&out[start..]);
        }
        self.seq += 1;
        self.sealed += plaintext.len() as u64;
        Ok(())
    }

    fn seal_into(&mut self, kind: BodyKind, nonce: &[u8; 12], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        body_aad(&mut self.aad, &self.header.message_id, kind, self.seq, plaintext.len() as u64);
        self.key.seal_append(nonce, &self.aad, plaintext, out)
    }

    /// Writes the final frame (and the signature footer of signed suites).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
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
        self.emit_header(out);
        self.finished = true;
        let start = out.len();
        let nonce = frame_nonce(self.seq);
        let pending = std::mem::take(&mut self.pending);
        let len = u32::try_from(pending.len()).map_err(|_| Error::Crypto("frame longer than 2^32"))?;
        out.extend_from_slice(&FINAL_FRAME_MARKER.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&len.to_be_bytes());
        self.seal_into(BodyKind::FinalFrame, &nonce, &pending, out)?;
        if let Some(mut s) = self.signer.take() {
            s.update(&out[start..]);
            let sig = s.finish()?;
            crate::message::codec::put_len16(out, &sig)?;
        }
        Ok(())
    }
}
