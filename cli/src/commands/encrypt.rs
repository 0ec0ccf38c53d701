//! `s3seal encrypt`: streams a file or stdin through the SDK's async
//! encrypting writer, with bounded memory.

use std::path::PathBuf;

use clap::Args;
use s3seal::keyspec::KeySpec;
use s3seal::stream::AsyncEncryptingWriter;
use s3seal::{AlgorithmSuite, Client, EncryptOptions};
use tokio::io::{AsyncWriteExt, BufReader};

use crate::fail::{self, CliResult, Failure, Phase};
use crate::io::{BUF, Input, Output, pump};
use crate::keys::{context_of, keyring};
use crate::values::{parse_key_spec, parse_pair, parse_suite};

pub const EXAMPLES: &str = "\
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

pub async fn encrypt(args: EncryptArgs) -> CliResult<()> {
    let ctx = context_of(&args.context)?;
    s3seal::context::check_caller_context(&ctx).map_err(|e| fail::sdk(e, Phase::Encrypt))?;
    if let Some(k) = args.required_context_keys.iter().find(|k| !ctx.contains_key(*k)) {
        return Err(Failure::usage(format!("--required-context-key {k} names no -c pair; add -c {k}=VALUE")));
    }
    if args.keys.iter().all(|k| matches!(k, KeySpec::KmsDiscovery { .. })) {
        return Err(Failure::usage(
            "kms-discovery can only decrypt; to encrypt, give --key kms:KEY (or an aes: or rsa: key)",
        ));
    }
    let keyring = keyring(&args.keys, Phase::Encrypt).await?;
    let mut input = Input::open(args.input.as_deref()).await?;
    let (writer, output) = Output::open(args.output.as_deref())?;
    if output.is_terminal_stdout() {
        return Err(Failure::usage(
            "refusing to write a binary message to a terminal; give -o FILE or redirect stdout",
        ));
    }
    let client = Client::builder(keyring).build();
    let mut opts = EncryptOptions::default()
        .with_context(ctx)
        .with_required_context_keys(args.required_context_keys.clone())
        .with_suite(args.suite)
        .with_frame_length(args.frame_size);
    if let Some(len) = input.len {
        opts = opts.with_plaintext_length(len);
    }
    let out_name = output.name.clone();
    let mut enc = AsyncEncryptingWriter::new(&client, writer, &opts)
        .await
        .map_err(|e| fail::sdk(e, Phase::Encrypt).context("cannot encrypt"))?;
    let in_name = input.name.clone();
    let mut reader = BufReader::with_capacity(BUF, &mut input.reader);
    pump(&mut reader, &mut enc, &in_name, &out_name, Phase::Encrypt).await?;
    enc.shutdown().await.map_err(|e| fail::stream(e, &format!("cannot write {out_name}"), Phase::Encrypt))?;
    input.finish_progress();
    output.commit(enc.into_inner()).await
}
