//! # s3seal-proxy
//!
//! A transparent S3-compatible endpoint: unmodified S3 tools point
//! `--endpoint-url` at it; uploads are encrypted before they reach the
//! upstream store and downloads come back as plaintext. The S3 protocol
//! (request parsing, SigV4 verification, aws-chunked bodies, error XML) is
//! `s3s`; the cryptography is the `s3seal` SDK; this crate holds neither,
//! only the mapping between them.
//!
//! `s3seal proxy` runs it from the command line; as a library, settings
//! come from TOML (or are built in code) and [`Server::start`] serves them:
//!
//! ```no_run
//! use s3seal_proxy::Server;
//! use s3seal_proxy::config::PartialSettings;
//!
//! # async fn example() -> s3seal_proxy::Result<()> {
//! let settings = PartialSettings::from_toml_str(
//!     r#"
//!     listen = "127.0.0.1:9000"
//!     data_dir = "/var/lib/s3seal"
//!     keys = ["kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
//!
//!     [upstream]
//!     endpoint = "https://s3.eu-west-1.amazonaws.com"
//!     "#,
//! )?
//! .resolve()?;
//! let server = Server::start(settings).await?;
//! println!("S3 tools can now use --endpoint-url {}", server.endpoint());
//! server.run_until_signal().await
//! # }
//! ```
//!
//! Without an `[upstream]` the proxy serves its embedded store under
//! `data_dir`, with a generated key and generated client credentials.
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
