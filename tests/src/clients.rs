//! Real S3 tools driven through the proxy, and what their tests share.
//!
//! * [`Upstream`]: the store behind the proxy, `s3s-fs` (in process, checks
//!   the proxy's signatures; raw AES key) or moto (S3 + KMS; KMS key).
//! * [`ProxyProcess`]: the real `s3seal proxy` binary ([`proxy_binary`]) on a
//!   free 127.0.0.1 port, configured by a TOML file and an environment built
//!   from nothing (no inherited `AWS_*`, `RCLONE_*`, `HOME`...), optionally
//!   with TLS from a [`TestCa`]; stopped (SIGTERM) and restarted on demand.
//! * [`Clients`] / [`Tool`]: aws cli v1 (`<repo>/.venv/bin/aws`), aws cli v2
//!   (`/usr/bin/aws`), `s3cmd` and `rclone`, each with its own config files in
//!   a temporary directory and an explicit environment: the tests never
//!   depend on the developer's AWS setup (profiles, `AWS_CA_BUNDLE`, ...).
//! * Test data ([`write_test_files`]) built of 8-byte words `MAGIC || index`
//!   so that [`find_plaintext`] can tell exactly whether any 16-byte window
//!   of any test file appears in stored bytes (every 16-byte window holds
//!   one whole aligned word), and [`assert_ciphertext_at_rest`], which reads
//!   every object straight from the upstream.
//! * [`sigv4`]: a small SigV4 signer for requests no SDK sends (tampered
//!   signed chunks, POST policies, WriteGetObjectResponse), and
//!   [`raw_http`] to send them.
//! * [`CountingRelay`]: a TCP relay in front of the upstream that counts
//!   the bytes the proxy sends it, to show a refused request never reached
//!   the upstream.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::moto::MotoServer;
use crate::python::repo_root;
use crate::s3fs::S3FsServer;

/// The access key clients sign with at the proxy.
pub const CLIENT_ACCESS_KEY: &str = "s3seal-proxy-client";
/// The secret key clients sign with at the proxy.
pub const CLIENT_SECRET_KEY: &str = "s3seal-proxy-client-secret-0123456789";
/// The proxy's frame length (its default), for the size arithmetic.
pub const FRAME: u64 = 65536;
/// The region everything signs for.
pub const REGION: &str = "us-east-1";

/// How long one client command may run before the test fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the proxy may take to print its banner.
const PROXY_START_TIMEOUT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------ test data

/// The test files: 0 B, 1 B, 64 KiB, 64 KiB + 1 and 20 MiB (multipart for
/// every tool).
pub const FILE_SIZES: [(&str, usize); 5] =
    [("f0", 0), ("f1", 1), ("f64k", 65536), ("f64k1", 65537), ("f20m", 20 * 1024 * 1024)];

/// One test file: its name (also the object key's last segment) and bytes.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The file name.
    pub name: String,
    /// The plaintext.
    pub data: Vec<u8>,
    /// The magic in the high half of each 8-byte word.
    pub magic: u32,
}

/// `len` bytes of 8-byte big-endian words `magic << 32 | index`.
pub fn plaintext(magic: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut i: u32 = 0;
    while out.len() < len {
        out.extend_from_slice(&((u64::from(magic) << 32) | u64::from(i)).to_be_bytes());
        i = i.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// Writes the [`FILE_SIZES`] files into `dir` (created if missing), each
/// with its own magic derived from `seed`.
pub fn write_test_files(dir: &Path, seed: u32) -> Result<Vec<TestFile>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    FILE_SIZES
        .iter()
        .enumerate()
        .map(|(i, (name, len))| {
            // Distinct, and never 0 (so zero padding never looks like data).
            let magic = 0x5e41_0000u32 ^ seed.rotate_left(8) ^ ((i as u32 + 1) * 0x0101_0101);
            let data = plaintext(magic, *len);
            let path = dir.join(name);
            std::fs::write(&path, &data).with_context(|| format!("writing {}", path.display()))?;
            Ok(TestFile { name: (*name).to_string(), data, magic })
        })
        .collect()
}

/// Where some 16-byte window of a test file's plaintext appears in
/// `stored`: `(file name, offset in stored)`. Exact: every 16-byte window
/// of a file contains one whole aligned word, so each offset whose word
/// carries a file's magic is checked against the file's bytes around it.
pub fn find_plaintext(stored: &[u8], files: &[TestFile]) -> Option<(String, usize)> {
    let candidates: Vec<&TestFile> = files.iter().filter(|f| f.data.len() >= 16).collect();
    let magics: Vec<[u8; 4]> = candidates.iter().map(|f| f.magic.to_be_bytes()).collect();
    if stored.len() < 8 || candidates.is_empty() {
        return None;
    }
    for o in 0..=stored.len() - 8 {
        let high = &stored[o..o + 4];
        let Some(i) = magics.iter().position(|m| m == high) else { continue };
        let file = candidates[i];
        let index = u32::from_be_bytes([stored[o + 4], stored[o + 5], stored[o + 6], stored[o + 7]]);
        let p = index as usize * 8;
        // The aligned word at plaintext offset p sits at stored offset o;
        // a window [p - a, p - a + 16) holds it for a in 0..=8.
        for a in 0..=8usize {
            let (Some(ps), Some(ss)) = (p.checked_sub(a), o.checked_sub(a)) else { continue };
            if ps + 16 <= file.data.len() && ss + 16 <= stored.len() && stored[ss..ss + 16] == file.data[ps..ps + 16] {
                return Some((file.name.clone(), ss));
            }
        }
    }
    None
}

/// Reads every object of `bucket` straight from the upstream (`direct`
/// signs with the upstream's own credentials, not through the proxy) and
/// checks that each is ciphertext: its size is the format's
/// `ciphertext_len` of the test file its key ends with, and no 16-byte
/// window of any test file appears in it. Returns the number of objects.
pub async fn assert_ciphertext_at_rest(direct: &aws_sdk_s3::Client, bucket: &str, files: &[TestFile]) -> Result<usize> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = direct
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .with_context(|| format!("listing {bucket} on the upstream"))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    for key in &keys {
        let stored = direct
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("reading {bucket}/{key} from the upstream"))?
            .body
            .collect()
            .await
            .with_context(|| format!("reading {bucket}/{key} from the upstream"))?
            .into_bytes();
        let name = key.rsplit('/').next().unwrap_or(key);
        let file = files
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| anyhow!("{bucket}/{key} on the upstream is not one of the test files"))?;
        let want = s3seal::object::ciphertext_len(file.data.len() as u64, FRAME);
        ensure!(
            stored.len() as u64 == want,
            "{bucket}/{key}: {} bytes stored, the format gives {want} for {} plaintext bytes",
            stored.len(),
            file.data.len()
        );
        if let Some((which, at)) = find_plaintext(&stored, files) {
            bail!("{bucket}/{key} on the upstream holds plaintext of {which} at offset {at}");
        }
    }
    Ok(keys.len())
}

