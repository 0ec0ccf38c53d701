//! Multipart uploads: each in `.uploads/ID/`, with `upload.json` (bucket,
//! key, headers) and one stored file per part (`N.part`). Completing
//! concatenates the named parts into a new object (ETag `MD5-N`, the MD5 of
//! the parts' MD5s), under the key's lock and its conditions.

use std::path::PathBuf;

use md5::{Digest as _, Md5};
use s3s::dto::*;
use s3s::{S3Result, s3_error};
use serde::{Deserialize, Serialize};

use super::conditions::WriteConditions;
use super::disk::Disk;
use super::file::{self, Headers, Meta, NewFile, headers_of, internal, now_ms};
use super::objects::{Commit, commit, timestamp};
use super::settings::requested;

const UPLOAD_FILE: &str = "upload.json";
const PART_SUFFIX: &str = ".part";
/// S3's largest part number.
const MAX_PART: i32 = 10_000;

#[derive(Debug, Serialize, Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    headers: Headers,
    initiated_ms: i64,
    /// The tags the object gets at completion.
    #[serde(default)]
    tags: Vec<(String, String)>,
    #[serde(default)]
    storage_class: Option<String>,
}

/// The directory of upload `id`: ids are 32 lower-case hex digits, made here.
fn upload_dir(disk: &Disk, id: &str) -> S3Result<PathBuf> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(s3_error!(NoSuchUpload));
    }
    Ok(disk.uploads().join(id))
}

/// Upload `id`, which must be of `bucket`/`key`.
async fn upload(disk: &Disk, id: &str, bucket: &str, key: &str) -> S3Result<(PathBuf, Upload)> {
    let dir = upload_dir(disk, id)?;
    let bytes = match tokio::fs::read(dir.join(UPLOAD_FILE)).await {
        Ok(b) => b,
        Err(e) if file::is_missing(&e) => return Err(s3_error!(NoSuchUpload)),
        Err(e) => return Err(internal("cannot read an upload", e)),
    };
    let u: Upload = serde_json::from_slice(&bytes).map_err(|e| internal("damaged upload", e))?;
    if u.bucket != bucket || u.key != key {
        return Err(s3_error!(NoSuchUpload));
    }
    Ok((dir, u))
}

pub(crate) async fn create(disk: &Disk, input: CreateMultipartUploadInput) -> S3Result<CreateMultipartUploadOutput> {
    disk.place(&input.bucket, &input.key).await?;
    let kept = requested!(input).check()?;
    let id = file::random_hex(16)?;
    let u = Upload {
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        headers: headers_of!(input),
        initiated_ms: now_ms(),
        tags: kept.tags.unwrap_or_default(),
        storage_class: kept.storage_class,
    };
    let json = serde_json::to_vec(&u).map_err(|e| internal("cannot describe an upload", e))?;
    let mut new = NewFile::create(&disk.tmp()).await?;
    new.write(&json).await?;
    new.commit(&upload_dir(disk, &id)?.join(UPLOAD_FILE)).await?;
    Ok(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(id),
        ..Default::default()
    })
}

fn part_path(dir: &std::path::Path, n: i32) -> PathBuf {
    dir.join(format!("{n}{PART_SUFFIX}"))
}

pub(crate) async fn upload_part(disk: &Disk, input: UploadPartInput) -> S3Result<UploadPartOutput> {
    if !(1..=MAX_PART).contains(&input.part_number) {
        return Err(s3_error!(InvalidArgument, "Part number must be an integer between 1 and {MAX_PART}"));
    }
    let (dir, _) = upload(disk, &input.upload_id, &input.bucket, &input.key).await?;
    let mut new = NewFile::create(&disk.tmp()).await?;
    new.write_body(input.body).await?;
    if let Some(len) = input.content_length
        && u64::try_from(len).ok() != Some(new.size())
    {
        return Err(s3_error!(IncompleteBody));
    }
    let mut meta = Meta { etag: hex::encode(new.md5()), modified_ms: now_ms(), ..Default::default() };
    new.finish(&mut meta).await?;
    new.commit(&part_path(&dir, input.part_number)).await?;
    Ok(UploadPartOutput { e_tag: Some(ETag::Strong(meta.etag)), ..Default::default() })
}

