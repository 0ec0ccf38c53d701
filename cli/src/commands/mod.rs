//! The command line (clap derive) and its dispatch: one module per
//! command, each with its flags, a worked example and its handler.

mod decrypt;
mod encrypt;
mod inspect;
mod keygen;
mod proxy;

use clap::{Parser, Subcommand};

use crate::fail::{CliResult, Code, Failure};

const KEY_SPECS: &str = "\
KEY SPECS (--key, repeatable; several make a multi-keyring whose first key generates the data key):
  aes:NAMESPACE:NAME:PATH            raw AES key file (16, 24 or 32 bytes, raw or base64 text)
  rsa:NAMESPACE:NAME:PATH[:PADDING]  RSA PEM file: public key to encrypt, private key to decrypt;
                                     PADDING: oaep-sha256 (default), oaep-sha1, oaep-sha384,
                                     oaep-sha512, pkcs1
  kms:KEY                            AWS KMS key id, alias/NAME or ARN (decrypting needs the key ARN)
  kms-discovery[:ACCOUNT,...]        decrypt with any KMS key the credentials may use
  AWS KMS settings come from the standard AWS chain: AWS_REGION, AWS_PROFILE, credentials,
  AWS_ENDPOINT_URL_KMS (or AWS_ENDPOINT_URL) for another endpoint.";

const EXIT_STATUS: &str = "\
EXIT STATUS:
  0 success; 1 decryption or verification failure; 2 usage error; 3 I/O error (files, pipes, AWS KMS)";

#[derive(Debug, Parser)]
#[command(
    name = "s3seal",
    version,
    about = "Client-side envelope encryption: AWS Encryption SDK messages for files and pipes",
    long_about = "Client-side envelope encryption: encrypts files and pipes into AWS Encryption SDK \
                  messages (readable by every official ESDK and the aws-encryption-cli), decrypts \
                  them, generates keys and inspects message headers.",
    after_help = "EXAMPLE:
  s3seal keygen aes -o prod.key
  s3seal encrypt -i report.pdf -o report.pdf.enc --key aes:acme:prod:prod.key -c purpose=backup
  s3seal decrypt -i report.pdf.enc -o report.pdf --key aes:acme:prod:prod.key -c purpose=backup

EXIT STATUS:
  0 success; 1 decryption or verification failure; 2 usage error; 3 I/O error"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt a file or stdin into an AWS Encryption SDK message.
    #[command(after_help = format!("{KEY_SPECS}\n\n{EXIT_STATUS}\n\n{}", encrypt::EXAMPLES))]
    Encrypt(encrypt::EncryptArgs),
    /// Decrypt an AWS Encryption SDK message (from s3seal or any ESDK).
    #[command(after_help = format!("{KEY_SPECS}\n\n{EXIT_STATUS}\n\n{}", decrypt::EXAMPLES))]
    Decrypt(decrypt::DecryptArgs),
    /// Generate a random AES wrapping key (written with mode 0600, never over an existing file).
    #[command(after_help = keygen::EXAMPLES)]
    Keygen(keygen::KeygenArgs),
    /// Print a message's header (suite, context, data keys) without any key.
    #[command(after_help = inspect::EXAMPLES)]
    Inspect(inspect::InspectArgs),
    /// Run the encrypting S3 proxy: S3 clients in, ciphertext to the upstream store.
    #[command(after_help = proxy::PROXY_HELP)]
    Proxy(Box<proxy::ProxyArgs>),
}

/// Runs the command of `cli`.
pub async fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Encrypt(a) => interruptible(encrypt::encrypt(a)).await,
        Command::Decrypt(a) => interruptible(decrypt::decrypt(a)).await,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
