//! ECDSA message signatures of the signed ESDK suites.
//!
//! The signature covers the serialized header and body; it is computed over
//! a running hash so that messages of any size are signed in constant
//! memory. Keys are exchanged as base64 of the compressed SEC1 point, stored
//! in the encryption context under `aws-crypto-public-key`; signatures are
//! DER-encoded (`data-format/message-footer.md`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use sha2::{Digest, Sha256, Sha384};

use crate::crypto::random;
use crate::error::{Error, Result};

/// The signature that authenticates the sender of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// ECDSA on P-256 over SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 over SHA-384.
    EcdsaP384Sha384,
}

enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
}

impl Hasher {
    fn new(alg: SignatureAlgorithm) -> Self {
        match alg {
            SignatureAlgorithm::EcdsaP256Sha256 => Hasher::Sha256(Sha256::new()),
            SignatureAlgorithm::EcdsaP384Sha384 => Hasher::Sha384(Sha384::new()),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
        }
    }
    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
        }
    }
}

/// A private signing key (zeroized on drop by the curve crates).
pub enum SigningKey {
    /// P-256.
    P256(p256::ecdsa::SigningKey),
    /// P-384.
    P384(p384::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// Generates a fresh key for `alg`.
    pub fn generate(alg: SignatureAlgorithm) -> Result<Self> {
        // Rejection sampling: a uniformly random scalar in [1, n).
        for _ in 0..64 {
            match alg {
                SignatureAlgorithm::EcdsaP256Sha256 => {
                    let b = zeroize::Zeroizing::new(random::array::<32>()?);
                    if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&b[..]) {
                        return Ok(SigningKey::P256(k));
                    }
                }
                SignatureAlgorithm::EcdsaP384Sha384 => {
                    let b = zeroize::Zeroizing::new(random::array::<48>()?);
                    if let Ok(k) = p384::ecdsa::SigningKey::from_slice(&b[..]) {
                        return Ok(SigningKey::P384(k));
                    }
                }
            }
        }
        Err(Error::Crypto("could not generate a signing key"))
    }

    /// A key from its big-endian scalar bytes (for known-answer tests).
    pub fn from_bytes(alg: SignatureAlgorithm, scalar: &[u8]) -> Result<Self> {
        let bad = |_| Error::InvalidKey("not a valid ECDSA private scalar".into());
        Ok(match alg {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                SigningKey::P256(p256::ecdsa::SigningKey::from_slice(scalar).map_err(bad)?)
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                SigningKey::P384(p384::ecdsa::SigningKey::from_slice(scalar).map_err(bad)?)
            }
        })
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            SigningKey::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            SigningKey::P384(_) => SignatureAlgorithm::EcdsaP384Sha384,
        }
    }

    /// The public key as stored in the encryption context: base64 of the
    /// compressed point.
    pub fn public_key_base64(&self) -> String {
        let point = match self {
            SigningKey::P256(k) => k.verifying_key().to_sec1_point(true).as_bytes().to_vec(),
            SigningKey::P384(k) => k.verifying_key().to_sec1_point(true).as_bytes().to_vec(),
        };
        B64.encode(point)
    }
}

/// Accumulates the signed bytes of a message being written.
pub struct Signer {
    key: SigningKey,
    hash: Hasher,
}

impl Signer {
    /// Starts a signature with `key`.
    pub fn new(key: SigningKey) -> Self {
        let hash = Hasher::new(key.algorithm());
        Self { key, hash }
    }

    /// Adds bytes to the signed data.
    pub fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
    }

    /// Signs everything added so far; returns the DER signature.
    pub fn finish(self) -> Result<Vec<u8>> {
        let digest = self.hash.finish();
        let fail = |_| Error::Crypto("ECDSA signing failed");
        Ok(match &self.key {
            SigningKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign_prehash(&digest).map_err(fail)?;
                s.to_der().as_bytes().to_vec()
            }
            SigningKey::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(&digest).map_err(fail)?;
                s.to_der().as_bytes().to_vec()
            }
        })
    }
}

enum VerifyingKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// Accumulates the signed bytes of a message being read and checks its
/// signature at the end.
pub struct Verifier {
    key: VerifyingKey,
    hash: Hasher,
}

impl Verifier {
    /// Starts verification against the base64 public key from the
    /// encryption context.
    pub fn new(alg: SignatureAlgorithm, public_key_base64: &str) -> Result<Self> {
        let bad = || Error::EncryptionContext("aws-crypto-public-key is not a valid public key".into());
        let point = B64.decode(public_key_base64).map_err(|_| bad())?;
        let key = match alg {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                VerifyingKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| bad())?)
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                VerifyingKey::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| bad())?)
            }
        };
        Ok(Self { key, hash: Hasher::new(alg) })
    }

    /// Adds bytes to the signed data.
    pub fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
    }

    /// Checks the DER signature over everything added.
    pub fn verify(self, der: &[u8]) -> Result<()> {
        let digest = self.hash.finish();
        let ok = match &self.key {
            VerifyingKey::P256(k) => {
                p256::ecdsa::Signature::from_der(der).ok().is_some_and(|s| k.verify_prehash(&digest, &s).is_ok())
            }
            VerifyingKey::P384(k) => {
                p384::ecdsa::Signature::from_der(der).ok().is_some_and(|s| k.verify_prehash(&digest, &s).is_ok())
            }
        };
        if ok { Ok(()) } else { Err(Error::BadSignature) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_both_curves() {
        for alg in [SignatureAlgorithm::EcdsaP256Sha256, SignatureAlgorithm::EcdsaP384Sha384] {
            let key = SigningKey::generate(alg).unwrap();
            let pk = key.public_key_base64();
            let mut s = Signer::new(key);
            s.update(b"hello ");
            s.update(b"world");
            let sig = s.finish().unwrap();
            let mut v = Verifier::new(alg, &pk).unwrap();
            v.update(b"hello world");
            v.verify(&sig).unwrap();
            let mut v = Verifier::new(alg, &pk).unwrap();
            v.update(b"hello worle");
            assert!(matches!(v.verify(&sig), Err(Error::BadSignature)));
            assert!(Verifier::new(alg, "not base64!").is_err());
        }
    }
}
