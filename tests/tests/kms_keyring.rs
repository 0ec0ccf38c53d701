//! The AWS KMS keyrings against a real moto server (which enforces the KMS
//! encryption context). Needs `tests/setup-python.sh` to have run.

use std::sync::Arc;

use anyhow::{Context, Result};
use s3seal::keyring::{Keyring, KmsDiscoveryKeyring, KmsKeyring, MultiKeyring, RawAesKeyring, kms::PROVIDER_ID};
use s3seal::materials::{DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use s3seal::{AlgorithmSuite, EncryptionContext, Error, ErrorKind, KmsErrorKind};
use s3seal_tests::moto::{self, MOTO_ACCOUNT, MotoServer};

const SUITE: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;

/// A KMS key made on the server: (key id, key ARN).
async fn create_key(kms: &aws_sdk_kms::Client) -> Result<(String, String)> {
    let out = kms.create_key().send().await.context("CreateKey")?;
    let meta = out.key_metadata().context("CreateKey returned no metadata")?;
    let arn = meta.arn().context("CreateKey returned no ARN")?.to_string();
    Ok((meta.key_id().to_string(), arn))
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn enc_materials(c: &EncryptionContext) -> EncryptionMaterials {
    EncryptionMaterials::new(SUITE, c.clone())
}

fn dec_materials(c: &EncryptionContext) -> DecryptionMaterials {
    DecryptionMaterials::new(SUITE, c.clone())
}

fn edk_arn(edk: &EncryptedDataKey) -> String {
    String::from_utf8_lossy(&edk.provider_info).into_owned()
}

#[tokio::test]
async fn generate_then_encrypt_then_decrypt() -> Result<()> {
    let server = MotoServer::start()?;
    let kms = server.kms_client().await;
    let (_, arn_a) = create_key(&kms).await?;
    let (id_b, arn_b) = create_key(&kms).await?;
    let c = ctx(&[("bucket", "photos"), ("purpose", "test")]);

    // No data key yet: GenerateDataKey.
    let a = KmsKeyring::new(kms.clone(), &arn_a);
    let m = a.on_encrypt(enc_materials(&c)).await?;
    let dk = m.data_key.clone().context("no data key generated")?;
    assert_eq!(dk.as_bytes().len(), SUITE.data_key_len());
    assert_eq!(m.encrypted_data_keys.len(), 1);
    let edk_a = m.encrypted_data_keys[0].clone();
    assert_eq!(edk_a.provider_id, PROVIDER_ID.as_bytes());
    assert_eq!(edk_arn(&edk_a), arn_a);
    assert!(!edk_a.ciphertext.is_empty());

    // A data key exists: Encrypt, under a keyring naming its key by key id.
    let b = KmsKeyring::new(kms.clone(), &id_b);
    let m = b.on_encrypt(m).await?;
    assert_eq!(m.encrypted_data_keys.len(), 2);
    assert_eq!(
        m.data_key.as_ref().map(|k| k.as_bytes().to_vec()),
        Some(dk.as_bytes().to_vec()),
        "Encrypt must not change the data key"
    );
    let edk_b = m.encrypted_data_keys[1].clone();
    assert_eq!(edk_b.provider_id, PROVIDER_ID.as_bytes());
    assert_eq!(edk_arn(&edk_b), arn_b, "provider info is the ARN KMS returned");

    // Both unwrap to the same key, each with its own keyring (by ARN).
    let edks = m.encrypted_data_keys.clone();
    for arn in [&arn_a, &arn_b] {
        let got = KmsKeyring::new(kms.clone(), arn).on_decrypt(dec_materials(&c), &edks).await?;
        assert_eq!(got.data_key.as_ref().map(|k| k.as_bytes()), Some(dk.as_bytes()));
    }

    // An EDK for another key is skipped (no KMS call), and nothing else
    // matches: "no decryptable key", not a KMS error.
    let err = KmsKeyring::new(kms.clone(), &arn_b)
        .on_decrypt(dec_materials(&c), std::slice::from_ref(&edk_a))
        .await
        .expect_err("key B cannot decrypt an EDK for key A");
    assert!(matches!(err, Error::NoDecryptableKey(_)), "{err:?}");
    assert!(!err.to_string().contains("Decrypt failed"), "{err}");

    // Materials that already hold a key are refused.
    let mut full = dec_materials(&c);
    full.data_key = Some(dk.clone());
    assert!(a.on_decrypt(full, &edks).await.is_err());

    // Non-KMS EDKs are ignored; an aws-kms EDK whose provider info is not a
    // key ARN fails decryption, as the ESDK requires.
    let junk = EncryptedDataKey { provider_id: b"other".to_vec(), provider_info: b"x".to_vec(), ciphertext: vec![1] };
    let got = a.on_decrypt(dec_materials(&c), &[junk, edk_a.clone()]).await?;
    assert!(got.data_key.is_some());
    let bad = EncryptedDataKey {
        provider_id: PROVIDER_ID.as_bytes().to_vec(),
        provider_info: b"alias/nope".to_vec(),
        ciphertext: vec![1],
    };
    let err = a.on_decrypt(dec_materials(&c), &[bad]).await.expect_err("invalid ARN");
    assert!(err.to_string().contains("not a KMS key ARN"), "{err}");
    Ok(())
}

#[tokio::test]
async fn key_by_id_arn_and_alias() -> Result<()> {
    let server = MotoServer::start()?;
    let kms = server.kms_client().await;
    let (id, arn) = create_key(&kms).await?;
    kms.create_alias().alias_name("alias/s3seal-test").target_key_id(&id).send().await.context("CreateAlias")?;
    let alias_arn = format!("arn:aws:kms:{}:{MOTO_ACCOUNT}:alias/s3seal-test", moto::REGION);
    let c = ctx(&[("k", "v")]);
    let decryptor = KmsKeyring::new(kms.clone(), &arn);

    for name in [id.as_str(), arn.as_str(), "alias/s3seal-test", &alias_arn] {
        let k = KmsKeyring::new(kms.clone(), name);
        assert_eq!(k.describe(), format!("kms:{name}"));
        // Both paths: GenerateDataKey, then Encrypt of that key.
        let m = k.on_encrypt(enc_materials(&c)).await?;
        let m = k.on_encrypt(m).await?;
        assert_eq!(m.encrypted_data_keys.len(), 2);
        for edk in &m.encrypted_data_keys {
            assert_eq!(edk_arn(edk), arn, "{name}: provider info must be the key ARN");
            let got = decryptor.on_decrypt(dec_materials(&c), std::slice::from_ref(edk)).await?;
            assert_eq!(
                got.data_key.as_ref().map(|d| d.as_bytes()),
                m.data_key.as_ref().map(|d| d.as_bytes()),
                "{name}"
            );
        }
    }

    // A keyring naming its key by id cannot decrypt (the ESDK matches the
    // ARN in the message exactly), and says why.
    let m = decryptor.on_encrypt(enc_materials(&c)).await?;
    let err = KmsKeyring::new(kms.clone(), &id)
        .on_decrypt(dec_materials(&c), &m.encrypted_data_keys)
        .await
        .expect_err("a key id does not match an ARN");
    assert!(err.to_string().contains("configure the key ARN"), "{err}");

    // A key that does not exist, and a malformed ARN.
    let err = KmsKeyring::new(kms.clone(), "alias/no-such-alias")
        .on_encrypt(enc_materials(&c))
        .await
        .expect_err("unknown alias");
    assert!(matches!(&err, Error::Kms { operation: "GenerateDataKey", kind: KmsErrorKind::NotFound, .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::KeyRefused);
    assert!(err.to_string().contains("not found"), "{err}");
    let err =
        KmsKeyring::new(kms.clone(), "arn:aws:kms:bad").on_encrypt(enc_materials(&c)).await.expect_err("malformed ARN");
    assert!(matches!(err, Error::InvalidKey(_)), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn wrong_encryption_context_fails_clearly() -> Result<()> {
    let server = MotoServer::start()?;
    let kms = server.kms_client().await;
    let (_, arn) = create_key(&kms).await?;
    let k = KmsKeyring::new(kms.clone(), &arn);
    let m = k.on_encrypt(enc_materials(&ctx(&[("bucket", "a")]))).await?;
    for wrong in [ctx(&[("bucket", "b")]), ctx(&[]), ctx(&[("bucket", "a"), ("x", "y")])] {
        let err = k
            .on_decrypt(dec_materials(&wrong), &m.encrypted_data_keys)
            .await
            .expect_err("KMS must refuse another encryption context");
        assert!(matches!(err, Error::NoDecryptableKey(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("encryption context"), "{msg}");
        assert!(msg.contains(&arn), "{msg}");
    }
    // The discovery keyring fails the same way.
    let err = KmsDiscoveryKeyring::new(kms.clone())
        .on_decrypt(dec_materials(&ctx(&[("bucket", "b")])), &m.encrypted_data_keys)
        .await
        .expect_err("wrong context");
    assert!(err.to_string().contains("encryption context"), "{err}");
    Ok(())
}

#[tokio::test]
async fn discovery_keyring() -> Result<()> {
    let server = MotoServer::start()?;
    let kms = server.kms_client().await;
    let (_, arn_a) = create_key(&kms).await?;
    let (_, arn_b) = create_key(&kms).await?;
    let c = ctx(&[("tenant", "acme")]);
    let m = KmsKeyring::new(kms.clone(), &arn_a).on_encrypt(enc_materials(&c)).await?;
    let m = KmsKeyring::new(kms.clone(), &arn_b).on_encrypt(m).await?;
    let dk = m.data_key.clone().context("no data key")?;

    // No filter, and a filter that allows moto's account.
    for d in [
        KmsDiscoveryKeyring::new(kms.clone()),
        KmsDiscoveryKeyring::new(kms.clone()).with_filter("aws", [MOTO_ACCOUNT, "111122223333"]),
    ] {
        let got = d.on_decrypt(dec_materials(&c), &m.encrypted_data_keys).await?;
        assert_eq!(got.data_key.as_ref().map(|k| k.as_bytes()), Some(dk.as_bytes()));
        // Each EDK alone works too (the ARN in the message is used as KeyId).
        let got = d.on_decrypt(dec_materials(&c), &m.encrypted_data_keys[1..]).await?;
        assert!(got.data_key.is_some());
    }
    assert_eq!(KmsDiscoveryKeyring::new(kms.clone()).describe(), "kms-discovery");

    // A filter that excludes moto's account, or its partition, refuses.
    for (d, why) in [
        (KmsDiscoveryKeyring::new(kms.clone()).with_filter("aws", ["111122223333"]), "account 123456789012"),
        (KmsDiscoveryKeyring::new(kms.clone()).with_filter("aws-cn", [MOTO_ACCOUNT]), "partition"),
    ] {
        let err = d.on_decrypt(dec_materials(&c), &m.encrypted_data_keys).await.expect_err("filtered out");
        assert!(matches!(err, Error::NoDecryptableKey(_)), "{err:?}");
        assert!(err.to_string().contains(why), "{err}");
    }

    // It cannot encrypt.
    let err = KmsDiscoveryKeyring::new(kms.clone())
        .on_encrypt(enc_materials(&c))
        .await
        .expect_err("discovery cannot encrypt");
    assert!(matches!(err, Error::Keyring { .. }), "{err:?}");
    assert!(err.to_string().contains("can only decrypt"), "{err}");
    Ok(())
}

#[tokio::test]
async fn unreachable_kms_is_a_clear_error() -> Result<()> {
    let port = moto::free_port()?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let kms = moto::kms_client_for(&endpoint);
    let arn = format!("arn:aws:kms:us-east-1:{MOTO_ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    let c = ctx(&[]);

    let err =
        KmsKeyring::new(kms.clone(), &arn).on_encrypt(enc_materials(&c)).await.expect_err("nothing listens there");
    assert!(
        matches!(&err, Error::Kms { operation: "GenerateDataKey", kind: KmsErrorKind::Unavailable, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::KeyUnavailable);
    assert!(err.to_string().contains(&format!("could not reach KMS at {endpoint}")), "{err}");

    // Decrypting: the KMS error itself (retrying may help), for both keyrings.
    let edk = EncryptedDataKey {
        provider_id: PROVIDER_ID.as_bytes().to_vec(),
        provider_info: arn.clone().into_bytes(),
        ciphertext: vec![7; 64],
    };
    let keyrings: [Box<dyn Keyring>; 2] =
        [Box::new(KmsKeyring::new(kms.clone(), &arn)), Box::new(KmsDiscoveryKeyring::new(kms.clone()))];
    for k in keyrings {
        let err = k.on_decrypt(dec_materials(&c), std::slice::from_ref(&edk)).await.expect_err("nothing listens there");
        assert!(matches!(&err, Error::Kms { operation: "Decrypt", kind: KmsErrorKind::Unavailable, .. }), "{err:?}");
        assert!(err.to_string().contains("could not reach KMS at"), "{err}");
    }
    Ok(())
}

/// Keyring futures driven by `futures_executor::block_on` on a thread with
/// no Tokio runtime: the KMS calls run on the captured runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_from_a_thread_without_a_runtime() -> Result<()> {
    let server = MotoServer::start()?;
    let kms = server.kms_client().await;
    let (_, arn) = create_key(&kms).await?;
    let captured = KmsKeyring::new(kms.clone(), &arn);
    let explicit = {
        let kms = kms.clone();
        let arn = arn.clone();
        let handle = tokio::runtime::Handle::current();
        // Built where there is no runtime, then given one.
        std::thread::spawn(move || KmsKeyring::new(kms, arn).with_runtime(handle))
            .join()
            .map_err(|_| anyhow::anyhow!("thread panicked"))?
    };
    let none = {
        let kms = kms.clone();
        let arn = arn.clone();
        std::thread::spawn(move || KmsKeyring::new(kms, arn)).join().map_err(|_| anyhow::anyhow!("thread panicked"))?
    };
    let c = ctx(&[("a", "b")]);

    let results = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            for k in [&captured, &explicit] {
                let r = futures_executor::block_on(async {
                    let m = k.on_encrypt(enc_materials(&c)).await?;
                    let d = k.on_decrypt(dec_materials(&c), &m.encrypted_data_keys).await?;
                    Ok::<_, Error>(
                        d.data_key.map(|x| x.as_bytes().to_vec()) == m.data_key.map(|x| x.as_bytes().to_vec()),
                    )
                });
                out.push(r.map_err(|e| e.to_string()));
            }
            // No runtime anywhere: a clear error, not a panic.
            let r = futures_executor::block_on(none.on_encrypt(enc_materials(&c)));
            out.push(r.map(|_| true).map_err(|e| e.to_string()));
            out
        })
        .join()
    })
    .await?
    .map_err(|_| anyhow::anyhow!("block_on thread panicked"))?;

    assert_eq!(results[0], Ok(true), "captured runtime");
    assert_eq!(results[1], Ok(true), "explicit runtime");
    let err = results[2].clone().expect_err("no runtime must fail");
    assert!(err.contains("needs a Tokio runtime"), "{err}");
    Ok(())
}

/// Whole messages through `s3seal::Client`.
#[tokio::test]
async fn client_end_to_end() -> Result<()> {
    let server = MotoServer::start()?;
    let kms = server.kms_client().await;
    let (_, arn) = create_key(&kms).await?;
    let aes: Arc<dyn Keyring> = Arc::new(RawAesKeyring::new("acme", "backup", &[9u8; 32])?);
    let kms_keyring: Arc<dyn Keyring> = Arc::new(KmsKeyring::new(kms.clone(), &arn));
    let multi: Arc<dyn Keyring> = Arc::new(MultiKeyring::from_keyrings(vec![kms_keyring.clone(), aes.clone()])?);

    let plaintext: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let opts = s3seal::EncryptOptions::default().with_context_pair("bucket", "photos");
    let message = s3seal::Client::new(multi).encrypt(&plaintext, &opts).await?;

    let expected = ctx(&[("bucket", "photos")]);
    let decryptors: [Arc<dyn Keyring>; 3] = [
        kms_keyring.clone(),
        Arc::new(KmsDiscoveryKeyring::new(kms.clone()).with_filter("aws", [MOTO_ACCOUNT])),
        aes.clone(),
    ];
    for k in decryptors {
        let name = k.describe();
        let got = s3seal::Client::new(k)
            .decrypt(&message, &expected)
            .await
            .with_context(|| format!("decrypting with {name}"))?;
        assert_eq!(got.plaintext, plaintext, "{name}");
    }

    // The message names its KMS key, and a discovery keyring that may not
    // use that account says which keys the message was for.
    let err = s3seal::Client::new(Arc::new(KmsDiscoveryKeyring::new(kms.clone()).with_filter("aws", ["111122223333"])))
        .decrypt(&message, &EncryptionContext::new())
        .await
        .expect_err("filtered out");
    let msg = err.to_string();
    assert!(msg.contains(&format!("aws-kms:{arn}")), "{msg}");
    assert!(msg.contains("acme:backup"), "{msg}");

    // KMS alone (GenerateDataKey only).
    let message =
        s3seal::Client::new(kms_keyring.clone()).encrypt(b"hello", &s3seal::EncryptOptions::default()).await?;
    let got = s3seal::Client::new(Arc::new(KmsDiscoveryKeyring::new(kms.clone())))
        .decrypt(&message, &EncryptionContext::new())
        .await?;
    assert_eq!(got.plaintext, b"hello");
    Ok(())
}
