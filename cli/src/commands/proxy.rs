//! `s3seal proxy`: the transparent encrypting S3 endpoint (the
//! `s3seal-proxy` library), configured by a TOML file, `S3SEAL_*`
//! environment variables and these flags, in increasing precedence.

use std::path::PathBuf;

use clap::Args;
use s3seal::keyspec::KeySpec;
use s3seal_proxy::config::PartialSettings;
use s3seal_proxy::config::{PartialAuth, PartialCache, PartialLimits, PartialTls, PartialUpstream};
use s3seal_proxy::{Error, Server};

use crate::fail::{CliResult, Code, Failure};
use crate::values::parse_key_spec;

pub const PROXY_HELP: &str = "\
With no upstream configured, the proxy stores objects (ciphertext only) in a local
directory through an embedded S3 server, with a generated key and generated client
credentials (kept in --data-dir), and prints how to use it:

  s3seal proxy
  aws --endpoint-url http://127.0.0.1:9000 s3 cp ./file s3://demo/

EXAMPLES:
  # MinIO (or any S3-compatible store) under a KMS key, settings in a file
  s3seal proxy --config /etc/s3seal/proxy.toml

  # AWS S3 itself, upstream credentials from the standard AWS chain
  S3SEAL_CLIENT_CREDENTIALS=AKIDCLIENT:client-secret \\
    s3seal proxy --upstream aws --region eu-west-1 --listen 0.0.0.0:9000 \\
    --key kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab

  # TLS on the client listener, virtual-host addressing under s3.example.com
  s3seal proxy --config proxy.toml --tls-cert cert.pem --tls-key key.pem --domain s3.example.com

