//! The command-line S3 tools (aws cli v1 and v2, s3cmd, rclone) and boto3
//! scripts, each with its own configuration files for one proxy endpoint
//! and an explicit environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use super::constants::{CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION};
use super::process::{Ran, clean_env, run_with_timeout};
use crate::python::repo_root;

/// How long one client command may run before the test fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// A command-line S3 tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// aws cli v1 from PyPI, `<repo>/.venv/bin/aws`.
    AwsV1,
    /// aws cli v2 from Debian, `/usr/bin/aws`.
    AwsV2,
    /// s3cmd from Debian, `/usr/bin/s3cmd`.
    S3cmd,
    /// rclone from Debian, `/usr/bin/rclone`.
    Rclone,
}

impl Tool {
    /// The executable.
    pub fn program(self) -> Result<PathBuf> {
        let path = match self {
            Tool::AwsV1 => repo_root().join(".venv/bin/aws"),
            Tool::AwsV2 => PathBuf::from("/usr/bin/aws"),
            Tool::S3cmd => PathBuf::from("/usr/bin/s3cmd"),
            Tool::Rclone => PathBuf::from("/usr/bin/rclone"),
        };
        let hint = match self {
            Tool::AwsV1 => "run tests/setup-python.sh",
            Tool::AwsV2 => "apt-get install awscli (tests/run does it as root)",
            Tool::S3cmd => "apt-get install s3cmd (tests/run does it as root)",
            Tool::Rclone => "apt-get install rclone (tests/run does it as root)",
        };
        ensure!(path.is_file(), "{self:?}: {} not found: {hint}", path.display());
        Ok(path)
    }

    fn is_aws(self) -> bool {
        matches!(self, Tool::AwsV1 | Tool::AwsV2)
    }
}

/// The tools' configuration for one proxy endpoint, in a directory of the
/// test.
#[derive(Debug)]
pub struct Clients {
    dir: PathBuf,
    endpoint: String,
    ca: Option<PathBuf>,
}

impl Clients {
    /// Writes every tool's configuration for `endpoint` (the proxy) into
    /// `dir`; with `ca`, the tools trust it (and only it) for https.
    pub fn new(dir: &Path, endpoint: &str, ca: Option<&Path>) -> Result<Self> {
        std::fs::create_dir_all(dir.join("home"))?;
        std::fs::write(dir.join("aws-config"), format!("[default]\nregion = {REGION}\n"))?;
        std::fs::write(
            dir.join("aws-credentials"),
            format!(
                "[default]\naws_access_key_id = {CLIENT_ACCESS_KEY}\naws_secret_access_key = {CLIENT_SECRET_KEY}\n"
            ),
        )?;
        let (scheme, hostport) = endpoint.split_once("://").context("endpoint without a scheme")?;
        let https = scheme == "https";
        let mut s3cfg = format!(
            "[default]\naccess_key = {CLIENT_ACCESS_KEY}\nsecret_key = {CLIENT_SECRET_KEY}\nhost_base = {hostport}\n\
             host_bucket = {hostport}\nbucket_location = {REGION}\nuse_https = {}\nsignature_v2 = False\n\
             check_ssl_certificate = True\n",
            if https { "True" } else { "False" }
        );
        if let Some(ca) = ca {
            s3cfg += &format!("ca_certs_file = {}\n", ca.display());
        }
        std::fs::write(dir.join("s3cfg"), s3cfg)?;
        std::fs::write(
            dir.join("rclone.conf"),
            format!(
                "[proxy]\ntype = s3\nprovider = Other\naccess_key_id = {CLIENT_ACCESS_KEY}\n\
                 secret_access_key = {CLIENT_SECRET_KEY}\nendpoint = {endpoint}\nregion = {REGION}\n\
                 force_path_style = true\n"
            ),
        )?;
        Ok(Self { dir: dir.to_path_buf(), endpoint: endpoint.to_string(), ca: ca.map(Path::to_path_buf) })
    }

