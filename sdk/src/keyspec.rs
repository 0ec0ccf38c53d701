//! Key specs: one-line descriptions of keys, as users write them on the
//! command line (`s3seal --key ...`) and in the proxy configuration, and the
//! keyrings they build.
//!
//! | spec | keyring |
//! | --- | --- |
//! | `aes:NAMESPACE:NAME:PATH` | [`RawAesKeyring`] over the key file at `PATH` (16, 24 or 32 raw bytes, or base64 text of that many bytes) |
//! | `rsa:NAMESPACE:NAME:PATH[:PADDING]` | [`RawRsaKeyring`] over the PEM file at `PATH` (public key: encrypt only; private key: both); `PADDING` is `oaep-sha256` (default), `oaep-sha1`, `oaep-sha384`, `oaep-sha512` or `pkcs1` |
//! | `kms:KEY` | [`KmsKeyring`] for a KMS key id, alias or ARN |
//! | `kms-discovery[:[PARTITION:]ACCOUNT,...]` | [`KmsDiscoveryKeyring`], optionally limited to the accounts (partition `aws` unless named) |
//!
//! Several specs make a [`MultiKeyring`] whose first keyring generates the
//! data key ([`keyring_from_specs`]).
//!
//! ```
//! use s3seal::keyspec::KeySpec;
//! let spec: KeySpec = "aes:acme:prod:/etc/acme/prod.key".parse()?;
//! assert_eq!(spec.to_string(), "aes:acme:prod:/etc/acme/prod.key");
//! assert!(!spec.needs_kms());
//! # Ok::<(), s3seal::Error>(())
//! ```

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keyring::{
    Keyring, KmsDiscoveryKeyring, KmsKeyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding,
};

/// The partition a discovery filter uses when the spec names none.
pub const DEFAULT_PARTITION: &str = "aws";

/// Largest key file read (a 16 KiB RSA key in PEM is far smaller).
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// A parsed key spec (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySpec {
    /// `aes:NAMESPACE:NAME:PATH`: a raw AES wrapping key read from a file.
    Aes {
        /// The key namespace (the provider id written in messages).
        namespace: String,
        /// The key name.
        name: String,
        /// The key file.
        path: PathBuf,
    },
    /// `rsa:NAMESPACE:NAME:PATH[:PADDING]`: an RSA key read from a PEM file.
    Rsa {
        /// The key namespace (the provider id written in messages).
        namespace: String,
        /// The key name.
        name: String,
        /// The PEM file (public key to encrypt, private key to decrypt).
        path: PathBuf,
        /// The padding scheme (`oaep-sha256` unless given).
        padding: RsaPadding,
    },
    /// `kms:KEY`: an AWS KMS key id, alias or ARN.
    Kms {
        /// The key identifier as given.
        key_id: String,
    },
    /// `kms-discovery[:[PARTITION:]ACCOUNT,...]`: any KMS key the
    /// credentials may use, optionally only keys of these accounts.
    KmsDiscovery {
        /// `Some((partition, accounts))` to accept only keys of these accounts.
        filter: Option<(String, Vec<String>)>,
    },
}

/// The usage line of every spec form, for error messages.
pub const SPEC_FORMS: &str =
    "aes:NAMESPACE:NAME:PATH, rsa:NAMESPACE:NAME:PATH[:PADDING], kms:KEY or kms-discovery[:ACCOUNT,...]";

fn padding_name(p: RsaPadding) -> &'static str {
    match p {
        RsaPadding::Pkcs1 => "pkcs1",
        RsaPadding::OaepSha1 => "oaep-sha1",
        RsaPadding::OaepSha256 => "oaep-sha256",
        RsaPadding::OaepSha384 => "oaep-sha384",
        RsaPadding::OaepSha512 => "oaep-sha512",
    }
}

fn bad_spec(spec: &str, why: impl fmt::Display) -> Error {
    Error::InvalidParameter(format!("invalid key spec {spec:?}: {why}"))
}

/// Splits `NAMESPACE:NAME:REST` and checks that namespace and name are set.
fn ns_name_rest<'a>(spec: &str, rest: &'a str, form: &str) -> Result<(&'a str, &'a str, &'a str)> {
    let mut parts = rest.splitn(3, ':');
    let (Some(ns), Some(name), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad_spec(spec, format_args!("expected {form}")));
    };
    if ns.is_empty() {
        return Err(bad_spec(spec, format_args!("the namespace is empty (expected {form})")));
    }
    if name.is_empty() {
        return Err(bad_spec(spec, format_args!("the key name is empty (expected {form})")));
    }
    if tail.is_empty() {
        return Err(bad_spec(spec, format_args!("the key file path is empty (expected {form})")));
    }
    Ok((ns, name, tail))
}

