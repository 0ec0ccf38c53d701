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

/// One field of the store's answer in its `s3s` form.
pub(super) fn field_out<T: s3s_aws::conv::AwsConversion>(x: T::Target) -> S3Result<T>
where
    T::Error: std::fmt::Display,
{
    T::try_from_aws(x).map_err(|e| s3s::s3_error!(InternalError, "the store's answer: {e}"))
}

/// Sets the store's settings of an object (storage class, SSE, Object
/// Lock, ...) on a HEAD or GET output, as the store reported them.
macro_rules! with_stored_settings {
    ($output:expr, $settings:expr) => {{
        let s: s3seal::s3::StoredSettings = $settings;
        let mut o = $output;
        o.storage_class = super::headers::field_out(s.storage_class)?;
        o.server_side_encryption = super::headers::field_out(s.server_side_encryption)?;
        o.ssekms_key_id = s.ssekms_key_id;
        o.bucket_key_enabled = s.bucket_key_enabled;
        o.object_lock_mode = super::headers::field_out(s.object_lock_mode)?;
        o.object_lock_retain_until_date = super::headers::field_out(s.object_lock_retain_until_date)?;
        o.object_lock_legal_hold_status = super::headers::field_out(s.object_lock_legal_hold_status)?;
        o.website_redirect_location = s.website_redirect_location;
        o.expires =
            s.expires.as_deref().and_then(|e| s3s::dto::Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, e).ok());
        o.replication_status = super::headers::field_out(s.replication_status)?;
        o.restore = s.restore;
        o
    }};
}
pub(super) use with_stored_settings;

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz target (bolero, see `sdk/src/fuzz.rs` for how to run it long):
    /// a client's `Range` and `If-*` ETag headers as the proxy reads them.
    /// A parsed range resolves inside the object or not at all; the frames
    /// a plaintext length maps to map back to it; an ETag condition
    /// becomes the stored ETag the proxy showed it for.
    #[test]
    fn fuzz_range_and_conditions() {
        use bolero::check;

        use super::super::etag::{condition_in, etag_out};
        check!().with_type::<(String, Vec<u8>, u64, u8)>().for_each(|(range, etag, len, frame_log)| {
            let frame = 1u64 << (u32::from(*frame_log) % 21);
            let len = *len % (1 << 44);
            if let Ok(r) = s3s::dto::Range::parse(range)
                && let Some((a, b)) = byte_range(&r).resolve(len)
            {
                assert!(a <= b && b < len, "{range:?} on {len}: {a}-{b}");
            }
            let stored = s3seal::object::ciphertext_len(len, frame);
            assert_eq!(s3seal::object::plaintext_len(stored, frame).ok(), Some(len), "{len} in frames of {frame}");
            if let Ok(c) = ETagCondition::parse_http_header(etag) {
                let sent = c.clone();
                let stored = condition_in(Some(c));
                if let ETagCondition::ETag(e) = sent
                    && !e.value().contains('-')
                {
                    let shown = etag_out(stored.as_deref()).map(|e| e.value().to_string());
                    assert_eq!(shown, Some(format!("{}-0", e.value().trim_matches('"'))), "{e:?}");
                }
            }
        });
    }

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
