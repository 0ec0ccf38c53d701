//! Whole objects: PutObject, GetObject, HeadObject and CopyObject through
//! the SDK's encrypting client; DeleteObject and DeleteObjects forwarded,
//! with the envelope sidecars of deleted objects following them.

use std::collections::HashMap;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3seal::Error;
use s3seal::s3::Body;

use super::errors::{is_integrity_failure, map_err};
use super::etag::{etag_in, etag_out, stored_condition, written_version};
use super::headers::{GivesObjectHeaders, byte_range, conditions, timestamp_out, with_stored_settings};
use super::passthrough::{copy_request, put_request};
use super::request_body::{Expected, VerifyingReader, body_length, body_result};
use super::response_body::{ReadTarget, plaintext_blob};
use super::service::EncryptingS3;

pub(super) async fn put_object(
    s3: &EncryptingS3,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let S3Request { mut input, headers, trailing_headers, uri, .. } = req;
    super::query::refuse_unknown(&uri, "PutObject", super::query::PUT_OBJECT)?;
    let early_answer_to_expect_continue = input.content_length == Some(0)
        && headers.get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    super::checksums::refuse_unverifiable(&headers)?;
    let expected = Expected::from_request(&headers, &input)?;
    let request = put_request(&mut input)?;
    let len = body_length(input.content_length, &headers)?;
    let object_headers = input.take_object_headers();
    let (reader, outcome) = VerifyingReader::new(input.body, len, expected, trailing_headers);
    let mut put = s3
        .client
        .put_object()
        .bucket(&input.bucket)
        .key(&input.key)
        .request(request)
        .headers(object_headers)
        .body(Body::from_reader(reader));
    if let Some(n) = len {
        put = put.content_length(n);
    }
    let result = put.send().await;
    let (out, _, bytes) = body_result(&outcome, result)?;
    s3.metrics.add_bytes_in(bytes);
    let output = PutObjectOutput {
        e_tag: etag_out(out.e_tag.as_deref()),
        version_id: written_version(out.version_id),
        ..Default::default()
    };
    let mut resp = S3Response::new(output);
    if early_answer_to_expect_continue {
        // hyper answers an empty body's `Expect: 100-continue` with the
        // final response alone (no 100 Continue, as S3 would send);
        // botocore (aws cli v1/v2, boto3) then misreads a later response
        // on the same pooled connection under concurrency (`aws s3 sync`
        // of a directory with an empty file: a 30 s stall, then
        // "KeyError 'ETag'"). A fresh connection for the next request
        // avoids it.
        resp.headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    Ok(resp)
}

/// What a read (GetObject, HeadObject) names: its target (for failure
/// reports), its `If-*` conditions and who reads.
macro_rules! read_parts {
    ($input:ident, $op:literal) => {{
        let c =
            conditions($input.if_match, $input.if_none_match, $input.if_modified_since, $input.if_unmodified_since)?;
        let target = ReadTarget {
            operation: $op,
            bucket: $input.bucket.clone(),
            key: $input.key.clone(),
            version: $input.version_id.clone(),
        };
        (target, c, read_account($input.expected_bucket_owner, $input.request_payer)?)
    }};
}

pub(super) async fn get_object(
    s3: &EncryptingS3,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    super::query::refuse_unknown(&req.uri, "GetObject", super::query::READ_OBJECT)?;
    let input = req.input;
    if input.part_number.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "GetObject with partNumber is not supported through s3seal; use a Range"
        ));
    }
    if input.sse_customer_key.is_some() {
        return Err(s3_error!(NotImplemented, "SSE-C is not supported through s3seal"));
    }
    let (target, conditions, account) = read_parts!(input, "GetObject");
    let mut get = s3.client.get_object().bucket(&input.bucket).key(&input.key).conditions(conditions).account(account);
    if let Some(v) = input.version_id {
        get = get.version_id(v);
    }
    let ranged = input.range.is_some();
    if let Some(r) = &input.range {
        get = get.byte_range(byte_range(r));
    }
    let out = get.send().await.map_err(|e| refused(s3, &target, e, None))?;
    let settings = out.settings.clone();
    // The first frame is verified before the status line goes out.
    let body = plaintext_blob(out.body, s3.metrics.clone(), target.clone())
        .await
        .map_err(|(e, frame)| refused(s3, &target, e, frame))?;
    let output = GetObjectOutput {
        content_length: i64::try_from(out.content_length).ok(),
        content_range: out.content_range.clone(),
        accept_ranges: Some("bytes".into()),
        e_tag: etag_out(out.e_tag.as_deref()),
        last_modified: timestamp_out(out.last_modified)?,
        metadata: Some(out.headers.metadata.clone().into_iter().collect()),
        content_type: input.response_content_type.or(out.headers.content_type.clone()),
        cache_control: input.response_cache_control.or(out.headers.cache_control.clone()),
        content_disposition: input.response_content_disposition.or(out.headers.content_disposition.clone()),
        content_encoding: input.response_content_encoding.or(out.headers.content_encoding.clone()),
        content_language: input.response_content_language.or(out.headers.content_language.clone()),
        version_id: out.version_id.clone(),
        body: Some(body),
        ..Default::default()
    };
    let output = with_stored_settings!(output, settings);
    let mut resp = S3Response::new(output);
    if ranged {
        resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(resp)
}

