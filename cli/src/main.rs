//! `s3seal`: encrypt and decrypt files and pipes as AWS Encryption SDK
//! messages, generate keys, and inspect message headers.
//!
//! The CLI holds no cryptography: everything that touches keys or
//! ciphertext is done by the `s3seal` SDK.

mod args;
mod crypt;
mod fail;
mod inspect;
mod io;
mod keygen;
mod proxy;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::fail::{CliResult, Code, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return report(Failure::io("cannot start the async runtime", e)),
    };
    let result = runtime.block_on(run(cli));
    // A blocking read of stdin may still be waiting for input that never
    // comes (after a failure or Ctrl-C): do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f),
    }
}

async fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Encrypt(a) => interruptible(crypt::encrypt(a)).await,
        Command::Decrypt(a) => interruptible(crypt::decrypt(a)).await,
        Command::Keygen(a) => keygen::keygen(a),
        Command::Inspect(a) => inspect::inspect(a).await,
        Command::Proxy(a) => proxy::proxy(*a).await,
    }
}

/// Runs `work`, or stops it on Ctrl-C (dropping it deletes any temporary
/// output file).
async fn interruptible(work: impl Future<Output = CliResult<()>>) -> CliResult<()> {
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(Failure::new(Code::Interrupted, anyhow::anyhow!("interrupted; no output file was written"))),
    }
}

/// Prints the failure on stderr (ignoring a closed stderr: the exit code
/// must stay the failure's, never a panic's) and returns its exit code.
fn report(f: Failure) -> ExitCode {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "s3seal: error: {:#}", f.error);
    for h in &f.hints {
        let _ = writeln!(err, "  hint: {h}");
    }
    ExitCode::from(f.code as u8)
}
