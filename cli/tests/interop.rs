//! Interop between `s3seal` and the official `aws-encryption-cli` (Python
//! ESDK, from `tests/setup-python.sh`), both directions, byte-identical:
//! AWS KMS keys on a real moto server, and raw AES and RSA keys (the
//! aws-encryption-cli has no built-in raw keys: `tests/python/esdk_cli_plugin`
//! is a master key provider plugin for it that reads key files).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use s3seal_tests::moto::{MOTO_ACCOUNT, MotoServer, REGION};
use s3seal_tests::python;

mod common;
use common::gen_rsa;

const BIN: &str = env!("CARGO_BIN_EXE_s3seal");

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}, {} stdout bytes, stderr:\n{}", self.code, self.stdout.len(), self.stderr)
    }
}

/// The environment both tools run with: static test credentials, the
/// region, and (when given) moto as the KMS endpoint through the standard
/// `AWS_ENDPOINT_URL_KMS`; nothing from the developer's AWS setup.
fn command(program: &Path, dir: &Path, kms_endpoint: Option<&str>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let nowhere = dir.join("no-such-aws-config");
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere);
    if let Some(endpoint) = kms_endpoint {
        cmd.env("AWS_ENDPOINT_URL_KMS", endpoint);
    }
    cmd
}

fn finish(mut cmd: Command) -> Run {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Peers {
    dir: tempfile::TempDir,
    esdk_cli: PathBuf,
    kms_endpoint: Option<String>,
}

impl Peers {
    fn new(kms_endpoint: Option<String>) -> Self {
        let esdk_cli = python::esdk_cli().expect("aws-encryption-cli");
        Peers { dir: tempfile::tempdir().expect("tempdir"), esdk_cli, kms_endpoint }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s3seal(&self, args: &[&str]) -> Run {
        let mut cmd = command(Path::new(BIN), self.dir.path(), self.kms_endpoint.as_deref());
        cmd.args(args);
        finish(cmd)
    }

    /// Runs s3seal without the variables `unset`.
    fn s3seal_without(&self, args: &[&str], unset: &[&str]) -> Run {
        let mut cmd = command(Path::new(BIN), self.dir.path(), self.kms_endpoint.as_deref());
        for k in unset {
            cmd.env_remove(k);
        }
        cmd.args(args);
        finish(cmd)
    }

    fn s3seal_ok(&self, args: &[&str]) {
        let r = self.s3seal(args);
        assert_eq!(r.code, 0, "s3seal {args:?}: {r:?}");
    }

    fn esdk(&self, args: &[&str]) -> Run {
        let mut cmd = command(&self.esdk_cli, self.dir.path(), self.kms_endpoint.as_deref());
        let plugin = python::repo_root().join("tests/python/esdk_cli_plugin");
        let mut pythonpath = OsString::from(plugin);
        if let Some(old) = std::env::var_os("PYTHONPATH") {
            pythonpath.push(":");
            pythonpath.push(old);
        }
        cmd.env("PYTHONPATH", pythonpath).env("PYTHONDONTWRITEBYTECODE", "1");
        cmd.args(args);
        finish(cmd)
    }

    fn esdk_ok(&self, args: &[&str]) {
        let r = self.esdk(args);
        assert_eq!(r.code, 0, "aws-encryption-cli {args:?}: {r:?}");
    }

    fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.path(name), data).expect("write");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// Asserts `name` decrypted to exactly the plaintext `plain`.
    fn same(&self, name: &str, plain: &[u8]) {
        let got = self.read(name);
        assert!(got == plain, "{name}: {} bytes, expected the {} plaintext bytes", got.len(), plain.len());
    }

    fn inspect(&self, name: &str) -> serde_json::Value {
        let r = self.s3seal(&["inspect", "--json", name]);
        assert_eq!(r.code, 0, "inspect {name}: {r:?}");
        serde_json::from_slice(&r.stdout).expect("inspect JSON")
    }
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn create_kms_key(server: &MotoServer) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let kms = server.kms_client().await;
        let out = kms.create_key().send().await.expect("moto CreateKey");
        out.key_metadata().and_then(|m| m.arn()).expect("key ARN").to_string()
    })
}

