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

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_alone_is_an_encrypted_s3_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3seal"));
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .current_dir(dir.path())
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("S3SEAL_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
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

    let stored = std::fs::read(data.join("objects/demo/notes.txt")).expect("the object on disk");
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
