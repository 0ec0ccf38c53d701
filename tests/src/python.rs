//! Locating and running the Python peers (`tests/setup-python.sh` makes them).
//!
//! * `<repo>/.venv`: moto, boto3, aws cli v1 and the Python ESDK with the MPL.
//! * `<repo>/.venv-esdk-cli`: the `aws-encryption-cli`.
//! * `<repo>/.venv-s3ec`: the Amazon S3 Encryption Client for Python.
//!
//! Every lookup fails with a message that tells the user to run
//! `tests/setup-python.sh` when the environment is not there.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result, bail};

/// The workspace root (the directory holding `tests/`).
pub fn repo_root() -> PathBuf {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_dir.parent().map(Path::to_path_buf).unwrap_or_else(|| tests_dir.join(".."))
}

fn require(path: PathBuf, what: &str) -> Result<PathBuf> {
    if path.is_file() {
        Ok(path)
    } else {
        bail!("{what} not found at {}: run `tests/setup-python.sh` (or `tests/run`) first", path.display())
    }
}

/// `<repo>/.venv/bin/python`.
pub fn venv_python() -> Result<PathBuf> {
    require(repo_root().join(".venv/bin/python"), "the test Python (.venv)")
}

/// `<repo>/.venv/bin/<name>`: a console script of the main venv (`moto_server`, `aws`).
pub fn venv_bin(name: &str) -> Result<PathBuf> {
    require(repo_root().join(".venv/bin").join(name), name)
}

/// `<repo>/.venv-esdk-cli/bin/aws-encryption-cli`.
pub fn esdk_cli() -> Result<PathBuf> {
    require(repo_root().join(".venv-esdk-cli/bin/aws-encryption-cli"), "aws-encryption-cli (.venv-esdk-cli)")
}

/// `<repo>/.venv-s3ec/bin/python`: the Amazon S3 Encryption Client's venv.
pub fn s3ec_python() -> Result<PathBuf> {
    require(repo_root().join(".venv-s3ec/bin/python"), "the S3 Encryption Client Python (.venv-s3ec)")
}

/// `<repo>/tests/python/<name>`, checked to exist.
pub fn script_path(name: &str) -> Result<PathBuf> {
    let path = repo_root().join("tests/python").join(name);
    if path.is_file() { Ok(path) } else { bail!("Python test script {} not found", path.display()) }
}

/// A `Command` running `script` (a path, or a name under `tests/python/`)
/// with the venv's Python, stdin closed, and no inherited `AWS_*` settings
/// that would make a peer depend on the developer's environment.
pub fn command(script: impl AsRef<Path>) -> Result<Command> {
    command_with(venv_python()?, script)
}

/// Like [`command`], with the Python of `.venv-s3ec`.
pub fn s3ec_command(script: impl AsRef<Path>) -> Result<Command> {
    command_with(s3ec_python()?, script)
}

fn command_with(python: PathBuf, script: impl AsRef<Path>) -> Result<Command> {
    let script = script.as_ref();
    let script = if script.is_file() { script.to_path_buf() } else { script_path(&script.to_string_lossy())? };
    let mut cmd = Command::new(python);
    cmd.arg(script).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PYTHONDONTWRITEBYTECODE", "1").env("PYTHONUNBUFFERED", "1");
    Ok(cmd)
}

/// What a finished script left behind.
#[derive(Debug)]
pub struct Output {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// Stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs a prepared command to completion, capturing stdout and stderr.
pub fn output(cmd: &mut Command) -> Result<Output> {
    let out =
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().with_context(|| format!("starting {cmd:?}"))?;
    Ok(Output { status: out.status, stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() })
}

/// Runs `script` with `args`; returns its output whatever the exit status.
pub fn run_script<I, S>(script: impl AsRef<Path>, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = command(script)?;
    cmd.args(args);
    output(&mut cmd)
}

/// Runs `script` with `args` and returns its stdout; a non-zero exit is an
/// error carrying the script's stderr.
pub fn run_script_ok<I, S>(script: impl AsRef<Path>, args: I) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let script = script.as_ref();
    let out = run_script(script, args)?;
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n{}\n{}",
            script.display(),
            out.status,
            out.stderr.trim_end(),
            out.stdout_text().trim_end()
        );
    }
    Ok(out.stdout)
}

/// Runs `tests/python/s3ec_peer.py` with `args` under `.venv-s3ec`;
/// returns its output whatever the exit status.
pub fn run_s3ec_peer<I, S>(args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = s3ec_command("s3ec_peer.py")?;
    cmd.args(args);
    output(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_python_runs() -> Result<()> {
        let mut cmd = Command::new(venv_python()?);
        cmd.args(["-c", "import sys; print(sys.version_info[0])"]);
        let out = output(&mut cmd)?;
        assert!(out.status.success(), "{}", out.stderr);
        assert_eq!(out.stdout_text().trim(), "3");
        Ok(())
    }

    #[test]
    fn missing_script_is_a_clear_error() {
        let err = run_script("no-such-script.py", ["x"]).expect_err("must fail");
        assert!(err.to_string().contains("no-such-script.py"), "{err}");
    }
}