/// The bytes of a `bytes=` range of `data` as S3 answers it, or `None`
/// when the range is not satisfiable.
pub fn resolve_range<'a>(data: &'a [u8], range: &str) -> Option<&'a [u8]> {
    let spec = range.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let n = data.len();
    let (first, last) = if a.is_empty() {
        let suffix: usize = b.parse().ok()?;
        if suffix == 0 || n == 0 {
            return None;
        }
        (n.saturating_sub(suffix), n - 1)
    } else {
        let first: usize = a.parse().ok()?;
        let last = if b.is_empty() { n.checked_sub(1)? } else { b.parse::<usize>().ok()?.min(n.checked_sub(1)?) };
        (first, last)
    };
    (first < n && first <= last).then(|| &data[first..=last])
}

// ------------------------------------------------------------- upstreams

/// The store behind the proxy.
#[derive(Debug)]
pub enum Upstream {
    /// `s3s-fs` in this process (it verifies the proxy's signatures); the
    /// proxy uses a raw AES key.
    S3Fs(S3FsServer),
    /// moto (S3 + KMS); the proxy uses a KMS key made on it.
    Moto {
        /// The server.
        server: MotoServer,
        /// The ARN of the KMS key the proxy encrypts under.
        key_arn: String,
    },
}

impl Upstream {
    /// Starts an `s3s-fs` upstream (needs a Tokio runtime).
    pub fn s3fs() -> Result<Self> {
        Ok(Self::S3Fs(S3FsServer::start()?))
    }

    /// Starts moto and makes a KMS key on it.
    pub async fn moto() -> Result<Self> {
        let server = MotoServer::start()?;
        let key = server.kms_client().await.create_key().send().await.context("creating a KMS key on moto")?;
        let key_arn = key.key_metadata().and_then(|m| m.arn()).context("moto's CreateKey gave no ARN")?.to_string();
        Ok(Self::Moto { server, key_arn })
    }

    /// Starts the upstream named `s3fs` or `moto`.
    pub async fn start(name: &str) -> Result<Self> {
        match name {
            "s3fs" => Self::s3fs(),
            "moto" => Self::moto().await,
            other => bail!("unknown upstream {other}"),
        }
    }

    /// `s3fs` or `moto`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::S3Fs(_) => "s3fs",
            Self::Moto { .. } => "moto",
        }
    }

    /// The upstream's endpoint URL.
    pub fn endpoint(&self) -> String {
        match self {
            Self::S3Fs(s) => s.endpoint(),
            Self::Moto { server, .. } => server.endpoint(),
        }
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::S3Fs(s) => s.addr(),
            Self::Moto { server, .. } => SocketAddr::from((Ipv4Addr::LOCALHOST, server.port())),
        }
    }

    /// The credentials the proxy signs upstream requests with.
    pub fn credentials(&self) -> (&'static str, &'static str) {
        match self {
            Self::S3Fs(s) => (s.access_key(), s.secret_key()),
            Self::Moto { .. } => (crate::s3client::MOTO_ACCESS_KEY, crate::s3client::MOTO_SECRET_KEY),
        }
    }

    /// A client that reads the upstream directly (what is stored).
    pub fn direct_client(&self) -> aws_sdk_s3::Client {
        match self {
            Self::S3Fs(s) => s.client(),
            Self::Moto { server, .. } => crate::s3client::moto_s3_client(server),
        }
    }

    /// The proxy's key spec: `kms:ARN` on moto, else a raw AES key in
    /// `dir/proxy.key` (made once, so instances sharing `dir` share it).
    pub fn key_spec(&self, dir: &Path) -> Result<String> {
        match self {
            Self::Moto { key_arn, .. } => Ok(format!("kms:{key_arn}")),
            Self::S3Fs(_) => {
                let path = dir.join("proxy.key");
                if !path.exists() {
                    let mut key = [0u8; 32];
                    getrandom(&mut key)?;
                    std::fs::write(&path, key).with_context(|| format!("writing {}", path.display()))?;
                }
                Ok(format!("aes:s3seal-tests:proxy:{}", path.display()))
            }
        }
    }

    /// Environment variables the proxy needs to reach this upstream's KMS.
    fn kms_env(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::S3Fs(_) => vec![],
            Self::Moto { server, .. } => vec![
                ("AWS_ENDPOINT_URL_KMS", server.endpoint()),
                ("AWS_ACCESS_KEY_ID", crate::s3client::MOTO_ACCESS_KEY.into()),
                ("AWS_SECRET_ACCESS_KEY", crate::s3client::MOTO_SECRET_KEY.into()),
                ("AWS_REGION", REGION.into()),
            ],
        }
    }
}

