//! Settings of the proxy: a TOML file, `S3SEAL_*` environment variables
//! and command-line flags, in increasing order of precedence.
//!
//! Each source is a [`PartialSettings`] (every field optional);
//! [`PartialSettings::over`] layers one source on another and
//! [`PartialSettings::resolve`] applies the defaults and checks the result,
//! giving the [`Settings`] the server runs with.
//!
//! ```
//! use s3seal_proxy::config::PartialSettings;
//! let file = PartialSettings::from_toml_str(r#"
//!     listen = "127.0.0.1:9100"
//!     keys = ["aes:acme:prod:/etc/s3seal/prod.key"]
//! "#)?;
//! let env = PartialSettings::from_env_with(|name| (name == "S3SEAL_LISTEN").then(|| "0.0.0.0:9200".to_string()))?;
//! let settings = env.over(file).resolve()?;
//! assert_eq!(settings.listen.to_string(), "0.0.0.0:9200");
//! # Ok::<(), s3seal_proxy::Error>(())
//! ```
//!
//! The file format, every environment variable and every flag are listed in
//! `docs/PROXY.md`.

mod credentials;
mod defaults;
mod env;
mod partial;
mod resolve;
mod settings;
#[cfg(test)]
mod tests;

pub use credentials::{ClientCredential, Secret, parse_client_credentials};
pub use defaults::{
    ANY_REGION, AWS_ENDPOINT, DEFAULT_ADMIN_LISTEN, DEFAULT_BODY_TIMEOUT, DEFAULT_DATA_DIR, DEFAULT_FRAME_LENGTH,
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_ENCRYPTED_DATA_KEYS, DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_OBJECT_BYTES, DEFAULT_MAX_XML_BODY_BYTES, DEFAULT_MIN_BODY_RATE, DEFAULT_REGION,
    DEFAULT_SHUTDOWN_TIMEOUT, MAX_FRAME_LENGTH, MIN_HEADER_BYTES, OFF,
};
pub use partial::{PartialAuth, PartialCache, PartialLimits, PartialSettings, PartialTls, PartialUpstream};
pub use resolve::parse_suite;
pub use settings::{
    AuthSettings, ClientRegion, ConnectionLimits, RequestLimits, Settings, StaticCredentials, TlsSettings,
    UpstreamSettings,
};
