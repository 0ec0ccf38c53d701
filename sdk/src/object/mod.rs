//! The S3 object format: an envelope in object metadata and a body made of
//! frames only (`docs/FORMAT.md`, part 2).
//!
//! * [`Envelope`]: the header (suite, message id, encrypted data keys,
//!   commitment, tag) and its metadata encoding.
//! * [`FinalRecord`]: the authenticated final shape of a multipart object
//!   that could not mark its last frame.
//! * [`ciphertext_len`], [`plaintext_len`], [`ByteRange`]: size arithmetic
//!   and plaintext ranges.
//! * Inside the crate, `frame` derives per-object keys and the STREAM-style
//!   frame nonces (part number, index in part, end-of-part and
//!   end-of-object flags), `layout` maps plaintext ranges to whole frames,
//!   and `encrypt` / `decrypt` are push-style state machines for one part
//!   or one span of frames, with no I/O. Known-answer tests reach them
//!   through [`crate::hazmat::object`].

pub(crate) mod decrypt;
pub(crate) mod encrypt;
pub(crate) mod envelope;
pub(crate) mod frame;
pub(crate) mod layout;
pub(crate) mod record;
pub(crate) mod seal;

pub use envelope::{
    BUCKET_CONTEXT_KEY, Envelope, FLAG_END_MARKED, FLAG_MULTIPART, FLAG_RECORDED, METADATA_KEY, ObjectSuite,
};
pub use layout::{ByteRange, ciphertext_len, plaintext_len};
pub use record::{FinalRecord, RECORD_LEN, RECORD_PREFIX};

pub(crate) use decrypt::{FrameDecryptor, FramePosition};
pub(crate) use encrypt::PartEncryptor;
pub(crate) use layout::frames_for_range;
pub(crate) use seal::{NewObject, SealedObject};