SECRETS (client credentials, upstream secret key) are read from the config file or the
environment only, never from flags (other users can see a process's arguments):
  S3SEAL_CLIENT_CREDENTIALS=AK:SK[,AK:SK...]  S3SEAL_UPSTREAM_ACCESS_KEY  S3SEAL_UPSTREAM_SECRET_KEY
Every flag has an S3SEAL_* variable too (S3SEAL_LISTEN, S3SEAL_UPSTREAM, S3SEAL_KEYS=SPEC;SPEC, ...);
docs/PROXY.md lists them all. Logs go to stderr, filtered by RUST_LOG (default info).

Stops gracefully on SIGINT (Ctrl-C) or SIGTERM.";

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// A TOML configuration file (default: $S3SEAL_CONFIG, else none).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The client listener [default: 127.0.0.1:9000].
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// The admin listener for /metrics and /health, or off [default: 127.0.0.1:9001].
    #[arg(long, value_name = "HOST:PORT|off")]
    pub admin_listen: Option<String>,
    /// TLS certificate chain (PEM) for the client listener; needs --tls-key.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for the client listener; needs --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// A domain for virtual-host addressing by clients, BUCKET.DOMAIN (repeatable).
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// The upstream S3 endpoint URL, or aws for AWS S3 itself [default: embedded].
    #[arg(long, value_name = "URL|aws")]
    pub upstream: Option<String>,
    /// The upstream region [default: from the AWS configuration, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Path-style upstream addressing [default: true for a URL, false for aws].
    #[arg(long, value_name = "BOOL")]
    pub path_style: Option<bool>,
    /// Extra CA certificates (PEM) trusted for an https upstream.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca_bundle: Option<PathBuf>,
    /// Sign object bodies sent to a plain http upstream [default: true, false for a loopback address].
    #[arg(long, value_name = "BOOL")]
    pub sign_payload: Option<bool>,
    /// Server-side encryption asked of the upstream on every write whose client names none:
    /// AES256, aws:kms or aws:kms:dsse [default: none, the bucket's own].
    #[arg(long, value_name = "ALGORITHM")]
    pub upstream_sse: Option<String>,
    /// The KMS key of --upstream-sse aws:kms or aws:kms:dsse [default: the bucket's].
    #[arg(long, value_name = "KEY_ID")]
    pub upstream_sse_kms_key_id: Option<String>,
    /// The S3 Bucket Key flag sent with --upstream-sse aws:kms [default: the bucket's].
    #[arg(long, value_name = "BOOL")]
    pub upstream_sse_bucket_key: Option<bool>,
    /// A key spec (repeatable; the first generates data keys) [default: embedded: a generated key file].
    #[arg(short = 'k', long = "key", value_name = "SPEC", value_parser = parse_key_spec)]
    pub keys: Vec<KeySpec>,
    /// The embedded upstream's directory [default: ./s3seal-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Plaintext bytes per frame of new objects, a power of two up to 1 MiB [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pub frame_length: Option<u32>,
    /// Frame cipher of new objects: aes-256-gcm or chacha20-poly1305 [default: aes-256-gcm].
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Seconds a cached data key is used [default: 300].
    #[arg(long, value_name = "SECS")]
    pub cache_max_age: Option<u64>,
    /// Objects one cached data key encrypts [default: 10000].
    #[arg(long, value_name = "N")]
    pub cache_max_messages: Option<u64>,
    /// Plaintext bytes one cached data key encrypts [default: unlimited].
    #[arg(long, value_name = "BYTES")]
    pub cache_max_bytes: Option<u64>,
    /// Entries in the data-key cache [default: 1000].
    #[arg(long, value_name = "N")]
    pub cache_capacity: Option<usize>,
    /// Seconds a graceful shutdown waits for open requests [default: 30].
    #[arg(long, value_name = "SECS")]
    pub shutdown_timeout: Option<u64>,
    /// Which S3 Encryption Client objects are read: require-encrypt-require-decrypt (format V3 only)
    /// or require-encrypt-allow-decrypt (also V2, which has no key commitment)
    /// [default: require-encrypt-require-decrypt].
    #[arg(long, value_name = "POLICY")]
    pub commitment_policy: Option<String>,
    /// Open client connections at most; kept within the open-file limit [default: 4096].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Open client connections from one IP address at most [default: 512].
    #[arg(long, value_name = "N")]
    pub max_connections_per_address: Option<usize>,
    /// Seconds a client may take to send a request's headers or a TLS handshake [default: 30].
    #[arg(long, value_name = "SECS")]
    pub header_timeout: Option<u64>,
    /// Seconds a connection stays open with no request in flight [default: 20].
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Bytes of a request's head (request line and headers) at most [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,
    /// Bytes of an XML request body (DeleteObjects, CompleteMultipartUpload, ...) at most [default: 2097152].
    #[arg(long, value_name = "BYTES")]
    pub max_xml_body_bytes: Option<usize>,
    /// Bytes of one PutObject or UploadPart body at most [default: 5368709120].
    #[arg(long, value_name = "BYTES")]
    pub max_object_bytes: Option<u64>,
    /// Seconds of waiting for a request body over which it must average --min-body-rate [default: 20].
    #[arg(long, value_name = "SECS")]
    pub body_timeout: Option<u64>,
    /// Bytes per second a request body must average over each --body-timeout of waiting [default: 1024].
    #[arg(long, value_name = "BYTES")]
    pub min_body_rate: Option<u64>,
    /// The region clients sign for, or * for any [default: the upstream's signing region].
    #[arg(long, value_name = "REGION|*")]
    pub client_region: Option<String>,
    /// INSECURE: accept AWS Signature Version 2 from clients (HMAC-SHA1, no region, no payload hash).
    #[arg(long)]
    pub insecure_allow_sigv2: bool,
    /// Refuse stored envelopes with more encrypted data keys than this, before any KMS call [default: 8].
    #[arg(long, value_name = "N")]
    pub max_encrypted_data_keys: Option<usize>,
    /// Print the effective settings (secrets hidden) and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl ProxyArgs {
    /// The settings given by flags.
    fn to_partial(&self) -> PartialSettings {
        let tls = PartialTls { cert: self.tls_cert.clone(), key: self.tls_key.clone() };
        let upstream = PartialUpstream {
            endpoint: self.upstream.clone(),
            region: self.region.clone(),
            path_style: self.path_style,
            ca_bundle: self.upstream_ca_bundle.clone(),
            sign_payload: self.sign_payload,
            sse: self.upstream_sse.clone(),
            sse_kms_key_id: self.upstream_sse_kms_key_id.clone(),
            sse_bucket_key: self.upstream_sse_bucket_key,
            ..PartialUpstream::default()
        };
        let cache = PartialCache {
            max_age_secs: self.cache_max_age,
            max_messages: self.cache_max_messages,
            max_bytes: self.cache_max_bytes,
            capacity: self.cache_capacity,
        };
        let limits = PartialLimits {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            header_timeout_secs: self.header_timeout,
            idle_timeout_secs: self.idle_timeout,
            max_header_bytes: self.max_header_bytes,
            max_xml_body_bytes: self.max_xml_body_bytes,
            max_object_bytes: self.max_object_bytes,
            body_timeout_secs: self.body_timeout,
            min_body_rate: self.min_body_rate,
        };
        let auth = PartialAuth {
            region: self.client_region.clone(),
            insecure_allow_sigv2: self.insecure_allow_sigv2.then_some(true),
        };
        PartialSettings {
            listen: self.listen.clone(),
            admin_listen: self.admin_listen.clone(),
            domains: (!self.domains.is_empty()).then(|| self.domains.clone()),
            tls: (tls != PartialTls::default()).then_some(tls),
            upstream: (upstream != PartialUpstream::default()).then_some(upstream),
            clients: None,
            keys: (!self.keys.is_empty()).then(|| self.keys.iter().map(ToString::to_string).collect()),
            data_dir: self.data_dir.clone(),
            frame_length: self.frame_length,
            suite: self.suite.clone(),
            cache: (cache != PartialCache::default()).then_some(cache),
            shutdown_timeout_secs: self.shutdown_timeout,
            commitment_policy: self.commitment_policy.clone(),
            limits: (limits != PartialLimits::default()).then_some(limits),
            auth: (auth != PartialAuth::default()).then_some(auth),
            max_encrypted_data_keys: self.max_encrypted_data_keys,
        }
    }
}

