//! The whole request: `aws-sdk-s3` input builders as templates.
//!
//! Every write builder of [`Client`](crate::s3::Client) takes the
//! `aws-sdk-s3` input builder of its operation as a template
//! (`.request(PutObjectInput::builder().tagging("a=b").if_none_match("*"))`):
//! every field the caller sets there (tagging, storage class, ACL and
//! grants, Object Lock, SSE-S3/SSE-KMS, expected bucket owner, request
//! payer, `If-Match`/`If-None-Match`, ...) is sent as it is. The client sets
//! only what describes the stored bytes (body, length, checksums, its
//! envelope in the metadata); a template that sets one of those, or a field
//! the client cannot honour, is refused with
//! [`Error::UnsupportedRequestField`] before anything is sent.

use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadInputBuilder;
use aws_sdk_s3::operation::copy_object::builders::CopyObjectInputBuilder;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadInputBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectInputBuilder;
use aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyInputBuilder;

use crate::error::{Error, Result};
use crate::s3::write::ObjectHeaders;

/// Why a body-describing field is refused.
const DESCRIBES_BODY: &str = "it describes the stored bytes, which are ciphertext: the client sets it itself";
/// Why SSE-C is refused.
const SSE_C: &str = "SSE-C is not supported: objects are already encrypted client-side";

/// Fails on the first of the named template fields that is set: `getter
/// => "header" (reason)`.
macro_rules! refuse_fields {
    ($op:literal, $t:expr, [$($get:ident => $header:literal $reason:ident),* $(,)?]) => {{
        $(
            if $t.$get().is_some() {
                return Err(Error::UnsupportedRequestField { operation: $op, field: $header, reason: $reason });
            }
        )*
        Ok::<(), Error>(())
    }};
}

/// The checksums of a body, in every operation that takes one.
macro_rules! refuse_checksums {
    ($op:literal, $t:expr) => {
        refuse_fields!($op, $t, [
            get_checksum_crc32 => "x-amz-checksum-crc32" DESCRIBES_BODY,
            get_checksum_crc32_c => "x-amz-checksum-crc32c" DESCRIBES_BODY,
            get_checksum_crc64_nvme => "x-amz-checksum-crc64nvme" DESCRIBES_BODY,
            get_checksum_sha1 => "x-amz-checksum-sha1" DESCRIBES_BODY,
            get_checksum_sha256 => "x-amz-checksum-sha256" DESCRIBES_BODY,
            get_checksum_sha512 => "x-amz-checksum-sha512" DESCRIBES_BODY,
            get_checksum_md5 => "x-amz-checksum-md5" DESCRIBES_BODY,
            get_checksum_xxhash64 => "x-amz-checksum-xxhash64" DESCRIBES_BODY,
            get_checksum_xxhash3 => "x-amz-checksum-xxhash3" DESCRIBES_BODY,
            get_checksum_xxhash128 => "x-amz-checksum-xxhash128" DESCRIBES_BODY,
        ])
    };
}

/// The SSE-C headers, in every operation that takes them.
macro_rules! refuse_sse_c {
    ($op:literal, $t:expr) => {
        refuse_fields!($op, $t, [
            get_sse_customer_algorithm => "x-amz-server-side-encryption-customer-algorithm" SSE_C,
            get_sse_customer_key => "x-amz-server-side-encryption-customer-key" SSE_C,
            get_sse_customer_key_md5 => "x-amz-server-side-encryption-customer-key-MD5" SSE_C,
        ])
    };
}

/// The SSE-C headers of a copy source, in both copy operations.
macro_rules! refuse_copy_source_sse_c {
    ($op:literal, $t:expr) => {
        refuse_fields!($op, $t, [
            get_copy_source_sse_customer_algorithm => "x-amz-copy-source-server-side-encryption-customer-algorithm" SSE_C,
            get_copy_source_sse_customer_key => "x-amz-copy-source-server-side-encryption-customer-key" SSE_C,
            get_copy_source_sse_customer_key_md5 => "x-amz-copy-source-server-side-encryption-customer-key-MD5" SSE_C,
        ])
    };
}

/// Copies the named fields from one input builder to another (the same
/// request field in two operations): `getter => setter`.
macro_rules! copy_fields {
    ($from:expr => $to:expr; $($get:ident => $set:ident),* $(,)?) => {{
        let to = $to;
        $( let to = to.$set($from.$get().clone()); )*
        to
    }};
}

/// Checks a PutObject template.
pub(crate) fn check_put(t: &PutObjectInputBuilder) -> Result<()> {
    refuse_checksums!("PutObject", t)?;
    refuse_sse_c!("PutObject", t)?;
    refuse_fields!("PutObject", t, [
        get_body => "body" DESCRIBES_BODY,
        get_content_length => "Content-Length" DESCRIBES_BODY,
        get_content_md5 => "Content-MD5" DESCRIBES_BODY,
        get_checksum_algorithm => "x-amz-sdk-checksum-algorithm" DESCRIBES_BODY,
        get_write_offset_bytes => "x-amz-write-offset-bytes" DESCRIBES_BODY,
    ])
}

