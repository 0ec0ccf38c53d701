//! The error type of the SDK.
//!
//! Every failure has its own variant, so callers (and the CLI) can tell a
//! wrong key from a tampered message from a policy refusal without parsing
//! strings. Messages name the problem and, where there is one, the fix.

use std::fmt;
use std::sync::Arc;

/// Everything that can go wrong while encrypting or decrypting.
///
/// `Clone`, so that every request waiting on one shared operation (a data
/// key fetched once for many objects) gets the very same error. Use
/// [`Error::kind`] to act on the class of a failure (retry, refuse, report
/// tampering) without matching every variant.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a well-formed message (bad header, bad framing,
    /// trailing bytes, a length out of range).
    #[error("malformed message: {0}")]
    Malformed(String),

    /// The input ended before the message did.
    #[error("message is truncated: {0}")]
    Truncated(&'static str),

    /// An authentication tag did not verify: the bytes were changed, or the
    /// wrong key or encryption context was used.
    #[error("authentication failed: {0} (the data was modified, or the key or encryption context is wrong)")]
    Authentication(&'static str),

    /// A multipart object's stored length is not the one its final record
    /// names: trailing parts were dropped (or parts added) after the upload
    /// completed (`docs/FORMAT.md` section 2.15).
    #[error(
        "the object is {stored} bytes stored but its final record says {recorded}: parts were dropped or added (the object was cut short or altered in the store)"
    )]
    ObjectShapeMismatch {
        /// The ciphertext length the record names.
        recorded: u64,
        /// The ciphertext length stored.
        stored: u64,
    },

    /// A multipart object whose envelope requires a final record has none:
    /// the upload was completed by something other than s3seal (or the
    /// record was deleted), so the object's length cannot be trusted.
    #[error(
        "the object's final record s3://{bucket}/{record} is missing: the object was completed outside s3seal or its record was deleted; its length cannot be trusted"
    )]
    FinalRecordMissing {
        /// The bucket.
        bucket: String,
        /// The record's key in the bucket.
        record: String,
    },

    /// The key commitment stored in the header does not match the data key.
    #[error("key commitment mismatch: the header does not commit to this data key")]
    CommitmentMismatch,

    /// The message signature did not verify.
    #[error("signature verification failed: the message was modified or was not signed by the expected key")]
    BadSignature,

    /// No keyring could decrypt any of the message's encrypted data keys.
    #[error("{0}")]
    NoDecryptableKey(NoKeyDetails),

    /// The message holds more encrypted data keys than the configured limit.
    #[error("message has {found} encrypted data keys, more than the limit of {limit}")]
    TooManyEncryptedDataKeys {
        /// Number of encrypted data keys in the message.
        found: usize,
        /// The configured limit.
        limit: usize,
    },

    /// The commitment policy forbids this algorithm suite.
    #[error("commitment policy {policy} forbids algorithm suite {suite}")]
    CommitmentPolicy {
        /// The policy in force.
        policy: crate::CommitmentPolicy,
        /// The suite it refused.
        suite: crate::AlgorithmSuite,
    },

    /// The encryption context is not acceptable: reserved keys, a mismatch
    /// with the reproduced context, or a missing required key.
    #[error("encryption context: {0}")]
    EncryptionContext(String),

    /// The commitment policy forbids reading an Amazon S3 Encryption
    /// Client object without key commitment (format V2).
    #[error(
        "commitment policy {policy} forbids reading this S3 Encryption Client V2 object: its suite {suite} has no key commitment; read it under require-encrypt-allow-decrypt to accept it"
    )]
    S3ecCommitmentPolicy {
        /// The policy in force.
        policy: crate::CommitmentPolicy,
        /// The object's content suite.
        suite: crate::s3ec::ContentSuite,
    },
    /// An Amazon S3 Encryption Client object uses a format, algorithm or
    /// size s3seal does not read (legacy V1 modes, unknown algorithms, an
    /// object over the configured buffering limit).
    #[error("S3 Encryption Client object: {0}")]
    UnsupportedS3ec(String),
    /// The algorithm suite id is unknown or not usable here.
    #[error("unsupported algorithm suite {0:#06x}")]
    UnsupportedSuite(u16),

    /// A keyring was configured with invalid key material or parameters.
    #[error("invalid key: {0}")]
    InvalidKey(String),

    /// A keyring operation failed (wrapping, unwrapping or a remote call).
    #[error("keyring {keyring}: {message}")]
    Keyring {
        /// Which keyring failed.
        keyring: String,
        /// What went wrong.
        message: String,
    },

    /// A call to AWS KMS failed.
    #[error("AWS KMS {operation} failed: {message}")]
    Kms {
        /// The KMS operation.
        operation: &'static str,
        /// What kind of failure KMS (or the transport) reported.
        kind: KmsErrorKind,
        /// What KMS or the transport said.
        message: String,
    },

    /// An S3 request failed.
    #[error("S3 {operation} failed{}: {message}", status.map(|s| format!(" (HTTP {s}{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())).unwrap_or_default())]
    S3 {
        /// The S3 operation.
        operation: &'static str,
        /// HTTP status of the response, if one arrived.
        status: Option<u16>,
        /// The S3 error code (`NoSuchKey`, `AccessDenied`, ...).
        code: Option<String>,
        /// What S3 or the transport said.
        message: String,
    },

    /// The object was not written by s3seal.
    #[error(
        "s3://{bucket}/{key} is not encrypted by s3seal (it has no s3seal envelope); enable reading unencrypted objects to read it as is"
    )]
    NotEncrypted {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
    },

    /// The requested range is outside the object (HTTP 416, `InvalidRange`).
    #[error("the requested range is not satisfiable: the object has {length} bytes")]
    InvalidRange {
        /// Plaintext length of the object.
        length: u64,
    },

    /// A caller-supplied parameter is out of range (frame size, suite, limits).
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),

    /// A request template set a field the encrypting client cannot honour:
    /// one that describes the stored bytes (body, length, checksums,
    /// `Content-MD5`), which the client sets itself for the ciphertext, or
    /// one it does not support (SSE-C, appends).
    #[error("{operation}: the request field {field} cannot be passed through s3seal ({reason})")]
    UnsupportedRequestField {
        /// The S3 operation.
        operation: &'static str,
        /// The field, named as its HTTP header.
        field: &'static str,
        /// Why it cannot be passed.
        reason: &'static str,
    },

    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[source] Arc<std::io::Error>),

    /// A cryptographic primitive failed in a way that does not depend on input.
    #[error("internal cryptographic error: {0}")]
    Crypto(&'static str),
}

