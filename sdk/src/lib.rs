//! # s3seal
//!
//! Client-side envelope encryption for S3, with key commitment.
//!
//! * [`Client`] encrypts and decrypts byte slices and streams in the AWS
//!   Encryption SDK message format (v2, suite `0x0478` by default), so what
//!   s3seal writes every official ESDK can read, and the other way round.
//! * [`keyring`] holds the keyrings: raw AES, raw RSA, AWS KMS and the
//!   multi-keyring; the [`keyring::Keyring`] trait lets you bring your own.
//! * [`s3ec`] reads and writes the object formats of the Amazon S3
//!   Encryption Client (V2 and V3), used by [`s3::Client`].
//! * [`crypto`] is the primitive layer: the AEAD backend seam (`aws-lc-rs`
//!   or RustCrypto), HKDF and ECDSA.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cache;
pub mod checksum;
pub mod cmm;
pub(crate) mod codec;
pub mod context;
pub mod crypto;
pub mod error;
pub mod inplace;
pub mod keyring;
pub mod keyspec;
pub mod materials;
pub mod message;
pub mod object;
pub mod s3;
pub mod s3ec;
pub mod suite;
pub mod tuning;

pub use context::EncryptionContext;
pub use crypto::aead::Backend;
pub use error::{Error, ErrorKind, KmsErrorKind, Result};
pub use suite::{AlgorithmSuite, CommitmentPolicy};
pub mod client;
pub mod stream;

pub use client::{Client, ClientBuilder, Decrypted, EncryptOptions};
