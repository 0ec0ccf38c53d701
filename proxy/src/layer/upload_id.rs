//! The upload id handed to clients: it carries the upstream upload id, the
//! object's envelope and the tag that binds them (and the bucket and key)
//! together, so that multipart uploads are stateless and an id cannot be
//! spliced from two uploads or used for another object.
//!
//! `s3seal.` + base64url(`2` ‖ upstream id length (u16, big-endian) ‖
//! upstream id ‖ binding tag (32 bytes, [`MultipartUpload::binding_tag`])
//! ‖ envelope). The tag is made with the upload's data key, so only the
//! proxy can make one; it is checked before anything is sent upstream.
//! Ids of the earlier form (version 1, no tag) are not accepted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use s3s::{S3Error, S3Result, s3_error};
use s3seal::object::Envelope;
use s3seal::s3::{MultipartUpload, UPLOAD_BINDING_TAG_LEN};

use super::errors::map_err;

const VERSION: u8 = 2;

/// What a client's upload id carries.
pub(super) struct UploadId {
    /// The upstream's upload id.
    pub(super) upstream: String,
    /// The tag binding it, the envelope, the bucket and the key.
    pub(super) tag: [u8; UPLOAD_BINDING_TAG_LEN],
    /// The object's envelope.
    pub(super) envelope: Envelope,
}

/// `404 NoSuchUpload`, as S3 answers an unknown upload id.
pub(super) fn no_such_upload(why: &str) -> S3Error {
    s3_error!(NoSuchUpload, "The specified upload does not exist ({why}).")
}

/// The upload id handed to clients for `up`.
pub(super) fn encode_upload_id(up: &MultipartUpload) -> S3Result<String> {
    let env = up.envelope().to_bytes().map_err(map_err)?;
    let tag = up.binding_tag().map_err(map_err)?;
    let id = up.upload_id().as_bytes();
    let n = u16::try_from(id.len()).map_err(|_| s3_error!(InternalError, "upstream upload id too long"))?;
    let mut raw = Vec::with_capacity(3 + id.len() + tag.len() + env.len());
    raw.push(VERSION);
    raw.extend_from_slice(&n.to_be_bytes());
    raw.extend_from_slice(id);
    raw.extend_from_slice(&tag);
    raw.extend_from_slice(&env);
    Ok(format!("s3seal.{}", B64URL.encode(raw)))
}

/// Parses a client's upload id (nothing is verified yet: see
/// [`MultipartUpload::verify_binding_tag`]).
pub(super) fn decode_upload_id(id: &str) -> S3Result<UploadId> {
    let bad = || no_such_upload("not an s3seal upload id");
    let raw = id.strip_prefix("s3seal.").and_then(|b| B64URL.decode(b).ok()).ok_or_else(bad)?;
    if raw.len() < 3 || raw[0] != VERSION {
        return Err(bad());
    }
    let n = usize::from(u16::from_be_bytes([raw[1], raw[2]]));
    let upstream = raw.get(3..3 + n).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(bad)?.to_string();
    let tag_end = 3 + n + UPLOAD_BINDING_TAG_LEN;
    let tag: [u8; UPLOAD_BINDING_TAG_LEN] = raw.get(3 + n..tag_end).and_then(|t| t.try_into().ok()).ok_or_else(bad)?;
    let envelope = Envelope::parse(raw.get(tag_end..).ok_or_else(bad)?).map_err(|_| bad())?;
    Ok(UploadId { upstream, tag, envelope })
}

#[cfg(test)]
mod fuzz {
    use bolero::check;

    use super::*;

    /// Raw ids (before base64) over the committed object vectors' envelopes.
    fn seeds() -> Vec<Vec<u8>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testvectors/objects");
        let mut envelopes: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .expect("testvectors/objects")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "envelope"))
            .filter_map(|p| std::fs::read(p).ok())
            .collect();
        envelopes.sort();
        envelopes
            .into_iter()
            .map(|env| {
                let upstream = b"2~upstream-upload-id";
                let mut raw = vec![VERSION];
                raw.extend_from_slice(&(upstream.len() as u16).to_be_bytes());
                raw.extend_from_slice(upstream);
                raw.extend_from_slice(&[7u8; UPLOAD_BINDING_TAG_LEN]);
                raw.extend_from_slice(&env);
                raw
            })
            .collect()
    }

    /// Fuzz target (bolero, see `sdk/src/fuzz.rs` for how to run it long):
    /// the upload-id decoder on mutated valid ids and on any text. It never
    /// panics, and what it accepts carries exactly the parts it was made of.
    #[test]
    fn fuzz_decode_upload_id() {
        let seeds = seeds();
        assert!(!seeds.is_empty());
        check!().with_type::<(u8, Vec<(u16, u8)>, Option<u16>, Vec<u8>, String)>().for_each(
            |(i, edits, cut, tail, text)| {
                let _ = decode_upload_id(text);
                let mut raw = seeds[usize::from(*i) % seeds.len()].clone();
                for (pos, v) in edits {
                    let p = usize::from(*pos) % raw.len();
                    raw[p] = *v;
                }
                if let Some(c) = cut {
                    raw.truncate(usize::from(*c) % (raw.len() + 1));
                }
                raw.extend_from_slice(tail);
                if let Ok(id) = decode_upload_id(&format!("s3seal.{}", B64URL.encode(&raw))) {
                    let n = id.upstream.len();
                    assert_eq!(raw[3..3 + n], *id.upstream.as_bytes());
                    assert_eq!(raw[3 + n..3 + n + UPLOAD_BINDING_TAG_LEN], id.tag);
                    assert_eq!(id.envelope.to_bytes().ok().as_deref(), Some(&raw[3 + n + UPLOAD_BINDING_TAG_LEN..]));
                }
            },
        );
    }
}