/// The parts uploaded so far, by number.
async fn parts(dir: &std::path::Path) -> S3Result<Vec<(i32, Meta)>> {
    let mut out = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await.map_err(|e| internal("cannot read an upload", e))?;
    while let Some(entry) = entries.next_entry().await.map_err(|e| internal("cannot read an upload", e))? {
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_suffix(PART_SUFFIX)).and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(meta) = file::meta(&entry.path()).await? {
            out.push((n, meta));
        }
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

pub(crate) async fn list_parts(disk: &Disk, input: ListPartsInput) -> S3Result<ListPartsOutput> {
    let (dir, _) = upload(disk, &input.upload_id, &input.bucket, &input.key).await?;
    let after = input.part_number_marker.unwrap_or(0);
    let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(0);
    let all: Vec<(i32, Meta)> = parts(&dir).await?.into_iter().filter(|(n, _)| *n > after).collect();
    let truncated = all.len() > max;
    let shown: Vec<Part> = all
        .into_iter()
        .take(max)
        .map(|(n, m)| Part {
            part_number: Some(n),
            e_tag: Some(ETag::Strong(m.etag)),
            size: i64::try_from(m.size).ok(),
            last_modified: Some(timestamp(m.modified_ms)),
            ..Default::default()
        })
        .collect();
    Ok(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        is_truncated: Some(truncated),
        next_part_number_marker: shown.last().filter(|_| truncated).and_then(|p| p.part_number),
        max_parts: i32::try_from(max).ok(),
        parts: Some(shown),
        ..Default::default()
    })
}

pub(crate) async fn complete(
    disk: &Disk,
    input: CompleteMultipartUploadInput,
) -> S3Result<CompleteMultipartUploadOutput> {
    let conditions = WriteConditions { if_match: input.if_match, if_none_match: input.if_none_match };
    conditions.validate()?;
    let (dir, u) = upload(disk, &input.upload_id, &input.bucket, &input.key).await?;
    let requested = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
    if requested.is_empty() {
        return Err(s3_error!(MalformedXML, "You must specify at least one part"));
    }
    let stored = parts(&dir).await?;
    let place = disk.place(&input.bucket, &input.key).await?;
    let mut new = NewFile::create(&disk.tmp()).await?;
    let mut md5s = Md5::new();
    let mut previous = 0;
    for p in &requested {
        let n = p.part_number.unwrap_or(0);
        if n <= previous {
            return Err(s3_error!(InvalidPartOrder));
        }
        previous = n;
        let found = stored.iter().find(|(m, _)| *m == n).map(|(_, meta)| meta);
        let Some(meta) = found.filter(|m| p.e_tag.as_ref().is_none_or(|t| t.value() == m.etag)) else {
            return Err(s3_error!(InvalidPart, "part {n} was not uploaded or its ETag differs"));
        };
        md5s.update(hex::decode(&meta.etag).map_err(|e| internal("damaged part", e))?);
        new.copy_from(&part_path(&dir, n)).await?;
    }
    let etag = format!("{}-{}", hex::encode(md5s.finalize()), requested.len());
    let meta = Meta { etag, headers: u.headers, storage_class: u.storage_class, ..Default::default() };
    let to = Commit { bucket: &input.bucket, key: &input.key, place: &place, conditions: &conditions, tags: u.tags };
    let meta = commit(disk, to, new, meta).await?;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(CompleteMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(ETag::Strong(meta.etag)),
        ..Default::default()
    })
}

pub(crate) async fn abort(disk: &Disk, input: AbortMultipartUploadInput) -> S3Result<AbortMultipartUploadOutput> {
    let (dir, _) = upload(disk, &input.upload_id, &input.bucket, &input.key).await?;
    tokio::fs::remove_dir_all(&dir).await.map_err(|e| internal("cannot abort an upload", e))?;
    Ok(AbortMultipartUploadOutput::default())
}

pub(crate) async fn list_uploads(
    disk: &Disk,
    input: ListMultipartUploadsInput,
) -> S3Result<ListMultipartUploadsOutput> {
    disk.existing_bucket(&input.bucket).await?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let mut found = Vec::new();
    let mut entries = tokio::fs::read_dir(disk.uploads()).await.map_err(|e| internal("cannot list uploads", e))?;
    while let Some(entry) = entries.next_entry().await.map_err(|e| internal("cannot list uploads", e))? {
        let Ok(id) = entry.file_name().into_string() else { continue };
        let Ok(bytes) = tokio::fs::read(entry.path().join(UPLOAD_FILE)).await else { continue };
        let Ok(u) = serde_json::from_slice::<Upload>(&bytes) else { continue };
        if u.bucket == input.bucket && u.key.starts_with(&prefix) {
            found.push((u.key, id, u.initiated_ms));
        }
    }
    found.sort();
    let uploads = found
        .into_iter()
        .map(|(key, id, ms)| MultipartUpload {
            key: Some(key),
            upload_id: Some(id),
            initiated: Some(timestamp(ms)),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    Ok(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix,
        is_truncated: Some(false),
        uploads: (!uploads.is_empty()).then_some(uploads),
        ..Default::default()
    })
}
