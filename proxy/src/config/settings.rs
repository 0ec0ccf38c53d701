//! The settings the server runs with, resolved and checked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use s3seal::CommitmentPolicy;
use s3seal::cache::CacheLimits;
use s3seal::keyspec::KeySpec;
use s3seal::object::ObjectSuite;

use super::credentials::{ClientCredential, Secret};

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
    /// (or [`DEFAULT_REGION`](super::DEFAULT_REGION)).
    pub region: Option<String>,
    /// Path-style addressing.
    pub path_style: bool,
    /// Object bodies go out as `UNSIGNED-PAYLOAD` (plain `http://` only; see
    /// [`PartialUpstream::sign_payload`](super::PartialUpstream::sign_payload)).
    pub unsigned_payloads: bool,
    /// Extra CA certificates (PEM) trusted for the upstream.
    pub ca_bundle: Option<PathBuf>,
    /// Given credentials; `None` for the standard AWS credential chain.
    pub credentials: Option<StaticCredentials>,
    /// Server-side encryption asked of the store on every write whose
    /// client names none.
    pub sse: Option<s3seal::s3::SseDefault>,
}

/// The settings the server runs with (see [`PartialSettings::resolve`](super::PartialSettings::resolve)).
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
    /// Limits on client connections.
    pub limits: ConnectionLimits,
    /// Limits on each request: head, bodies, body rate.
    pub requests: RequestLimits,
    /// How clients authenticate.
    pub auth: AuthSettings,
    /// Envelopes with more encrypted data keys than this are refused before
    /// any key is unwrapped (`s3seal::s3::Config::max_encrypted_data_keys`).
    pub max_encrypted_data_keys: usize,
}

/// Limits on each client request, checked before (head, declared sizes)
/// and while (body rate) it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Bytes of a request's head (request line and headers; HTTP/2: the
    /// header list) at most.
    pub max_header_bytes: usize,
    /// Bytes of a request body that is parsed whole (XML or JSON:
    /// DeleteObjects, CompleteMultipartUpload, tagging, bucket
    /// configuration...) at most.
    pub max_xml_body_bytes: usize,
    /// Plaintext bytes of one PutObject or UploadPart body at most.
    pub max_object_bytes: u64,
    /// The window of the minimum body rate: each `body_timeout` spent
    /// waiting for a request body must bring `body_timeout × min_body_rate`
    /// bytes, else the request is answered `400 RequestTimeout`.
    pub body_timeout: std::time::Duration,
    /// Bytes per second a request body must average over each window.
    pub min_body_rate: u64,
}

/// The region of the credential scope clients must sign for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRegion {
    /// Any region (`auth.region = "*"`).
    Any,
    /// This region.
    Named(String),
    /// The upstream's signing region, as resolved at start (the setting,
    /// else the AWS configuration, else `us-east-1`; the embedded
    /// upstream's is `us-east-1`). The default.
    Upstream,
}

/// How clients authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The region clients must sign for.
    pub region: ClientRegion,
    /// Accept AWS Signature Version 2 (with its `Date` checked as SigV4's,
    /// and presigned URLs expiring within 7 days). Insecure.
    pub insecure_allow_sigv2: bool,
}

/// Limits on client connections. The connection counts are upper bounds:
/// at start the proxy also keeps them within its open-file limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open client connections, from all addresses together.
    pub max_connections: usize,
    /// Open client connections from one IP address.
    pub max_connections_per_address: usize,
    /// How long a client may take to send a request's headers, and to
    /// complete a TLS handshake.
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request in flight
    /// (before its first request too).
    pub idle_timeout: Duration,
}