/// The S3 error for a read that failed before its answer started; an
/// integrity failure is logged and counted too.
fn refused(s3: &EncryptingS3, target: &ReadTarget, e: Error, frame: Option<u64>) -> s3s::S3Error {
    if is_integrity_failure(&e) {
        target.integrity_failure(&s3.metrics, &e, frame, false);
    }
    map_err(e)
}

pub(super) async fn head_object(
    s3: &EncryptingS3,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    super::query::refuse_unknown(&req.uri, "HeadObject", super::query::READ_OBJECT)?;
    let input = req.input;
    if input.part_number.is_some() {
        return Err(s3_error!(NotImplemented, "HeadObject with partNumber is not supported through s3seal"));
    }
    let (target, conditions, account) = read_parts!(input, "HeadObject");
    let mut head =
        s3.client.head_object().bucket(&input.bucket).key(&input.key).conditions(conditions).account(account);
    if let Some(v) = input.version_id {
        head = head.version_id(v);
    }
    let out = head.send().await.map_err(|e| refused(s3, &target, e, None))?;
    let mut content_length = i64::try_from(out.content_length).ok();
    let mut content_range = None;
    if let Some(r) = &input.range {
        match byte_range(r).resolve(out.content_length) {
            Some((a, b)) => {
                content_length = i64::try_from(b - a + 1).ok();
                content_range = Some(format!("bytes {a}-{b}/{}", out.content_length));
            }
            None => return Err(map_err(Error::InvalidRange { length: out.content_length })),
        }
    }
    let output = HeadObjectOutput {
        content_length,
        content_range,
        accept_ranges: Some("bytes".into()),
        e_tag: etag_out(out.e_tag.as_deref()),
        last_modified: timestamp_out(out.last_modified)?,
        metadata: Some(out.headers.metadata.into_iter().collect()),
        content_type: input.response_content_type.or(out.headers.content_type),
        cache_control: input.response_cache_control.or(out.headers.cache_control),
        content_disposition: input.response_content_disposition.or(out.headers.content_disposition),
        content_encoding: input.response_content_encoding.or(out.headers.content_encoding),
        content_language: input.response_content_language.or(out.headers.content_language),
        version_id: out.version_id,
        ..Default::default()
    };
    Ok(S3Response::new(with_stored_settings!(output, out.settings)))
}

pub(super) async fn copy_object(
    s3: &EncryptingS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let mut input = req.input;
    let request = copy_request(&mut input, &req.headers)?;
    let (src_bucket, src_key, src_version) = match &input.copy_source {
        CopySource::Bucket { bucket, key, version_id } => {
            (bucket.to_string(), key.to_string(), version_id.as_deref().map(str::to_string))
        }
        _ => return Err(s3_error!(NotImplemented, "access point copy sources are not supported through s3seal")),
    };
    let mut copy =
        s3.client.copy_object().source(&src_bucket, &src_key).bucket(&input.bucket).key(&input.key).request(request);
    if let Some(v) = &src_version {
        copy = copy.source_version_id(v);
    }
    if input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE) {
        copy = copy.replace_headers(input.take_object_headers());
    } else if src_bucket == input.bucket && src_key == input.key && src_version.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata."
        ));
    }
    let target = ReadTarget { operation: "CopyObject", bucket: src_bucket, key: src_key, version: None };
    let out = copy.send().await.map_err(|e| refused(s3, &target, e, None))?;
    let output = CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult { e_tag: etag_out(out.e_tag.as_deref()), ..Default::default() }),
        version_id: written_version(out.version_id),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// Who reads, as the SDK's client sends it with every request of a read.
