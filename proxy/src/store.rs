//! The embedded store: `s3s-fs` adapted to what S3 clients expect of a
//! bucket, in two ways.
//!
//! **Folder markers.** `s3s-fs` keeps each object as a file named by its
//! key, so a key ending in `/` is a directory: it accepts such an object
//! only with an empty body. Through the proxy no object is empty (even an
//! empty plaintext is stored as a sealed final frame), so "folder" markers
//! (`photos/2024/`, made by consoles, GUI clients and `put-object --key
//! dir/`) would be refused. [`EmbeddedStore`] stores the object `P/` as the
//! file `P/.s3seal-folder`, mapping keys on the way in and listed keys on
//! the way out. A client key whose last segment is `.s3seal-folder` is
//! refused (it would alias a marker). Listings put a marker where its file
//! sorts, which differs from S3's order only against sibling keys starting
//! with one of `` !"#$%&'()*+,-``.
//!
//! **Versioning answers.** `s3s-fs` has no versioning and does not
//! implement its read operations. The store answers them as S3 does for a
//! bucket that was never versioned: `GetBucketVersioning` with no status,
//! and `ListObjectVersions` with every object once, as its `null` version,
//! latest, and no delete markers. Enabling versioning stays refused
//! (`NotImplemented`).

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

/// The file a folder marker is stored in, inside its directory.
pub const MARKER_FILE: &str = ".s3seal-folder";

/// `s3s-fs` (or any store) with folder-marker keys mapped to files and
/// versioning answered as never enabled.
#[derive(Debug)]
pub struct EmbeddedStore<T> {
    inner: T,
}

impl<T> EmbeddedStore<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self { inner }
    }
}

/// A client key as stored.
fn to_store(key: &str) -> S3Result<String> {
    if key.rsplit('/').next() == Some(MARKER_FILE) {
        return Err(s3_error!(
            InvalidArgument,
            "object keys whose last segment is {MARKER_FILE} are reserved by the embedded store"
        ));
    }
    Ok(if key.ends_with('/') { format!("{key}{MARKER_FILE}") } else { key.to_string() })
}

/// A stored key as clients see it.
fn from_store(key: &str) -> String {
    match key.strip_suffix(MARKER_FILE) {
        Some(folder) if folder.ends_with('/') => folder.to_string(),
        _ => key.to_string(),
    }
}

fn map_key(key: &mut String) -> S3Result<()> {
    *key = to_store(key)?;
    Ok(())
}

/// A listing start (`start-after`, `marker`): a folder marker's own key
/// is excluded, like S3 does, by starting after its stored name.
fn map_start(start: &mut Option<String>) {
    if let Some(s) = start.as_mut()
        && s.ends_with('/')
    {
        s.push_str(MARKER_FILE);
    }
}

fn map_source(source: &mut CopySource) -> S3Result<()> {
    if let CopySource::Bucket { key, .. } = source {
        *key = to_store(key)?.into_boxed_str();
    }
    Ok(())
}

fn unmap_contents(contents: &mut Option<Vec<Object>>) {
    for o in contents.iter_mut().flatten() {
        if let Some(k) = o.key.as_mut() {
            *k = from_store(k);
        }
    }
}

