//! The settings given by `S3SEAL_*` environment variables.

use std::fmt;
use std::path::PathBuf;

use super::credentials::{Secret, parse_client_credentials};
use super::partial::{PartialAuth, PartialCache, PartialLimits, PartialSettings, PartialTls, PartialUpstream};
use crate::error::{Error, Result};

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

impl PartialSettings {
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
            sse: var(l, "S3SEAL_UPSTREAM_SSE"),
            sse_kms_key_id: var(l, "S3SEAL_UPSTREAM_SSE_KMS_KEY_ID"),
            sse_bucket_key: var(l, "S3SEAL_UPSTREAM_SSE_BUCKET_KEY")
                .map(|v| parse_bool("S3SEAL_UPSTREAM_SSE_BUCKET_KEY", &v))
                .transpose()?,
        };
        let cache = PartialCache {
            max_age_secs: parse_var(l, "S3SEAL_CACHE_MAX_AGE_SECS")?,
            max_messages: parse_var(l, "S3SEAL_CACHE_MAX_MESSAGES")?,
            max_bytes: parse_var(l, "S3SEAL_CACHE_MAX_BYTES")?,
            capacity: parse_var(l, "S3SEAL_CACHE_CAPACITY")?,
        };
        let limits = PartialLimits {
            max_connections: parse_var(l, "S3SEAL_MAX_CONNECTIONS")?,
            max_connections_per_address: parse_var(l, "S3SEAL_MAX_CONNECTIONS_PER_ADDRESS")?,
            header_timeout_secs: parse_var(l, "S3SEAL_HEADER_TIMEOUT_SECS")?,
            idle_timeout_secs: parse_var(l, "S3SEAL_IDLE_TIMEOUT_SECS")?,
            max_header_bytes: parse_var(l, "S3SEAL_MAX_HEADER_BYTES")?,
            max_xml_body_bytes: parse_var(l, "S3SEAL_MAX_XML_BODY_BYTES")?,
            max_object_bytes: parse_var(l, "S3SEAL_MAX_OBJECT_BYTES")?,
            body_timeout_secs: parse_var(l, "S3SEAL_BODY_TIMEOUT_SECS")?,
            min_body_rate: parse_var(l, "S3SEAL_MIN_BODY_RATE")?,
        };
        let auth = PartialAuth {
            region: var(l, "S3SEAL_CLIENT_REGION"),
            insecure_allow_sigv2: var(l, "S3SEAL_INSECURE_ALLOW_SIGV2")
                .map(|v| parse_bool("S3SEAL_INSECURE_ALLOW_SIGV2", &v))
                .transpose()?,
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
            limits: some_if(limits != PartialLimits::default()).map(|()| limits),
            auth: some_if(auth != PartialAuth::default()).map(|()| auth),
            max_encrypted_data_keys: parse_var(l, "S3SEAL_MAX_ENCRYPTED_DATA_KEYS")?,
        })
    }
}
