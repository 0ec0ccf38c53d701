//! The real `s3seal proxy` binary as a child process: the binary of this
//! build, its configuration file and environment, started on a free port,
//! stopped with SIGTERM and restarted on demand.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

use super::constants::{CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION};
use super::process::{clean_env, lossy};
use super::tls::TestCa;
use super::upstream::Upstream;
use crate::python::repo_root;

/// How long the proxy may take to print its banner.
const PROXY_START_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// [`CountingRelay`](super::CountingRelay) in front of it).
    pub upstream_endpoint: Option<String>,
    /// A name for its files (config, log) in the test directory.
    pub name: String,
    /// Extra top-level settings (TOML lines) for the config file.
    pub extra_config: String,
    /// Extra settings of the `[upstream]` table (TOML lines).
    pub upstream_config: String,
    /// Runs the proxy under `prlimit` with this open-file limit (soft and
    /// hard).
    pub open_files: Option<u64>,
    /// Extra environment variables, set after the upstream's (so they
    /// override them: e.g. `AWS_ENDPOINT_URL_KMS` through a relay).
    pub extra_env: Vec<(&'static str, String)>,
    /// Serves the admin endpoints (`/metrics`, `/health`) on a free
    /// 127.0.0.1 port (off by default); see [`ProxyProcess::metrics`].
    pub admin: bool,
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
    open_files: Option<u64>,
    admin: Option<SocketAddr>,
}

impl ProxyProcess {
    /// Starts a proxy over `upstream`, its files in `dir`, and waits until
    /// it prints its endpoint. Clients sign with [`CLIENT_ACCESS_KEY`] /
    /// [`CLIENT_SECRET_KEY`].
    pub fn start(upstream: &Upstream, dir: &Path, options: &ProxyOptions) -> Result<Self> {
        Self::start_over(Some(upstream), dir, options)
    }

    /// Starts a proxy in embedded mode (no upstream: its own `s3s-fs` over
    /// `dir/NAME-data`, a key generated there), as [`ProxyProcess::start`]
    /// otherwise.
    pub fn start_embedded(dir: &Path, options: &ProxyOptions) -> Result<Self> {
        Self::start_over(None, dir, options)
    }

    fn start_over(upstream: Option<&Upstream>, dir: &Path, options: &ProxyOptions) -> Result<Self> {
        let name = if options.name.is_empty() { "proxy" } else { options.name.as_str() };
        let home = dir.join(format!("{name}-home"));
        std::fs::create_dir_all(&home)?;
        let aws_config = home.join("aws-config");
        let aws_credentials = home.join("aws-credentials");
        std::fs::write(&aws_config, "")?;
        std::fs::write(&aws_credentials, "")?;
        let admin = match options.admin {
            true => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, crate::moto::free_port()?))),
            false => None,
        };
        let admin_listen = admin.map_or_else(|| "off".to_string(), |a| a.to_string());
        let mut toml =
            format!("listen = \"127.0.0.1:0\"\nadmin_listen = {admin_listen:?}\nshutdown_timeout_secs = 10\n");
        match upstream {
            Some(u) => toml += &format!("keys = [{:?}]\n", u.key_spec(dir)?),
            None => toml += &format!("data_dir = {:?}\n", dir.join(format!("{name}-data")).display()),
        }
        toml += &options.extra_config;
        if !toml.ends_with('\n') {
            toml.push('\n');
        }
        if let Some(ca) = &options.tls {
            toml += &format!("[tls]\ncert = {:?}\nkey = {:?}\n", ca.cert_pem.display(), ca.key_pem.display());
        }
        if let Some(upstream) = upstream {
            let (ak, sk) = upstream.credentials();
            let endpoint = options.upstream_endpoint.clone().unwrap_or_else(|| upstream.endpoint());
            toml += &format!(
                "[upstream]\nendpoint = {endpoint:?}\nregion = {REGION:?}\npath_style = true\naccess_key = {ak:?}\nsecret_key = {sk:?}\n{}\n",
                options.upstream_config
            );
        }
        toml += &format!("[[clients]]\naccess_key = {CLIENT_ACCESS_KEY:?}\nsecret_key = {CLIENT_SECRET_KEY:?}\n");
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, toml)?;
        let mut env = upstream.map(Upstream::kms_env).unwrap_or_default();
        env.push(("AWS_CONFIG_FILE", aws_config.display().to_string()));
        env.push(("AWS_SHARED_CREDENTIALS_FILE", aws_credentials.display().to_string()));
        env.push(("AWS_EC2_METADATA_DISABLED", "true".into()));
        env.extend(options.extra_env.iter().cloned());
        let mut proxy = Self {
            child: None,
            endpoint: String::new(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            config,
            log: dir.join(format!("{name}.log")),
            home,
            env,
            open_files: options.open_files,
            admin,
        };
        proxy.spawn(None)?;
        Ok(proxy)
    }

    fn spawn(&mut self, listen: Option<SocketAddr>) -> Result<()> {
        let bin = proxy_binary()?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut cmd = match self.open_files {
            None => Command::new(&bin),
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(&bin);
                c
            }
        };
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

    /// The proxy's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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

    /// The proxy's `/metrics` page (Prometheus text); needs
    /// [`ProxyOptions::admin`].
    pub fn metrics(&self) -> Result<String> {
        let addr = self.admin.context("the proxy was started without its admin endpoints")?;
        let r = super::raw_http(addr, b"GET /metrics HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")?;
        ensure!(r.status == 200, "GET /metrics answered {}", r.status);
        Ok(r.text())
    }

    /// The value of the counter `name` (a full series name, labels
    /// included) on `/metrics`, 0 when it is not shown.
    pub fn metric(&self, name: &str) -> Result<u64> {
        let page = self.metrics()?;
        Ok(page
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .next()
            .unwrap_or(0))
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
