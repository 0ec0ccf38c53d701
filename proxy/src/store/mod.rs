//! The embedded store: a small S3 over a local directory, for `s3seal
//! proxy` with no upstream.
//!
//! **Keys are data, never paths.** Every key S3 accepts (up to 1024 bytes
//! of UTF-8: `+`, `%`, spaces, any Unicode, `.` and `..` segments, `//`, a
//! leading or trailing `/`) maps to its own file inside its bucket's
//! directory by an injective, reversible encoding ([`keys`]): no key
//! escapes its bucket, aliases another or is refused for its shape. Folder
//! markers (`photos/`) are objects like any other.
//!
//! **One file per object** ([`file`]): body and description (ETag, size,
//! time, headers, user metadata) together, written to a temporary file and
//! renamed into place, so readers see whole objects. ETags are the MD5 of
//! the stored bytes (`MD5-N` for multipart uploads), the same in HEAD, GET
//! and listings.
//!
//! **Conditions and tagging** ([`conditions`]): `If-None-Match: *` and
//! `If-Match` on PutObject and CompleteMultipartUpload, `If-Match` on
//! DeleteObject (and the `ETag` of DeleteObjects entries) are checked
//! under the key's lock, so two conditional writers cannot both win; reads
//! honour `If-Match`, `If-None-Match` (304), `If-Modified-Since` (304) and
//! `If-Unmodified-Since`, copies their `x-amz-copy-source-if-*`. Object
//! tags are kept beside the object.
//!
//! **Object settings** ([`settings`]): tags and storage class given with a
//! write are kept; ACLs other than `private`, Object Lock, server-side
//! encryption and expected bucket owners are refused as S3 refuses them on
//! a bucket without the feature, never dropped.
//!
//! **Listings** are sorted by the keys' UTF-8 bytes, as S3's, with
//! prefix, delimiter, markers, continuation and `encoding-type=url`.
//!
//! **Versioning** is answered as S3 does for a bucket that never had it:
//! `GetBucketVersioning` with no status, `ListObjectVersions` with every
//! object once as its `null` version; enabling it is refused
//! (`NotImplemented`), as is everything not listed in the impl below.

mod conditions;
mod disk;
mod file;
mod keys;
mod listing;
mod multipart;
mod objects;
mod settings;

use std::path::Path;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use disk::Disk;
use file::internal;
use listing::{common_prefixes, shown, url_encoded};

/// The store over one directory (one subdirectory per bucket).
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    disk: Disk,
}

impl EmbeddedStore {
    /// The store over `root`, which must exist. Files left by interrupted
    /// writes are removed.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        Ok(Self { disk: Disk::open(root)? })
    }
}

fn ok<T>(r: S3Result<T>) -> S3Result<S3Response<T>> {
    r.map(S3Response::new)
}

/// Lists `bucket` as ListObjectVersions: each object once, as its `null`
/// version.
async fn list_versions(disk: &Disk, input: ListObjectVersionsInput) -> S3Result<ListObjectVersionsOutput> {
    let prefix = input.prefix.clone().unwrap_or_default();
    let listed = listing::list(
        disk,
        &input.bucket,
        &prefix,
        input.delimiter.as_deref(),
        input.key_marker.as_deref(),
        input.max_keys,
    )
    .await?;
    let enc = url_encoded(input.encoding_type.as_ref());
    let versions: Vec<ObjectVersion> = listed
        .objects
        .into_iter()
        .map(|o| ObjectVersion {
            e_tag: o.e_tag,
            is_latest: Some(true),
            key: o.key.map(|k| shown(&k, enc)),
            last_modified: o.last_modified,
            size: o.size,
            storage_class: o.storage_class.map(|c| ObjectVersionStorageClass::from(c.as_str().to_string())),
            version_id: Some("null".to_string()),
            ..Default::default()
        })
        .collect();
    let truncated = listed.page.truncated;
    Ok(ListObjectVersionsOutput {
        common_prefixes: common_prefixes(&listed.page, enc),
        delimiter: input.delimiter,
        encoding_type: input.encoding_type,
        is_truncated: Some(truncated),
        key_marker: input.key_marker,
        max_keys: input.max_keys,
        name: Some(input.bucket),
        next_key_marker: listed.page.next.as_deref().map(|n| shown(n, enc)),
        next_version_id_marker: truncated.then(|| "null".to_string()),
        prefix: input.prefix,
        version_id_marker: input.version_id_marker,
        versions: (!versions.is_empty()).then_some(versions),
        ..Default::default()
    })
}

async fn list_v1(disk: &Disk, input: ListObjectsInput) -> S3Result<ListObjectsOutput> {
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.as_deref();
    let listed =
        listing::list(disk, &input.bucket, &prefix, delimiter, input.marker.as_deref(), input.max_keys).await?;
    let enc = url_encoded(input.encoding_type.as_ref());
    let contents: Vec<Object> =
        listed.objects.into_iter().map(|o| Object { key: o.key.map(|k| shown(&k, enc)), ..o }).collect();
    Ok(ListObjectsOutput {
        common_prefixes: common_prefixes(&listed.page, enc),
        contents: (!contents.is_empty()).then_some(contents),
        delimiter: input.delimiter.map(|d| shown(&d, enc)),
        encoding_type: input.encoding_type,
        is_truncated: Some(listed.page.truncated),
        marker: input.marker.map(|m| shown(&m, enc)),
        max_keys: input.max_keys,
        name: Some(input.bucket),
        next_marker: listed.page.next.as_deref().map(|n| shown(n, enc)),
        prefix: input.prefix.map(|p| shown(&p, enc)),
        ..Default::default()
    })
}

