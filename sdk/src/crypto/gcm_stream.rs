//! AES-256-GCM over a stream, for formats that seal a whole object with
//! one GCM invocation (the Amazon S3 Encryption Client).
//!
//! The construction is GCM as NIST SP 800-38D defines it, split into its
//! two halves so that neither needs the whole message in memory:
//!
//! * [`GcmAuthenticator`] computes the tag: `GHASH_H(A, C) ⊕ E_K(J0)` with
//!   `H = E_K(0¹²⁸)` and `J0 = IV ‖ 0³¹ ‖ 1` for the 96-bit IVs used here.
//!   It absorbs the ciphertext in pieces of any size.
//! * [`GcmKeystream`] is the CTR half: the keystream `E_K(inc32(J0))`,
//!   `E_K(inc32²(J0))`, ... that encrypts and decrypts, and that can start
//!   at any byte offset (ranged reads).
//!
//! Decryption is therefore two passes by design: authenticate every
//! ciphertext byte first, and only then produce plaintext. Nothing here
//! hands out plaintext of unauthenticated ciphertext; callers keep that
//! order (see `crate::s3ec`). Encryption is one pass: encrypt a piece,
//! then absorb the ciphertext it produced.
//!
//! AES (one block for `H` and `E_K(J0)`, and the CTR keystream) comes
//! from `aws-lc-rs`; GHASH from the RustCrypto `ghash` crate (the one
//! `aes-gcm` is built from). The tests check this composition against
//! one-shot AES-GCM on random inputs split at random points, and against
//! NIST's test vectors.

use aws_lc_rs::cipher::{AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// Key length: AES-256.
pub(crate) const KEY_LEN: usize = 32;
/// IV length: 96 bits.
pub(crate) const IV_LEN: usize = 12;
/// Tag length: 128 bits.
pub(crate) const TAG_LEN: usize = 16;
/// The longest plaintext GCM allows: 2³⁹ − 256 bits.
pub(crate) const MAX_TEXT_LEN: u64 = (1 << 36) - 32;

const BLOCK: usize = 16;

fn unbound(key: &[u8]) -> Result<UnboundCipherKey> {
    if key.len() != KEY_LEN {
        return Err(Error::InvalidKey(format!("AES-256-GCM needs a 32-byte key, got {}", key.len())));
    }
    UnboundCipherKey::new(&AES_256, key).map_err(|_| Error::Crypto("AES key setup failed"))
}

/// `E_K(block)`: one AES block.
fn encrypt_block(key: &[u8], block: &mut [u8; BLOCK]) -> Result<()> {
    let ecb = EncryptingKey::ecb(unbound(key)?).map_err(|_| Error::Crypto("AES key setup failed"))?;
    ecb.less_safe_encrypt(block, EncryptionContext::None).map_err(|_| Error::Crypto("AES block encryption failed"))?;
    Ok(())
}

/// `J0 = IV ‖ 0³¹ ‖ 1`.
fn j0(iv: &[u8; IV_LEN]) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[..IV_LEN].copy_from_slice(iv);
    b[BLOCK - 1] = 1;
    b
}

/// The authentication half of GCM: absorbs additional data, then the
/// ciphertext in pieces, and yields or checks the tag.
pub(crate) struct GcmAuthenticator {
    ghash: GHash,
    /// `E_K(J0)`, XORed into the GHASH output.
    mask: [u8; BLOCK],
    /// A ciphertext block not yet complete.
    partial: [u8; BLOCK],
    partial_len: usize,
    aad_len: u64,
    text_len: u64,
}

impl std::fmt::Debug for GcmAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmAuthenticator").field("text_len", &self.text_len).finish_non_exhaustive()
    }
}

impl Drop for GcmAuthenticator {
    fn drop(&mut self) {
        self.mask.zeroize();
        self.partial.zeroize();
    }
}

impl GcmAuthenticator {
    /// Starts the tag computation for `key`, `iv` and additional data `aad`.
    pub(crate) fn new(key: &[u8], iv: &[u8; IV_LEN], aad: &[u8]) -> Result<Self> {
        let mut h = [0u8; BLOCK];
        encrypt_block(key, &mut h)?;
        let mut ghash = GHash::new(&ghash::Key::from(h));
        h.zeroize();
        let mut mask = j0(iv);
        encrypt_block(key, &mut mask)?;
        ghash.update_padded(aad);
        Ok(Self { ghash, mask, partial: [0; BLOCK], partial_len: 0, aad_len: aad.len() as u64, text_len: 0 })
    }

