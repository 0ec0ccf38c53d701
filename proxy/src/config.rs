//! Settings of the proxy: a TOML file, `S3SEAL_*` environment variables
//! and command-line flags, in increasing order of precedence.
//!
//! Each source is a [`PartialSettings`] (every field optional);
//! [`PartialSettings::over`] layers one source on another and
//! [`PartialSettings::resolve`] applies the defaults and checks the result,
//! giving the [`Settings`] the server runs with.
//!
//! ```
//! use s3seal_proxy::config::PartialSettings;
//! let file = PartialSettings::from_toml_str(r#"
//!     listen = "127.0.0.1:9100"
//!     keys = ["aes:acme:prod:/etc/s3seal/prod.key"]
//! "#)?;
//! let env = PartialSettings::from_env_with(|name| (name == "S3SEAL_LISTEN").then(|| "0.0.0.0:9200".to_string()))?;
//! let settings = env.over(file).resolve()?;
//! assert_eq!(settings.listen.to_string(), "0.0.0.0:9200");
//! # Ok::<(), s3seal_proxy::Error>(())
//! ```
//!
//! The file format, every environment variable and every flag are listed in
//! `docs/PROXY.md`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use s3seal::CommitmentPolicy;
use s3seal::cache::CacheLimits;
use s3seal::keyring::kms::KmsArn;
use s3seal::keyspec::KeySpec;
use s3seal::object::ObjectSuite;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Where clients connect unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
/// Where `/metrics` and `/health` are served unless told otherwise.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9001";
/// The directory of the embedded upstream unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "s3seal-data";
/// The region used to sign upstream requests when no setting and no AWS
/// configuration names one.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Plaintext bytes per frame unless told otherwise.
pub const DEFAULT_FRAME_LENGTH: u32 = 64 * 1024;
/// The largest frame length accepted.
pub const MAX_FRAME_LENGTH: u32 = 1024 * 1024;
/// How long a graceful shutdown waits for open requests.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// The value of [`PartialUpstream::endpoint`] that means "AWS S3 itself,
/// with the SDK's endpoint resolution".
pub const AWS_ENDPOINT: &str = "aws";
/// The value of [`PartialSettings::admin_listen`] that turns the admin
/// listener off.
pub const OFF: &str = "off";

/// A secret string (a secret access key or session token): zeroized on
/// drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An access key and secret key pair clients sign their requests with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredential {
    /// The access key id (`AWS_ACCESS_KEY_ID` of the client).
    pub access_key: String,
    /// The secret access key (`AWS_SECRET_ACCESS_KEY` of the client).
    pub secret_key: Secret,
}

/// TLS on the client listener: PEM files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialTls {
    /// The certificate chain (leaf first).
    pub cert: Option<PathBuf>,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// The upstream store, as given by one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialUpstream {
    /// The S3 endpoint URL, or `"aws"` for AWS S3 with the SDK's own
    /// endpoint resolution. Absent everywhere: the embedded upstream.
    pub endpoint: Option<String>,
    /// The region requests are signed for.
    pub region: Option<String>,
    /// Path-style addressing (`ENDPOINT/BUCKET/KEY`) instead of virtual
    /// hosts (`BUCKET.ENDPOINT/KEY`).
    pub path_style: Option<bool>,
    /// The access key id; with `secret_key`, replaces the standard AWS
    /// credential chain.
    pub access_key: Option<String>,
    /// The secret access key.
    pub secret_key: Option<Secret>,
    /// A session token for temporary credentials.
    pub session_token: Option<Secret>,
    /// Extra CA certificates (PEM) trusted for an `https://` upstream, in
    /// addition to the system's roots (a private CA, a self-signed MinIO).
    pub ca_bundle: Option<PathBuf>,
    /// Sign object bodies sent to a plain `http://` upstream (SigV4 signed
    /// chunks). Default: yes, except to a loopback address (`127.0.0.0/8`,
    /// `::1`, `localhost`), where nobody else can alter them in transit.
    /// No effect over `https://` (unsigned chunks with a CRC32 trailer, as
    /// the AWS SDKs send there).
    pub sign_payload: Option<bool>,
}

