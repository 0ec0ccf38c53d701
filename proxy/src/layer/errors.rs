//! SDK errors mapped to the S3 errors clients see.

use s3s::{S3Error, S3ErrorCode, s3_error};
use s3seal::{Error, KmsErrorKind};

fn custom(code: &'static str, status: http::StatusCode, message: String) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(status);
    e
}

/// A forwarded operation's failure as clients see it: never with a success
/// status. `s3s-aws` gives a failure the status of the upstream's
/// response, which is a 2xx when the upstream answered and its answer
/// could not be read; that becomes `502 Bad Gateway`, logged.
pub(super) fn forwarded_failure(mut e: S3Error) -> S3Error {
    if e.status_code().is_none_or(|s| s.is_success()) {
        tracing::warn!(code = %e.code().as_str(), "an upstream answer could not be read");
        e.set_status_code(http::StatusCode::BAD_GATEWAY);
    }
    e
}

/// True when `e` means the stored object (its envelope, final record or
/// frames) failed verification: answered `500 S3SealIntegrityError`,
/// logged and counted in `s3seal_integrity_failures_total`. A key that
/// does not open the object, or a context mismatch, is not one.
pub(super) fn is_integrity_failure(e: &Error) -> bool {
    !matches!(e, Error::NoDecryptableKey(_) | Error::EncryptionContext(_)) && e.is_verification_failure()
}

/// Maps an SDK error to the S3 error a client should see.
pub(super) fn map_err(e: Error) -> S3Error {
    use http::StatusCode as S;
    match e {
        Error::S3 { status, code, message, operation } => {
            // An upstream answer without an S3 error code (a transport
            // failure, an unparsable body) is logged here and not echoed:
            // its text can hold upstream headers and ids.
            // A 4xx (or a read's 304) keeps its status and gets a code
            // that says so (a HEAD answer has no body, hence no code).
            let (code_str, message) = match (code, status) {
                (Some(c), _) => (c, message),
                (None, Some(s @ (304 | 400..=499))) => {
                    tracing::warn!(operation, status = s, %message, "upstream refused the request");
                    let code = match s {
                        403 => "AccessDenied",
                        404 => "NotFound",
                        412 => "PreconditionFailed",
                        304 => "NotModified",
                        _ => "InvalidRequest",
                    };
                    (code.to_string(), format!("the upstream store refused {operation} (HTTP {s})"))
                }
                (None, _) => {
                    tracing::warn!(operation, %message, "upstream request failed");
                    ("ServiceUnavailable".to_string(), format!("the upstream store failed to answer {operation}"))
                }
            };
            let mut err = S3Error::with_message(code_str.parse().unwrap_or(S3ErrorCode::InternalError), message);
            match status.and_then(|s| S::from_u16(s).ok()) {
                Some(s) => err.set_status_code(s),
                None => err.set_status_code(S::SERVICE_UNAVAILABLE),
            }
            err
        }
        Error::InvalidRange { length } => {
            let mut err = s3_error!(InvalidRange, "The requested range is not satisfiable (object size {length})");
            err.set_status_code(S::RANGE_NOT_SATISFIABLE);
            err
        }
        Error::NotEncrypted { bucket, key } => custom(
            "S3SealNotEncrypted",
            S::FORBIDDEN,
            format!("s3://{bucket}/{key} was not written through s3seal; the proxy does not serve unencrypted objects"),
        ),
        Error::Kms { operation, kind, message } => kms_error(operation, kind, &message),
        Error::NoDecryptableKey(d) => custom("S3SealNoKey", S::FORBIDDEN, d.to_string()),
        Error::InvalidParameter(m) => s3_error!(InvalidRequest, "{m}"),
        e @ Error::UnsupportedRequestField { .. } => s3_error!(NotImplemented, "{e}"),
        Error::EncryptionContext(m) => s3_error!(InvalidRequest, "encryption context: {m}"),
        Error::TooManyEncryptedDataKeys { found, limit } => {
            // Stored data a retry cannot fix: a 4xx, as S3 answers an
            // object it will not serve in its present state.
            let mut e = s3_error!(
                InvalidObjectState,
                "The object's stored envelope holds {found} encrypted data keys, more than this proxy's limit of {limit} (max_encrypted_data_keys): it was not opened, and no key was unwrapped."
            );
            e.set_status_code(S::FORBIDDEN);
            e
        }
        Error::Io(io) => custom("S3SealUpstreamError", S::BAD_GATEWAY, format!("I/O error: {io}")),
        other if is_integrity_failure(&other) => custom(
            "S3SealIntegrityError",
            S::INTERNAL_SERVER_ERROR,
            format!("the stored object failed verification and was not served: {other}"),
        ),
        other => s3_error!(InternalError, "{other}"),
    }
}