fn read_account(
    expected_bucket_owner: Option<String>,
    request_payer: Option<RequestPayer>,
) -> S3Result<s3seal::s3::ReadAccount> {
    let request_payer = request_payer
        .map(s3s_aws::conv::try_into_aws)
        .transpose()
        .map_err(|e| s3_error!(InvalidArgument, "x-amz-request-payer: {e}"))?;
    Ok(s3seal::s3::ReadAccount { expected_bucket_owner, request_payer })
}

pub(super) async fn delete_object(
    s3: &EncryptingS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let mut req = req;
    req.input.if_match = stored_condition(req.input.if_match.take());
    let bucket = req.input.bucket.clone();
    let key = req.input.key.clone();
    // Deleting the current object (no version id): its envelope
    // sidecar, if any, goes too. The pointer is in the metadata, read
    // before the object is gone.
    let before = match req.input.version_id {
        None => s3.client.stored_metadata(&bucket, &key).await.ok(),
        Some(_) => None,
    };
    let r = s3.forward.delete_object(req).await;
    if r.is_ok()
        && let Some(meta) = before
    {
        delete_sidecars(s3, &bucket, &[(key, meta)]).await;
    }
    r
}

/// Keys one DeleteObjects request may name (S3's limit).
const MAX_DELETE_KEYS: usize = 1000;

pub(super) async fn delete_objects(
    s3: &EncryptingS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    use futures_util::StreamExt;
    let mut req = req;
    // S3's limit, checked before any lookup.
    if req.input.delete.objects.len() > MAX_DELETE_KEYS {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema (at most {MAX_DELETE_KEYS} keys per DeleteObjects request)."
        ));
    }
    for o in &mut req.input.delete.objects {
        o.e_tag = o.e_tag.take().map(|e| ETag::Strong(etag_in(e.value()).trim_matches('"').to_string()));
    }
    let bucket = req.input.bucket.clone();
    let current: Vec<String> =
        req.input.delete.objects.iter().filter(|o| o.version_id.is_none()).map(|o| o.key.clone()).collect();
    // As for DeleteObject: the metadata of each current object, read
    // first (a few at a time), so that sidecars can follow them.
    let before: Vec<(String, HashMap<String, String>)> = futures_util::stream::iter(current)
        .map(|key| {
            let bucket = &bucket;
            async move {
                let meta = s3.client.stored_metadata(bucket, &key).await.ok()?;
                meta.contains_key(s3seal::s3::SIDECAR_REF_KEY).then_some((key, meta))
            }
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let r = s3.forward.delete_objects(req).await;
    if let Ok(resp) = &r {
        let failed: std::collections::HashSet<&str> =
            resp.output.errors.iter().flatten().filter_map(|e| e.key.as_deref()).collect();
        let deleted: Vec<_> = before.into_iter().filter(|(key, _)| !failed.contains(key.as_str())).collect();
        delete_sidecars(s3, &bucket, &deleted).await;
    }
    r
}

/// After objects of `bucket` were deleted (`keys`, with their stored
/// metadata): deletes their envelope sidecars, for those that had one,
/// unless the bucket keeps versions. A failure here does not fail the
/// delete the client asked for (the sidecars are left over).
async fn delete_sidecars(s3: &EncryptingS3, bucket: &str, deleted: &[(String, HashMap<String, String>)]) {
    if let Err(e) = s3.client.delete_sidecars(bucket, deleted.iter().map(|(_, m)| m)).await {
        let keys: Vec<&str> = deleted.iter().map(|(k, _)| k.as_str()).collect();
        tracing::warn!(bucket, ?keys, error = %e, "could not delete the envelope sidecars of deleted objects");
    }
}
