//! # s3seal-proxy
//!
//! A transparent S3-compatible endpoint: unmodified S3 tools point
//! `--endpoint-url` at it; uploads are encrypted before they reach the
//! upstream store and downloads come back as plaintext. The S3 protocol
//! (request parsing, SigV4 verification, aws-chunked bodies, error XML) is
//! `s3s`; the cryptography is the `s3seal` SDK; this crate holds neither,
//! only the mapping between them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod auth;
pub mod config;
pub mod embedded;
pub mod error;
pub mod host;
pub mod layer;
pub mod metrics;
pub mod server;
pub mod store;

pub use error::{Error, Result};
pub use server::Server;