    /// Absorbs the next piece of ciphertext.
    pub(crate) fn update(&mut self, mut ciphertext: &[u8]) -> Result<()> {
        self.text_len =
            self.text_len.checked_add(ciphertext.len() as u64).filter(|n| *n <= MAX_TEXT_LEN).ok_or_else(|| {
                Error::InvalidParameter("AES-GCM cannot process more than 64 GiB in one message".into())
            })?;
        if self.partial_len > 0 {
            let take = (BLOCK - self.partial_len).min(ciphertext.len());
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&ciphertext[..take]);
            self.partial_len += take;
            ciphertext = &ciphertext[take..];
            if self.partial_len < BLOCK {
                return Ok(());
            }
            self.ghash.update(&[ghash::Block::from(self.partial)]);
            self.partial_len = 0;
        }
        let whole = ciphertext.len() - ciphertext.len() % BLOCK;
        // `update_padded` on a block-aligned slice is plain GHASH over it.
        self.ghash.update_padded(&ciphertext[..whole]);
        let rest = &ciphertext[whole..];
        self.partial[..rest.len()].copy_from_slice(rest);
        self.partial_len = rest.len();
        Ok(())
    }

    /// The tag of everything absorbed.
    pub(crate) fn tag(mut self) -> [u8; TAG_LEN] {
        let mut ghash = self.ghash.clone();
        ghash.update_padded(&self.partial[..self.partial_len]);
        let mut lengths = [0u8; BLOCK];
        lengths[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(self.text_len * 8).to_be_bytes());
        ghash.update(&[ghash::Block::from(lengths)]);
        let s = ghash.finalize();
        let mut tag = [0u8; TAG_LEN];
        for (t, (a, b)) in tag.iter_mut().zip(s.iter().zip(self.mask.iter())) {
            *t = a ^ b;
        }
        self.partial_len = 0;
        tag
    }

    /// Compares the tag of everything absorbed with `expected`, in constant time.
    pub(crate) fn verify(self, expected: &[u8]) -> Result<()> {
        let tag = self.tag();
        if expected.len() == TAG_LEN && bool::from(tag.ct_eq(expected)) {
            Ok(())
        } else {
            Err(Error::Authentication("AES-GCM object tag"))
        }
    }
}

/// The CTR half of GCM: the keystream that encrypts and decrypts,
/// positioned at any byte offset of the message. Block `i` of the message
/// uses the counter block `IV ‖ [2 + i]₃₂`; the length limit keeps the
/// 32-bit counter from wrapping.
pub(crate) struct GcmKeystream {
    ctr: EncryptingKey,
    iv: [u8; IV_LEN],
    offset: u64,
}

impl std::fmt::Debug for GcmKeystream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmKeystream").field("offset", &self.offset).finish_non_exhaustive()
    }
}

impl GcmKeystream {
    /// The keystream of `key` and `iv`, at byte `offset` of the message.
    pub(crate) fn new(key: &[u8], iv: &[u8; IV_LEN], offset: u64) -> Result<Self> {
        if offset > MAX_TEXT_LEN {
            return Err(Error::InvalidParameter("offset beyond the AES-GCM message limit".into()));
        }
        let ctr = EncryptingKey::ctr(unbound(key)?).map_err(|_| Error::Crypto("AES key setup failed"))?;
        Ok(Self { ctr, iv: *iv, offset })
    }

    fn counter_block(&self) -> EncryptionContext {
        let mut block = [0u8; BLOCK];
        block[..IV_LEN].copy_from_slice(&self.iv);
        // offset ≤ MAX_TEXT_LEN, so the block index fits 32 bits with room for 2.
        let index = (self.offset / BLOCK as u64 + 2) as u32;
        block[IV_LEN..].copy_from_slice(&index.to_be_bytes());
        EncryptionContext::Iv128(FixedLength::from(block))
    }

    /// XORs the next `buf.len()` keystream bytes into `buf` (encrypts or
    /// decrypts in place).
    pub(crate) fn apply(&mut self, mut buf: &mut [u8]) -> Result<()> {
        if self.offset.checked_add(buf.len() as u64).is_none_or(|end| end > MAX_TEXT_LEN) {
            return Err(Error::InvalidParameter("AES-GCM message limit reached".into()));
        }
        let fail = |_| Error::Crypto("AES-CTR failed");
        let skip = (self.offset % BLOCK as u64) as usize;
        if skip != 0 && !buf.is_empty() {
            let mut block = [0u8; BLOCK];
            self.ctr.less_safe_encrypt(&mut block, self.counter_block()).map_err(fail)?;
            let n = (BLOCK - skip).min(buf.len());
            for (b, k) in buf[..n].iter_mut().zip(&block[skip..skip + n]) {
                *b ^= k;
            }
            block.zeroize();
            self.offset += n as u64;
            buf = &mut buf[n..];
        }
        if !buf.is_empty() {
            self.ctr.less_safe_encrypt(buf, self.counter_block()).map_err(fail)?;
            self.offset += buf.len() as u64;
        }
        Ok(())
    }
}