/// Details of a failed attempt to decrypt any data key, kept so the message
/// can say which keys the message was for and which keys were tried.
#[derive(Debug, Clone, Default)]
pub struct NoKeyDetails {
    /// `provider-id:key-name` of every encrypted data key in the message.
    pub message_keys: Vec<String>,
    /// Description of each keyring or failure that was tried.
    pub attempts: Vec<String>,
}

impl fmt::Display for NoKeyDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no key could decrypt this message")?;
        if !self.message_keys.is_empty() {
            write!(f, ": it was encrypted for {}", self.message_keys.join(", "))?;
        }
        if !self.attempts.is_empty() {
            write!(f, "; tried {}", self.attempts.join("; "))?;
        }
        Ok(())
    }
}

/// The class of a failed AWS KMS call, from KMS's error code or the
/// transport: what a caller (or the proxy) must tell its own client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KmsErrorKind {
    /// The caller may not use the key (`AccessDeniedException`), or KMS
    /// refused the credentials or a grant token. Permanent until the policy
    /// or the credentials change.
    AccessDenied,
    /// The key does not exist (`NotFoundException`).
    NotFound,
    /// The key exists but cannot be used now: disabled, pending deletion or
    /// import, or not a symmetric encryption key.
    Disabled,
    /// KMS refused this data key: another key, another encryption context,
    /// or a modified encrypted data key.
    InvalidCiphertext,
    /// KMS is throttling requests; retry later.
    Throttled,
    /// KMS could not be reached or failed (timeouts, connection errors,
    /// internal errors, an unreadable answer); retry later.
    Unavailable,
    /// The request could not be built or was refused for another reason.
    Other,
}

