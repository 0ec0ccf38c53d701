//! A real moto server (S3 + KMS) for end-to-end tests.
//!
//! [`MotoServer::start`] runs `<repo>/.venv/bin/moto_server` (made by
//! `tests/setup-python.sh`) on a free 127.0.0.1 port, waits until it answers
//! HTTP, and kills it when dropped. Its output goes to a temporary log file
//! ([`MotoServer::log`]), never to a pipe that could fill up.
//!
//! Clients are configured explicitly (static test credentials, region
//! `us-east-1`, the server's endpoint), so nothing depends on the
//! developer's environment: `AWS_PROFILE`, `AWS_CA_BUNDLE`, `~/.aws` and the
//! other `AWS_*` variables are ignored, by the clients and by moto itself.
//! moto's KMS account id is [`MOTO_ACCOUNT`].

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::config::{Credentials, SharedCredentialsProvider};

/// The account id moto gives every resource.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// The region the test clients use.
pub const REGION: &str = "us-east-1";

/// How long [`MotoServer::start`] waits for the server to answer.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A running moto server; killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (and, unless
/// something takes it, is closed: connecting to it is refused).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// An AWS SDK configuration for `endpoint` with static test credentials and
/// region `us-east-1`, built explicitly so that nothing comes from the
/// environment. Use it for any service client (`aws_sdk_s3` callers may
/// want `force_path_style(true)` on top).
pub fn sdk_config_for(endpoint: &str) -> SdkConfig {
    let credentials = Credentials::new("testing", "testing", None, None, "s3seal-tests");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint)
        .build()
}

/// A KMS client for `endpoint` (see [`sdk_config_for`]).
pub fn kms_client_for(endpoint: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config_for(endpoint))
}

impl MotoServer {
    /// Starts moto on a free port and waits until it answers HTTP. Fails
    /// with a hint to run `tests/setup-python.sh` when moto is missing, and
    /// with moto's log when it does not come up.
    pub fn start() -> Result<Self> {
        let bin = crate::python::venv_bin("moto_server")?;
        let mut last = None;
        // A port found free can be taken before moto binds it: try again.
        for _ in 0..3 {
            let port = free_port()?;
            let log = tempfile::Builder::new()
                .prefix("moto-")
                .suffix(".log")
                .tempfile()
                .context("creating moto's log file")?;
            let stdout = log.reopen().context("opening moto's log file")?;
            let stderr = stdout.try_clone().context("opening moto's log file")?;
            let mut cmd = Command::new(&bin);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("PYTHONUNBUFFERED", "1");
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("AWS_") {
                    cmd.env_remove(key);
                }
            }
            let child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
            let mut server = MotoServer { child, port, log };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("moto did not start")))
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto_server exited ({status}) before answering on port {}:\n{}", self.port, self.log());
            }
            if http_answers(addr) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("moto_server did not answer on port {} within {:?}:\n{}", self.port, START_TIMEOUT, self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration for this server (see [`sdk_config_for`]).
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint())
    }

    /// A KMS client for this server.
    pub async fn kms_client(&self) -> aws_sdk_kms::Client {
        kms_client_for(&self.endpoint())
    }

    /// Everything moto wrote so far (lossy), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read(self.log.path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.path().display()))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when something on `addr` answers an HTTP request.
fn http_answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < head.len() {
        match s.read(&mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    head[..got].starts_with(b"HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn starts_answers_and_stops() -> Result<()> {
        let server = MotoServer::start()?;
        let kms = server.kms_client().await;
        let key = kms.create_key().send().await?;
        let arn = key.key_metadata().map(|m| m.arn().unwrap_or_default().to_string()).unwrap_or_default();
        assert!(arn.starts_with(&format!("arn:aws:kms:{REGION}:{MOTO_ACCOUNT}:key/")), "{arn}");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
        drop(server);
        assert!(!http_answers(addr), "moto still answers after drop");
        Ok(())
    }
}
