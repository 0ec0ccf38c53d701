//! The store behind the proxy: `s3s-fs` or the proxy's embedded store in
//! process, or moto.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::constants::REGION;
use crate::moto::MotoServer;
use crate::s3fs::S3FsServer;

/// The store behind the proxy.
#[derive(Debug)]
pub enum Upstream {
    /// `s3s-fs` in this process (it verifies the proxy's signatures); the
    /// proxy uses a raw AES key.
    S3Fs(S3FsServer),
    /// The embedded store of `s3seal proxy` (what `s3seal proxy` with no
    /// upstream serves), in this process over a temporary directory; the
    /// proxy uses a raw AES key.
    Embedded {
        /// The server.
        store: s3seal_proxy::embedded::Embedded,
        /// Its data directory.
        dir: tempfile::TempDir,
    },
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

    /// Starts the embedded store over a new temporary directory.
    pub async fn embedded() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("embedded-store-").tempdir().context("temp dir")?;
        let store = s3seal_proxy::embedded::Embedded::start(dir.path()).await.context("starting the embedded store")?;
        Ok(Self::Embedded { store, dir })
    }

    /// Starts moto and makes a KMS key on it.
    pub async fn moto() -> Result<Self> {
        let server = MotoServer::start()?;
        let key = server.kms_client().await.create_key().send().await.context("creating a KMS key on moto")?;
        let key_arn = key.key_metadata().and_then(|m| m.arn()).context("moto's CreateKey gave no ARN")?.to_string();
        Ok(Self::Moto { server, key_arn })
    }

    /// Starts moto and names a KMS key that does not exist on it (for
    /// tests of what a refused key looks like).
    pub fn moto_with_missing_key() -> Result<Self> {
        let server = MotoServer::start()?;
        let key_arn =
            format!("arn:aws:kms:{REGION}:{}:key/00000000-0000-4000-8000-000000000000", crate::moto::MOTO_ACCOUNT);
        Ok(Self::Moto { server, key_arn })
    }

    /// Starts the upstream named `s3fs`, `embedded` or `moto`.
    pub async fn start(name: &str) -> Result<Self> {
        match name {
            "s3fs" => Self::s3fs(),
            "embedded" => Self::embedded().await,
            "moto" => Self::moto().await,
            other => bail!("unknown upstream {other}"),
        }
    }

    /// `s3fs`, `embedded` or `moto`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::S3Fs(_) => "s3fs",
            Self::Embedded { .. } => "embedded",
            Self::Moto { .. } => "moto",
        }
    }

    /// The upstream's endpoint URL.
    pub fn endpoint(&self) -> String {
        match self {
            Self::S3Fs(s) => s.endpoint(),
            Self::Embedded { store, .. } => store.endpoint(),
            Self::Moto { server, .. } => server.endpoint(),
        }
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::S3Fs(s) => s.addr(),
            Self::Embedded { store, .. } => store.addr(),
            Self::Moto { server, .. } => SocketAddr::from((Ipv4Addr::LOCALHOST, server.port())),
        }
    }

    /// The credentials the proxy signs upstream requests with.
    pub fn credentials(&self) -> (&str, &str) {
        match self {
            Self::S3Fs(s) => (s.access_key(), s.secret_key()),
            Self::Embedded { store, .. } => store.credentials(),
            Self::Moto { .. } => (crate::s3client::MOTO_ACCESS_KEY, crate::s3client::MOTO_SECRET_KEY),
        }
    }

    /// A client that reads the upstream directly (what is stored).
    pub fn direct_client(&self) -> aws_sdk_s3::Client {
        match self {
            Self::S3Fs(s) => s.client(),
            Self::Embedded { store, .. } => store.client(),
            Self::Moto { server, .. } => crate::s3client::moto_s3_client(server),
        }
    }

    /// The proxy's key spec: `kms:ARN` on moto, else a raw AES key in
    /// `dir/proxy.key` (made once, so instances sharing `dir` share it).
    pub fn key_spec(&self, dir: &Path) -> Result<String> {
        match self {
            Self::Moto { key_arn, .. } => Ok(format!("kms:{key_arn}")),
            Self::S3Fs(_) | Self::Embedded { .. } => {
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
    pub(super) fn kms_env(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::S3Fs(_) | Self::Embedded { .. } => vec![],
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