impl KmsErrorKind {
    /// True for failures that may pass if the same call is tried later.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable)
    }
}

/// The class of an [`Error`]: what it means for the caller, independent of
/// which layer raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object (or key) does not exist.
    NotFound,
    /// A condition of the request (`If-Match`, `If-None-Match`, dates) did
    /// not hold.
    PreconditionFailed,
    /// The caller may not use the key or the object.
    AccessDenied,
    /// The key service could not be used now (throttled, unreachable);
    /// retrying later may succeed.
    KeyUnavailable,
    /// No configured key fits, or a key is disabled or missing: permanent.
    KeyRefused,
    /// The ciphertext or its envelope failed authentication: tampering, or
    /// the wrong key or context.
    Integrity,
    /// The input is not in a format s3seal reads (or is cut short).
    Format,
    /// A policy (commitment policy, limits, encryption context rules)
    /// refused the input.
    Policy,
    /// A parameter given by the caller is out of range.
    InvalidInput,
    /// An S3 request failed with another error.
    S3,
    /// Reading or writing failed.
    Io,
    /// An internal failure that does not depend on the input.
    Internal,
}

impl Error {
    /// The class of this error (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match self {
            Error::Malformed(_) | Error::Truncated(_) | Error::UnsupportedSuite(_) | Error::UnsupportedS3ec(_) => {
                K::Format
            }
            Error::Authentication(_)
            | Error::CommitmentMismatch
            | Error::BadSignature
            | Error::ObjectShapeMismatch { .. }
            | Error::FinalRecordMissing { .. } => K::Integrity,
            Error::NoDecryptableKey(_) | Error::InvalidKey(_) | Error::Keyring { .. } => K::KeyRefused,
            Error::TooManyEncryptedDataKeys { .. }
            | Error::CommitmentPolicy { .. }
            | Error::EncryptionContext(_)
            | Error::S3ecCommitmentPolicy { .. } => K::Policy,
            Error::Kms { kind, .. } => match kind {
                KmsErrorKind::AccessDenied => K::AccessDenied,
                KmsErrorKind::Throttled | KmsErrorKind::Unavailable => K::KeyUnavailable,
                KmsErrorKind::InvalidCiphertext => K::Integrity,
                KmsErrorKind::NotFound | KmsErrorKind::Disabled | KmsErrorKind::Other => K::KeyRefused,
            },
            Error::NotEncrypted { .. } => K::Format,
            Error::S3 { status: Some(404), .. } => K::NotFound,
            Error::S3 { status: Some(412 | 304), .. } => K::PreconditionFailed,
            Error::S3 { status: Some(403), .. } => K::AccessDenied,
            Error::S3 { .. } => K::S3,
            Error::InvalidRange { .. } | Error::InvalidParameter(_) | Error::UnsupportedRequestField { .. } => {
                K::InvalidInput
            }
            Error::Io(_) => K::Io,
            Error::Crypto(_) => K::Internal,
        }
    }

    /// True when the error means the ciphertext or its keys failed a check
    /// (as opposed to a usage or I/O problem).
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            Error::Malformed(_)
                | Error::Truncated(_)
                | Error::Authentication(_)
                | Error::ObjectShapeMismatch { .. }
                | Error::FinalRecordMissing { .. }
                | Error::CommitmentMismatch
                | Error::BadSignature
                | Error::NoDecryptableKey(_)
                | Error::TooManyEncryptedDataKeys { .. }
                | Error::CommitmentPolicy { .. }
                | Error::EncryptionContext(_)
                | Error::UnsupportedSuite(_)
                | Error::S3ecCommitmentPolicy { .. }
                | Error::UnsupportedS3ec(_)
        )
    }

    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        Error::Malformed(msg.into())
    }

    /// An [`Error::Io`] from any error (a failed task, a body stream).
    pub(crate) fn io_other(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::from(std::io::Error::other(e))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(io) => Arc::try_unwrap(io).unwrap_or_else(|shared| std::io::Error::new(shared.kind(), shared)),
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// Result type of the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;
