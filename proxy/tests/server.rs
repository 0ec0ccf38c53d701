//! The proxy server, in process, on free 127.0.0.1 ports, over the embedded
//! store in a temporary directory.
//!
//! Most tests exercise the server machinery (authentication, TLS, admin
//! endpoints, settings, shutdown) with a small probe S3 implementation in
//! place of the encryption layer, so that they show what the server does
//! whatever the layer does; `round_trip_through_the_encryption_layer` runs
//! the real layer. Every test stops its servers before it returns.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use s3s::dto::{
    Bucket, HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListBucketsInput, ListBucketsOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result};
use s3seal_proxy::config::{PartialSettings, Settings};
use s3seal_proxy::server::{LayerParts, Server};

/// Answers ListBuckets with one bucket named `probe`, HeadBucket for the
/// buckets `probe`, `vhost-bucket` and `slow` (after a second) and
/// HeadObject; refuses everything else.
struct Probe;

#[async_trait::async_trait]
impl S3 for Probe {
    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let bucket = Bucket { name: Some("probe".into()), ..Default::default() };
        Ok(S3Response::new(ListBucketsOutput { buckets: Some(vec![bucket]), ..Default::default() }))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        match req.input.bucket.as_str() {
            "slow" => tokio::time::sleep(Duration::from_secs(1)).await,
            "probe" | "vhost-bucket" => {}
            _ => return Err(s3s::s3_error!(NoSuchBucket)),
        }
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn head_object(&self, _req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        Ok(S3Response::new(HeadObjectOutput { content_length: Some(0), ..Default::default() }))
    }
}

fn probe(parts: LayerParts) -> s3seal_proxy::Result<Probe> {
    // The parts are built from the settings (keyring, cache, upstream), so
    // building them is part of what start checks; the probe needs none.
    drop(parts);
    Ok(Probe)
}

/// Embedded upstream in `dir`, both listeners on free ports.
fn settings(dir: &Path) -> Settings {
    let toml = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nshutdown_timeout_secs = 5",
        dir.display().to_string()
    );
    PartialSettings::from_toml_str(&toml).and_then(PartialSettings::resolve).expect("test settings")
}

/// An `aws-sdk-s3` client independent of the environment (static
/// credentials, region, endpoint, path-style).
fn s3_config(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
}

fn client_of(server: &Server) -> aws_sdk_s3::Client {
    let c = &server.client_credentials()[0];
    aws_sdk_s3::Client::from_conf(s3_config(&server.endpoint(), &c.access_key, c.secret_key.expose()).build())
}

/// One HTTP/1.1 request over a plain socket; returns status and body
/// (status 0 and the error if the exchange fails).
fn raw_http(addr: SocketAddr, method: &str, path_and_query: &str) -> (u16, String) {
    let exchange = || -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(s, "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match exchange() {
        Ok(text) => {
            let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
            (status, body)
        }
        Err(e) => (0, e.to_string()),
    }
}

async fn raw(addr: SocketAddr, method: &'static str, path: String) -> (u16, String) {
    tokio::task::spawn_blocking(move || raw_http(addr, method, &path)).await.expect("join")
}

fn service_error(
    e: &aws_sdk_s3::error::SdkError<
        impl aws_sdk_s3::error::ProvideErrorMetadata,
        aws_sdk_s3::config::http::HttpResponse,
    >,
) -> (u16, String) {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (status, e.code().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_pass_and_bad_ones_get_403() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_layer(settings(dir.path()), probe).await.unwrap();
    let c = server.client_credentials()[0].clone();

    // Signed with the generated credentials: reaches the layer.
    let out = client_of(&server).list_buckets().send().await.expect("signed ListBuckets");
    assert_eq!(out.buckets()[0].name(), Some("probe"));

    // Unsigned.
    let (status, body) = raw(server.local_addr(), "GET", "/".into()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    // Right access key, wrong secret.
    let wrong = aws_sdk_s3::Client::from_conf(s3_config(&server.endpoint(), &c.access_key, "not-the-secret").build());
    let e = wrong.list_buckets().send().await.expect_err("wrong secret");
    assert_eq!(service_error(&e), (403, "SignatureDoesNotMatch".into()));

    // Unknown access key.
    let unknown = aws_sdk_s3::Client::from_conf(s3_config(&server.endpoint(), "AKIDUNKNOWN", "x").build());
    let e = unknown.list_buckets().send().await.expect_err("unknown key");
    assert_eq!(service_error(&e), (403, "InvalidAccessKeyId".into()));

    // Presigned: valid, then expired (signed two hours ago for one minute).
    let client = client_of(&server);
    let fresh = client
        .head_object()
        .bucket("bucket")
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let path = fresh.uri().trim_start_matches(&server.endpoint()).to_string();
    assert_eq!(raw(server.local_addr(), "HEAD", path).await.0, 200, "a valid presigned URL is accepted");
    let expired = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(7200))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let old = client.get_object().bucket("bucket").key("k").presigned(expired).await.unwrap();
    let path = old.uri().trim_start_matches(&server.endpoint()).to_string();
    let (status, body) = raw(server.local_addr(), "GET", path).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_layer(settings(dir.path()), probe).await.unwrap();
    let admin = server.admin_addr().expect("admin on");
    assert_ne!(admin, server.local_addr());
    server.metrics().request("PutObject");

    let (status, body) = raw(admin, "GET", "/health".into()).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = raw(admin, "GET", "/metrics".into()).await;
    assert_eq!(status, 200);
    assert!(body.contains("s3seal_requests_total{operation=\"PutObject\"} 1"), "{body}");
    assert!(body.contains("s3seal_cache_hits_total{side=\"encrypt\"} 0"), "{body}");
    assert!(body.contains("s3seal_keyring_calls_total{side=\"decrypt\"} 0"), "{body}");
    assert_eq!(raw(admin, "GET", "/nope".into()).await.0, 404);
    // The admin endpoints are not on the client listener (there: S3, signed).
    assert_eq!(raw(server.local_addr(), "GET", "/metrics".into()).await.0, 403);

    server.shutdown().await.unwrap();
    assert!(std::net::TcpStream::connect(admin).is_err(), "the admin listener is closed after shutdown");

    // admin_listen = "off"
    let mut s = settings(dir.path());
    s.admin_listen = None;
    let server = Server::start_with_layer(s, probe).await.unwrap();
    assert_eq!(server.admin_addr(), None);
    server.shutdown().await.unwrap();
}

/// A test CA and a leaf certificate for `names` signed by it, written to
/// `dir`; returns the CA certificate (PEM) and the leaf's cert and key paths.
fn test_ca(dir: &Path, names: &[&str]) -> (String, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, leaf_key.serialize_pem()).unwrap();
    (ca_cert.pem(), cert_path, key_path)
}

