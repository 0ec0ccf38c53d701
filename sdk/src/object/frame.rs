//! Per-object keys and frame nonces.
//!
//! The object key and the key commitment are derived from the data key and
//! the object's random 32-byte message id with HKDF-SHA512 (salt = message
//! id), under labels distinct from the ESDK message format:
//!
//! * key: `info = "s3seal object key v1" || suite byte`
//! * commitment: `info = "s3seal object commit v1"`
//!
//! Frames follow the STREAM construction (Hoang, Reyhanitabar, Rogaway,
//! Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
//! Misuse-Resistance", CRYPTO 2015): each frame's nonce is its position,
//! and flags mark where a part and where the object end. The 96-bit nonce
//! is `part (u32 BE) || index within part (u32 BE) || flags (u32 BE)`,
//! with flag bit 0 = last frame of its part and bit 1 = last frame of the
//! object. Single-request objects are part 0; multipart parts are 1-10000.
//! The header tag uses part `0xFFFFFFFF`, which no frame uses.

use zeroize::Zeroizing;

use crate::crypto::aead::{AeadKey, Backend, Nonce, Tag};
use crate::crypto::kdf;
use crate::error::Result;
use crate::object::envelope::ObjectSuite;

/// The flags of a frame: the last word of its nonce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameFlags(u32);

impl FrameFlags {
    /// A frame inside its part.
    pub const NONE: Self = Self(0);
    /// Bit 0: the last frame of its part.
    pub const END_OF_PART: Self = Self(1);
    /// Bit 1: the last frame of the object (only in end-marked objects).
    pub const END_OF_OBJECT: Self = Self(2);

    /// The flags of a part's last frame; `end_of_object` when that part
    /// also ends an end-marked object.
    pub const fn last_of_part(end_of_object: bool) -> Self {
        if end_of_object { Self(Self::END_OF_PART.0 | Self::END_OF_OBJECT.0) } else { Self::END_OF_PART }
    }

    /// True when the frame ends its part.
    pub const fn ends_part(self) -> bool {
        self.0 & Self::END_OF_PART.0 != 0
    }

    /// The word as it goes into the nonce.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

const KEY_LABEL: &[u8] = b"s3seal object key v1";
const COMMIT_LABEL: &[u8] = b"s3seal object commit v1";

/// The nonce of a frame.
pub fn frame_nonce(part: u32, index: u32, flags: FrameFlags) -> Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&part.to_be_bytes());
    n[4..8].copy_from_slice(&index.to_be_bytes());
    n[8..].copy_from_slice(&flags.bits().to_be_bytes());
    n
}

/// The nonce of the header tag.
pub fn header_nonce() -> Nonce {
    frame_nonce(u32::MAX, u32::MAX, FrameFlags::NONE)
}

/// The key of one object, ready to seal and open its frames.
pub struct ObjectKey {
    key: AeadKey,
    suite: ObjectSuite,
}

impl std::fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectKey({:?})", self.suite)
    }
}

impl ObjectKey {
    /// Derives the object key and its commitment from a data key.
    pub fn derive(
        suite: ObjectSuite,
        data_key: &[u8],
        message_id: &[u8; 32],
        backend: Backend,
    ) -> Result<(Self, [u8; 32])> {
        let k: Zeroizing<Vec<u8>> = kdf::hkdf_sha512(message_id, data_key, &[KEY_LABEL, &[suite.id()]], 32)?;
        let c = kdf::hkdf_sha512(message_id, data_key, &[COMMIT_LABEL], 32)?;
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(&c);
        Ok((Self { key: AeadKey::new(backend, suite.aead(), &k)?, suite }, commitment))
    }

    /// The suite of this key.
    pub fn suite(&self) -> ObjectSuite {
        self.suite
    }

    /// Seals one frame in place and returns its tag.
    pub fn seal_frame(&self, part: u32, index: u32, flags: FrameFlags, buf: &mut [u8]) -> Result<Tag> {
        self.key.seal_in_place(&frame_nonce(part, index, flags), &[], buf)
    }

    /// Appends the sealed frame (ciphertext || tag) to `out`.
    pub fn seal_frame_append(
        &self,
        part: u32,
        index: u32,
        flags: FrameFlags,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.key.seal_append(&frame_nonce(part, index, flags), &[], plaintext, out)
    }

    /// Appends the plaintext of one frame (ciphertext || tag) to `out` if
    /// it authenticates at this position; leaves `out` unchanged otherwise.
    pub fn open_frame_append(
        &self,
        part: u32,
        index: u32,
        flags: FrameFlags,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.key.open_append(&frame_nonce(part, index, flags), &[], frame, out, "object frame")
    }

    /// Opens one frame (ciphertext || tag) into `out`, which must be exactly
    /// the ciphertext's length; on failure `out` is zeroed.
    pub fn open_frame_to(&self, part: u32, index: u32, flags: FrameFlags, frame: &[u8], out: &mut [u8]) -> Result<()> {
        self.key.open_to(&frame_nonce(part, index, flags), &[], frame, out, "object frame")
    }

    /// Opens one frame (ciphertext || tag) in place; on failure the whole
    /// buffer is zeroed.
    pub fn open_frame<'a>(&self, part: u32, index: u32, flags: FrameFlags, buf: &'a mut [u8]) -> Result<&'a mut [u8]> {
        self.key.open_in_place(&frame_nonce(part, index, flags), &[], buf, "object frame")
    }

    /// Computes the header tag over `aad`.
    pub fn header_tag(&self, aad: &[u8]) -> Result<Tag> {
        self.key.seal_in_place(&header_nonce(), aad, &mut [])
    }

    /// Checks the header tag over `aad`.
    pub fn check_header_tag(&self, aad: &[u8], tag: &Tag) -> Result<()> {
        let mut t = *tag;
        self.key.open_in_place(&header_nonce(), aad, &mut t, "object envelope").map(|_| ())
    }
}
