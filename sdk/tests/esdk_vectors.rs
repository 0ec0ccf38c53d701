//! Decrypts every official AWS Encryption SDK vector in
//! `../shared/testvectors/aws-esdk/` and compares with the expected
//! plaintext, through the one-shot API, the `std::io` reader and the Tokio
//! reader, on both AEAD backends.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use s3seal::keyring::{Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding};
use s3seal::stream::{AsyncDecryptingReader, DecryptingReader};
use s3seal::{Backend, Client, CommitmentPolicy, EncryptionContext};
use serde_json::Value;
use tokio::io::AsyncReadExt;

fn vectors_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("S3SEAL_ESDK_VECTORS") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testvectors/aws-esdk");
    p.join("decrypt-manifest.json").exists().then_some(p)
}

fn file_uri(dir: &Path, uri: &str) -> Vec<u8> {
    let rel = uri.strip_prefix("file://").expect("file:// uri");
    std::fs::read(dir.join(rel)).expect("vector file")
}

fn keyring(desc: &Value, keys: &Value) -> Arc<dyn Keyring> {
    match desc["type"].as_str().expect("type") {
        "raw" => {
            let key = &keys[desc["key"].as_str().expect("key")];
            let ns = desc["provider-id"].as_str().expect("provider-id");
            let name = key["key-id"].as_str().expect("key-id");
            let material = key["material"].as_str().expect("material");
            match desc["encryption-algorithm"].as_str().expect("alg") {
                "aes" => {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(material).expect("b64");
                    Arc::new(RawAesKeyring::new(ns, name, &bytes).expect("aes keyring"))
                }
                "rsa" => {
                    let padding = match (desc["padding-algorithm"].as_str(), desc["padding-hash"].as_str()) {
                        (Some("pkcs1"), _) => RsaPadding::Pkcs1,
                        (Some("oaep-mgf1"), Some("sha1")) => RsaPadding::OaepSha1,
                        (Some("oaep-mgf1"), Some("sha256")) => RsaPadding::OaepSha256,
                        (Some("oaep-mgf1"), Some("sha384")) => RsaPadding::OaepSha384,
                        (Some("oaep-mgf1"), Some("sha512")) => RsaPadding::OaepSha512,
                        other => panic!("unknown padding {other:?}"),
                    };
                    Arc::new(RawRsaKeyring::from_pem(ns, name, material.as_bytes(), padding).expect("rsa keyring"))
                }
                other => panic!("unknown raw algorithm {other}"),
            }
        }
        "multi-keyring" => {
            let generator = desc.get("generator").filter(|g| !g.is_null()).map(|g| keyring(g, keys));
            let children = desc["childKeyrings"]
                .as_array()
                .map(|c| c.iter().map(|k| keyring(k, keys)).collect())
                .unwrap_or_default();
            Arc::new(MultiKeyring::new(generator, children).expect("multi"))
        }
        "required-encryption-context-cmm" => keyring(&desc["underlying"], keys),
        other => panic!("unknown key description type {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_official_decrypt_vectors() {
    let Some(dir) = vectors_dir() else {
        eprintln!(
            "\n\n!!! SKIPPING the AWS Encryption SDK vectors: ../shared/testvectors/aws-esdk is absent (set S3SEAL_ESDK_VECTORS) !!!\n"
        );
        return;
    };
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("decrypt-manifest.json")).unwrap()).unwrap();
    let keys: Value = serde_json::from_slice(&std::fs::read(dir.join("keys.json")).unwrap()).unwrap();
    let keys = &keys["keys"];
    let tests = manifest["tests"].as_object().expect("tests");
    assert_eq!(tests.len(), 187, "the vector set changed");
    let mut passed = 0;
    let mut suites = BTreeMap::new();
    for (name, t) in tests {
        let s = &t["decryption-scenario"];
        let ct = file_uri(&dir, s["ciphertext"].as_str().unwrap());
        let expected = file_uri(&dir, s["result"].as_str().unwrap());
        let reproduced: EncryptionContext =
            serde_json::from_value(s["reproduced-encryption-context"].clone()).unwrap_or_default();
        let kr = keyring(&s["decryptKeyDescription"], keys);
        for backend in Backend::ALL {
            let client = Client::builder(kr.clone())
                .commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
                .backend(backend)
                .build();
            let out = client.decrypt(&ct, &reproduced).await.unwrap_or_else(|e| panic!("{name} ({backend}): {e}"));
            assert_eq!(out.plaintext, expected, "{name}");
            assert_eq!(format!("{:04x}", out.header.suite.id()), s["algorithmSuiteId"].as_str().unwrap());

            // The async reader, in small reads.
            let mut r = AsyncDecryptingReader::new(&client, &ct[..], &reproduced).await.unwrap();
            let mut got = Vec::new();
            let mut small = [0u8; 333];
            loop {
                let n = r.read(&mut small).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&small[..n]);
            }
            assert_eq!(got, expected, "{name} async");

            // The committing-only default policy refuses legacy suites up front.
            let strict = Client::builder(kr.clone()).backend(backend).build();
            let r = strict.decrypt(&ct, &reproduced).await;
            assert_eq!(r.is_ok(), out.header.suite.is_committing(), "{name} strict policy");
        }
        // The blocking reader, on a plain thread.
        let client =
            Client::builder(kr.clone()).commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt).build();
        let ct2 = ct.clone();
        let reproduced2 = reproduced.clone();
        let got = tokio::task::spawn_blocking(move || {
            let mut r = DecryptingReader::new(&client, &ct2[..], &reproduced2).unwrap();
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        })
        .await
        .unwrap();
        assert_eq!(got, expected, "{name} blocking");
        *suites.entry(s["algorithmSuiteId"].as_str().unwrap().to_string()).or_insert(0) += 1;
        passed += 1;
    }
    assert_eq!(passed, 187);
    assert_eq!(suites.len(), 11, "all 11 suites covered: {suites:?}");
    eprintln!("decrypted {passed} official vectors across suites {suites:?}");
}
