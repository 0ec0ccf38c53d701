//! The errors of configuring and starting the proxy.

use std::path::PathBuf;

/// Why the proxy could not be configured, started or stopped cleanly.
///
/// Messages never contain secrets (secret keys are redacted everywhere).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing, malformed or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The configuration file could not be read or parsed.
    #[error("cannot use the configuration file {path}: {message}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What went wrong (with the line and column for syntax errors).
        message: String,
    },
    /// A file or socket operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The keyring could not be built from the key specs.
    #[error("cannot use the configured keys")]
    Keys(#[source] s3seal::Error),
    /// The embedded upstream (the embedded store) could not be started.
    #[error("cannot start the embedded upstream: {0}")]
    Embedded(String),
}

impl Error {
    /// An [`Error::Io`] saying what was being done.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { what: what.into(), source }
    }
}

/// The proxy's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