/// Resolves every name to 127.0.0.1 (for virtual-host names).
#[derive(Debug, Clone)]
struct Loopback;

impl aws_smithy_runtime_api::client::dns::ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        aws_smithy_runtime_api::client::dns::DnsFuture::ready(Ok(vec![std::net::IpAddr::from([127, 0, 0, 1])]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_host_addressing_with_a_domain() {
    use aws_smithy_http_client::tls;
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert, key) = test_ca(dir.path(), &["s3.test", "*.s3.test"]);
    let mut s = settings(&dir.path().join("data"));
    s.domains = vec!["s3.test".into()];
    s.tls = Some(s3seal_proxy::config::TlsSettings { cert, key });
    let server = Server::start_with_layer(s, probe).await.unwrap();
    let c = server.client_credentials()[0].clone();
    let client = |path_style: bool| {
        let trust = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(ca_pem.clone().into_bytes());
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(tls::TlsContext::builder().with_trust_store(trust).build().unwrap())
            .build_with_resolver(Loopback);
        let endpoint = format!("https://s3.test:{}", server.local_addr().port());
        aws_sdk_s3::Client::from_conf(
            s3_config(&endpoint, &c.access_key, c.secret_key.expose())
                .force_path_style(path_style)
                .http_client(http)
                .build(),
        )
    };
    // https://vhost-bucket.s3.test:PORT/ : the bucket comes from the Host.
    client(false).head_bucket().bucket("vhost-bucket").send().await.expect("virtual-host HeadBucket");
    let e = client(false).head_bucket().bucket("other-bucket").send().await.expect_err("unknown bucket");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
    // https://s3.test:PORT/vhost-bucket : path-style still works.
    client(true).head_bucket().bucket("vhost-bucket").send().await.expect("path-style HeadBucket");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_with_a_test_ca() {
    let dir = tempfile::tempdir().unwrap();

    let (ca_pem, cert_path, key_path) = test_ca(dir.path(), &["localhost", "127.0.0.1"]);
    let mut s = settings(&dir.path().join("data"));
    s.tls = Some(s3seal_proxy::config::TlsSettings { cert: cert_path, key: key_path });
    let server = Server::start_with_layer(s, probe).await.unwrap();
    assert!(server.endpoint().starts_with("https://127.0.0.1:"), "{}", server.endpoint());

    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(ca_pem.into_bytes());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(tls::TlsContext::builder().with_trust_store(trust).build().unwrap())
        .build_https();
    let c = &server.client_credentials()[0];
    let client = aws_sdk_s3::Client::from_conf(
        s3_config(&server.endpoint(), &c.access_key, c.secret_key.expose()).http_client(http).build(),
    );
    let out = client.list_buckets().send().await.expect("ListBuckets over https");
    assert_eq!(out.buckets()[0].name(), Some("probe"));

    // A client that does not trust the CA cannot connect.
    let untrusting = aws_sdk_s3::Client::from_conf(
        s3_config(&server.endpoint(), &c.access_key, c.secret_key.expose())
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                    .tls_context(
                        tls::TlsContext::builder()
                            .with_trust_store(tls::TrustStore::empty().with_native_roots(false))
                            .build()
                            .unwrap(),
                    )
                    .build_https(),
            )
            .build(),
    );
    assert!(untrusting.list_buckets().send().await.is_err());

    // Plain HTTP to the TLS port gets no S3 answer.
    assert_ne!(raw(server.local_addr(), "GET", "/".into()).await.0, 403);

    server.shutdown().await.unwrap();
}

/// The upstream over https with a private CA (`upstream.ca_bundle`): a
/// second proxy, with TLS and its own embedded store, serves as the
/// upstream of the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir(&tls_dir).unwrap();
    let (ca_pem, cert, key) = test_ca(&tls_dir, &["localhost", "127.0.0.1"]);
    let ca_path = tls_dir.join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();

    let mut upstream_settings = settings(&dir.path().join("upstream"));
    upstream_settings.tls = Some(s3seal_proxy::config::TlsSettings { cert, key });
    upstream_settings.admin_listen = None;
    let upstream = Server::start(upstream_settings).await.expect("the upstream proxy");
    let up = upstream.client_credentials()[0].clone();

    let (key_spec, _) = s3seal_proxy::embedded::ensure_key(&dir.path().join("front-key")).unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"off\"\nkeys = [{key:?}]\n\
         [upstream]\nendpoint = {endpoint:?}\naccess_key = {ak:?}\nsecret_key = {sk:?}\nca_bundle = {ca:?}\n\
         [[clients]]\naccess_key = \"front-client\"\nsecret_key = \"front-secret\"\n",
        key = key_spec.to_string(),
        endpoint = upstream.endpoint(),
        ak = up.access_key,
        sk = up.secret_key.expose(),
        ca = ca_path.display().to_string(),
    );
    let front_settings = PartialSettings::from_toml_str(&toml).and_then(PartialSettings::resolve).unwrap();
    let front = Server::start(front_settings).await.expect("the front proxy");
    let client = aws_sdk_s3::Client::from_conf(s3_config(&front.endpoint(), "front-client", "front-secret").build());
    // Requests without object data are enough to show the TLS hop works
    // (object data through two proxies is the layer's business).
    client.create_bucket().bucket("chained").send().await.expect("CreateBucket through both proxies");
    let listed = client.list_objects_v2().bucket("chained").send().await.expect("ListObjectsV2 through both");
    assert_eq!(listed.key_count(), Some(0));

    // Without the CA bundle the upstream's certificate is not trusted.
    let untrusting = toml.replace(&format!("ca_bundle = {:?}\n", ca_path.display().to_string()), "");
    assert_ne!(untrusting, toml);
    let s = PartialSettings::from_toml_str(&untrusting).and_then(PartialSettings::resolve).unwrap();
    let blind = Server::start(s).await.expect("starts (the upstream is only contacted per request)");
    let c = aws_sdk_s3::Client::from_conf(s3_config(&blind.endpoint(), "front-client", "front-secret").build());
    let e = c.list_objects_v2().bucket("chained").send().await.expect_err("untrusted upstream certificate");
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    assert!(status >= 500, "an untrusted upstream is a server-side error, got {status}");
    blind.shutdown().await.unwrap();

    front.shutdown().await.unwrap();
    upstream.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:1\"\nadmin_listen = \"off\"\ndata_dir = {:?}\nframe_length = 4096\n\
             [[clients]]\naccess_key = \"from-file\"\nsecret_key = \"file-secret\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let file = PartialSettings::from_file(&file).unwrap();
    // The environment moves the listener to a free port and replaces the
    // client credentials; the file's admin setting and frame length stay.
    let env = PartialSettings::from_env_with(|name| match name {
        "S3SEAL_LISTEN" => Some("127.0.0.1:0".into()),
        "S3SEAL_CLIENT_CREDENTIALS" => Some("from-env:env-secret".into()),
        "S3SEAL_FRAME_LENGTH" => Some(String::new()), // empty = unset
        _ => None,
    })
    .unwrap();
    let flags = PartialSettings { shutdown_timeout_secs: Some(3), ..Default::default() };
    let s = flags.over(env).over(file).resolve().unwrap();
    assert_eq!(s.frame_length, 4096);
    assert_eq!(s.shutdown_timeout, Duration::from_secs(3));

    let server = Server::start_with_layer(s, probe).await.unwrap();
    assert_ne!(server.local_addr().port(), 1);
    assert_eq!(server.admin_addr(), None);
    assert_eq!(server.client_credentials().len(), 1);
    assert_eq!(server.client_credentials()[0].access_key, "from-env");
    assert!(!server.generated_client_credentials());
    client_of(&server).list_buckets().send().await.expect("signed with the env credentials");
    let file_creds = aws_sdk_s3::Client::from_conf(s3_config(&server.endpoint(), "from-file", "file-secret").build());
    assert!(file_creds.list_buckets().send().await.is_err(), "the file's credentials were overridden");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_open_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_layer(settings(dir.path()), probe).await.unwrap();
    let addr = server.local_addr();
    let client = client_of(&server);
    let slow = tokio::spawn(async move { client.head_bucket().bucket("slow").send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let t0 = Instant::now();
    server.shutdown().await.unwrap();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    slow.await.unwrap().expect("the request in flight at shutdown completed");
    assert!(std::net::TcpStream::connect(addr).is_err(), "the listener is closed after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_key_and_credentials_are_generated_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start_with_layer(settings(dir.path()), probe).await.unwrap();
    assert!(first.generated_key() && first.generated_client_credentials());
    let creds = first.client_credentials().to_vec();
    let keys = first.keys().to_vec();
    let banner = first.banner();
    assert!(banner.contains(&first.endpoint()), "{banner}");
    assert!(banner.contains(&creds[0].access_key) && banner.contains(creds[0].secret_key.expose()), "{banner}");
    assert!(banner.contains("aws --endpoint-url"), "{banner}");
    first.shutdown().await.unwrap();

    let second = Server::start_with_layer(settings(dir.path()), probe).await.unwrap();
    assert!(!second.generated_key() && !second.generated_client_credentials());
    assert_eq!(second.client_credentials(), creds.as_slice());
    assert_eq!(second.keys(), keys.as_slice());
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_refuses_bad_tls_files_and_taken_ports() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.tls =
        Some(s3seal_proxy::config::TlsSettings { cert: dir.path().join("none.pem"), key: dir.path().join("none.key") });
    let e = Server::start_with_layer(s, probe).await.unwrap_err();
    assert!(matches!(e, s3seal_proxy::Error::Tls(_)), "{e}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = settings(dir.path());
    s.listen = taken.local_addr().unwrap();
    let e = Server::start_with_layer(s, probe).await.unwrap_err();
    assert!(matches!(e, s3seal_proxy::Error::Io { .. }), "{e}");
}

/// The real encryption layer: a PUT/GET round trip with `aws-sdk-s3` as
/// the client, and what the upstream stores is not the plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_the_encryption_layer() {
    let dir = tempfile::tempdir().unwrap();
    let server = match Server::start(settings(dir.path())).await {
        Ok(s) => s,
        Err(e) => panic!("the proxy does not start: {e}"),
    };
    let client = client_of(&server);
    client.create_bucket().bucket("demo").send().await.expect("CreateBucket");
    let plaintext: Vec<u8> =
        (0..64 * 1024 + 1).map(|i: u32| b"s3seal proxy plaintext "[(i as usize) % 23] ^ (i / 23 % 7) as u8).collect();
    client
        .put_object()
        .bucket("demo")
        .key("dir/hello.txt")
        .content_type("text/plain")
        .body(plaintext.clone().into())
        .send()
        .await
        .expect("PutObject through the proxy");
    let got = client.get_object().bucket("demo").key("dir/hello.txt").send().await.expect("GetObject");
    assert_eq!(got.content_length(), Some(plaintext.len() as i64));
    let body = got.body.collect().await.expect("body").into_bytes();
    assert!(body.as_ref() == plaintext.as_slice(), "the plaintext comes back");

    // What the upstream stores: the file the embedded store keeps for the
    // object (its key encoded, `.` escaped, `%o` for an object's file).
    let stored_path = server.data_dir().expect("embedded").join("objects/demo/dir/hello%2Etxt%o");
    let stored = std::fs::read(&stored_path).expect("the object is stored upstream");
    assert_ne!(stored.len(), plaintext.len(), "ciphertext is longer than the plaintext");
    let stored_windows: std::collections::HashSet<&[u8]> = stored.windows(16).collect();
    for window in plaintext.chunks(16).filter(|w| w.len() == 16) {
        assert!(!stored_windows.contains(window), "plaintext found in what the upstream stores");
    }
    let (status, metrics) = raw(server.admin_addr().unwrap(), "GET", "/metrics".into()).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("s3seal_keyring_calls_total{side=\"encrypt\"} 1"), "{metrics}");
    server.shutdown().await.unwrap();
}

/// Folder markers (keys ending in `/`) in embedded mode: written, read,
/// listed, copied, uploaded in parts and deleted like any object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_markers_in_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(settings(dir.path())).await.expect("the proxy starts");
    let c = client_of(&server);
    c.create_bucket().bucket("folders").send().await.expect("CreateBucket");
    let keys = ["photos/", "photos/2024/", "photos/2024/a.jpg", "photos/-first", "zeta"];
    for key in keys {
        let body = if key.ends_with('/') { Vec::new() } else { key.as_bytes().to_vec() };
        c.put_object().bucket("folders").key(key).body(body.into()).send().await.expect(key);
    }
    let head = c.head_object().bucket("folders").key("photos/").send().await.expect("HEAD photos/");
    assert_eq!(head.content_length(), Some(0));
    let got = c.get_object().bucket("folders").key("photos/2024/").send().await.expect("GET photos/2024/");
    assert!(got.body.collect().await.expect("body").into_bytes().is_empty());

    let list = |prefix: &'static str, delimiter: Option<&'static str>, start: Option<&'static str>| {
        let c = c.clone();
        async move {
            let out = c
                .list_objects_v2()
                .bucket("folders")
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_string))
                .set_start_after(start.map(str::to_string))
                .send()
                .await
                .expect("ListObjectsV2");
            let mut keys: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
            keys.sort();
            let prefixes: Vec<String> =
                out.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)).collect();
            (keys, prefixes)
        }
    };
    let (all, _) = list("", None, None).await;
    assert_eq!(all, ["photos/", "photos/-first", "photos/2024/", "photos/2024/a.jpg", "zeta"]);
    let (keys, prefixes) = list("photos/", Some("/"), None).await;
    assert_eq!(keys, ["photos/", "photos/-first"]);
    assert_eq!(prefixes, ["photos/2024/"]);
    let (after, _) = list("photos/2024/", None, Some("photos/2024/")).await;
    assert_eq!(after, ["photos/2024/a.jpg"], "start-after a marker excludes it");
    let v1 = c.list_objects().bucket("folders").prefix("photos/2024/").send().await.expect("ListObjects");
    let v1: Vec<&str> = v1.contents().iter().filter_map(|o| o.key()).collect();
    assert!(v1.contains(&"photos/2024/") && v1.contains(&"photos/2024/a.jpg"), "{v1:?}");

    c.copy_object().bucket("folders").key("copied/").copy_source("folders/photos/").send().await.expect("copy");
    let got = c.get_object().bucket("folders").key("copied/").send().await.expect("GET copied/");
    assert_eq!(got.content_length(), Some(0));

    let up = c.create_multipart_upload().bucket("folders").key("parts/").send().await.expect("create");
    assert_eq!(up.key(), Some("parts/"));
    let id = up.upload_id().expect("upload id");
    let part = c
        .upload_part()
        .bucket("folders")
        .key("parts/")
        .upload_id(id)
        .part_number(1)
        .body(b"marker with content".to_vec().into())
        .send()
        .await
        .expect("part");
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).set_e_tag(part.e_tag).build())
        .build();
    let out = c
        .complete_multipart_upload()
        .bucket("folders")
        .key("parts/")
        .upload_id(id)
        .multipart_upload(done)
        .send()
        .await
        .expect("complete");
    assert_eq!(out.key(), Some("parts/"));
    let got = c.get_object().bucket("folders").key("parts/").send().await.expect("GET parts/");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"marker with content");

    c.delete_object().bucket("folders").key("photos/").send().await.expect("delete photos/");
    let ids = ["copied/", "parts/"]
        .iter()
        .map(|k| aws_sdk_s3::types::ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect::<Vec<_>>();
    let delete = aws_sdk_s3::types::Delete::builder().set_objects(Some(ids)).build().unwrap();
    let out = c.delete_objects().bucket("folders").delete(delete).send().await.expect("DeleteObjects");
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, ["copied/", "parts/"]);
    let (left, _) = list("", None, None).await;
    assert_eq!(left, ["photos/-first", "photos/2024/", "photos/2024/a.jpg", "zeta"]);

    // No key is reserved (the old store kept markers as `.s3seal-folder`).
    c.put_object().bucket("folders").key("x/.s3seal-folder").body(b"x".to_vec().into()).send().await.expect("any name");
    server.shutdown().await.unwrap();
}

