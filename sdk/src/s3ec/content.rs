//! Content encryption of S3 Encryption Client objects: opening the content
//! key (policy, context and commitment checks), authenticating a stored
//! object before any plaintext leaves, and sealing new V3 objects.

use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, ReadBuf};
use zeroize::Zeroizing;

use crate::cmm::MaterialsManager;
use crate::context::EncryptionContext;
use crate::crypto::gcm_stream::{GcmAuthenticator, GcmEncryptor, GcmKeystream, IV_LEN, MAX_TEXT_LEN, TAG_LEN};
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::s3ec::metadata::{ContentMetadata, Format, v3_metadata};
use crate::s3ec::suite::{COMMITTING_IV, ContentSuite, MESSAGE_ID_LEN, WrapAlgorithm, derive_committing_key};
use crate::suite::CommitmentPolicy;

/// The key and parameters that decrypt one object's content.
pub struct ContentKey {
    key: Zeroizing<Vec<u8>>,
    iv: [u8; IV_LEN],
    aad: Vec<u8>,
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

/// Opens the content key of an object: checks the commitment policy and
/// the caller's encryption context, unwraps the data key, and for V3
/// checks the key commitment (in constant time) before deriving the key.
///
/// `expected` is the caller's KMS encryption context: when not empty, the
/// stored context without the reserved keys must equal it.
pub async fn open_key(
    cmm: &dyn MaterialsManager,
    meta: &ContentMetadata,
    policy: CommitmentPolicy,
    expected: &EncryptionContext,
) -> Result<ContentKey> {
    if !meta.suite.is_committing() && policy == CommitmentPolicy::RequireEncryptRequireDecrypt {
        return Err(Error::S3ecCommitmentPolicy { policy, suite: meta.suite });
    }
    if meta.wrapped.algorithm == WrapAlgorithm::KmsContext && !expected.is_empty() {
        let stored = meta.wrapped.caller_context();
        if &stored != expected {
            return Err(Error::EncryptionContext(format!(
                "the object's encryption context {stored:?} differs from the expected {expected:?}"
            )));
        }
    } else if !expected.is_empty() {
        return Err(Error::EncryptionContext(format!(
            "an encryption context was given, but the object's key is wrapped with {}, which does not use one",
            meta.wrapped.algorithm
        )));
    }
    let data_key = cmm.s3ec_decrypt(&meta.wrapped).await?;
    match meta.format {
        Format::V2 => {
            Ok(ContentKey { key: Zeroizing::new(data_key.as_bytes().to_vec()), iv: meta.iv, aad: Vec::new() })
        }
        Format::V3 => {
            let (Some(message_id), Some(stored)) = (meta.message_id, meta.commitment) else {
                return Err(Error::malformed("V3 metadata without message id or commitment"));
            };
            let derived = derive_committing_key(data_key.as_bytes(), &message_id)?;
            if !bool::from(derived.commitment.ct_eq(&stored)) {
                return Err(Error::CommitmentMismatch);
            }
            Ok(ContentKey { key: derived.key, iv: COMMITTING_IV, aad: meta.suite.id().to_be_bytes().to_vec() })
        }
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
pub struct Authenticated {
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

const READ_CHUNK: usize = 256 * 1024;

/// Reads a whole stored object (`stored_len` bytes: ciphertext then tag)
/// from `body`, authenticating it as it arrives. Nothing is decrypted
/// here; the result hands out plaintext only because the tag verified.
pub async fn authenticate<R: AsyncRead + Unpin>(
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
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty object.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The plaintext bytes `first ..= last` (or none, for an empty range
    /// of an empty object: `count = 0`), as a reader.
    pub async fn into_reader(self, first: u64, count: u64) -> Result<Pin<Box<dyn AsyncRead + Send>>> {
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
pub fn unauthenticated_range_reader(
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

/// A new V3 object: its metadata and the encryptor of its content.
pub struct NewObject {
    /// The object metadata to store (`x-amz-c`, `x-amz-3`, ...).
    pub metadata: Vec<(String, String)>,
    /// Encrypts the content; its tag goes after the last byte.
    pub encryptor: GcmEncryptor,
}

impl std::fmt::Debug for NewObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewObject").field("metadata", &self.metadata).finish_non_exhaustive()
    }
}

/// Starts a V3 object: a new data key from `cmm`, a random message id,
/// the derived content key and its commitment.
pub async fn new_v3_object(cmm: &dyn MaterialsManager, context: &EncryptionContext) -> Result<NewObject> {
    let suite = ContentSuite::CommittingAesGcm;
    let (data_key, wrapped) = cmm.s3ec_encrypt(suite, context).await?;
    let message_id: [u8; MESSAGE_ID_LEN] = random::array()?;
    if message_id.iter().all(|b| *b == 0) {
        return Err(Error::Crypto("the random generator returned zeros"));
    }
    let derived = derive_committing_key(data_key.as_bytes(), &message_id)?;
    let metadata = v3_metadata(&wrapped, &message_id, &derived.commitment)?;
    let encryptor = GcmEncryptor::new(&derived.key, &COMMITTING_IV, &suite.id().to_be_bytes())?;
    Ok(NewObject { metadata, encryptor })
}
