//! `s3seal proxy` as a user runs it: no configuration at all, so the
//! embedded upstream over a fresh data directory, with a generated key and
//! client credentials printed on stdout. An S3 client uses what was
//! printed; what lands on disk is ciphertext; SIGINT stops it with status 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the proxy if the test fails before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field<'a>(banner: &'a str, prefix: &str) -> &'a str {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {prefix:?} in the banner:\n{banner}"))
}

/// Starts `s3seal proxy ARGS` in `dir` with no `S3SEAL_*`/`AWS_*` variables
/// but `env`, and returns it with its banner (stdout up to the last line).
async fn start_proxy(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (Running, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3seal"));
    cmd.arg("proxy")
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("S3SEAL_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let mut proxy = Running(cmd.spawn().expect("starting s3seal proxy"));
    let stdout = proxy.0.stdout.take().unwrap();
    let banner = tokio::task::spawn_blocking(move || {
        let mut banner = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("reading the banner");
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("Objects are stored") {
                break;
            }
        }
        banner
    })
    .await
    .unwrap();
    (proxy, banner)
}

/// GET `url` (`http://HOST:PORT/PATH`) with a plain socket; the body.
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_alone_is_an_encrypted_s3_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let (mut proxy, banner) = start_proxy(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", &data_arg],
        &[],
    )
    .await;

    let endpoint = field(&banner, "s3seal proxy: encrypting S3 endpoint at");
    let access_key = field(&banner, "export AWS_ACCESS_KEY_ID=");
    let secret_key = field(&banner, "export AWS_SECRET_ACCESS_KEY=");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{banner}");
    assert!(banner.contains(&format!("aws --endpoint-url {endpoint} s3 ls")), "{banner}");

    let s3 = s3seal_tests::s3client::s3_client(endpoint, access_key, secret_key);
    s3.create_bucket().bucket("demo").send().await.expect("CreateBucket");
    let plaintext = b"a file that must never reach the disk in the clear, 0123456789".repeat(100);
    s3.put_object().bucket("demo").key("notes.txt").body(plaintext.clone().into()).send().await.expect("PutObject");
    let got = s3.get_object().bucket("demo").key("notes.txt").send().await.expect("GetObject");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), plaintext.as_slice());
    let listed = s3.list_objects_v2().bucket("demo").send().await.expect("ListObjectsV2");
    assert_eq!(listed.contents()[0].size(), Some(plaintext.len() as i64), "listings show plaintext sizes");

    // The embedded store keeps `notes.txt` as `notes%2Etxt%o` (docs/PROXY.md).
    let stored = std::fs::read(data.join("objects/demo/notes%2Etxt%o")).expect("the object on disk");
    let windows: std::collections::HashSet<&[u8]> = plaintext.windows(16).collect();
    assert!(!stored.windows(16).any(|w| windows.contains(w)), "plaintext on disk");
    assert!(data.join("proxy.key").exists() && data.join("client-credentials.toml").exists());

    // SIGINT: graceful shutdown, exit status 0.
    let pid = proxy.0.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = proxy.0.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the proxy did not stop on SIGINT");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

/// With a KMS key (moto's KMS): the settings come from `S3SEAL_*`
/// variables, the KMS client from the standard AWS variables, and the
/// data-key cache makes 20 PUTs and 20 GETs cost one KMS call each way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_a_kms_key_from_the_environment() {
    let moto = s3seal_tests::moto::MotoServer::start().expect("moto (run tests/setup-python.sh)");
    let arn = s3seal_tests::kms_count::create_key(&moto).await.expect("CreateKey");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let keys = format!("kms:{arn}");
    let kms_endpoint = moto.endpoint();
    let (_proxy, banner) = start_proxy(
        dir.path(),
        &[],
        &[
            ("S3SEAL_LISTEN", "127.0.0.1:0"),
            ("S3SEAL_ADMIN_LISTEN", "127.0.0.1:0"),
            ("S3SEAL_DATA_DIR", &data),
            ("S3SEAL_KEYS", &keys),
            ("S3SEAL_CLIENT_CREDENTIALS", "kms-test-client:kms-test-secret"),
            ("AWS_ENDPOINT_URL_KMS", &kms_endpoint),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    )
    .await;
    assert!(banner.contains(&format!("key:       kms:{arn}")), "{banner}");
    assert!(!banner.contains("kms-test-secret"), "configured secrets are never printed:\n{banner}");
    let endpoint = field(&banner, "s3seal proxy: encrypting S3 endpoint at");
    let metrics_url = field(&banner, "admin:").split_whitespace().next().expect("the metrics URL").to_string();

    let s3 = s3seal_tests::s3client::s3_client(endpoint, "kms-test-client", "kms-test-secret");
    s3.create_bucket().bucket("kms").send().await.expect("CreateBucket");
    for i in 0..20 {
        let body = format!("object {i} under a KMS data key").into_bytes();
        s3.put_object().bucket("kms").key(format!("o{i}")).body(body.into()).send().await.expect("PutObject");
    }
    for i in 0..20 {
        let got = s3.get_object().bucket("kms").key(format!("o{i}")).send().await.expect("GetObject");
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(body.as_ref(), format!("object {i} under a KMS data key").as_bytes());
    }
    let metrics = tokio::task::spawn_blocking(move || http_get(&metrics_url)).await.unwrap();
    assert!(metrics.contains("s3seal_keyring_calls_total{side=\"encrypt\"} 1\n"), "{metrics}");
    assert!(metrics.contains("s3seal_keyring_calls_total{side=\"decrypt\"} 1\n"), "{metrics}");
    assert!(metrics.contains("s3seal_cache_hits_total{side=\"encrypt\"} 19\n"), "{metrics}");
}
