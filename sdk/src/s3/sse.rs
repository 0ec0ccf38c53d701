//! Server-side encryption on top of s3seal's: the store's own encryption
//! (SSE-S3, SSE-KMS, DSSE-KMS) requested on every write that does not
//! choose its own, for defense in depth and for buckets whose policy
//! refuses writes without `x-amz-server-side-encryption`.

use aws_sdk_s3::types::ServerSideEncryption;

use crate::error::{Error, Result};

/// The server-side encryption the client asks the store for on every write
/// (PutObject, CreateMultipartUpload, CopyObject, envelope sidecars) whose
/// request does not name its own: a request that sets
/// `server_side_encryption` (or SSE-C) keeps its choice whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseDefault {
    /// `AES256` (SSE-S3), `aws:kms` (SSE-KMS) or `aws:kms:dsse` (DSSE-KMS).
    pub algorithm: ServerSideEncryption,
    /// The KMS key (id, ARN or alias) for `aws:kms` and `aws:kms:dsse`;
    /// `None` for the bucket's default (the AWS managed key).
    pub kms_key_id: Option<String>,
    /// The S3 Bucket Key setting sent with `aws:kms` (`None`: the bucket's).
    pub bucket_key_enabled: Option<bool>,
}

impl SseDefault {
    /// The setting from its header values, as `x-amz-server-side-encryption`
    /// spells them: `AES256`, `aws:kms` or `aws:kms:dsse`. A KMS key id or
    /// a bucket-key flag with `AES256` is refused (S3 refuses it too).
    pub fn parse(algorithm: &str, kms_key_id: Option<String>, bucket_key_enabled: Option<bool>) -> Result<Self> {
        let algorithm = match algorithm {
            "AES256" => ServerSideEncryption::Aes256,
            "aws:kms" => ServerSideEncryption::AwsKms,
            "aws:kms:dsse" => ServerSideEncryption::AwsKmsDsse,
            other => {
                return Err(Error::InvalidParameter(format!(
                    "server-side encryption {other:?}: expected AES256, aws:kms or aws:kms:dsse"
                )));
            }
        };
        let kms = algorithm != ServerSideEncryption::Aes256;
        if !kms && (kms_key_id.is_some() || bucket_key_enabled.is_some()) {
            return Err(Error::InvalidParameter(
                "a KMS key id or the bucket-key flag needs aws:kms or aws:kms:dsse server-side encryption".into(),
            ));
        }
        Ok(Self { algorithm, kms_key_id, bucket_key_enabled })
    }
}

/// Applies the client's [`SseDefault`] to a write request builder that
/// names no server-side encryption of its own (the builders of PutObject,
/// CreateMultipartUpload and CopyObject share these setters).
macro_rules! with_sse_default {
    ($builder:expr, $default:expr) => {{
        let b = $builder;
        match $default {
            Some(d) if b.get_server_side_encryption().is_none() && b.get_sse_customer_algorithm().is_none() => b
                .server_side_encryption(d.algorithm.clone())
                .set_ssekms_key_id(d.kms_key_id.clone())
                .set_bucket_key_enabled(d.bucket_key_enabled),
            _ => b,
        }
    }};
}
pub(crate) use with_sse_default;

#[cfg(test)]
mod tests {
    use aws_sdk_s3::operation::put_object::builders::PutObjectInputBuilder;

    use super::*;

    #[test]
    fn parses_the_header_values() {
        let kms = SseDefault::parse("aws:kms", Some("alias/k".into()), Some(true)).unwrap();
        assert_eq!(kms.algorithm, ServerSideEncryption::AwsKms);
        assert_eq!(SseDefault::parse("AES256", None, None).unwrap().algorithm, ServerSideEncryption::Aes256);
        assert_eq!(SseDefault::parse("aws:kms:dsse", None, None).unwrap().algorithm, ServerSideEncryption::AwsKmsDsse);
        assert!(SseDefault::parse("aes256", None, None).is_err());
        assert!(SseDefault::parse("AES256", Some("k".into()), None).is_err());
        assert!(SseDefault::parse("AES256", None, Some(true)).is_err());
    }

    #[test]
    fn the_request_choice_wins() {
        let d = Some(SseDefault::parse("aws:kms", Some("k1".into()), Some(true)).unwrap());
        let b = with_sse_default!(PutObjectInputBuilder::default(), &d);
        assert_eq!(b.get_server_side_encryption(), &Some(ServerSideEncryption::AwsKms));
        assert_eq!(b.get_ssekms_key_id().as_deref(), Some("k1"));
        assert_eq!(b.get_bucket_key_enabled(), &Some(true));
        let own = PutObjectInputBuilder::default().server_side_encryption(ServerSideEncryption::Aes256);
        let b = with_sse_default!(own, &d);
        assert_eq!(b.get_server_side_encryption(), &Some(ServerSideEncryption::Aes256));
        assert_eq!(b.get_ssekms_key_id(), &None);
        let b = with_sse_default!(PutObjectInputBuilder::default(), &None::<SseDefault>);
        assert_eq!(b.get_server_side_encryption(), &None);
    }
}
