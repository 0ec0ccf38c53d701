//! Content encryption of S3 Encryption Client objects: opening the content
//! key (policy, context and commitment checks), authenticating a stored
//! object before any plaintext leaves, and sealing new V3 objects.

use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, ReadBuf};
use zeroize::Zeroizing;

use crate::crypto::gcm_stream::{GcmAuthenticator, GcmKeystream, IV_LEN, MAX_TEXT_LEN, TAG_LEN};
use crate::error::{Error, Result};

/// The key and parameters that decrypt one object's content.
pub struct ContentKey {
    pub(crate) key: Zeroizing<Vec<u8>>,
    pub(crate) iv: [u8; IV_LEN],
    pub(crate) aad: Vec<u8>,
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey")
    }
}

impl ContentKey {
    fn keystream(&self, offset: u64) -> Result<GcmKeystream> {
        GcmKeystream::new(&self.key, &self.iv, offset)
    }

    fn authenticator(&self) -> Result<GcmAuthenticator> {
        GcmAuthenticator::new(&self.key, &self.iv, &self.aad)
    }
}

/// How much of an object may be held while it is authenticated.
#[derive(Debug, Clone)]
pub struct SpoolLimits {
    /// Objects up to this many bytes are authenticated in memory.
    pub memory: u64,
    /// Larger objects go through an unnamed temporary file (ciphertext
    /// only) when true; they are refused when false.
    pub temp_file: bool,
    /// Directory of the temporary files (the system default if `None`).
    pub temp_dir: Option<std::path::PathBuf>,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        Self { memory: 64 * 1024 * 1024, temp_file: true, temp_dir: None }
    }
}

enum Spool {
    Memory(Vec<u8>),
    File(tokio::fs::File),
}

/// An object whose ciphertext was authenticated in full.
pub(crate) struct Authenticated {
    spool: Spool,
    len: u64,
    key: ContentKey,
}

impl std::fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match self.spool {
            Spool::Memory(_) => "memory",
            Spool::File(_) => "temporary file",
        };
        f.debug_struct("Authenticated").field("len", &self.len).field("spool", &place).finish()
    }
}

const READ_CHUNK: usize = crate::tuning::IO_CHUNK;

/// Reads a whole stored object (`stored_len` bytes: ciphertext then tag)
/// from `body`, authenticating it as it arrives. Nothing is decrypted
/// here; the result hands out plaintext only because the tag verified.
pub(crate) async fn authenticate<R: AsyncRead + Unpin>(
    mut body: R,
    stored_len: u64,
    key: ContentKey,
    limits: &SpoolLimits,
) -> Result<Authenticated> {
    let len = stored_len.checked_sub(TAG_LEN as u64).ok_or(Error::Truncated("the object is shorter than its tag"))?;
    if len > MAX_TEXT_LEN {
        return Err(Error::malformed("the object is larger than one AES-GCM message can be"));
    }
    let mut spool = if len <= limits.memory {
        Spool::Memory(Vec::with_capacity(usize::try_from(len).map_err(|_| Error::malformed("object size"))?))
    } else if limits.temp_file {
        let dir = limits.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let file = tokio::task::spawn_blocking(move || tempfile::tempfile_in(dir))
            .await
            .map_err(|_| Error::io_other("temporary file task failed"))??;
        Spool::File(tokio::fs::File::from_std(file))
    } else {
        return Err(Error::UnsupportedS3ec(format!(
            "the object has {len} bytes of content, more than the {} bytes that may be held in memory to authenticate it, and temporary files are disabled",
            limits.memory
        )));
    };
    let mut auth = key.authenticator()?;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut tag = Vec::with_capacity(TAG_LEN);
    let mut seen = 0u64;
    loop {
        let n = body.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        // The bytes past `len` are the tag.
        let content = usize::try_from(len.saturating_sub(seen)).unwrap_or(usize::MAX).min(n);
        let (c, t) = chunk.split_at(content);
        auth.update(c)?;
        match &mut spool {
            Spool::Memory(v) => v.extend_from_slice(c),
            Spool::File(f) => f.write_all(c).await?,
        }
        if tag.len() + t.len() > TAG_LEN {
            return Err(Error::malformed("the object is longer than its stated length"));
        }
        tag.extend_from_slice(t);
        seen += n as u64;
    }
    if seen != stored_len {
        return Err(Error::Truncated("the object ended before its stated length"));
    }
    auth.verify(&tag)?;
    if let Spool::File(f) = &mut spool {
        f.flush().await?;
    }
    Ok(Authenticated { spool, len, key })
}

impl Authenticated {
    /// Plaintext length.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The plaintext bytes `first ..= last` (or none, for an empty range
    /// of an empty object: `count = 0`), as a reader.
    pub(crate) async fn into_reader(self, first: u64, count: u64) -> Result<Pin<Box<dyn AsyncRead + Send>>> {
        if first.checked_add(count).is_none_or(|end| end > self.len) {
            return Err(Error::InvalidRange { length: self.len });
        }
        match self.spool {
            Spool::Memory(mut v) => {
                let a = usize::try_from(first).map_err(|_| Error::InvalidRange { length: self.len })?;
                let n = usize::try_from(count).map_err(|_| Error::InvalidRange { length: self.len })?;
                v.truncate(a + n);
                v.drain(..a);
                self.key.keystream(first)?.apply(&mut v)?;
                Ok(Box::pin(io::Cursor::new(v)))
            }
            Spool::File(mut f) => {
                f.seek(SeekFrom::Start(first)).await?;
                Ok(Box::pin(KeystreamReader {
                    inner: f,
                    keystream: self.key.keystream(first)?,
                    remaining: count,
                    scratch: Vec::new(),
                }))
            }
        }
    }
}

/// Applies the content keystream to what `inner` yields.
struct KeystreamReader<R> {
    inner: R,
    keystream: GcmKeystream,
    remaining: u64,
    scratch: Vec<u8>,
}

impl<R: AsyncRead + Unpin> AsyncRead for KeystreamReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.remaining == 0 || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let want = usize::try_from(this.remaining).unwrap_or(usize::MAX).min(buf.remaining()).min(READ_CHUNK);
        this.scratch.resize(want, 0);
        let mut rb = ReadBuf::new(&mut this.scratch[..want]);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the object ended early")));
        }
        let chunk = &mut this.scratch[..n];
        this.keystream.apply(chunk).map_err(io::Error::other)?;
        buf.put_slice(chunk);
        this.remaining -= n as u64;
        Poll::Ready(Ok(()))
    }
}

/// **Unauthenticated** decryption of `count` content bytes starting at
/// `offset`, read from `ciphertext` (which must start at that offset):
/// AES-CTR without the GCM tag, so a modified byte goes undetected. Only
/// for callers that opted in to unauthenticated ranged reads.
pub(crate) fn unauthenticated_range_reader(
    key: &ContentKey,
    offset: u64,
    count: u64,
    ciphertext: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<Pin<Box<dyn AsyncRead + Send>>> {
    Ok(Box::pin(KeystreamReader {
        inner: ciphertext,
        keystream: key.keystream(offset)?,
        remaining: count,
        scratch: Vec::new(),
    }))
}
