//! What the store reports of an object besides its bytes and standard
//! headers (storage class, server-side encryption, Object Lock, ...), read
//! from its HEAD or GET answer and passed on as it is.

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    ObjectLockLegalHoldStatus, ObjectLockMode, ReplicationStatus, ServerSideEncryption, StorageClass,
};

/// The store's settings of an object, as its HEAD or GET reported them.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StoredSettings {
    /// `x-amz-storage-class` (absent for `STANDARD`).
    pub storage_class: Option<StorageClass>,
    /// The store's own encryption (`x-amz-server-side-encryption`).
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// The KMS key of the store's SSE-KMS.
    pub ssekms_key_id: Option<String>,
    /// Whether the store's SSE-KMS uses an S3 Bucket Key.
    pub bucket_key_enabled: Option<bool>,
    /// Object Lock retention mode.
    pub object_lock_mode: Option<ObjectLockMode>,
    /// Object Lock retention date.
    pub object_lock_retain_until_date: Option<DateTime>,
    /// Object Lock legal hold.
    pub object_lock_legal_hold_status: Option<ObjectLockLegalHoldStatus>,
    /// `x-amz-website-redirect-location`.
    pub website_redirect_location: Option<String>,
    /// The `Expires` header as stored.
    pub expires: Option<String>,
    /// Replication status.
    pub replication_status: Option<ReplicationStatus>,
    /// `x-amz-restore` (archived objects).
    pub restore: Option<String>,
}

/// The [`StoredSettings`] of an `aws-sdk-s3` HEAD or GET answer.
macro_rules! stored_settings {
    ($resp:expr) => {
        $crate::s3::settings::StoredSettings {
            storage_class: $resp.storage_class.clone(),
            server_side_encryption: $resp.server_side_encryption.clone(),
            ssekms_key_id: $resp.ssekms_key_id.clone(),
            bucket_key_enabled: $resp.bucket_key_enabled,
            object_lock_mode: $resp.object_lock_mode.clone(),
            object_lock_retain_until_date: $resp.object_lock_retain_until_date,
            object_lock_legal_hold_status: $resp.object_lock_legal_hold_status.clone(),
            website_redirect_location: $resp.website_redirect_location.clone(),
            expires: $resp.expires_string.clone(),
            replication_status: $resp.replication_status.clone(),
            restore: $resp.restore.clone(),
        }
    };
}
pub(crate) use stored_settings;
