//! Listings (ListObjects, ListObjectsV2, ListObjectVersions) made by the
//! store itself: every key of the bucket, sorted by its UTF-8 bytes as S3
//! sorts them, then prefix, start (`marker`, `start-after`, continuation
//! token, `key-marker`), delimiter and page size applied as S3 applies
//! them. Listed ETags and sizes are those HEAD gives.

use s3s::dto::*;
use s3s::{S3Result, s3_error};

use super::disk::{self, Disk};
use super::file::{self, internal};
use super::keys;

/// S3's largest and default page.
const MAX_PAGE: i32 = 1000;

/// One page: keys and common prefixes, in order; `next` is the last item,
/// where the next page starts when `truncated`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub keys: Vec<String>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    pub next: Option<String>,
}

/// The page of sorted `keys` under `prefix`, after `after`, grouped by
/// `delimiter`, of at most `max` items. A common prefix equal to `after`
/// was the last item of the previous page and is not repeated.
pub(crate) fn page(keys: &[String], prefix: &str, delimiter: Option<&str>, after: Option<&str>, max: usize) -> Page {
    let mut out = Page::default();
    let mut count = 0;
    for key in keys.iter().filter(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a)) {
        let group = delimiter
            .filter(|d| !d.is_empty())
            .and_then(|d| key[prefix.len()..].find(d).map(|i| &key[..prefix.len() + i + d.len()]));
        if let Some(g) = group
            && (Some(g) == after || out.prefixes.last().is_some_and(|p| p == g))
        {
            continue;
        }
        if count == max {
            out.truncated = max > 0;
            break;
        }
        count += 1;
        let item = group.unwrap_or(key).to_string();
        out.next = Some(item.clone());
        match group {
            Some(_) => out.prefixes.push(item),
            None => out.keys.push(item),
        }
    }
    if !out.truncated {
        out.next = None;
    }
    out
}

/// A page of `bucket` with each key's description.
pub(crate) struct Listed {
    pub objects: Vec<Object>,
    pub page: Page,
}

/// Lists `bucket` (`max_keys` as the client gave it).
pub(crate) async fn list(
    disk: &Disk,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max_keys: Option<i32>,
) -> S3Result<Listed> {
    let dir = disk.existing_bucket(bucket).await?;
    let (walk_dir, walk_prefix) = (dir.clone(), prefix.to_string());
    let mut all = tokio::task::spawn_blocking(move || disk::keys_under(&walk_dir, &walk_prefix))
        .await
        .map_err(|e| internal("listing failed", e))?
        .map_err(|e| internal("cannot list a bucket", e))?;
    all.sort_unstable();
    let max = usize::try_from(max_keys.unwrap_or(MAX_PAGE).clamp(0, MAX_PAGE)).unwrap_or(0);
    let page = page(&all, prefix, delimiter, after, max);
    let mut objects = Vec::with_capacity(page.keys.len());
    for key in &page.keys {
        let Ok(stored) = keys::encode(key) else { continue };
        // Deleted since the walk: not listed.
        let Some(meta) = file::meta(&dir.join(stored.object())).await? else { continue };
        objects.push(Object {
            key: Some(key.clone()),
            size: i64::try_from(meta.size).ok(),
            e_tag: Some(ETag::Strong(meta.etag)),
            last_modified: Some(super::objects::timestamp(meta.modified_ms)),
            storage_class: Some(meta.storage_class.map_or_else(
                || ObjectStorageClass::from_static(ObjectStorageClass::STANDARD),
                ObjectStorageClass::from,
            )),
            ..Default::default()
        });
    }
    Ok(Listed { objects, page })
}

/// Whether listed names are to be URL-encoded (`encoding-type=url`).
pub(crate) fn url_encoded(e: Option<&EncodingType>) -> bool {
    e.is_some_and(|e| e.as_str() == EncodingType::URL)
}

/// A name as listed: percent-encoded (all but unreserved characters and
/// `/`) when the client asked for `encoding-type=url`.
pub(crate) fn shown(name: &str, encode: bool) -> String {
    if !encode {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The common prefixes of a page, as listed.
pub(crate) fn common_prefixes(page: &Page, encode: bool) -> Option<Vec<CommonPrefix>> {
    let v: Vec<CommonPrefix> = page.prefixes.iter().map(|p| CommonPrefix { prefix: Some(shown(p, encode)) }).collect();
    (!v.is_empty()).then_some(v)
}

/// A continuation token: the hex of where the next page starts.
pub(crate) fn token(next: &str) -> String {
    hex::encode(next)
}

pub(crate) fn from_token(token: &str) -> S3Result<String> {
    hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn pages_like_s3() {
        let all = keys(&["a", "b/1", "b/2", "b/", "c", "d/x/y", "é"]);
        let p = page(&all, "", Some("/"), None, 1000);
        assert_eq!(p.keys, ["a", "c", "é"]);
        assert_eq!(p.prefixes, ["b/", "d/"]);
        assert!(!p.truncated && p.next.is_none());

        // Pages of two, each starting after the last item of the previous.
        let mut after: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let p = page(&all, "", Some("/"), after.as_deref(), 2);
            seen.extend(p.keys.iter().chain(&p.prefixes).cloned());
            if !p.truncated {
                break;
            }
            after = p.next;
        }
        seen.sort();
        assert_eq!(seen, ["a", "b/", "c", "d/", "é"]);

        let p = page(&all, "b/", Some("/"), None, 1000);
        assert_eq!(p.keys, ["b/", "b/1", "b/2"]);
        let p = page(&all, "b/", None, Some("b/"), 1000);
        assert_eq!(p.keys, ["b/1", "b/2"]);
        let p = page(&all, "", None, None, 0);
        assert!(p.keys.is_empty() && !p.truncated);
        // Multi-character delimiter.
        let p = page(&keys(&["x--y", "x--z", "x-y"]), "", Some("--"), None, 1000);
        assert_eq!((p.keys, p.prefixes), (vec!["x-y".to_string()], vec!["x--".to_string()]));
    }

    #[test]
    fn names_and_tokens() {
        assert_eq!(shown("a+b c%/ü", true), "a%2Bb%20c%25/%C3%BC");
        assert_eq!(shown("a+b", false), "a+b");
        assert_eq!(from_token(&token("ü/x")).unwrap(), "ü/x");
        assert!(from_token("zz").is_err());
    }
}