impl FromStr for KeySpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self> {
        let (kind, rest) = match spec.split_once(':') {
            Some((k, r)) => (k, Some(r)),
            None => (spec, None),
        };
        match kind.to_ascii_lowercase().as_str() {
            "aes" => {
                let form = "aes:NAMESPACE:NAME:PATH";
                let (ns, name, path) = ns_name_rest(spec, rest.unwrap_or(""), form)?;
                Ok(KeySpec::Aes { namespace: ns.into(), name: name.into(), path: path.into() })
            }
            "rsa" => {
                let form = "rsa:NAMESPACE:NAME:PATH[:PADDING]";
                let (ns, name, tail) = ns_name_rest(spec, rest.unwrap_or(""), form)?;
                // PATH may itself hold ':'; a last segment that names a
                // padding is the padding.
                let (path, padding) = match tail.rsplit_once(':') {
                    Some((p, pad)) if !p.is_empty() => match pad.parse::<RsaPadding>() {
                        Ok(padding) => (p, padding),
                        Err(_) if looks_like_padding(pad) => {
                            return Err(bad_spec(
                                spec,
                                format_args!(
                                    "unknown RSA padding {pad:?} (expected oaep-sha256, oaep-sha1, oaep-sha384, oaep-sha512 or pkcs1)"
                                ),
                            ));
                        }
                        Err(_) => (tail, RsaPadding::OaepSha256),
                    },
                    _ => (tail, RsaPadding::OaepSha256),
                };
                Ok(KeySpec::Rsa { namespace: ns.into(), name: name.into(), path: path.into(), padding })
            }
            "kms" => match rest {
                Some(id) if !id.is_empty() => {
                    if id.starts_with("arn:") && crate::keyring::kms::KmsArn::parse(id).is_none() {
                        return Err(bad_spec(
                            spec,
                            "not a valid AWS KMS ARN (expected arn:PARTITION:kms:REGION:ACCOUNT:key/ID or ...:alias/NAME)",
                        ));
                    }
                    Ok(KeySpec::Kms { key_id: id.into() })
                }
                _ => Err(bad_spec(spec, "expected kms:KEY with a key id, alias/NAME or key ARN")),
            },
            "kms-discovery" => {
                let Some(rest) = rest else {
                    return Ok(KeySpec::KmsDiscovery { filter: None });
                };
                let (partition, accounts) = match rest.split_once(':') {
                    Some((p, a)) => (p, a),
                    None => (DEFAULT_PARTITION, rest),
                };
                if partition.is_empty() {
                    return Err(bad_spec(
                        spec,
                        "the partition is empty (expected kms-discovery[:[PARTITION:]ACCOUNT,...])",
                    ));
                }
                let accounts: Vec<String> = accounts.split(',').map(str::trim).map(String::from).collect();
                if let Some(bad) = accounts.iter().find(|a| a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit())) {
                    return Err(bad_spec(
                        spec,
                        format_args!(
                            "{bad:?} is not an AWS account id (expected kms-discovery:ACCOUNT,... with 12-digit account ids)"
                        ),
                    ));
                }
                Ok(KeySpec::KmsDiscovery { filter: Some((partition.into(), accounts)) })
            }
            "" => Err(bad_spec(spec, format_args!("empty key spec (expected {SPEC_FORMS})"))),
            other => Err(bad_spec(spec, format_args!("unknown key type {other:?} (expected {SPEC_FORMS})"))),
        }
    }
}

fn looks_like_padding(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.starts_with("oaep") || s.starts_with("pkcs")
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySpec::Aes { namespace, name, path } => write!(f, "aes:{namespace}:{name}:{}", path.display()),
            KeySpec::Rsa { namespace, name, path, padding } => {
                write!(f, "rsa:{namespace}:{name}:{}", path.display())?;
                if *padding != RsaPadding::OaepSha256 {
                    write!(f, ":{}", padding_name(*padding))?;
                }
                Ok(())
            }
            KeySpec::Kms { key_id } => write!(f, "kms:{key_id}"),
            KeySpec::KmsDiscovery { filter: None } => f.write_str("kms-discovery"),
            KeySpec::KmsDiscovery { filter: Some((partition, accounts)) } => {
                f.write_str("kms-discovery:")?;
                if partition != DEFAULT_PARTITION {
                    write!(f, "{partition}:")?;
                }
                f.write_str(&accounts.join(","))
            }
        }
    }
}

