//! KMS economy of the data-key cache ([`s3seal::cache::CachingCmm`])
//! against a real moto KMS: KMS calls are counted on the KMS client itself,
//! by an interceptor that sees every HTTP request it sends (the
//! `X-Amz-Target` header names the operation, e.g.
//! `TrentService.GenerateDataKey`). Needs `tests/setup-python.sh` to have run.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use s3seal::cache::{CacheLimits, CachingCmm};
use s3seal::cmm::DefaultCmm;
use s3seal::keyring::KmsKeyring;
use s3seal::{Client, EncryptOptions, EncryptionContext};
use s3seal_tests::kms_count::{
    DECRYPT, GENERATE_DATA_KEY as GENERATE, KmsCalls, counted_kms_client as counted_kms, create_key,
};
use s3seal_tests::moto::MotoServer;

/// A fresh client over a fresh cache over a KMS keyring for `arn`, whose
/// KMS calls are counted.
fn caching_client(server: &MotoServer, arn: &str, limits: CacheLimits) -> Result<(Client, Arc<CachingCmm>, KmsCalls)> {
    let (kms, calls) = counted_kms(server);
    let keyring = Arc::new(KmsKeyring::new(kms, arn));
    let cache = Arc::new(CachingCmm::new(Arc::new(DefaultCmm::new(keyring)), limits)?);
    Ok((Client::builder_with_cmm(cache.clone()).build(), cache, calls))
}

fn bucket(name: &str) -> EncryptionContext {
    EncryptionContext::from([("bucket".to_string(), name.to_string())])
}

fn body(i: usize) -> Vec<u8> {
    format!("object number {i}").into_bytes()
}

/// Decrypts every message (checking its plaintext) and returns, per
/// message, the ciphertext of its (single) encrypted data key.
async fn decrypt_all(client: &Client, messages: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    let mut edks = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let got = client.decrypt(m, &bucket("b")).await.with_context(|| format!("decrypting message {i}"))?;
        ensure!(got.plaintext == body(i), "message {i} decrypted wrongly");
        ensure!(got.header.encrypted_data_keys.len() == 1);
        edks.push(got.header.encrypted_data_keys[0].ciphertext.clone());
    }
    Ok(edks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_puts_and_gets_cost_at_most_two_kms_calls() -> Result<()> {
    let server = MotoServer::start()?;
    let arn = create_key(&server).await?;
    let (writer, cache, calls) = caching_client(&server, &arn, CacheLimits::default())?;
    let opts = EncryptOptions::default().with_context_pair("bucket", "b");

    // 100 concurrent PUTs first (they all miss at once: one KMS call),
    // then 900 more one after the other.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (writer, opts) = (writer.clone(), opts.clone());
            tokio::spawn(async move { writer.encrypt(&body(i), &opts).await })
        })
        .collect();
    let mut messages = Vec::with_capacity(1000);
    for t in tasks {
        messages.push(t.await??);
    }
    for i in 100..1000 {
        messages.push(writer.encrypt(&body(i), &opts).await?);
    }
    let generated = calls.get(GENERATE);
    assert!(generated <= 2, "1,000 PUTs made {generated} GenerateDataKey calls");
    assert_eq!(generated, 1, "{:?}", calls.snapshot());
    assert_eq!(calls.total(), 1, "{:?}", calls.snapshot());
    let s = cache.stats().encrypt;
    assert_eq!((s.hits, s.misses, s.underlying_calls), (999, 1, 1));
    let distinct: HashSet<&Vec<u8>> = messages.iter().collect();
    assert_eq!(distinct.len(), 1000, "every message is encrypted differently");

    // 1,000 GETs by a fresh client with a fresh cache.
    let (reader, reader_cache, reader_calls) = caching_client(&server, &arn, CacheLimits::default())?;
    let edks = decrypt_all(&reader, &messages).await?;
    let decrypted = reader_calls.get(DECRYPT);
    assert!(decrypted <= 2, "1,000 GETs made {decrypted} Decrypt calls");
    assert_eq!(decrypted, 1, "{:?}", reader_calls.snapshot());
    assert_eq!(reader_calls.total(), 1, "{:?}", reader_calls.snapshot());
    assert_eq!(edks.iter().collect::<HashSet<_>>().len(), 1);
    let s = reader_cache.stats().decrypt;
    assert_eq!((s.hits, s.misses, s.underlying_calls), (999, 1, 1));

    // Another bucket (another encryption context) has its own data key.
    let other = EncryptOptions::default().with_context_pair("bucket", "c");
    for i in 0..10 {
        writer.encrypt(&body(i), &other).await?;
    }
    assert_eq!(calls.get(GENERATE), 2, "{:?}", calls.snapshot());

    // Without the cache, every PUT costs a KMS call.
    let (kms, plain_calls) = counted_kms(&server);
    let plain = Client::new(Arc::new(KmsKeyring::new(kms, &arn)));
    for i in 0..5 {
        plain.encrypt(&body(i), &opts).await?;
    }
    assert_eq!(plain_calls.get(GENERATE), 5);
    Ok(())
}

