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
use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
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
        Self::start_with_get_reads(None)
    }

    /// Like [`S3FsServer::start`], but GET bodies are streamed from the
    /// object's file in reads of `chunk` bytes ([`LargeGetReads`]) instead
    /// of s3s-fs's 4 KiB reads, which make s3s-fs itself the bottleneck of
    /// large downloads (every read is a round trip to Tokio's blocking
    /// pool). Everything else, signature checks included, is s3s-fs.
    pub fn start_with_large_get_reads(chunk: usize) -> Result<Self> {
        Self::start_with_get_reads(Some(chunk))
    }

    fn start_with_get_reads(chunk: Option<usize>) -> Result<Self> {
        let handle =
            tokio::runtime::Handle::try_current().context("S3FsServer::start must be called inside a Tokio runtime")?;

        let dir = tempfile::Builder::new().prefix("s3s-fs-").tempdir().context("creating the s3s-fs root directory")?;
        let fs = s3s_fs::FileSystem::new(dir.path())
            .map_err(|e| anyhow::anyhow!("opening {} with s3s-fs: {e:?}", dir.path().display()))?;
        let root = dir.path().canonicalize().with_context(|| format!("resolving {}", dir.path().display()))?;

        let service = {
            let mut builder = match chunk {
                None => S3ServiceBuilder::new(fs),
                Some(chunk) => S3ServiceBuilder::new(LargeGetReads { fs, root: root.clone(), chunk: chunk.max(1) }),
            };
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

/// s3s-fs with GET bodies read from disk in large chunks.
///
/// Every operation is s3s-fs's own. `GetObject` runs s3s-fs's
/// implementation (existence, range and conditional checks, headers,
/// ETag), then swaps its body, which reads the file 4 KiB at a time, for
/// the same bytes of the same file (`root/bucket/key`, from the start of
/// the returned `Content-Range`) read `chunk` bytes at a time.
pub struct LargeGetReads {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
    chunk: usize,
}

impl std::fmt::Debug for LargeGetReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LargeGetReads").field("root", &self.root).field("chunk", &self.chunk).finish()
    }
}

/// The first byte of a `Content-Range: bytes FIRST-LAST/TOTAL` value.
fn content_range_start(value: &str) -> Option<u64> {
    value.strip_prefix("bytes ")?.split('-').next()?.parse().ok()
}

macro_rules! large_get_reads_impl {
    ($($op:ident: $input:ident => $output:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for LargeGetReads {
            async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let path = self.root.join(&req.input.bucket).join(&req.input.key);
                let mut resp = self.fs.get_object(req).await?;
                let len = u64::try_from(resp.output.content_length.unwrap_or(0))
                    .map_err(|_| s3_error!(InternalError, "negative content length"))?;
                let start = match resp.output.content_range.as_deref() {
                    None => 0,
                    Some(r) => content_range_start(r).ok_or_else(|| s3_error!(InternalError, "bad content range"))?,
                };
                let mut file = tokio::fs::File::open(&path).await.map_err(|e| s3_error!(e, InternalError))?;
                file.seek(std::io::SeekFrom::Start(start)).await.map_err(|e| s3_error!(e, InternalError))?;
                let body = tokio_util::io::ReaderStream::with_capacity(file.take(len), self.chunk);
                resp.output.body = Some(StreamingBlob::wrap(body));
                Ok(resp)
            }

            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.fs.$op(req).await
                }
            )*
        }
    };
}

large_get_reads_impl! {
    create_bucket: CreateBucketInput => CreateBucketOutput;
    copy_object: CopyObjectInput => CopyObjectOutput;
    delete_bucket: DeleteBucketInput => DeleteBucketOutput;
    delete_object: DeleteObjectInput => DeleteObjectOutput;
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
    head_bucket: HeadBucketInput => HeadBucketOutput;
    head_object: HeadObjectInput => HeadObjectOutput;
    list_buckets: ListBucketsInput => ListBucketsOutput;
    list_objects: ListObjectsInput => ListObjectsOutput;
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
    put_object: PutObjectInput => PutObjectOutput;
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
    upload_part: UploadPartInput => UploadPartOutput;
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
    list_parts: ListPartsInput => ListPartsOutput;
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
}
