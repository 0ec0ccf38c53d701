//! The encrypting S3 service itself: what every handler works with.

use std::sync::Arc;

use crate::metrics::Metrics;

/// The encrypting S3 service.
pub struct EncryptingS3 {
    pub(super) client: s3seal::s3::Client,
    pub(super) forward: s3s_aws::Proxy,
    pub(super) metrics: Arc<Metrics>,
    pub(super) frame_length: u32,
}

impl std::fmt::Debug for EncryptingS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingS3").field("frame_length", &self.frame_length).finish_non_exhaustive()
    }
}

impl EncryptingS3 {
    /// A layer that encrypts through `client` and forwards the rest with
    /// `forward` (both over the same upstream). `frame_length` is used to
    /// report plaintext sizes in listings.
    pub fn new(client: s3seal::s3::Client, forward: s3s_aws::Proxy, metrics: Arc<Metrics>, frame_length: u32) -> Self {
        Self { client, forward, metrics, frame_length }
    }
}
