//! ETags as clients see them and as the store keeps them, and the version
//! id a write reports.

use s3s::dto::{ETag, ETagCondition};

/// The ETag clients see for a stored object.
pub(super) fn etag_out(stored: Option<&str>) -> Option<ETag> {
    let v = stored?.trim_matches('"');
    Some(ETag::Strong(if v.contains('-') { v.to_string() } else { format!("{v}-0") }))
}

/// Rewrites an ETag as a client saw it into the store's ETag.
pub(super) fn etag_in(shown: &str) -> String {
    let v = shown.trim_matches('"');
    let v = v.strip_suffix("-0").unwrap_or(v);
    format!("\"{v}\"")
}

pub(super) fn condition_in(c: Option<ETagCondition>) -> Option<String> {
    match c? {
        ETagCondition::Any => Some("*".to_string()),
        ETagCondition::ETag(e) => Some(etag_in(e.value())),
    }
}

/// The version id a write reports to the client. S3 names no version for a
/// write into an unversioned bucket; some stores (moto) answer
/// `x-amz-version-id: null` there and then refuse `versionId=null` on
/// reads, and clients (rclone after a multipart upload) read the object
/// back by the version they were given: a `null` version is therefore not
/// passed on (the object just written is the current one either way).
pub(super) fn written_version(v: Option<String>) -> Option<String> {
    v.filter(|v| v != "null")
}

pub(super) fn rewrite_etag(e: &mut Option<ETag>) {
    if let Some(tag) = e.take() {
        *e = etag_out(Some(tag.value()));
    }
}

/// An ETag condition as the client sent it, rewritten for the store (a
/// condition forwarded as it is, in the `s3s` type).
pub(super) fn stored_condition(c: Option<ETagCondition>) -> Option<ETagCondition> {
    match c? {
        ETagCondition::Any => Some(ETagCondition::Any),
        ETagCondition::ETag(e) => Some(ETagCondition::ETag(ETag::Strong(etag_in(e.value()).trim_matches('"').into()))),
    }
}

/// Whether the part ETag a client sent back is the one it was given for
/// the stored part (`stored`, as the store lists it).
pub(super) fn same_part(sent: &str, stored: &str) -> bool {
    etag_in(sent) == etag_in(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(etag_out(Some("\"abc\"")), Some(ETag::Strong("abc-0".into())));
        assert_eq!(etag_out(Some("\"abc-3\"")), Some(ETag::Strong("abc-3".into())));
        assert_eq!(etag_in("abc-0"), "\"abc\"");
        assert_eq!(etag_in("\"abc-3\""), "\"abc-3\"");
        assert!(same_part("\"abc-0\"", "\"abc\""));
        assert!(same_part("abc-0", "abc"));
        assert!(!same_part("abc", "\"abd\""));
        assert_eq!(
            stored_condition(Some(ETagCondition::ETag(ETag::Strong("abc-0".into())))),
            Some(ETagCondition::ETag(ETag::Strong("abc".into())))
        );
    }

    #[test]
    fn null_version_of_a_write_is_not_passed_on() {
        assert_eq!(written_version(Some("null".into())), None);
        assert_eq!(written_version(Some("3HL4kqtJlcpXroDTDmJ".into())), Some("3HL4kqtJlcpXroDTDmJ".into()));
        assert_eq!(written_version(None), None);
    }
}