/// A failed KMS call, by its class: a refusal that will not pass on retry is
/// a 4xx (clients do not retry it), an outage or throttling a 503 (they do).
fn kms_error(operation: &str, kind: KmsErrorKind, message: &str) -> S3Error {
    use http::StatusCode as S;
    let text = format!("AWS KMS {operation} failed: {message}");
    match kind {
        KmsErrorKind::AccessDenied => custom("AccessDenied", S::FORBIDDEN, text),
        KmsErrorKind::NotFound => custom("KMS.NotFoundException", S::BAD_REQUEST, text),
        KmsErrorKind::Disabled => custom("KMS.DisabledException", S::BAD_REQUEST, text),
        KmsErrorKind::InvalidCiphertext => custom("S3SealNoKey", S::FORBIDDEN, text),
        KmsErrorKind::Throttled => {
            let mut e = S3Error::with_message(S3ErrorCode::SlowDown, text);
            e.set_status_code(S::SERVICE_UNAVAILABLE);
            e
        }
        KmsErrorKind::Unavailable => custom("S3SealKeyServiceUnavailable", S::SERVICE_UNAVAILABLE, text),
        _ => custom("S3SealKeyServiceError", S::INTERNAL_SERVER_ERROR, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_failure_never_has_a_success_status() {
        let mut e = S3Error::new(S3ErrorCode::InternalError);
        e.set_status_code(http::StatusCode::OK);
        assert_eq!(forwarded_failure(e).status_code(), Some(http::StatusCode::BAD_GATEWAY));
        // A code's own status stays.
        assert_eq!(
            forwarded_failure(S3Error::new(S3ErrorCode::InternalError)).status_code(),
            Some(http::StatusCode::INTERNAL_SERVER_ERROR)
        );
        let mut e = S3Error::new(S3ErrorCode::NoSuchBucket);
        e.set_status_code(http::StatusCode::NOT_FOUND);
        assert_eq!(forwarded_failure(e).status_code(), Some(http::StatusCode::NOT_FOUND));
    }

    /// Permanent KMS refusals are 4xx (not retried), outages 503 (retried).
    #[test]
    fn kms_failures_keep_their_class() {
        let cases = [
            (KmsErrorKind::AccessDenied, 403, "AccessDenied"),
            (KmsErrorKind::NotFound, 400, "KMS.NotFoundException"),
            (KmsErrorKind::Disabled, 400, "KMS.DisabledException"),
            (KmsErrorKind::InvalidCiphertext, 403, "S3SealNoKey"),
            (KmsErrorKind::Throttled, 503, "SlowDown"),
            (KmsErrorKind::Unavailable, 503, "S3SealKeyServiceUnavailable"),
            (KmsErrorKind::Other, 500, "S3SealKeyServiceError"),
        ];
        for (kind, status, code) in cases {
            let e = map_err(Error::Kms { operation: "GenerateDataKey", kind, message: "m".into() });
            assert_eq!(e.status_code().map(|s| s.as_u16()), Some(status), "{kind:?}");
            assert_eq!(e.code().as_str(), code, "{kind:?}");
            assert!(e.message().is_some_and(|m| m.contains("GenerateDataKey")), "{kind:?}");
        }
    }

    /// A cut or unrecorded multipart object, a failed frame: integrity
    /// failures, `500 S3SealIntegrityError`; a key that cannot open the
    /// object is not one.
    #[test]
    fn integrity_failures_are_500_s3seal_integrity_error() {
        for e in [
            Error::ObjectShapeMismatch { recorded: 386, stored: 240 },
            Error::FinalRecordMissing { bucket: "b".into(), record: ".s3seal/records/00".into() },
            Error::Authentication("object frame"),
            Error::Truncated("the object ends before its last frame"),
        ] {
            assert!(is_integrity_failure(&e), "{e:?}");
            let s3 = map_err(e.clone());
            assert_eq!(s3.status_code(), Some(http::StatusCode::INTERNAL_SERVER_ERROR), "{e:?}");
            assert_eq!(s3.code().as_str(), "S3SealIntegrityError", "{e:?}");
        }
        let no_key = Error::NoDecryptableKey(Default::default());
        assert!(!is_integrity_failure(&no_key));
        assert_eq!(map_err(no_key).code().as_str(), "S3SealNoKey");
    }

    #[test]
    fn too_many_keys_is_a_client_error_naming_the_limit() {
        let e = map_err(Error::TooManyEncryptedDataKeys { found: 5000, limit: 8 });
        assert_eq!(e.status_code(), Some(http::StatusCode::FORBIDDEN));
        assert_eq!(e.code().as_str(), "InvalidObjectState");
        assert!(e.message().is_some_and(|m| m.contains("5000") && m.contains("max_encrypted_data_keys")));
    }

    #[test]
    fn upstream_4xx_without_code_keeps_its_status() {
        let e = map_err(Error::S3 { operation: "HeadObject", status: Some(400), code: None, message: "x".into() });
        assert_eq!(e.status_code(), Some(http::StatusCode::BAD_REQUEST));
        assert_eq!(e.code().as_str(), "InvalidRequest");
        let e = map_err(Error::S3 { operation: "GetObject", status: None, code: None, message: "x".into() });
        assert_eq!(e.status_code(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    }
}
