//! A client's request fields carried to the upstream: the `s3s` input of a
//! write turned into the `aws-sdk-s3` input builder the SDK's client takes
//! as its template (one table per operation), with ETag conditions
//! translated to the stored ETags. What the proxy sets itself (body,
//! length, checksums, the object's headers and metadata) is taken before;
//! a field it cannot pass is refused with an S3 error naming it, never
//! dropped.

use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadInputBuilder;
use aws_sdk_s3::operation::copy_object::builders::CopyObjectInputBuilder;
use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadInputBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectInputBuilder;
use aws_sdk_s3::operation::upload_part_copy::builders::UploadPartCopyInputBuilder;
use s3s::dto::*;
use s3s::{S3Result, s3_error};
use s3s_aws::conv::AwsConversion;

use super::etag::condition_in;

/// One field converted to its `aws-sdk-s3` form.
fn conv<T: AwsConversion>(x: T) -> S3Result<T::Target>
where
    T::Error: std::fmt::Display,
{
    T::try_into_aws(x).map_err(|e| s3_error!(InvalidArgument, "{e}"))
}

/// Moves the named fields of an `s3s` input onto an `aws-sdk-s3` input
/// builder: `field => setter`.
macro_rules! pass {
    ($input:ident => $builder:expr; $($field:ident => $set:ident),* $(,)?) => {{
        let b = $builder;
        $( let b = b.$set(conv($input.$field.take())?); )*
        b
    }};
}

/// Refuses a request that sets one of the named fields: `field =>
/// "header"`.
macro_rules! refuse {
    ($input:ident; $($field:ident => $header:literal),* $(,)?) => {
        $(
            if $input.$field.is_some() {
                return Err(s3_error!(NotImplemented, "the header {} is not supported through s3seal", $header));
            }
        )*
    };
}

/// SSE-C headers of every write: objects are already encrypted.
macro_rules! refuse_sse_c {
    ($input:ident) => {
        refuse!($input;
            sse_customer_algorithm => "x-amz-server-side-encryption-customer-algorithm (SSE-C: objects are already encrypted)",
            sse_customer_key => "x-amz-server-side-encryption-customer-key (SSE-C: objects are already encrypted)",
            sse_customer_key_md5 => "x-amz-server-side-encryption-customer-key-MD5 (SSE-C: objects are already encrypted)",
        )
    };
}

/// The fields of a new object that PutObject, CreateMultipartUpload and
/// CopyObject share.
macro_rules! pass_object_fields {
    ($input:ident => $builder:expr) => {
        pass!($input => $builder;
            acl => set_acl,
            bucket_key_enabled => set_bucket_key_enabled,
            expected_bucket_owner => set_expected_bucket_owner,
            expires => set_expires,
            grant_full_control => set_grant_full_control,
            grant_read => set_grant_read,
            grant_read_acp => set_grant_read_acp,
            grant_write_acp => set_grant_write_acp,
            object_lock_legal_hold_status => set_object_lock_legal_hold_status,
            object_lock_mode => set_object_lock_mode,
            object_lock_retain_until_date => set_object_lock_retain_until_date,
            request_payer => set_request_payer,
            ssekms_encryption_context => set_ssekms_encryption_context,
            ssekms_key_id => set_ssekms_key_id,
            server_side_encryption => set_server_side_encryption,
            storage_class => set_storage_class,
            tagging => set_tagging,
            website_redirect_location => set_website_redirect_location,
        )
    };
}

/// PutObject: the object's fields and its conditions.
pub(super) fn put_request(input: &mut PutObjectInput) -> S3Result<PutObjectInputBuilder> {
    refuse_sse_c!(input);
    refuse!(input; write_offset_bytes => "x-amz-write-offset-bytes (appends)");
    let b = pass_object_fields!(input => PutObjectInputBuilder::default());
    Ok(b.set_if_match(condition_in(input.if_match.take())).set_if_none_match(condition_in(input.if_none_match.take())))
}

/// A whole-object checksum type: the proxy verifies each part's plaintext
/// checksum as the part arrives (the `COMPOSITE` model), but keeps no
/// plaintext checksum it could combine into a whole object's.
fn refuse_full_object(checksum_type: Option<&ChecksumType>) -> S3Result<()> {
    match checksum_type.map(ChecksumType::as_str) {
        None | Some(ChecksumType::COMPOSITE) => Ok(()),
        Some(other) => Err(s3_error!(
            NotImplemented,
            "the header x-amz-checksum-type: {other} is not supported through s3seal (part checksums are verified as parts arrive; a whole-object checksum of the plaintext is not kept)"
        )),
    }
}

/// CreateMultipartUpload: the object's fields. The checksum algorithm
/// describes the parts' plaintext, which the proxy verifies itself.
pub(super) fn create_request(input: &mut CreateMultipartUploadInput) -> S3Result<CreateMultipartUploadInputBuilder> {
    refuse_sse_c!(input);
    refuse_full_object(input.checksum_type.as_ref())?;
    Ok(pass_object_fields!(input => CreateMultipartUploadInputBuilder::default()))
}

