//! Message headers: reading one from the start of a stream (before any key
//! is used), and naming the keys of its encrypted data keys.

use s3seal::keyring::kms::PROVIDER_ID as KMS_PROVIDER;
use s3seal::keyring::raw_aes::key_name_of;
use s3seal::materials::EncryptedDataKey;
use s3seal::message::{Header, ParseLimits};

use crate::fail::{self, Code, Failure, Phase};
use crate::io::{DynRead, PrefixError, read_prefix};

/// Headers larger than this are refused before any key is used.
pub const MAX_HEADER: usize = 16 * 1024 * 1024;

/// Why no header could be read from the input `name`.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The input holds no byte.
    #[error("{name} is empty: not an encrypted message")]
    Empty { name: String },
    /// The input ends inside the header.
    #[error("{name} ends inside the message header (after {read} bytes): truncated or not a message")]
    Truncated { name: String, read: usize },
    /// No header ends within [`MAX_HEADER`] bytes.
    #[error("{name}: no complete message header in the first {read} bytes (limit {MAX_HEADER})")]
    TooBig { name: String, read: usize },
    /// Reading the input failed.
    #[error("cannot read {name}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a header the SDK accepts.
    #[error("{name}")]
    Sdk {
        name: String,
        #[source]
        source: s3seal::Error,
    },
}

impl From<HeaderError> for Failure {
    /// Not a message, or not one the SDK reads: a verification failure
    /// (with a hint to `s3seal inspect` where the input may be no message
    /// at all); a failed read: an I/O failure.
    fn from(e: HeaderError) -> Self {
        let not_message = |name: &str| format!("is {name} an encrypted message? `s3seal inspect` shows what it holds");
        match e {
            HeaderError::Truncated { ref name, .. } => {
                let hint = not_message(name);
                Failure::new(Code::Verify, e).hint(hint)
            }
            HeaderError::Empty { .. } | HeaderError::TooBig { .. } => Failure::new(Code::Verify, e),
            HeaderError::Read { name, source } => Failure::io(format!("cannot read {name}"), source),
            HeaderError::Sdk { name, source } => {
                let malformed = matches!(source, s3seal::Error::Malformed(_) | s3seal::Error::UnsupportedSuite(_));
                let f = fail::sdk(source, Phase::Decrypt).context(name.clone());
                if malformed { f.hint(not_message(&name)) } else { f }
            }
        }
    }
}

/// Reads a message header from `reader` (named `name` in errors); returns
/// it and every byte read.
pub async fn read_header(
    reader: &mut DynRead,
    name: &str,
    limits: ParseLimits,
) -> Result<(Header, Vec<u8>), HeaderError> {
    let name = name.to_string();
    match read_prefix(reader, MAX_HEADER, |buf| Header::parse(buf, limits)).await {
        Ok((Some((header, _)), bytes)) => Ok((header, bytes)),
        Ok((None, bytes)) if bytes.is_empty() => Err(HeaderError::Empty { name }),
        Ok((None, bytes)) => Err(HeaderError::Truncated { name, read: bytes.len() }),
        Err(PrefixError::Io(source)) => Err(HeaderError::Read { name, source }),
        Err(PrefixError::Sdk(source)) => Err(HeaderError::Sdk { name, source }),
        Err(PrefixError::TooBig(read)) => Err(HeaderError::TooBig { name, read }),
    }
}

/// An encrypted data key as a user would name its key.
pub struct EdkView {
    /// The key provider id.
    pub provider: String,
    /// The key's name (for KMS, its ARN).
    pub key_name: String,
    /// The key spec a user would write to decrypt it (without the key file).
    pub spec: String,
    /// The length of the wrapped data key.
    pub wrapped_len: usize,
}

impl EdkView {
    /// The view of `edk`.
    pub fn of(edk: &EncryptedDataKey) -> Self {
        let provider = String::from_utf8_lossy(&edk.provider_id).into_owned();
        let (key_name, spec) = if provider == KMS_PROVIDER {
            let arn = String::from_utf8_lossy(&edk.provider_info).into_owned();
            (arn.clone(), format!("kms:{arn}"))
        } else if let Some(name) = key_name_of(&edk.provider_info) {
            let name = String::from_utf8_lossy(name).into_owned();
            (name.clone(), format!("aes:{provider}:{name}"))
        } else {
            let name = String::from_utf8_lossy(&edk.provider_info).into_owned();
            (name.clone(), format!("rsa:{provider}:{name}"))
        };
        Self { provider, key_name, spec, wrapped_len: edk.ciphertext.len() }
    }
}