/// Random bytes from the OS.
fn getrandom(buf: &mut [u8]) -> Result<()> {
    let mut f = std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?;
    f.read_exact(buf).context("reading /dev/urandom")
}

// --------------------------------------------------------------- TLS

/// A test CA and a server certificate it signed for `127.0.0.1` and
/// `localhost`, as PEM files.
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA certificate (what clients trust).
    pub ca_pem: PathBuf,
    /// The server's certificate.
    pub cert_pem: PathBuf,
    /// The server's private key.
    pub key_pem: PathBuf,
}

impl TestCa {
    /// Makes the CA and the server certificate in `dir`.
    pub fn create(dir: &Path) -> Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
            KeyUsagePurpose,
        };
        std::fs::create_dir_all(dir)?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "s3seal test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let leaf_key = KeyPair::generate()?;
        let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        leaf_params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
        let ca = Self { ca_pem: dir.join("ca.pem"), cert_pem: dir.join("cert.pem"), key_pem: dir.join("key.pem") };
        std::fs::write(&ca.ca_pem, ca_cert.pem())?;
        std::fs::write(&ca.cert_pem, leaf.pem())?;
        std::fs::write(&ca.key_pem, leaf_key.serialize_pem())?;
        Ok(ca)
    }
}

// ------------------------------------------------------------ processes

/// What a finished command left behind.
#[derive(Debug)]
pub struct Ran {
    /// The exit status.
    pub status: ExitStatus,
    /// Stdout (lossy).
    pub stdout: String,
    /// Stderr (lossy).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs `cmd` to completion (killed after `timeout`), its output going to
/// files in `dir` (never to pipes that could fill up).
pub fn run_with_timeout(cmd: &mut Command, dir: &Path, timeout: Duration) -> Result<Ran> {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!(".cmd-{n}.out"));
    let err_path = dir.join(format!(".cmd-{n}.err"));
    let out = std::fs::File::create(&out_path)?;
    let err = std::fs::File::create(&err_path)?;
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{cmd:?} did not finish within {timeout:?}:\n{}\n{}", lossy(&out_path), lossy(&err_path));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ran = Ran { status, stdout: lossy(&out_path), stderr: lossy(&err_path), elapsed: t0.elapsed() };
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    Ok(ran)
}

fn lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// An environment built from nothing: `PATH`, `LANG`, `TMPDIR` (if set)
/// and `HOME` (a directory of the test). Nothing else is inherited.
fn clean_env(cmd: &mut Command, home: &Path) {
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")));
    if let Some(t) = std::env::var_os("TMPDIR") {
        cmd.env("TMPDIR", t);
    }
    cmd.env("HOME", home).env("LANG", "C.UTF-8").env("LC_ALL", "C.UTF-8");
}

/// Names a prebuilt `s3seal` binary for every test process to share
/// (`tests/run` builds it once before the tests start); unset, each test
/// process builds its own.
pub const PROXY_BINARY_ENV: &str = "S3SEAL_TEST_BINARY";

/// The `s3seal` binary of this build: the one [`PROXY_BINARY_ENV`] names, or
/// `target/<profile>/s3seal`, built by `cargo build -p s3seal-cli` the first
/// time it is asked for in a test process, so that it is never older than
/// the sources.
pub fn proxy_binary() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os(PROXY_BINARY_ENV) {
        Some(path) if Path::new(&path).is_file() => Ok(PathBuf::from(path)),
        Some(path) => Err(format!("{PROXY_BINARY_ENV}={} is not a file", Path::new(&path).display())),
        None => build_proxy_binary().map_err(|e| format!("{e:#}")),
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

fn build_proxy_binary() -> Result<PathBuf> {
    // This test binary is target/<profile>/deps/NAME.
    let exe = std::env::current_exe().context("locating the test binary")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("the test binary is not in target/<profile>/deps")?;
    let bin = profile_dir.join("s3seal");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo_root()).args(["build", "--quiet", "-p", "s3seal-cli", "--bin", "s3seal"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target_dir) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target_dir);
    }
    let out = cmd.output().context("running cargo build -p s3seal-cli")?;
    ensure!(
        out.status.success(),
        "cargo build -p s3seal-cli failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(bin.is_file(), "cargo build -p s3seal-cli did not make {}", bin.display());
    Ok(bin)
}

/// Options of one proxy process.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// TLS on the client listener.
    pub tls: Option<TestCa>,
    /// The upstream endpoint to use instead of the upstream's own (e.g. a
    /// [`CountingRelay`] in front of it).
    pub upstream_endpoint: Option<String>,
    /// A name for its files (config, log) in the test directory.
    pub name: String,
    /// Extra top-level settings (TOML lines) for the config file.
    pub extra_config: String,
}