/// Versioning reads in embedded mode: the store has no versioning, and
/// answers as S3 does for a bucket that never had it; listed versions
/// carry plaintext sizes and page like S3's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioning_reads_in_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(settings(dir.path())).await.expect("the proxy starts");
    let c = client_of(&server);
    c.create_bucket().bucket("versions").send().await.expect("CreateBucket");
    let v = c.get_bucket_versioning().bucket("versions").send().await.expect("GetBucketVersioning");
    assert!(v.status().is_none(), "never versioned: {v:?}");
    let missing = c.get_bucket_versioning().bucket("no-such-bucket").send().await;
    assert_eq!(missing.expect_err("missing bucket").raw_response().map(|r| r.status().as_u16()), Some(404));

    let sizes = [("a", 0usize), ("b/", 0), ("b/c", 1), ("d", 70_000), ("e", 65_536)];
    for (key, len) in sizes {
        c.put_object().bucket("versions").key(key).body(vec![7u8; len].into()).send().await.expect(key);
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let page = c
            .list_object_versions()
            .bucket("versions")
            .max_keys(2)
            .set_key_marker(marker.clone())
            .send()
            .await
            .expect("ListObjectVersions");
        assert!(page.delete_markers().is_empty());
        for o in page.versions() {
            assert_eq!(o.version_id(), Some("null"));
            assert_eq!(o.is_latest(), Some(true));
            seen.push((o.key().unwrap_or_default().to_string(), o.size().unwrap_or(-1)));
        }
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        marker = page.next_key_marker().map(str::to_string);
        assert!(marker.is_some(), "a truncated page names where to go on");
    }
    let expected: Vec<(String, i64)> = sizes.iter().map(|(k, n)| (k.to_string(), *n as i64)).collect();
    assert_eq!(seen, expected, "every object once, with its plaintext size");
    let top = c.list_object_versions().bucket("versions").delimiter("/").send().await.expect("delimited");
    let prefixes: Vec<&str> = top.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["b/"]);
    assert_eq!(top.versions().len(), 3);
    server.shutdown().await.unwrap();
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out
}

