//! The defaults and fixed values of the settings.

use std::time::Duration;

/// Where clients connect unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
/// Where `/metrics` and `/health` are served unless told otherwise.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9001";
/// The directory of the embedded upstream unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "s3seal-data";
/// The region used to sign upstream requests when no setting and no AWS
/// configuration names one.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Plaintext bytes per frame unless told otherwise.
pub const DEFAULT_FRAME_LENGTH: u32 = 64 * 1024;
/// The largest frame length accepted.
pub const MAX_FRAME_LENGTH: u32 = 1024 * 1024;
/// How long a graceful shutdown waits for open requests.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// The value of [`PartialUpstream::endpoint`](super::PartialUpstream::endpoint) that means "AWS S3 itself,
/// with the SDK's endpoint resolution".
pub const AWS_ENDPOINT: &str = "aws";
/// The value of [`PartialSettings::admin_listen`](super::PartialSettings::admin_listen) that turns the admin
/// listener off.
pub const OFF: &str = "off";
/// Open client connections at most, unless told otherwise (and never more
/// than the open-file limit allows).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Open client connections from one IP address at most, unless told
/// otherwise.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 512;
/// How long a client may take to send a request's headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may stay open with no request in flight (S3
/// itself closes idle connections after about 20 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes of a request head at most (hyper's smallest buffer is 8 KiB).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// The smallest head limit accepted.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;
/// Bytes of an XML request body at most: a CompleteMultipartUpload of
/// 10,000 parts with checksums, or a DeleteObjects of 1,000 long keys, fits.
pub const DEFAULT_MAX_XML_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Plaintext bytes of one PutObject or UploadPart at most (S3's limit).
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The window of the minimum body rate.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes per second a request body must average over each window.
pub const DEFAULT_MIN_BODY_RATE: u64 = 1024;
/// The value of `auth.region` that accepts any region.
pub const ANY_REGION: &str = "*";
/// Encrypted data keys an envelope may hold, unless told otherwise.
pub const DEFAULT_MAX_ENCRYPTED_DATA_KEYS: usize = s3seal::s3::DEFAULT_MAX_ENCRYPTED_DATA_KEYS;
