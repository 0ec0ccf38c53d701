//! What the proxy, its clients and the checks share: the client
//! credentials, the region and the proxy's frame length.

/// The access key clients sign with at the proxy.
pub const CLIENT_ACCESS_KEY: &str = "s3seal-proxy-client";
/// The secret key clients sign with at the proxy.
pub const CLIENT_SECRET_KEY: &str = "s3seal-proxy-client-secret-0123456789";
/// The proxy's frame length (its default), for the size arithmetic.
pub const FRAME: u64 = 65536;
/// The region everything signs for.
pub const REGION: &str = "us-east-1";
