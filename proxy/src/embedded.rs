//! The embedded default: with no upstream configured, the proxy stores
//! ciphertext in a local directory through an in-process S3 server (the
//! [embedded store](crate::store)),
//! so that `s3seal proxy` alone is a working encrypted S3 endpoint.
//!
//! Layout of the data directory (created with mode 0700):
//!
//! | path | what |
//! | --- | --- |
//! | `objects/` | the embedded store's root: one directory per bucket, ciphertext only |
//! | `proxy.key` | the generated AES-256 wrapping key (base64, mode 0600), unless keys are configured |
//! | `client-credentials.toml` | the generated client credentials (mode 0600), unless configured |
//!
//! Both generated files are made once and reused on every later start; the
//! credentials file is a valid fragment of a proxy configuration file. The
//! store's server listens on a random 127.0.0.1 port and accepts only
//! random credentials that live in memory for one run. How keys map to
//! files: [`crate::store`].

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3seal::keyspec::KeySpec;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use zeroize::Zeroizing;

use crate::config::{ClientCredential, PartialSettings, Secret};
use crate::error::{Error, Result};

/// The embedded store's root inside the data directory.
pub const OBJECTS_DIR: &str = "objects";
/// The generated key file inside the data directory.
pub const KEY_FILE: &str = "proxy.key";
/// The generated client credentials inside the data directory.
pub const CREDENTIALS_FILE: &str = "client-credentials.toml";
/// The key namespace of the generated key (`aes:s3seal:proxy:PATH`).
pub const KEY_NAMESPACE: &str = "s3seal";
/// The key name of the generated key.
pub const KEY_NAME: &str = "proxy";

/// A running in-process embedded store server; stopped by [`Embedded::stop`] or
/// when dropped.
#[derive(Debug)]
pub struct Embedded {
    addr: SocketAddr,
    root: PathBuf,
    access_key: String,
    secret_key: Secret,
    task: JoinHandle<()>,
}

