//! From layered sources to the settings the server runs with: the
//! defaults applied and every value checked, one step per setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use s3seal::CommitmentPolicy;
use s3seal::cache::CacheLimits;
use s3seal::keyring::kms::KmsArn;
use s3seal::keyspec::KeySpec;
use s3seal::object::ObjectSuite;

use super::credentials::{ClientCredential, Secret};
use super::defaults::{
    ANY_REGION, AWS_ENDPOINT, DEFAULT_ADMIN_LISTEN, DEFAULT_BODY_TIMEOUT, DEFAULT_DATA_DIR, DEFAULT_FRAME_LENGTH,
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_ENCRYPTED_DATA_KEYS, DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_OBJECT_BYTES, DEFAULT_MAX_XML_BODY_BYTES, DEFAULT_MIN_BODY_RATE, DEFAULT_SHUTDOWN_TIMEOUT,
    MAX_FRAME_LENGTH, MIN_HEADER_BYTES, OFF,
};
use super::partial::{PartialAuth, PartialCache, PartialLimits, PartialSettings, PartialTls, PartialUpstream};
use super::settings::{
    AuthSettings, ClientRegion, ConnectionLimits, RequestLimits, Settings, StaticCredentials, TlsSettings,
    UpstreamSettings,
};
use crate::error::{Error, Result};

impl PartialSettings {
    /// Applies the defaults and checks every value.
    pub fn resolve(self) -> Result<Settings> {
        let listen = parse_addr("listen", self.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let admin_listen = resolve_admin_listen(self.admin_listen.as_deref())?;
        let domains = resolve_domains(self.domains.unwrap_or_default())?;
        let tls = resolve_tls(self.tls)?;
        let upstream = resolve_upstream(self.upstream.unwrap_or_default())?;
        let clients = resolve_clients(self.clients.unwrap_or_default())?;
        let keys = resolve_keys(&self.keys.unwrap_or_default())?;
        if upstream.is_some() {
            require_clients_and_keys(&clients, &keys)?;
        }
        let frame_length = resolve_frame_length(self.frame_length)?;
        let suite = match self.suite.as_deref() {
            None => ObjectSuite::default(),
            Some(s) => parse_suite(s)?,
        };
        let cache = resolve_cache(self.cache.unwrap_or_default())?;
        let shutdown_timeout = self.shutdown_timeout_secs.map_or(DEFAULT_SHUTDOWN_TIMEOUT, Duration::from_secs);
        let commitment_policy = resolve_commitment_policy(self.commitment_policy.as_deref())?;
        let partial_limits = self.limits.unwrap_or_default();
        let requests = resolve_request_limits(&partial_limits)?;
        let limits = resolve_limits(partial_limits)?;
        let auth = resolve_auth(self.auth.unwrap_or_default())?;
        let max_encrypted_data_keys = match self.max_encrypted_data_keys {
            Some(0) => return Err(Error::Config("max_encrypted_data_keys must be at least 1".into())),
            Some(n) => n,
            None => DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
        };
        // Every key but a discovery one wraps each new data key once.
        let wrapping = keys.iter().filter(|k| !matches!(k, KeySpec::KmsDiscovery { .. })).count();
        if wrapping > max_encrypted_data_keys {
            return Err(Error::Config(format!(
                "{wrapping} keys are configured, so every object gets {wrapping} encrypted data keys, more than max_encrypted_data_keys = {max_encrypted_data_keys}: raise it"
            )));
        }
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
            limits,
            requests,
            auth,
            max_encrypted_data_keys,
        })
    }
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

fn resolve_admin_listen(admin_listen: Option<&str>) -> Result<Option<SocketAddr>> {
    match admin_listen.unwrap_or(DEFAULT_ADMIN_LISTEN) {
        v if v.eq_ignore_ascii_case(OFF) => Ok(None),
        v => Ok(Some(parse_addr("admin_listen", v)?)),
    }
}

fn resolve_domains(domains: Vec<String>) -> Result<Vec<String>> {
    for d in &domains {
        if d.is_empty() || d.contains('/') || d.contains(':') {
            return Err(Error::Config(format!("domain {d:?}: expected a host name such as s3.example.com")));
        }
    }
    Ok(domains)
}

fn resolve_tls(tls: Option<PartialTls>) -> Result<Option<TlsSettings>> {
    match tls {
        None | Some(PartialTls { cert: None, key: None }) => Ok(None),
        Some(PartialTls { cert: Some(cert), key: Some(key) }) => Ok(Some(TlsSettings { cert, key })),
        Some(_) => Err(Error::Config("TLS needs both a certificate file and a key file".into())),
    }
}

