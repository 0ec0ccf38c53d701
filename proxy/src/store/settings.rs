//! What a write asks of an object besides its bytes and headers
//! (PutObject, CreateMultipartUpload, CopyObject): tags and the storage
//! class are kept; what the store cannot honour is refused with the error
//! S3 gives a bucket without that feature, never dropped.
//!
//! | field | the embedded store |
//! |---|---|
//! | `x-amz-tagging` | kept (the object's tag set, S3's limits) |
//! | `x-amz-storage-class` | kept and shown, for the classes that read at once; `GLACIER`, `DEEP_ARCHIVE` (reads would need a restore) and the rest: `501` |
//! | `x-amz-acl` | `private` and `bucket-owner-full-control` (one owner: both mean the same); any other ACL or grant: `400 AccessControlListNotSupported`, as a bucket with ACLs disabled answers |
//! | `x-amz-object-lock-*` | `400 InvalidRequest`, as a bucket without Object Lock answers |
//! | `x-amz-server-side-encryption*`, SSE-C | `501`: the store keeps the sealed bytes as they come |
//! | `x-amz-expected-bucket-owner` | `501`: the store has no account ids |

use s3s::dto::{ObjectCannedACL, StorageClass};
use s3s::{S3Result, s3_error};

/// S3's limit on tags per object.
pub(crate) const MAX_TAGS: usize = 10;

/// What a write asks for, borrowed from its input ([`requested!`]).
pub(crate) struct Requested<'a> {
    pub acl: Option<&'a ObjectCannedACL>,
    pub grants: bool,
    pub object_lock: bool,
    pub server_side_encryption: bool,
    pub customer_key: bool,
    pub expected_bucket_owner: bool,
    pub storage_class: Option<&'a StorageClass>,
    pub tagging: Option<&'a str>,
}

/// The [`Requested`] settings of a write's input (the fields share their
/// names across PutObject, CreateMultipartUpload and CopyObject).
macro_rules! requested {
    ($input:expr) => {
        $crate::store::settings::Requested {
            acl: $input.acl.as_ref(),
            grants: $input.grant_full_control.is_some()
                || $input.grant_read.is_some()
                || $input.grant_read_acp.is_some()
                || $input.grant_write_acp.is_some(),
            object_lock: $input.object_lock_mode.is_some()
                || $input.object_lock_retain_until_date.is_some()
                || $input.object_lock_legal_hold_status.is_some(),
            server_side_encryption: $input.server_side_encryption.is_some()
                || $input.ssekms_key_id.is_some()
                || $input.ssekms_encryption_context.is_some()
                || $input.bucket_key_enabled.is_some(),
            customer_key: $input.sse_customer_algorithm.is_some() || $input.sse_customer_key.is_some(),
            expected_bucket_owner: $input.expected_bucket_owner.is_some(),
            storage_class: $input.storage_class.as_ref(),
            tagging: $input.tagging.as_deref(),
        }
    };
}
pub(crate) use requested;

/// What the store keeps of a write's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Kept {
    /// The tag set, if the write named one.
    pub tags: Option<Vec<(String, String)>>,
    /// The storage class, if not `STANDARD`.
    pub storage_class: Option<String>,
}

/// The storage classes whose objects read at once.
const READABLE_CLASSES: &[&str] = &[
    StorageClass::STANDARD,
    StorageClass::REDUCED_REDUNDANCY,
    StorageClass::STANDARD_IA,
    StorageClass::ONEZONE_IA,
    StorageClass::INTELLIGENT_TIERING,
    StorageClass::GLACIER_IR,
];

impl Requested<'_> {
    /// What the store keeps, or the refusal of what it cannot honour.
    pub(crate) fn check(&self) -> S3Result<Kept> {
        let acl_allowed = self.acl.is_none_or(|a| {
            matches!(a.as_str(), ObjectCannedACL::PRIVATE | ObjectCannedACL::BUCKET_OWNER_FULL_CONTROL)
        });
        if !acl_allowed || self.grants {
            return Err(s3_error!(AccessControlListNotSupported, "The bucket does not allow ACLs"));
        }
        if self.object_lock {
            return Err(s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration"));
        }
        if self.server_side_encryption || self.customer_key {
            return Err(s3_error!(
                NotImplemented,
                "the embedded store does not offer server-side encryption (x-amz-server-side-encryption*): it keeps the sealed bytes as they come"
            ));
        }
        if self.expected_bucket_owner {
            return Err(s3_error!(
                NotImplemented,
                "the embedded store has no account ids (x-amz-expected-bucket-owner)"
            ));
        }
        let storage_class = match self.storage_class.map(StorageClass::as_str) {
            None | Some(StorageClass::STANDARD) => None,
            Some(c) if READABLE_CLASSES.contains(&c) => Some(c.to_string()),
            Some(c) => {
                return Err(s3_error!(
                    NotImplemented,
                    "the embedded store keeps no objects in storage class {c} (x-amz-storage-class)"
                ));
            }
        };
        let tags = self.tagging.map(parse_tagging).transpose()?;
        Ok(Kept { tags, storage_class })
    }
}

