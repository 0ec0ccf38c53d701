//! The S3 object format: an envelope in object metadata and a body made of
//! frames only (`docs/FORMAT.md`, part 2).
//!
//! * [`envelope`]: the header (suite, message id, encrypted data keys,
//!   commitment, tag) and its metadata encoding.
//! * [`frame`]: per-object key derivation and the STREAM-style frame
//!   nonces (part number, index in part, end-of-part and end-of-object
//!   flags).
//! * [`layout`]: size arithmetic and the mapping of plaintext ranges to
//!   whole frames.
//! * [`encrypt`] / [`decrypt`]: push-style state machines for one part or
//!   one span of frames, with no I/O.

pub mod decrypt;
pub mod encrypt;
pub mod envelope;
pub mod frame;
pub mod layout;
pub mod seal;

pub use decrypt::{FrameDecryptor, FramePosition};
pub use encrypt::PartEncryptor;
pub use envelope::{Envelope, ObjectSuite};
pub use frame::ObjectKey;
pub use layout::{ByteRange, FrameSpan, ciphertext_len, frames_for_range, plaintext_len};
pub use seal::{NewObject, SealedObject};
