//! The object envelope: everything needed to decrypt an object except the
//! body, stored base64-encoded in the object's metadata under
//! `x-amz-meta-s3seal-envelope`.
//!
//! Binary layout (version 1, all integers big-endian):
//!
//! ```text
//! version        u8   = 1
//! suite          u8   (1 = AES-256-GCM, 2 = ChaCha20-Poly1305)
//! flags          u8   (bit 0: multipart, parts numbered from 1;
//!                      bit 1: the last frame carries the end-of-object flag;
//!                      bit 2: a final record binds the object's length)
//! frame length   u32  plaintext bytes per frame
//! part frames    u32  frames per part other than the last, 0 if unknown
//! message id     [32]
//! context        u16 length || ESDK-serialized stored encryption context
//! EDK count      u16, then each EDK as in ESDK: u16-length-prefixed
//!                provider id, provider info, ciphertext
//! commitment     [32]
//! header tag     [16]
//! ```
//!
//! The header tag authenticates, with the object key and the header nonce,
//! `"s3seal object v1" || envelope without tag || u16 len || object key ||
//! serialized authenticated-only context` (which holds the bucket), so an
//! envelope is valid for one bucket and key only.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::codec::{Reader, put_len16};
use crate::context::{self, EncryptionContext};
use crate::crypto::aead::{AeadAlgorithm, TAG_LEN, Tag};
use crate::error::{Error, Result};
use crate::materials::EncryptedDataKey;

/// Object metadata key (without `x-amz-meta-`) holding the envelope.
pub const METADATA_KEY: &str = "s3seal-envelope";

/// Encryption context key under which the bucket is bound (authenticated,
/// not stored).
pub const BUCKET_CONTEXT_KEY: &str = "s3seal:bucket";

const VERSION: u8 = 1;
const AAD_LABEL: &[u8] = b"s3seal object v1";

/// Envelope flag: the object was written in parts numbered from 1.
pub const FLAG_MULTIPART: u8 = 1;
/// Envelope flag: the object's last frame carries the end-of-object flag.
pub const FLAG_END_MARKED: u8 = 2;
/// Envelope flag: the object's final shape is bound by a final record
/// (`docs/FORMAT.md` section 2.15) that readers require. Only with
/// [`FLAG_MULTIPART`].
pub const FLAG_RECORDED: u8 = 4;

/// The AEAD suites of the object format (both with key commitment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ObjectSuite {
    /// AES-256-GCM with HKDF-SHA512 key derivation and commitment. The default.
    #[default]
    Aes256GcmCommit,
    /// ChaCha20-Poly1305 with HKDF-SHA512 key derivation and commitment,
    /// for CPUs without AES instructions.
    ChaCha20Poly1305Commit,
}

impl ObjectSuite {
    /// The suite byte in the envelope.
    pub const fn id(self) -> u8 {
        match self {
            ObjectSuite::Aes256GcmCommit => 1,
            ObjectSuite::ChaCha20Poly1305Commit => 2,
        }
    }

    /// Looks a suite up by its byte.
    pub fn from_id(id: u8) -> Result<Self> {
        match id {
            1 => Ok(ObjectSuite::Aes256GcmCommit),
            2 => Ok(ObjectSuite::ChaCha20Poly1305Commit),
            other => Err(Error::UnsupportedSuite(u16::from(other))),
        }
    }

    /// The AEAD of the frames.
    pub const fn aead(self) -> AeadAlgorithm {
        match self {
            ObjectSuite::Aes256GcmCommit => AeadAlgorithm::Aes256Gcm,
            ObjectSuite::ChaCha20Poly1305Commit => AeadAlgorithm::ChaCha20Poly1305,
        }
    }
}

/// A parsed object envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The frame AEAD.
    pub suite: ObjectSuite,
    /// [`FLAG_MULTIPART`], [`FLAG_END_MARKED`], [`FLAG_RECORDED`].
    pub flags: u8,
    /// Plaintext bytes per frame.
    pub frame_length: u32,
    /// Frames per part other than the last, when the writer knew it.
    pub part_frames: u32,
    /// The random per-object id from which the object key is derived.
    pub message_id: [u8; 32],
    /// The stored encryption context.
    pub encryption_context: EncryptionContext,
    /// The data key, encrypted by each keyring.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// The key commitment.
    pub commitment: [u8; 32],
    /// The header tag.
    pub tag: Tag,
}

impl Envelope {
    /// True when the object was written in parts.
    pub fn is_multipart(&self) -> bool {
        self.flags & FLAG_MULTIPART != 0
    }

    /// True when the last frame carries the end-of-object flag.
    pub fn is_end_marked(&self) -> bool {
        self.flags & FLAG_END_MARKED != 0
    }

    /// True when readers must find and verify the object's final record.
    pub fn is_recorded(&self) -> bool {
        self.flags & FLAG_RECORDED != 0
    }

