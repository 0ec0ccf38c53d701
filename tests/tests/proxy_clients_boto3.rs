//! boto3 from PyPI (default settings: default checksum behaviour, default
//! transfer configuration) through the real `s3seal proxy` binary, over
//! `s3s-fs` and moto, and over https with a test CA (issue 4, must-show 1
//! and 2). The Python side (`tests/python/boto3_client.py scenario`) only
//! acts and reports; this file decides.
//!
//! Checked: `upload_file` (multipart above 8 MiB) and `put_object` of 0 B,
//! 1 B, 64 KiB, 64 KiB + 1 and 20 MiB; `download_file` (ranged GETs of 8 MiB
//! in parallel above 8 MiB) and `get_object`, byte-identical; PutObject
//! answers the plaintext MD5 as ETag; HeadObject, ListObjectsV2 and
//! ListObjects show plaintext sizes; ranged GETs in several forms answer
//! 206 with the right bytes, `Content-Range` and no checksum header, and
//! unsatisfiable ones 416 InvalidRange; presigned GET URLs work and an
//! expired one is refused with 403; the upstream holds only ciphertext.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, ensure};
use s3seal_tests::clients::{
    CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, Clients, ProxyOptions, ProxyProcess, TestCa, TestFile, Upstream,
    assert_ciphertext_at_rest, resolve_range, write_test_files,
};
use serde_json::Value;

const BUCKET: &str = "boto3-bucket";

fn md5_hex(b: &[u8]) -> String {
    let mut d = s3seal::checksum::PlaintextDigest::new(None);
    d.update(b);
    d.finish().md5_hex()
}

async fn boto3_through_proxy(upstream: &str, https: bool) {
    let t0 = Instant::now();
    let dir = tempfile::Builder::new().prefix("proxy-boto3-").tempdir().expect("temp dir");
    let upstream = Upstream::start(upstream).await.expect("upstream");
    let ca = https.then(|| TestCa::create(&dir.path().join("tls")).expect("test CA"));
    let mut proxy = ProxyProcess::start(&upstream, dir.path(), &ProxyOptions { tls: ca.clone(), ..Default::default() })
        .expect("s3seal proxy");
    let clients = Clients::new(&dir.path().join("clients"), proxy.endpoint(), ca.as_ref().map(|c| c.ca_pem.as_path()))
        .expect("client configuration");
    let seed = 0xb0 | u32::from(https) << 1 | u32::from(upstream.name() == "moto");
    let files = write_test_files(&dir.path().join("files"), seed).expect("test files");

    if let Err(e) = scenario(&upstream, &proxy, &clients, dir.path(), &files, ca.as_ref()).await {
        let log = proxy.log();
        let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
        panic!(
            "boto3 through the proxy over {} ({}): {e:#}\n--- proxy log (last lines)\n{}",
            upstream.name(),
            proxy.endpoint(),
            tail.join("\n")
        );
    }
    proxy.stop().expect("graceful stop");
    eprintln!(
        "boto3 over {}{}: {:.1} s",
        upstream.name(),
        if https { " (https)" } else { "" },
        t0.elapsed().as_secs_f64()
    );
}

fn file<'a>(files: &'a [TestFile], name: &str) -> Result<&'a TestFile> {
    files.iter().find(|f| f.name == name).ok_or_else(|| anyhow!("no test file {name}"))
}

fn read(path: &Value) -> Result<Vec<u8>> {
    let p = path.as_str().context("a file path in the report")?;
    std::fs::read(p).with_context(|| format!("reading {p}"))
}

