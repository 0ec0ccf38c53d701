//! The raw RSA keyring: wraps data keys with RSA under a key pair the
//! caller holds (ESDK `framework/raw-rsa-keyring.md`). A public key can only
//! encrypt; a private key can decrypt (and encrypt, with its public half).
//!
//! Encrypted data key layout: provider id = key namespace; provider info =
//! key name; ciphertext = the RSA ciphertext of the data key.

use async_trait::async_trait;
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512, OaepAlgorithm,
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::error::{Error, NoKeyDetails, Result};
use crate::keyring::{Keyring, already_has_key};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::s3ec::{self, ContentSuite, WrapAlgorithm, WrappedKey};

/// RSA padding schemes of the ESDK raw RSA keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    /// PKCS #1 v1.5.
    Pkcs1,
    /// OAEP with SHA-1 and MGF1-SHA-1.
    OaepSha1,
    /// OAEP with SHA-256 and MGF1-SHA-256.
    OaepSha256,
    /// OAEP with SHA-384 and MGF1-SHA-384.
    OaepSha384,
    /// OAEP with SHA-512 and MGF1-SHA-512.
    OaepSha512,
}

impl RsaPadding {
    fn oaep(self) -> Option<&'static OaepAlgorithm> {
        match self {
            RsaPadding::Pkcs1 => None,
            RsaPadding::OaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
            RsaPadding::OaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
            RsaPadding::OaepSha384 => Some(&OAEP_SHA384_MGF1SHA384),
            RsaPadding::OaepSha512 => Some(&OAEP_SHA512_MGF1SHA512),
        }
    }
}

impl std::str::FromStr for RsaPadding {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "pkcs1" => RsaPadding::Pkcs1,
            "oaep-sha1" => RsaPadding::OaepSha1,
            "oaep-sha256" => RsaPadding::OaepSha256,
            "oaep-sha384" => RsaPadding::OaepSha384,
            "oaep-sha512" => RsaPadding::OaepSha512,
            other => {
                return Err(Error::InvalidParameter(format!(
                    "unknown RSA padding {other:?} (expected oaep-sha256, oaep-sha1, oaep-sha384, oaep-sha512 or pkcs1)"
                )));
            }
        })
    }
}

/// A keyring holding one RSA key.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public: PublicEncryptingKey,
    private: Option<PrivateDecryptingKey>,
}

impl std::fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawRsaKeyring({}, {:?}, private: {})", self.describe(), self.padding, self.private.is_some())
    }
}

fn pem_der(pem_text: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>)> {
    let p = pem::parse(pem_text).map_err(|e| Error::InvalidKey(format!("not a PEM key: {e}")))?;
    let tag = p.tag().to_string();
    Ok((tag, Zeroizing::new(p.into_contents())))
}

impl RawRsaKeyring {
    /// A keyring from a PEM key: `PUBLIC KEY` / `RSA PUBLIC KEY` (encrypt
    /// only) or `PRIVATE KEY` / `RSA PRIVATE KEY` (encrypt and decrypt).
    pub fn from_pem(
        namespace: impl Into<String>,
        name: impl Into<String>,
        pem_text: &[u8],
        padding: RsaPadding,
    ) -> Result<Self> {
        let (tag, der) = pem_der(pem_text)?;
        let rejected = |e: aws_lc_rs::error::KeyRejected| Error::InvalidKey(format!("RSA key rejected: {e}"));
        let (public, private) = match tag.as_str() {
            "PRIVATE KEY" => {
                let k = PrivateDecryptingKey::from_pkcs8(&der).map_err(rejected)?;
                (k.public_key(), Some(k))
            }
            "RSA PRIVATE KEY" => {
                let pkcs8 = pkcs1_private_to_pkcs8(&der);
                let k = PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(rejected)?;
                (k.public_key(), Some(k))
            }
            "PUBLIC KEY" | "RSA PUBLIC KEY" => (PublicEncryptingKey::from_der(&der).map_err(rejected)?, None),
            other => return Err(Error::InvalidKey(format!("unsupported PEM block {other:?} for an RSA key"))),
        };
        Ok(Self { namespace: namespace.into(), name: name.into(), padding, public, private })
    }

    fn wrap(&self, data_key: &[u8]) -> Result<Vec<u8>> {
        self.wrap_with(self.padding.oaep(), data_key)
    }

    /// RSA encryption with OAEP `oaep`, or PKCS #1 v1.5 when `None`.
    fn wrap_with(&self, oaep: Option<&'static OaepAlgorithm>, data_key: &[u8]) -> Result<Vec<u8>> {
        let fail = |_| Error::Keyring { keyring: self.describe(), message: "RSA encryption failed".into() };
        let mut out = vec![0u8; self.public.key_size_bytes()];
        let n = match oaep {
            Some(alg) => OaepPublicEncryptingKey::new(self.public.clone())
                .map_err(fail)?
                .encrypt(alg, data_key, &mut out, None)
                .map_err(fail)?
                .len(),
            None => Pkcs1PublicEncryptingKey::new(self.public.clone())
                .map_err(fail)?
                .encrypt(data_key, &mut out)
                .map_err(fail)?
                .len(),
        };
        out.truncate(n);
        Ok(out)
    }

