//! `s3seal inspect`: prints a message header as stored, without keys.

use std::path::PathBuf;

use clap::Args;
use s3seal::AlgorithmSuite;
use s3seal::message::{ContentType, Header, ParseLimits};
use s3seal::suite::{Kdf, SignatureAlgorithm};
use serde_json::json;

use crate::fail::{CliResult, Failure};
use crate::header::{EdkView, read_header};
use crate::io::Input;

pub const EXAMPLES: &str = "\
EXAMPLES:
  s3seal inspect db.dump.enc
  s3seal inspect --json db.dump.enc | jq '.encrypted_data_keys[].key_name'
  aws s3 cp s3://bucket/obj.enc - | s3seal inspect

Nothing is verified: the header is shown as stored, without keys.

EXIT STATUS:
  0 success; 1 not a well-formed message; 3 I/O error";

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The message: a file, or - for stdin (the default).
    #[arg(value_name = "FILE|-")]
    pub input: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn inspect(args: InspectArgs) -> CliResult<()> {
    let mut input = Input::open(args.input.as_deref()).await?;
    let name = input.name.clone();
    let (header, _) = read_header(&mut input.reader, &name, ParseLimits { max_encrypted_data_keys: None }).await?;
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&to_json(&header))
            .map_err(|e| Failure::io("cannot format JSON", std::io::Error::other(e)))?;
        s.push('\n');
        s
    } else {
        to_text(&header)
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| Failure::io("cannot write stdout", e))
}

/// What a suite is, in words.
fn describe_suite(suite: AlgorithmSuite) -> String {
    let mut parts = vec![format!("AES-{}-GCM", suite.data_key_len() * 8)];
    parts.push(
        match suite.kdf() {
            Kdf::Identity => "no key derivation",
            Kdf::HkdfSha256 => "HKDF-SHA256",
            Kdf::HkdfSha384 => "HKDF-SHA384",
            Kdf::HkdfSha512Committing => "HKDF-SHA512",
        }
        .to_string(),
    );
    parts.push(if suite.is_committing() { "key commitment" } else { "no key commitment" }.to_string());
    parts.push(
        match suite.signature() {
            None => "no signature",
            Some(SignatureAlgorithm::EcdsaP256Sha256) => "ECDSA P-256 signature",
            Some(SignatureAlgorithm::EcdsaP384Sha384) => "ECDSA P-384 signature",
        }
        .to_string(),
    );
    parts.join(", ")
}

fn content_type(h: &Header) -> &'static str {
    match h.content_type {
        ContentType::Framed => "framed",
        ContentType::NonFramed => "non-framed",
    }
}

fn to_text(h: &Header) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "message format version: {}", h.version);
    let _ = writeln!(s, "algorithm suite:        {} ({})", h.suite, describe_suite(h.suite));
    let _ = writeln!(s, "message id:             {}", hex::encode(&h.message_id));
    let _ = writeln!(s, "content type:           {}", content_type(h));
    let _ = writeln!(s, "frame length:           {}", h.frame_length);
    let _ = writeln!(s, "header length:          {}", h.len());
    let user_ctx: Vec<_> =
        h.encryption_context.iter().filter(|(k, _)| !k.starts_with(s3seal::context::RESERVED_PREFIX)).collect();
    if user_ctx.is_empty() {
        let _ = writeln!(s, "encryption context:     (none stored)");
    } else {
        let _ = writeln!(s, "encryption context:");
        for (k, v) in &user_ctx {
            let _ = writeln!(s, "  {k} = {v}");
        }
    }
    for (k, v) in h.encryption_context.iter().filter(|(k, _)| k.starts_with(s3seal::context::RESERVED_PREFIX)) {
        let _ = writeln!(s, "reserved context:       {k} = {v}");
    }
    let _ = writeln!(s, "encrypted data keys:    {}", h.encrypted_data_keys.len());
    for edk in &h.encrypted_data_keys {
        let v = EdkView::of(edk);
        let _ = writeln!(
            s,
            "  {}  (provider {:?}, key {:?}, {} wrapped bytes)",
            v.spec, v.provider, v.key_name, v.wrapped_len
        );
    }
    let _ = writeln!(s, "(header shown as stored: nothing was verified)");
    s
}

fn to_json(h: &Header) -> serde_json::Value {
    let edks: Vec<_> = h
        .encrypted_data_keys
        .iter()
        .map(|edk| {
            let v = EdkView::of(edk);
            json!({
                "provider_id": v.provider,
                "key_name": v.key_name,
                "key_spec": v.spec,
                "wrapped_key_length": v.wrapped_len,
            })
        })
        .collect();
    json!({
        "version": h.version,
        "algorithm_suite": format!("{}", h.suite),
        "algorithm_suite_id": h.suite.id(),
        "algorithm_suite_description": describe_suite(h.suite),
        "signed": h.suite.signature().is_some(),
        "key_commitment": h.suite.is_committing(),
        "message_id": hex::encode(&h.message_id),
        "content_type": content_type(h),
        "frame_length": h.frame_length,
        "header_length": h.len(),
        "encryption_context": h.encryption_context,
        "encrypted_data_keys": edks,
        "verified": false,
    })
}