/// The real `s3seal proxy` as a child process; killed when dropped.
#[derive(Debug)]
pub struct ProxyProcess {
    child: Option<Child>,
    endpoint: String,
    addr: SocketAddr,
    config: PathBuf,
    log: PathBuf,
    home: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl ProxyProcess {
    /// Starts a proxy over `upstream`, its files in `dir`, and waits until
    /// it prints its endpoint. Clients sign with [`CLIENT_ACCESS_KEY`] /
    /// [`CLIENT_SECRET_KEY`].
    pub fn start(upstream: &Upstream, dir: &Path, options: &ProxyOptions) -> Result<Self> {
        let name = if options.name.is_empty() { "proxy" } else { options.name.as_str() };
        let home = dir.join(format!("{name}-home"));
        std::fs::create_dir_all(&home)?;
        let aws_config = home.join("aws-config");
        let aws_credentials = home.join("aws-credentials");
        std::fs::write(&aws_config, "")?;
        std::fs::write(&aws_credentials, "")?;
        let (ak, sk) = upstream.credentials();
        let mut toml = format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"off\"\nkeys = [{:?}]\nshutdown_timeout_secs = 10\n",
            upstream.key_spec(dir)?
        );
        toml += &options.extra_config;
        if !toml.ends_with('\n') {
            toml.push('\n');
        }
        if let Some(ca) = &options.tls {
            toml += &format!("[tls]\ncert = {:?}\nkey = {:?}\n", ca.cert_pem.display(), ca.key_pem.display());
        }
        let endpoint = options.upstream_endpoint.clone().unwrap_or_else(|| upstream.endpoint());
        toml += &format!(
            "[upstream]\nendpoint = {endpoint:?}\nregion = {REGION:?}\npath_style = true\naccess_key = {ak:?}\nsecret_key = {sk:?}\n"
        );
        toml += &format!("[[clients]]\naccess_key = {CLIENT_ACCESS_KEY:?}\nsecret_key = {CLIENT_SECRET_KEY:?}\n");
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, toml)?;
        let mut env = upstream.kms_env();
        env.push(("AWS_CONFIG_FILE", aws_config.display().to_string()));
        env.push(("AWS_SHARED_CREDENTIALS_FILE", aws_credentials.display().to_string()));
        env.push(("AWS_EC2_METADATA_DISABLED", "true".into()));
        let mut proxy = Self {
            child: None,
            endpoint: String::new(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            config,
            log: dir.join(format!("{name}.log")),
            home,
            env,
        };
        proxy.spawn(None)?;
        Ok(proxy)
    }