/// Limits of the data-key cache, as given by one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialCache {
    /// Seconds a cached data key is used.
    pub max_age_secs: Option<u64>,
    /// Objects one cached data key encrypts.
    pub max_messages: Option<u64>,
    /// Plaintext bytes one cached data key encrypts (absent: unlimited).
    pub max_bytes: Option<u64>,
    /// Entries the cache holds.
    pub capacity: Option<usize>,
}

/// Settings as given by one source (file, environment or flags); every
/// field optional. See the [module documentation](self).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialSettings {
    /// The client listener, `HOST:PORT`.
    pub listen: Option<String>,
    /// The admin listener (`/metrics`, `/health`), `HOST:PORT` or `"off"`.
    pub admin_listen: Option<String>,
    /// Domains for virtual-host addressing by clients (`BUCKET.DOMAIN`).
    pub domains: Option<Vec<String>>,
    /// TLS on the client listener.
    pub tls: Option<PartialTls>,
    /// The upstream store.
    pub upstream: Option<PartialUpstream>,
    /// The credentials clients sign with.
    pub clients: Option<Vec<ClientCredential>>,
    /// Key specs (as the CLI's `--key`); several make a multi-keyring.
    pub keys: Option<Vec<String>>,
    /// The embedded upstream's directory.
    pub data_dir: Option<PathBuf>,
    /// Plaintext bytes per frame of new objects.
    pub frame_length: Option<u32>,
    /// The frame cipher of new objects: `aes-256-gcm` or `chacha20-poly1305`.
    pub suite: Option<String>,
    /// Data-key cache limits.
    pub cache: Option<PartialCache>,
    /// Seconds a graceful shutdown waits for open requests.
    pub shutdown_timeout_secs: Option<u64>,
    /// Which Amazon S3 Encryption Client objects are read:
    /// `require-encrypt-require-decrypt` (default: format V3 only) or
    /// `require-encrypt-allow-decrypt` (also V2, which has no key commitment).
    pub commitment_policy: Option<String>,
}

/// `a` if set, else `b`.
fn pick<T>(a: Option<T>, b: Option<T>) -> Option<T> {
    a.or(b)
}

impl PartialTls {
    fn over(self, lower: Self) -> Self {
        Self { cert: pick(self.cert, lower.cert), key: pick(self.key, lower.key) }
    }
}

impl PartialUpstream {
    fn over(self, lower: Self) -> Self {
        // Credentials travel as a unit: a higher source giving an access key
        // must not be completed by a lower source's secret.
        let (access_key, secret_key, session_token) = if self.access_key.is_some() || self.secret_key.is_some() {
            (self.access_key, self.secret_key, self.session_token)
        } else {
            (lower.access_key, lower.secret_key, pick(self.session_token, lower.session_token))
        };
        Self {
            endpoint: pick(self.endpoint, lower.endpoint),
            region: pick(self.region, lower.region),
            path_style: pick(self.path_style, lower.path_style),
            ca_bundle: pick(self.ca_bundle, lower.ca_bundle),
            sign_payload: pick(self.sign_payload, lower.sign_payload),
            access_key,
            secret_key,
            session_token,
        }
    }
}

impl PartialCache {
    fn over(self, lower: Self) -> Self {
        Self {
            max_age_secs: pick(self.max_age_secs, lower.max_age_secs),
            max_messages: pick(self.max_messages, lower.max_messages),
            max_bytes: pick(self.max_bytes, lower.max_bytes),
            capacity: pick(self.capacity, lower.capacity),
        }
    }
}

fn merge<T>(a: Option<T>, b: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// Reads a variable, treating an empty value as unset.
fn var(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.is_empty())
}

fn parse_var<T: std::str::FromStr>(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<T>>
where
    T::Err: fmt::Display,
{
    var(lookup, name)
        .map(|v| v.trim().parse::<T>().map_err(|e| Error::Config(format!("{name}={v:?}: {e}"))))
        .transpose()
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Config(format!("{name}={v:?}: expected true or false"))),
    }
}

/// Parses `ACCESS_KEY:SECRET_KEY[,ACCESS_KEY:SECRET_KEY...]`.
pub fn parse_client_credentials(s: &str) -> Result<Vec<ClientCredential>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((ak, sk)) if !ak.is_empty() && !sk.is_empty() => {
                Ok(ClientCredential { access_key: ak.to_string(), secret_key: Secret::new(sk) })
            }
            // Never echo the value: it holds a secret.
            _ => {
                Err(Error::Config("client credentials must be ACCESS_KEY:SECRET_KEY pairs separated by commas".into()))
            }
        })
        .collect()
}

