//! KMS economy of the encrypting S3 client (`s3seal::s3::Client`) over the
//! data-key cache (`s3seal::cache::CachingCmm`), with real moto for both S3
//! and KMS (issue 3, must-show 4; DESIGN.md "Keys").
//!
//! KMS calls are counted on the KMS client the keyring uses
//! ([`s3seal_tests::kms_count`]), so every request that reaches KMS is seen,
//! whatever the cache's own counters say. Objects are small (100 bytes) and
//! are written and read [`CONCURRENCY`] at a time, as a busy client would.
//!
//! Shown here:
//! * 1,000 PUTs into one bucket cost one `GenerateDataKey`; 1,000 GETs of
//!   them by a fresh client with a fresh cache cost one `Decrypt`, and the
//!   plaintexts match.
//! * Each object still has its own message id (hence its own derived key).
//! * The bucket is part of the KMS encryption context: another bucket gets
//!   its own data key, and KMS itself refuses to unwrap one bucket's data
//!   key under another bucket's context.
//! * With `max_messages`, `max_bytes` or a short `max_age`, the number of
//!   KMS calls rises exactly as the limits say.
//!
//! Needs `tests/setup-python.sh` to have run (moto).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use s3seal::cache::{CacheLimits, CachingCmm};
use s3seal::cmm::DefaultCmm;
use s3seal::keyring::KmsKeyring;
use s3seal::object::{BUCKET_CONTEXT_KEY, METADATA_KEY};
use s3seal::object::{Envelope, ciphertext_len};
use s3seal::s3::{Client, Config};
use s3seal_tests::kms_count::{DECRYPT, GENERATE_DATA_KEY, KmsCalls, counted_kms_client, create_key};
use s3seal_tests::moto::MotoServer;
use s3seal_tests::s3client::moto_s3_client;

/// Requests in flight at once.
const CONCURRENCY: usize = 8;
/// Plaintext bytes per object.
const SIZE: usize = 100;
/// The first bucket.
const BUCKET_A: &str = "economy-a";
/// The second bucket.
const BUCKET_B: &str = "economy-b";

/// A moto server with a KMS key and two empty buckets.
struct Fixture {
    moto: MotoServer,
    arn: String,
}

impl Fixture {
    async fn start() -> Result<Self> {
        let moto = MotoServer::start()?;
        let arn = create_key(&moto).await?;
        let raw = moto_s3_client(&moto);
        for b in [BUCKET_A, BUCKET_B] {
            raw.create_bucket().bucket(b).send().await.with_context(|| format!("CreateBucket {b}"))?;
        }
        Ok(Self { moto, arn })
    }

    /// A fresh encrypting client (fresh S3 client, fresh KMS client, fresh
    /// cache with `limits`), its cache and the counter of its KMS calls.
    fn client(&self, limits: CacheLimits) -> Result<(Client, Arc<CachingCmm>, KmsCalls)> {
        let (kms, calls) = counted_kms_client(&self.moto);
        let keyring = Arc::new(KmsKeyring::new(kms, &self.arn));
        let cache = Arc::new(CachingCmm::new(Arc::new(DefaultCmm::new(keyring)), limits)?);
        let client = Client::with_cmm(moto_s3_client(&self.moto), cache.clone(), Config::default());
        Ok((client, cache, calls))
    }
}

fn object_key(i: usize) -> String {
    format!("obj/{i:04}")
}

/// The plaintext of object `i` of `bucket`: [`SIZE`] bytes, different for
/// every object.
fn body(bucket: &str, i: usize) -> Vec<u8> {
    let seed = format!("{bucket}/{i:04}|");
    seed.bytes().cycle().take(SIZE).collect()
}

