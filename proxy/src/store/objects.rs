//! Objects: PutObject, GetObject, HeadObject, CopyObject, DeleteObject,
//! DeleteObjects and object tagging. Writes land whole (temporary file,
//! then rename) under the key's lock, after its conditions are checked.

use s3s::dto::*;
use s3s::{S3Result, s3_error};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::conditions::{ReadConditions, WriteConditions};
use super::disk::{Disk, Place};
use super::file::{self, Meta, NewFile, headers_of, internal, now_ms, random_hex};
use super::settings::{requested, validate_tags};

/// The last instant an S3 date can name (9999-12-31T23:59:59.999Z), in
/// milliseconds since the epoch.
const LAST_MS: i64 = 253_402_300_799_999;

/// A stored time (milliseconds since the epoch, from a file that may be
/// damaged: clamped to what a date can show).
pub(crate) fn timestamp(ms: i64) -> Timestamp {
    let ms = u64::try_from(ms.clamp(0, LAST_MS)).unwrap_or(0);
    Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

fn md5_of_base64(v: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(v).ok()
}

/// A new object: where it goes, under which conditions, with which tags.
pub(crate) struct Commit<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub place: &'a Place,
    pub conditions: &'a WriteConditions,
    pub tags: Vec<(String, String)>,
}

/// Commits `new` as the object at `to.place` if `to.conditions` hold for
/// the current one, with its tags, under the key's lock. The stored
/// description.
pub(crate) async fn commit(disk: &Disk, to: Commit<'_>, mut new: NewFile, mut meta: Meta) -> S3Result<Meta> {
    meta.generation = random_hex(8)?;
    meta.modified_ms = now_ms();
    new.finish(&mut meta).await?;
    // The tags are written first (tied to the new generation), so the
    // object is never seen without them.
    let tags = if to.tags.is_empty() { None } else { Some(tag_file(&meta.generation, to.tags, disk).await?) };
    // Only the check and the renames hold the lock.
    let _guard = disk.lock(to.bucket, to.key).await;
    if !to.conditions.is_empty() {
        to.conditions.check(disk.current(to.place).await?.as_ref())?;
    }
    new.commit(&to.place.object()).await?;
    match tags {
        Some(t) => t.commit(&to.place.tags()).await?,
        None => {
            let _ = tokio::fs::remove_file(to.place.tags()).await;
        }
    }
    Ok(meta)
}

pub(crate) async fn put(disk: &Disk, input: PutObjectInput) -> S3Result<PutObjectOutput> {
    let conditions = WriteConditions { if_match: input.if_match, if_none_match: input.if_none_match };
    conditions.validate()?;
    let kept = requested!(input).check()?;
    let place = disk.place(&input.bucket, &input.key).await?;
    let mut new = NewFile::create(&disk.tmp()).await?;
    new.write_body(input.body).await?;
    if let Some(len) = input.content_length
        && u64::try_from(len).ok() != Some(new.size())
    {
        return Err(s3_error!(IncompleteBody));
    }
    if let Some(expected) = input.content_md5.as_deref()
        && md5_of_base64(expected).as_deref() != Some(new.md5().as_slice())
    {
        return Err(s3_error!(BadDigest));
    }
    let headers = headers_of!(input);
    let meta = Meta { etag: hex::encode(new.md5()), headers, storage_class: kept.storage_class, ..Default::default() };
    let to = Commit {
        bucket: &input.bucket,
        key: &input.key,
        place: &place,
        conditions: &conditions,
        tags: kept.tags.unwrap_or_default(),
    };
    let meta = commit(disk, to, new, meta).await?;
    Ok(PutObjectOutput { e_tag: Some(ETag::Strong(meta.etag)), ..Default::default() })
}

/// The current object at `bucket`/`key` and its open file: `NoSuchKey` if
/// there is none.
async fn existing(disk: &Disk, bucket: &str, key: &str) -> S3Result<(Place, Meta, tokio::fs::File)> {
    let place = disk.place(bucket, key).await?;
    match file::open(&place.object()).await? {
        Some((meta, f)) => Ok((place, meta, f)),
        None => Err(s3_error!(NoSuchKey)),
    }
}

fn no_versions(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(_) => Err(s3_error!(NoSuchVersion)),
    }
}

/// A read's `If-*` headers (GetObject, HeadObject).
macro_rules! read_conditions {
    ($input:expr) => {
        ReadConditions {
            if_match: $input.if_match,
            if_none_match: $input.if_none_match,
            if_modified_since: $input.if_modified_since,
            if_unmodified_since: $input.if_unmodified_since,
        }
    };
}

/// An output (GetObject, HeadObject) describing the object `meta`, with
/// the fields given.
macro_rules! described {
    ($output:ident, $meta:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let meta: Meta = $meta;
        $output {
            $($field: $value,)*
            accept_ranges: Some("bytes".into()),
            e_tag: Some(ETag::Strong(meta.etag)),
            last_modified: Some(timestamp(meta.modified_ms)),
            content_type: meta.headers.content_type,
            cache_control: meta.headers.cache_control,
            content_disposition: meta.headers.content_disposition,
            content_encoding: meta.headers.content_encoding,
            content_language: meta.headers.content_language,
            expires: meta.headers.expires,
            website_redirect_location: meta.headers.website_redirect_location,
            storage_class: meta.storage_class.map(StorageClass::from),
            metadata: Some(meta.headers.metadata.into_iter().collect()),
            ..Default::default()
        }
    }};
}