async fn scenario(
    upstream: &Upstream,
    proxy: &ProxyProcess,
    clients: &Clients,
    dir: &Path,
    files: &[TestFile],
    ca: Option<&TestCa>,
) -> Result<()> {
    let out = dir.join("out");
    let mut cmd = clients.python("boto3_client.py")?;
    cmd.args(["scenario", "--endpoint", proxy.endpoint(), "--access-key", CLIENT_ACCESS_KEY]);
    cmd.args(["--secret-key", CLIENT_SECRET_KEY, "--bucket", BUCKET]);
    cmd.arg("--files").arg(dir.join("files")).arg("--out").arg(&out);
    if let Some(ca) = ca {
        cmd.arg("--ca-bundle").arg(&ca.ca_pem);
    }
    let ran = clients.run_command(&mut cmd)?;
    let report: Value = serde_json::from_str(&ran.stdout).with_context(|| format!("boto3 report: {}", ran.stdout))?;
    eprintln!("  boto3 {} scenario: {:.1} s", report["boto3"], ran.elapsed.as_secs_f64());

    for f in files {
        let n = f.data.len() as u64;
        let got = std::fs::read(out.join(&f.name))?;
        ensure!(got == f.data, "download_file of {}: {} bytes differ", f.name, got.len());
        let got = std::fs::read(out.join(format!("put-{}", f.name)))?;
        ensure!(got == f.data, "get_object of put/{}: {} bytes differ", f.name, got.len());
        ensure!(
            report["put_etags"][&f.name].as_str() == Some(md5_hex(&f.data).as_str()),
            "PutObject {}: ETag {} is not the plaintext MD5",
            f.name,
            report["put_etags"][&f.name]
        );
        ensure!(
            report["head"][&f.name]["size"].as_u64() == Some(n),
            "HeadObject {}: {}",
            f.name,
            report["head"][&f.name]
        );
        for list in ["list_v2", "list_v1"] {
            for key in [f.name.clone(), format!("put/{}", f.name)] {
                ensure!(report[list][&key].as_u64() == Some(n), "{list} shows {key} as {}", report[list][&key]);
            }
        }
    }

    let ranges = report["ranges"].as_array().context("ranges in the report")?;
    ensure!(ranges.len() >= 14, "only {} ranged GETs", ranges.len());
    for r in ranges {
        let key = r["key"].as_str().context("key")?;
        let range = r["range"].as_str().context("range")?;
        let data = &file(files, key)?.data;
        match resolve_range(data, range) {
            Some(want) => {
                ensure!(r["status"].as_u64() == Some(206), "GET {key} {range}: {r}");
                ensure!(read(&r["file"])? == want, "GET {key} {range}: wrong bytes");
                ensure!(r["content_length"].as_u64() == Some(want.len() as u64), "GET {key} {range}: {r}");
                let first = want.as_ptr() as usize - data.as_ptr() as usize;
                let content_range = format!("bytes {first}-{}/{}", first + want.len() - 1, data.len());
                ensure!(r["content_range"].as_str() == Some(content_range.as_str()), "GET {key} {range}: {r}");
                ensure!(
                    r["checksum_headers"].as_array().is_some_and(Vec::is_empty),
                    "GET {key} {range}: a ranged read must carry no full-object checksum: {r}"
                );
            }
            None => {
                ensure!(r["status"].as_u64() == Some(416), "GET {key} {range} (unsatisfiable): {r}");
                ensure!(r["code"].as_str() == Some("InvalidRange"), "GET {key} {range}: {r}");
            }
        }
    }

    for f in files {
        let p = &report["presigned"][&f.name];
        ensure!(p["status"].as_u64() == Some(200), "presigned GET of {}: {p}", f.name);
        ensure!(read(&p["file"])? == f.data, "presigned GET of {}: wrong bytes", f.name);
    }
    let expired = &report["expired"];
    ensure!(expired["status"].as_u64() == Some(403), "an expired presigned URL was not refused: {expired}");
    ensure!(expired["code"].as_str() == Some("AccessDenied"), "expired presigned URL: {expired}");

    let n = assert_ciphertext_at_rest(&upstream.direct_client(), BUCKET, files).await?;
    ensure!(n == 2 * files.len(), "{n} objects on the upstream, expected {}", 2 * files.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_s3fs() {
    boto3_through_proxy("s3fs", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_moto() {
    boto3_through_proxy("moto", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_https_s3fs() {
    boto3_through_proxy("s3fs", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_https_moto() {
    boto3_through_proxy("moto", true).await;
}
