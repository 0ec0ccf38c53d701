//! Child processes: run to completion with a timeout, output to files,
//! in an environment built from nothing.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

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

/// The text of the file at `path` (lossy; empty when unreadable).
pub(super) fn lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// An environment built from nothing: `PATH`, `LANG`, `TMPDIR` (if set)
/// and `HOME` (a directory of the test). Nothing else is inherited.
pub(super) fn clean_env(cmd: &mut Command, home: &Path) {
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")));
    if let Some(t) = std::env::var_os("TMPDIR") {
        cmd.env("TMPDIR", t);
    }
    cmd.env("HOME", home).env("LANG", "C.UTF-8").env("LC_ALL", "C.UTF-8");
}