/// The tags of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded).
pub(crate) fn parse_tagging(header: &str) -> S3Result<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(header.as_bytes()).into_owned().collect();
    validate_tags(pairs)
}

/// The tags if S3 would take them: at most [`MAX_TAGS`], keys of 1 to 128
/// characters, values up to 256, no key twice.
pub(crate) fn validate_tags(pairs: Vec<(String, String)>) -> S3Result<Vec<(String, String)>> {
    if pairs.len() > MAX_TAGS {
        return Err(s3_error!(InvalidTag, "Object tags cannot be greater than {MAX_TAGS}"));
    }
    let mut tags: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(s3_error!(InvalidTag, "The TagKey or TagValue you have provided is invalid"));
        }
        if tags.iter().any(|(existing, _)| *existing == k) {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key"));
        }
        tags.push((k, v));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing() -> Requested<'static> {
        Requested {
            acl: None,
            grants: false,
            object_lock: false,
            server_side_encryption: false,
            customer_key: false,
            expected_bucket_owner: false,
            storage_class: None,
            tagging: None,
        }
    }

    #[test]
    fn tags_as_s3_takes_them() {
        let t = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(validate_tags(vec![t("a", "1"), t("b", "")]).is_ok());
        assert!(validate_tags(vec![t("a", "1"), t("a", "2")]).is_err());
        assert!(validate_tags(vec![t("", "1")]).is_err());
        assert!(validate_tags(vec![t(&"k".repeat(129), "1")]).is_err());
        assert!(validate_tags(vec![t("k", &"v".repeat(257))]).is_err());
        assert!(validate_tags((0..11).map(|i| t(&i.to_string(), "")).collect()).is_err());
        let parsed = parse_tagging("team=blue&cost%20centre=a%26b&empty=").unwrap();
        assert_eq!(parsed, [t("team", "blue"), t("cost centre", "a&b"), t("empty", "")]);
    }

    #[test]
    fn what_is_kept_and_what_is_refused() {
        let kept = Requested { tagging: Some("a=1"), ..nothing() }.check().unwrap();
        assert_eq!(kept.tags, Some(vec![("a".to_string(), "1".to_string())]));
        let ia = StorageClass::from_static(StorageClass::STANDARD_IA);
        let kept = Requested { storage_class: Some(&ia), ..nothing() }.check().unwrap();
        assert_eq!(kept.storage_class.as_deref(), Some("STANDARD_IA"));
        let standard = StorageClass::from_static(StorageClass::STANDARD);
        assert_eq!(Requested { storage_class: Some(&standard), ..nothing() }.check().unwrap().storage_class, None);
        let glacier = StorageClass::from_static(StorageClass::GLACIER);
        let code = |r: Requested<'_>| r.check().unwrap_err().code().as_str().to_string();
        assert_eq!(code(Requested { storage_class: Some(&glacier), ..nothing() }), "NotImplemented");
        let public = ObjectCannedACL::from_static(ObjectCannedACL::PUBLIC_READ);
        assert_eq!(code(Requested { acl: Some(&public), ..nothing() }), "AccessControlListNotSupported");
        assert_eq!(code(Requested { grants: true, ..nothing() }), "AccessControlListNotSupported");
        let private = ObjectCannedACL::from_static(ObjectCannedACL::PRIVATE);
        assert!(Requested { acl: Some(&private), ..nothing() }.check().is_ok());
        assert_eq!(code(Requested { object_lock: true, ..nothing() }), "InvalidRequest");
        assert_eq!(code(Requested { server_side_encryption: true, ..nothing() }), "NotImplemented");
        assert_eq!(code(Requested { customer_key: true, ..nothing() }), "NotImplemented");
        assert_eq!(code(Requested { expected_bucket_owner: true, ..nothing() }), "NotImplemented");
        assert_eq!(code(Requested { tagging: Some("a=1&a=2"), ..nothing() }), "InvalidTag");
    }
}