    fn spawn(&mut self, listen: Option<SocketAddr>) -> Result<()> {
        let bin = proxy_binary()?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut cmd = Command::new(&bin);
        clean_env(&mut cmd, &self.home);
        cmd.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd.arg("proxy").arg("--config").arg(&self.config);
        if let Some(addr) = listen {
            cmd.arg("--listen").arg(addr.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("the proxy's stdout")?;
        // Read the banner, then keep draining stdout in the background.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("encrypting S3 endpoint at ").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let deadline = Instant::now() + PROXY_START_TIMEOUT;
        let endpoint = loop {
            if let Ok(e) = rx.recv_timeout(Duration::from_millis(50)) {
                break e;
            }
            if let Some(status) = child.try_wait()? {
                bail!("s3seal proxy exited ({status}) before serving:\n{}", lossy(&self.log));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("s3seal proxy did not start within {PROXY_START_TIMEOUT:?}:\n{}", lossy(&self.log));
            }
        };
        let hostport = endpoint.split("://").nth(1).context("banner endpoint without a scheme")?;
        self.addr = hostport.parse().with_context(|| format!("banner endpoint {endpoint}"))?;
        self.endpoint = endpoint;
        self.child = Some(child);
        Ok(())
    }

    /// The endpoint clients use (`http://` or `https://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The client listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the proxy with SIGTERM (graceful shutdown) and waits for it;
    /// fails if it does not exit successfully within 30 s.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let kill = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
        ensure!(kill.success(), "kill -TERM {} failed", child.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                ensure!(status.success(), "s3seal proxy exited with {status} on SIGTERM:\n{}", self.log());
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("s3seal proxy did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the proxy and starts it again on the same address.
    pub fn restart(&mut self) -> Result<()> {
        let addr = self.addr;
        self.stop()?;
        self.spawn(Some(addr))?;
        ensure!(self.addr == addr, "the restarted proxy listens on {} instead of {addr}", self.addr);
        Ok(())
    }

    /// Everything the proxy logged so far.
    pub fn log(&self) -> String {
        lossy(&self.log)
    }

    /// An `aws-sdk-s3` client of the proxy (client credentials, path-style;
    /// plain http only: it does not trust a test CA).
    pub fn sdk_client(&self) -> aws_sdk_s3::Client {
        crate::s3client::s3_client(&self.endpoint, CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY)
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ----------------------------------------------------------------- tools

/// A command-line S3 tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// aws cli v1 from PyPI, `<repo>/.venv/bin/aws`.
    AwsV1,
    /// aws cli v2 from Debian, `/usr/bin/aws`.
    AwsV2,
    /// s3cmd from Debian, `/usr/bin/s3cmd`.
    S3cmd,
    /// rclone from Debian, `/usr/bin/rclone`.
    Rclone,
}

impl Tool {
    /// The executable.
    pub fn program(self) -> Result<PathBuf> {
        let path = match self {
            Tool::AwsV1 => repo_root().join(".venv/bin/aws"),
            Tool::AwsV2 => PathBuf::from("/usr/bin/aws"),
            Tool::S3cmd => PathBuf::from("/usr/bin/s3cmd"),
            Tool::Rclone => PathBuf::from("/usr/bin/rclone"),
        };
        let hint = match self {
            Tool::AwsV1 => "run tests/setup-python.sh",
            Tool::AwsV2 => "apt-get install awscli (tests/run does it as root)",
            Tool::S3cmd => "apt-get install s3cmd (tests/run does it as root)",
            Tool::Rclone => "apt-get install rclone (tests/run does it as root)",
        };
        ensure!(path.is_file(), "{self:?}: {} not found: {hint}", path.display());
        Ok(path)
    }

    fn is_aws(self) -> bool {
        matches!(self, Tool::AwsV1 | Tool::AwsV2)
    }
}

/// The tools' configuration for one proxy endpoint, in a directory of the
/// test.
#[derive(Debug)]
pub struct Clients {
    dir: PathBuf,
    endpoint: String,
    ca: Option<PathBuf>,
}

impl Clients {
    /// Writes every tool's configuration for `endpoint` (the proxy) into
    /// `dir`; with `ca`, the tools trust it (and only it) for https.
    pub fn new(dir: &Path, endpoint: &str, ca: Option<&Path>) -> Result<Self> {
        std::fs::create_dir_all(dir.join("home"))?;
        std::fs::write(dir.join("aws-config"), format!("[default]\nregion = {REGION}\n"))?;
        std::fs::write(
            dir.join("aws-credentials"),
            format!(
                "[default]\naws_access_key_id = {CLIENT_ACCESS_KEY}\naws_secret_access_key = {CLIENT_SECRET_KEY}\n"
            ),
        )?;
        let (scheme, hostport) = endpoint.split_once("://").context("endpoint without a scheme")?;
        let https = scheme == "https";
        let mut s3cfg = format!(
            "[default]\naccess_key = {CLIENT_ACCESS_KEY}\nsecret_key = {CLIENT_SECRET_KEY}\nhost_base = {hostport}\n\
             host_bucket = {hostport}\nbucket_location = {REGION}\nuse_https = {}\nsignature_v2 = False\n\
             check_ssl_certificate = True\n",
            if https { "True" } else { "False" }
        );
        if let Some(ca) = ca {
            s3cfg += &format!("ca_certs_file = {}\n", ca.display());
        }
        std::fs::write(dir.join("s3cfg"), s3cfg)?;
        std::fs::write(
            dir.join("rclone.conf"),
            format!(
                "[proxy]\ntype = s3\nprovider = Other\naccess_key_id = {CLIENT_ACCESS_KEY}\n\
                 secret_access_key = {CLIENT_SECRET_KEY}\nendpoint = {endpoint}\nregion = {REGION}\n\
                 force_path_style = true\n"
            ),
        )?;
        Ok(Self { dir: dir.to_path_buf(), endpoint: endpoint.to_string(), ca: ca.map(Path::to_path_buf) })
    }

    /// A command for `tool` with its configuration and a clean environment.
    pub fn command(&self, tool: Tool) -> Result<Command> {
        let mut cmd = Command::new(tool.program()?);
        clean_env(&mut cmd, &self.dir.join("home"));
        match tool {
            Tool::AwsV1 | Tool::AwsV2 => {
                cmd.env("AWS_CONFIG_FILE", self.dir.join("aws-config"))
                    .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("aws-credentials"))
                    .env("AWS_ACCESS_KEY_ID", CLIENT_ACCESS_KEY)
                    .env("AWS_SECRET_ACCESS_KEY", CLIENT_SECRET_KEY)
                    .env("AWS_DEFAULT_REGION", REGION)
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .env("AWS_PAGER", "")
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                if let Some(ca) = &self.ca {
                    cmd.env("AWS_CA_BUNDLE", ca);
                }
                cmd.arg("--endpoint-url").arg(&self.endpoint);
            }
            Tool::S3cmd => {
                cmd.arg("-c").arg(self.dir.join("s3cfg")).arg("--no-progress");
            }
            Tool::Rclone => {
                cmd.env("RCLONE_CONFIG", self.dir.join("rclone.conf"));
                if let Some(ca) = &self.ca {
                    cmd.arg("--ca-cert").arg(ca);
                }
                // 20 MiB goes multipart in 5 MiB parts (the default cut-off is 200 MiB).
                cmd.args([
                    "--s3-upload-cutoff",
                    "5M",
                    "--s3-chunk-size",
                    "5M",
                    "--retries",
                    "1",
                    "--low-level-retries",
                    "3",
                ]);
            }
        }
        Ok(cmd)
    }

    /// A command running `tests/python/SCRIPT` with the venv's Python
    /// (boto3), the same clean environment and AWS files as the aws cli
    /// (credentials and region only: default checksum settings), and, with
    /// a CA, `AWS_CA_BUNDLE` set to it.
    pub fn python(&self, script: &str) -> Result<Command> {
        let mut cmd = Command::new(crate::python::venv_python()?);
        clean_env(&mut cmd, &self.dir.join("home"));
        cmd.arg(crate::python::script_path(script)?)
            .env("AWS_CONFIG_FILE", self.dir.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1");
        if let Some(ca) = &self.ca {
            cmd.env("AWS_CA_BUNDLE", ca);
        }
        Ok(cmd)
    }

    /// The directory holding the tools' configuration (and their HOME).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs a prepared command (see [`Clients::python`]) in this
    /// directory; fails on a non-zero exit with its output.
    pub fn run_command(&self, cmd: &mut Command) -> Result<Ran> {
        let ran = run_with_timeout(cmd, &self.dir, TOOL_TIMEOUT)?;
        ensure!(
            ran.status.success(),
            "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            ran.status,
            ran.stdout.trim_end(),
            ran.stderr.trim_end()
        );
        Ok(ran)
    }

    /// Runs `tool` with `args`; fails on a non-zero exit with its output.
    pub fn run(&self, tool: Tool, args: &[&str]) -> Result<Ran> {
        let mut cmd = self.command(tool)?;
        cmd.args(args);
        let ran = run_with_timeout(&mut cmd, &self.dir, TOOL_TIMEOUT)?;
        ensure!(
            ran.status.success(),
            "{tool:?} {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            ran.status,
            ran.stdout.trim_end(),
            ran.stderr.trim_end()
        );
        Ok(ran)
    }

    /// Creates `bucket`.
    pub fn make_bucket(&self, tool: Tool, bucket: &str) -> Result<()> {
        let url = format!("s3://{bucket}");
        match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "mb", &url]),
            Tool::S3cmd => self.run(tool, &["mb", &url]),
            Tool::Rclone => self.run(tool, &["mkdir", &format!("proxy:{bucket}")]),
        }
        .map(drop)
    }

    /// Uploads `local` to `bucket`/`key`.
    pub fn upload(&self, tool: Tool, local: &Path, bucket: &str, key: &str) -> Result<Ran> {
        let local = local.to_str().context("non-UTF-8 path")?;
        let url = format!("s3://{bucket}/{key}");
        match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "cp", "--no-progress", local, &url]),
            Tool::S3cmd => self.run(tool, &["put", local, &url]),
            Tool::Rclone => self.run(tool, &["copyto", local, &format!("proxy:{bucket}/{key}")]),
        }
    }

    /// Downloads `bucket`/`key` to `local`.
    pub fn download(&self, tool: Tool, bucket: &str, key: &str, local: &Path) -> Result<Ran> {
        let local = local.to_str().context("non-UTF-8 path")?;
        let url = format!("s3://{bucket}/{key}");
        match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "cp", "--no-progress", &url, local]),
            Tool::S3cmd => self.run(tool, &["get", "--force", &url, local]),
            Tool::Rclone => self.run(tool, &["copyto", &format!("proxy:{bucket}/{key}"), local]),
        }
    }

    /// What the tool's listing of `bucket` shows: object name and size.
    pub fn list(&self, tool: Tool, bucket: &str) -> Result<Vec<(String, u64)>> {
        let url = format!("s3://{bucket}/");
        let ran = match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "ls", &url])?,
            Tool::S3cmd => self.run(tool, &["ls", &url])?,
            Tool::Rclone => self.run(tool, &["ls", &format!("proxy:{bucket}")])?,
        };
        let mut out = Vec::new();
        for line in ran.stdout.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // aws: DATE TIME SIZE NAME; s3cmd: DATE TIME SIZE s3://B/NAME; rclone: SIZE NAME
            let (size, name) = match tool {
                Tool::AwsV1 | Tool::AwsV2 | Tool::S3cmd if f.len() == 4 => (f[2], f[3]),
                Tool::Rclone if f.len() == 2 => (f[0], f[1]),
                _ => bail!("{tool:?}: unexpected listing line {line:?}"),
            };
            let name = name.rsplit('/').next().unwrap_or(name).to_string();
            out.push((name, size.parse().with_context(|| format!("{tool:?}: size in {line:?}"))?));
        }
        out.sort();
        Ok(out)
    }

    /// Syncs the local directory `dir` to the root of `bucket`; returns the
    /// number of files the tool said it transferred.
    pub fn sync_up(&self, tool: Tool, dir: &Path, bucket: &str) -> Result<usize> {
        let local = format!("{}/", dir.to_str().context("non-UTF-8 path")?);
        self.sync(tool, &local, &format!("s3://{bucket}/"), &format!("proxy:{bucket}"))
    }

    /// Syncs the root of `bucket` to the local directory `dir`; returns the
    /// number of files the tool said it transferred.
    pub fn sync_down(&self, tool: Tool, bucket: &str, dir: &Path) -> Result<usize> {
        let local = format!("{}/", dir.to_str().context("non-UTF-8 path")?);
        std::fs::create_dir_all(dir)?;
        let remote = format!("s3://{bucket}/");
        match tool {
            Tool::Rclone => self.sync(tool, &format!("proxy:{bucket}"), &local, ""),
            _ => self.sync(tool, &remote, &local, ""),
        }
    }

    fn sync(&self, tool: Tool, from: &str, to: &str, rclone_to: &str) -> Result<usize> {
        let ran = match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "sync", "--no-progress", from, to])?,
            Tool::S3cmd => self.run(tool, &["sync", from, to])?,
            Tool::Rclone => {
                let to = if rclone_to.is_empty() { to } else { rclone_to };
                self.run(tool, &["sync", "-v", from, to])?
            }
        };
        let text = format!("{}\n{}", ran.stdout, ran.stderr);
        let transfers = text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                if tool.is_aws() || tool == Tool::S3cmd {
                    l.starts_with("upload:") || l.starts_with("download:") || l.starts_with("copy:")
                } else {
                    l.contains(": Copied (") || l.contains("Updated modification time")
                }
            })
            .count();
        Ok(transfers)
    }
}