#[tokio::test]
async fn max_messages_limit_counts_exactly() -> Result<()> {
    let server = MotoServer::start()?;
    let arn = create_key(&server).await?;
    let limits = CacheLimits::default().with_max_messages(100);
    let (writer, _, calls) = caching_client(&server, &arn, limits)?;
    let opts = EncryptOptions::default().with_context_pair("bucket", "b");
    let mut messages = Vec::with_capacity(1000);
    for i in 0..1000 {
        messages.push(writer.encrypt(&body(i), &opts).await?);
    }
    assert_eq!(calls.get(GENERATE), 10, "{:?}", calls.snapshot());
    assert_eq!(calls.total(), 10, "{:?}", calls.snapshot());

    // Messages 100k..100k+99 share a data key, and no two groups do.
    let (reader, _, reader_calls) = caching_client(&server, &arn, CacheLimits::default())?;
    let edks = decrypt_all(&reader, &messages).await?;
    assert_eq!(reader_calls.get(DECRYPT), 10, "{:?}", reader_calls.snapshot());
    let mut groups: HashMap<&Vec<u8>, Vec<usize>> = HashMap::new();
    for (i, e) in edks.iter().enumerate() {
        groups.entry(e).or_default().push(i / 100);
    }
    assert_eq!(groups.len(), 10);
    for g in groups.values() {
        assert_eq!(g.len(), 100);
        assert!(g.iter().all(|x| *x == g[0]), "a data key served two groups");
    }

    // The reader's message limit does not apply to decryption.
    let (small, _, small_calls) = caching_client(&server, &arn, limits.with_max_messages(2))?;
    decrypt_all(&small, &messages[..100]).await?;
    assert_eq!(small_calls.get(DECRYPT), 1);
    Ok(())
}

#[tokio::test]
async fn max_age_limit_counts_exactly() -> Result<()> {
    let server = MotoServer::start()?;
    let arn = create_key(&server).await?;
    let max_age = Duration::from_millis(1000);
    let pause = Duration::from_millis(1300);
    let limits = CacheLimits::default().with_max_age(max_age);
    let (writer, _, calls) = caching_client(&server, &arn, limits)?;
    let opts = EncryptOptions::default().with_context_pair("bucket", "b");

    // Three rounds of 10 PUTs, each round after the previous key expired.
    let mut messages = Vec::new();
    for round in 0..3 {
        if round > 0 {
            tokio::time::sleep(pause).await;
        }
        for _ in 0..10 {
            let i = messages.len();
            messages.push(writer.encrypt(&body(i), &opts).await?);
        }
        assert_eq!(calls.get(GENERATE), round + 1, "{:?}", calls.snapshot());
    }
    assert_eq!(calls.total(), 3, "{:?}", calls.snapshot());

    // The reader: one Decrypt per data key, and one more once an entry
    // expired.
    let (reader, _, reader_calls) = caching_client(&server, &arn, limits)?;
    let edks = decrypt_all(&reader, &messages).await?;
    assert_eq!(edks.iter().collect::<HashSet<_>>().len(), 3);
    assert_eq!(reader_calls.get(DECRYPT), 3, "{:?}", reader_calls.snapshot());
    decrypt_all(&reader, &messages[..10]).await?;
    assert_eq!(reader_calls.get(DECRYPT), 3, "still fresh");
    tokio::time::sleep(pause).await;
    decrypt_all(&reader, &messages[..10]).await?;
    assert_eq!(reader_calls.get(DECRYPT), 4, "{:?}", reader_calls.snapshot());
    assert_eq!(reader_calls.total(), 4, "{:?}", reader_calls.snapshot());
    Ok(())
}
