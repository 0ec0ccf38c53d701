//! Query parameters an object operation does not define are refused, not
//! ignored: `s3s` routes a request by method, path and the subresources it
//! knows, so one it does not know (S3's newer `PUT ?renameObject`, say)
//! would otherwise reach PutObject and be served as a plain write.

use s3s::{S3Result, s3_error};

/// The query parameters of PutObject (besides presigned-URL and SDK ones).
pub(super) const PUT_OBJECT: &[&str] = &[];
/// The query parameters of GetObject and HeadObject.
pub(super) const READ_OBJECT: &[&str] = &[
    "versionId",
    "partNumber",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
];

/// The parameters of a SigV2 presigned URL (accepted only under the
/// explicit opt-in; the edge has already checked them).
const SIGV2_PRESIGN: &[&str] = &["AWSAccessKeyId", "Signature", "Expires"];

/// Refuses a query parameter that is neither in `allowed`, nor a signature
/// parameter (`X-Amz-*`, or SigV2's), nor the SDKs' `x-id`.
pub(super) fn refuse_unknown(uri: &http::Uri, operation: &str, allowed: &[&str]) -> S3Result<()> {
    let Some(query) = uri.query() else { return Ok(()) };
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        let known = allowed.contains(&name.as_ref())
            || name.to_ascii_lowercase().starts_with("x-amz-")
            || SIGV2_PRESIGN.contains(&name.as_ref())
            || name == "x-id"
            || name.is_empty();
        if !known {
            return Err(s3_error!(
                NotImplemented,
                "the query parameter {name:?} is not supported on {operation} through s3seal"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uri: &str, allowed: &[&str]) -> S3Result<()> {
        refuse_unknown(&uri.parse().unwrap(), "PutObject", allowed)
    }

    #[test]
    fn unknown_subresources_are_refused() {
        assert!(check("/b/k", PUT_OBJECT).is_ok());
        assert!(check("/b/k?x-id=PutObject", PUT_OBJECT).is_ok());
        assert!(check("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60", PUT_OBJECT).is_ok());
        assert!(check("/b/k?versionId=3&response-content-type=a", READ_OBJECT).is_ok());
        assert!(check("/b/k?AWSAccessKeyId=a&Expires=1&Signature=s", READ_OBJECT).is_ok());
        let e = check("/b/k?renameObject", PUT_OBJECT).unwrap_err();
        assert_eq!(e.code().as_str(), "NotImplemented");
        assert!(check("/b/k?torrent", READ_OBJECT).is_err());
    }
}