// ------------------------------------------------------------- raw HTTP

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body (chunked transfer coding removed).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The S3 error code in the body, if any.
    pub fn error_code(&self) -> Option<String> {
        let t = self.text();
        let a = t.find("<Code>")? + 6;
        let b = t[a..].find("</Code>")? + a;
        Some(t[a..b].to_string())
    }
}

/// Sends `request` (a complete HTTP/1.1 request; it should say
/// `Connection: close`) to `addr` and reads the response.
pub fn raw_http(addr: SocketAddr, request: &[u8]) -> Result<RawResponse> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(60)))?;
    // The server may answer (and close) before reading the whole body.
    let _ = s.write_all(request);
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes);
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP response head from {addr}: {:?}", String::from_utf8_lossy(&bytes)))?;
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).context("status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    Ok(RawResponse { status, headers, body })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let Ok(n) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16) else { break };
        if n == 0 || b.len() < eol + 2 + n {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 4 + n).min(b.len())..];
    }
    out
}

// -------------------------------------------------------------- SigV4

/// A minimal AWS Signature Version 4 signer (header auth, signed chunks,
/// POST policies) for requests that SDKs will not make.
pub mod sigv4 {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    /// The hex SHA-256 of `data`.
    pub fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// `(YYYYMMDDTHHMMSSZ, YYYYMMDD)` for `t`.
    pub fn amz_date(t: std::time::SystemTime) -> (String, String) {
        let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let dt = aws_sdk_s3::primitives::DateTime::from_secs(secs as i64);
        let text = dt.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).unwrap_or_default();
        let compact: String = text.chars().filter(|c| *c != '-' && *c != ':').collect();
        let day = compact[..8].to_string();
        (compact, day)
    }

    /// One signer: credentials, time and scope.
    #[derive(Debug, Clone)]
    pub struct Signer {
        /// The access key id.
        pub access_key: String,
        key: [u8; 32],
        /// `YYYYMMDDTHHMMSSZ`.
        pub date_time: String,
        /// `YYYYMMDD/REGION/s3/aws4_request`.
        pub scope: String,
    }

    impl Signer {
        /// A signer for S3 in `region` at time `t`.
        pub fn new(access_key: &str, secret_key: &str, region: &str, t: std::time::SystemTime) -> Self {
            let (date_time, day) = amz_date(t);
            let k = hmac(format!("AWS4{secret_key}").as_bytes(), day.as_bytes());
            let k = hmac(&k, region.as_bytes());
            let k = hmac(&k, b"s3");
            let key = hmac(&k, b"aws4_request");
            Self {
                access_key: access_key.to_string(),
                key,
                date_time,
                scope: format!("{day}/{region}/s3/aws4_request"),
            }
        }

        /// The credential value, `AK/SCOPE`.
        pub fn credential(&self) -> String {
            format!("{}/{}", self.access_key, self.scope)
        }

        /// Signs `text` with the signing key; hex.
        pub fn sign(&self, text: &str) -> String {
            hex::encode(hmac(&self.key, text.as_bytes()))
        }

        /// Signs a request: `headers` must hold every header to sign
        /// (names lower case, including `host` and `x-amz-date`);
        /// `query` is the canonical query string. Returns the
        /// `Authorization` value and the signature.
        pub fn authorization(
            &self,
            method: &str,
            path: &str,
            query: &str,
            headers: &[(String, String)],
            payload_hash: &str,
        ) -> (String, String) {
            let mut h: Vec<(String, String)> =
                headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
            h.sort();
            let canonical_headers: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
            let signed: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
            let signed = signed.join(";");
            let canonical = format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{payload_hash}");
            let to_sign =
                format!("AWS4-HMAC-SHA256\n{}\n{}\n{}", self.date_time, self.scope, sha256_hex(canonical.as_bytes()));
            let signature = self.sign(&to_sign);
            (
                format!(
                    "AWS4-HMAC-SHA256 Credential={}, SignedHeaders={signed}, Signature={signature}",
                    self.credential()
                ),
                signature,
            )
        }

        /// The signature of one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`
        /// body, chained on `previous`.
        pub fn chunk_signature(&self, previous: &str, chunk: &[u8]) -> String {
            let to_sign = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{}\n{}",
                self.date_time,
                self.scope,
                sha256_hex(b""),
                sha256_hex(chunk)
            );
            self.sign(&to_sign)
        }
    }

    /// A `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` PUT of `data` in `chunk`-byte
    /// chunks to `path` on `host`, signed by `signer`. `tamper` is called
    /// with the encoded body after signing (to corrupt it).
    pub fn signed_chunked_put(
        signer: &Signer,
        host: &str,
        path: &str,
        data: &[u8],
        chunk: usize,
        tamper: impl FnOnce(&mut Vec<u8>),
    ) -> Vec<u8> {
        const STREAMING: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
        // The encoded length, computed before signing (it is a signed header).
        let mut sizes: Vec<usize> = data.chunks(chunk).map(<[u8]>::len).collect();
        sizes.push(0);
        let encoded_len: usize = sizes.iter().map(|n| format!("{n:x};chunk-signature=").len() + 64 + 2 + n + 2).sum();
        let headers = vec![
            ("host".to_string(), host.to_string()),
            ("x-amz-date".to_string(), signer.date_time.clone()),
            ("x-amz-content-sha256".to_string(), STREAMING.to_string()),
            ("content-encoding".to_string(), "aws-chunked".to_string()),
            ("x-amz-decoded-content-length".to_string(), data.len().to_string()),
            ("content-length".to_string(), encoded_len.to_string()),
        ];
        let (authorization, seed) = signer.authorization("PUT", path, "", &headers, STREAMING);
        let mut body = Vec::with_capacity(encoded_len);
        let mut previous = seed;
        for c in data.chunks(chunk).chain(std::iter::once(&[][..])) {
            let sig = signer.chunk_signature(&previous, c);
            body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
            body.extend_from_slice(c);
            body.extend_from_slice(b"\r\n");
            previous = sig;
        }
        debug_assert_eq!(body.len(), encoded_len);
        tamper(&mut body);
        let mut req = format!("PUT {path} HTTP/1.1\r\n");
        for (k, v) in &headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += &format!("authorization: {authorization}\r\nconnection: close\r\n\r\n");
        let mut out = req.into_bytes();
        out.extend_from_slice(&body);
        out
    }

    /// A header-signed request with a fully hashed body.
    pub fn signed_request(
        signer: &Signer,
        method: &str,
        host: &str,
        path: &str,
        query: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<u8> {
        let payload_hash = sha256_hex(body);
        let mut headers = vec![
            ("host".to_string(), host.to_string()),
            ("x-amz-date".to_string(), signer.date_time.clone()),
            ("x-amz-content-sha256".to_string(), payload_hash.clone()),
            ("content-length".to_string(), body.len().to_string()),
        ];
        headers.extend(extra_headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())));
        let (authorization, _) = signer.authorization(method, path, query, &headers, &payload_hash);
        let target = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        let mut req = format!("{method} {target} HTTP/1.1\r\n");
        for (k, v) in &headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += &format!("authorization: {authorization}\r\nconnection: close\r\n\r\n");
        let mut out = req.into_bytes();
        out.extend_from_slice(body);
        out
    }
}

