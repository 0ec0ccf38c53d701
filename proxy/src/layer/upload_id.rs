//! The upload id handed to clients: it carries the upstream upload id and
//! the object's envelope, so that multipart uploads are stateless.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use s3s::{S3Result, s3_error};
use s3seal::object::Envelope;

use super::errors::map_err;

/// The upload id handed to clients: the upstream id and the envelope.
pub(super) fn encode_upload_id(upstream: &str, envelope: &Envelope) -> S3Result<String> {
    let env = envelope.to_bytes().map_err(map_err)?;
    let id = upstream.as_bytes();
    let n = u16::try_from(id.len()).map_err(|_| s3_error!(InternalError, "upstream upload id too long"))?;
    let mut raw = Vec::with_capacity(3 + id.len() + env.len());
    raw.push(1u8);
    raw.extend_from_slice(&n.to_be_bytes());
    raw.extend_from_slice(id);
    raw.extend_from_slice(&env);
    Ok(format!("s3seal.{}", B64URL.encode(raw)))
}

pub(super) fn decode_upload_id(id: &str) -> S3Result<(String, Envelope)> {
    let bad = || s3_error!(NoSuchUpload, "The specified upload does not exist (not an s3seal upload id).");
    let raw = id.strip_prefix("s3seal.").and_then(|b| B64URL.decode(b).ok()).ok_or_else(bad)?;
    if raw.len() < 3 || raw[0] != 1 {
        return Err(bad());
    }
    let n = usize::from(u16::from_be_bytes([raw[1], raw[2]]));
    let upstream = raw.get(3..3 + n).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(bad)?.to_string();
    let envelope = Envelope::parse(raw.get(3 + n..).ok_or_else(bad)?).map_err(|_| bad())?;
    Ok((upstream, envelope))
}
