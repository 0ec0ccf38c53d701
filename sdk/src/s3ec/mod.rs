//! The object formats of the Amazon S3 Encryption Client (S3EC), so that
//! objects written by the Java, Go, .NET, Python, C++, PHP or Ruby clients
//! can be read, and objects can be written for them.
//!
//! * Format V3 (suite `0x0073`, metadata `x-amz-c`, `x-amz-3`, `x-amz-w`,
//!   `x-amz-d`, `x-amz-i`, `x-amz-m`, `x-amz-t`): AES-256-GCM under a key
//!   derived by HKDF-SHA512 from the data key and a message id, with a key
//!   commitment that is checked before any byte is decrypted.
//! * Format V2 (`x-amz-key-v2`, `x-amz-iv`, `x-amz-cek-alg`, ...):
//!   AES-256-GCM under the data key itself, no key commitment; read only
//!   under a commitment policy that allows it.
//! * Data keys wrapped with `kms+context`, `AES/GCM` or `RSA-OAEP-SHA1`
//!   (module `wrap`), by the keyrings of [`crate::keyring`].
//! * Metadata in the object's user metadata or in an instruction file
//!   (`<key>.instruction`) (module `metadata`).
//!
//! Each object is one AES-GCM message: its tag covers the whole object. So
//! reading is two passes (module `content`): the ciphertext is authenticated in
//! full (held in memory up to a limit, beyond it in an unnamed temporary
//! file, or refused), and only then decrypted. A ranged read is served
//! from the authenticated whole; reading a range without authentication
//! (CTR over just the requested bytes) exists only behind
//! [`crate::s3::Config::s3ec_unauthenticated_ranges`].
//!
//! Specification: `s3-encryption/` in
//! `awslabs/aws-encryption-sdk-specification`.

pub(crate) mod content;
pub(crate) mod metadata;
pub(crate) mod seal;
pub(crate) mod suite;
pub(crate) mod wrap;

pub use content::{ContentKey, SpoolLimits};
pub use metadata::{ContentMetadata, Detection, Format, is_s3ec_key};
pub use suite::{ContentSuite, DATA_KEY_LEN, WrapAlgorithm};
pub use wrap::WrappedKey;
