//! `s3seal inspect`: prints a message header as stored, without keys.

use s3seal::AlgorithmSuite;
use s3seal::keyring::kms::PROVIDER_ID as KMS_PROVIDER;
use s3seal::keyring::raw_aes::key_name_of;
use s3seal::materials::EncryptedDataKey;
use s3seal::message::{ContentType, Header, ParseLimits};
use s3seal::suite::{Kdf, SignatureAlgorithm};
use serde_json::json;

use crate::args::InspectArgs;
use crate::crypt::read_header;
use crate::fail::{CliResult, Failure};
use crate::io::Input;

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
pub fn describe_suite(suite: AlgorithmSuite) -> String {
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

struct EdkView {
    provider: String,
    key_name: String,
    /// The key spec a user would write to decrypt it (without the key file).
    spec: String,
    wrapped_len: usize,
}

fn view(edk: &EncryptedDataKey) -> EdkView {
    let provider = String::from_utf8_lossy(&edk.provider_id).into_owned();
    let (key_name, spec) = if provider == KMS_PROVIDER {
        let arn = String::from_utf8_lossy(&edk.provider_info).into_owned();
        (arn.clone(), format!("kms:{arn}"))
    } else if let Some(name) = key_name_of(&edk.provider_info) {
        let name = String::from_utf8_lossy(name).into_owned();
        (name.clone(), format!("aes:{provider}:{name}"))
    } else {
        let name = String::from_utf8_lossy(&edk.provider_info).into_owned();
        (name.clone(), format!("rsa:{provider}:{name}"))
    };
    EdkView { provider, key_name, spec, wrapped_len: edk.ciphertext.len() }
}

/// The key spec (without key file) that names the key of `edk`.
pub fn edk_spec(edk: &EncryptedDataKey) -> String {
    view(edk).spec
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
        let v = view(edk);
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
            let v = view(edk);
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
