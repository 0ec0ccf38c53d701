//! AWS KMS keyrings (ESDK `framework/aws-kms/`).
//!
//! * [`KmsKeyring`] wraps data keys under one KMS key: `GenerateDataKey`
//!   when it is the first keyring, `Encrypt` otherwise; it decrypts only the
//!   encrypted data keys made under that same key (named by its ARN).
//! * [`KmsDiscoveryKeyring`] cannot encrypt; it decrypts any `aws-kms`
//!   encrypted data key whose key ARN passes an optional filter (partition
//!   and account ids), asking KMS to use the key the message names.
//!
//! Encrypted data keys are written exactly as every AWS Encryption SDK
//! writes them: provider id `aws-kms`, provider info = the key ARN KMS
//! returned (UTF-8), ciphertext = the KMS `CiphertextBlob`. The message's
//! encryption context is passed to KMS as its encryption context, so KMS
//! itself refuses to unwrap a data key under a different context.
//!
//! # Runtimes
//!
//! `aws-sdk-kms` needs a Tokio reactor. Both keyrings capture
//! [`tokio::runtime::Handle::try_current`] when they are constructed (or take
//! one from `with_runtime`). With a handle, every KMS call is spawned on that
//! runtime and its result awaited, so the keyring's futures can be driven by
//! any executor, including `futures_executor::block_on` on a thread with no
//! runtime of its own; the runtime must then be running (a multi-thread
//! runtime, or a current-thread runtime whose thread is not the one blocked).
//! Without a handle the call is awaited in place, which needs the caller to
//! be inside a Tokio runtime; otherwise the call fails with a clear error
//! rather than a panic.
//!
//! # Errors
//!
//! A failed KMS call is [`Error::Kms`], whose [`KmsErrorKind`] says what
//! class of failure it was (access denied, not found, disabled, refused
//! ciphertext, throttled, unavailable) and whose message says what happened
//! (wrong encryption context, KMS unreachable at a given URL, ...). `on_encrypt` returns it as is. `on_decrypt` tries
//! every matching encrypted data key and returns
//! [`Error::NoDecryptableKey`] listing each failure, except when every
//! attempt failed because KMS could not be used at all (unreachable,
//! timed out, throttled, internal error): then it returns that
//! [`Error::Kms`], so callers can tell an outage (retry later) from a key
//! that does not fit.
//!
//! Note: the plaintext data key handed to KMS `Encrypt` is copied into the
//! request buffer of `aws-sdk-kms`, which does not zeroize it.
//!
//! [`Error::Kms`]: crate::error::Error::Kms
//! [`Error::NoDecryptableKey`]: crate::error::Error::NoDecryptableKey
//! [`KmsErrorKind`]: crate::error::KmsErrorKind

mod arn;
mod attempts;
mod client;
mod discovery;
mod failure;
mod keyring;

pub use arn::KmsArn;
pub use discovery::KmsDiscoveryKeyring;
pub use keyring::KmsKeyring;

/// Provider id of encrypted data keys made by AWS KMS.
pub const PROVIDER_ID: &str = crate::materials::KMS_PROVIDER_ID;

/// A KMS client from the standard AWS chain (environment, profiles, SSO,
/// IMDS; `AWS_ENDPOINT_URL_KMS`), in `fallback_region` (e.g. the region of
/// a key ARN) when the chain names none.
pub async fn client_from_aws_chain(fallback_region: Option<String>) -> aws_sdk_kms::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let mut builder = aws_sdk_kms::config::Builder::from(&config);
    if config.region().is_none()
        && let Some(region) = fallback_region
    {
        builder = builder.region(aws_sdk_kms::config::Region::new(region));
    }
    aws_sdk_kms::Client::from_conf(builder.build())
}