impl KeySpec {
    /// True for the specs that call AWS KMS (and so need a KMS client).
    pub fn needs_kms(&self) -> bool {
        matches!(self, KeySpec::Kms { .. } | KeySpec::KmsDiscovery { .. })
    }

    /// The AWS region named by a `kms:` ARN, if any (useful when the
    /// environment names no region).
    pub fn kms_region(&self) -> Option<String> {
        match self {
            KeySpec::Kms { key_id } => crate::keyring::kms::KmsArn::parse(key_id).map(|a| a.region),
            _ => None,
        }
    }

    /// Builds the keyring: reads key files now; KMS specs use `kms`, and
    /// fail with [`Error::InvalidParameter`] when it is `None`.
    pub fn keyring(&self, kms: Option<&aws_sdk_kms::Client>) -> Result<Arc<dyn Keyring>> {
        let need_kms = || {
            kms.cloned().ok_or_else(|| {
                Error::InvalidParameter(format!("key spec {self} needs an AWS KMS client, and none was configured"))
            })
        };
        Ok(match self {
            KeySpec::Aes { namespace, name, path } => {
                let key = read_aes_key(path)?;
                Arc::new(RawAesKeyring::new(namespace.clone(), name.clone(), &key)?)
            }
            KeySpec::Rsa { namespace, name, path, padding } => {
                let pem = read_key_file(path, "RSA key")?;
                let keyring =
                    RawRsaKeyring::from_pem(namespace.clone(), name.clone(), &pem, *padding).map_err(|e| {
                        Error::InvalidKey(format!("RSA key file {}: {}", path.display(), strip_invalid_key(e)))
                    })?;
                Arc::new(keyring)
            }
            KeySpec::Kms { key_id } => Arc::new(KmsKeyring::new(need_kms()?, key_id.clone())),
            KeySpec::KmsDiscovery { filter } => {
                let keyring = KmsDiscoveryKeyring::new(need_kms()?);
                Arc::new(match filter {
                    Some((partition, accounts)) => keyring.with_filter(partition.clone(), accounts.clone()),
                    None => keyring,
                })
            }
        })
    }
}

fn strip_invalid_key(e: Error) -> String {
    match e {
        Error::InvalidKey(m) => m,
        other => other.to_string(),
    }
}

/// Parses each of `specs` (as [`KeySpec::from_str`]).
pub fn parse_specs<S: AsRef<str>>(specs: &[S]) -> Result<Vec<KeySpec>> {
    specs.iter().map(|s| s.as_ref().parse()).collect()
}

/// Builds one keyring from `specs`: the keyring itself for one spec, a
/// [`MultiKeyring`] (the first spec generates the data key) for several.
/// `kms` is called, once, only when a spec needs AWS KMS, so callers can
/// load their AWS configuration lazily:
///
/// ```no_run
/// # async fn f(specs: &[s3seal::keyspec::KeySpec]) -> s3seal::Result<()> {
/// let keyring = s3seal::keyspec::keyring_from_specs(specs, || async {
///     aws_sdk_kms::Client::new(&aws_config::load_from_env().await)
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn keyring_from_specs<F, Fut>(specs: &[KeySpec], kms: F) -> Result<Arc<dyn Keyring>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = aws_sdk_kms::Client>,
{
    let client = if specs.iter().any(KeySpec::needs_kms) { Some(kms().await) } else { None };
    keyring_from_specs_with_client(specs, client.as_ref())
}

/// Like [`keyring_from_specs`], with a KMS client given up front (`None`
/// makes KMS specs an error).
pub fn keyring_from_specs_with_client(
    specs: &[KeySpec],
    kms: Option<&aws_sdk_kms::Client>,
) -> Result<Arc<dyn Keyring>> {
    let mut keyrings = specs.iter().map(|s| s.keyring(kms)).collect::<Result<Vec<_>>>()?;
    match keyrings.len() {
        0 => Err(Error::InvalidParameter(format!("no key given (give at least one key spec: {SPEC_FORMS})"))),
        1 => Ok(keyrings.remove(0)),
        _ => Ok(Arc::new(MultiKeyring::from_keyrings(keyrings)?)),
    }
}

