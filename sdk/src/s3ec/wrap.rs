//! Wrapped data keys of S3 Encryption Client objects, and the raw AES and
//! RSA wrapping constructions (as the Java client defines them, which the
//! other official clients follow):
//!
//! * `AES/GCM`: `IV(12) ‖ AES-GCM(wrapping key, IV, data key, AAD)` with
//!   AAD = the content algorithm name (`"115"` for V3,
//!   `"AES/GCM/NoPadding"` for V2).
//! * `RSA-OAEP-SHA1`: RSA-OAEP with SHA-1 and MGF1-SHA-1 over the pseudo
//!   key `len(data key) ‖ data key ‖ content algorithm name`.

use subtle::ConstantTimeEq;

use crate::context::EncryptionContext;
use crate::crypto::aead::{self, AeadAlgorithm, Backend};
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::materials::DataKey;
use crate::s3ec::suite::{ContentSuite, DATA_KEY_LEN, WrapAlgorithm};

/// The KMS encryption context key that binds the content algorithm.
pub(crate) const CEK_ALG_CONTEXT_KEY: &str = "aws:x-amz-cek-alg";
/// The context key legacy KMS objects carry; ignored when comparing contexts.
pub(crate) const KMS_CMK_ID_KEY: &str = "kms_cmk_id";

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A data key as an S3 Encryption Client object stores it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WrappedKey {
    /// How it is wrapped.
    pub algorithm: WrapAlgorithm,
    /// The content suite it serves (bound into the wrapping).
    pub suite: ContentSuite,
    /// The wrapped bytes.
    pub ciphertext: Vec<u8>,
    /// For `kms+context`: the KMS encryption context (with
    /// `aws:x-amz-cek-alg`). For raw keys: the material description.
    pub context: EncryptionContext,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKey({}, {} bytes, {:?})", self.algorithm, self.ciphertext.len(), self.context)
    }
}

impl WrappedKey {
    /// The caller-visible part of a KMS context: without the reserved keys.
    pub fn caller_context(&self) -> EncryptionContext {
        let mut c = self.context.clone();
        c.remove(CEK_ALG_CONTEXT_KEY);
        c.remove(KMS_CMK_ID_KEY);
        c
    }
}

/// The KMS encryption context for a new object: the caller's pairs plus
/// `aws:x-amz-cek-alg`. The reserved key is refused from callers.
pub(crate) fn kms_context(suite: ContentSuite, caller: &EncryptionContext) -> Result<EncryptionContext> {
    if caller.contains_key(CEK_ALG_CONTEXT_KEY) {
        return Err(Error::EncryptionContext(format!(
            "{CEK_ALG_CONTEXT_KEY:?} is reserved for the S3 Encryption Client"
        )));
    }
    let mut ctx = caller.clone();
    ctx.insert(CEK_ALG_CONTEXT_KEY.into(), suite.name().into());
    Ok(ctx)
}

fn aes_algorithm(key: &[u8]) -> Result<AeadAlgorithm> {
    match key.len() {
        16 => Ok(AeadAlgorithm::Aes128Gcm),
        24 => Ok(AeadAlgorithm::Aes192Gcm),
        32 => Ok(AeadAlgorithm::Aes256Gcm),
        n => Err(Error::InvalidKey(format!("an AES wrapping key must be 16, 24 or 32 bytes, got {n}"))),
    }
}

/// `AES/GCM` wrapping of `data_key` for `suite`.
pub(crate) fn aes_gcm_wrap(
    backend: Backend,
    wrapping_key: &[u8],
    suite: ContentSuite,
    data_key: &[u8],
) -> Result<Vec<u8>> {
    let alg = aes_algorithm(wrapping_key)?;
    let iv: [u8; IV_LEN] = random::array()?;
    let sealed = aead::seal(backend, alg, wrapping_key, &iv, suite.name().as_bytes(), data_key)?;
    let mut out = Vec::with_capacity(IV_LEN + sealed.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Unwraps an `AES/GCM` wrapped key.
pub(crate) fn aes_gcm_unwrap(backend: Backend, wrapping_key: &[u8], key: &WrappedKey) -> Result<DataKey> {
    let alg = aes_algorithm(wrapping_key)?;
    if key.ciphertext.len() < IV_LEN + TAG_LEN {
        return Err(Error::malformed("the AES/GCM wrapped key is too short"));
    }
    let (iv, ct) = key.ciphertext.split_at(IV_LEN);
    let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| Error::malformed("AES/GCM wrapped key IV"))?;
    let k = aead::open(backend, alg, wrapping_key, &iv, key.suite.name().as_bytes(), ct, "AES/GCM key unwrap")?;
    if k.len() != DATA_KEY_LEN {
        return Err(Error::malformed(format!("the unwrapped data key is {} bytes, not {DATA_KEY_LEN}", k.len())));
    }
    Ok(DataKey::new(k.to_vec()))
}

/// The RSA pseudo key: `len ‖ data key ‖ content algorithm name`.
pub(crate) fn rsa_pseudo_key(suite: ContentSuite, data_key: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let len = u8::try_from(data_key.len()).map_err(|_| Error::InvalidKey("data key too long".into()))?;
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(1 + data_key.len() + suite.name().len()));
    out.push(len);
    out.extend_from_slice(data_key);
    out.extend_from_slice(suite.name().as_bytes());
    Ok(out)
}

