//! The AWS Encryption SDK message format (`data-format/` of the ESDK
//! specification): header, framed and non-framed bodies, footer.
//!
//! [`MessageEncryptor`] and [`BodyDecryptor`] are push-style state machines
//! without I/O; [`crate::Client`] and [`crate::stream`] drive them.

pub(crate) mod body;
pub(crate) mod decrypt;
pub(crate) mod encrypt;
pub(crate) mod header;
pub(crate) mod keys;

pub(crate) use decrypt::BodyDecryptor;
pub use encrypt::MessageEncryptor;
pub use header::{ContentType, Header, ParseLimits};
