//! The proxy benchmark: `cargo bench -p s3seal-tests --bench proxy`.
//!
//! One run measures the real `s3seal proxy` binary, in its own process, in
//! front of a fast local upstream (an [`S3FsServer`] in this process, over a
//! temporary directory), against the same upstream used directly:
//!
//! 1. PUT and GET throughput (median over several runs of large objects,
//!    `aws-sdk-s3` with a body generated on the fly, GET bodies read,
//!    checked against the pattern and discarded), proxy / direct ratios
//!    (target ≥ 0.9), and the CPU time each party spent per GiB. The
//!    same transfers also go through a plain TCP relay in front of the
//!    upstream (threads named `relay`), which shows what one more hop costs
//!    on these cores when it does nothing but copy bytes;
//! 2. the latency the proxy adds to 4 KiB PUTs and GETs (p50 and p99 of
//!    sequential requests after a warm-up, so the data-key cache is warm;
//!    target: p50 ≤ 1 ms);
//! 3. the proxy's peak RSS (`VmHWM` in `/proc/PID/status` of a fresh proxy
//!    process) while one big object is streamed through it, PUT then GET
//!    (target < 64 MiB).
//!
//! The proxy binary: `S3SEAL_BENCH_PROXY_BIN` if set, else this build's
//! `target/release/s3seal`, (re)built first with `cargo build --release -p
//! s3seal-cli` (`S3SEAL_BENCH_NO_BUILD=1` skips that), else
//! `target/debug/s3seal` with a loud warning (debug numbers are
//! meaningless). It runs with a generated TOML config (upstream = the
//! s3s-fs endpoint and credentials, one client pair, a generated raw AES
//! key, admin off, 127.0.0.1 port 0) and an environment without `AWS_*`
//! variables (nothing but `PATH` and a temporary `HOME`).
//!
//! Settings (environment): `S3SEAL_BENCH_BIG_GIB` (default 5; 0 skips part
//! 3), `S3SEAL_BENCH_MIB` (object size of part 1, default 256),
//! `S3SEAL_BENCH_RUNS` (default 5), `S3SEAL_BENCH_LATENCY_N` (requests per
//! kind in part 2, default 500), `S3SEAL_BENCH_KEEP=1` (keep the proxy's
//! config and logs), `S3SEAL_BENCH_PROXY_LOG` (its `RUST_LOG`),
//! `S3SEAL_BENCH_UPSTREAM_READ_KIB` (see below; default 0).
//!
//! The upstream is s3s-fs. Its GET reads the file 4 KiB at a time, each
//! read a round trip to Tokio's blocking pool: about 9 CPU-seconds per GiB,
//! so on a 2-core machine the upstream is the bottleneck of every
//! download, direct or not, and the GET ratio measures how the processes
//! share the cores. `S3SEAL_BENCH_UPSTREAM_READ_KIB=1024` makes the
//! upstream serve GET bodies from the same file in 1 MiB reads
//! ([`S3FsServer::start_with_large_get_reads`]; everything else is still
//! s3s-fs, signature checks included), so that downloads are limited by
//! the client and the hop instead.
//!
//! CPU attribution: the upstream runs on its own Tokio runtime (threads
//! named `upstream`), the benchmark's client on another (`client`, plus the
//! main thread), so the per-thread counters in `/proc/self/task` split this
//! process's CPU time between them; the proxy's is read from
//! `/proc/PID/stat`. Counters tick at 10 ms: meaningful for big objects
//! only.

use std::convert::Infallible;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use s3seal_tests::s3client::s3_config;
use s3seal_tests::s3fs::S3FsServer;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const BUCKET: &str = "bench";
const CLIENT_ACCESS_KEY: &str = "S3SEALBENCHCLIENT";
const CLIENT_SECRET_KEY: &str = "s3seal-bench-client-secret-0123456789";
/// The generated body repeats this many random bytes.
const PATTERN_LEN: usize = 1 << 20;
/// Linux's `USER_HZ` (the unit of `/proc/*/stat` CPU times).
const CLOCK_TICKS: f64 = 100.0;
const SMALL: usize = 4096;
const WARMUP: usize = 50;

