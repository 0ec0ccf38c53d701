//! Encryption context: the non-secret key-value pairs that are bound to a
//! message (authenticated, and for ESDK messages stored in the header).
//!
//! Serialization follows the ESDK specification (`framework/structures.md`):
//! a two-byte pair count, then each key and value as a two-byte length and
//! UTF-8 bytes, pairs sorted by the bytes of their keys. The empty context
//! serializes to no bytes at all.

use std::collections::BTreeMap;

use crate::codec::Reader;
use crate::error::{Error, Result};

/// Prefix of the keys the SDK reserves for itself.
pub const RESERVED_PREFIX: &str = "aws-crypto-";

/// The key under which signed suites store the signature verification key.
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

/// An encryption context. Keys sort by their UTF-8 bytes, as serialized.
pub type EncryptionContext = BTreeMap<String, String>;

/// Fails if a caller-supplied context uses a reserved key.
pub fn check_caller_context(ctx: &EncryptionContext) -> Result<()> {
    match ctx.keys().find(|k| k.starts_with(RESERVED_PREFIX)) {
        Some(k) => Err(Error::EncryptionContext(format!(
            "key {k:?} is reserved: keys starting with {RESERVED_PREFIX:?} are set by the SDK"
        ))),
        None => Ok(()),
    }
}

/// Serializes a context as ESDK does; the empty context gives no bytes.
pub fn serialize(ctx: &EncryptionContext) -> Result<Vec<u8>> {
    if ctx.is_empty() {
        return Ok(Vec::new());
    }
    let count = u16::try_from(ctx.len()).map_err(|_| Error::EncryptionContext("more than 65535 pairs".into()))?;
    let mut out = Vec::with_capacity(2 + ctx.iter().map(|(k, v)| 4 + k.len() + v.len()).sum::<usize>());
    out.extend_from_slice(&count.to_be_bytes());
    for (k, v) in ctx {
        for s in [k, v] {
            let len = u16::try_from(s.len())
                .map_err(|_| Error::EncryptionContext(format!("entry of {} bytes is too long", s.len())))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(Error::EncryptionContext(format!("serialized context is {} bytes, more than 65535", out.len())));
    }
    Ok(out)
}

/// Parses a serialized context (the whole slice). Duplicate keys and
/// invalid UTF-8 are errors.
pub fn deserialize(bytes: &[u8]) -> Result<EncryptionContext> {
    let mut ctx = EncryptionContext::new();
    if bytes.is_empty() {
        return Ok(ctx);
    }
    let mut r = Reader::new(bytes);
    let count = r.u16()?;
    for _ in 0..count {
        let k = utf8(r.len16_bytes()?)?;
        let v = utf8(r.len16_bytes()?)?;
        if ctx.insert(k.clone(), v).is_some() {
            return Err(Error::malformed(format!("duplicate encryption context key {k:?}")));
        }
    }
    if !r.is_empty() {
        return Err(Error::malformed("trailing bytes after the encryption context"));
    }
    Ok(ctx)
}

fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| Error::malformed("encryption context is not UTF-8"))
}

/// Returns the pairs of `ctx` whose keys are in `keys`.
pub fn filter(ctx: &EncryptionContext, keys: &[String]) -> EncryptionContext {
    ctx.iter().filter(|(k, _)| keys.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let mut c = EncryptionContext::new();
        c.insert("b".into(), "2".into());
        c.insert("a".into(), "1".into());
        let s = serialize(&c).unwrap();
        assert_eq!(s, b"\x00\x02\x00\x01a\x00\x011\x00\x01b\x00\x012");
        assert_eq!(deserialize(&s).unwrap(), c);
        assert!(serialize(&EncryptionContext::new()).unwrap().is_empty());
    }

    #[test]
    fn rejects_duplicates_and_garbage() {
        assert!(deserialize(b"\x00\x02\x00\x01a\x00\x011\x00\x01a\x00\x012").is_err());
        assert!(deserialize(b"\x00\x01\x00\x05a").is_err());
        assert!(deserialize(b"\x00\x01\x00\x01\xff\x00\x00").is_err());
    }

    #[test]
    fn reserved_keys_refused() {
        let mut c = EncryptionContext::new();
        c.insert("aws-crypto-public-key".into(), "x".into());
        assert!(check_caller_context(&c).is_err());
    }
}