/// Streaming AES-256-GCM encryption: [`GcmEncryptor::update`] encrypts
/// pieces in place, [`GcmEncryptor::finish`] returns the tag.
#[derive(Debug)]
pub(crate) struct GcmEncryptor {
    keystream: GcmKeystream,
    auth: GcmAuthenticator,
}

impl GcmEncryptor {
    /// Starts a message under `key`, `iv` and additional data `aad`.
    pub(crate) fn new(key: &[u8], iv: &[u8; IV_LEN], aad: &[u8]) -> Result<Self> {
        Ok(Self { keystream: GcmKeystream::new(key, iv, 0)?, auth: GcmAuthenticator::new(key, iv, aad)? })
    }

    /// Encrypts the next piece of plaintext in place.
    pub(crate) fn update(&mut self, buf: &mut [u8]) -> Result<()> {
        self.keystream.apply(buf)?;
        self.auth.update(buf)
    }

    /// The tag, to append after the ciphertext.
    pub(crate) fn finish(self) -> [u8; TAG_LEN] {
        self.auth.tag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::aead::{self, AeadAlgorithm, Backend};

    fn one_shot(key: &[u8], iv: &[u8; IV_LEN], aad: &[u8], pt: &[u8]) -> Vec<u8> {
        aead::seal(Backend::AwsLc, AeadAlgorithm::Aes256Gcm, key, iv, aad, pt).expect("seal")
    }

    /// NIST GCM test case 16 (AES-256, 60-byte plaintext, 20-byte AAD).
    #[test]
    fn nist_test_case_16() {
        let key = hex_decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let iv: [u8; 12] = hex_decode("cafebabefacedbaddecaf888").try_into().expect("iv");
        let pt = hex_decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = hex_decode("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let want_ct = hex_decode(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        );
        let want_tag = hex_decode("76fc6ece0f4e1768cddf8853bb2d551b");
        let mut buf = pt.clone();
        let mut enc = GcmEncryptor::new(&key, &iv, &aad).expect("enc");
        let (a, b) = buf.split_at_mut(7);
        enc.update(a).expect("update");
        enc.update(b).expect("update");
        assert_eq!(buf, want_ct);
        assert_eq!(enc.finish().to_vec(), want_tag);
        let mut auth = GcmAuthenticator::new(&key, &iv, &aad).expect("auth");
        auth.update(&want_ct).expect("update");
        auth.verify(&want_tag).expect("verify");
    }

    #[test]
    fn matches_one_shot_gcm_for_any_split() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let len = (next() % 700) as usize;
            let key: Vec<u8> = (0..32).map(|_| next() as u8).collect();
            let iv: [u8; 12] = std::array::from_fn(|_| next() as u8);
            let aad: Vec<u8> = (0..(next() % 40) as usize).map(|_| next() as u8).collect();
            let pt: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let sealed = one_shot(&key, &iv, &aad, &pt);
            let (ct, tag) = sealed.split_at(len);

            let mut buf = pt.clone();
            let mut enc = GcmEncryptor::new(&key, &iv, &aad).expect("enc");
            let mut at = 0;
            while at < len {
                let step = 1 + (next() % 50) as usize;
                let end = (at + step).min(len);
                enc.update(&mut buf[at..end]).expect("update");
                at = end;
            }
            assert_eq!(buf, ct, "round {round}");
            assert_eq!(enc.finish().as_slice(), tag, "round {round}");

            let mut auth = GcmAuthenticator::new(&key, &iv, &aad).expect("auth");
            let mut at = 0;
            while at < len {
                let end = (at + 1 + (next() % 33) as usize).min(len);
                auth.update(&ct[at..end]).expect("update");
                at = end;
            }
            auth.verify(tag).expect("verify");

            if len > 0 {
                let off = next() % len as u64;
                let mut part = ct[off as usize..].to_vec();
                GcmKeystream::new(&key, &iv, off).expect("ks").apply(&mut part).expect("apply");
                assert_eq!(part, &pt[off as usize..], "round {round}");
            }
        }
    }

    #[test]
    fn tampering_fails() {
        let key = [7u8; 32];
        let iv = [1u8; 12];
        let sealed = one_shot(&key, &iv, b"aad", b"some plaintext of a few blocks, more than one");
        let (ct, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        for i in 0..ct.len() {
            let mut bad = ct.to_vec();
            bad[i] ^= 1;
            let mut auth = GcmAuthenticator::new(&key, &iv, b"aad").expect("auth");
            auth.update(&bad).expect("update");
            assert!(auth.verify(tag).is_err());
        }
        let mut auth = GcmAuthenticator::new(&key, &iv, b"aaD").expect("auth");
        auth.update(ct).expect("update");
        assert!(auth.verify(tag).is_err());
        let mut auth = GcmAuthenticator::new(&key, &iv, b"aad").expect("auth");
        auth.update(ct).expect("update");
        assert!(auth.verify(&tag[..15]).is_err());
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }
}