// ------------------------------------------------------------- settings

struct Settings {
    object_mib: u64,
    runs: usize,
    latency_n: usize,
    big_gib: f64,
    get_read_kib: usize,
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| anyhow!("{name}={v:?} is not a valid value")),
        _ => Ok(default),
    }
}

impl Settings {
    fn from_env() -> Result<Self> {
        let s = Self {
            object_mib: env_parse("S3SEAL_BENCH_MIB", 256)?,
            runs: env_parse("S3SEAL_BENCH_RUNS", 5)?,
            latency_n: env_parse("S3SEAL_BENCH_LATENCY_N", 500)?,
            big_gib: env_parse("S3SEAL_BENCH_BIG_GIB", 5.0)?,
            get_read_kib: env_parse("S3SEAL_BENCH_UPSTREAM_READ_KIB", 0)?,
        };
        ensure!(s.object_mib > 0 && s.runs > 0 && s.latency_n > 0, "sizes and counts must be positive");
        ensure!(s.big_gib >= 0.0, "S3SEAL_BENCH_BIG_GIB must not be negative");
        Ok(s)
    }
}

// ------------------------------------------------------ generated body

/// A request body of `remaining` bytes: `pattern` repeated, without
/// allocating (every frame is a slice of the pattern).
struct GenBody {
    pattern: Bytes,
    offset: usize,
    remaining: u64,
}

impl HttpBody for GenBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = ((self.pattern.len() - self.offset) as u64).min(self.remaining) as usize;
        let frame = self.pattern.slice(self.offset..self.offset + n);
        self.offset = (self.offset + n) % self.pattern.len();
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A retryable streamed body of `len` bytes of `pattern`.
fn generated_body(pattern: &Bytes, len: u64) -> ByteStream {
    let pattern = pattern.clone();
    ByteStream::new(SdkBody::retryable(move || {
        SdkBody::from_body_1_x(GenBody { pattern: pattern.clone(), offset: 0, remaining: len })
    }))
}

/// Checks a GET body against the pattern as it streams by.
struct PatternCheck<'a> {
    pattern: &'a [u8],
    pos: u64,
}

impl PatternCheck<'_> {
    fn feed(&mut self, mut chunk: &[u8]) -> bool {
        while !chunk.is_empty() {
            let at = (self.pos % self.pattern.len() as u64) as usize;
            let n = (self.pattern.len() - at).min(chunk.len());
            if chunk[..n] != self.pattern[at..at + n] {
                return false;
            }
            chunk = &chunk[n..];
            self.pos += n as u64;
        }
        true
    }
}

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).context("reading /dev/urandom")?;
    Ok(buf)
}

// ---------------------------------------------------------------- clients

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Direct,
    Proxy,
    /// A plain TCP relay in front of the upstream ([`Relay`]).
    Relay,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Proxy => "proxy",
            Mode::Relay => "relay",
        }
    }

    fn index(self) -> usize {
        match self {
            Mode::Direct => 0,
            Mode::Proxy => 1,
            Mode::Relay => 2,
        }
    }
}

/// An `aws-sdk-s3` client (default checksums: CRC32 trailers on PUT), with
/// retries off so that a failure is never hidden in a timing.
fn client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        s3_config(endpoint, access_key, secret_key).retry_config(RetryConfig::disabled()).build(),
    )
}

struct Clients {
    direct: aws_sdk_s3::Client,
    proxy: aws_sdk_s3::Client,
    /// The upstream's credentials, through the relay.
    relay: aws_sdk_s3::Client,
}

impl Clients {
    fn get(&self, mode: Mode) -> &aws_sdk_s3::Client {
        match mode {
            Mode::Direct => &self.direct,
            Mode::Proxy => &self.proxy,
            Mode::Relay => &self.relay,
        }
    }
}