async fn list_v2(disk: &Disk, input: ListObjectsV2Input) -> S3Result<ListObjectsV2Output> {
    let prefix = input.prefix.clone().unwrap_or_default();
    let after = match input.continuation_token.as_deref() {
        Some(t) => Some(listing::from_token(t)?),
        None => input.start_after.clone(),
    };
    let delimiter = input.delimiter.as_deref();
    let listed = listing::list(disk, &input.bucket, &prefix, delimiter, after.as_deref(), input.max_keys).await?;
    let enc = url_encoded(input.encoding_type.as_ref());
    let contents: Vec<Object> =
        listed.objects.into_iter().map(|o| Object { key: o.key.map(|k| shown(&k, enc)), ..o }).collect();
    let key_count = contents.len() + listed.page.prefixes.len();
    Ok(ListObjectsV2Output {
        common_prefixes: common_prefixes(&listed.page, enc),
        contents: (!contents.is_empty()).then_some(contents),
        continuation_token: input.continuation_token,
        delimiter: input.delimiter.map(|d| shown(&d, enc)),
        encoding_type: input.encoding_type,
        is_truncated: Some(listed.page.truncated),
        key_count: i32::try_from(key_count).ok(),
        max_keys: input.max_keys,
        name: Some(input.bucket),
        next_continuation_token: listed.page.next.as_deref().map(listing::token),
        prefix: input.prefix.map(|p| shown(&p, enc)),
        start_after: input.start_after.map(|s| shown(&s, enc)),
        ..Default::default()
    })
}

async fn list_buckets(disk: &Disk) -> S3Result<ListBucketsOutput> {
    let mut buckets = Vec::new();
    let mut entries = tokio::fs::read_dir(disk.root()).await.map_err(|e| internal("cannot list buckets", e))?;
    while let Some(entry) = entries.next_entry().await.map_err(|e| internal("cannot list buckets", e))? {
        let Ok(name) = entry.file_name().into_string() else { continue };
        let Ok(m) = entry.metadata().await else { continue };
        if m.is_dir() && disk::valid_bucket(&name) {
            let created = m.created().or_else(|_| m.modified()).ok().map(Timestamp::from);
            buckets.push(Bucket { name: Some(name), creation_date: created, ..Default::default() });
        }
    }
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ListBucketsOutput { buckets: Some(buckets), ..Default::default() })
}

async fn create_bucket(disk: &Disk, bucket: &str) -> S3Result<CreateBucketOutput> {
    let dir = disk.bucket_dir(bucket)?;
    match tokio::fs::create_dir(&dir).await {
        Ok(()) => Ok(CreateBucketOutput::default()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(s3_error!(BucketAlreadyOwnedByYou)),
        Err(e) => Err(internal("cannot create a bucket", e)),
    }
}

async fn delete_bucket(disk: &Disk, bucket: &str) -> S3Result<DeleteBucketOutput> {
    let dir = disk.existing_bucket(bucket).await?;
    let probe = dir.clone();
    let has = tokio::task::spawn_blocking(move || disk::holds_files(&probe))
        .await
        .map_err(|e| internal("cannot read a bucket", e))?
        .map_err(|e| internal("cannot read a bucket", e))?;
    if has {
        return Err(s3_error!(BucketNotEmpty));
    }
    tokio::fs::remove_dir_all(&dir).await.map_err(|e| internal("cannot delete a bucket", e))?;
    Ok(DeleteBucketOutput::default())
}

#[async_trait::async_trait]
impl S3 for EmbeddedStore {
    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        ok(list_buckets(&self.disk).await)
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        ok(create_bucket(&self.disk, &req.input.bucket).await)
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        ok(delete_bucket(&self.disk, &req.input.bucket).await)
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.disk.existing_bucket(&req.input.bucket).await?;
        ok(Ok(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.disk.existing_bucket(&req.input.bucket).await?;
        ok(Ok(GetBucketLocationOutput::default()))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.disk.existing_bucket(&req.input.bucket).await?;
        ok(Ok(GetBucketVersioningOutput::default()))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        ok(list_v1(&self.disk, req.input).await)
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        ok(list_v2(&self.disk, req.input).await)
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        ok(list_versions(&self.disk, req.input).await)
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        ok(objects::put(&self.disk, req.input).await)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let ranged = req.input.range.is_some();
        let mut resp = S3Response::new(objects::get(&self.disk, req.input).await?);
        if ranged {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        ok(objects::head(&self.disk, req.input).await)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        ok(objects::copy(&self.disk, req.input).await)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let mut resp = S3Response::new(objects::delete(&self.disk, req.input).await?);
        resp.status = Some(http::StatusCode::NO_CONTENT);
        Ok(resp)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        ok(objects::delete_many(&self.disk, req.input).await)
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        ok(objects::put_tagging(&self.disk, req.input).await)
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        ok(objects::get_tagging(&self.disk, req.input).await)
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let mut resp = S3Response::new(objects::delete_tagging(&self.disk, req.input).await?);
        resp.status = Some(http::StatusCode::NO_CONTENT);
        Ok(resp)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        ok(multipart::create(&self.disk, req.input).await)
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        ok(multipart::upload_part(&self.disk, req.input).await)
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        ok(multipart::list_parts(&self.disk, req.input).await)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        ok(multipart::complete(&self.disk, req.input).await)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let mut resp = S3Response::new(multipart::abort(&self.disk, req.input).await?);
        resp.status = Some(http::StatusCode::NO_CONTENT);
        Ok(resp)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        ok(multipart::list_uploads(&self.disk, req.input).await)
    }
}