/// `%XX` decoded (keys listed with `encoding-type=url`).
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The keys S3 accepts that a file system does not take as names
/// (`testvectors/keys.txt`), and the longest.
fn special_keys() -> Vec<String> {
    let mut keys: Vec<String> = include_str!("../../testvectors/keys.txt").lines().map(str::to_string).collect();
    keys.push("k".repeat(1024));
    // The longest encodings: every byte escaped, every segment empty.
    keys.push("É".repeat(512));
    keys.push("/".repeat(1024));
    keys.push(format!("seg/{}/end", "s".repeat(300)));
    keys
}

/// Keys as data: every special key is written, read back distinct, listed
/// (v1, v2, paged, with prefix, delimiter and start-after, URL-encoded),
/// copied and deleted, and nothing lands outside the bucket's directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_keys_in_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(settings(dir.path())).await.expect("the proxy starts");
    let c = client_of(&server);
    c.create_bucket().bucket("keys").send().await.expect("CreateBucket");
    let keys = special_keys();
    for key in &keys {
        c.put_object().bucket("keys").key(key).body(key.as_bytes().to_vec().into()).send().await.expect(key);
    }
    let mut etags = std::collections::BTreeMap::new();
    for key in &keys {
        let got = c.get_object().bucket("keys").key(key).send().await.expect(key);
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(body.as_ref(), key.as_bytes(), "{key:?} reads back its own body");
        let head = c.head_object().bucket("keys").key(key).send().await.expect(key);
        etags.insert(key.clone(), head.e_tag().unwrap().to_string());
    }
    let too_long = c.put_object().bucket("keys").key("k".repeat(1025)).body(b"x".to_vec().into()).send().await;
    assert_eq!(service_error(&too_long.expect_err("1025 bytes")), (400, "KeyTooLongError".into()));

    // Nothing outside the bucket: one bucket directory, no file elsewhere.
    let objects = server.data_dir().unwrap().join("objects");
    let buckets: Vec<String> =
        c.list_buckets().send().await.unwrap().buckets().iter().filter_map(|b| b.name().map(str::to_string)).collect();
    assert_eq!(buckets, ["keys"]);
    let files = files_under(&objects);
    assert!(files.iter().all(|f| f.starts_with("keys")), "{files:?}");
    assert_eq!(files.len(), keys.len(), "one file per object: {files:?}");

    // Listed in S3's order (UTF-8 bytes), each once, with HEAD's ETags;
    // in pages of 5 through continuation tokens, URL-encoded.
    let mut sorted = keys.clone();
    sorted.sort();
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket("keys")
            .max_keys(5)
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("ListObjectsV2");
        for o in page.contents() {
            let key = url_decode(o.key().unwrap());
            assert_eq!(o.e_tag(), etags.get(&key).map(String::as_str), "{key:?}: listed ETag is HEAD's");
            listed.push(key);
        }
        token = page.next_continuation_token().map(str::to_string);
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
    }
    assert_eq!(listed, sorted);
    let v1 = c.list_objects().bucket("keys").send().await.expect("ListObjects");
    let v1: Vec<&str> = v1.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(v1, sorted.iter().map(String::as_str).collect::<Vec<_>>());
    let top = c.list_objects_v2().bucket("keys").delimiter("/").send().await.expect("delimited");
    let prefixes: Vec<&str> = top.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["../", "/", "a/", "seg/", "trail/", "x/", "ü/"]);
    let under_a = c.list_objects_v2().bucket("keys").prefix("a/").delimiter("/").send().await.expect("prefix a/");
    let a_keys: Vec<&str> = under_a.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(a_keys, ["a/b"]);
    let a_prefixes: Vec<&str> = under_a.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(a_prefixes, ["a/../", "a/./", "a//", "a/q/"]);
    let after = c.list_objects_v2().bucket("keys").prefix("a").start_after("a/b").send().await.expect("start-after");
    let after: Vec<&str> = after.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(after, ["a/q/../b", "ab\\cd"]);

    // HEAD of a prefix of other keys is 404, as is a missing key.
    for missing in ["seg", "a/q", "a/q/", "nope"] {
        let e = c.head_object().bucket("keys").key(missing).send().await.expect_err(missing);
        assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404), "{missing}");
    }

    // Copy between special keys; delete one and several.
    c.copy_object().bucket("keys").key("a/./b").copy_source("keys/a/../b").send().await.expect("copy");
    let got = c.get_object().bucket("keys").key("a/./b").send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(got.into_bytes().as_ref(), b"a/../b");
    let got = c.get_object().bucket("keys").key("a/b").send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(got.into_bytes().as_ref(), b"a/b", "the copy did not alias a/b");
    c.delete_object().bucket("keys").key("..").send().await.expect("delete ..");
    let ids = ["a//b", "/lead", "trail/", "%%41"]
        .iter()
        .map(|k| aws_sdk_s3::types::ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect::<Vec<_>>();
    let delete = aws_sdk_s3::types::Delete::builder().set_objects(Some(ids)).build().unwrap();
    c.delete_objects().bucket("keys").delete(delete).send().await.expect("DeleteObjects");
    let left = c.list_objects_v2().bucket("keys").send().await.unwrap();
    let left: Vec<&str> = left.contents().iter().filter_map(|o| o.key()).collect();
    let expected: Vec<&str> =
        sorted.iter().map(String::as_str).filter(|k| !["..", "a//b", "/lead", "trail/", "%%41"].contains(k)).collect();
    assert_eq!(left, expected);
    assert!(files_under(&objects).iter().all(|f| f.starts_with("keys")));
    server.shutdown().await.unwrap();
}

