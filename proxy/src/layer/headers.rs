//! Request and response headers: the object's own headers (kept in the
//! envelope's metadata), read conditions, ranges and timestamps, converted
//! between `s3s` and the SDK.

use s3s::S3Result;
use s3s::dto::{
    CopyObjectInput, CreateMultipartUploadInput, ETagCondition, Metadata, PutObjectInput, Range, Timestamp,
};
use s3seal::object::ByteRange;
use s3seal::s3::ObjectHeaders;

use super::etag::condition_in;

/// A request that gives the object's headers (`Content-Type`, user
/// metadata...).
pub(super) trait GivesObjectHeaders {
    /// Takes the object's headers out of the request.
    fn take_object_headers(&mut self) -> ObjectHeaders;
}

macro_rules! gives_object_headers {
    ($($input:ty),*) => {
        $(
            impl GivesObjectHeaders for $input {
                fn take_object_headers(&mut self) -> ObjectHeaders {
                    ObjectHeaders {
                        content_type: self.content_type.take(),
                        cache_control: self.cache_control.take(),
                        content_disposition: self.content_disposition.take(),
                        content_encoding: content_encoding(self.content_encoding.take()),
                        content_language: self.content_language.take(),
                        metadata: user_metadata(self.metadata.take()),
                    }
                }
            }
        )*
    };
}

gives_object_headers!(PutObjectInput, CreateMultipartUploadInput, CopyObjectInput);

/// A read's `If-*` headers, as the SDK takes them (ETags as stored).
pub(super) fn conditions(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> S3Result<s3seal::s3::Conditions> {
    Ok(s3seal::s3::Conditions {
        if_match: condition_in(if_match),
        if_none_match: condition_in(if_none_match),
        if_modified_since: timestamp(if_modified_since)?,
        if_unmodified_since: timestamp(if_unmodified_since)?,
    })
}

/// `Content-Encoding` without the `aws-chunked` token, which describes the
/// client's transfer framing (already decoded here), not the object.
pub(super) fn content_encoding(v: Option<String>) -> Option<String> {
    let kept: Vec<&str> = v
        .as_deref()?
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

fn user_metadata(m: Option<Metadata>) -> std::collections::HashMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

/// The SDK's range for a client's (already parsed) `Range` header.
pub(super) fn byte_range(r: &Range) -> ByteRange {
    match *r {
        Range::Int { first, last: Some(last) } => ByteRange::FromTo(first, last),
        Range::Int { first, last: None } => ByteRange::From(first),
        Range::Suffix { length } => ByteRange::Suffix(length),
    }
}

/// `x-amz-copy-source-range` as S3 takes it: exactly `bytes=first-last`,
/// `first <= last` (whether it lies in the source is checked against the
/// source's size).
pub(super) fn copy_source_range(v: &str) -> S3Result<(u64, u64)> {
    let parsed = v.strip_prefix("bytes=").and_then(|r| r.split_once('-')).and_then(|(a, b)| {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        (digits(a) && digits(b)).then(|| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))).flatten()
    });
    parsed.ok_or_else(|| {
        s3s::s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    })
}

fn timestamp(t: Option<Timestamp>) -> S3Result<Option<aws_sdk_s3::primitives::DateTime>> {
    t.map(s3s_aws::conv::try_into_aws).transpose()
}

pub(super) fn timestamp_out(t: Option<aws_sdk_s3::primitives::DateTime>) -> S3Result<Option<Timestamp>> {
    t.map(s3s_aws::conv::try_from_aws).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_is_not_a_content_encoding() {
        assert_eq!(content_encoding(Some("aws-chunked".into())), None);
        assert_eq!(content_encoding(Some("gzip,aws-chunked".into())), Some("gzip".into()));
        assert_eq!(content_encoding(Some("gzip".into())), Some("gzip".into()));
    }

    #[test]
    fn copy_source_ranges_are_first_last_only() {
        assert_eq!(copy_source_range("bytes=0-0").ok(), Some((0, 0)));
        assert_eq!(copy_source_range("bytes=8388608-16777215").ok(), Some((8_388_608, 16_777_215)));
        assert_eq!(copy_source_range("bytes=5-2").ok(), Some((5, 2)));
        for bad in ["0-1", "bytes=0-", "bytes=-5", "bytes=a-b", "bytes=0-1,3-4", "bytes=+1-2", "bytes= 1-2", ""] {
            let e = copy_source_range(bad).expect_err(bad);
            assert_eq!(e.code().as_str(), "InvalidArgument", "{bad}");
        }
    }
}