/// The external upstream, or `None` for the embedded one (no endpoint).
fn resolve_upstream(upstream: PartialUpstream) -> Result<Option<UpstreamSettings>> {
    match upstream.endpoint.clone() {
        None => {
            if upstream.access_key.is_some() || upstream.secret_key.is_some() || upstream.region.is_some() {
                return Err(Error::Config(
                    "upstream credentials or region are set, but no upstream endpoint (set upstream.endpoint, or remove them to use the embedded upstream)".into(),
                ));
            }
            if upstream.sse.is_some() || upstream.sse_kms_key_id.is_some() || upstream.sse_bucket_key.is_some() {
                return Err(Error::Config(
                    "upstream server-side encryption is set, but no upstream endpoint: the embedded store keeps the sealed bytes as they come and offers none".into(),
                ));
            }
            Ok(None)
        }
        Some(endpoint) => Ok(Some(external_upstream(endpoint, upstream)?)),
    }
}

fn resolve_clients(clients: Vec<ClientCredential>) -> Result<Vec<ClientCredential>> {
    let mut seen = std::collections::HashSet::new();
    for c in &clients {
        if c.access_key.is_empty() || c.secret_key.expose().is_empty() {
            return Err(Error::Config("a client credential has an empty access key or secret key".into()));
        }
        if !seen.insert(c.access_key.as_str()) {
            return Err(Error::Config(format!("client access key {} is given twice", c.access_key)));
        }
    }
    Ok(clients)
}

fn resolve_keys(specs: &[String]) -> Result<Vec<KeySpec>> {
    let keys = s3seal::keyspec::parse_specs(specs).map_err(|e| Error::Config(sdk_message(e)))?;
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
    Ok(keys)
}

/// With an external upstream nothing is generated: client credentials and
/// keys must be given.
fn require_clients_and_keys(clients: &[ClientCredential], keys: &[KeySpec]) -> Result<()> {
    if clients.is_empty() {
        return Err(Error::Config(
            "with an upstream endpoint, client credentials are required (clients = [{ access_key, secret_key }] or S3SEAL_CLIENT_CREDENTIALS=AK:SK)".into(),
        ));
    }
    if keys.is_empty() {
        return Err(Error::Config(
            "with an upstream endpoint, at least one key is required (keys = [\"kms:KEY_ARN\"] or S3SEAL_KEYS)".into(),
        ));
    }
    Ok(())
}

fn resolve_frame_length(frame_length: Option<u32>) -> Result<u32> {
    let frame_length = frame_length.unwrap_or(DEFAULT_FRAME_LENGTH);
    // Multipart parts must be whole frames: a power of two up to 1 MiB
    // divides every common client's part size (5, 8, 15, 16 MiB...).
    if !frame_length.is_power_of_two() || frame_length > MAX_FRAME_LENGTH {
        return Err(Error::Config(format!(
            "frame_length {frame_length}: expected a power of two up to {MAX_FRAME_LENGTH} (so that multipart parts of common sizes are whole frames)"
        )));
    }
    Ok(frame_length)
}

