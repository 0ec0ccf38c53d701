//! Multipart uploads, stateless: the upload id handed to clients carries
//! the upstream upload id and the object's envelope, so any proxy instance
//! can take any part.

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3seal::s3::{Body, CompletedPart as SealedPart, MultipartUpload};
use s3seal::{EncryptionContext, Error};

use super::errors::map_err;
use super::etag::{etag_in, etag_out, same_part, written_version};
use super::headers::{GivesObjectHeaders, copy_source_range, timestamp_out};
use super::passthrough::{complete_request, create_request, part_copy_request};
use super::request_body::{Expected, VerifyingReader, body_length, body_result};
use super::service::EncryptingS3;
use super::upload_id::{decode_upload_id, encode_upload_id, no_such_upload};

pub(super) async fn create_multipart_upload(
    s3: &EncryptingS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let mut input = req.input;
    let request = create_request(&mut input)?;
    let headers = input.take_object_headers();
    let up = s3
        .client
        .create_multipart_upload()
        .bucket(&input.bucket)
        .key(&input.key)
        .request(request)
        .headers(headers)
        .send()
        .await
        .map_err(map_err)?;
    let output = CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(encode_upload_id(&up)?),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

pub(super) async fn upload_part(
    s3: &EncryptingS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let S3Request { input, headers, trailing_headers, .. } = req;
    if input.sse_customer_key.is_some() || input.sse_customer_algorithm.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "the header x-amz-server-side-encryption-customer-key is not supported through s3seal (SSE-C: objects are already encrypted)"
        ));
    }
    let up = resume(s3, &input.bucket, &input.key, &input.upload_id).await?;
    let part = part_number(input.part_number)?;
    let len = body_length(input.content_length, &headers)?
        .ok_or_else(|| s3_error!(MissingContentLength, "UploadPart needs the part's length"))?;
    super::checksums::refuse_unverifiable(&headers)?;
    let expected = Expected::from_request(&headers, &input)?;
    let (reader, outcome) = VerifyingReader::new(input.body, Some(len), expected, trailing_headers);
    let who = aws_sdk_s3::operation::upload_part::builders::UploadPartInputBuilder::default()
        .set_expected_bucket_owner(input.expected_bucket_owner.clone())
        .set_request_payer(
            input
                .request_payer
                .clone()
                .map(s3s_aws::conv::try_into_aws)
                .transpose()
                .map_err(|e| s3_error!(InvalidArgument, "x-amz-request-payer: {e}"))?,
        );
    let result = up.upload_part_as(part, Body::from_reader(reader), len, &who).await;
    let (stored, _, bytes) = body_result(&outcome, result)?;
    s3.metrics.add_bytes_in(bytes);
    let output = UploadPartOutput { e_tag: etag_out(stored.e_tag.as_deref()), ..Default::default() };
    Ok(S3Response::new(output))
}

/// A part copied from a plaintext range of another encrypted object (any
/// version): read and verified through the SDK, sealed again under this
/// upload's envelope as it streams. The answer's ETag is the part's as
/// UploadPart shows it, which CompleteMultipartUpload takes back.
pub(super) async fn upload_part_copy(
    s3: &EncryptingS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let mut input = req.input;
    let request = part_copy_request(&mut input)?;
    let part = part_number(input.part_number)?;
    let (src_bucket, src_key, version) = match &input.copy_source {
        CopySource::Bucket { bucket, key, version_id } => {
            (bucket.to_string(), key.to_string(), version_id.as_deref().map(str::to_string))
        }
        _ => return Err(s3_error!(NotImplemented, "access point copy sources are not supported through s3seal")),
    };
    let range = input.copy_source_range.as_deref().map(copy_source_range).transpose()?;
    let up = resume(s3, &input.bucket, &input.key, &input.upload_id).await?;
    let mut copy = up.upload_part_copy(part).source(src_bucket, src_key).request(request);
    if let Some(v) = version {
        copy = copy.source_version_id(v);
    }
    if let Some((first, last)) = range {
        copy = copy.source_range(first, last);
    }
    let out = copy.send().await.map_err(|e| match e {
        Error::InvalidRange { length } => {
            s3_error!(InvalidArgument, "Range specified is not valid for source object of size: {length}")
        }
        other => map_err(other),
    })?;
    let output = UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: etag_out(out.part.e_tag.as_deref()),
            last_modified: timestamp_out(Some(out.last_modified))?,
            ..Default::default()
        }),
        copy_source_version_id: written_version(out.source_version_id),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

