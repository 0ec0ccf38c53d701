//! The command line (clap derive), with a worked example for every command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use s3seal::keyspec::KeySpec;
use s3seal::{AlgorithmSuite, CommitmentPolicy};

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
    #[command(after_help = format!("{KEY_SPECS}\n\n{EXIT_STATUS}\n\n{}", ENCRYPT_EXAMPLES))]
    Encrypt(EncryptArgs),
    /// Decrypt an AWS Encryption SDK message (from s3seal or any ESDK).
    #[command(after_help = format!("{KEY_SPECS}\n\n{EXIT_STATUS}\n\n{}", DECRYPT_EXAMPLES))]
    Decrypt(DecryptArgs),
    /// Generate a random AES wrapping key (written with mode 0600, never over an existing file).
    #[command(after_help = KEYGEN_EXAMPLES)]
    Keygen(KeygenArgs),
    /// Print a message's header (suite, context, data keys) without any key.
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect(InspectArgs),
    /// Run the encrypting S3 proxy: S3 clients in, ciphertext to the upstream store.
    #[command(after_help = crate::proxy::PROXY_HELP)]
    Proxy(Box<crate::proxy::ProxyArgs>),
}

const ENCRYPT_EXAMPLES: &str = "\
EXAMPLES:
  # a file, under a raw AES key, with an encryption context
  s3seal keygen aes -o prod.key
  s3seal encrypt -i db.dump -o db.dump.enc --key aes:acme:prod:prod.key -c purpose=backup

  # a pipe, under a KMS key and an RSA public key (either can decrypt)
  pg_dump mydb | s3seal encrypt --key kms:alias/backups --key rsa:acme:escrow:escrow.pub.pem > mydb.enc

  # signed suite, 1 MiB frames, and a context value that is authenticated but not stored
  s3seal encrypt -i a.tar -o a.tar.enc --key aes:acme:prod:prod.key --suite 0578 \\
      --frame-size 1048576 -c tenant=t-42 --required-context-key tenant

Output files are written to a temporary file next to the target (mode 0600) and renamed on success.";

const DECRYPT_EXAMPLES: &str = "\
EXAMPLES:
  # a file; -c pairs must match the message's encryption context
  s3seal decrypt -i db.dump.enc -o db.dump --key aes:acme:prod:prod.key -c purpose=backup

  # a pipe, with whichever KMS key of account 111122223333 the message names
  s3seal decrypt --key kms-discovery:111122223333 < mydb.enc | psql mydb

  # a message made with --required-context-key tenant: supply the unstored value
  s3seal decrypt -i a.tar.enc -o a.tar --key aes:acme:prod:prod.key -c tenant=t-42

A failed decryption leaves no output file. On stdout only authenticated frames are written
(each frame is released after its tag verified; with a signed suite the last frame only after
the signature verified), and a truncated or altered message ends with exit status 1.";

const KEYGEN_EXAMPLES: &str = "\
EXAMPLES:
  s3seal keygen aes -o prod.key              # 256-bit key, base64 text, mode 0600
  s3seal keygen aes --bits 128 -o small.key
  s3seal encrypt -i f -o f.enc --key aes:acme:prod:prod.key

The file holds the key as base64 text; `--key aes:...` reads raw or base64 key files.

EXIT STATUS:
  0 success; 2 usage error (including an existing output file); 3 I/O error";

const INSPECT_EXAMPLES: &str = "\
EXAMPLES:
  s3seal inspect db.dump.enc
  s3seal inspect --json db.dump.enc | jq '.encrypted_data_keys[].key_name'
  aws s3 cp s3://bucket/obj.enc - | s3seal inspect

Nothing is verified: the header is shown as stored, without keys.