// ---------------------------------------------------------- counting relay

/// A TCP relay on a free 127.0.0.1 port in front of `target`, counting the
/// bytes its clients send (requests toward the upstream). Runs on the
/// current Tokio runtime; stopped when dropped.
#[derive(Debug)]
pub struct CountingRelay {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingRelay {
    /// Starts the relay.
    pub async fn start(target: SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let sent = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (sent2, requests2) = (sent.clone(), requests.clone());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((inbound, _)) = accepted else { continue };
                        let (sent, requests) = (sent2.clone(), requests2.clone());
                        conns.spawn(async move {
                            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { return };
                            relay(inbound, outbound, sent, requests).await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self { addr, sent, requests, task })
    }

    /// The relay's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes sent toward the target so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Request lines seen so far (the first line of each read that starts
    /// with an HTTP method; for failure messages).
    pub fn request_lines(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    sent: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut in_r, mut in_w) = inbound.into_split();
    let (mut out_r, mut out_w) = outbound.into_split();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match in_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            sent.fetch_add(n as u64, Ordering::SeqCst);
            let text = String::from_utf8_lossy(&buf[..n.min(200)]);
            if ["GET ", "PUT ", "POST ", "HEAD ", "DELETE "].iter().any(|m| text.starts_with(m))
                && let (Some(line), Ok(mut r)) = (text.lines().next(), requests.lock())
            {
                r.push(line.to_string());
            }
            if out_w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = out_w.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut out_r, &mut in_w).await;
        let _ = in_w.shutdown().await;
    };
    tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_plaintext_window_and_nothing_else() {
        let files = vec![TestFile { name: "a".into(), data: plaintext(0x1234_5678, 1000), magic: 0x1234_5678 }];
        for start in [0usize, 1, 7, 8, 9, 500, 984] {
            let mut stored = vec![0xAAu8; 37];
            stored.extend_from_slice(&files[0].data[start..start + 16]);
            stored.extend_from_slice(&[0x55; 11]);
            assert_eq!(find_plaintext(&stored, &files), Some(("a".to_string(), 37)), "window at {start}");
            // 15 bytes are not a window.
            let short = [&[0xEEu8; 3][..], &files[0].data[start..start + 15], &[0xEE; 3]].concat();
            assert_eq!(find_plaintext(&short, &files), None, "15 bytes at {start}");
        }
        let other = plaintext(0x1234_5679, 1000);
        assert_eq!(find_plaintext(&other, &files), None);
    }