impl Embedded {
    /// Starts the embedded store over `data_dir/objects` on a free 127.0.0.1 port,
    /// accepting only fresh random credentials.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        create_private_dir(data_dir)?;
        let objects = data_dir.join(OBJECTS_DIR);
        create_private_dir(&objects)?;
        let root = objects.canonicalize().map_err(|e| Error::io(format!("cannot resolve {}", objects.display()), e))?;
        let store = crate::store::EmbeddedStore::open(&root)
            .map_err(|e| Error::io(format!("cannot open the embedded store in {}", root.display()), e))?;
        let access_key = random_access_key()?;
        let secret_key = random_secret_key()?;
        let service = {
            let mut b = S3ServiceBuilder::new(store);
            b.set_auth(s3s::auth::SimpleAuth::from_single(access_key.as_str(), secret_key.expose()));
            b.build()
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| Error::io("cannot bind the embedded upstream on 127.0.0.1", e))?;
        let addr = listener.local_addr().map_err(|e| Error::io("cannot read the embedded upstream's address", e))?;
        let task = tokio::spawn(serve(listener, service));
        tracing::info!(%addr, root = %root.display(), "embedded store upstream started");
        Ok(Self { addr, root, access_key, secret_key, task })
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`, path-style).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's address (127.0.0.1 and its port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The credentials the server accepts (random, for this run only): for
    /// clients other than [`Embedded::client`], such as a proxy in another
    /// process in the end-to-end tests.
    pub fn credentials(&self) -> (&str, &str) {
        (&self.access_key, self.secret_key.expose())
    }

    /// The directory objects are stored in (ciphertext).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An `aws-sdk-s3` client for this server (the proxy's upstream client).
    pub fn client(&self) -> aws_sdk_s3::Client {
        let credentials = aws_sdk_s3::config::Credentials::new(
            self.access_key.clone(),
            self.secret_key.expose().to_string(),
            None,
            None,
            "s3seal-proxy-embedded",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(crate::config::DEFAULT_REGION))
            .credentials_provider(credentials)
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Stops the server and waits for its task to end.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections until aborted; aborting drops the set, which aborts
/// every connection.
async fn serve(listener: TcpListener, service: S3Service) {
    let http = ConnBuilder::new(TokioExecutor::new());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    // Small responses must not wait for the ACK of the
                    // headers (Nagle against delayed ACKs: up to 40 ms).
                    let _ = socket.set_nodelay(true);
                    let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                    connections.spawn(async move {
                        let _ = conn.await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "embedded upstream: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Creates `dir` (and parents) with mode 0700 if missing.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| Error::io(format!("cannot create directory {}", dir.display()), e))
}

/// Writes `contents` to a new file `path` with mode 0600 (never over an
/// existing file); removes it again if writing fails.
fn write_new_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
    if let Err(e) = file.write_all(contents).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(Error::io(format!("cannot write {}", path.display()), e));
    }
    Ok(())
}

fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut b = Zeroizing::new([0u8; N]);
    s3seal::hazmat::random::fill(b.as_mut()).map_err(|e| Error::Embedded(format!("no random bytes: {e}")))?;
    Ok(b)
}

/// `S3SEAL` and 14 random characters of `A-Z2-7` (20 like AWS access keys).
fn random_access_key() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = random_bytes::<14>()?;
    Ok(std::iter::once("S3SEAL".to_string())
        .chain(bytes.iter().map(|b| char::from(ALPHABET[usize::from(b % 32)]).to_string()))
        .collect())
}

/// 40 characters of URL-safe base64 (240 random bits).
fn random_secret_key() -> Result<Secret> {
    let bytes = random_bytes::<30>()?;
    Ok(Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

/// The key spec of the generated key in `data_dir`, generating the key file
/// first if there is none (a random AES-256 key, base64 text, mode 0600, as
/// `s3seal keygen aes` writes). Returns whether it was generated now.
pub fn ensure_key(data_dir: &Path) -> Result<(KeySpec, bool)> {
    create_private_dir(data_dir)?;
    let path = data_dir.join(KEY_FILE);
    let generated = if path.exists() {
        false
    } else {
        let key = s3seal::materials::DataKey::generate(32)
            .map_err(|e| Error::Embedded(format!("cannot generate a key: {e}")))?;
        let mut text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.as_bytes()));
        text.push('\n');
        write_new_private(&path, text.as_bytes())?;
        tracing::info!(path = %path.display(), "generated a new AES-256 wrapping key");
        true
    };
    let abs = path.canonicalize().map_err(|e| Error::io(format!("cannot resolve {}", path.display()), e))?;
    let spec = KeySpec::Aes { namespace: KEY_NAMESPACE.into(), name: KEY_NAME.into(), path: abs };
    Ok((spec, generated))
}

/// The client credentials stored in `data_dir`, generating one random pair
/// first if there are none. Returns whether they were generated now.
pub fn ensure_client_credentials(data_dir: &Path) -> Result<(Vec<ClientCredential>, bool)> {
    create_private_dir(data_dir)?;
    let path = data_dir.join(CREDENTIALS_FILE);
    if path.exists() {
        let stored = PartialSettings::from_file(&path)?;
        match stored.clients {
            Some(c) if !c.is_empty() => return Ok((c, false)),
            _ => {
                return Err(Error::Config(format!(
                    "{} holds no [[clients]] entry; remove it to generate new credentials",
                    path.display()
                )));
            }
        }
    }
    let credential = ClientCredential { access_key: random_access_key()?, secret_key: random_secret_key()? };
    let text = Zeroizing::new(format!(
        "# Generated by s3seal proxy: the credentials S3 clients sign with.\n\
         # This file is a valid fragment of a proxy configuration file.\n\
         [[clients]]\naccess_key = \"{}\"\nsecret_key = \"{}\"\n",
        credential.access_key,
        credential.secret_key.expose()
    ));
    write_new_private(&path, text.as_bytes())?;
    tracing::info!(path = %path.display(), access_key = %credential.access_key, "generated client credentials");
    Ok((vec![credential], true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (spec, generated) = ensure_key(dir.path()).unwrap();
        assert!(generated);
        let (again, generated) = ensure_key(dir.path()).unwrap();
        assert!(!generated);
        assert_eq!(spec, again);
        assert!(spec.keyring(None).is_ok(), "the generated key file is usable");

        let (c, generated) = ensure_client_credentials(dir.path()).unwrap();
        assert!(generated);
        assert_eq!(c[0].access_key.len(), 20);
        assert_eq!(c[0].secret_key.expose().len(), 40);
        let (c2, generated) = ensure_client_credentials(dir.path()).unwrap();
        assert!(!generated);
        assert_eq!(c, c2);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [KEY_FILE, CREDENTIALS_FILE] {
                let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
    }
}
