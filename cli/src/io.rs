//! Inputs and outputs: files or stdin/stdout, streamed with bounded
//! buffers; file outputs go to a temporary file in the target directory
//! that is renamed into place only on success.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};

use crate::fail::{self, CliResult, Failure, Phase};

/// Bytes moved per read and buffered per write.
pub const BUF: usize = 1024 * 1024;

/// Inputs larger than this get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 64 * 1024 * 1024;

pub type DynRead = Pin<Box<dyn AsyncRead + Send>>;
pub type DynWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// `None` and `-` mean the standard stream.
pub fn is_std(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
}

/// An opened input.
pub struct Input {
    pub reader: DynRead,
    /// Its size, when it is a regular file (or stdin redirected from one).
    pub len: Option<u64>,
    /// `stdin` or the file name, for messages.
    pub name: String,
    pub progress: Option<ProgressBar>,
}

impl Input {
    pub async fn open(path: Option<&Path>) -> CliResult<Self> {
        let (reader, len, name): (DynRead, Option<u64>, String) = if is_std(path) {
            (Box::pin(tokio::io::stdin()), stdin_len(), "stdin".into())
        } else {
            let path = path.unwrap_or(Path::new("-"));
            let name = path.display().to_string();
            let file = tokio::fs::File::open(path).await.map_err(|e| {
                Failure::io(format!("cannot open input file {name}"), e).hint("check the path given with -i")
            })?;
            let meta = file.metadata().await.map_err(|e| Failure::io(format!("cannot read input file {name}"), e))?;
            if meta.is_dir() {
                return Err(Failure::usage(format!("input {name} is a directory; give a file with -i")));
            }
            (Box::pin(file), meta.is_file().then_some(meta.len()), name)
        };
        let mut input = Input { reader, len, name, progress: None };
        input.add_progress();
        Ok(input)
    }

    /// A progress bar on stderr, only when stderr is a terminal and the
    /// input is known to be over 64 MiB.
    fn add_progress(&mut self) {
        let Some(len) = self.len else { return };
        if len <= PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(len);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        // Drawn at once, not only on the first read's update.
        bar.tick();
        let reader = std::mem::replace(&mut self.reader, Box::pin(tokio::io::empty()));
        self.reader = Box::pin(bar.wrap_async_read(reader));
        self.progress = Some(bar);
    }

    pub fn finish_progress(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
    }
}

/// The size of stdin when it is redirected from a regular file.
#[cfg(unix)]
fn stdin_len() -> Option<u64> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    meta.is_file().then_some(meta.len())
}

#[cfg(not(unix))]
fn stdin_len() -> Option<u64> {
    None
}

/// Reads from `reader` until `parse` returns a value, keeping every byte
/// read; gives the value and the bytes (to be replayed). Stops with
/// `too_big` once more than `max` bytes were read without success.
pub async fn read_prefix<T>(
    reader: &mut DynRead,
    max: usize,
    mut parse: impl FnMut(&[u8]) -> Result<Option<T>, s3seal::Error>,
) -> Result<(Option<T>, Vec<u8>), PrefixError> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk).await.map_err(PrefixError::Io)?;
        if n == 0 {
            return Ok((None, buf));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(v) = parse(&buf).map_err(PrefixError::Sdk)? {
            return Ok((Some(v), buf));
        }
        if buf.len() > max {
            return Err(PrefixError::TooBig(buf.len()));
        }
    }
}

/// Why [`read_prefix`] failed.
#[derive(Debug)]
pub enum PrefixError {
    Io(std::io::Error),
    Sdk(s3seal::Error),
    TooBig(usize),
}

/// Copies `reader` to `writer`, telling read failures (classified as
/// `phase` errors: a decrypting reader reports verification failures)
/// from write failures.
pub async fn pump<R, W>(reader: &mut R, writer: &mut W, input: &str, output: &str, phase: Phase) -> CliResult<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| fail::stream(e, &format!("cannot read {input}"), phase))?;
        if n == 0 {
            return Ok(total);
        }
        writer.write_all(&buf[..n]).await.map_err(|e| fail::stream(e, &format!("cannot write {output}"), phase))?;
        total += n as u64;
    }
}

/// Where the output goes.
enum Target {
    Stdout,
    File { tmp: tempfile::NamedTempFile, dest: PathBuf },
}

/// The writer of an opened output.
pub type OutWriter = BufWriter<DynWrite>;

/// An opened output, without its writer: what to do on success.
pub struct Output {
    target: Target,
    /// `stdout` or the file name, for messages.
    pub name: String,
}

impl Output {
    /// Opens `path` (or stdout). A file is written to a temporary file in
    /// its directory first; [`Output::commit`] renames it into place, and
    /// dropping the output without committing deletes it.
    pub fn open(path: Option<&Path>) -> CliResult<(OutWriter, Self)> {
        if is_std(path) {
            let writer = BufWriter::with_capacity(BUF, Box::pin(tokio::io::stdout()) as DynWrite);
            return Ok((writer, Output { target: Target::Stdout, name: "stdout".into() }));
        }
        let dest = path.unwrap_or(Path::new("-")).to_path_buf();
        let name = dest.display().to_string();
        if dest.is_dir() {
            return Err(Failure::usage(format!("output {name} is a directory; give a file name with -o")));
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new().prefix(".s3seal-").suffix(".tmp").tempfile_in(&dir).map_err(|e| {
            Failure::io(format!("cannot create the output file {name} (in directory {})", dir.display()), e)
        })?;
        let file =
            tmp.as_file().try_clone().map_err(|e| Failure::io(format!("cannot write the output file {name}"), e))?;
        let writer = BufWriter::with_capacity(BUF, Box::pin(tokio::fs::File::from_std(file)) as DynWrite);
        Ok((writer, Output { target: Target::File { tmp, dest }, name }))
    }

    /// True when the output is stdout and stdout is a terminal.
    pub fn is_terminal_stdout(&self) -> bool {
        matches!(self.target, Target::Stdout) && std::io::stdout().is_terminal()
    }

    /// Flushes `writer`, syncs and (for files) renames the temporary file
    /// into place.
    pub async fn commit(self, mut writer: OutWriter) -> CliResult<()> {
        let name = self.name;
        let write_err = |e| Failure::io(format!("cannot write the output {name}"), e);
        writer.flush().await.map_err(write_err)?;
        writer.shutdown().await.map_err(write_err)?;
        drop(writer);
        match self.target {
            Target::Stdout => Ok(()),
            Target::File { tmp, dest } => {
                tmp.as_file().sync_all().map_err(write_err)?;
                tmp.persist(&dest)
                    .map_err(|e| Failure::io(format!("cannot move the output into place as {name}"), e.error))?;
                Ok(())
            }
        }
    }
}
