//! Hazardous materials: the primitives under the formats.
//!
//! Nothing here is needed to encrypt or decrypt: [`crate::Client`], the
//! streaming adapters of [`crate::stream`] and [`crate::s3::Client`] do
//! that, and check everything they must. These are for known-answer
//! tests, benchmarks and independent implementations of the formats.
//! Used directly they make it easy to reuse a nonce, to release plaintext
//! that was not authenticated, or to skip a commitment check.

pub use crate::crypto::{aead, kdf, random, signature};
pub use crate::inplace::{FrameBuffer, InPlaceDecrypt, Step};

/// The frames of the s3seal object format (`docs/FORMAT.md`, part 2):
/// per-object keys, nonces and flags, and the push-style state machines
/// that seal one part and open one span of frames.
pub mod object {
    pub use crate::object::decrypt::{FrameDecryptor, FramePosition};
    pub use crate::object::encrypt::PartEncryptor;
    pub use crate::object::frame::{FrameFlags, ObjectKey, frame_nonce, header_nonce};
    pub use crate::object::layout::{FrameSpan, frames_for_range};
    pub use crate::object::seal::{NewObject, SealedObject};
}

/// The body of an ESDK message: frame layout constants, nonces and the
/// push-style body decryptor.
pub mod message {
    pub use crate::message::body::*;
    pub use crate::message::decrypt::BodyDecryptor;
}