/// The object a read names, if `conditions` hold for it.
async fn read(
    disk: &Disk,
    bucket: &str,
    key: &str,
    part_number: Option<i32>,
    version_id: Option<&str>,
    conditions: ReadConditions,
) -> S3Result<(Meta, tokio::fs::File)> {
    if part_number.is_some() {
        return Err(s3_error!(NotImplemented, "the embedded store does not serve partNumber reads"));
    }
    no_versions(version_id)?;
    let (_, meta, f) = existing(disk, bucket, key).await?;
    conditions.check(&meta, false)?;
    Ok((meta, f))
}

pub(crate) async fn get(disk: &Disk, input: GetObjectInput) -> S3Result<GetObjectOutput> {
    let conditions = read_conditions!(input);
    let (meta, mut f) =
        read(disk, &input.bucket, &input.key, input.part_number, input.version_id.as_deref(), conditions).await?;
    let range = match &input.range {
        Some(r) => Some(r.check(meta.size).map_err(|_| s3_error!(InvalidRange))?),
        None => None,
    };
    let (start, end) = range.clone().map_or((0, meta.size), |r| (r.start, r.end));
    f.seek(std::io::SeekFrom::Start(start)).await.map_err(|e| internal("cannot read an object", e))?;
    let stream = tokio_util::io::ReaderStream::with_capacity(f.take(end - start), s3seal::tuning::IO_CHUNK);
    let content_range = range.map(|_| format!("bytes {start}-{}/{}", end.saturating_sub(1), meta.size));
    Ok(described!(GetObjectOutput, meta, {
        body: Some(StreamingBlob::wrap(stream)),
        content_length: i64::try_from(end - start).ok(),
        content_range: content_range,
    }))
}

pub(crate) async fn head(disk: &Disk, input: HeadObjectInput) -> S3Result<HeadObjectOutput> {
    let conditions = read_conditions!(input);
    let (meta, _) =
        read(disk, &input.bucket, &input.key, input.part_number, input.version_id.as_deref(), conditions).await?;
    let content_length = i64::try_from(meta.size).ok();
    Ok(described!(HeadObjectOutput, meta, { content_length: content_length }))
}