/// A plain TCP relay to the upstream, on its own runtime (threads named
/// `relay`): every connection is copied byte for byte both ways, with
/// 64 KiB buffers. Clients sign for the relay's address, which the
/// upstream sees in the `Host` header, so signatures still verify. It
/// does nothing but move bytes through one more process-like hop: the
/// most any proxy can do on the same cores.
struct Relay {
    endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    fn start(rt: &tokio::runtime::Runtime, upstream: std::net::SocketAddr) -> Result<Self> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the relay")?;
        std_listener.set_nonblocking(true)?;
        let endpoint = format!("http://{}", std_listener.local_addr()?);
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let task = rt.spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut down, _)) = accepted else { continue };
                        conns.spawn(async move {
                            let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else { return };
                            let _ = down.set_nodelay(true);
                            let _ = up.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional_with_sizes(&mut down, &mut up, 64 << 10, 64 << 10).await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self { endpoint, task })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn put_generated(client: &aws_sdk_s3::Client, key: &str, pattern: &Bytes, len: u64) -> Result<()> {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_length(len as i64)
        .body(generated_body(pattern, len))
        .send()
        .await
        .with_context(|| format!("PUT {key} ({len} bytes)"))?;
    Ok(())
}

/// GETs `key`, reads the body to the end checking it against `pattern`,
/// and returns its length.
async fn get_discard(client: &aws_sdk_s3::Client, key: &str, pattern: &[u8]) -> Result<u64> {
    let out = client.get_object().bucket(BUCKET).key(key).send().await.with_context(|| format!("GET {key}"))?;
    let mut body = out.body;
    let mut check = PatternCheck { pattern, pos: 0 };
    while let Some(chunk) = body.try_next().await.with_context(|| format!("reading the body of {key}"))? {
        ensure!(check.feed(&chunk), "GET {key}: wrong bytes at offset ~{}", check.pos);
    }
    Ok(check.pos)
}

// -------------------------------------------------------- proxy process

/// Finds (and first builds) the `s3seal` binary.
fn proxy_binary() -> Result<(PathBuf, bool)> {
    if let Some(bin) = std::env::var_os("S3SEAL_BENCH_PROXY_BIN") {
        let bin = PathBuf::from(bin);
        ensure!(bin.is_file(), "S3SEAL_BENCH_PROXY_BIN={} is not a file", bin.display());
        return Ok((bin, true));
    }
    // This benchmark is target/<profile>/deps/proxy-HASH.
    let exe = std::env::current_exe().context("locating the benchmark binary")?;
    let target_dir = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("the benchmark binary is not in target/<profile>/deps")?;
    let release = target_dir.join("release").join("s3seal");
    let debug = target_dir.join("debug").join("s3seal");
    if std::env::var_os("S3SEAL_BENCH_NO_BUILD").is_none() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("the workspace directory")?;
        eprintln!("building the proxy: cargo build --release -p s3seal-cli --bin s3seal");
        let status = Command::new(cargo)
            .current_dir(workspace)
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(["build", "--release", "--quiet", "-p", "s3seal-cli", "--bin", "s3seal"])
            .status()
            .context("running cargo build")?;
        if !status.success() {
            eprintln!("WARNING: cargo build --release -p s3seal-cli failed ({status}); using what is there");
        }
    }
    if release.is_file() {
        return Ok((release, true));
    }
    if debug.is_file() {
        for _ in 0..3 {
            eprintln!("!!!!! WARNING: no {}: using the DEBUG build {}", release.display(), debug.display());
        }
        eprintln!("!!!!! DEBUG NUMBERS ARE MEANINGLESS: run `cargo build --release -p s3seal-cli` first");
        return Ok((debug, false));
    }
    bail!("no s3seal binary: run `cargo build --release -p s3seal-cli`")
}