    /// A command for `tool` with its configuration and a clean environment.
    pub fn command(&self, tool: Tool) -> Result<Command> {
        let mut cmd = Command::new(tool.program()?);
        clean_env(&mut cmd, &self.dir.join("home"));
        match tool {
            Tool::AwsV1 | Tool::AwsV2 => {
                cmd.env("AWS_CONFIG_FILE", self.dir.join("aws-config"))
                    .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("aws-credentials"))
                    .env("AWS_ACCESS_KEY_ID", CLIENT_ACCESS_KEY)
                    .env("AWS_SECRET_ACCESS_KEY", CLIENT_SECRET_KEY)
                    .env("AWS_DEFAULT_REGION", REGION)
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .env("AWS_PAGER", "")
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                if let Some(ca) = &self.ca {
                    cmd.env("AWS_CA_BUNDLE", ca);
                }
                cmd.arg("--endpoint-url").arg(&self.endpoint);
            }
            Tool::S3cmd => {
                cmd.arg("-c").arg(self.dir.join("s3cfg")).arg("--no-progress");
            }
            Tool::Rclone => {
                cmd.env("RCLONE_CONFIG", self.dir.join("rclone.conf"));
                if let Some(ca) = &self.ca {
                    cmd.arg("--ca-cert").arg(ca);
                }
                // 20 MiB goes multipart in 5 MiB parts (the default cut-off is 200 MiB).
                cmd.args([
                    "--s3-upload-cutoff",
                    "5M",
                    "--s3-chunk-size",
                    "5M",
                    "--retries",
                    "1",
                    "--low-level-retries",
                    "3",
                ]);
            }
        }
        Ok(cmd)
    }

    /// A command running `tests/python/SCRIPT` with the venv's Python
    /// (boto3), the same clean environment and AWS files as the aws cli
    /// (credentials and region only: default checksum settings), and, with
    /// a CA, `AWS_CA_BUNDLE` set to it.
    pub fn python(&self, script: &str) -> Result<Command> {
        let mut cmd = Command::new(crate::python::venv_python()?);
        clean_env(&mut cmd, &self.dir.join("home"));
        cmd.arg(crate::python::script_path(script)?)
            .env("AWS_CONFIG_FILE", self.dir.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1");
        if let Some(ca) = &self.ca {
            cmd.env("AWS_CA_BUNDLE", ca);
        }
        Ok(cmd)
    }

    /// The directory holding the tools' configuration (and their HOME).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs a prepared command (see [`Clients::python`]) in this
    /// directory; fails on a non-zero exit with its output.
    pub fn run_command(&self, cmd: &mut Command) -> Result<Ran> {
        let what = format!("{cmd:?}");
        self.run_checked(cmd, &what)
    }

    /// Runs `tool` with `args`; fails on a non-zero exit with its output.
    pub fn run(&self, tool: Tool, args: &[&str]) -> Result<Ran> {
        let mut cmd = self.command(tool)?;
        cmd.args(args);
        self.run_checked(&mut cmd, &format!("{tool:?} {args:?}"))
    }

    /// Runs `cmd` in this directory; fails on a non-zero exit with its
    /// output, naming the command `what`.
    fn run_checked(&self, cmd: &mut Command, what: &str) -> Result<Ran> {
        let ran = run_with_timeout(cmd, &self.dir, TOOL_TIMEOUT)?;
        ensure!(
            ran.status.success(),
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            ran.status,
            ran.stdout.trim_end(),
            ran.stderr.trim_end()
        );
        Ok(ran)
    }

    /// Creates `bucket`.
    pub fn make_bucket(&self, tool: Tool, bucket: &str) -> Result<()> {
        let url = format!("s3://{bucket}");
        match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "mb", &url]),
            Tool::S3cmd => self.run(tool, &["mb", &url]),
            Tool::Rclone => self.run(tool, &["mkdir", &format!("proxy:{bucket}")]),
        }
        .map(drop)
    }

    /// Uploads `local` to `bucket`/`key`.
    pub fn upload(&self, tool: Tool, local: &Path, bucket: &str, key: &str) -> Result<Ran> {
        let local = local.to_str().context("non-UTF-8 path")?;
        let url = format!("s3://{bucket}/{key}");
        match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "cp", "--no-progress", local, &url]),
            Tool::S3cmd => self.run(tool, &["put", local, &url]),
            Tool::Rclone => self.run(tool, &["copyto", local, &format!("proxy:{bucket}/{key}")]),
        }
    }

    /// Downloads `bucket`/`key` to `local`.
    pub fn download(&self, tool: Tool, bucket: &str, key: &str, local: &Path) -> Result<Ran> {
        let local = local.to_str().context("non-UTF-8 path")?;
        let url = format!("s3://{bucket}/{key}");
        match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "cp", "--no-progress", &url, local]),
            Tool::S3cmd => self.run(tool, &["get", "--force", &url, local]),
            Tool::Rclone => self.run(tool, &["copyto", &format!("proxy:{bucket}/{key}"), local]),
        }
    }

    /// What the tool's listing of `bucket` shows: object name and size.
    pub fn list(&self, tool: Tool, bucket: &str) -> Result<Vec<(String, u64)>> {
        let url = format!("s3://{bucket}/");
        let ran = match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "ls", &url])?,
            Tool::S3cmd => self.run(tool, &["ls", &url])?,
            Tool::Rclone => self.run(tool, &["ls", &format!("proxy:{bucket}")])?,
        };
        let mut out = Vec::new();
        for line in ran.stdout.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // aws: DATE TIME SIZE NAME; s3cmd: DATE TIME SIZE s3://B/NAME; rclone: SIZE NAME
            let (size, name) = match tool {
                Tool::AwsV1 | Tool::AwsV2 | Tool::S3cmd if f.len() == 4 => (f[2], f[3]),
                Tool::Rclone if f.len() == 2 => (f[0], f[1]),
                _ => bail!("{tool:?}: unexpected listing line {line:?}"),
            };
            let name = name.rsplit('/').next().unwrap_or(name).to_string();
            out.push((name, size.parse().with_context(|| format!("{tool:?}: size in {line:?}"))?));
        }
        out.sort();
        Ok(out)
    }

    /// Syncs the local directory `dir` to the root of `bucket`; returns the
    /// number of files the tool said it transferred.
    pub fn sync_up(&self, tool: Tool, dir: &Path, bucket: &str) -> Result<usize> {
        let local = format!("{}/", dir.to_str().context("non-UTF-8 path")?);
        self.sync(tool, &local, &format!("s3://{bucket}/"), &format!("proxy:{bucket}"))
    }

    /// Syncs the root of `bucket` to the local directory `dir`; returns the
    /// number of files the tool said it transferred.
    pub fn sync_down(&self, tool: Tool, bucket: &str, dir: &Path) -> Result<usize> {
        let local = format!("{}/", dir.to_str().context("non-UTF-8 path")?);
        std::fs::create_dir_all(dir)?;
        let remote = format!("s3://{bucket}/");
        match tool {
            Tool::Rclone => self.sync(tool, &format!("proxy:{bucket}"), &local, ""),
            _ => self.sync(tool, &remote, &local, ""),
        }
    }

    fn sync(&self, tool: Tool, from: &str, to: &str, rclone_to: &str) -> Result<usize> {
        let ran = match tool {
            Tool::AwsV1 | Tool::AwsV2 => self.run(tool, &["s3", "sync", "--no-progress", from, to])?,
            Tool::S3cmd => self.run(tool, &["sync", from, to])?,
            Tool::Rclone => {
                let to = if rclone_to.is_empty() { to } else { rclone_to };
                self.run(tool, &["sync", "-v", from, to])?
            }
        };
        let text = format!("{}\n{}", ran.stdout, ran.stderr);
        let transfers = text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                if tool.is_aws() || tool == Tool::S3cmd {
                    l.starts_with("upload:") || l.starts_with("download:") || l.starts_with("copy:")
                } else {
                    l.contains(": Copied (") || l.contains("Updated modification time")
                }
            })
            .count();
        Ok(transfers)
    }
}
