//! Listings: forwarded, with the envelope sidecars hidden and sizes and
//! ETags shown as for the plaintext (sizes by the format's arithmetic).

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use s3seal::object::plaintext_len;

use super::etag::rewrite_etag;
use super::service::EncryptingS3;

pub(super) async fn list_objects(
    s3: &EncryptingS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let mut req = req;
    no_empty_delimiter(&mut req.input.delimiter);
    s3.forward.list_objects(req).await.map(|mut resp| {
        show_plaintext(s3, &mut resp.output.contents, &mut resp.output.common_prefixes);
        resp
    })
}

pub(super) async fn list_objects_v2(
    s3: &EncryptingS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let mut req = req;
    no_empty_delimiter(&mut req.input.delimiter);
    s3.forward.list_objects_v2(req).await.map(|mut resp| {
        let before = resp.output.contents.as_ref().map_or(0, Vec::len)
            + resp.output.common_prefixes.as_ref().map_or(0, Vec::len);
        show_plaintext(s3, &mut resp.output.contents, &mut resp.output.common_prefixes);
        let after = resp.output.contents.as_ref().map_or(0, Vec::len)
            + resp.output.common_prefixes.as_ref().map_or(0, Vec::len);
        if let Some(n) = resp.output.key_count.as_mut() {
            *n -= i32::try_from(before - after).unwrap_or(0);
        }
        resp
    })
}

pub(super) async fn list_object_versions(
    s3: &EncryptingS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    s3.forward.list_object_versions(req).await.map(|mut resp| {
        show_plaintext(s3, &mut resp.output.versions, &mut resp.output.common_prefixes);
        resp
    })
}

/// An entry of a listing: an object or an object version.
trait Listed {
    fn key(&self) -> Option<&str>;
    fn size_and_etag(&mut self) -> (&mut Option<i64>, &mut Option<ETag>);
}

macro_rules! listed {
    ($($entry:ty),*) => {
        $(
            impl Listed for $entry {
                fn key(&self) -> Option<&str> {
                    self.key.as_deref()
                }

                fn size_and_etag(&mut self) -> (&mut Option<i64>, &mut Option<ETag>) {
                    (&mut self.size, &mut self.e_tag)
                }
            }
        )*
    };
}

listed!(Object, ObjectVersion);

/// A listing as clients see it: the sidecars hidden, each entry with its
/// plaintext size and its ETag as shown.
fn show_plaintext<T: Listed>(s3: &EncryptingS3, items: &mut Option<Vec<T>>, prefixes: &mut Option<Vec<CommonPrefix>>) {
    hide_sidecars(items, prefixes, T::key);
    for o in items.iter_mut().flatten() {
        let (size, e_tag) = o.size_and_etag();
        plaintext_size(s3.frame_length, size);
        rewrite_etag(e_tag);
    }
}

/// A stored object's size rewritten to its plaintext's size.
fn plaintext_size(frame_length: u32, size: &mut Option<i64>) {
    if let Some(s) = size.and_then(|s| u64::try_from(s).ok())
        && let Ok(p) = plaintext_len(s, u64::from(frame_length))
    {
        *size = i64::try_from(p).ok();
    }
}

/// Drops s3seal's own objects from a listing (everything under `.s3seal/`:
/// envelope sidecars, written for envelopes over S3's metadata limit, and
/// the final records of multipart objects), and the `.s3seal/` common
/// prefix.
fn hide_sidecars<T>(
    items: &mut Option<Vec<T>>,
    prefixes: &mut Option<Vec<CommonPrefix>>,
    key: impl Fn(&T) -> Option<&str>,
) {
    let ours = s3seal::s3::RESERVED_PREFIX;
    if let Some(v) = items.as_mut() {
        v.retain(|o| !key(o).is_some_and(|k| k.starts_with(ours)));
    }
    if let Some(v) = prefixes.as_mut() {
        v.retain(|p| !p.prefix.as_deref().is_some_and(|p| p.starts_with(ours)));
    }
}

/// S3 treats an empty `delimiter` (`delimiter=`, as rclone sends for a
/// recursive listing) as no delimiter; not every upstream does.
fn no_empty_delimiter(d: &mut Option<String>) {
    if d.as_deref() == Some("") {
        *d = None;
    }
}
