//! `s3seal keygen aes`: a random AES wrapping key, as base64 text, in a new
//! file with mode 0600.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine;
use clap::{Args, ValueEnum};
use zeroize::Zeroizing;

use crate::fail::{self, CliResult, Failure, Phase};

pub const EXAMPLES: &str = "\
EXAMPLES:
  s3seal keygen aes -o prod.key              # 256-bit key, base64 text, mode 0600
  s3seal keygen aes --bits 128 -o small.key
  s3seal encrypt -i f -o f.enc --key aes:acme:prod:prod.key

The file holds the key as base64 text; `--key aes:...` reads raw or base64 key files.

EXIT STATUS:
  0 success; 2 usage error (including an existing output file); 3 I/O error";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyKind {
    /// A raw AES wrapping key (for `--key aes:NAMESPACE:NAME:PATH`).
    Aes,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The kind of key.
    #[arg(value_enum)]
    pub kind: KeyKind,
    /// Key size in bits.
    #[arg(long, default_value = "256", value_parser = ["128", "192", "256"])]
    pub bits: String,
    /// The key file to create (refused if it exists).
    #[arg(short, long, value_name = "FILE", required = true)]
    pub output: PathBuf,
}

pub fn keygen(args: KeygenArgs) -> CliResult<()> {
    let KeyKind::Aes = args.kind;
    let bytes = match args.bits.as_str() {
        "128" => 16,
        "192" => 24,
        _ => 32,
    };
    // The SDK's random source; the key is zeroized when dropped.
    let key = s3seal::materials::DataKey::generate(bytes).map_err(|e| fail::sdk(e, Phase::Encrypt))?;
    let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.as_bytes()));
    let path = &args.output;
    let name = path.display().to_string();

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::usage(format!(
                "{name} already exists; refusing to overwrite a key file (choose another -o path, or remove it first)"
            )));
        }
        Err(e) => return Err(Failure::io(format!("cannot create key file {name}"), e)),
    };
    let written = file.write_all(text.as_bytes()).and_then(|()| file.write_all(b"\n")).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(Failure::io(format!("cannot write key file {name}"), e));
    }
    // A closed stderr must not turn a written key into a panic.
    let _ = writeln!(
        std::io::stderr(),
        "s3seal: wrote a {}-bit AES key to {name} (mode 0600); use it as --key aes:NAMESPACE:NAME:{name}",
        bytes * 8
    );
    Ok(())
}
