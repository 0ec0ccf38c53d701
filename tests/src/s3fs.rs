//! A real S3 server that verifies signatures, embedded in the test process.
//!
//! [`S3FsServer::start`] serves a fresh temporary directory with `s3s-fs`
//! (the `s3s` protocol layer over a file system) on a free 127.0.0.1 port.
//! Requests must be signed (SigV4: header, presigned or streaming chunked)
//! with [`ACCESS_KEY`] / [`SECRET_KEY`]; anything else is refused with 403.
//! The server runs as a task on the current Tokio runtime and stops when
//! the [`S3FsServer`] is dropped (its accept loop and every open connection
//! are aborted, then the directory is removed).
//!
//! Layout on disk, for tests that tamper with what is stored: the body of
//! object `key` in `bucket` is the plain file `root()/bucket/key`
//! ([`S3FsServer::object_path`]); metadata and the stored ETag/checksums
//! live in hidden `.bucket-*.object-*` JSON files beside the buckets.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "s3seal-test-access";

/// The secret key the server accepts.
pub const SECRET_KEY: &str = "s3seal-test-secret-key-0123456789abcdef";

/// An embedded `s3s-fs` server; stopped when dropped.
#[derive(Debug)]
pub struct S3FsServer {
    addr: SocketAddr,
    root: PathBuf,
    task: JoinHandle<()>,
    // Dropped after the task is aborted (fields drop in declaration order
    // after `Drop::drop`), so the directory outlives the server.
    _dir: tempfile::TempDir,
}

impl S3FsServer {
    /// Starts a server on a free 127.0.0.1 port over a fresh temporary
    /// directory. Must be called inside a Tokio runtime: the server is a
    /// task spawned on it (with `#[tokio::test]`'s single-threaded runtime
    /// it makes progress whenever the test awaits).
    pub fn start() -> Result<Self> {
        let handle =
            tokio::runtime::Handle::try_current().context("S3FsServer::start must be called inside a Tokio runtime")?;

        let dir = tempfile::Builder::new().prefix("s3s-fs-").tempdir().context("creating the s3s-fs root directory")?;
        let fs = s3s_fs::FileSystem::new(dir.path())
            .map_err(|e| anyhow::anyhow!("opening {} with s3s-fs: {e:?}", dir.path().display()))?;
        let root = dir.path().canonicalize().with_context(|| format!("resolving {}", dir.path().display()))?;

        let service = {
            let mut builder = S3ServiceBuilder::new(fs);
            builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            builder.build()
        };

        // Bind here (not in the task) so the port is ours before we return:
        // no race with anything else looking for a free port.
        let std_listener =
            StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port on 127.0.0.1")?;
        std_listener.set_nonblocking(true).context("making the listener non-blocking")?;
        let addr = std_listener.local_addr().context("reading the listener's address")?;
        let listener = {
            let _guard = handle.enter();
            TcpListener::from_std(std_listener).context("registering the listener with Tokio")?
        };

        let task = handle.spawn(serve(listener, service));
        Ok(Self { addr, root, task, _dir: dir })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL, `http://127.0.0.1:PORT` (use path-style requests).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The access key the server accepts ([`ACCESS_KEY`]).
    pub fn access_key(&self) -> &'static str {
        ACCESS_KEY
    }

    /// The secret key the server accepts ([`SECRET_KEY`]).
    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// The directory the server stores buckets and objects in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the body of `bucket`/`key` is stored (a plain file holding
    /// exactly the bytes a GET returns). Changing it changes what the server
    /// serves; the stored ETag and checksums are not recomputed.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    /// A client for this server with the right credentials (see
    /// [`crate::s3client::s3_client`]).
    pub fn client(&self) -> aws_sdk_s3::Client {
        crate::s3client::s3_client(&self.endpoint(), ACCESS_KEY, SECRET_KEY)
    }

    /// Creates `bucket` through the S3 API.
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        self.client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .with_context(|| format!("creating bucket {bucket} on s3s-fs"))?;
        Ok(())
    }

    /// Stops the server and waits until its task has ended, so the port is
    /// closed when this returns. Dropping the server stops it too, without
    /// waiting.
    pub async fn stop(mut self) -> Result<()> {
        self.task.abort();
        match (&mut self.task).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => bail!("the s3s-fs server task failed: {e}"),
        }
    }
}

impl Drop for S3FsServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every
        // connection task.
        self.task.abort();
    }
}

/// A running `s3s` service on a free 127.0.0.1 port; stopped when dropped.
#[derive(Debug)]
pub struct ServiceServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ServiceServer {
    /// Serves `service` (any `s3s` service: an S3 implementation with its
    /// auth) on a free 127.0.0.1 port, on the current Tokio runtime.
    pub fn start(service: S3Service) -> Result<Self> {
        let handle = tokio::runtime::Handle::try_current().context("ServiceServer::start needs a Tokio runtime")?;
        let std_listener =
            StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port on 127.0.0.1")?;
        std_listener.set_nonblocking(true).context("making the listener non-blocking")?;
        let addr = std_listener.local_addr().context("reading the listener's address")?;
        let listener = {
            let _guard = handle.enter();
            TcpListener::from_std(std_listener).context("registering the listener with Tokio")?
        };
        Ok(Self { addr, task: handle.spawn(serve(listener, service)) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ServiceServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections until the task is aborted; each connection is served
/// (HTTP/1.1 or HTTP/2) on a task of `connections`, so that aborting this
/// task ends them all.
async fn serve(listener: TcpListener, service: S3Service) {
    let http = ConnBuilder::new(TokioExecutor::new());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _peer)) = accepted else {
                    // Transient (e.g. too many open files): keep serving.
                    tokio::task::yield_now().await;
                    continue;
                };
                // Small responses must not wait for the ACK of the headers.
                let _ = socket.set_nodelay(true);
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                connections.spawn(async move {
                    // A client hanging up mid-request is not our failure.
                    let _ = conn.await;
                });
            }
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