fn status<E>(
    r: Result<impl std::fmt::Debug, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0),
    }
}

/// A multipart upload of one part to `bucket`/`key`, ready to complete.
async fn one_part_upload(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder {
    let up = c.create_multipart_upload().bucket(bucket).key(key).send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = c.upload_part().bucket(bucket).key(key).upload_id(id).part_number(1).body(b"p".to_vec().into());
    let part = part.send().await.unwrap();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).set_e_tag(part.e_tag).build())
        .build();
    c.complete_multipart_upload().bucket(bucket).key(key).upload_id(id).multipart_upload(done)
}

/// Conditional writes and deletes in the store itself (as the proxy's
/// upstream): `If-None-Match: *` is atomic (one of many racing writers
/// wins), `If-Match` guards PUT, CompleteMultipartUpload and DELETE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_in_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = s3seal_proxy::embedded::Embedded::start(dir.path()).await.expect("the store starts");
    let c = store.client();
    c.create_bucket().bucket("cond").send().await.unwrap();
    let put =
        |key: &'static str, body: &'static [u8]| c.put_object().bucket("cond").key(key).body(body.to_vec().into());

    assert_eq!(status(put("k", b"one").if_none_match("*").send().await), 200);
    assert_eq!(status(put("k", b"two").if_none_match("*").send().await), 412);
    let etag = c.head_object().bucket("cond").key("k").send().await.unwrap().e_tag().unwrap().to_string();
    assert_eq!(status(put("k", b"two").if_match("\"0123\"").send().await), 412);
    assert_eq!(status(put("missing", b"x").if_match(&etag).send().await), 404);
    assert_eq!(status(put("k", b"two").if_match(&etag).send().await), 200);
    let body = c.get_object().bucket("cond").key("k").send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(body.into_bytes().as_ref(), b"two");

    // Racing creators: exactly one wins.
    let racers = (0..8).map(|i| {
        let c = c.clone();
        tokio::spawn(async move {
            status(
                c.put_object().bucket("cond").key("race").body(vec![i; 100_000].into()).if_none_match("*").send().await,
            )
        })
    });
    let mut codes = Vec::new();
    for r in racers {
        codes.push(r.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [200, 412, 412, 412, 412, 412, 412, 412]);

    // Overwrites land whole: readers racing writers see one body or the
    // other, never a mix or a part.
    let bodies: [Vec<u8>; 2] = [vec![b'a'; 1 << 20], vec![b'b'; 1 << 20]];
    c.put_object().bucket("cond").key("atomic").body(bodies[0].clone().into()).send().await.unwrap();
    let writer = {
        let (c, bodies) = (c.clone(), bodies.clone());
        tokio::spawn(async move {
            for i in 0..12 {
                let body = bodies[i % 2].clone();
                c.put_object().bucket("cond").key("atomic").body(body.into()).send().await.unwrap();
            }
        })
    };
    for _ in 0..24 {
        let got = c.get_object().bucket("cond").key("atomic").send().await.unwrap();
        let body = got.body.collect().await.unwrap().into_bytes();
        assert!(bodies.iter().any(|b| b.as_slice() == body.as_ref()), "a torn read of {} bytes", body.len());
    }
    writer.await.unwrap();

    // CompleteMultipartUpload with If-None-Match / If-Match.
    for (condition, expected) in [("none", 412), ("match-wrong", 412), ("match", 200)] {
        let complete = one_part_upload(&c, "cond", "k").await;
        let current = c.head_object().bucket("cond").key("k").send().await.unwrap().e_tag().unwrap().to_string();
        let complete = match condition {
            "none" => complete.if_none_match("*"),
            "match-wrong" => complete.if_match("\"0123\""),
            _ => complete.if_match(current),
        };
        assert_eq!(status(complete.send().await), expected, "{condition}");
    }
    let head = c.head_object().bucket("cond").key("k").send().await.unwrap();
    assert!(head.e_tag().unwrap().ends_with("-1\""), "the completed upload is the object: {head:?}");

    // DELETE If-Match: wrong ETag 412, missing key 404, right ETag 204.
    let etag = head.e_tag().unwrap().to_string();
    assert_eq!(status(c.delete_object().bucket("cond").key("k").if_match("\"0123\"").send().await), 412);
    assert_eq!(status(c.delete_object().bucket("cond").key("missing").if_match(&etag).send().await), 404);
    assert_eq!(status(c.delete_object().bucket("cond").key("k").if_match(&etag).send().await), 200);
    assert_eq!(status(c.head_object().bucket("cond").key("k").send().await), 404);
    store.stop().await;
}