impl PartialSettings {
    /// Parses a TOML configuration file's text.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads and parses a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::ConfigFile { path: path.to_path_buf(), message: e.to_string() })?;
        toml::from_str(&text).map_err(|e| Error::ConfigFile { path: path.to_path_buf(), message: e.to_string() })
    }

    /// The settings given by the process's `S3SEAL_*` environment variables.
    pub fn from_env() -> Result<Self> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// The settings given by `S3SEAL_*` variables, read through `lookup`
    /// (for tests, or another source of variables). Empty values count as
    /// unset. The variables are listed in `docs/PROXY.md`.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let l = &lookup;
        let list = |name: &str, sep: char| {
            var(l, name).map(|v| v.split(sep).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        };
        let tls = PartialTls {
            cert: var(l, "S3SEAL_TLS_CERT").map(PathBuf::from),
            key: var(l, "S3SEAL_TLS_KEY").map(PathBuf::from),
        };
        let upstream = PartialUpstream {
            endpoint: var(l, "S3SEAL_UPSTREAM"),
            region: var(l, "S3SEAL_UPSTREAM_REGION"),
            path_style: var(l, "S3SEAL_UPSTREAM_PATH_STYLE")
                .map(|v| parse_bool("S3SEAL_UPSTREAM_PATH_STYLE", &v))
                .transpose()?,
            access_key: var(l, "S3SEAL_UPSTREAM_ACCESS_KEY"),
            secret_key: var(l, "S3SEAL_UPSTREAM_SECRET_KEY").map(Secret::new),
            session_token: var(l, "S3SEAL_UPSTREAM_SESSION_TOKEN").map(Secret::new),
            ca_bundle: var(l, "S3SEAL_UPSTREAM_CA_BUNDLE").map(PathBuf::from),
            sign_payload: var(l, "S3SEAL_UPSTREAM_SIGN_PAYLOAD")
                .map(|v| parse_bool("S3SEAL_UPSTREAM_SIGN_PAYLOAD", &v))
                .transpose()?,
        };
        let cache = PartialCache {
            max_age_secs: parse_var(l, "S3SEAL_CACHE_MAX_AGE_SECS")?,
            max_messages: parse_var(l, "S3SEAL_CACHE_MAX_MESSAGES")?,
            max_bytes: parse_var(l, "S3SEAL_CACHE_MAX_BYTES")?,
            capacity: parse_var(l, "S3SEAL_CACHE_CAPACITY")?,
        };
        let some_if = |set: bool| set.then_some(());
        Ok(Self {
            listen: var(l, "S3SEAL_LISTEN"),
            admin_listen: var(l, "S3SEAL_ADMIN_LISTEN"),
            domains: list("S3SEAL_DOMAINS", ','),
            tls: some_if(tls != PartialTls::default()).map(|()| tls),
            upstream: some_if(upstream != PartialUpstream::default()).map(|()| upstream),
            clients: var(l, "S3SEAL_CLIENT_CREDENTIALS").map(|v| parse_client_credentials(&v)).transpose()?,
            keys: list("S3SEAL_KEYS", ';'),
            data_dir: var(l, "S3SEAL_DATA_DIR").map(PathBuf::from),
            frame_length: parse_var(l, "S3SEAL_FRAME_LENGTH")?,
            suite: var(l, "S3SEAL_SUITE"),
            cache: some_if(cache != PartialCache::default()).map(|()| cache),
            shutdown_timeout_secs: parse_var(l, "S3SEAL_SHUTDOWN_TIMEOUT_SECS")?,
            commitment_policy: var(l, "S3SEAL_COMMITMENT_POLICY"),
        })
    }

    /// These settings where set, `lower`'s elsewhere (field by field;
    /// lists are replaced, not appended; the upstream credentials are
    /// taken as a unit).
    pub fn over(self, lower: Self) -> Self {
        Self {
            listen: pick(self.listen, lower.listen),
            admin_listen: pick(self.admin_listen, lower.admin_listen),
            domains: pick(self.domains, lower.domains),
            tls: merge(self.tls, lower.tls, PartialTls::over),
            upstream: merge(self.upstream, lower.upstream, PartialUpstream::over),
            clients: pick(self.clients, lower.clients),
            keys: pick(self.keys, lower.keys),
            data_dir: pick(self.data_dir, lower.data_dir),
            frame_length: pick(self.frame_length, lower.frame_length),
            suite: pick(self.suite, lower.suite),
            cache: merge(self.cache, lower.cache, PartialCache::over),
            shutdown_timeout_secs: pick(self.shutdown_timeout_secs, lower.shutdown_timeout_secs),
            commitment_policy: pick(self.commitment_policy, lower.commitment_policy),
        }
    }

    /// Applies the defaults and checks every value.
    pub fn resolve(self) -> Result<Settings> {
        let listen = parse_addr("listen", self.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let admin_listen = match self.admin_listen.as_deref().unwrap_or(DEFAULT_ADMIN_LISTEN) {
            v if v.eq_ignore_ascii_case(OFF) => None,
            v => Some(parse_addr("admin_listen", v)?),
        };
        let domains = self.domains.unwrap_or_default();
        for d in &domains {
            if d.is_empty() || d.contains('/') || d.contains(':') {
                return Err(Error::Config(format!("domain {d:?}: expected a host name such as s3.example.com")));
            }
        }
        let tls = match self.tls {
            None | Some(PartialTls { cert: None, key: None }) => None,
            Some(PartialTls { cert: Some(cert), key: Some(key) }) => Some(TlsSettings { cert, key }),
            Some(_) => return Err(Error::Config("TLS needs both a certificate file and a key file".into())),
        };
        let upstream = self.upstream.unwrap_or_default();
        let upstream = match upstream.endpoint.clone() {
            None => {
                if upstream.access_key.is_some() || upstream.secret_key.is_some() || upstream.region.is_some() {
                    return Err(Error::Config(
                        "upstream credentials or region are set, but no upstream endpoint (set upstream.endpoint, or remove them to use the embedded upstream)".into(),
                    ));
                }
                None
            }
            Some(endpoint) => Some(resolve_upstream(endpoint, upstream)?),
        };
        let clients = self.clients.unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for c in &clients {
            if c.access_key.is_empty() || c.secret_key.expose().is_empty() {
                return Err(Error::Config("a client credential has an empty access key or secret key".into()));
            }
            if !seen.insert(c.access_key.as_str()) {
                return Err(Error::Config(format!("client access key {} is given twice", c.access_key)));
            }
        }
        let keys =
            s3seal::keyspec::parse_specs(&self.keys.unwrap_or_default()).map_err(|e| Error::Config(sdk_message(e)))?;
        if !keys.is_empty() && keys.iter().all(|k| matches!(k, KeySpec::KmsDiscovery { .. })) {
            return Err(Error::Config(
                "kms-discovery keys can only decrypt; the proxy also encrypts, so give a kms:KEY (or aes:/rsa:) key first"
                    .into(),
            ));
        }
        // The proxy reads back what it writes: a KMS keyring decrypts only
        // under a key ARN (what KMS records), so an alias or bare key id
        // would write objects this proxy cannot read.
        let discovery = keys.iter().any(|k| matches!(k, KeySpec::KmsDiscovery { .. }));
        if !discovery
            && let Some(KeySpec::Kms { key_id }) = keys
                .iter()
                .find(|k| matches!(k, KeySpec::Kms { key_id } if !KmsArn::parse(key_id).is_some_and(|a| a.is_key())))
        {
            return Err(Error::Config(format!(
                "key kms:{key_id}: the proxy also decrypts what it writes, and AWS KMS decryption needs the key ARN \
                 (kms:arn:aws:kms:REGION:ACCOUNT:key/KEY_ID); give the key ARN, or add a kms-discovery key"
            )));
        }
        if upstream.is_some() {
            if clients.is_empty() {
                return Err(Error::Config(
                    "with an upstream endpoint, client credentials are required (clients = [{ access_key, secret_key }] or S3SEAL_CLIENT_CREDENTIALS=AK:SK)".into(),
                ));
            }
            if keys.is_empty() {
                return Err(Error::Config(
                    "with an upstream endpoint, at least one key is required (keys = [\"kms:KEY_ARN\"] or S3SEAL_KEYS)"
                        .into(),
                ));
            }
        }
        let frame_length = self.frame_length.unwrap_or(DEFAULT_FRAME_LENGTH);
        // Multipart parts must be whole frames: a power of two up to 1 MiB
        // divides every common client's part size (5, 8, 15, 16 MiB...).
        if !frame_length.is_power_of_two() || frame_length > MAX_FRAME_LENGTH {
            return Err(Error::Config(format!(
                "frame_length {frame_length}: expected a power of two up to {MAX_FRAME_LENGTH} (so that multipart parts of common sizes are whole frames)"
            )));
        }
        let suite = match self.suite.as_deref() {
            None => ObjectSuite::default(),
            Some(s) => parse_suite(s)?,
        };
        let cache = resolve_cache(self.cache.unwrap_or_default())?;
        let shutdown_timeout = self.shutdown_timeout_secs.map_or(DEFAULT_SHUTDOWN_TIMEOUT, Duration::from_secs);
        let commitment_policy = match self.commitment_policy.as_deref() {
            None => CommitmentPolicy::default(),
            Some(s) => {
                let p: CommitmentPolicy = s.parse().map_err(|e| Error::Config(format!("commitment_policy: {e}")))?;
                if p == CommitmentPolicy::ForbidEncryptAllowDecrypt {
                    return Err(Error::Config(
                        "commitment_policy: forbid-encrypt-allow-decrypt is for writers without key commitment; the proxy always writes with it"
                            .into(),
                    ));
                }
                p
            }
        };
        Ok(Settings {
            listen,
            admin_listen,
            domains,
            tls,
            upstream,
            clients,
            keys,
            data_dir: self.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            frame_length,
            suite,
            cache,
            shutdown_timeout,
            commitment_policy,
        })
    }
}

