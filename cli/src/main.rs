//! `s3seal`: encrypt and decrypt files and pipes as AWS Encryption SDK
//! messages, generate keys, and inspect message headers.
//!
//! The CLI holds no cryptography: everything that touches keys or
//! ciphertext is done by the `s3seal` SDK.
//!
//! Modules depend one way: this file runs [`commands`], the commands use
//! the shared helpers ([`fail`], [`header`], [`io`], [`keys`], [`values`]),
//! and no helper uses a command.

mod commands;
mod fail;
mod header;
mod io;
mod keys;
mod values;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;
use crate::fail::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return report(Failure::io("cannot start the async runtime", e)),
    };
    let result = runtime.block_on(commands::run(cli));
    // A blocking read of stdin may still be waiting for input that never
    // comes (after a failure or Ctrl-C): do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f),
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