/// Runs `job(i)` for every `i` in `indices`, [`CONCURRENCY`] at a time, and
/// returns the results in index order.
async fn concurrently<T, F, Fut>(indices: std::ops::Range<usize>, job: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(indices.start));
    let end = indices.end;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (job, next) = (job.clone(), next.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        return anyhow::Ok(done);
                    }
                    done.push((i, job(i).await?));
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(indices.len());
    for w in workers {
        all.extend(w.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

/// PUTs objects `indices` of `bucket` through `client`.
async fn put_many(client: &Client, bucket: &'static str, indices: std::ops::Range<usize>) -> Result<()> {
    let client = client.clone();
    concurrently(indices, move |i| {
        let client = client.clone();
        async move {
            let out = client.put_object().bucket(bucket).key(object_key(i)).body(body(bucket, i)).send().await?;
            ensure!(out.plaintext_length == SIZE as u64, "PUT {i}: {out:?}");
            Ok(())
        }
    })
    .await?;
    Ok(())
}

/// GETs objects `indices` of `bucket` through `client`, checks every
/// plaintext and returns the envelopes.
async fn get_many(client: &Client, bucket: &'static str, indices: std::ops::Range<usize>) -> Result<Vec<Envelope>> {
    let client = client.clone();
    concurrently(indices, move |i| {
        let client = client.clone();
        async move {
            let out = client.get_object().bucket(bucket).key(object_key(i)).send().await?;
            let envelope = out.envelope.clone().with_context(|| format!("GET {bucket}/{i}: no envelope"))?;
            let got = out.body.collect().await?;
            ensure!(got == body(bucket, i), "GET {bucket}/{i}: wrong plaintext");
            Ok(envelope)
        }
    })
    .await
}

/// The wrapped data key of an envelope written by one KMS keyring.
fn wrapped_key(e: &Envelope) -> Result<Vec<u8>> {
    ensure!(e.encrypted_data_keys.len() == 1, "{} encrypted data keys", e.encrypted_data_keys.len());
    Ok(e.encrypted_data_keys[0].ciphertext.clone())
}

/// How many envelopes use each distinct wrapped data key, sorted.
fn group_sizes(envelopes: &[Envelope]) -> Result<Vec<usize>> {
    let mut groups: HashMap<Vec<u8>, usize> = HashMap::new();
    for e in envelopes {
        *groups.entry(wrapped_key(e)?).or_default() += 1;
    }
    let mut sizes: Vec<usize> = groups.into_values().collect();
    sizes.sort_unstable();
    Ok(sizes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_puts_and_thousand_gets_cost_one_kms_call_each() -> Result<()> {
    let fx = Fixture::start().await?;
    let (writer, writer_cache, writer_calls) = fx.client(CacheLimits::default())?;

    let t = Instant::now();
    put_many(&writer, BUCKET_A, 0..1000).await?;
    eprintln!("1,000 PUTs ({CONCURRENCY} at a time): {:?}", t.elapsed());
    let generated = writer_calls.get(GENERATE_DATA_KEY);
    assert!(generated <= 2, "1,000 PUTs made {generated} GenerateDataKey calls: {:?}", writer_calls.snapshot());
    assert_eq!(generated, 1, "{:?}", writer_calls.snapshot());
    assert_eq!(writer_calls.total(), 1, "no other KMS call: {:?}", writer_calls.snapshot());
    let s = writer_cache.stats().encrypt;
    assert_eq!((s.hits, s.misses, s.underlying_calls), (999, 1, 1), "{s:?}");

    // What moto stores is ciphertext with an envelope, not the plaintext.
    let raw = moto_s3_client(&fx.moto);
    for i in [0, 999] {
        let stored = raw.get_object().bucket(BUCKET_A).key(object_key(i)).send().await?;
        assert!(stored.metadata().is_some_and(|m| m.contains_key(METADATA_KEY)), "object {i} has no envelope");
        let bytes = stored.body.collect().await?.into_bytes();
        assert_eq!(bytes.len() as u64, ciphertext_len(SIZE as u64, u64::from(Config::default().frame_length)));
        assert!(!bytes.windows(SIZE).any(|w| w == body(BUCKET_A, i)), "object {i} stored in the clear");
    }

    // 1,000 GETs by a fresh client with a fresh cache (and a fresh KMS client).
    let (reader, reader_cache, reader_calls) = fx.client(CacheLimits::default())?;
    let t = Instant::now();
    let envelopes = get_many(&reader, BUCKET_A, 0..1000).await?;
    eprintln!("1,000 GETs ({CONCURRENCY} at a time): {:?}", t.elapsed());
    let decrypted = reader_calls.get(DECRYPT);
    assert!(decrypted <= 2, "1,000 GETs made {decrypted} Decrypt calls: {:?}", reader_calls.snapshot());
    assert_eq!(decrypted, 1, "{:?}", reader_calls.snapshot());
    assert_eq!(reader_calls.total(), 1, "no other KMS call: {:?}", reader_calls.snapshot());
    let s = reader_cache.stats().decrypt;
    assert_eq!((s.hits, s.misses, s.underlying_calls), (999, 1, 1), "{s:?}");

    // One data key for the bucket, but every object its own message id
    // (hence its own derived key and commitment).
    assert_eq!(group_sizes(&envelopes)?, [1000]);
    let ids: HashSet<[u8; 32]> = envelopes.iter().map(|e| e.message_id).collect();
    assert_eq!(ids.len(), 1000, "message ids repeat");
    let commitments: HashSet<[u8; 32]> = envelopes.iter().map(|e| e.commitment).collect();
    assert_eq!(commitments.len(), 1000, "commitments repeat");
    let key_a = wrapped_key(&envelopes[0])?;

    // Another bucket gets its own data key, on write and on read.
    put_many(&writer, BUCKET_B, 0..50).await?;
    assert_eq!(writer_calls.get(GENERATE_DATA_KEY), 2, "{:?}", writer_calls.snapshot());
    assert_eq!(writer_calls.total(), 2, "{:?}", writer_calls.snapshot());
    let envelopes_b = get_many(&reader, BUCKET_B, 0..50).await?;
    assert_eq!(reader_calls.get(DECRYPT), 2, "{:?}", reader_calls.snapshot());
    assert_eq!(reader_calls.total(), 2, "{:?}", reader_calls.snapshot());
    assert_eq!(group_sizes(&envelopes_b)?, [50]);
    let key_b = wrapped_key(&envelopes_b[0])?;
    assert_ne!(key_a, key_b);
    // Bucket A again: still cached on both sides.
    put_many(&writer, BUCKET_A, 1000..1010).await?;
    get_many(&reader, BUCKET_A, 990..1010).await?;
    assert_eq!(writer_calls.total(), 2, "{:?}", writer_calls.snapshot());
    assert_eq!(reader_calls.total(), 2, "{:?}", reader_calls.snapshot());

    // The bucket is bound by KMS itself: moto's KMS unwraps bucket A's data
    // key only under bucket A's encryption context.
    let kms = fx.moto.kms_client().await;
    let unwrap = |blob: &[u8], bucket: Option<&str>| {
        let mut req = kms.decrypt().ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob.to_vec()));
        if let Some(b) = bucket {
            req = req.encryption_context(BUCKET_CONTEXT_KEY, b);
        }
        req.send()
    };
    let a_under_a = unwrap(&key_a, Some(BUCKET_A)).await.context("KMS Decrypt of A's key under A")?;
    assert_eq!(a_under_a.plaintext().map(|p| p.as_ref().len()), Some(32));
    assert!(unwrap(&key_a, Some(BUCKET_B)).await.is_err(), "A's data key unwrapped under bucket B");
    assert!(unwrap(&key_a, None).await.is_err(), "A's data key unwrapped without its bucket");
    assert!(unwrap(&key_b, Some(BUCKET_B)).await.is_ok());

    // So an object copied byte for byte (body and metadata) into the other
    // bucket does not read: KMS refuses the data key there.
    raw.copy_object()
        .copy_source(format!("{BUCKET_A}/{}", object_key(0)))
        .bucket(BUCKET_B)
        .key("copied")
        .send()
        .await?;
    let refused = reader.get_object().bucket(BUCKET_B).key("copied").send().await;
    let err = refused.err().context("an object copied to another bucket was read")?;
    assert!(matches!(err, s3seal::Error::NoDecryptableKey(_)), "{err}");
    assert_eq!(reader_calls.get(DECRYPT), 3, "KMS was asked, and refused: {:?}", reader_calls.snapshot());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn message_and_byte_limits_count_exactly() -> Result<()> {
    let fx = Fixture::start().await?;

    // max_messages = 50: 500 concurrent PUTs need exactly 10 data keys,
    // each protecting exactly 50 objects.
    let (writer, writer_cache, calls) = fx.client(CacheLimits::default().with_max_messages(50))?;
    put_many(&writer, BUCKET_A, 0..500).await?;
    assert_eq!(calls.get(GENERATE_DATA_KEY), 10, "{:?}", calls.snapshot());
    assert_eq!(calls.total(), 10, "{:?}", calls.snapshot());
    let s = writer_cache.stats().encrypt;
    assert_eq!((s.hits, s.misses, s.underlying_calls), (490, 10, 10), "{s:?}");

    // The reader (default limits) makes one Decrypt per data key; the
    // message limit does not apply to decryption.
    let (reader, _, reader_calls) = fx.client(CacheLimits::default().with_max_messages(2))?;
    let envelopes = get_many(&reader, BUCKET_A, 0..500).await?;
    assert_eq!(group_sizes(&envelopes)?, [50; 10]);
    assert_eq!(reader_calls.get(DECRYPT), 10, "{:?}", reader_calls.snapshot());
    assert_eq!(reader_calls.total(), 10, "{:?}", reader_calls.snapshot());

    // max_bytes = 2,000 with 100-byte objects: 20 objects per data key, so
    // 200 PUTs need exactly 10 data keys.
    let limits = CacheLimits::default().with_max_bytes(20 * SIZE as u64);
    let (writer, _, calls) = fx.client(limits)?;
    put_many(&writer, BUCKET_B, 0..200).await?;
    assert_eq!(calls.get(GENERATE_DATA_KEY), 10, "{:?}", calls.snapshot());
    assert_eq!(calls.total(), 10, "{:?}", calls.snapshot());
    let (reader, _, reader_calls) = fx.client(limits)?;
    let envelopes = get_many(&reader, BUCKET_B, 0..200).await?;
    assert_eq!(group_sizes(&envelopes)?, [20; 10]);
    assert_eq!(reader_calls.get(DECRYPT), 10, "{:?}", reader_calls.snapshot());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_age_limit_counts_exactly() -> Result<()> {
    let fx = Fixture::start().await?;
    // Long enough that a round of requests fits in one key's life on a
    // loaded 2-core machine (each round is checked below), short enough to
    // wait out three times.
    let max_age = Duration::from_secs(6);
    let pause = max_age + Duration::from_millis(300);
    let limits = CacheLimits::default().with_max_age(max_age);
    let per_round = 24;

    // Three rounds of PUTs, each after the previous round's key expired:
    // one GenerateDataKey per round, none more.
    let (writer, _, calls) = fx.client(limits)?;
    for round in 0..3 {
        if round > 0 {
            tokio::time::sleep(pause).await;
        }
        let t = Instant::now();
        put_many(&writer, BUCKET_A, round * per_round..(round + 1) * per_round).await?;
        let took = t.elapsed();
        // Precondition of the exact count: the round fit in one key's life.
        ensure!(took < max_age, "round {round} took {took:?}, longer than max_age {max_age:?}: too slow to count");
        assert_eq!(calls.get(GENERATE_DATA_KEY), round as u64 + 1, "{:?}", calls.snapshot());
    }
    assert_eq!(calls.total(), 3, "{:?}", calls.snapshot());

    // The reader, same limits: one Decrypt per data key ...
    let (reader, _, reader_calls) = fx.client(limits)?;
    let t = Instant::now();
    let envelopes = get_many(&reader, BUCKET_A, 0..3 * per_round).await?;
    assert_eq!(group_sizes(&envelopes)?, [per_round; 3]);
    assert_eq!(reader_calls.get(DECRYPT), 3, "{:?}", reader_calls.snapshot());
    // ... still fresh right after ...
    get_many(&reader, BUCKET_A, 0..per_round).await?;
    let took = t.elapsed();
    // Precondition of the exact count: the first key is still in its life.
    ensure!(took < max_age, "the reads took {took:?}, longer than max_age {max_age:?}: too slow to count");
    assert_eq!(reader_calls.get(DECRYPT), 3, "{:?}", reader_calls.snapshot());
    // ... and one more once the entry expired.
    tokio::time::sleep(pause).await;
    get_many(&reader, BUCKET_A, 0..per_round).await?;
    assert_eq!(reader_calls.get(DECRYPT), 4, "{:?}", reader_calls.snapshot());
    assert_eq!(reader_calls.total(), 4, "{:?}", reader_calls.snapshot());
    Ok(())
}
