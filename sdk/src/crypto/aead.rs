//! The AEAD backend seam.
//!
//! Two implementations sit behind one small type, [`AeadKey`]: `aws-lc-rs`
//! (assembly AES-GCM from AWS-LC) and the pure-Rust RustCrypto crates
//! (`aes-gcm`, `chacha20poly1305`). Both produce identical bytes; the
//! benchmark in `sdk/benches` decides the default.
//!
//! Only 96-bit nonces and 128-bit tags are used anywhere in s3seal.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aws_lc_rs::aead as lc;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Nonce length of every AEAD used here.
pub const NONCE_LEN: usize = 12;
/// Tag length of every AEAD used here.
pub const TAG_LEN: usize = 16;

/// An AEAD nonce.
pub type Nonce = [u8; NONCE_LEN];
/// An AEAD authentication tag.
pub type Tag = [u8; TAG_LEN];

/// An AEAD algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// AES-128 in Galois/Counter Mode.
    Aes128Gcm,
    /// AES-192 in Galois/Counter Mode.
    Aes192Gcm,
    /// AES-256 in Galois/Counter Mode.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439).
    ChaCha20Poly1305,
}

impl AeadAlgorithm {
    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes192Gcm => 24,
            Self::Aes256Gcm | Self::ChaCha20Poly1305 => 32,
        }
    }
}

/// Which implementation performs AEAD operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// AWS-LC through `aws-lc-rs`. The default: it is the faster one in
    /// `cargo bench -p s3seal` on x86-64 with AES-NI and on aarch64.
    #[default]
    AwsLc,
    /// The pure-Rust RustCrypto implementations.
    RustCrypto,
}

impl Backend {
    /// Both backends, for tests and benchmarks.
    pub const ALL: [Backend; 2] = [Backend::AwsLc, Backend::RustCrypto];
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::AwsLc => "aws-lc-rs",
            Backend::RustCrypto => "rustcrypto",
        })
    }
}

type Aes192Gcm = aes_gcm::AesGcm<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>;

enum Inner {
    AwsLc(lc::LessSafeKey),
    Aes128(Box<aes_gcm::Aes128Gcm>),
    Aes192(Box<Aes192Gcm>),
    Aes256(Box<aes_gcm::Aes256Gcm>),
    ChaCha(Box<chacha20poly1305::ChaCha20Poly1305>),
}