/// Through the proxy: conditional reads (304, 412), conditional PUTs and
/// deletes, conditional completions refused (501, never ignored), and
/// tagging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_and_tagging_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(settings(dir.path())).await.expect("the proxy starts");
    let c = client_of(&server);
    c.create_bucket().bucket("cond").send().await.unwrap();
    c.put_object().bucket("cond").key("k").body(b"hello".to_vec().into()).send().await.unwrap();
    let head = c.head_object().bucket("cond").key("k").send().await.unwrap();
    let etag = head.e_tag().unwrap().to_string();
    let modified = *head.last_modified().unwrap();
    let before = aws_sdk_s3::primitives::DateTime::from_secs(modified.secs() - 3600);
    let after = aws_sdk_s3::primitives::DateTime::from_secs(modified.secs() + 3600);

    let get = || c.get_object().bucket("cond").key("k");
    let head = || c.head_object().bucket("cond").key("k");
    assert_eq!(status(get().if_match(&etag).send().await), 200);
    assert_eq!(status(get().if_match("\"0123-0\"").send().await), 412);
    assert_eq!(status(get().if_none_match(&etag).send().await), 304);
    assert_eq!(status(get().if_none_match("\"0123-0\"").send().await), 200);
    assert_eq!(status(get().if_modified_since(after).send().await), 304);
    assert_eq!(status(get().if_modified_since(before).send().await), 200);
    assert_eq!(status(get().if_unmodified_since(before).send().await), 412);
    assert_eq!(status(get().if_unmodified_since(after).send().await), 200);
    assert_eq!(status(head().if_none_match(&etag).send().await), 304);
    assert_eq!(status(head().if_match("\"0123-0\"").send().await), 412);
    assert_eq!(status(head().if_modified_since(after).send().await), 304);

    // Conditional PUTs are passed on (with the ETag as the store keeps it)
    // and checked by the store.
    let put = |key: &'static str| c.put_object().bucket("cond").key(key).body(b"new".to_vec().into());
    assert_eq!(status(put("new").if_none_match("*").send().await), 200);
    assert_eq!(status(put("new").if_none_match("*").send().await), 412);
    assert_eq!(status(put("absent").if_match(&etag).send().await), 404);
    assert_eq!(status(put("new").if_match(&etag).send().await), 412);
    let new_etag = c.head_object().bucket("cond").key("new").send().await.unwrap().e_tag().unwrap().to_string();
    assert_eq!(status(put("new").if_match(&new_etag).send().await), 200);
    // Conditional completions are passed on and checked by the store.
    let complete = one_part_upload(&c, "cond", "mp").await;
    assert_eq!(status(complete.if_none_match("*").send().await), 200);
    let again = one_part_upload(&c, "cond", "mp").await;
    assert_eq!(status(again.if_none_match("*").send().await), 412, "the first completion stays");

    // Tagging round trip; a new write drops the tags, as in S3.
    let tag = |k: &str, v: &str| aws_sdk_s3::types::Tag::builder().key(k).value(v).build().unwrap();
    let tagging =
        aws_sdk_s3::types::Tagging::builder().tag_set(tag("team", "a b+c")).tag_set(tag("ü", "")).build().unwrap();
    c.put_object_tagging().bucket("cond").key("k").tagging(tagging).send().await.expect("PutObjectTagging");
    let got = c.get_object_tagging().bucket("cond").key("k").send().await.expect("GetObjectTagging");
    let tags: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "a b+c"), ("ü", "")]);
    c.delete_object_tagging().bucket("cond").key("k").send().await.expect("DeleteObjectTagging");
    assert!(c.get_object_tagging().bucket("cond").key("k").send().await.unwrap().tag_set().is_empty());
    let missing = c.get_object_tagging().bucket("cond").key("nope").send().await;
    assert_eq!(status(missing), 404);

    // Conditional deletes, with the ETag as the proxy shows it.
    assert_eq!(status(c.delete_object().bucket("cond").key("k").if_match("\"0123-0\"").send().await), 412);
    assert_eq!(status(c.delete_object().bucket("cond").key("k").if_match(&etag).send().await), 200);
    assert_eq!(status(c.head_object().bucket("cond").key("k").send().await), 404);
    server.shutdown().await.unwrap();
}