fn sdk_message(e: s3seal::Error) -> String {
    match e {
        s3seal::Error::InvalidParameter(m) | s3seal::Error::InvalidKey(m) => m,
        other => other.to_string(),
    }
}

fn parse_addr(name: &str, v: &str) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    let v = v.trim();
    if let Ok(a) = v.parse() {
        return Ok(a);
    }
    // Host names (such as localhost:9000): the first address.
    match v.to_socket_addrs().map(|mut it| it.next()) {
        Ok(Some(a)) => Ok(a),
        _ => Err(Error::Config(format!("{name} {v:?}: expected HOST:PORT, such as 127.0.0.1:9000"))),
    }
}

/// Parses a suite name (`aes-256-gcm`, `chacha20-poly1305`).
pub fn parse_suite(s: &str) -> Result<ObjectSuite> {
    match s.trim().to_ascii_lowercase().as_str() {
        "aes-256-gcm" | "aes256gcm" | "aes" | "1" => Ok(ObjectSuite::Aes256GcmCommit),
        "chacha20-poly1305" | "chacha20poly1305" | "chacha" | "2" => Ok(ObjectSuite::ChaCha20Poly1305Commit),
        other => Err(Error::Config(format!("suite {other:?}: expected aes-256-gcm or chacha20-poly1305"))),
    }
}