/// A key ready for sealing and opening, with its key schedule computed once.
///
/// The expanded key state is held by the backend, which zeroizes it on drop
/// (AWS-LC cleanses its contexts; the RustCrypto ciphers implement
/// `ZeroizeOnDrop`).
pub struct AeadKey {
    algorithm: AeadAlgorithm,
    inner: Inner,
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AeadKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl AeadKey {
    /// Prepares `key` for `algorithm` on `backend`.
    pub fn new(backend: Backend, algorithm: AeadAlgorithm, key: &[u8]) -> Result<Self> {
        if key.len() != algorithm.key_len() {
            return Err(Error::InvalidKey(format!(
                "{algorithm:?} needs a {}-byte key, got {} bytes",
                algorithm.key_len(),
                key.len()
            )));
        }
        let bad = |_| Error::Crypto("AEAD key setup failed");
        let inner = match backend {
            Backend::AwsLc => {
                let alg = match algorithm {
                    AeadAlgorithm::Aes128Gcm => &lc::AES_128_GCM,
                    AeadAlgorithm::Aes192Gcm => &lc::AES_192_GCM,
                    AeadAlgorithm::Aes256Gcm => &lc::AES_256_GCM,
                    AeadAlgorithm::ChaCha20Poly1305 => &lc::CHACHA20_POLY1305,
                };
                Inner::AwsLc(lc::LessSafeKey::new(
                    lc::UnboundKey::new(alg, key).map_err(|_| Error::Crypto("AEAD key setup failed"))?,
                ))
            }
            Backend::RustCrypto => match algorithm {
                AeadAlgorithm::Aes128Gcm => {
                    Inner::Aes128(Box::new(aes_gcm::Aes128Gcm::new_from_slice(key).map_err(bad)?))
                }
                AeadAlgorithm::Aes192Gcm => Inner::Aes192(Box::new(Aes192Gcm::new_from_slice(key).map_err(bad)?)),
                AeadAlgorithm::Aes256Gcm => {
                    Inner::Aes256(Box::new(aes_gcm::Aes256Gcm::new_from_slice(key).map_err(bad)?))
                }
                AeadAlgorithm::ChaCha20Poly1305 => {
                    Inner::ChaCha(Box::new(chacha20poly1305::ChaCha20Poly1305::new_from_slice(key).map_err(bad)?))
                }
            },
        };
        Ok(Self { algorithm, inner })
    }

    /// The algorithm this key is for.
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    /// Encrypts `buf` in place and returns the detached tag.
    pub fn seal_in_place(&self, nonce: &Nonce, aad: &[u8], buf: &mut [u8]) -> Result<Tag> {
        let fail = |_| Error::Crypto("AEAD seal failed (input too long)");
        let tag = match &self.inner {
            Inner::AwsLc(k) => {
                let t = k
                    .seal_in_place_separate_tag(lc::Nonce::assume_unique_for_key(*nonce), lc::Aad::from(aad), buf)
                    .map_err(|_| Error::Crypto("AEAD seal failed (input too long)"))?;
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(t.as_ref());
                return Ok(out);
            }
            Inner::Aes128(c) => c.encrypt_inout_detached(&(*nonce).into(), aad, buf.into()).map_err(fail)?,
            Inner::Aes192(c) => c.encrypt_inout_detached(&(*nonce).into(), aad, buf.into()).map_err(fail)?,
            Inner::Aes256(c) => c.encrypt_inout_detached(&(*nonce).into(), aad, buf.into()).map_err(fail)?,
            Inner::ChaCha(c) => c.encrypt_inout_detached(&(*nonce).into(), aad, buf.into()).map_err(fail)?,
        };
        Ok(tag.into())
    }

    /// Decrypts `in_out`, which holds ciphertext followed by its tag, in
    /// place. On success returns the plaintext (the first `len - 16` bytes).
    /// On failure the whole buffer is zeroed, so that nothing unverified
    /// (and no ciphertext either) remains in it.
    pub fn open_in_place<'a>(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        in_out: &'a mut [u8],
        what: &'static str,
    ) -> Result<&'a mut [u8]> {
        let ct_len = in_out.len().checked_sub(TAG_LEN).ok_or(Error::Truncated("ciphertext shorter than its tag"))?;
        let (ct, tag) = in_out.split_at_mut(ct_len);
        let tag: Tag = (&*tag).try_into().map_err(|_| Error::Crypto("tag length"))?;
        if let Err(e) = self.open_in_place_detached(nonce, aad, ct, &tag, what) {
            in_out.fill(0);
            return Err(e);
        }
        Ok(&mut in_out[..ct_len])
    }

    /// Decrypts `in_out`, which holds ciphertext only, in place, checking it
    /// against the detached `tag`. One pass over the data, no copy. On
    /// failure `in_out` is zeroed, so that no unverified plaintext remains.
    pub fn open_in_place_detached(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        in_out: &mut [u8],
        tag: &Tag,
        what: &'static str,
    ) -> Result<()> {
        let fail = |_| Error::Authentication(what);
        let r = match &self.inner {
            Inner::AwsLc(k) => k
                .open_in_place_separate_tag(lc::Nonce::assume_unique_for_key(*nonce), lc::Aad::from(aad), tag, in_out)
                .map(|_| ())
                .map_err(|_| Error::Authentication(what)),
            other => {
                let n = (*nonce).into();
                let t = (*tag).into();
                match other {
                    Inner::Aes128(c) => c.decrypt_inout_detached(&n, aad, in_out.into(), &t).map_err(fail),
                    Inner::Aes192(c) => c.decrypt_inout_detached(&n, aad, in_out.into(), &t).map_err(fail),
                    Inner::Aes256(c) => c.decrypt_inout_detached(&n, aad, in_out.into(), &t).map_err(fail),
                    Inner::ChaCha(c) => c.decrypt_inout_detached(&n, aad, in_out.into(), &t).map_err(fail),
                    Inner::AwsLc(_) => unreachable!("handled above"),
                }
            }
        };
        if r.is_err() {
            in_out.fill(0);
        }
        r
    }
}