/// Buckets in the embedded store: an empty one is deleted; files of an
/// earlier on-disk layout (`objects/BUCKET/KEY`, as `s3s-fs` kept them) are
/// not listed, and keep their bucket from being deleted with them unseen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_and_files_of_an_earlier_layout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(settings(dir.path())).await.expect("the proxy starts");
    let c = client_of(&server);
    for b in ["gone", "legacy"] {
        c.create_bucket().bucket(b).send().await.expect("CreateBucket");
    }
    assert_eq!(status(c.create_bucket().bucket("gone").send().await), 409);
    c.put_object().bucket("gone").key("a/b/c").body(b"x".to_vec().into()).send().await.unwrap();
    assert_eq!(status(c.delete_bucket().bucket("gone").send().await), 409, "not empty");
    c.delete_object().bucket("gone").key("a/b/c").send().await.unwrap();
    c.delete_bucket().bucket("gone").send().await.expect("an emptied bucket is deleted");
    assert_eq!(status(c.head_bucket().bucket("gone").send().await), 404);

    let old = server.data_dir().unwrap().join("objects/legacy/notes.txt");
    std::fs::write(&old, b"old ciphertext").unwrap();
    let listed = c.list_objects_v2().bucket("legacy").send().await.unwrap();
    assert!(listed.contents().is_empty(), "{listed:?}");
    assert_eq!(status(c.head_object().bucket("legacy").key("notes.txt").send().await), 404);
    assert_eq!(status(c.delete_bucket().bucket("legacy").send().await), 409);
    assert!(old.exists(), "the old file is kept");
    server.shutdown().await.unwrap();
}
