//! One stored object (or multipart part) is one file: its body, then its
//! description as JSON, the JSON's length (4 bytes, big-endian) and
//! [`MAGIC`]. Body and description are written to a temporary file and
//! renamed into place together, so a reader sees a whole object or none.

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use s3s::dto::StreamingBlob;
use s3s::{S3Error, S3Result, s3_error};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

/// The last bytes of every stored file.
const MAGIC: &[u8; 8] = b"s3seal\x00\x01";
/// The largest description read back.
const MAX_DESCRIPTION: u32 = 16 << 20;

/// The headers kept with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Headers {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    #[serde(default)]
    pub expires: Option<s3s::dto::Timestamp>,
    #[serde(default)]
    pub website_redirect_location: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// The [`Headers`] of a request (PutObject, CreateMultipartUpload,
/// CopyObject replacing them), taken from its input.
macro_rules! headers_of {
    ($input:expr) => {
        $crate::store::file::Headers {
            content_type: $input.content_type,
            cache_control: $input.cache_control,
            content_disposition: $input.content_disposition,
            content_encoding: $input.content_encoding,
            content_language: $input.content_language,
            expires: $input.expires,
            website_redirect_location: $input.website_redirect_location,
            metadata: $input.metadata.unwrap_or_default().into_iter().collect(),
        }
    };
}
pub(crate) use headers_of;

/// What a stored file describes of itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// The ETag without quotes: the body's MD5, or `MD5-N` of a multipart
    /// upload's part MD5s.
    pub etag: String,
    /// Body bytes.
    pub size: u64,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: i64,
    /// Random, new with every write: ties the tag file to this object.
    pub generation: String,
    pub headers: Headers,
    /// The storage class, when not `STANDARD`.
    #[serde(default)]
    pub storage_class: Option<String>,
}

/// An I/O failure, as S3 reports it.
pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    tracing::warn!(error = %e, "embedded store: {what}");
    s3_error!(InternalError, "embedded store: {what}")
}

/// `n` random bytes as lower-case hex.
pub(crate) fn random_hex(n: usize) -> S3Result<String> {
    let mut b = vec![0u8; n];
    s3seal::hazmat::random::fill(&mut b).map_err(|e| internal("no random bytes", e))?;
    Ok(hex::encode(b))
}

pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// A file being written in the temporary directory; removed when dropped
/// unless it was renamed into place.
#[derive(Debug)]
pub(crate) struct NewFile {
    path: PathBuf,
    file: tokio::fs::File,
    md5: Md5,
    size: u64,
    done: bool,
}

impl NewFile {
    pub async fn create(dir: &Path) -> S3Result<Self> {
        let path = dir.join(random_hex(16)?);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| internal("cannot create a temporary file", e))?;
        Ok(Self { path, file, md5: Md5::new(), size: 0, done: false })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> S3Result<()> {
        self.md5.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await.map_err(|e| internal("cannot write", e))
    }

    /// Writes all of `body`.
    pub async fn write_body(&mut self, body: Option<StreamingBlob>) -> S3Result<()> {
        if let Some(mut body) = body {
            while let Some(chunk) = body.next().await {
                let chunk: Bytes = chunk.map_err(|e| s3_error!(IncompleteBody, "the body could not be read: {e}"))?;
                self.write(&chunk).await?;
            }
        }
        Ok(())
    }

    /// Copies the body of the stored file `from`.
    pub async fn copy_from(&mut self, from: &Path) -> S3Result<()> {
        let (meta, file) = open(from).await?.ok_or_else(|| s3_error!(InternalError, "a stored file vanished"))?;
        self.copy_body(file, meta.size).await
    }

    /// Copies `size` bytes of `file`, an open stored file (positioned at
    /// its body: one version of an object, however often it is replaced
    /// meanwhile).
    pub async fn copy_body(&mut self, mut file: tokio::fs::File, size: u64) -> S3Result<()> {
        let mut left = size;
        let mut buf = vec![0u8; s3seal::tuning::IO_CHUNK];
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            file.read_exact(&mut buf[..n]).await.map_err(|e| internal("cannot read a stored file", e))?;
            self.write(&buf[..n]).await?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Body bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The MD5 of the body written.
    pub fn md5(&self) -> [u8; 16] {
        self.md5.clone().finalize().into()
    }

    /// Appends the description (its size is the body's) and flushes.
    pub async fn finish(&mut self, meta: &mut Meta) -> S3Result<()> {
        meta.size = self.size;
        let json = serde_json::to_vec(meta).map_err(|e| internal("cannot describe an object", e))?;
        let len = u32::try_from(json.len()).map_err(|_| s3_error!(MetadataTooLarge))?;
        let mut tail = json;
        tail.extend_from_slice(&len.to_be_bytes());
        tail.extend_from_slice(MAGIC);
        self.file.write_all(&tail).await.map_err(|e| internal("cannot write", e))?;
        self.file.sync_all().await.map_err(|e| internal("cannot write", e))
    }

    /// Renames the file to `to` (creating its directories), replacing
    /// what was there.
    pub async fn commit(mut self, to: &Path) -> S3Result<()> {
        let mut tries = 0;
        loop {
            if let Some(parent) = to.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(|e| internal("cannot create a directory", e))?;
            }
            match tokio::fs::rename(&self.path, to).await {
                Ok(()) => {
                    self.done = true;
                    return Ok(());
                }
                // A delete pruned the (then empty) directory meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => tries += 1,
                Err(e) => return Err(internal("cannot store an object", e)),
            }
        }
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The description of the stored file at `path` and the file, positioned
/// at the body's start; `None` if there is no such file.
pub(crate) async fn open(path: &Path) -> S3Result<Option<(Meta, tokio::fs::File)>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(internal("cannot open a stored file", e)),
    };
    let meta = read_meta(&mut file).await.map_err(|e| internal("a stored file is damaged", e))?;
    file.seek(SeekFrom::Start(0)).await.map_err(|e| internal("cannot read a stored file", e))?;
    Ok(Some((meta, file)))
}

/// The description of the stored file at `path`, if there is one.
pub(crate) async fn meta(path: &Path) -> S3Result<Option<Meta>> {
    Ok(open(path).await?.map(|(m, _)| m))
}

/// Not there: no file, or a path through a file or a too-long name.
pub(crate) fn is_missing(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), NotFound | NotADirectory | IsADirectory | InvalidFilename)
}

async fn read_meta(file: &mut tokio::fs::File) -> std::io::Result<Meta> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let total = file.metadata().await?.len();
    let tail = 12u64;
    if total < tail {
        return Err(bad("too short"));
    }
    file.seek(SeekFrom::Start(total - tail)).await?;
    let mut t = [0u8; 12];
    file.read_exact(&mut t).await?;
    if &t[4..] != MAGIC {
        return Err(bad("not a stored object"));
    }
    let len = u32::from_be_bytes([t[0], t[1], t[2], t[3]]);
    if len > MAX_DESCRIPTION || u64::from(len) > total - tail {
        return Err(bad("bad description length"));
    }
    file.seek(SeekFrom::Start(total - tail - u64::from(len))).await?;
    let mut json = vec![0u8; len as usize];
    file.read_exact(&mut json).await?;
    let meta: Meta = serde_json::from_slice(&json).map_err(|e| bad(&e.to_string()))?;
    if meta.size != total - tail - u64::from(len) {
        return Err(bad("size mismatch"));
    }
    Ok(meta)
}