#[test]
fn kms_on_moto_both_directions() {
    let server = MotoServer::start().expect("moto");
    let arn = create_kms_key(&server);
    let other_arn = create_kms_key(&server);
    let p = Peers::new(Some(server.endpoint()));
    let plain = data(1_234_567, 1);
    p.write("plain", &plain);
    let kms = format!("kms:{arn}");
    let key_arg = format!("key={arn}");

    // aws-encryption-cli -> s3seal: its default suite (0x0578, signed) and 0x0478.
    p.esdk_ok(&[
        "--encrypt",
        "-i",
        "plain",
        "-o",
        "e1.enc",
        "--wrapping-keys",
        &key_arg,
        "-c",
        "purpose=interop",
        "-S",
    ]);
    p.esdk_ok(&[
        "--encrypt",
        "-i",
        "plain",
        "-o",
        "e2.enc",
        "--wrapping-keys",
        &key_arg,
        "--algorithm",
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
        "--frame-length",
        "1024",
        "-S",
    ]);
    let h1 = p.inspect("e1.enc");
    assert_eq!(h1["algorithm_suite"], "0x0578");
    assert_eq!(h1["encrypted_data_keys"][0]["provider_id"], "aws-kms");
    assert_eq!(h1["encrypted_data_keys"][0]["key_name"], arn.as_str());
    assert_eq!(p.inspect("e2.enc")["algorithm_suite"], "0x0478");
    p.s3seal_ok(&["decrypt", "-i", "e1.enc", "-o", "e1.out", "--key", &kms, "-c", "purpose=interop"]);
    p.same("e1.out", &plain);
    p.s3seal_ok(&["decrypt", "-i", "e2.enc", "-o", "e2.out", "--key", &format!("kms-discovery:{MOTO_ACCOUNT}")]);
    p.same("e2.out", &plain);
    p.s3seal_ok(&["decrypt", "-i", "e1.enc", "-o", "e1.disc", "--key", "kms-discovery"]);
    p.same("e1.disc", &plain);
    // No region in the environment: the key ARN's region is used.
    let r = p.s3seal_without(
        &["decrypt", "-i", "e1.enc", "-o", "e1.noregion", "--key", &kms],
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    p.same("e1.noregion", &plain);
    // The wrong context or another key: exit 1, nothing written.
    let r = p.s3seal(&["decrypt", "-i", "e1.enc", "-o", "bad.out", "--key", &kms, "-c", "purpose=other"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("different value for \"purpose\""), "{r:?}");
    let r = p.s3seal(&["decrypt", "-i", "e1.enc", "-o", "bad.out", "--key", &format!("kms:{other_arn}")]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("no key could decrypt this message"), "{r:?}");
    assert!(
        r.stderr.contains(&format!("give --key for one of the keys the message was encrypted for: kms:{arn}")),
        "{r:?}"
    );
    let r = p.s3seal(&["decrypt", "-i", "e1.enc", "-o", "bad.out", "--key", "kms-discovery:111122223333"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!p.path("bad.out").exists());

    // s3seal -> aws-encryption-cli: both suites, a multi-keyring, a pipe.
    p.s3seal_ok(&["encrypt", "-i", "plain", "-o", "s1.enc", "--key", &kms, "-c", "purpose=interop"]);
    p.s3seal_ok(&["encrypt", "-i", "plain", "-o", "s2.enc", "--key", &kms, "--suite", "0578", "--frame-size", "3000"]);
    p.s3seal_ok(&["keygen", "aes", "-o", "aes.key"]);
    p.s3seal_ok(&["encrypt", "-i", "plain", "-o", "s3.enc", "--key", "aes:acme:prod:aes.key", "--key", &kms]);
    p.esdk_ok(&[
        "--decrypt",
        "-i",
        "s1.enc",
        "-o",
        "s1.out",
        "--wrapping-keys",
        &key_arg,
        "-c",
        "purpose=interop",
        "-S",
    ]);
    p.same("s1.out", &plain);
    p.esdk_ok(&["--decrypt", "-i", "s2.enc", "-o", "s2.out", "--wrapping-keys", "discovery=true", "-S"]);
    p.same("s2.out", &plain);
    p.esdk_ok(&["--decrypt", "-i", "s3.enc", "-o", "s3.out", "--wrapping-keys", &key_arg, "-S"]);
    p.same("s3.out", &plain);
    // The aws-encryption-cli checks the context we wrote (it refuses the
    // message, deletes its output and, oddly, exits 0).
    let r = p.esdk(&[
        "--decrypt",
        "-i",
        "s1.enc",
        "-o",
        "s1.bad",
        "--wrapping-keys",
        &key_arg,
        "-c",
        "purpose=other",
        "-S",
    ]);
    assert!(r.stderr.contains("encryption context did not match"), "{r:?}");
    assert!(!p.path("s1.bad").exists());
}

#[test]
fn raw_aes_keys_both_directions() {
    let p = Peers::new(None);
    let plain = data(777_777, 2);
    p.write("plain", &plain);
    p.s3seal_ok(&["keygen", "aes", "-o", "k256"]);
    p.s3seal_ok(&["keygen", "aes", "--bits", "128", "-o", "k128"]);
    for (key, spec) in [("k256", "aes:acme:prod:k256"), ("k128", "aes:acme:small:k128")] {
        let name = spec.split(':').nth(2).unwrap_or_default();
        let wrap = ["provider=s3seal-raw", &format!("key={name}"), "namespace=acme", &format!("keyfile={key}")];
        let wrap = wrap.join(" ");
        let wrap: Vec<&str> = wrap.split(' ').collect();

        // aws-encryption-cli -> s3seal
        let mut args = vec!["--encrypt", "-i", "plain", "-o", "e.enc", "-c", "purpose=raw", "-S", "--wrapping-keys"];
        args.extend(&wrap);
        p.esdk_ok(&args);
        let h = p.inspect("e.enc");
        assert_eq!(h["encrypted_data_keys"][0]["key_spec"], format!("aes:acme:{name}"));
        p.s3seal_ok(&["decrypt", "-i", "e.enc", "-o", "e.out", "--key", spec, "-c", "purpose=raw"]);
        p.same("e.out", &plain);

        // s3seal -> aws-encryption-cli, both suites
        for suite in ["0478", "0578"] {
            p.s3seal_ok(&[
                "encrypt",
                "-i",
                "plain",
                "-o",
                "s.enc",
                "--key",
                spec,
                "-c",
                "purpose=raw",
                "--suite",
                suite,
            ]);
            let mut args =
                vec!["--decrypt", "-i", "s.enc", "-o", "s.out", "-c", "purpose=raw", "-S", "--wrapping-keys"];
            args.extend(&wrap);
            p.esdk_ok(&args);
            p.same("s.out", &plain);
            std::fs::remove_file(p.path("s.out")).expect("rm");
        }
    }
}

#[test]
fn raw_rsa_keys_both_directions() {
    let p = Peers::new(None);
    let plain = data(300_001, 3);
    p.write("plain", &plain);
    // 2048 bits: what cli.rs's helper makes (openssl or Python).
    gen_rsa(p.dir.path());
    for padding in ["oaep-sha256", "oaep-sha1", "pkcs1"] {
        let wrap = |kind: &str, file: &str| {
            vec![
                "provider=s3seal-raw".to_string(),
                "key=escrow".to_string(),
                "namespace=acme".to_string(),
                format!("keyfile={file}"),
                format!("kind={kind}"),
                format!("padding={padding}"),
            ]
        };
        // aws-encryption-cli (public key) -> s3seal (private key)
        let w = wrap("rsa-public", "rsa.pub.pem");
        let mut args: Vec<&str> = vec!["--encrypt", "-i", "plain", "-o", "e.enc", "-S", "--wrapping-keys"];
        args.extend(w.iter().map(String::as_str));
        p.esdk_ok(&args);
        p.s3seal_ok(&["decrypt", "-i", "e.enc", "-o", "e.out", "--key", &format!("rsa:acme:escrow:rsa.pem:{padding}")]);
        p.same("e.out", &plain);
        // s3seal (public key) -> aws-encryption-cli (private key)
        p.s3seal_ok(&[
            "encrypt",
            "-i",
            "plain",
            "-o",
            "s.enc",
            "--key",
            &format!("rsa:acme:escrow:rsa.pub.pem:{padding}"),
        ]);
        let w = wrap("rsa-private", "rsa.pem");
        let mut args: Vec<&str> = vec!["--decrypt", "-i", "s.enc", "-o", "s.out", "-S", "--wrapping-keys"];
        args.extend(w.iter().map(String::as_str));
        p.esdk_ok(&args);
        p.same("s.out", &plain);
        std::fs::remove_file(p.path("s.out")).expect("rm");
    }
}