/// `localhost`, `127.0.0.0/8` or `::1` (as a URL writes it, `[::1]`).
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn resolve_upstream(endpoint: String, u: PartialUpstream) -> Result<UpstreamSettings> {
    let endpoint = endpoint.trim().to_string();
    let endpoint = if endpoint.eq_ignore_ascii_case(AWS_ENDPOINT) {
        None
    } else {
        let uri: http::Uri = endpoint.parse().map_err(|e| {
            Error::Config(format!(
                "upstream endpoint {endpoint:?}: {e} (expected a URL such as https://s3.example.com)"
            ))
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::Config(format!(
                "upstream endpoint {endpoint:?}: expected an http:// or https:// URL (or \"aws\")"
            )));
        }
        Some(endpoint)
    };
    let credentials = match (u.access_key, u.secret_key) {
        (None, None) => {
            if u.session_token.is_some() {
                return Err(Error::Config("upstream session_token is set without access_key and secret_key".into()));
            }
            None
        }
        (Some(access_key), Some(secret_key)) if !access_key.is_empty() && !secret_key.expose().is_empty() => {
            Some(StaticCredentials { access_key, secret_key, session_token: u.session_token })
        }
        _ => return Err(Error::Config("upstream access_key and secret_key must be given together".into())),
    };
    // Object bodies go unsigned over plain http only when asked, or by
    // default to a loopback address.
    let unsigned_payloads = match endpoint.as_deref().and_then(|e| e.parse::<http::Uri>().ok()) {
        Some(uri) if uri.scheme_str() == Some("http") => {
            !u.sign_payload.unwrap_or_else(|| !uri.host().is_some_and(is_loopback_host))
        }
        _ => false,
    };
    Ok(UpstreamSettings {
        // Stores reached by URL are mostly path-style (MinIO, s3s-fs, Ceph);
        // AWS itself (the "aws" endpoint) defaults to virtual hosts.
        path_style: u.path_style.unwrap_or(endpoint.is_some()),
        unsigned_payloads,
        endpoint,
        region: u.region.filter(|r| !r.is_empty()),
        ca_bundle: u.ca_bundle,
        credentials,
    })
}

