//! Body framing shared by the encryptor and decryptor
//! (`data-format/message-body.md`, `message-body-aad.md`).
//!
//! Regular frame: sequence number (u32), IV (12), ciphertext (frame length),
//! tag (16). Final frame: `FF FF FF FF`, sequence number, IV, ciphertext
//! length (u32), ciphertext, tag. Non-framed body: IV, ciphertext length
//! (u64), ciphertext, tag. Frame IVs are the sequence number, big-endian,
//! left-padded with zeros to 12 bytes.

use crate::crypto::aead::{NONCE_LEN, Nonce};

/// Marks a final frame.
pub const FINAL_FRAME_MARKER: u32 = 0xFFFF_FFFF;

/// Fixed bytes around a regular frame's ciphertext.
pub const REGULAR_FRAME_OVERHEAD: usize = 4 + NONCE_LEN + 16;

/// Fixed bytes around a final frame's ciphertext.
pub const FINAL_FRAME_OVERHEAD: usize = 4 + 4 + NONCE_LEN + 4 + 16;

/// Largest non-framed ciphertext the format allows (2^36 - 32).
pub const MAX_NON_FRAMED_LEN: u64 = (1 << 36) - 32;

/// What part of the body an AEAD operation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// A regular frame.
    Frame,
    /// The final frame.
    FinalFrame,
    /// A non-framed body.
    SingleBlock,
}

impl BodyKind {
    fn content_string(self) -> &'static [u8] {
        match self {
            BodyKind::Frame => b"AWSKMSEncryptionClient Frame",
            BodyKind::FinalFrame => b"AWSKMSEncryptionClient Final Frame",
            BodyKind::SingleBlock => b"AWSKMSEncryptionClient Single Block",
        }
    }
}

/// The IV of frame `seq`.
pub fn frame_nonce(seq: u32) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[8..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// Writes the body AAD into `out`: message id || content string ||
/// sequence number || content length.
pub fn body_aad(out: &mut Vec<u8>, message_id: &[u8], kind: BodyKind, seq: u32, len: u64) {
    out.clear();
    out.extend_from_slice(message_id);
    out.extend_from_slice(kind.content_string());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}