/// Checks a CreateMultipartUpload template.
pub(crate) fn check_create(t: &CreateMultipartUploadInputBuilder) -> Result<()> {
    refuse_sse_c!("CreateMultipartUpload", t)?;
    refuse_fields!("CreateMultipartUpload", t, [
        get_checksum_algorithm => "x-amz-checksum-algorithm" DESCRIBES_BODY,
        get_checksum_type => "x-amz-checksum-type" DESCRIBES_BODY,
    ])
}

/// Checks a CompleteMultipartUpload template.
pub(crate) fn check_complete(t: &CompleteMultipartUploadInputBuilder) -> Result<()> {
    refuse_checksums!("CompleteMultipartUpload", t)?;
    refuse_sse_c!("CompleteMultipartUpload", t)?;
    refuse_fields!("CompleteMultipartUpload", t, [
        get_multipart_upload => "CompleteMultipartUpload (the part list)" DESCRIBES_BODY,
        get_mpu_object_size => "x-amz-mp-object-size" DESCRIBES_BODY,
        get_checksum_type => "x-amz-checksum-type" DESCRIBES_BODY,
    ])
}

/// Checks a CopyObject template (the copy source and the metadata
/// directive are the client's: it re-seals the envelope for the target).
pub(crate) fn check_copy(t: &CopyObjectInputBuilder) -> Result<()> {
    const SOURCE: &str = "the client names the source and re-seals its envelope for the copy";
    refuse_sse_c!("CopyObject", t)?;
    refuse_copy_source_sse_c!("CopyObject", t)?;
    refuse_fields!("CopyObject", t, [
        get_copy_source => "x-amz-copy-source" SOURCE,
        get_metadata_directive => "x-amz-metadata-directive" SOURCE,
        get_checksum_algorithm => "x-amz-checksum-algorithm" DESCRIBES_BODY,
    ])
}

/// Checks an UploadPartCopy template. The source, its range, the target
/// and the part number are the client's (given to
/// [`MultipartUpload::upload_part_copy`](crate::s3::MultipartUpload::upload_part_copy));
/// the `x-amz-copy-source-if-*` conditions, request payer and expected
/// bucket owner are honoured.
pub(crate) fn check_part_copy(t: &UploadPartCopyInputBuilder) -> Result<()> {
    const CLIENT: &str = "the client reads the source and writes the part itself: give it to upload_part_copy";
    const SOURCE_OWNER: &str = "the source is read with GetObject, which does not carry it through this client yet";
    refuse_sse_c!("UploadPartCopy", t)?;
    refuse_copy_source_sse_c!("UploadPartCopy", t)?;
    refuse_fields!("UploadPartCopy", t, [
        get_bucket => "bucket" CLIENT,
        get_key => "key" CLIENT,
        get_upload_id => "uploadId" CLIENT,
        get_part_number => "partNumber" CLIENT,
        get_copy_source => "x-amz-copy-source" CLIENT,
        get_copy_source_range => "x-amz-copy-source-range" CLIENT,
        get_expected_source_bucket_owner => "x-amz-source-expected-bucket-owner" SOURCE_OWNER,
    ])
}

/// The CreateMultipartUpload that carries what a PutObject template asks
/// for, when an upload turns multipart.
pub(crate) fn create_from_put(t: &PutObjectInputBuilder) -> CreateMultipartUploadInputBuilder {
    copy_fields!(t => CreateMultipartUploadInputBuilder::default();
        get_bucket => set_bucket,
        get_key => set_key,
        get_acl => set_acl,
        get_cache_control => set_cache_control,
        get_content_disposition => set_content_disposition,
        get_content_encoding => set_content_encoding,
        get_content_language => set_content_language,
        get_content_type => set_content_type,
        get_expires => set_expires,
        get_grant_full_control => set_grant_full_control,
        get_grant_read => set_grant_read,
        get_grant_read_acp => set_grant_read_acp,
        get_grant_write_acp => set_grant_write_acp,
        get_metadata => set_metadata,
        get_server_side_encryption => set_server_side_encryption,
        get_storage_class => set_storage_class,
        get_website_redirect_location => set_website_redirect_location,
        get_ssekms_key_id => set_ssekms_key_id,
        get_ssekms_encryption_context => set_ssekms_encryption_context,
        get_bucket_key_enabled => set_bucket_key_enabled,
        get_request_payer => set_request_payer,
        get_tagging => set_tagging,
        get_object_lock_mode => set_object_lock_mode,
        get_object_lock_retain_until_date => set_object_lock_retain_until_date,
        get_object_lock_legal_hold_status => set_object_lock_legal_hold_status,
        get_object_lock_event_hold => set_object_lock_event_hold,
        get_object_lock_event_hold_duration_days => set_object_lock_event_hold_duration_days,
        get_object_lock_event_hold_duration_years => set_object_lock_event_hold_duration_years,
        get_expected_bucket_owner => set_expected_bucket_owner,
    )
}