pub(super) async fn complete_multipart_upload(
    s3: &EncryptingS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let mut input = req.input;
    let (request, expected_size) = complete_request(&mut input)?;
    let up = resume(s3, &input.bucket, &input.key, &input.upload_id).await?;
    let requested = requested_parts(input.multipart_upload.take())?;
    let stored = up.stored_parts().await.map_err(map_err)?;
    let mut parts = Vec::with_capacity(requested.len());
    for (n, sent) in &requested {
        let s = stored
            .iter()
            .find(|s| s.part_number == *n)
            .ok_or_else(|| s3_error!(InvalidPart, "Part {n} was not uploaded"))?;
        // A client sends back the ETags it was given (or none): each must
        // name the part stored now. A store that does not list part ETags
        // gets the client's, as stored ETags, to check itself.
        let e_tag = match (sent, &s.e_tag) {
            (Some(sent), Some(stored)) if !same_part(sent, stored) => {
                return Err(s3_error!(InvalidPart, "The ETag given for part {n} does not match the uploaded part"));
            }
            (Some(sent), None) => Some(etag_in(sent)),
            _ => s.e_tag.clone(),
        };
        parts.push(SealedPart { part_number: *n, e_tag, plaintext_length: s.plaintext_length });
    }
    let size: u64 = parts.iter().map(|p| p.plaintext_length).sum();
    if expected_size.is_some_and(|want| want != size) {
        return Err(s3_error!(
            InvalidRequest,
            "The provided x-amz-mp-object-size does not match the object's size ({size} bytes)"
        ));
    }
    let out = up.complete_with(parts, request).await.map_err(|e| match e {
        Error::InvalidParameter(m) => s3_error!(InvalidPart, "{m}"),
        other => map_err(other),
    })?;
    let output = CompleteMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: etag_out(out.e_tag.as_deref()),
        version_id: written_version(out.version_id),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// The client's part list: numbers in ascending order, each with the ETag
/// it sent, if any.
fn requested_parts(list: Option<CompletedMultipartUpload>) -> S3Result<Vec<(u32, Option<String>)>> {
    let requested: Vec<(u32, Option<String>)> = list
        .and_then(|m| m.parts)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let n = p.part_number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| s3_error!(InvalidPart))?;
            Ok((n, p.e_tag.map(|e| e.value().to_string()).filter(|e| !e.is_empty())))
        })
        .collect::<S3Result<_>>()?;
    if requested.is_empty() {
        return Err(s3_error!(MalformedXML, "You must specify at least one part"));
    }
    if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(s3_error!(InvalidPartOrder, "The list of parts was not in ascending order."));
    }
    Ok(requested)
}

pub(super) async fn list_parts(
    s3: &EncryptingS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let up = resume(s3, &input.bucket, &input.key, &input.upload_id).await?;
    let mut stored = up.stored_parts().await.map_err(map_err)?;
    // S3 lists parts in ascending part number; not every upstream does.
    stored.sort_by_key(|p| p.part_number);
    let parts = stored
        .into_iter()
        .map(|p| Part {
            part_number: i32::try_from(p.part_number).ok(),
            size: i64::try_from(p.plaintext_length).ok(),
            e_tag: etag_out(p.e_tag.as_deref()),
            ..Default::default()
        })
        .collect();
    let output = ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        parts: Some(parts),
        is_truncated: Some(false),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

pub(super) async fn abort_multipart_upload(
    s3: &EncryptingS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let mut req = req;
    let up = resume(s3, &req.input.bucket, &req.input.key, &req.input.upload_id).await?;
    req.input.upload_id = up.upload_id().to_string();
    s3.forward.abort_multipart_upload(req).await
}

/// A part number as S3 takes it: 1 to 10000.
fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))
}

/// The upload a client's upload id names, resumed, after checking that the
/// id binds its upstream upload id and envelope to this bucket and key
/// (before anything is sent upstream): else `404 NoSuchUpload`.
async fn resume(s3: &EncryptingS3, bucket: &str, key: &str, upload_id: &str) -> S3Result<MultipartUpload> {
    let id = decode_upload_id(upload_id)?;
    let refused = |why: &str| {
        tracing::info!(bucket, key, reason = why, "upload id refused");
        no_such_upload(why)
    };
    let up = MultipartUpload::resume(&s3.client, bucket, key, id.upstream, id.envelope, &EncryptionContext::new())
        .await
        .map_err(|e| match e {
            // The envelope is not this object's (its header tag names
            // another key, or its data key does not commit).
            Error::Authentication(_) | Error::CommitmentMismatch => refused("its envelope is not this object's"),
            Error::TooManyEncryptedDataKeys { .. } => refused("its envelope holds too many encrypted data keys"),
            other => map_err(other),
        })?;
    up.verify_binding_tag(&id.tag).map_err(|_| refused("it does not bind its upload to this object"))?;
    Ok(up)
}
