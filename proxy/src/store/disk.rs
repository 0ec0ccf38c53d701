//! The store's directory: one directory per bucket, objects inside at
//! their encoded paths ([`super::keys`]), and two directories whose names
//! no bucket can have: `.tmp` (files being written) and `.uploads`
//! (multipart uploads in progress).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use s3s::{S3Result, s3_error};
use tokio::sync::{Mutex, MutexGuard};

use super::file::{self, Meta, internal};
use super::keys::{self, KeyError, StoredKey};

/// Files being written.
pub(crate) const TMP_DIR: &str = ".tmp";
/// Multipart uploads in progress.
pub(crate) const UPLOADS_DIR: &str = ".uploads";
/// Writers of one key serialise on one of these locks (by a hash of the
/// bucket and key), so that a condition checked holds when the write lands.
const LOCKS: usize = 64;

/// The store's root directory.
#[derive(Debug, Clone)]
pub(crate) struct Disk {
    root: PathBuf,
    locks: Arc<Vec<Mutex<()>>>,
}

/// An object's place: its bucket's directory and its encoded path.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub bucket_dir: PathBuf,
    pub stored: StoredKey,
}

impl Place {
    pub fn object(&self) -> PathBuf {
        self.bucket_dir.join(self.stored.object())
    }

    pub fn tags(&self) -> PathBuf {
        self.bucket_dir.join(self.stored.tags())
    }
}

/// Whether `name` is a bucket name S3 accepts (lower-case letters, digits,
/// `.` and `-`; 3 to 63 characters; a letter or digit at both ends; no
/// `..`): the only names the store turns into directories.
pub(crate) fn valid_bucket(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.contains("..")
}

/// A key as S3 refuses it.
pub(crate) fn key_error(e: KeyError) -> s3s::S3Error {
    match e {
        KeyError::TooLong(_) => s3_error!(KeyTooLongError, "{e}"),
        KeyError::Empty => s3_error!(InvalidArgument, "{e}"),
    }
}

impl Disk {
    /// The store over `root`, which must exist; leftovers of interrupted
    /// writes are removed.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let tmp = root.join(TMP_DIR);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(root.join(UPLOADS_DIR))?;
        Ok(Self { root: root.to_path_buf(), locks: Arc::new((0..LOCKS).map(|_| Mutex::new(())).collect()) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    pub fn uploads(&self) -> PathBuf {
        self.root.join(UPLOADS_DIR)
    }

    /// The directory of `bucket`, whether or not it exists.
    pub fn bucket_dir(&self, bucket: &str) -> S3Result<PathBuf> {
        if !valid_bucket(bucket) {
            return Err(s3_error!(InvalidBucketName));
        }
        Ok(self.root.join(bucket))
    }

    /// The directory of `bucket`, which must exist.
    pub async fn existing_bucket(&self, bucket: &str) -> S3Result<PathBuf> {
        let dir = self.bucket_dir(bucket).map_err(|_| s3_error!(NoSuchBucket))?;
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => Ok(dir),
            Ok(_) => Err(s3_error!(NoSuchBucket)),
            Err(e) if file::is_missing(&e) => Err(s3_error!(NoSuchBucket)),
            Err(e) => Err(internal("cannot read a bucket", e)),
        }
    }

    /// Where `key` of the existing `bucket` is kept.
    pub async fn place(&self, bucket: &str, key: &str) -> S3Result<Place> {
        let bucket_dir = self.existing_bucket(bucket).await?;
        let stored = keys::encode(key).map_err(key_error)?;
        Ok(Place { bucket_dir, stored })
    }

    /// The current object at `place`, if any.
    pub async fn current(&self, place: &Place) -> S3Result<Option<Meta>> {
        file::meta(&place.object()).await
    }

    /// Serialises writers of `bucket`/`key`.
    pub async fn lock(&self, bucket: &str, key: &str) -> MutexGuard<'_, ()> {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut h);
        let i = usize::try_from(h.finish() % LOCKS as u64).unwrap_or(0);
        self.locks[i].lock().await
    }

    /// Removes the object at `place` (and its tags), then the directories
    /// it leaves empty. Whether there was an object.
    pub async fn remove(&self, place: &Place) -> S3Result<bool> {
        let _ = tokio::fs::remove_file(place.tags()).await;
        let existed = match tokio::fs::remove_file(place.object()).await {
            Ok(()) => true,
            Err(e) if file::is_missing(&e) => false,
            Err(e) => return Err(internal("cannot delete an object", e)),
        };
        let mut dir = place.object().parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if d == place.bucket_dir || tokio::fs::remove_dir(&d).await.is_err() {
                break;
            }
            dir = d.parent().map(Path::to_path_buf);
        }
        Ok(existed)
    }
}

/// Every object key stored in `bucket_dir` that may start with `prefix`,
/// unsorted (blocking: call it off the runtime). The walk starts at the
/// directory of the prefix's whole segments; files that are not the
/// encoding of a key are skipped, as are directories removed meanwhile.
pub(crate) fn keys_under(bucket_dir: &Path, prefix: &str) -> std::io::Result<Vec<String>> {
    let start = keys::prefix_dirs(prefix);
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> =
        vec![(start.iter().fold(bucket_dir.to_path_buf(), |p, c| p.join(c)), start)];
    while let Some((dir, components)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if file::is_missing(&e) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else { continue };
            let Ok(kind) = entry.file_type() else { continue };
            let mut path = components.clone();
            path.push(name);
            if kind.is_dir() {
                stack.push((entry.path(), path));
            } else if kind.is_file()
                && let Some(key) = keys::decode(&path)
            {
                out.push(key);
            }
        }
    }
    Ok(out)
}

/// Whether `dir` holds any file at all (blocking): an object, its tags,
/// or a file the store does not know (written by an earlier layout, which
/// a bucket deletion must not destroy unseen). Deletes prune the
/// directories they empty, so a bucket without objects holds no file.
pub(crate) fn holds_files(dir: &Path) -> std::io::Result<bool> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket", "a.b.c", "0ab"] {
            assert!(valid_bucket(ok), "{ok}");
        }
        for bad in ["", "ab", ".tmp", ".uploads", "..", "a..b", "Abc", "ab/c", "abc-", &"a".repeat(64)] {
            assert!(!valid_bucket(bad), "{bad}");
        }
    }
}
