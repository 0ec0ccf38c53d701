//! `aws_sdk_s3` clients for tests, independent of the developer's
//! environment.
//!
//! The configuration is built from `aws_sdk_s3::Config::builder()` alone
//! (not `aws-config`'s loader), with static credentials, region
//! `us-east-1`, an explicit endpoint and path-style addressing, so no
//! `AWS_*` variable, profile, `~/.aws` file, IMDS or `AWS_CA_BUNDLE` is
//! consulted.
//!
//! Checksums are left at the SDK's default (`WhenSupported`): PutObject and
//! UploadPart bodies go out as `aws-chunked` with a CRC32 trailer, which
//! both test servers accept (see `tests/tests/s3_servers.rs`).

use aws_sdk_s3::config::{BehaviorVersion, Builder, Credentials, Region};

use crate::moto::{MotoServer, REGION};

/// The credentials moto is given (it accepts any).
pub const MOTO_ACCESS_KEY: &str = "testing";
/// See [`MOTO_ACCESS_KEY`].
pub const MOTO_SECRET_KEY: &str = "testing";

/// A configuration builder for `endpoint` with static credentials, region
/// `us-east-1` and path-style addressing; adjust it and pass it to
/// `aws_sdk_s3::Client::from_conf`.
pub fn s3_config(endpoint: &str, access_key: &str, secret_key: &str) -> Builder {
    let credentials = Credentials::new(access_key, secret_key, None, None, "s3seal-tests");
    aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .force_path_style(true)
}

/// A client for `endpoint` signing with `access_key` / `secret_key` (see
/// [`s3_config`]).
pub fn s3_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(endpoint, access_key, secret_key).build())
}

/// A client for a moto server (see [`s3_config`]).
pub fn moto_s3_client(server: &MotoServer) -> aws_sdk_s3::Client {
    s3_client(&server.endpoint(), MOTO_ACCESS_KEY, MOTO_SECRET_KEY)
}

/// The HTTP status of an SDK call's outcome: `200` for any success, the
/// response's status for a failure (`0` if none arrived).
pub fn status<T, E>(r: &Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
    }
}

/// The S3 error code of an SDK call's failure (`None` on success).
pub fn error_code<T, E: aws_sdk_s3::error::ProvideErrorMetadata>(
    r: &Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> Option<String> {
    r.as_ref().err().and_then(|e| e.as_service_error()).and_then(|e| e.code()).map(str::to_string)
}