EXIT STATUS:
  0 success; 1 not a well-formed message; 3 I/O error";

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Plaintext to read: a file, or - for stdin (the default).
    #[arg(short, long, value_name = "FILE|-")]
    pub input: Option<PathBuf>,
    /// Where to write the message: a file, or - for stdout (the default).
    #[arg(short, long, value_name = "FILE|-")]
    pub output: Option<PathBuf>,
    /// A key spec (repeatable); see KEY SPECS below.
    #[arg(short = 'k', long = "key", value_name = "SPEC", required = true, value_parser = parse_key_spec)]
    pub keys: Vec<KeySpec>,
    /// An encryption context pair (repeatable): authenticated, and stored in the header.
    #[arg(short = 'c', long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub context: Vec<(String, String)>,
    /// Authenticate the -c pair with this KEY without storing it: decrypting then needs -c KEY=VALUE.
    #[arg(long = "required-context-key", value_name = "KEY")]
    pub required_context_keys: Vec<String>,
    /// Algorithm suite: 0478 (AES-256-GCM, key commitment) or 0578 (adds an ECDSA P-384 signature).
    #[arg(long, value_name = "SUITE", default_value = "0478", value_parser = parse_suite)]
    pub suite: AlgorithmSuite,
    /// Plaintext bytes per frame.
    #[arg(long = "frame-size", value_name = "BYTES", default_value_t = 65536,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub frame_size: u32,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// Message to read: a file, or - for stdin (the default).
    #[arg(short, long, value_name = "FILE|-")]
    pub input: Option<PathBuf>,
    /// Where to write the plaintext: a file, or - for stdout (the default).
    #[arg(short, long, value_name = "FILE|-")]
    pub output: Option<PathBuf>,
    /// A key spec (repeatable); see KEY SPECS below.
    #[arg(short = 'k', long = "key", value_name = "SPEC", required = true, value_parser = parse_key_spec)]
    pub keys: Vec<KeySpec>,
    /// A context pair the message must have (repeatable); also supplies values encrypted with --required-context-key.
    #[arg(short = 'c', long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub context: Vec<(String, String)>,
    /// Which algorithm suites to accept.
    #[arg(long = "commitment-policy", value_name = "POLICY", default_value = "require-encrypt-require-decrypt",
          value_parser = parse_policy)]
    pub commitment_policy: CommitmentPolicy,
    /// Refuse messages with more than N encrypted data keys.
    #[arg(long = "max-edks", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_edks: Option<u16>,
}

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

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The message: a file, or - for stdin (the default).
    #[arg(value_name = "FILE|-")]
    pub input: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn sdk_message(e: s3seal::Error) -> String {
    match e {
        s3seal::Error::InvalidParameter(m) | s3seal::Error::InvalidKey(m) => m,
        other => other.to_string(),
    }
}

fn parse_key_spec(s: &str) -> Result<KeySpec, String> {
    s.parse().map_err(sdk_message)
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some(("", _)) => Err("the key is empty (expected KEY=VALUE, e.g. -c purpose=backup)".into()),
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err("expected KEY=VALUE, e.g. -c purpose=backup".into()),
    }
}

fn parse_suite(s: &str) -> Result<AlgorithmSuite, String> {
    let hex = s.trim_start_matches("0x").trim_start_matches("0X");
    let suite = u16::from_str_radix(hex, 16)
        .ok()
        .and_then(|id| AlgorithmSuite::from_id(id).ok())
        .filter(|s| matches!(s.id(), 0x0478 | 0x0578));
    suite.ok_or_else(|| {
        "expected 0478 (AES-256-GCM with key commitment) or 0578 (the same, signed with ECDSA P-384)".into()
    })
}

fn parse_policy(s: &str) -> Result<CommitmentPolicy, String> {
    s.parse().map_err(sdk_message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn value_parsers() {
        assert_eq!(parse_pair("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_pair("a=").unwrap(), ("a".into(), String::new()));
        assert!(parse_pair("=b").is_err());
        assert!(parse_pair("ab").is_err());
        assert_eq!(parse_suite("0x0578").unwrap().id(), 0x0578);
        assert_eq!(parse_suite("0478").unwrap().id(), 0x0478);
        assert!(parse_suite("0178").is_err());
        assert!(parse_suite("zz").is_err());
        assert!(parse_policy("forbid-encrypt-allow-decrypt").is_ok());
        assert!(parse_policy("nope").unwrap_err().contains("unknown commitment policy"));
    }
}