    fn unwrap_key(&self, private: &PrivateDecryptingKey, ct: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.unwrap_with(private, self.padding.oaep(), ct)
    }

    /// RSA decryption with OAEP `oaep`, or PKCS #1 v1.5 when `None`.
    fn unwrap_with(
        &self,
        private: &PrivateDecryptingKey,
        oaep: Option<&'static OaepAlgorithm>,
        ct: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; private.key_size_bytes()]);
        let n = match oaep {
            Some(alg) => {
                OaepPrivateDecryptingKey::new(private.clone()).ok()?.decrypt(alg, ct, &mut out, None).ok()?.len()
            }
            None => Pkcs1PrivateDecryptingKey::new(private.clone()).ok()?.decrypt(ct, &mut out).ok()?.len(),
        };
        out.truncate(n);
        Some(out)
    }
}

/// Wraps a PKCS #1 `RSAPrivateKey` in a PKCS #8 `PrivateKeyInfo`.
fn pkcs1_private_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption, NULL }
    const ALG_ID: [u8; 15] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    fn der_len(n: usize, out: &mut Vec<u8>) {
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes = n.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    let mut octet = vec![0x04];
    der_len(pkcs1.len(), &mut octet);
    octet.extend_from_slice(pkcs1);
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(&ALG_ID);
    body.extend_from_slice(&octet);
    let mut out = vec![0x30];
    der_len(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

#[async_trait]
impl Keyring for RawRsaKeyring {
    async fn on_encrypt(&self, mut materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let ciphertext = self.wrap(materials.data_key_or_generate()?.as_bytes())?;
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: self.namespace.as_bytes().to_vec(),
            provider_info: self.name.as_bytes().to_vec(),
            ciphertext,
        });
        Ok(materials)
    }

    async fn on_decrypt(
        &self,
        mut materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        if materials.data_key.is_some() {
            return Err(already_has_key(&self.describe()));
        }
        let Some(private) = &self.private else {
            return Err(Error::Keyring {
                keyring: self.describe(),
                message: "this RSA keyring holds only a public key and cannot decrypt; supply the private key".into(),
            });
        };
        let mut attempts = Vec::new();
        for edk in edks {
            if edk.provider_id != self.namespace.as_bytes() || edk.provider_info != self.name.as_bytes() {
                continue;
            }
            match self.unwrap_key(private, &edk.ciphertext) {
                Some(k) if k.len() == materials.suite.data_key_len() => {
                    materials.data_key = Some(DataKey::new(k.to_vec()));
                    return Ok(materials);
                }
                _ => attempts.push(format!("{}: the RSA key or padding does not match", self.describe())),
            }
        }
        if attempts.is_empty() {
            attempts.push(self.describe());
        }
        Err(Error::NoDecryptableKey(NoKeyDetails { message_keys: Vec::new(), attempts }))
    }

    async fn s3ec_unwrap(&self, key: &WrappedKey) -> Result<Option<DataKey>> {
        if key.algorithm != WrapAlgorithm::RsaOaepSha1 {
            return Ok(None);
        }
        let Some(private) = &self.private else {
            return Err(Error::Keyring {
                keyring: self.describe(),
                message: "this RSA keyring holds only a public key and cannot decrypt; supply the private key".into(),
            });
        };
        let Some(pseudo) = self.unwrap_with(private, Some(&OAEP_SHA1_MGF1SHA1), &key.ciphertext) else {
            return Err(Error::NoDecryptableKey(NoKeyDetails {
                message_keys: vec!["S3 Encryption Client RSA-OAEP-SHA1 key".into()],
                attempts: vec![format!("{}: the RSA key does not match", self.describe())],
            }));
        };
        s3ec::wrap::parse_rsa_pseudo_key(key.suite, &pseudo).map(Some)
    }

    async fn s3ec_wrap(
        &self,
        suite: ContentSuite,
        _context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>> {
        let dk = DataKey::generate(s3ec::DATA_KEY_LEN)?;
        let pseudo = s3ec::wrap::rsa_pseudo_key(suite, dk.as_bytes())?;
        let ciphertext = self.wrap_with(Some(&OAEP_SHA1_MGF1SHA1), &pseudo)?;
        let mut matdesc = EncryptionContext::new();
        matdesc.insert("s3seal-key".into(), format!("{}:{}", self.namespace, self.name));
        Ok(Some((dk, WrappedKey { algorithm: WrapAlgorithm::RsaOaepSha1, suite, ciphertext, context: matdesc })))
    }

    fn describe(&self) -> String {
        format!("rsa:{}:{}", self.namespace, self.name)
    }
}