    #[test]
    fn ranges_resolve_as_s3_does() {
        let d: Vec<u8> = (0..10).collect();
        assert_eq!(resolve_range(&d, "bytes=0-0"), Some(&d[..1]));
        assert_eq!(resolve_range(&d, "bytes=3-"), Some(&d[3..]));
        assert_eq!(resolve_range(&d, "bytes=-3"), Some(&d[7..]));
        assert_eq!(resolve_range(&d, "bytes=-30"), Some(&d[..]));
        assert_eq!(resolve_range(&d, "bytes=8-100"), Some(&d[8..]));
        assert_eq!(resolve_range(&d, "bytes=10-"), None);
        assert_eq!(resolve_range(&[], "bytes=-1"), None);
    }

    #[test]
    fn sigv4_matches_the_aws_example() {
        // The GET Object example of the S3 SigV4 documentation
        // (examplebucket, 20130524T000000Z, Range bytes=0-9).
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let signer =
            sigv4::Signer::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", t);
        assert_eq!(signer.date_time, "20130524T000000Z");
        let empty = sigv4::sha256_hex(b"");
        let headers = vec![
            ("host".to_string(), "examplebucket.s3.amazonaws.com".to_string()),
            ("range".to_string(), "bytes=0-9".to_string()),
            ("x-amz-content-sha256".to_string(), empty.clone()),
            ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
        ];
        let (_, sig) = signer.authorization("GET", "/test.txt", "", &headers, &empty);
        assert_eq!(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    }
}