/// Reads a key file of at most 1 MiB; errors keep the I/O kind and name the file.
fn read_key_file(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let with_path = |e: std::io::Error| {
        Error::from(std::io::Error::new(e.kind(), format!("cannot read {what} file {}: {e}", path.display())))
    };
    let file = std::fs::File::open(path).map_err(with_path)?;
    let mut buf = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE + 1).read_to_end(&mut buf).map_err(with_path)?;
    if buf.len() as u64 > MAX_KEY_FILE {
        return Err(Error::InvalidKey(format!("{what} file {} is larger than 1 MiB: not a key file", path.display())));
    }
    Ok(buf)
}

/// Reads a raw AES wrapping key from `path` (see [`parse_aes_key`]).
pub fn read_aes_key(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = read_key_file(path, "AES key")?;
    parse_aes_key(&bytes)
        .map_err(|e| Error::InvalidKey(format!("AES key file {}: {}", path.display(), strip_invalid_key(e))))
}

/// Interprets the contents of an AES key file: base64 text (surrounding
/// whitespace ignored) of 16, 24 or 32 bytes, or exactly 16, 24 or 32 raw
/// bytes. Text that is valid base64 of a valid length is read as base64
/// (a random raw key is all base64 characters with probability below
/// 2^-64).
pub fn parse_aes_key(bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let valid = |n: usize| matches!(n, 16 | 24 | 32);
    let text = bytes.trim_ascii();
    if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(text) {
        let decoded = Zeroizing::new(decoded);
        if valid(decoded.len()) {
            return Ok(decoded);
        }
    }
    if valid(bytes.len()) {
        return Ok(Zeroizing::new(bytes.to_vec()));
    }
    Err(Error::InvalidKey(format!(
        "holds {} bytes, which is neither a 16, 24 or 32-byte raw key nor base64 text of one \
         (make a key with `s3seal keygen aes -o FILE`)",
        bytes.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(s: &str) -> Result<KeySpec> {
        s.parse()
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(spec) => panic!("{s:?} parsed as {spec:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parse("aes:acme:prod:/k/prod.key").unwrap(),
            KeySpec::Aes { namespace: "acme".into(), name: "prod".into(), path: "/k/prod.key".into() }
        );
        assert_eq!(
            parse("aes:acme:prod:C:\\keys\\a:b").unwrap(),
            KeySpec::Aes { namespace: "acme".into(), name: "prod".into(), path: "C:\\keys\\a:b".into() }
        );
        assert_eq!(
            parse("rsa:acme:r1:key.pem").unwrap(),
            KeySpec::Rsa {
                namespace: "acme".into(),
                name: "r1".into(),
                path: "key.pem".into(),
                padding: RsaPadding::OaepSha256
            }
        );
        assert_eq!(
            parse("rsa:acme:r1:dir:x/key.pem:pkcs1").unwrap(),
            KeySpec::Rsa {
                namespace: "acme".into(),
                name: "r1".into(),
                path: "dir:x/key.pem".into(),
                padding: RsaPadding::Pkcs1
            }
        );
        assert_eq!(parse("rsa:a:b:k.pem:OAEP-SHA1").unwrap().to_string(), "rsa:a:b:k.pem:oaep-sha1");
        let arn = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let kms = parse(&format!("kms:{arn}")).unwrap();
        assert_eq!(kms, KeySpec::Kms { key_id: arn.into() });
        assert_eq!(kms.kms_region().as_deref(), Some("us-west-2"));
        assert!(kms.needs_kms());
        assert_eq!(parse("kms:alias/backup").unwrap(), KeySpec::Kms { key_id: "alias/backup".into() });
        assert_eq!(parse("kms-discovery").unwrap(), KeySpec::KmsDiscovery { filter: None });
        assert_eq!(
            parse("kms-discovery:111122223333,444455556666").unwrap(),
            KeySpec::KmsDiscovery { filter: Some(("aws".into(), vec!["111122223333".into(), "444455556666".into()])) }
        );
        assert_eq!(
            parse("kms-discovery:aws-cn:111122223333").unwrap(),
            KeySpec::KmsDiscovery { filter: Some(("aws-cn".into(), vec!["111122223333".into()])) }
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "aes:acme:prod:/k/prod.key",
            "rsa:acme:r1:key.pem",
            "rsa:acme:r1:key.pem:oaep-sha512",
            "kms:alias/x",
            "kms-discovery",
            "kms-discovery:111122223333,444455556666",
            "kms-discovery:aws-cn:111122223333",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert!(err("aes:acme:prod").contains("expected aes:NAMESPACE:NAME:PATH"));
        assert!(err("aes::prod:k").contains("namespace is empty"));
        assert!(err("aes:acme::k").contains("key name is empty"));
        assert!(err("aes:acme:prod:").contains("path is empty"));
        assert!(err("rsa:a:b:k.pem:oaep-md5").contains("unknown RSA padding \"oaep-md5\""));
        assert!(err("kms:").contains("expected kms:KEY"));
        assert!(err("kms").contains("expected kms:KEY"));
        assert!(err("kms:arn:aws:kms:us-east-1:1:nokey").contains("not a valid AWS KMS ARN"));
        assert!(err("kms-discovery:12x").contains("not an AWS account id"));
        assert!(err("kms-discovery:").contains("not an AWS account id"));
        assert!(err("des:a:b:c").contains("unknown key type \"des\""));
        assert!(err("").contains("empty key spec"));
        assert!(matches!(parse("des:a:b:c"), Err(Error::InvalidParameter(_))));
    }

    #[test]
    fn aes_key_files_raw_and_base64() {
        let raw32: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
        assert_eq!(&*parse_aes_key(&raw32).unwrap(), &raw32);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw32);
        assert_eq!(&*parse_aes_key(format!("{b64}\n").as_bytes()).unwrap(), &raw32);
        let raw16 = [0xffu8; 16];
        assert_eq!(&*parse_aes_key(&raw16).unwrap(), &raw16);
        // 24 raw bytes that happen to be base64 text of a wrong length.
        let ascii24 = b"abcdefghijklmnopqrstuvwx";
        assert_eq!(&*parse_aes_key(ascii24).unwrap(), ascii24);
        let e = parse_aes_key(&[1u8; 20]).unwrap_err().to_string();
        assert!(e.contains("holds 20 bytes"), "{e}");
        assert!(e.contains("s3seal keygen"), "{e}");
    }

    #[test]
    fn builds_keyrings_and_reports_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::File::create(&key).unwrap().write_all(&[7u8; 32]).unwrap();
        let spec: KeySpec = format!("aes:acme:prod:{}", key.display()).parse().unwrap();
        let keyring = spec.keyring(None).unwrap();
        assert_eq!(keyring.describe(), "aes:acme:prod");

        let two = [spec.clone(), format!("aes:acme:dev:{}", key.display()).parse().unwrap()];
        let multi = keyring_from_specs_with_client(&two, None).unwrap();
        assert_eq!(multi.describe(), "multi[aes:acme:prod, aes:acme:dev]");

        let missing: KeySpec = format!("aes:acme:prod:{}", dir.path().join("nope").display()).parse().unwrap();
        match missing.keyring(None) {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
                assert!(e.to_string().contains("cannot read AES key file"), "{e}");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }

        let short = dir.path().join("short");
        std::fs::write(&short, [1u8; 5]).unwrap();
        let e = format!("aes:a:b:{}", short.display()).parse::<KeySpec>().unwrap().keyring(None).unwrap_err();
        assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
        assert!(e.to_string().contains(&short.display().to_string()), "{e}");

        let pem = dir.path().join("bad.pem");
        std::fs::write(&pem, "not a pem").unwrap();
        let e = format!("rsa:a:b:{}", pem.display()).parse::<KeySpec>().unwrap().keyring(None).unwrap_err();
        assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");

        let e = "kms:alias/x".parse::<KeySpec>().unwrap().keyring(None).unwrap_err();
        assert!(e.to_string().contains("needs an AWS KMS client"), "{e}");
        assert!(keyring_from_specs_with_client(&[], None).unwrap_err().to_string().contains("no key given"));
    }

    #[test]
    fn lazy_kms_client_is_not_built_without_kms_specs() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, [9u8; 16]).unwrap();
        let specs = [format!("aes:acme:prod:{}", key.display()).parse::<KeySpec>().unwrap()];
        let keyring = futures_executor::block_on(keyring_from_specs(&specs, || async {
            panic!("the KMS client must not be built for AES-only specs")
        }))
        .unwrap();
        assert_eq!(keyring.describe(), "aes:acme:prod");
    }
}