pub(crate) async fn copy(disk: &Disk, input: CopyObjectInput) -> S3Result<CopyObjectOutput> {
    let (src_bucket, src_key) = match &input.copy_source {
        CopySource::Bucket { bucket, key, version_id } => {
            no_versions(version_id.as_deref())?;
            (bucket.to_string(), key.to_string())
        }
        _ => return Err(s3_error!(NotImplemented, "the embedded store has no access points or outposts")),
    };
    let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    if !replace && src_bucket == input.bucket && src_key == input.key {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let (src_place, src_meta, src_file) = existing(disk, &src_bucket, &src_key).await?;
    let conditions = ReadConditions {
        if_match: input.copy_source_if_match,
        if_none_match: input.copy_source_if_none_match,
        if_modified_since: input.copy_source_if_modified_since,
        if_unmodified_since: input.copy_source_if_unmodified_since,
    };
    conditions.check(&src_meta, true)?;
    let kept = requested!(input).check()?;
    let place = disk.place(&input.bucket, &input.key).await?;
    let mut new = NewFile::create(&disk.tmp()).await?;
    new.copy_body(src_file, src_meta.size).await?;
    let headers = if replace { headers_of!(input) } else { src_meta.headers.clone() };
    // The storage class is the request's, not the source's (as in S3).
    let meta = Meta { etag: hex::encode(new.md5()), headers, storage_class: kept.storage_class, ..Default::default() };
    let copy_tags = input.tagging_directive.as_ref().is_none_or(|d| d.as_str() != TaggingDirective::REPLACE);
    let tags = if copy_tags { read_tags(&src_place, &src_meta).await? } else { kept.tags.unwrap_or_default() };
    let conditions = WriteConditions::default();
    let to = Commit { bucket: &input.bucket, key: &input.key, place: &place, conditions: &conditions, tags };
    let meta = commit(disk, to, new, meta).await?;
    Ok(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(ETag::Strong(meta.etag)),
            last_modified: Some(timestamp(meta.modified_ms)),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Deletes `key` if `if_match` holds (a missing key is not an error
/// without it, as in S3).
pub(crate) async fn delete_one(disk: &Disk, bucket: &str, key: &str, if_match: Option<ETagCondition>) -> S3Result<()> {
    let place = disk.place(bucket, key).await?;
    let conditions = WriteConditions { if_match, if_none_match: None };
    let _guard = disk.lock(bucket, key).await;
    if !conditions.is_empty() {
        conditions.check(disk.current(&place).await?.as_ref())?;
    }
    disk.remove(&place).await?;
    Ok(())
}

pub(crate) async fn delete(disk: &Disk, input: DeleteObjectInput) -> S3Result<DeleteObjectOutput> {
    no_versions(input.version_id.as_deref())?;
    if input.if_match_last_modified_time.is_some() || input.if_match_size.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "x-amz-if-match-last-modified-time and x-amz-if-match-size are not supported by the embedded store"
        ));
    }
    delete_one(disk, &input.bucket, &input.key, input.if_match).await?;
    Ok(DeleteObjectOutput::default())
}

pub(crate) async fn delete_many(disk: &Disk, input: DeleteObjectsInput) -> S3Result<DeleteObjectsOutput> {
    disk.existing_bucket(&input.bucket).await?;
    let quiet = input.delete.quiet.unwrap_or(false);
    let (mut deleted, mut errors) = (Vec::new(), Vec::new());
    for o in input.delete.objects {
        let r = match no_versions(o.version_id.as_deref()) {
            Ok(()) => delete_one(disk, &input.bucket, &o.key, o.e_tag.map(ETagCondition::ETag)).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(()) if !quiet => deleted.push(DeletedObject { key: Some(o.key), ..Default::default() }),
            Ok(()) => {}
            Err(e) => errors.push(Error {
                code: Some(e.code().as_str().to_string()),
                key: Some(o.key),
                message: e.message().map(str::to_string),
                version_id: o.version_id,
            }),
        }
    }
    Ok(DeleteObjectsOutput {
        deleted: (!deleted.is_empty()).then_some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    })
}

/// The tag file: the tags and the generation of the object they belong to
/// (tags of an object since replaced are not its successor's).
#[derive(serde::Serialize, serde::Deserialize)]
struct TagFile {
    generation: String,
    tags: Vec<(String, String)>,
}

async fn read_tags(place: &Place, meta: &Meta) -> S3Result<Vec<(String, String)>> {
    let bytes = match tokio::fs::read(place.tags()).await {
        Ok(b) => b,
        Err(e) if file::is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(internal("cannot read tags", e)),
    };
    let stored: TagFile = serde_json::from_slice(&bytes).map_err(|e| internal("damaged tags", e))?;
    Ok(if stored.generation == meta.generation { stored.tags } else { Vec::new() })
}

/// A written, not yet committed tag file for the object `generation`.
async fn tag_file(generation: &str, tags: Vec<(String, String)>, disk: &Disk) -> S3Result<NewFile> {
    let json = serde_json::to_vec(&TagFile { generation: generation.to_string(), tags })
        .map_err(|e| internal("cannot write tags", e))?;
    let mut new = NewFile::create(&disk.tmp()).await?;
    new.write(&json).await?;
    Ok(new)
}

/// Writes the tags of the current object at `place` (under the key's lock).
async fn write_tags(disk: &Disk, bucket: &str, key: &str, place: &Place, tags: Vec<(String, String)>) -> S3Result<()> {
    let _guard = disk.lock(bucket, key).await;
    let meta = disk.current(place).await?.ok_or_else(|| s3_error!(NoSuchKey))?;
    tag_file(&meta.generation, tags, disk).await?.commit(&place.tags()).await
}

pub(crate) async fn put_tagging(disk: &Disk, input: PutObjectTaggingInput) -> S3Result<PutObjectTaggingOutput> {
    no_versions(input.version_id.as_deref())?;
    let pairs = input.tagging.tag_set.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()));
    let tags = validate_tags(pairs.collect())?;
    let place = disk.place(&input.bucket, &input.key).await?;
    write_tags(disk, &input.bucket, &input.key, &place, tags).await?;
    Ok(PutObjectTaggingOutput::default())
}

pub(crate) async fn get_tagging(disk: &Disk, input: GetObjectTaggingInput) -> S3Result<GetObjectTaggingOutput> {
    no_versions(input.version_id.as_deref())?;
    let (place, meta, _) = existing(disk, &input.bucket, &input.key).await?;
    let tag_set =
        read_tags(&place, &meta).await?.into_iter().map(|(k, v)| Tag { key: Some(k), value: Some(v) }).collect();
    Ok(GetObjectTaggingOutput { tag_set, version_id: None })
}

pub(crate) async fn delete_tagging(
    disk: &Disk,
    input: DeleteObjectTaggingInput,
) -> S3Result<DeleteObjectTaggingOutput> {
    no_versions(input.version_id.as_deref())?;
    let (place, _, _) = existing(disk, &input.bucket, &input.key).await?;
    let _guard = disk.lock(&input.bucket, &input.key).await;
    match tokio::fs::remove_file(place.tags()).await {
        Ok(()) => Ok(DeleteObjectTaggingOutput::default()),
        Err(e) if file::is_missing(&e) => Ok(DeleteObjectTaggingOutput::default()),
        Err(e) => Err(internal("cannot delete tags", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_times_do_not_panic() {
        for ms in [i64::MIN, -1, 0, LAST_MS, i64::MAX] {
            let _ = timestamp(ms);
        }
        let t: aws_sdk_s3::primitives::DateTime = s3s_aws::conv::try_into_aws(timestamp(1_500)).unwrap();
        assert_eq!(t.to_millis().unwrap(), 1_500);
    }
}
