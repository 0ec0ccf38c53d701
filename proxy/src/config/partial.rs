//! The settings as one source gives them (the TOML file model, also filled
//! from the environment and flags), and how sources are layered.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::credentials::{ClientCredential, Secret};
use crate::error::{Error, Result};

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
    /// Server-side encryption asked of the store on every write whose
    /// client names none: `AES256`, `aws:kms` or `aws:kms:dsse` (a
    /// client's own `x-amz-server-side-encryption` wins).
    pub sse: Option<String>,
    /// The KMS key of `aws:kms` / `aws:kms:dsse` (absent: the bucket's default).
    pub sse_kms_key_id: Option<String>,
    /// The S3 Bucket Key flag sent with `aws:kms` (absent: the bucket's setting).
    pub sse_bucket_key: Option<bool>,
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

/// Limits on client connections (`[limits]`): see [`super::ConnectionLimits`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialLimits {
    /// Open client connections, from all addresses together.
    pub max_connections: Option<usize>,
    /// Open client connections from one IP address.
    pub max_connections_per_address: Option<usize>,
    /// Seconds a client may take to send a request's headers (and to
    /// complete a TLS handshake).
    pub header_timeout_secs: Option<u64>,
    /// Seconds a connection may stay open with no request in flight.
    pub idle_timeout_secs: Option<u64>,
    /// Bytes of a request's head (request line and headers) at most.
    pub max_header_bytes: Option<usize>,
    /// Bytes of an XML (or JSON) request body at most (DeleteObjects,
    /// CompleteMultipartUpload, tagging, bucket configuration...).
    pub max_xml_body_bytes: Option<usize>,
    /// Plaintext bytes of one PutObject or UploadPart body at most.
    pub max_object_bytes: Option<u64>,
    /// Seconds of waiting for a request body over which it must bring at
    /// least `min_body_rate` bytes per second.
    pub body_timeout_secs: Option<u64>,
    /// Bytes per second a request body must average over each
    /// `body_timeout_secs` of waiting for it.
    pub min_body_rate: Option<u64>,
}

/// How clients authenticate (`[auth]`): see [`super::AuthSettings`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialAuth {
    /// The region clients must sign for (their credential scope), or `*`
    /// for any region.
    pub region: Option<String>,
    /// Accept AWS Signature Version 2 (HMAC-SHA1, no region, no payload
    /// hash). Insecure; off by default.
    pub insecure_allow_sigv2: Option<bool>,
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
    /// Limits on client connections and requests.
    pub limits: Option<PartialLimits>,
    /// How clients authenticate.
    pub auth: Option<PartialAuth>,
    /// Stored envelopes (and those carried by upload ids) with more
    /// encrypted data keys than this are refused before any key is unwrapped.
    pub max_encrypted_data_keys: Option<usize>,
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
            sse: pick(self.sse, lower.sse),
            sse_kms_key_id: pick(self.sse_kms_key_id, lower.sse_kms_key_id),
            sse_bucket_key: pick(self.sse_bucket_key, lower.sse_bucket_key),
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

impl PartialLimits {
    fn over(self, lower: Self) -> Self {
        Self {
            max_connections: pick(self.max_connections, lower.max_connections),
            max_connections_per_address: pick(self.max_connections_per_address, lower.max_connections_per_address),
            header_timeout_secs: pick(self.header_timeout_secs, lower.header_timeout_secs),
            idle_timeout_secs: pick(self.idle_timeout_secs, lower.idle_timeout_secs),
            max_header_bytes: pick(self.max_header_bytes, lower.max_header_bytes),
            max_xml_body_bytes: pick(self.max_xml_body_bytes, lower.max_xml_body_bytes),
            max_object_bytes: pick(self.max_object_bytes, lower.max_object_bytes),
            body_timeout_secs: pick(self.body_timeout_secs, lower.body_timeout_secs),
            min_body_rate: pick(self.min_body_rate, lower.min_body_rate),
        }
    }
}

impl PartialAuth {
    fn over(self, lower: Self) -> Self {
        Self {
            region: pick(self.region, lower.region),
            insecure_allow_sigv2: pick(self.insecure_allow_sigv2, lower.insecure_allow_sigv2),
        }
    }
}

fn merge<T>(a: Option<T>, b: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
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
            limits: merge(self.limits, lower.limits, PartialLimits::over),
            auth: merge(self.auth, lower.auth, PartialAuth::over),
            max_encrypted_data_keys: pick(self.max_encrypted_data_keys, lower.max_encrypted_data_keys),
            commitment_policy: pick(self.commitment_policy, lower.commitment_policy),
        }
    }
}