/// Parses an RSA pseudo key, checking the content algorithm it names.
pub(crate) fn parse_rsa_pseudo_key(suite: ContentSuite, pseudo: &[u8]) -> Result<DataKey> {
    let (&len, rest) = pseudo.split_first().ok_or_else(|| Error::malformed("empty RSA pseudo key"))?;
    let len = usize::from(len);
    if len != DATA_KEY_LEN || rest.len() < len {
        return Err(Error::malformed(format!("the RSA pseudo key holds a {len}-byte data key, not {DATA_KEY_LEN}")));
    }
    let (key, name) = rest.split_at(len);
    if !bool::from(name.ct_eq(suite.name().as_bytes())) {
        return Err(Error::Authentication(
            "RSA wrapped key: the content algorithm it names differs from the object's (the object was altered)",
        ));
    }
    Ok(DataKey::new(key.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(alg: WrapAlgorithm, suite: ContentSuite, ciphertext: Vec<u8>) -> WrappedKey {
        WrappedKey { algorithm: alg, suite, ciphertext, context: EncryptionContext::new() }
    }

    #[test]
    fn aes_gcm_round_trip_binds_the_suite() {
        let kek = [9u8; 32];
        let dk = [5u8; 32];
        let ct = aes_gcm_wrap(Backend::default(), &kek, ContentSuite::CommittingAesGcm, &dk).expect("wrap");
        assert_eq!(ct.len(), 12 + 32 + 16);
        let w = wrapped(WrapAlgorithm::AesGcm, ContentSuite::CommittingAesGcm, ct.clone());
        assert_eq!(aes_gcm_unwrap(Backend::default(), &kek, &w).expect("unwrap").as_bytes(), &dk);
        // The same bytes presented as a V2 key do not unwrap: the AAD differs.
        let v2 = wrapped(WrapAlgorithm::AesGcm, ContentSuite::AesGcm, ct);
        assert!(matches!(aes_gcm_unwrap(Backend::default(), &kek, &v2), Err(Error::Authentication(_))));
        assert!(aes_gcm_unwrap(Backend::default(), &[8u8; 32], &w).is_err());
        let short = wrapped(WrapAlgorithm::AesGcm, ContentSuite::AesGcm, vec![0; 20]);
        assert!(matches!(aes_gcm_unwrap(Backend::default(), &kek, &short), Err(Error::Malformed(_))));
    }

    #[test]
    fn pseudo_key_round_trip_and_checks() {
        let p = rsa_pseudo_key(ContentSuite::AesGcm, &[3u8; 32]).expect("pseudo");
        assert_eq!(p[0], 32);
        assert_eq!(&p[33..], b"AES/GCM/NoPadding");
        assert_eq!(parse_rsa_pseudo_key(ContentSuite::AesGcm, &p).expect("parse").as_bytes(), &[3u8; 32]);
        assert!(matches!(parse_rsa_pseudo_key(ContentSuite::CommittingAesGcm, &p), Err(Error::Authentication(_))));
        assert!(parse_rsa_pseudo_key(ContentSuite::AesGcm, &[]).is_err());
        assert!(parse_rsa_pseudo_key(ContentSuite::AesGcm, &[32, 1, 2]).is_err());
        assert!(parse_rsa_pseudo_key(ContentSuite::AesGcm, &p[..20]).is_err());
    }

    #[test]
    fn kms_context_reserves_the_algorithm_key() {
        let mut c = EncryptionContext::new();
        c.insert("team".into(), "a".into());
        let k = kms_context(ContentSuite::CommittingAesGcm, &c).expect("ctx");
        assert_eq!(k.get(CEK_ALG_CONTEXT_KEY).map(String::as_str), Some("115"));
        c.insert(CEK_ALG_CONTEXT_KEY.into(), "x".into());
        assert!(kms_context(ContentSuite::CommittingAesGcm, &c).is_err());
    }
}