    fn body_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&[VERSION, self.suite.id(), self.flags]);
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        out.extend_from_slice(&self.part_frames.to_be_bytes());
        out.extend_from_slice(&self.message_id);
        put_len16(&mut out, &context::serialize(&self.encryption_context)?)?;
        let n = u16::try_from(self.encrypted_data_keys.len())
            .map_err(|_| Error::InvalidParameter("too many encrypted data keys".into()))?;
        out.extend_from_slice(&n.to_be_bytes());
        for edk in &self.encrypted_data_keys {
            put_len16(&mut out, &edk.provider_id)?;
            put_len16(&mut out, &edk.provider_info)?;
            put_len16(&mut out, &edk.ciphertext)?;
        }
        out.extend_from_slice(&self.commitment);
        Ok(out)
    }

    /// Serializes the envelope.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = self.body_bytes()?;
        out.extend_from_slice(&self.tag);
        Ok(out)
    }

    /// Parses an envelope; trailing bytes are an error.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let short = |e: Error| match e {
            Error::Truncated(_) => Error::malformed("object envelope is truncated"),
            other => other,
        };
        let mut r = Reader::new(bytes);
        let version = r.u8().map_err(short)?;
        if version != VERSION {
            return Err(Error::malformed(format!("unknown object envelope version {version}")));
        }
        let suite = ObjectSuite::from_id(r.u8().map_err(short)?)?;
        let flags = r.u8().map_err(short)?;
        if flags & !(FLAG_MULTIPART | FLAG_END_MARKED | FLAG_RECORDED) != 0 {
            return Err(Error::malformed("unknown object envelope flags"));
        }
        if flags & FLAG_RECORDED != 0 && flags & FLAG_MULTIPART == 0 {
            return Err(Error::malformed("a final record is only for multipart objects"));
        }
        let frame_length = r.u32().map_err(short)?;
        if frame_length == 0 {
            return Err(Error::malformed("object frame length is 0"));
        }
        let part_frames = r.u32().map_err(short)?;
        let message_id = r.array::<32>().map_err(short)?;
        let context_bytes = r.len16_bytes().map_err(short)?;
        let encryption_context = context::deserialize(context_bytes)?;
        // One encoding per envelope: pairs in ascending key order, and no
        // pair count for an empty context (section 2.2), so that stored bytes
        // cannot be reordered under the same header tag.
        if context::serialize(&encryption_context)? != context_bytes {
            return Err(Error::malformed("object encryption context is not in canonical form"));
        }
        let n = r.u16().map_err(short)?;
        if n == 0 {
            return Err(Error::malformed("object envelope has no encrypted data keys"));
        }
        let mut encrypted_data_keys = Vec::with_capacity(usize::from(n).min(16));
        for _ in 0..n {
            encrypted_data_keys.push(EncryptedDataKey {
                provider_id: r.len16_bytes().map_err(short)?.to_vec(),
                provider_info: r.len16_bytes().map_err(short)?.to_vec(),
                ciphertext: r.len16_bytes().map_err(short)?.to_vec(),
            });
        }
        let commitment = r.array::<32>().map_err(short)?;
        let tag = r.array::<TAG_LEN>().map_err(short)?;
        if !r.is_empty() {
            return Err(Error::malformed("trailing bytes after the object envelope"));
        }
        Ok(Self {
            suite,
            flags,
            frame_length,
            part_frames,
            message_id,
            encryption_context,
            encrypted_data_keys,
            commitment,
            tag,
        })
    }

    /// The metadata value: base64 of the envelope.
    pub fn to_metadata_value(&self) -> Result<String> {
        Ok(B64.encode(self.to_bytes()?))
    }

    /// Parses a metadata value.
    pub fn from_metadata_value(value: &str) -> Result<Self> {
        let bytes =
            B64.decode(value.trim()).map_err(|_| Error::malformed("object envelope metadata is not valid base64"))?;
        Self::parse(&bytes)
    }

    pub(crate) fn header_aad(&self, object_key: &str, auth_only: &EncryptionContext) -> Result<Vec<u8>> {
        let mut aad = AAD_LABEL.to_vec();
        aad.extend_from_slice(&self.body_bytes()?);
        put_len16(&mut aad, object_key.as_bytes())?;
        aad.extend_from_slice(&context::serialize(auth_only)?);
        Ok(aad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed vectors' envelopes with a context of two or more pairs.
    fn with_contexts() -> Vec<Vec<u8>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testvectors/objects");
        std::fs::read_dir(dir)
            .expect("vectors")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "envelope"))
            .filter_map(|p| std::fs::read(p).ok())
            .filter(|b| Envelope::parse(b).is_ok_and(|e| e.encryption_context.len() >= 2))
            .collect()
    }

    /// A context stored out of order (or an empty one with a pair count)
    /// is refused, though it would deserialize to the same pairs.
    #[test]
    fn only_the_canonical_context_encoding_parses() {
        let envelopes = with_contexts();
        assert!(!envelopes.is_empty(), "a vector with a context of two pairs");
        for bytes in envelopes {
            let n = usize::from(u16::from_be_bytes([bytes[43], bytes[44]]));
            let ctx = &bytes[45..45 + n];
            let mut r = Reader::new(&ctx[2..]);
            let mut pairs = Vec::new();
            while !r.is_empty() {
                let (k, v) = (r.len16_bytes().unwrap().to_vec(), r.len16_bytes().unwrap().to_vec());
                pairs.push((k, v));
            }
            pairs.reverse();
            let mut swapped = bytes[..45].to_vec();
            swapped.extend_from_slice(&ctx[..2]);
            for (k, v) in pairs {
                put_len16(&mut swapped, &k).unwrap();
                put_len16(&mut swapped, &v).unwrap();
            }
            swapped.extend_from_slice(&bytes[45 + n..]);
            assert_eq!(swapped.len(), bytes.len());
            assert!(Envelope::parse(&bytes).is_ok());
            let e = Envelope::parse(&swapped).unwrap_err();
            assert!(e.to_string().contains("canonical"), "{e}");
        }
    }
}
