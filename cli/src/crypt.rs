//! `s3seal encrypt` and `s3seal decrypt`: streams through the SDK's async
//! encrypting writer and decrypting reader, with bounded memory.

use std::sync::Arc;

use s3seal::keyring::Keyring;
use s3seal::keyring::kms::PROVIDER_ID as KMS_PROVIDER;
use s3seal::keyring::raw_aes::key_name_of;
use s3seal::keyspec::KeySpec;
use s3seal::materials::EncryptedDataKey;
use s3seal::message::{Header, ParseLimits};
use s3seal::stream::{AsyncDecryptingReader, AsyncEncryptingWriter};
use s3seal::{Client, EncryptOptions, EncryptionContext};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::args::{DecryptArgs, EncryptArgs};
use crate::fail::{self, CliResult, Failure, Phase};
use crate::inspect;
use crate::io::{BUF, DynRead, Input, Output, PrefixError, read_prefix};

/// Headers larger than this are refused before any key is used.
const MAX_HEADER: usize = 16 * 1024 * 1024;

/// Builds the keyring of `specs`; the AWS configuration is loaded only when
/// a spec needs KMS.
async fn keyring(specs: &[KeySpec], phase: Phase) -> CliResult<Arc<dyn Keyring>> {
    let region = specs.iter().find_map(KeySpec::kms_region);
    s3seal::keyspec::keyring_from_specs(specs, || kms_client(region))
        .await
        .map_err(|e| fail::sdk(e, phase).context("cannot use the given --key"))
}

/// A KMS client from the standard AWS chain (environment, profiles, SSO,
/// IMDS; `AWS_ENDPOINT_URL_KMS`); the region of a key ARN when the chain
/// names none.
async fn kms_client(fallback_region: Option<String>) -> aws_sdk_kms::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let mut builder = aws_sdk_kms::config::Builder::from(&config);
    if config.region().is_none()
        && let Some(region) = fallback_region
    {
        builder = builder.region(aws_sdk_kms::config::Region::new(region));
    }
    aws_sdk_kms::Client::from_conf(builder.build())
}

fn context_of(pairs: &[(String, String)]) -> CliResult<EncryptionContext> {
    let mut ctx = EncryptionContext::new();
    for (k, v) in pairs {
        if let Some(old) = ctx.insert(k.clone(), v.clone())
            && old != *v
        {
            return Err(Failure::usage(format!("-c {k}= is given twice, with different values ({old:?} and {v:?})")));
        }
    }
    Ok(ctx)
}

/// Copies `reader` to `writer`, telling read failures (classified as
/// `phase` errors: a decrypting reader reports verification failures)
/// from write failures.
async fn pump<R, W>(reader: &mut R, writer: &mut W, input: &str, output: &str, phase: Phase) -> CliResult<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| fail::stream(e, &format!("cannot read {input}"), phase))?;
        if n == 0 {
            return Ok(total);
        }
        writer.write_all(&buf[..n]).await.map_err(|e| fail::stream(e, &format!("cannot write {output}"), phase))?;
        total += n as u64;
    }
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
    let header = read_header(&mut input.reader, &in_name, client.parse_limits()).await?;
    let (header, prefix) = header;
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

/// Reads a message header from `reader`; returns it and every byte read.
pub async fn read_header(reader: &mut DynRead, name: &str, limits: ParseLimits) -> CliResult<(Header, Vec<u8>)> {
    let not_message =
        |f: Failure| f.hint(format!("is {name} an encrypted message? `s3seal inspect` shows what it holds"));
    match read_prefix(reader, MAX_HEADER, |buf| Header::parse(buf, limits)).await {
        Ok((Some((header, _)), bytes)) => Ok((header, bytes)),
        Ok((None, bytes)) if bytes.is_empty() => {
            Err(Failure::new(fail::Code::Verify, anyhow::anyhow!("{name} is empty: not an encrypted message")))
        }
        Ok((None, bytes)) => Err(not_message(Failure::new(
            fail::Code::Verify,
            anyhow::anyhow!(
                "{name} ends inside the message header (after {} bytes): truncated or not a message",
                bytes.len()
            ),
        ))),
        Err(PrefixError::Io(e)) => Err(Failure::io(format!("cannot read {name}"), e)),
        Err(PrefixError::Sdk(e)) => {
            let malformed = matches!(e, s3seal::Error::Malformed(_) | s3seal::Error::UnsupportedSuite(_));
            let f = fail::sdk(e, Phase::Decrypt).context(name.to_string());
            Err(if malformed { not_message(f) } else { f })
        }
        Err(PrefixError::TooBig(n)) => Err(Failure::new(
            fail::Code::Verify,
            anyhow::anyhow!("{name}: no complete message header in the first {n} bytes (limit {MAX_HEADER})"),
        )),
    }
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
    let context_hints = |mut f: Failure| {
        let unstored: Vec<&str> =
            ctx.keys().filter(|k| !header.encryption_context.contains_key(*k)).map(String::as_str).collect();
        if unstored.is_empty() {
            f = f.hint(
                "if the message was encrypted with --required-context-key, give those pairs with -c KEY=VALUE \
                 (they are not stored in the message)",
            );
        } else {
            f = f.hint(format!(
                "the message stores no value for {}: such -c pairs are authenticated as unstored context and \
                 must be exactly those the message was encrypted with (drop any it was not encrypted with)",
                unstored.join(", ")
            ));
        }
        f
    };
    match f.error.downcast_ref::<s3seal::Error>() {
        Some(s3seal::Error::NoDecryptableKey(_)) => {
            let named = header.encrypted_data_keys.iter().any(|edk| specs.iter().any(|s| names(s, edk)));
            if named {
                f = f.hint(
                    "a --key names a key this message was encrypted for, but it did not unwrap the data key: \
                     the key material differs, or so does the encryption context",
                );
                f = context_hints(f);
            } else {
                let wanted: Vec<String> = header.encrypted_data_keys.iter().map(inspect::edk_spec).collect();
                f = f.hint(format!(
                    "give --key for one of the keys the message was encrypted for: {}",
                    wanted.join(", ")
                ));
            }
        }
        Some(s3seal::Error::EncryptionContext(_)) => {
            f = f.hint(format!("`s3seal inspect {name}` shows the encryption context stored in the message"));
        }
        Some(s3seal::Error::Authentication(_)) if f.hints.is_empty() => f = context_hints(f),
        _ => {}
    }
    f.context(format!("cannot decrypt {name}"))
}