fn resolve_commitment_policy(policy: Option<&str>) -> Result<CommitmentPolicy> {
    let Some(s) = policy else {
        return Ok(CommitmentPolicy::default());
    };
    let p: CommitmentPolicy = s.parse().map_err(|e| Error::Config(format!("commitment_policy: {e}")))?;
    if p == CommitmentPolicy::ForbidEncryptAllowDecrypt {
        return Err(Error::Config(
            "commitment_policy: forbid-encrypt-allow-decrypt is for writers without key commitment; the proxy always writes with it"
                .into(),
        ));
    }
    Ok(p)
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

fn external_upstream(endpoint: String, u: PartialUpstream) -> Result<UpstreamSettings> {
    let endpoint = resolve_endpoint(endpoint)?;
    let credentials = resolve_credentials(u.access_key, u.secret_key, u.session_token)?;
    // Object bodies go unsigned over plain http only when asked, or by
    // default to a loopback address.
    let unsigned_payloads = match endpoint.as_deref().and_then(|e| e.parse::<http::Uri>().ok()) {
        Some(uri) if uri.scheme_str() == Some("http") => {
            !u.sign_payload.unwrap_or_else(|| !uri.host().is_some_and(is_loopback_host))
        }
        _ => false,
    };
    let sse = resolve_sse(u.sse, u.sse_kms_key_id, u.sse_bucket_key)?;
    Ok(UpstreamSettings {
        sse,
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

/// The server-side encryption asked of the upstream, if any.
fn resolve_sse(
    algorithm: Option<String>,
    kms_key_id: Option<String>,
    bucket_key: Option<bool>,
) -> Result<Option<s3seal::s3::SseDefault>> {
    match algorithm {
        None if kms_key_id.is_some() || bucket_key.is_some() => Err(Error::Config(
            "upstream sse_kms_key_id or sse_bucket_key is set without sse (aws:kms or aws:kms:dsse)".into(),
        )),
        None => Ok(None),
        Some(a) => s3seal::s3::SseDefault::parse(a.trim(), kms_key_id, bucket_key)
            .map(Some)
            .map_err(|e| Error::Config(format!("upstream sse: {}", sdk_message(e)))),
    }
}

/// The endpoint URL, or `None` for AWS S3 itself ([`AWS_ENDPOINT`]).
fn resolve_endpoint(endpoint: String) -> Result<Option<String>> {
    let endpoint = endpoint.trim().to_string();
    if endpoint.eq_ignore_ascii_case(AWS_ENDPOINT) {
        return Ok(None);
    }
    let uri: http::Uri = endpoint.parse().map_err(|e| {
        Error::Config(format!("upstream endpoint {endpoint:?}: {e} (expected a URL such as https://s3.example.com)"))
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(Error::Config(format!(
            "upstream endpoint {endpoint:?}: expected an http:// or https:// URL (or \"aws\")"
        )));
    }
    Ok(Some(endpoint))
}

/// The upstream credentials, given together or not at all.
fn resolve_credentials(
    access_key: Option<String>,
    secret_key: Option<Secret>,
    session_token: Option<Secret>,
) -> Result<Option<StaticCredentials>> {
    match (access_key, secret_key) {
        (None, None) => {
            if session_token.is_some() {
                return Err(Error::Config("upstream session_token is set without access_key and secret_key".into()));
            }
            Ok(None)
        }
        (Some(access_key), Some(secret_key)) if !access_key.is_empty() && !secret_key.expose().is_empty() => {
            Ok(Some(StaticCredentials { access_key, secret_key, session_token }))
        }
        _ => Err(Error::Config("upstream access_key and secret_key must be given together".into())),
    }
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

fn resolve_limits(l: PartialLimits) -> Result<ConnectionLimits> {
    let positive = |name: &str, v: Option<u64>, default: Duration| match v {
        Some(0) => Err(Error::Config(format!("limits {name} must be at least 1"))),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Ok(default),
    };
    let max_connections = l.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    let per_address = l.max_connections_per_address.unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS);
    if max_connections == 0 || per_address == 0 {
        return Err(Error::Config("limits max_connections and max_connections_per_address must be at least 1".into()));
    }
    Ok(ConnectionLimits {
        max_connections,
        max_connections_per_address: per_address.min(max_connections),
        header_timeout: positive("header_timeout_secs", l.header_timeout_secs, DEFAULT_HEADER_TIMEOUT)?,
        idle_timeout: positive("idle_timeout_secs", l.idle_timeout_secs, DEFAULT_IDLE_TIMEOUT)?,
    })
}

fn resolve_request_limits(l: &PartialLimits) -> Result<RequestLimits> {
    let max_header_bytes = l.max_header_bytes.unwrap_or(DEFAULT_MAX_HEADER_BYTES);
    if max_header_bytes < MIN_HEADER_BYTES {
        return Err(Error::Config(format!("limits max_header_bytes must be at least {MIN_HEADER_BYTES}")));
    }
    let max_xml_body_bytes = l.max_xml_body_bytes.unwrap_or(DEFAULT_MAX_XML_BODY_BYTES);
    let max_object_bytes = l.max_object_bytes.unwrap_or(DEFAULT_MAX_OBJECT_BYTES);
    if max_xml_body_bytes == 0 || max_object_bytes == 0 {
        return Err(Error::Config("limits max_xml_body_bytes and max_object_bytes must be at least 1".into()));
    }
    let body_timeout = match l.body_timeout_secs {
        Some(0) => return Err(Error::Config("limits body_timeout_secs must be at least 1".into())),
        Some(s) => Duration::from_secs(s),
        None => DEFAULT_BODY_TIMEOUT,
    };
    Ok(RequestLimits {
        max_header_bytes,
        max_xml_body_bytes,
        max_object_bytes,
        body_timeout,
        min_body_rate: l.min_body_rate.unwrap_or(DEFAULT_MIN_BODY_RATE),
    })
}

/// The client region: as given (`*` for any), else the upstream's.
fn resolve_auth(a: PartialAuth) -> Result<AuthSettings> {
    let region = match a.region.as_deref().map(str::trim) {
        Some(ANY_REGION) => ClientRegion::Any,
        Some("") => return Err(Error::Config("auth region is empty (use \"*\" to accept any region)".into())),
        Some(r) if !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            return Err(Error::Config(format!(
                "auth region {r:?}: expected a region name such as us-east-1, or \"*\""
            )));
        }
        Some(r) => ClientRegion::Named(r.to_string()),
        None => ClientRegion::Upstream,
    };
    Ok(AuthSettings { region, insecure_allow_sigv2: a.insecure_allow_sigv2.unwrap_or(false) })
}