impl AeadKey {
    /// Encrypts `plaintext` into `out`, which must be exactly
    /// `plaintext.len() + 16` bytes: ciphertext then tag. One pass over the
    /// data, no copy.
    pub fn seal_to(&self, nonce: &Nonce, aad: &[u8], plaintext: &[u8], out: &mut [u8]) -> Result<()> {
        if out.len() != plaintext.len() + TAG_LEN {
            return Err(Error::Crypto("seal_to: output length"));
        }
        let (ct, tag_out) = out.split_at_mut(plaintext.len());
        let fail = |_| Error::Crypto("AEAD seal failed (input too long)");
        let tag: Tag = match &self.inner {
            Inner::AwsLc(k) => {
                return k
                    .seal_out_of_place_scatter(
                        lc::Nonce::assume_unique_for_key(*nonce),
                        lc::Aad::from(aad),
                        plaintext,
                        ct,
                        &[],
                        tag_out,
                    )
                    .map_err(|_| Error::Crypto("AEAD seal failed (input too long)"));
            }
            other => {
                let buf = aes_gcm::aead::inout::InOutBuf::new(plaintext, ct).map_err(|_| Error::Crypto("length"))?;
                let n = (*nonce).into();
                match other {
                    Inner::Aes128(c) => c.encrypt_inout_detached(&n, aad, buf).map_err(fail)?.into(),
                    Inner::Aes192(c) => c.encrypt_inout_detached(&n, aad, buf).map_err(fail)?.into(),
                    Inner::Aes256(c) => c.encrypt_inout_detached(&n, aad, buf).map_err(fail)?.into(),
                    Inner::ChaCha(c) => c.encrypt_inout_detached(&n, aad, buf).map_err(fail)?.into(),
                    Inner::AwsLc(_) => unreachable!("handled above"),
                }
            }
        };
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Decrypts `ciphertext_and_tag` into `out`, which must be exactly the
    /// ciphertext's length. On failure `out` is zeroed, so that no
    /// unverified plaintext remains in it.
    pub fn open_to(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        ciphertext_and_tag: &[u8],
        out: &mut [u8],
        what: &'static str,
    ) -> Result<()> {
        let ct_len =
            ciphertext_and_tag.len().checked_sub(TAG_LEN).ok_or(Error::Truncated("ciphertext shorter than its tag"))?;
        if out.len() != ct_len {
            return Err(Error::Crypto("open_to: output length"));
        }
        let (ct, tag) = ciphertext_and_tag.split_at(ct_len);
        let fail = |_| Error::Authentication(what);
        let r = match &self.inner {
            Inner::AwsLc(k) => k
                .open_separate_gather(lc::Nonce::assume_unique_for_key(*nonce), lc::Aad::from(aad), ct, tag, out)
                .map_err(|_| Error::Authentication(what)),
            other => {
                let tag: Tag = tag.try_into().map_err(|_| Error::Crypto("tag length"))?;
                let buf = aes_gcm::aead::inout::InOutBuf::new(ct, out).map_err(|_| Error::Crypto("length"))?;
                let n = (*nonce).into();
                match other {
                    Inner::Aes128(c) => c.decrypt_inout_detached(&n, aad, buf, &tag.into()).map_err(fail),
                    Inner::Aes192(c) => c.decrypt_inout_detached(&n, aad, buf, &tag.into()).map_err(fail),
                    Inner::Aes256(c) => c.decrypt_inout_detached(&n, aad, buf, &tag.into()).map_err(fail),
                    Inner::ChaCha(c) => c.decrypt_inout_detached(&n, aad, buf, &tag.into()).map_err(fail),
                    Inner::AwsLc(_) => unreachable!("handled above"),
                }
            }
        };
        if r.is_err() {
            out.fill(0);
        }
        r
    }

    /// Like [`AeadKey::open_to`], for an `out` that is probably not in the
    /// CPU cache, such as the next frame's place in a large output buffer.
    ///
    /// The RustCrypto AES-GCM makes two passes (GHASH, then CTR), and its
    /// stores into cold memory stall on reading each line in first. Zeroing
    /// `out` first claims the lines with full-line stores, so the cipher's
    /// stores hit the cache. One-shot message decryption with RustCrypto in
    /// `cargo bench -p s3seal --bench throughput` went from about 0.8 to 0.9
    /// of the raw AEAD with this. AWS-LC's stitched AES-GCM is faster
    /// writing cold memory directly, so it does.
    pub fn open_to_uncached(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        ciphertext_and_tag: &[u8],
        out: &mut [u8],
        what: &'static str,
    ) -> Result<()> {
        if !matches!(self.inner, Inner::AwsLc(_)) {
            out.fill(0);
        }
        self.open_to(nonce, aad, ciphertext_and_tag, out, what)
    }

    /// Appends the sealing of `plaintext` (ciphertext then tag) to `out`.
    pub fn seal_append(&self, nonce: &Nonce, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.resize(start + plaintext.len() + TAG_LEN, 0);
        let r = self.seal_to(nonce, aad, plaintext, &mut out[start..]);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Appends the plaintext of `ciphertext_and_tag` to `out` if it
    /// authenticates; leaves `out` unchanged otherwise.
    pub fn open_append(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        ciphertext_and_tag: &[u8],
        out: &mut Vec<u8>,
        what: &'static str,
    ) -> Result<()> {
        let start = out.len();
        let n =
            ciphertext_and_tag.len().checked_sub(TAG_LEN).ok_or(Error::Truncated("ciphertext shorter than its tag"))?;
        // Zero-filling costs one pass over the frame (in cache), but less
        // than copying the ciphertext in and opening it in place (measured
        // with aws-lc-rs: the copy pulls the ciphertext from memory before
        // the AEAD pass, which otherwise overlaps its loads with compute).
        out.resize(start + n, 0);
        let r = self.open_to(nonce, aad, ciphertext_and_tag, &mut out[start..], what);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}

/// Seals `plaintext` with a one-off key, returning ciphertext || tag.
/// Used for key wrapping, where the key is used once.
pub fn seal(
    backend: Backend,
    alg: AeadAlgorithm,
    key: &[u8],
    nonce: &Nonce,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let k = AeadKey::new(backend, alg, key)?;
    let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buf.extend_from_slice(plaintext);
    let tag = k.seal_in_place(nonce, aad, &mut buf)?;
    buf.extend_from_slice(&tag);
    Ok(buf)
}

/// Opens ciphertext || tag with a one-off key. The plaintext is returned in
/// a buffer that is zeroized on drop, since it is usually key material.
pub fn open(
    backend: Backend,
    alg: AeadAlgorithm,
    key: &[u8],
    nonce: &Nonce,
    aad: &[u8],
    ciphertext_and_tag: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>> {
    let k = AeadKey::new(backend, alg, key)?;
    let mut buf = Zeroizing::new(ciphertext_and_tag.to_vec());
    let n = k.open_in_place(nonce, aad, &mut buf, what)?.len();
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALGS: [AeadAlgorithm; 4] =
        [AeadAlgorithm::Aes128Gcm, AeadAlgorithm::Aes192Gcm, AeadAlgorithm::Aes256Gcm, AeadAlgorithm::ChaCha20Poly1305];

    #[test]
    fn backends_agree_and_detect_tampering() {
        for alg in ALGS {
            let key: Vec<u8> = (0..alg.key_len() as u8).collect();
            let nonce = [7u8; 12];
            let pt: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
            let a = seal(Backend::AwsLc, alg, &key, &nonce, b"aad", &pt).unwrap();
            let b = seal(Backend::RustCrypto, alg, &key, &nonce, b"aad", &pt).unwrap();
            assert_eq!(a, b, "{alg:?}");
            for be in Backend::ALL {
                let k = AeadKey::new(be, alg, &key).unwrap();
                let mut o = Vec::new();
                k.seal_append(&nonce, b"aad", &pt, &mut o).unwrap();
                assert_eq!(o, a, "{alg:?} {be} out of place");
                let mut back = vec![9u8];
                k.open_append(&nonce, b"aad", &a, &mut back, "t").unwrap();
                assert_eq!(&back[1..], &pt[..]);
                let mut bad = a.clone();
                bad[0] ^= 1;
                assert!(k.open_append(&nonce, b"aad", &bad, &mut back, "t").is_err());
                assert_eq!(back.len(), 1 + pt.len(), "failed open leaves the buffer");
                assert_eq!(&open(be, alg, &key, &nonce, b"aad", &a, "t").unwrap()[..], &pt[..]);
                let mut bad = a.clone();
                bad[3] ^= 1;
                assert!(matches!(open(be, alg, &key, &nonce, b"aad", &bad, "t"), Err(Error::Authentication(_))));
                assert!(open(be, alg, &key, &nonce, b"aaD", &a, "t").is_err());
                assert!(open(be, alg, &key, &nonce, b"aad", &a[..10], "t").is_err());
            }
        }
    }

    #[test]
    fn failed_opens_leave_no_plaintext() {
        for alg in ALGS {
            let key: Vec<u8> = (0..alg.key_len() as u8).collect();
            let nonce = [3u8; 12];
            let pt = vec![0x5au8; 300];
            for be in Backend::ALL {
                let k = AeadKey::new(be, alg, &key).unwrap();
                let mut sealed = Vec::new();
                k.seal_append(&nonce, b"aad", &pt, &mut sealed).unwrap();
                let mut buf = sealed.clone();
                assert_eq!(k.open_in_place(&nonce, b"aad", &mut buf, "t").unwrap(), &pt[..]);
                let mut bad = sealed.clone();
                *bad.last_mut().unwrap() ^= 1;
                let mut buf = bad.clone();
                assert!(k.open_in_place(&nonce, b"aad", &mut buf, "t").is_err());
                assert!(buf.iter().all(|&b| b == 0), "{alg:?} {be}: in place");
                let mut out = vec![1u8; pt.len()];
                assert!(k.open_to(&nonce, b"aad", &bad, &mut out, "t").is_err());
                assert!(out.iter().all(|&b| b == 0), "{alg:?} {be}: out of place");
                let mut out = vec![1u8; pt.len()];
                assert!(k.open_to_uncached(&nonce, b"aad", &bad, &mut out, "t").is_err());
                assert!(out.iter().all(|&b| b == 0), "{alg:?} {be}: out of place, uncached");
                k.open_to_uncached(&nonce, b"aad", &sealed, &mut out, "t").unwrap();
                assert_eq!(out, pt, "{alg:?} {be}: out of place, uncached");
                let (ct, tag) = bad.split_at(pt.len());
                let mut ct = ct.to_vec();
                let tag: Tag = tag.try_into().unwrap();
                assert!(k.open_in_place_detached(&nonce, b"aad", &mut ct, &tag, "t").is_err());
                assert!(ct.iter().all(|&b| b == 0), "{alg:?} {be}: detached");
            }
        }
    }

    /// NIST GCM test vector (gcmEncryptExtIV256.rsp, Count = 0 with PT).
    #[test]
    fn aes256_gcm_known_answer() {
        let key = [0u8; 32];
        let nonce = [0u8; 12];
        let pt = [0u8; 16];
        for be in Backend::ALL {
            let ct = seal(be, AeadAlgorithm::Aes256Gcm, &key, &nonce, &[], &pt).unwrap();
            assert_eq!(
                ct,
                [
                    0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e, 0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18,
                    0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0, 0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19
                ]
            );
        }
    }
}