/// CompleteMultipartUpload: its conditions and account fields, and the
/// object size the client expects (`x-amz-mp-object-size`, checked by the
/// caller against the parts' plaintext). A whole-object checksum of the
/// plaintext cannot be verified and is refused.
pub(super) fn complete_request(
    input: &mut CompleteMultipartUploadInput,
) -> S3Result<(CompleteMultipartUploadInputBuilder, Option<u64>)> {
    refuse_sse_c!(input);
    refuse_full_object(input.checksum_type.as_ref())?;
    refuse!(input;
        checksum_crc32 => "x-amz-checksum-crc32 (a whole-object checksum on CompleteMultipartUpload)",
        checksum_crc32c => "x-amz-checksum-crc32c (a whole-object checksum on CompleteMultipartUpload)",
        checksum_crc64nvme => "x-amz-checksum-crc64nvme (a whole-object checksum on CompleteMultipartUpload)",
        checksum_sha1 => "x-amz-checksum-sha1 (a whole-object checksum on CompleteMultipartUpload)",
        checksum_sha256 => "x-amz-checksum-sha256 (a whole-object checksum on CompleteMultipartUpload)",
    );
    let size = match input.mpu_object_size.take() {
        None => None,
        Some(n) => Some(
            u64::try_from(n).map_err(|_| s3_error!(InvalidArgument, "x-amz-mp-object-size must not be negative"))?,
        ),
    };
    let b = pass!(input => CompleteMultipartUploadInputBuilder::default();
        expected_bucket_owner => set_expected_bucket_owner,
        request_payer => set_request_payer,
    );
    let b =
        b.set_if_match(condition_in(input.if_match.take())).set_if_none_match(condition_in(input.if_none_match.take()));
    Ok((b, size))
}

/// CopyObject: the new object's fields, the source's conditions and the
/// target's (`If-Match`/`If-None-Match`, which `s3s` does not parse for a
/// copy: taken from `headers`).
pub(super) fn copy_request(input: &mut CopyObjectInput, headers: &http::HeaderMap) -> S3Result<CopyObjectInputBuilder> {
    refuse_sse_c!(input);
    refuse!(input;
        copy_source_sse_customer_algorithm => "x-amz-copy-source-server-side-encryption-customer-algorithm (SSE-C)",
        copy_source_sse_customer_key => "x-amz-copy-source-server-side-encryption-customer-key (SSE-C)",
        copy_source_sse_customer_key_md5 => "x-amz-copy-source-server-side-encryption-customer-key-MD5 (SSE-C)",
    );
    let b = pass_object_fields!(input => CopyObjectInputBuilder::default());
    let b = pass!(input => b;
        expected_source_bucket_owner => set_expected_source_bucket_owner,
        tagging_directive => set_tagging_directive,
        copy_source_if_modified_since => set_copy_source_if_modified_since,
        copy_source_if_unmodified_since => set_copy_source_if_unmodified_since,
    );
    Ok(b.set_copy_source_if_match(condition_in(input.copy_source_if_match.take()))
        .set_copy_source_if_none_match(condition_in(input.copy_source_if_none_match.take()))
        .set_if_match(header_condition(headers, "if-match")?)
        .set_if_none_match(header_condition(headers, "if-none-match")?))
}

/// UploadPartCopy: the source's conditions (ETags translated to the
/// stored ones) and account fields. The source, its range and the part are
/// taken by the handler; the source's SSE-C is refused.
pub(super) fn part_copy_request(input: &mut UploadPartCopyInput) -> S3Result<UploadPartCopyInputBuilder> {
    refuse_sse_c!(input);
    refuse!(input;
        copy_source_sse_customer_algorithm => "x-amz-copy-source-server-side-encryption-customer-algorithm (SSE-C)",
        copy_source_sse_customer_key => "x-amz-copy-source-server-side-encryption-customer-key (SSE-C)",
        copy_source_sse_customer_key_md5 => "x-amz-copy-source-server-side-encryption-customer-key-MD5 (SSE-C)",
    );
    let b = pass!(input => UploadPartCopyInputBuilder::default();
        expected_bucket_owner => set_expected_bucket_owner,
        expected_source_bucket_owner => set_expected_source_bucket_owner,
        request_payer => set_request_payer,
        copy_source_if_modified_since => set_copy_source_if_modified_since,
        copy_source_if_unmodified_since => set_copy_source_if_unmodified_since,
    );
    Ok(b.set_copy_source_if_match(condition_in(input.copy_source_if_match.take()))
        .set_copy_source_if_none_match(condition_in(input.copy_source_if_none_match.take())))
}

/// An ETag condition header as the store knows it.
fn header_condition(headers: &http::HeaderMap, name: &str) -> S3Result<Option<String>> {
    let Some(v) = headers.get(name) else { return Ok(None) };
    let v = v.to_str().map_err(|_| s3_error!(InvalidArgument, "the header {name} is not text"))?;
    let c = if v.trim() == "*" { ETagCondition::Any } else { ETagCondition::ETag(ETag::Strong(v.trim().into())) };
    Ok(condition_in(Some(c)))
}
