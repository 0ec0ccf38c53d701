//! # s3seal
//!
//! Client-side envelope encryption for S3, with key commitment. Data is
//! encrypted under a fresh data key, and the data key is wrapped by one or
//! more [keyrings](keyring) (raw AES, raw RSA, AWS KMS, or several at
//! once); only a holder of a wrapping key can read it back.
//!
//! | to encrypt ... | use | format |
//! |---|---|---|
//! | bytes in memory | [`Client`] | AWS Encryption SDK message (v2, suite `0x0478` by default): every official ESDK reads it, and the other way round |
//! | a stream, in constant memory | [`EncryptingWriter`], [`DecryptingReader`] (and their Tokio twins) | the same message |
//! | S3 objects, ranged reads included | [`s3::Client`] | the s3seal object format (`docs/FORMAT.md`); reads S3 Encryption Client objects too ([`s3ec`]) |
//! | for unmodified S3 tools | the `s3seal-proxy` crate (`s3seal proxy`) | the s3seal object format |
//!
//! Many encryptions can share one KMS call: put a [`CachingCmm`] in front
//! of the keyring (the S3 Bucket Key idea, with limits on a key's age and
//! use). Every failure is an [`Error`]; [`Error::kind`] tells its class.
//!
//! ## Bytes
//!
//! ```
//! use std::sync::Arc;
//! use s3seal::{Client, EncryptOptions, EncryptionContext, RawAesKeyring};
//!
//! # fn main() -> Result<(), s3seal::Error> {
//! let wrapping_key = [7u8; 32]; // in real use: a secret, or a KMS key
//! let keyring = Arc::new(RawAesKeyring::new("my-app", "key-1", &wrapping_key)?);
//! let client = Client::new(keyring);
//!
//! let opts = EncryptOptions::default().with_context_pair("tenant", "a");
//! let message = client.encrypt_blocking(b"attack at dawn", &opts)?;
//!
//! // Decrypting checks the context the caller expects.
//! let expected = EncryptionContext::from([("tenant".to_string(), "a".to_string())]);
//! let out = client.decrypt_blocking(&message, &expected)?;
//! assert_eq!(out.plaintext, b"attack at dawn");
//! # Ok(()) }
//! ```
//!
//! ## Streams
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use s3seal::{Client, DecryptingReader, EncryptOptions, EncryptingWriter, EncryptionContext, RawAesKeyring};
//!
//! # fn main() -> Result<(), s3seal::Error> {
//! # let client = Client::new(Arc::new(RawAesKeyring::new("my-app", "key-1", &[7u8; 32])?));
//! let mut writer = EncryptingWriter::new(&client, Vec::new(), &EncryptOptions::default())?;
//! for i in 0..10_000 {
//!     writeln!(writer, "line {i}")?;
//! }
//! let message = writer.finish()?;
//!
//! // Plaintext is released frame by frame, each only after its tag verified.
//! let mut reader = DecryptingReader::new(&client, &message[..], &EncryptionContext::new())?;
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert!(text.ends_with("line 9999\n"));
//! # Ok(()) }
//! ```
//!
//! ## S3
//!
//! ```no_run
//! use std::sync::Arc;
//! use s3seal::{CacheLimits, CachingCmm, KmsKeyring, s3};
//!
//! # async fn example(sdk: &aws_config::SdkConfig) -> Result<(), s3seal::Error> {
//! let kms = KmsKeyring::new(aws_sdk_kms::Client::new(sdk), "alias/my-key");
//! // One KMS call serves many objects, within the cache's limits.
//! let cmm = Arc::new(CachingCmm::new(Arc::new(s3seal::DefaultCmm::new(Arc::new(kms))), CacheLimits::default())?);
//! let client = s3::Client::with_cmm(aws_sdk_s3::Client::new(sdk), cmm, s3::Config::default());
//!
//! client.put_object().bucket("b").key("report.csv").body(b"a,b\n1,2\n".to_vec()).send().await?;
//! let got = client.get_object().bucket("b").key("report.csv").range("bytes=4-").send().await?;
//! assert_eq!(got.body.collect().await?, b"1,2\n");
//! # Ok(()) }
//! ```
//!
//! ## The proxy, as a library
//!
//! `s3seal-proxy` is built on this crate: `s3seal_proxy::Server::start`
//! with its `Settings` serves an S3 endpoint that encrypts with an
//! [`s3::Client`] underneath; its crate documentation has the example.
//!
//! ## Layout
//!
//! The modules follow the layers of `docs/ARCHITECTURE.md`: [`s3`] over
//! the keyrings, materials managers and [`cache`], over the formats
//! ([`message`], [`object`], [`s3ec`]), over the materials ([`suite`],
//! [`context`], [`materials`]). The primitives under the formats (AEAD,
//! HKDF, signatures, frame keys and nonces) are not part of the API; the
//! few that known-answer tests and other implementations need are in
//! [`hazmat`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cache;
pub mod checksum;
pub mod cmm;
pub(crate) mod codec;
pub mod context;
pub(crate) mod crypto;
pub mod error;
pub mod hazmat;
pub(crate) mod inplace;
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
#[cfg(test)]
mod fuzz;
pub mod stream;

pub use cache::{CacheLimits, CachingCmm};
pub use client::{Client, ClientBuilder, Decrypted, EncryptOptions};
pub use cmm::{DefaultCmm, MaterialsManager};
pub use keyring::{Keyring, KmsDiscoveryKeyring, KmsKeyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding};
pub use stream::{AsyncDecryptingReader, AsyncEncryptingWriter, DecryptingReader, EncryptingWriter};