/// The CompleteMultipartUpload that carries a PutObject template's
/// conditions (`If-Match`, `If-None-Match`: a multipart upload is written
/// when it completes) and account fields.
pub(crate) fn complete_from_put(t: &PutObjectInputBuilder) -> CompleteMultipartUploadInputBuilder {
    copy_fields!(t => CompleteMultipartUploadInputBuilder::default();
        get_if_match => set_if_match,
        get_if_none_match => set_if_none_match,
        get_request_payer => set_request_payer,
        get_expected_bucket_owner => set_expected_bucket_owner,
    )
}

/// Sets `headers` on an input builder: each standard header given there
/// wins over the template's; user metadata is merged (`headers` wins).
macro_rules! with_object_headers {
    ($builder:expr, $h:expr) => {{
        let b = $builder;
        let h: &$crate::s3::write::ObjectHeaders = $h;
        let v = h.content_type.clone().or_else(|| b.get_content_type().clone());
        let b = b.set_content_type(v);
        let v = h.cache_control.clone().or_else(|| b.get_cache_control().clone());
        let b = b.set_cache_control(v);
        let v = h.content_disposition.clone().or_else(|| b.get_content_disposition().clone());
        let b = b.set_content_disposition(v);
        let v = h.content_encoding.clone().or_else(|| b.get_content_encoding().clone());
        let b = b.set_content_encoding(v);
        let v = h.content_language.clone().or_else(|| b.get_content_language().clone());
        let b = b.set_content_language(v);
        let mut m = b.get_metadata().clone().unwrap_or_default();
        m.extend(h.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        b.set_metadata(Some(m))
    }};
}
pub(crate) use with_object_headers;

/// The target of a write: the builder's own bucket and key where given,
/// else the template's.
pub(crate) fn target(bucket: &str, key: &str, template: (Option<&String>, Option<&String>)) -> (String, String) {
    let pick = |own: &str, t: Option<&String>| if own.is_empty() { t.cloned().unwrap_or_default() } else { own.into() };
    (pick(bucket, template.0), pick(key, template.1))
}

/// A PutObject template made whole: checked, with `headers` on it and
/// the target set.
pub(crate) fn put_request(
    template: PutObjectInputBuilder,
    bucket: &str,
    key: &str,
    headers: &ObjectHeaders,
) -> Result<PutObjectInputBuilder> {
    check_put(&template)?;
    let (bucket, key) = target(bucket, key, (template.get_bucket().as_ref(), template.get_key().as_ref()));
    Ok(with_object_headers!(template, headers).bucket(bucket).key(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_fields_are_refused_and_the_rest_carried_over() {
        let t = PutObjectInputBuilder::default().content_md5("x");
        assert!(matches!(check_put(&t), Err(Error::UnsupportedRequestField { field: "Content-MD5", .. })));
        let t = PutObjectInputBuilder::default().tagging("a=b").if_none_match("*").metadata("m", "1");
        assert!(check_put(&t).is_ok());
        let c = create_from_put(&t);
        assert_eq!(c.get_tagging().as_deref(), Some("a=b"));
        assert_eq!(complete_from_put(&t).get_if_none_match().as_deref(), Some("*"));
        let h = ObjectHeaders { content_type: Some("text/plain".into()), ..Default::default() };
        let r = put_request(t, "b", "k", &h).expect("request");
        assert_eq!(r.get_content_type().as_deref(), Some("text/plain"));
        assert_eq!(r.get_metadata().as_ref().and_then(|m| m.get("m")).map(String::as_str), Some("1"));
        assert_eq!(r.get_bucket().as_deref(), Some("b"));
    }

    #[test]
    fn a_part_copy_template_keeps_conditions_and_refuses_what_the_client_sets() {
        let t = UploadPartCopyInputBuilder::default().copy_source_if_match("\"e\"").request_payer("requester".into());
        assert!(check_part_copy(&t).is_ok());
        for (t, field) in [
            (UploadPartCopyInputBuilder::default().copy_source("b/k"), "x-amz-copy-source"),
            (UploadPartCopyInputBuilder::default().copy_source_range("bytes=0-1"), "x-amz-copy-source-range"),
            (UploadPartCopyInputBuilder::default().part_number(2), "partNumber"),
            (
                UploadPartCopyInputBuilder::default().copy_source_sse_customer_key("k"),
                "x-amz-copy-source-server-side-encryption-customer-key",
            ),
        ] {
            let e = check_part_copy(&t).unwrap_err();
            assert!(
                matches!(e, Error::UnsupportedRequestField { operation: "UploadPartCopy", field: f, .. } if f == field),
                "{e:?}"
            );
        }
    }
}
