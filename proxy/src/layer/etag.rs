//! ETags as clients see them and as the store keeps them, and the version
//! id a write reports.

use s3s::dto::{ETag, ETagCondition};
use s3seal::checksum::PlaintextDigest;

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

/// A delete's `If-Match` (or a DeleteObjects entry's `ETag`) as the
/// store keeps the ETag, so that the store can check it.
pub(super) fn stored_etag(e: &mut ETag) {
    *e = ETag::Strong(etag_in(e.value()).trim_matches('"').to_string());
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

/// The multipart ETag S3 would give the plaintext: MD5 of the parts' MD5s.
pub(super) fn multipart_etag(part_md5s: &[String]) -> Option<String> {
    let mut d = PlaintextDigest::new(None);
    for m in part_md5s {
        let hex = m.trim_matches('"');
        let bytes = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        if bytes.len() != 16 {
            return None;
        }
        d.update(&bytes);
    }
    Some(format!("{}-{}", d.finish().md5_hex(), part_md5s.len()))
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
        assert_eq!(
            multipart_etag(&["0cc175b9c0f1b6a831c399e269772661".into(), "92eb5ffee6ae2fec3ad71c777531578f".into()]),
            Some("96e024ba2074fe77e8e965ba43a704be-2".to_string())
        );
        assert_eq!(multipart_etag(&["zz".into()]), None);
    }

    #[test]
    fn null_version_of_a_write_is_not_passed_on() {
        assert_eq!(written_version(Some("null".into())), None);
        assert_eq!(written_version(Some("3HL4kqtJlcpXroDTDmJ".into())), Some("3HL4kqtJlcpXroDTDmJ".into()));
        assert_eq!(written_version(None), None);
    }
}
