//! Turning `aws-sdk-kms` errors into [`Error::Kms`] with its [`KmsErrorKind`].

use std::fmt;

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

use crate::error::{Error, KmsErrorKind};

/// A failed KMS call: the error, and whether retrying later might help
/// (KMS unreachable, throttled, or internally failing).
pub(super) struct Failure {
    pub(super) error: Error,
    pub(super) transient: bool,
}

impl Failure {
    pub(super) fn new(operation: &'static str, kind: KmsErrorKind, message: String) -> Self {
        Failure { error: Error::Kms { operation, kind, message }, transient: kind.is_transient() }
    }
}

/// The innermost cause of an error chain (`Connection refused (os error 111)`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Every message of an error chain, joined by `: ` (repeats left out).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Turns an `aws-sdk-kms` error into an error a user can act on.
pub(super) fn kms_failure<E, R>(operation: &'static str, key: &str, where_: &str, err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let (kind, message) = match &err {
        SdkError::ServiceError(se) => service_failure(operation, key, se.err()),
        SdkError::DispatchFailure(df) => match df.as_connector_error() {
            Some(ce) if ce.is_timeout() => {
                (KmsErrorKind::Unavailable, format!("timed out connecting to KMS at {where_}"))
            }
            Some(ce) if ce.is_io() => {
                (KmsErrorKind::Unavailable, format!("could not reach KMS at {where_}: {}", root_cause(ce)))
            }
            Some(ce) => (KmsErrorKind::Other, format!("could not send the request to KMS at {where_}: {}", chain(ce))),
            None => (KmsErrorKind::Other, format!("could not send the request to KMS at {where_}: {}", chain(&err))),
        },
        SdkError::TimeoutError(_) => (KmsErrorKind::Unavailable, format!("timed out waiting for KMS at {where_}")),
        SdkError::ResponseError(_) => (
            KmsErrorKind::Unavailable,
            format!("could not understand the response of KMS at {where_}: {}", chain(&err)),
        ),
        SdkError::ConstructionFailure(_) => (
            KmsErrorKind::Other,
            format!(
                "could not build the request (is a region configured, are credentials \
                 available?): {}",
                chain(&err)
            ),
        ),
        _ => (KmsErrorKind::Other, chain(&err)),
    };
    Failure::new(operation, kind, message)
}

/// The class and message of an error KMS itself answered with.
fn service_failure(operation: &'static str, key: &str, e: &impl ProvideErrorMetadata) -> (KmsErrorKind, String) {
    let code = e.code().unwrap_or("unknown error");
    // KMS's own words, when it sent some.
    let said = match e.message() {
        Some(m) if !m.is_empty() => format!(" ({m})"),
        _ => String::new(),
    };
    key_failure(operation, key, code, &said).unwrap_or_else(|| service_state_failure(code, &said))
}

/// The error codes that are about the key: what it is, its state, the
/// ciphertext given to it. `None` for any other code.
fn key_failure(operation: &'static str, key: &str, code: &str, said: &str) -> Option<(KmsErrorKind, String)> {
    Some(match code {
        "AccessDeniedException" => (
            KmsErrorKind::AccessDenied,
            format!(
                "access denied to key {key}{said}: check the key policy, IAM permissions and \
                 grant tokens, and that the data key was encrypted under this key"
            ),
        ),
        "NotFoundException" => (
            KmsErrorKind::NotFound,
            format!(
                "key {key} was not found{said}: check the key id or alias, and the region and \
                 account of the KMS client"
            ),
        ),
        "InvalidCiphertextException" => (
            KmsErrorKind::InvalidCiphertext,
            format!(
                "KMS could not decrypt the data key under {key}: the encryption context differs \
                 from the one used when encrypting, or the encrypted data key was modified"
            ),
        ),
        "IncorrectKeyException" => (
            KmsErrorKind::InvalidCiphertext,
            format!("the data key was encrypted under a different KMS key than {key}{said}"),
        ),
        "DisabledException" => (KmsErrorKind::Disabled, format!("key {key} is disabled{said}")),
        "KMSInvalidStateException" => (
            KmsErrorKind::Disabled,
            format!(
                "key {key} cannot be used in its current state (pending deletion or \
                 import?){said}"
            ),
        ),
        "InvalidKeyUsageException" => (
            KmsErrorKind::Disabled,
            format!(
                "key {key} cannot be used for {operation}{said}: it must be a symmetric \
                 ENCRYPT_DECRYPT key"
            ),
        ),
        _ => return None,
    })
}

/// The error codes that are not about the key: grant tokens, credentials,
/// KMS unavailable or throttling, and any code not known.
fn service_state_failure(code: &str, said: &str) -> (KmsErrorKind, String) {
    match code {
        "InvalidGrantTokenException" => (KmsErrorKind::AccessDenied, format!("a grant token was refused{said}")),
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "IncompleteSignature"
        | "InvalidClientTokenId"
        | "MissingAuthenticationToken" => {
            (KmsErrorKind::AccessDenied, format!("KMS refused the credentials: {code}{said}"))
        }
        "KeyUnavailableException"
        | "DependencyTimeoutException"
        | "KMSInternalException"
        | "ThrottlingException"
        | "LimitExceededException"
        | "ServiceUnavailableException" => {
            let kind = if matches!(code, "ThrottlingException" | "LimitExceededException") {
                KmsErrorKind::Throttled
            } else {
                KmsErrorKind::Unavailable
            };
            (kind, format!("KMS is unavailable or throttling requests: {code}{said}; try again later"))
        }
        _ => (KmsErrorKind::Other, format!("{code}{said}")),
    }
}

pub(super) fn bad_response(operation: &'static str, message: String) -> Failure {
    Failure::new(operation, KmsErrorKind::Other, message)
}