fn resolve_cache(c: PartialCache) -> Result<CacheLimits> {
    let mut limits = CacheLimits::default();
    if let Some(s) = c.max_age_secs {
        if s == 0 {
            return Err(Error::Config("cache max_age_secs must be positive".into()));
        }
        limits = limits.with_max_age(Duration::from_secs(s));
    }
    if let Some(n) = c.max_messages {
        if n == 0 {
            return Err(Error::Config("cache max_messages must be at least 1".into()));
        }
        limits = limits.with_max_messages(n);
    }
    if let Some(n) = c.max_bytes {
        limits = limits.with_max_bytes(n);
    }
    if let Some(n) = c.capacity {
        if n == 0 {
            return Err(Error::Config("cache capacity must be at least 1".into()));
        }
        limits = limits.with_capacity(n);
    }
    Ok(limits)
}

/// TLS on the client listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain, PEM (leaf first).
    pub cert: PathBuf,
    /// The private key, PEM.
    pub key: PathBuf,
}

/// Credentials given in the settings for the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
}

/// An external upstream store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// The endpoint URL; `None` for AWS S3 with the SDK's endpoint resolution.
    pub endpoint: Option<String>,
    /// The signing region; `None` to take it from the AWS configuration
    /// (or [`DEFAULT_REGION`]).
    pub region: Option<String>,
    /// Path-style addressing.
    pub path_style: bool,
    /// Object bodies go out as `UNSIGNED-PAYLOAD` (plain `http://` only; see
    /// [`PartialUpstream::sign_payload`]).
    pub unsigned_payloads: bool,
    /// Extra CA certificates (PEM) trusted for the upstream.
    pub ca_bundle: Option<PathBuf>,
    /// Given credentials; `None` for the standard AWS credential chain.
    pub credentials: Option<StaticCredentials>,
}

/// The settings the server runs with (see [`PartialSettings::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The client listener.
    pub listen: SocketAddr,
    /// The admin listener; `None` when off.
    pub admin_listen: Option<SocketAddr>,
    /// Domains for virtual-host addressing by clients (path-style always works).
    pub domains: Vec<String>,
    /// TLS on the client listener; `None` for plain HTTP.
    pub tls: Option<TlsSettings>,
    /// The upstream; `None` for the embedded one over [`Settings::data_dir`].
    pub upstream: Option<UpstreamSettings>,
    /// The credentials clients sign with; empty means generated (embedded
    /// upstream only).
    pub clients: Vec<ClientCredential>,
    /// The keys; empty means a generated key file (embedded upstream only).
    pub keys: Vec<KeySpec>,
    /// The embedded upstream's directory (unused with an external upstream).
    pub data_dir: PathBuf,
    /// Plaintext bytes per frame of new objects.
    pub frame_length: u32,
    /// The frame cipher of new objects.
    pub suite: ObjectSuite,
    /// Data-key cache limits.
    pub cache: CacheLimits,
    /// How long a graceful shutdown waits for open requests.
    pub shutdown_timeout: Duration,
    /// Which Amazon S3 Encryption Client objects are read.
    pub commitment_policy: CommitmentPolicy,
}

