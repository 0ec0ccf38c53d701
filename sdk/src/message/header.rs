//! The message header (`data-format/message-header.md`).
//!
//! Version 1: version `01`, type `80`, suite, 16-byte message id, AAD
//! (encryption context), encrypted data keys, content type, four reserved
//! zero bytes, IV length (12), frame length, then the header IV and tag.
//!
//! Version 2: version `02`, suite, 32-byte message id, AAD, encrypted data
//! keys, content type, frame length, suite data (the key commitment), then
//! the header tag (the IV is implicitly zero).

use crate::codec::{Reader, put_len16};
use crate::context::{self, EncryptionContext};
use crate::crypto::aead::{NONCE_LEN, Nonce, TAG_LEN, Tag};
use crate::error::{Error, Result};
use crate::materials::EncryptedDataKey;
use crate::suite::AlgorithmSuite;

/// How the body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// One AEAD operation over the whole plaintext (legacy, read only).
    NonFramed,
    /// A sequence of fixed-size frames ending in a final frame.
    Framed,
}

impl ContentType {
    fn byte(self) -> u8 {
        match self {
            ContentType::NonFramed => 1,
            ContentType::Framed => 2,
        }
    }
}

/// A parsed (or newly built) message header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Message format version: 1 or 2.
    pub version: u8,
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// The message id (16 bytes in v1, 32 in v2).
    pub message_id: Vec<u8>,
    /// The stored encryption context.
    pub encryption_context: EncryptionContext,
    /// The encrypted data keys.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// Framed or not.
    pub content_type: ContentType,
    /// Plaintext bytes per frame (0 for non-framed bodies).
    pub frame_length: u32,
    /// Suite data: the key commitment of committing suites, else empty.
    pub suite_data: Vec<u8>,
    /// The IV of the header tag (stored in v1, zero in v2).
    pub header_iv: Nonce,
    /// The header authentication tag.
    pub auth_tag: Tag,
    /// The serialized header body exactly as read or written.
    body: Vec<u8>,
}

/// Limits applied while parsing untrusted headers.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Most encrypted data keys accepted, if limited.
    pub max_encrypted_data_keys: Option<usize>,
}

