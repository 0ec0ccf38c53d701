//! `s3seal decrypt`: streams a message through the SDK's async decrypting
//! reader, with bounded memory; failures are explained with the message's
//! header (which keys, which context).

use std::path::PathBuf;

use clap::Args;
use s3seal::keyring::kms::PROVIDER_ID as KMS_PROVIDER;
use s3seal::keyring::raw_aes::key_name_of;
use s3seal::keyspec::KeySpec;
use s3seal::materials::EncryptedDataKey;
use s3seal::message::Header;
use s3seal::stream::AsyncDecryptingReader;
use s3seal::{Client, CommitmentPolicy, EncryptionContext};
use tokio::io::{AsyncReadExt, BufReader};

use crate::fail::{self, CliResult, Failure, Phase};
use crate::header::{EdkView, read_header};
use crate::io::{BUF, Input, Output, pump};
use crate::keys::{context_of, keyring};
use crate::values::{parse_key_spec, parse_pair, parse_policy};

pub const EXAMPLES: &str = "\
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

pub async fn decrypt(args: DecryptArgs) -> CliResult<()> {
    let ctx = context_of(&args.context)?;
    let keyring = keyring(&args.keys, Phase::Decrypt).await?;
    let mut builder = Client::builder(keyring).commitment_policy(args.commitment_policy);
    if let Some(n) = args.max_edks {
        builder = builder.max_encrypted_data_keys(usize::from(n));
    }
    let client = builder.build();
    let mut input = Input::open(args.input.as_deref()).await?;
    let in_name = input.name.clone();

    // Read the header first (it is read again, from these bytes, by the
    // decrypting reader) so that failures can be explained with it.
    let (header, prefix) = read_header(&mut input.reader, &in_name, client.parse_limits()).await?;
    let (mut writer, output) = Output::open(args.output.as_deref())?;
    let out_name = output.name.clone();
    let replay = std::io::Cursor::new(prefix).chain(BufReader::with_capacity(BUF, &mut input.reader));
    let mut reader = AsyncDecryptingReader::new(&client, replay, &ctx)
        .await
        .map_err(|e| explain(fail::sdk(e, Phase::Decrypt), &header, &args.keys, &ctx, &in_name))?;
    pump(&mut reader, &mut writer, &in_name, &out_name, Phase::Decrypt)
        .await
        .map_err(|f| explain(f, &header, &args.keys, &ctx, &in_name))?;
    input.finish_progress();
    output.commit(writer).await
}

/// True when `spec` names the key that made `edk`.
fn names(spec: &KeySpec, edk: &EncryptedDataKey) -> bool {
    match spec {
        KeySpec::Aes { namespace, name, .. } => {
            edk.provider_id == namespace.as_bytes() && key_name_of(&edk.provider_info) == Some(name.as_bytes())
        }
        KeySpec::Rsa { namespace, name, .. } => {
            edk.provider_id == namespace.as_bytes() && edk.provider_info == name.as_bytes()
        }
        KeySpec::Kms { key_id } => edk.provider_id == KMS_PROVIDER.as_bytes() && edk.provider_info == key_id.as_bytes(),
        KeySpec::KmsDiscovery { .. } => edk.provider_id == KMS_PROVIDER.as_bytes(),
        _ => false,
    }
}

/// Adds hints (which keys, which context) to a decryption failure.
fn explain(mut f: Failure, header: &Header, specs: &[KeySpec], ctx: &EncryptionContext, name: &str) -> Failure {
    if f.code != fail::Code::Verify {
        return f;
    }
    match f.error.downcast_ref::<s3seal::Error>() {
        Some(s3seal::Error::NoDecryptableKey(_)) => {
            let named = header.encrypted_data_keys.iter().any(|edk| specs.iter().any(|s| names(s, edk)));
            if named {
                f = f.hint(
                    "a --key names a key this message was encrypted for, but it did not unwrap the data key: \
                     the key material differs, or so does the encryption context",
                );
                f = context_hints(f, header, ctx);
            } else {
                let wanted: Vec<String> = header.encrypted_data_keys.iter().map(|edk| EdkView::of(edk).spec).collect();
                f = f.hint(format!(
                    "give --key for one of the keys the message was encrypted for: {}",
                    wanted.join(", ")
                ));
            }
        }
        Some(s3seal::Error::EncryptionContext(_)) => {
            f = f.hint(format!("`s3seal inspect {name}` shows the encryption context stored in the message"));
        }
        Some(s3seal::Error::Authentication(_)) if f.hints.is_empty() => f = context_hints(f, header, ctx),
        _ => {}
    }
    f.context(format!("cannot decrypt {name}"))
}

/// Adds a hint on the context pairs the message stores no value for (or,
/// with none, on required context keys) to `f`.
fn context_hints(f: Failure, header: &Header, ctx: &EncryptionContext) -> Failure {
    let unstored: Vec<&str> =
        ctx.keys().filter(|k| !header.encryption_context.contains_key(*k)).map(String::as_str).collect();
    if unstored.is_empty() {
        f.hint(
            "if the message was encrypted with --required-context-key, give those pairs with -c KEY=VALUE \
             (they are not stored in the message)",
        )
    } else {
        f.hint(format!(
            "the message stores no value for {}: such -c pairs are authenticated as unstored context and \
             must be exactly those the message was encrypted with (drop any it was not encrypted with)",
            unstored.join(", ")
        ))
    }
}