/// Writes the proxy's config (and its key file) into `dir`.
fn write_config(dir: &Path, upstream: &S3FsServer) -> Result<PathBuf> {
    use base64::Engine as _;
    let key_file = dir.join("bench.key");
    let key = base64::engine::general_purpose::STANDARD.encode(random_bytes(32)?);
    std::fs::write(&key_file, key).context("writing the key file")?;
    let key_spec = format!("aes:bench:k:{}", key_file.display());
    let toml = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"off\"\nkeys = [{key_spec:?}]\n\n\
         [upstream]\nendpoint = {:?}\nregion = \"us-east-1\"\npath_style = true\naccess_key = {:?}\nsecret_key = {:?}\n\n\
         [[clients]]\naccess_key = {CLIENT_ACCESS_KEY:?}\nsecret_key = {CLIENT_SECRET_KEY:?}\n",
        upstream.endpoint(),
        upstream.access_key(),
        upstream.secret_key(),
    );
    let config = dir.join("proxy.toml");
    std::fs::write(&config, toml).context("writing the proxy config")?;
    Ok(config)
}

/// The real `s3seal proxy`, killed when dropped.
struct ProxyProcess {
    child: Option<Child>,
    pid: u32,
    endpoint: String,
    log: PathBuf,
}

impl ProxyProcess {
    /// Starts `bin proxy --config CONFIG` and waits for its banner.
    fn start(bin: &Path, config: &Path, dir: &Path, name: &str) -> Result<Self> {
        let home = dir.join(format!("{name}-home"));
        std::fs::create_dir_all(&home)?;
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(bin);
        // Nothing inherited: no AWS_* variable, profile or ~/.aws.
        cmd.env_clear();
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")));
        cmd.env("HOME", &home);
        if let Some(filter) = std::env::var_os("S3SEAL_BENCH_PROXY_LOG") {
            cmd.env("RUST_LOG", filter);
        }
        let mut child = cmd
            .arg("proxy")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("the proxy's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("encrypting S3 endpoint at ").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let mut proxy = Self { child: Some(child), pid, endpoint: String::new(), log };
        let deadline = Instant::now() + Duration::from_secs(30);
        proxy.endpoint = loop {
            if let Ok(endpoint) = rx.recv_timeout(Duration::from_millis(20)) {
                break endpoint;
            }
            if let Some(child) = proxy.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("s3seal proxy exited ({status}) before serving:\n{}", proxy.log_text());
            }
            ensure!(Instant::now() < deadline, "s3seal proxy printed no endpoint in 30 s:\n{}", proxy.log_text());
        };
        Ok(proxy)
    }

    fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits until the proxy answers an S3 request (ListBuckets).
    async fn wait_ready(&self, client: &aws_sdk_s3::Client) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.list_buckets().send().await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    bail!(
                        "the proxy does not answer: {}\n{}",
                        aws_sdk_s3::error::DisplayErrorContext(e),
                        self.log_text()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`), in bytes.
    fn status_bytes(&self, field: &str) -> Result<u64> {
        proc_status_bytes(self.pid, field)
    }

    fn cpu_secs(&self) -> Result<f64> {
        stat_cpu_secs(&format!("/proc/{}/stat", self.pid))
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("the proxy did not stop within 10 s of SIGTERM: killing it");
        child.kill()?;
        child.wait()?;
        Ok(())
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

fn proc_status_bytes(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .with_context(|| format!("no {field} in {path}"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().with_context(|| format!("{field}: {line:?}"))?;
    Ok(kib * 1024)
}

/// utime + stime of a `/proc/.../stat` file, in seconds.
fn stat_cpu_secs(path: &str) -> Result<f64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // Fields after "(comm)": state is the first, utime the 12th, stime the 13th.
    let rest = &text[text.rfind(')').context("malformed stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    ensure!(fields.len() > 12, "malformed {path}");
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks as f64 / CLOCK_TICKS)
}

// -------------------------------------------------------- CPU accounting

/// CPU seconds so far: the proxy process, and this process's threads split
/// into the upstream (s3s-fs, the `upstream` runtime's threads) and the
/// benchmark's client (everything else: the `client` runtime and the main
/// thread, which polls the request futures).
#[derive(Clone, Copy, Default, Debug)]
struct Cpu {
    proxy: f64,
    upstream: f64,
    client: f64,
    relay: f64,
}

impl Cpu {
    fn now(proxy: &ProxyProcess) -> Self {
        let mut cpu = Cpu { proxy: proxy.cpu_secs().unwrap_or(0.0), ..Cpu::default() };
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return cpu };
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let secs = stat_cpu_secs(&task.path().join("stat").display().to_string()).unwrap_or(0.0);
            if comm.trim() == "upstream" {
                cpu.upstream += secs;
            } else if comm.trim() == "relay" {
                cpu.relay += secs;
            } else {
                cpu.client += secs;
            }
        }
        cpu
    }

    fn since(self, start: Cpu) -> Cpu {
        Cpu {
            proxy: self.proxy - start.proxy,
            upstream: self.upstream - start.upstream,
            client: self.client - start.client,
            relay: self.relay - start.relay,
        }
    }

    fn add(&mut self, d: Cpu) {
        self.proxy += d.proxy;
        self.upstream += d.upstream;
        self.client += d.client;
        self.relay += d.relay;
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ----------------------------------------------------------- statistics

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// The `p`-th percentile (nearest rank) of `samples`, in milliseconds.
fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    let mut v = samples.to_vec();
    v.sort();
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1].as_secs_f64() * 1e3
}

fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

// ------------------------------------------------------------ the phases

struct Throughput {
    /// MiB/s per run, indexed by [`slot`].
    rates: [Vec<f64>; 6],
    /// CPU per kind, summed over the runs.
    cpu: [Cpu; 6],
    /// Bytes moved per kind, summed over the runs.
    bytes: [u64; 6],
}

/// Index of a (mode, operation) pair: PUT direct, proxy, relay, then GET.
fn slot(mode: Mode, get: bool) -> usize {
    (get as usize) * 3 + mode.index()
}

async fn throughput(
    clients: &Clients,
    proxy: &ProxyProcess,
    pattern: &Bytes,
    settings: &Settings,
) -> Result<Throughput> {
    let len = settings.object_mib * MIB;
    let mut t = Throughput { rates: Default::default(), cpu: [Cpu::default(); 6], bytes: [0; 6] };
    for run in 0..settings.runs {
        // Rotate who goes first, so drifting load hits all alike.
        let mut order = [Mode::Direct, Mode::Proxy, Mode::Relay];
        order.rotate_left(run % 3);
        for get in [false, true] {
            for mode in order {
                let key = format!("throughput-{}", mode.name());
                let c0 = Cpu::now(proxy);
                let t0 = Instant::now();
                if get {
                    let n = get_discard(clients.get(mode), &key, pattern).await?;
                    ensure!(n == len, "GET {key}: {n} bytes instead of {len}");
                } else {
                    put_generated(clients.get(mode), &key, pattern, len).await?;
                }
                let elapsed = t0.elapsed();
                let i = slot(mode, get);
                t.cpu[i].add(Cpu::now(proxy).since(c0));
                t.bytes[i] += len;
                let rate = mib_per_s(len, elapsed);
                t.rates[i].push(rate);
                eprintln!(
                    "  run {}: {} {:<6} {:8.1} MiB/s (load {})",
                    run + 1,
                    if get { "GET" } else { "PUT" },
                    mode.name(),
                    rate,
                    load_average()
                );
            }
        }
    }
    Ok(t)
}

/// Latency samples: [direct PUT, proxy PUT, direct GET, proxy GET].
async fn latency(clients: &Clients, n: usize) -> Result<[Vec<Duration>; 6]> {
    let small = Bytes::from(random_bytes(SMALL)?);
    let mut samples: [Vec<Duration>; 6] = Default::default();
    for (warm, count) in [(true, WARMUP), (false, n)] {
        for get in [false, true] {
            for i in 0..count {
                let order = if i % 2 == 0 { [Mode::Direct, Mode::Proxy] } else { [Mode::Proxy, Mode::Direct] };
                for mode in order {
                    let client = clients.get(mode);
                    let key = format!("latency-{}/{}", mode.name(), i % WARMUP.max(1));
                    let t0 = Instant::now();
                    if get {
                        let n = get_discard(client, &key, &small).await?;
                        ensure!(n == SMALL as u64, "GET {key}: {n} bytes");
                    } else {
                        client
                            .put_object()
                            .bucket(BUCKET)
                            .key(&key)
                            .body(ByteStream::from(small.clone()))
                            .send()
                            .await
                            .with_context(|| format!("PUT {key}"))?;
                    }
                    if !warm {
                        samples[slot(mode, get)].push(t0.elapsed());
                    }
                }
            }
        }
    }
    Ok(samples)
}

struct Big {
    len: u64,
    stored_len: u64,
    put: Duration,
    get: Duration,
    hwm: u64,
    max_rss_sampled: u64,
    rss_before: u64,
    cpu: Cpu,
}

async fn big_object(
    clients: &Clients,
    direct: &aws_sdk_s3::Client,
    proxy: &ProxyProcess,
    pattern: &Bytes,
    gib: f64,
) -> Result<Big> {
    let len = ((gib * GIB as f64) as u64).max(1);
    let key = "big";
    let rss_before = proxy.status_bytes("VmRSS")?;
    // Sample VmRSS too, to see the curve's maximum besides the kernel's VmHWM.
    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, max_rss, pid) = (stop.clone(), max_rss.clone(), proxy.pid);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(rss) = proc_status_bytes(pid, "VmRSS") {
                    max_rss.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let c0 = Cpu::now(proxy);
    let t0 = Instant::now();
    put_generated(clients.get(Mode::Proxy), key, pattern, len).await?;
    let put = t0.elapsed();
    eprintln!("  PUT {len} bytes through the proxy: {:.1} MiB/s", mib_per_s(len, put));
    let t1 = Instant::now();
    let n = get_discard(clients.get(Mode::Proxy), key, pattern).await?;
    let get = t1.elapsed();
    ensure!(n == len, "GET {key}: {n} bytes instead of {len}");
    eprintln!("  GET {len} bytes through the proxy: {:.1} MiB/s", mib_per_s(len, get));
    let cpu = Cpu::now(proxy).since(c0);
    stop.store(true, Ordering::Relaxed);
    sampler.join().map_err(|_| anyhow!("the RSS sampler panicked"))?;
    let hwm = proxy.status_bytes("VmHWM")?;
    let head = direct.head_object().bucket(BUCKET).key(key).send().await.context("HEAD big (direct)")?;
    let stored_len = head.content_length().unwrap_or(0) as u64;
    direct.delete_object().bucket(BUCKET).key(key).send().await.context("deleting big (direct)")?;
    Ok(Big { len, stored_len, put, get, hwm, max_rss_sampled: max_rss.load(Ordering::Relaxed), rss_before, cpu })
}

// ------------------------------------------------------------------ main

fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        // Blocking threads (s3s-fs file I/O) stay, so their CPU time stays
        // visible in /proc/self/task.
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
        .with_context(|| format!("building the {name} runtime"))
}

fn main() -> Result<()> {
    let settings = Settings::from_env()?;
    let (bin, release) = proxy_binary()?;
    let load_start = load_average();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);

    let upstream_rt = runtime("upstream")?;
    let client_rt = runtime("client")?;
    let relay_rt = runtime("relay")?;
    let server = {
        let _guard = upstream_rt.enter();
        match settings.get_read_kib {
            0 => S3FsServer::start()?,
            kib => S3FsServer::start_with_large_get_reads(kib * 1024)?,
        }
    };
    let dir = tempfile::Builder::new().prefix("s3seal-bench-").tempdir()?;
    let config = write_config(dir.path(), &server)?;
    let pattern = Bytes::from(random_bytes(PATTERN_LEN)?);
    let direct = client(&server.endpoint(), server.access_key(), server.secret_key());

    eprintln!("s3seal proxy benchmark: {} ({cores} cores, load {load_start})", bin.display());
    client_rt.block_on(direct.create_bucket().bucket(BUCKET).send()).context("creating the bucket")?;

    // Parts 1 and 2, on one proxy process.
    let proxy = ProxyProcess::start(&bin, &config, dir.path(), "proxy")?;
    let relay = Relay::start(&relay_rt, server.addr())?;
    let clients = Clients {
        direct: direct.clone(),
        proxy: client(&proxy.endpoint, CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY),
        relay: client(&relay.endpoint, server.access_key(), server.secret_key()),
    };
    client_rt.block_on(proxy.wait_ready(&clients.proxy))?;
    eprintln!("1. throughput, {} MiB objects, {} runs", settings.object_mib, settings.runs);
    let tp = client_rt.block_on(throughput(&clients, &proxy, &pattern, &settings))?;
    let load_tp = load_average();
    eprintln!("2. latency, 4 KiB objects, {} requests of each kind", settings.latency_n);
    let lat = client_rt.block_on(latency(&clients, settings.latency_n))?;
    let load_lat = load_average();
    let hwm_first = proxy.status_bytes("VmHWM")?;
    proxy.stop()?;

    // Part 3, on a fresh proxy process (VmHWM counts from its start).
    let big = if settings.big_gib > 0.0 {
        eprintln!("3. peak RSS, a {} GiB object through a fresh proxy", settings.big_gib);
        let proxy = ProxyProcess::start(&bin, &config, dir.path(), "proxy-big")?;
        let clients = Clients {
            direct: direct.clone(),
            proxy: client(&proxy.endpoint, CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY),
            relay: client(&relay.endpoint, server.access_key(), server.secret_key()),
        };
        client_rt.block_on(proxy.wait_ready(&clients.proxy))?;
        let big = client_rt.block_on(big_object(&clients, &direct, &proxy, &pattern, settings.big_gib))?;
        proxy.stop()?;
        Some(big)
    } else {
        None
    };
    let load_end = load_average();

    // ------------------------------------------------------------ report
    println!();
    println!("s3seal proxy benchmark");
    println!("  proxy binary: {}{}", bin.display(), if release { "" } else { "  (DEBUG BUILD: NUMBERS MEANINGLESS)" });
    println!("  upstream: s3s-fs in the benchmark process over {}", server.root().display());
    match settings.get_read_kib {
        0 => println!("  upstream GET bodies: s3s-fs's own 4 KiB file reads"),
        kib => println!("  upstream GET bodies: {kib} KiB file reads (S3SEAL_BENCH_UPSTREAM_READ_KIB=0: s3s-fs's own)"),
    }
    println!(
        "  {cores} cores; load average (1/5/15 min): start {load_start}, after 1: {load_tp}, after 2: {load_lat}, end {load_end}"
    );
    println!();
    println!("1. Throughput, {} MiB objects, median of {} runs (MiB/s)", settings.object_mib, settings.runs);
    println!(
        "       {:>9} {:>9} {:>7}   {:<16} {:>9} {:>11} {:>11}",
        "direct", "proxy", "ratio", "target", "relay", "relay/dir", "proxy/relay"
    );
    for (op, get) in [("PUT", false), ("GET", true)] {
        let d = median(&tp.rates[slot(Mode::Direct, get)]);
        let p = median(&tp.rates[slot(Mode::Proxy, get)]);
        let r = median(&tp.rates[slot(Mode::Relay, get)]);
        let ratio = p / d;
        println!(
            "  {op}  {d:9.1} {p:9.1} {ratio:7.2}   >= 0.90 {:<8} {r:9.1} {:11.2} {:11.2}",
            verdict(ratio >= 0.9),
            r / d,
            p / r
        );
    }
    println!("  (relay: a plain TCP relay in front of the same upstream, no HTTP, no crypto)");
    println!(
        "  CPU seconds per GiB moved (proxy process or relay threads / s3s-fs threads / benchmark client threads):"
    );
    for (op, get) in [("PUT", false), ("GET", true)] {
        for mode in [Mode::Direct, Mode::Proxy, Mode::Relay] {
            let i = slot(mode, get);
            let gib = tp.bytes[i] as f64 / GIB as f64;
            let c = tp.cpu[i];
            let hop = c.proxy + c.relay;
            println!(
                "    {:<10}  {:5.2} / {:5.2} / {:5.2}  (total {:5.2})",
                format!("{op} {}", mode.name()),
                hop / gib,
                c.upstream / gib,
                c.client / gib,
                (hop + c.upstream + c.client) / gib
            );
        }
    }
    println!();
    println!("2. Latency, 4 KiB objects, {} sequential requests each after {WARMUP} warm-up (ms)", settings.latency_n);
    println!(
        "       {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}   target",
        "direct p50", "direct p99", "proxy p50", "proxy p99", "added p50", "added p99"
    );
    for (op, get) in [("PUT", false), ("GET", true)] {
        let d = &lat[slot(Mode::Direct, get)];
        let p = &lat[slot(Mode::Proxy, get)];
        let (d50, d99, p50, p99) =
            (percentile_ms(d, 50.0), percentile_ms(d, 99.0), percentile_ms(p, 50.0), percentile_ms(p, 99.0));
        println!(
            "  {op}  {d50:10.3} {d99:10.3} {p50:10.3} {p99:10.3} {:10.3} {:10.3}   p50 <= 1 ms {}",
            p50 - d50,
            p99 - d99,
            verdict(p50 - d50 <= 1.0)
        );
    }
    println!();
    match big {
        Some(b) => {
            println!(
                "3. Peak RSS of the proxy streaming a {} GiB object (PUT then GET), fresh process",
                settings.big_gib
            );
            println!(
                "  PUT {:.1} MiB/s, GET {:.1} MiB/s; {} bytes stored upstream for {} plaintext bytes",
                mib_per_s(b.len, b.put),
                mib_per_s(b.len, b.get),
                b.stored_len,
                b.len
            );
            println!(
                "  VmHWM {:.1} MiB, max VmRSS sampled every 50 ms {:.1} MiB, VmRSS before {:.1} MiB",
                b.hwm as f64 / MIB as f64,
                b.max_rss_sampled as f64 / MIB as f64,
                b.rss_before as f64 / MIB as f64
            );
            // The kernel folds the current RSS into VmHWM lazily: take the larger.
            let peak = b.hwm.max(b.max_rss_sampled);
            println!("  peak RSS {:.1} MiB   target < 64 MiB {}", peak as f64 / MIB as f64, verdict(peak < 64 * MIB));
            let gib = 2.0 * b.len as f64 / GIB as f64;
            println!(
                "  CPU seconds per GiB moved (proxy / s3s-fs / benchmark client): {:.2} / {:.2} / {:.2}",
                b.cpu.proxy / gib,
                b.cpu.upstream / gib,
                b.cpu.client / gib
            );
        }
        None => println!("3. Peak RSS: skipped (S3SEAL_BENCH_BIG_GIB=0)"),
    }
    println!(
        "  (VmHWM of the parts 1-2 proxy after {} MiB objects: {:.1} MiB)",
        settings.object_mib,
        hwm_first as f64 / MIB as f64
    );

    drop(relay);
    drop(server);
    if std::env::var_os("S3SEAL_BENCH_KEEP").is_some() {
        println!("  proxy config and logs kept in {}", dir.keep().display());
    }
    Ok(())
}