impl Default for Settings {
    /// The embedded default: everything generated, nothing configured.
    fn default() -> Self {
        // The defaults are valid by construction.
        match PartialSettings::default().resolve() {
            Ok(s) => s,
            Err(e) => unreachable!("the default settings are invalid: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn defaults_are_the_embedded_mode() {
        let s = Settings::default();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.admin_listen.map(|a| a.to_string()).as_deref(), Some(DEFAULT_ADMIN_LISTEN));
        assert!(s.upstream.is_none() && s.clients.is_empty() && s.keys.is_empty() && s.tls.is_none());
        assert_eq!(s.frame_length, DEFAULT_FRAME_LENGTH);
        assert_eq!(s.cache, CacheLimits::default());
    }

    #[test]
    fn full_file() {
        let p = PartialSettings::from_toml_str(
            r#"
            listen = "0.0.0.0:8443"
            admin_listen = "off"
            domains = ["s3.example.com"]
            keys = ["kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "aes:acme:escrow:/k"]
            frame_length = 1048576
            suite = "chacha20-poly1305"
            shutdown_timeout_secs = 5
            [tls]
            cert = "/c.pem"
            key = "/k.pem"
            [upstream]
            endpoint = "https://minio.internal:9000"
            region = "eu-west-1"
            access_key = "up"
            secret_key = "up-secret"
            [cache]
            max_age_secs = 60
            max_messages = 5
            max_bytes = 1000
            capacity = 7
            [[clients]]
            access_key = "a1"
            secret_key = "s1"
            [[clients]]
            access_key = "a2"
            secret_key = "s2"
            "#,
        )
        .unwrap();
        let s = p.resolve().unwrap();
        assert_eq!(s.admin_listen, None);
        assert_eq!(s.domains, ["s3.example.com"]);
        assert_eq!(s.keys.len(), 2);
        assert_eq!(s.suite, ObjectSuite::ChaCha20Poly1305Commit);
        assert_eq!(s.tls.unwrap().cert, PathBuf::from("/c.pem"));
        let u = s.upstream.unwrap();
        assert_eq!(u.endpoint.as_deref(), Some("https://minio.internal:9000"));
        assert!(u.path_style);
        assert_eq!(u.credentials.unwrap().secret_key.expose(), "up-secret");
        assert_eq!(s.cache.max_messages, 5);
        assert_eq!(s.cache.capacity, 7);
        assert_eq!(s.clients.len(), 2);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(5));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = PartialSettings::from_toml_str("lisen = \"1.2.3.4:5\"").unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
    }

    #[test]
    fn precedence_flags_env_file() {
        let file = PartialSettings::from_toml_str(
            "listen = \"127.0.0.1:1\"\nframe_length = 4096\n[upstream]\nendpoint = \"http://a:1\"\naccess_key = \"f\"\nsecret_key = \"fs\"\n[cache]\nmax_messages = 3\ncapacity = 9",
        )
        .unwrap();
        let env = PartialSettings::from_env_with(env(&[
            ("S3SEAL_LISTEN", "127.0.0.1:2"),
            ("S3SEAL_FRAME_LENGTH", "8192"),
            ("S3SEAL_UPSTREAM_ACCESS_KEY", "e"),
            ("S3SEAL_UPSTREAM_SECRET_KEY", "es"),
            ("S3SEAL_CACHE_MAX_MESSAGES", "4"),
            ("S3SEAL_CLIENT_CREDENTIALS", "c1:x, c2:y:z"),
            ("S3SEAL_KEYS", "aes:a:b:/k1;kms-discovery:111122223333,444455556666"),
        ]))
        .unwrap();
        let flags = PartialSettings { listen: Some("127.0.0.1:3".into()), ..Default::default() };
        let s = flags.over(env).over(file).resolve().unwrap();
        assert_eq!(s.listen.port(), 3);
        assert_eq!(s.frame_length, 8192);
        let u = s.upstream.unwrap();
        assert_eq!(u.endpoint.as_deref(), Some("http://a:1"));
        assert_eq!(u.credentials.unwrap().access_key, "e");
        assert_eq!((s.cache.max_messages, s.cache.capacity), (4, 9));
        assert_eq!(s.clients[1].secret_key.expose(), "y:z");
        assert_eq!(s.keys.len(), 2);
    }

    #[test]
    fn refusals() {
        let bad = |toml: &str| PartialSettings::from_toml_str(toml).and_then(PartialSettings::resolve).unwrap_err();
        assert!(
            bad("keys = [\"aes:a:b:/k\"]\n[upstream]\nendpoint = \"http://a:1\"")
                .to_string()
                .contains("client credentials")
        );
        assert!(bad("keys = [\"nope:x\"]").to_string().contains("unknown key type"));
        assert!(bad("keys = [\"kms-discovery\"]").to_string().contains("only decrypt"));
        assert!(bad("keys = [\"kms:alias/x\"]").to_string().contains("key ARN"));
        assert!(bad("frame_length = 10").to_string().contains("power of two"));
        assert!(bad("frame_length = 2097152").to_string().contains("power of two"));
        assert!(bad("commitment_policy = \"sometimes\"").to_string().contains("commitment_policy"));
        assert!(bad("commitment_policy = \"forbid-encrypt-allow-decrypt\"").to_string().contains("always writes"));
        assert!(bad("[tls]\ncert = \"/c\"").to_string().contains("both"));
        assert!(bad("[upstream]\nregion = \"x\"").to_string().contains("no upstream endpoint"));
        assert!(bad("[upstream]\nendpoint = \"ftp://x\"").to_string().contains("http"));
        assert!(bad("listen = \"nowhere\"").to_string().contains("HOST:PORT"));
        assert!(bad("[cache]\nmax_age_secs = 0").to_string().contains("max_age"));
        let dup =
            "[[clients]]\naccess_key = \"a\"\nsecret_key = \"b\"\n[[clients]]\naccess_key = \"a\"\nsecret_key = \"c\"";
        assert!(bad(dup).to_string().contains("twice"));
    }

    #[test]
    fn secrets_are_not_shown() {
        let s = PartialSettings::from_env_with(env(&[("S3SEAL_CLIENT_CREDENTIALS", "ak:very-secret")]))
            .unwrap()
            .resolve()
            .unwrap();
        let shown = format!("{s:?}");
        assert!(shown.contains("ak") && !shown.contains("very-secret"), "{shown}");
        let e = parse_client_credentials("ak-without-secret-very-secret").unwrap_err();
        assert!(!e.to_string().contains("very-secret"));
    }

    #[test]
    fn aws_endpoint_is_virtual_host() {
        let s = PartialSettings::from_toml_str(
            "keys=[\"kms:alias/a\", \"kms-discovery\"]\n[upstream]\nendpoint=\"aws\"\n[[clients]]\naccess_key=\"a\"\nsecret_key=\"b\"",
        )
        .unwrap()
        .resolve()
        .unwrap();
        let u = s.upstream.unwrap();
        assert_eq!(u.endpoint, None);
        assert!(!u.path_style);
    }

    #[test]
    fn payloads_go_unsigned_over_loopback_http_only() {
        let unsigned = |upstream: &str| {
            PartialSettings::from_toml_str(&format!(
                "keys=[\"kms:alias/a\", \"kms-discovery\"]\n[upstream]\n{upstream}\n[[clients]]\naccess_key=\"a\"\nsecret_key=\"b\""
            ))
            .unwrap()
            .resolve()
            .unwrap()
            .upstream
            .unwrap()
            .unsigned_payloads
        };
        assert!(unsigned("endpoint=\"http://127.0.0.1:9000\""));
        assert!(unsigned("endpoint=\"http://localhost:9000\""));
        assert!(unsigned("endpoint=\"http://[::1]:9000\""));
        assert!(!unsigned("endpoint=\"http://127.0.0.1:9000\"\nsign_payload=true"));
        assert!(!unsigned("endpoint=\"http://minio.internal:9000\""));
        assert!(!unsigned("endpoint=\"http://10.0.0.5:9000\""));
        assert!(unsigned("endpoint=\"http://minio.internal:9000\"\nsign_payload=false"));
        assert!(!unsigned("endpoint=\"https://127.0.0.1:9000\"\nsign_payload=false"));
        assert!(!unsigned("endpoint=\"aws\""));
    }
}