/// The `S3` implementation: the operations `s3s-fs` implements, each
/// forwarded as is (`forward`) or with its key mapped (`keyed`, and
/// `out_key` mapped back in the output), plus the hand-written ones. One
/// macro emits the whole impl so that `async_trait` sees every method.
macro_rules! embedded_store_impl {
    (
        forward { $($fop:ident: $finput:ident => $foutput:ident;)* }
        keyed { $($kop:ident: $kinput:ident => $koutput:ident $(, out_key: $out:ident)?;)* }
    ) => {
        #[async_trait::async_trait]
        impl<T: S3> S3 for EmbeddedStore<T> {
            $(
                async fn $fop(&self, req: S3Request<$finput>) -> S3Result<S3Response<$foutput>> {
                    self.inner.$fop(req).await
                }
            )*

            $(
                async fn $kop(&self, mut req: S3Request<$kinput>) -> S3Result<S3Response<$koutput>> {
                    map_key(&mut req.input.key)?;
                    #[allow(unused_mut)]
                    let mut resp = self.inner.$kop(req).await?;
                    $(
                        if let Some(k) = resp.output.$out.as_mut() {
                            *k = from_store(k);
                        }
                    )?
                    Ok(resp)
                }
            )*

            async fn copy_object(&self, mut req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
                map_key(&mut req.input.key)?;
                map_source(&mut req.input.copy_source)?;
                self.inner.copy_object(req).await
            }

            async fn upload_part_copy(
                &self,
                mut req: S3Request<UploadPartCopyInput>,
            ) -> S3Result<S3Response<UploadPartCopyOutput>> {
                map_key(&mut req.input.key)?;
                map_source(&mut req.input.copy_source)?;
                self.inner.upload_part_copy(req).await
            }

            async fn delete_objects(
                &self,
                mut req: S3Request<DeleteObjectsInput>,
            ) -> S3Result<S3Response<DeleteObjectsOutput>> {
                for o in &mut req.input.delete.objects {
                    map_key(&mut o.key)?;
                }
                let mut resp = self.inner.delete_objects(req).await?;
                for d in resp.output.deleted.iter_mut().flatten() {
                    if let Some(k) = d.key.as_mut() {
                        *k = from_store(k);
                    }
                }
                for e in resp.output.errors.iter_mut().flatten() {
                    if let Some(k) = e.key.as_mut() {
                        *k = from_store(k);
                    }
                }
                Ok(resp)
            }

            async fn list_objects(&self, mut req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
                map_start(&mut req.input.marker);
                let mut resp = self.inner.list_objects(req).await?;
                unmap_contents(&mut resp.output.contents);
                if let Some(m) = resp.output.next_marker.as_mut() {
                    *m = from_store(m);
                }
                if let Some(m) = resp.output.marker.as_mut() {
                    *m = from_store(m);
                }
                Ok(resp)
            }

            async fn get_bucket_versioning(
                &self,
                req: S3Request<GetBucketVersioningInput>,
            ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
                let mut head = HeadBucketInput::builder();
                head.set_bucket(req.input.bucket.clone());
                let head = head.build().map_err(|e| s3_error!(InternalError, "{e}"))?;
                self.inner.head_bucket(req.map_input(|_| head)).await?;
                Ok(S3Response::new(GetBucketVersioningOutput::default()))
            }

            async fn list_object_versions(
                &self,
                req: S3Request<ListObjectVersionsInput>,
            ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
                let v = &req.input;
                let version_id_marker = v.version_id_marker.clone();
                let (bucket, prefix, delimiter, key_marker, max_keys, encoding_type) = (
                    v.bucket.clone(),
                    v.prefix.clone(),
                    v.delimiter.clone(),
                    v.key_marker.clone(),
                    v.max_keys,
                    v.encoding_type.clone(),
                );
                let mut list = ListObjectsV2Input::builder();
                list.set_bucket(bucket.clone());
                list.set_prefix(prefix.clone());
                list.set_delimiter(delimiter.clone());
                list.set_start_after(key_marker.clone());
                list.set_max_keys(max_keys);
                list.set_encoding_type(encoding_type.clone());
                let list = list.build().map_err(|e| s3_error!(InternalError, "{e}"))?;
                let listed = self.list_objects_v2(req.map_input(|_| list)).await?.output;
                let versions: Vec<ObjectVersion> = listed
                    .contents
                    .into_iter()
                    .flatten()
                    .map(|o| ObjectVersion {
                        e_tag: o.e_tag,
                        is_latest: Some(true),
                        key: o.key,
                        last_modified: o.last_modified,
                        owner: o.owner,
                        size: o.size,
                        version_id: Some("null".to_string()),
                        ..Default::default()
                    })
                    .collect();
                let truncated = listed.is_truncated.unwrap_or(false);
                let output = ListObjectVersionsOutput {
                    common_prefixes: listed.common_prefixes,
                    delimiter,
                    encoding_type,
                    is_truncated: Some(truncated),
                    key_marker,
                    max_keys: listed.max_keys,
                    name: Some(bucket),
                    next_key_marker: if truncated {
                        listed.next_continuation_token.as_deref().map(from_store)
                    } else {
                        None
                    },
                    next_version_id_marker: truncated.then(|| "null".to_string()),
                    prefix,
                    version_id_marker,
                    versions: (!versions.is_empty()).then_some(versions),
                    ..Default::default()
                };
                Ok(S3Response::new(output))
            }

            async fn list_objects_v2(
                &self,
                mut req: S3Request<ListObjectsV2Input>,
            ) -> S3Result<S3Response<ListObjectsV2Output>> {
                map_start(&mut req.input.start_after);
                let mut resp = self.inner.list_objects_v2(req).await?;
                unmap_contents(&mut resp.output.contents);
                if let Some(s) = resp.output.start_after.as_mut() {
                    *s = from_store(s);
                }
                Ok(resp)
            }
        }
    };
}

embedded_store_impl! {
    forward {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
    }
    keyed {
        put_object: PutObjectInput => PutObjectOutput;
        get_object: GetObjectInput => GetObjectOutput;
        head_object: HeadObjectInput => HeadObjectOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput, out_key: key;
        upload_part: UploadPartInput => UploadPartOutput;
        list_parts: ListPartsInput => ListPartsOutput, out_key: key;
        complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput, out_key: key;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_both_ways() {
        for (client, stored) in [
            ("a/b/", "a/b/.s3seal-folder"),
            ("/", "/.s3seal-folder"),
            ("a/b", "a/b"),
            ("a/.s3seal-folder-not", "a/.s3seal-folder-not"),
            ("x.s3seal-folder", "x.s3seal-folder"),
        ] {
            assert_eq!(to_store(client).unwrap(), stored);
            assert_eq!(from_store(stored), client);
        }
        assert!(to_store(".s3seal-folder").is_err());
        assert!(to_store("a/.s3seal-folder").is_err());
        let mut start = Some("a/".to_string());
        map_start(&mut start);
        assert_eq!(start.as_deref(), Some("a/.s3seal-folder"));
        let mut start = Some("a".to_string());
        map_start(&mut start);
        assert_eq!(start.as_deref(), Some("a"));
    }
}