fn failure(e: Error) -> Failure {
    let code = match &e {
        Error::Config(_) | Error::ConfigFile { .. } | Error::Tls(_) | Error::Keys(_) => Code::Usage,
        _ => Code::Io,
    };
    let hint = match &e {
        Error::Config(_) | Error::ConfigFile { .. } => Some("see `s3seal proxy --help` and docs/PROXY.md"),
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            Some("another process uses the port: choose another with --listen / --admin-listen")
        }
        _ => None,
    };
    let f = Failure::new(code, e);
    match hint {
        Some(h) => f.hint(h),
        None => f,
    }
}

pub async fn proxy(args: ProxyArgs) -> CliResult<()> {
    s3seal_proxy::server::init_tracing();
    let config =
        args.config.clone().or_else(|| std::env::var_os("S3SEAL_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from));
    let file = match &config {
        Some(path) => PartialSettings::from_file(path).map_err(failure)?,
        None => PartialSettings::default(),
    };
    let env = PartialSettings::from_env().map_err(failure)?;
    let settings = args.to_partial().over(env).over(file).resolve().map_err(failure)?;
    if args.print_config {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        return writeln!(out, "{settings:#?}")
            .and_then(|()| out.flush())
            .map_err(|e| Failure::io("cannot write the settings to stdout", e));
    }
    // Handlers first, so that a signal sent as soon as the banner shows is
    // a graceful shutdown, not the default (immediate) exit.
    let signals = s3seal_proxy::server::Signals::install().map_err(failure)?;
    let server = Server::start(settings).await.map_err(failure)?;
    // Never panic if whoever started us stopped reading stdout.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", server.banner());
        let _ = out.flush();
    }
    server.run_until(signals).await.map_err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_settings() {
        let args = ProxyArgs {
            config: None,
            listen: Some("127.0.0.1:1234".into()),
            admin_listen: Some("off".into()),
            tls_cert: None,
            tls_key: None,
            domains: vec![],
            upstream: None,
            region: None,
            path_style: None,
            upstream_ca_bundle: None,
            sign_payload: None,
            upstream_sse: None,
            upstream_sse_kms_key_id: None,
            upstream_sse_bucket_key: None,
            keys: vec!["aes:a:b:/k".parse().unwrap()],
            data_dir: None,
            frame_length: Some(4096),
            suite: None,
            cache_max_age: None,
            cache_max_messages: Some(2),
            cache_max_bytes: None,
            cache_capacity: None,
            shutdown_timeout: None,
            commitment_policy: Some("require-encrypt-allow-decrypt".into()),
            max_connections: Some(100),
            max_connections_per_address: None,
            header_timeout: None,
            idle_timeout: Some(5),
            max_header_bytes: None,
            max_xml_body_bytes: Some(1000),
            max_object_bytes: None,
            body_timeout: Some(7),
            min_body_rate: None,
            client_region: Some("*".into()),
            insecure_allow_sigv2: true,
            max_encrypted_data_keys: Some(3),
            print_config: false,
        };
        let p = args.to_partial();
        assert!(p.upstream.is_none() && p.tls.is_none());
        let s = p.resolve().unwrap();
        assert_eq!(s.listen.port(), 1234);
        assert_eq!(s.admin_listen, None);
        assert_eq!(s.frame_length, 4096);
        assert_eq!(s.cache.max_messages, 2);
        assert_eq!(s.commitment_policy, s3seal::CommitmentPolicy::RequireEncryptAllowDecrypt);
        assert_eq!(s.keys.len(), 1);
        assert_eq!(s.limits.max_connections, 100);
        assert_eq!(s.limits.max_connections_per_address, 100, "never above the total");
        assert_eq!((s.requests.max_xml_body_bytes, s.requests.body_timeout.as_secs()), (1000, 7));
        assert_eq!(s.auth.region, s3seal_proxy::config::ClientRegion::Any);
        assert!(s.auth.insecure_allow_sigv2);
        assert_eq!(s.max_encrypted_data_keys, 3);
        assert_eq!(s.limits.idle_timeout, std::time::Duration::from_secs(5));
        assert_eq!(s.limits.header_timeout, s3seal_proxy::config::DEFAULT_HEADER_TIMEOUT);
    }
}