impl Header {
    /// The serialized header body (what the header tag authenticates).
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The whole serialized header: body then authentication fields.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + NONCE_LEN + TAG_LEN);
        out.extend_from_slice(&self.body);
        if self.version == 1 {
            out.extend_from_slice(&self.header_iv);
        }
        out.extend_from_slice(&self.auth_tag);
        out
    }

    /// Length of the whole serialized header.
    pub fn len(&self) -> usize {
        self.body.len() + if self.version == 1 { NONCE_LEN } else { 0 } + TAG_LEN
    }

    /// Always false: a header has at least its fixed fields.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Builds the body of a new header; the tag is set later with
    /// [`Header::set_auth_tag`].
    pub fn build(
        suite: AlgorithmSuite,
        message_id: Vec<u8>,
        encryption_context: EncryptionContext,
        encrypted_data_keys: Vec<EncryptedDataKey>,
        frame_length: u32,
        suite_data: Vec<u8>,
    ) -> Result<Self> {
        let version = suite.message_format_version();
        let id_len = if version == 1 { 16 } else { 32 };
        if message_id.len() != id_len || suite_data.len() != suite.suite_data_len() {
            return Err(Error::Crypto("message id or suite data of the wrong length"));
        }
        if frame_length == 0 {
            return Err(Error::InvalidParameter("frame length must be at least 1".into()));
        }
        let edk_count = u16::try_from(encrypted_data_keys.len())
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::InvalidParameter("between 1 and 65535 encrypted data keys are required".into()))?;
        let mut body = Vec::with_capacity(256);
        body.push(version);
        if version == 1 {
            body.push(0x80);
        }
        body.extend_from_slice(&suite.id().to_be_bytes());
        body.extend_from_slice(&message_id);
        put_len16(&mut body, &context::serialize(&encryption_context)?)?;
        body.extend_from_slice(&edk_count.to_be_bytes());
        for edk in &encrypted_data_keys {
            put_len16(&mut body, &edk.provider_id)?;
            put_len16(&mut body, &edk.provider_info)?;
            put_len16(&mut body, &edk.ciphertext)?;
        }
        body.push(ContentType::Framed.byte());
        if version == 1 {
            body.extend_from_slice(&[0, 0, 0, 0, NONCE_LEN as u8]);
        }
        body.extend_from_slice(&frame_length.to_be_bytes());
        body.extend_from_slice(&suite_data);
        Ok(Self {
            version,
            suite,
            message_id,
            encryption_context,
            encrypted_data_keys,
            content_type: ContentType::Framed,
            frame_length,
            suite_data,
            header_iv: [0; NONCE_LEN],
            auth_tag: [0; TAG_LEN],
            body,
        })
    }

    /// Sets the header authentication tag.
    pub fn set_auth_tag(&mut self, tag: Tag) {
        self.auth_tag = tag;
    }

    /// Parses a header from the start of `buf`. Returns `Ok(None)` when
    /// `buf` holds only part of a header, else the header and its length.
    pub fn parse(buf: &[u8], limits: ParseLimits) -> Result<Option<(Header, usize)>> {
        match Self::parse_complete(buf, limits) {
            Ok(h) => Ok(Some(h)),
            Err(Error::Truncated(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn parse_complete(buf: &[u8], limits: ParseLimits) -> Result<(Header, usize)> {
        let mut r = Reader::new(buf);
        let version = parse_version(&mut r)?;
        let suite = AlgorithmSuite::from_id(r.u16()?)?;
        if suite.message_format_version() != version {
            return Err(Error::malformed(format!("suite {suite} cannot appear in a version {version} message")));
        }
        let message_id = r.bytes(if version == 1 { 16 } else { 32 })?.to_vec();
        let encryption_context = context::deserialize(r.len16_bytes()?)?;
        let encrypted_data_keys = parse_edks(&mut r, limits)?;
        let (content_type, frame_length) = parse_content(&mut r, version)?;
        let suite_data = r.bytes(suite.suite_data_len())?.to_vec();
        let body_len = r.position();
        let header_iv = if version == 1 { r.array::<NONCE_LEN>()? } else { [0; NONCE_LEN] };
        let auth_tag = r.array::<TAG_LEN>()?;
        let header = Header {
            version,
            suite,
            message_id,
            encryption_context,
            encrypted_data_keys,
            content_type,
            frame_length,
            suite_data,
            header_iv,
            auth_tag,
            body: buf[..body_len].to_vec(),
        };
        Ok((header, r.position()))
    }
}

/// The format version, and for version 1 its message type.
fn parse_version(r: &mut Reader<'_>) -> Result<u8> {
    let version = r.u8()?;
    match version {
        1 => {
            if r.u8()? != 0x80 {
                return Err(Error::malformed("unknown message type (expected 0x80)"));
            }
        }
        2 => {}
        v => {
            return Err(Error::malformed(format!(
                "unknown message format version {v} (is this an encrypted message?)"
            )));
        }
    }
    Ok(version)
}

/// The encrypted data keys: at least one, at most the limit.
fn parse_edks(r: &mut Reader<'_>, limits: ParseLimits) -> Result<Vec<EncryptedDataKey>> {
    let edk_count = usize::from(r.u16()?);
    if edk_count == 0 {
        return Err(Error::malformed("the message has no encrypted data keys"));
    }
    if let Some(limit) = limits.max_encrypted_data_keys
        && edk_count > limit
    {
        return Err(Error::TooManyEncryptedDataKeys { found: edk_count, limit });
    }
    let mut encrypted_data_keys = Vec::with_capacity(edk_count.min(64));
    for _ in 0..edk_count {
        encrypted_data_keys.push(EncryptedDataKey {
            provider_id: r.len16_bytes()?.to_vec(),
            provider_info: r.len16_bytes()?.to_vec(),
            ciphertext: r.len16_bytes()?.to_vec(),
        });
    }
    Ok(encrypted_data_keys)
}

/// The content type and frame length (with version 1's reserved bytes and
/// IV length between them), consistent with each other.
fn parse_content(r: &mut Reader<'_>, version: u8) -> Result<(ContentType, u32)> {
    let content_type = match r.u8()? {
        1 => ContentType::NonFramed,
        2 => ContentType::Framed,
        t => return Err(Error::malformed(format!("unknown content type {t}"))),
    };
    if version == 1 {
        if r.array::<4>()? != [0; 4] {
            return Err(Error::malformed("reserved header bytes are not zero"));
        }
        if usize::from(r.u8()?) != NONCE_LEN {
            return Err(Error::malformed("IV length is not 12"));
        }
    }
    let frame_length = r.u32()?;
    match content_type {
        ContentType::Framed if frame_length == 0 => {
            return Err(Error::malformed("framed message with frame length 0"));
        }
        ContentType::NonFramed if frame_length != 0 => {
            return Err(Error::malformed("non-framed message with a non-zero frame length"));
        }
        _ => {}
    }
    Ok((content_type, frame_length))
}
