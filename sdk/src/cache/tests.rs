//! Unit tests of the caching materials manager.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::cmm::DefaultCmm;
use crate::context::EncryptionContext;
use crate::error::KmsErrorKind;
use crate::keyring::{Keyring, RawAesKeyring};
use crate::materials::EncryptedDataKey;
use crate::suite::CommitmentPolicy;
use crate::{Client, EncryptOptions};

const SUITE: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
const SIGNED: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384;

/// A raw AES keyring that counts its calls, can be slowed down and can
/// be made to fail.
#[derive(Debug)]
struct Counting {
    inner: RawAesKeyring,
    enc: AtomicU64,
    dec: AtomicU64,
    delay: Duration,
    fail: AtomicBool,
}

impl Counting {
    fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: RawAesKeyring::new("test", "key", &[7u8; 32]).expect("valid key"),
            enc: AtomicU64::new(0),
            dec: AtomicU64::new(0),
            delay,
            fail: AtomicBool::new(false),
        })
    }

    fn enc(&self) -> u64 {
        self.enc.load(Ordering::SeqCst)
    }

    fn dec(&self) -> u64 {
        self.dec.load(Ordering::SeqCst)
    }

    /// Waits, then fails as KMS would when told to: `GenerateDataKey`
    /// throttled, `Decrypt` refused.
    async fn pause(&self, operation: &'static str) -> Result<()> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.fail.load(Ordering::SeqCst) {
            let kind = if operation == "Decrypt" { KmsErrorKind::AccessDenied } else { KmsErrorKind::Throttled };
            return Err(Error::Kms { operation, kind, message: format!("{kind:?}") });
        }
        Ok(())
    }
}

#[async_trait]
impl Keyring for Counting {
    async fn on_encrypt(&self, materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        self.enc.fetch_add(1, Ordering::SeqCst);
        self.pause("GenerateDataKey").await?;
        self.inner.on_encrypt(materials).await
    }

    async fn on_decrypt(
        &self,
        materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        self.dec.fetch_add(1, Ordering::SeqCst);
        self.pause("Decrypt").await?;
        self.inner.on_decrypt(materials, edks).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

fn caching(keyring: &Arc<Counting>, limits: CacheLimits) -> Arc<CachingCmm> {
    let cmm = Arc::new(DefaultCmm::new(keyring.clone()));
    Arc::new(CachingCmm::new(cmm, limits).expect("valid limits"))
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn req(bucket: &str, len: Option<u64>) -> EncryptionRequest {
    EncryptionRequest {
        encryption_context: ctx(&[("bucket", bucket)]),
        required_context_keys: Vec::new(),
        suite: None,
        commitment_policy: CommitmentPolicy::default(),
        plaintext_length: len,
    }
}

fn key_of(m: &EncryptionMaterials) -> Vec<u8> {
    m.data_key.as_ref().expect("data key").as_bytes().to_vec()
}

async fn enc(cmm: &CachingCmm, bucket: &str, len: Option<u64>) -> EncryptionMaterials {
    cmm.get_encryption_materials(req(bucket, len)).await.expect("encryption materials")
}

async fn dec(cmm: &CachingCmm, m: &EncryptionMaterials) -> Result<DecryptionMaterials> {
    let empty = EncryptionContext::new();
    cmm.decrypt_materials(DecryptRequest {
        suite: m.suite,
        commitment_policy: CommitmentPolicy::default(),
        encrypted_data_keys: &m.encrypted_data_keys,
        encryption_context: &m.encryption_context,
        reproduced_context: &empty,
    })
    .await
}

#[tokio::test]
async fn cache_encrypt_hit_and_miss() {
    let k = Counting::new(Duration::ZERO);
    let cmm = caching(&k, CacheLimits::default());
    let a = enc(&cmm, "a", Some(10)).await;
    let a2 = enc(&cmm, "a", Some(10)).await;
    let a3 = enc(&cmm, "a", None).await;
    assert_eq!(k.enc(), 1);
    assert_eq!(key_of(&a), key_of(&a2));
    assert_eq!(key_of(&a), key_of(&a3));
    assert_eq!(a.encrypted_data_keys, a2.encrypted_data_keys);
    assert_eq!(a2.encryption_context, ctx(&[("bucket", "a")]));
    assert!(a2.signing_key.is_none());
    a2.validate().expect("cached materials are complete");

    // Another context, another suite field, other required keys: other entries.
    let b = enc(&cmm, "b", Some(10)).await;
    assert_eq!(k.enc(), 2);
    assert_ne!(key_of(&a), key_of(&b));
    let mut r = req("a", Some(1));
    r.suite = Some(SUITE);
    cmm.get_encryption_materials(r).await.expect("materials");
    assert_eq!(k.enc(), 3);
    let mut r = req("a", Some(1));
    r.required_context_keys = vec!["bucket".into()];
    let m = cmm.get_encryption_materials(r).await.expect("materials");
    assert_eq!(m.required_context_keys, vec!["bucket".to_string()]);
    assert_eq!(k.enc(), 4);

    let s = cmm.stats();
    assert_eq!(s.encrypt, OpStats { hits: 2, misses: 4, underlying_calls: 4 });
    assert_eq!(s.decrypt, OpStats::default());
    assert_eq!(cmm.cache().len(), 4);
}

#[tokio::test]
async fn cache_round_trip_through_client() -> Result<()> {
    let k = Counting::new(Duration::ZERO);
    let writer = Client::builder_with_cmm(caching(&k, CacheLimits::default())).build();
    let opts = EncryptOptions::default().with_context_pair("bucket", "b");
    let mut messages = Vec::new();
    for i in 0..20 {
        messages.push(writer.encrypt(format!("object {i}").as_bytes(), &opts).await?);
    }
    assert_eq!(k.enc(), 1);
    assert_ne!(messages[0], messages[1], "every message has its own message id");

    let reader_cmm = caching(&k, CacheLimits::default());
    let reader = Client::builder_with_cmm(reader_cmm.clone()).build();
    for (i, m) in messages.iter().enumerate() {
        let got = reader.decrypt(m, &EncryptionContext::new()).await?;
        assert_eq!(got.plaintext, format!("object {i}").as_bytes());
    }
    assert_eq!(k.dec(), 1);
    assert_eq!(reader_cmm.stats().decrypt, OpStats { hits: 19, misses: 1, underlying_calls: 1 });

    // The reproduced context is part of the decrypt id, and a mismatch
    // is still refused.
    let wrong = ctx(&[("bucket", "other")]);
    let err = reader.decrypt(&messages[0], &wrong).await.expect_err("wrong context");
    assert!(matches!(err, Error::EncryptionContext(_)), "{err:?}");
    let right = ctx(&[("bucket", "b")]);
    reader.decrypt(&messages[0], &right).await?;
    reader.decrypt(&messages[1], &right).await?;
    assert_eq!(k.dec(), 2);
    Ok(())
}

#[tokio::test]
async fn cache_max_age() -> Result<()> {
    let k = Counting::new(Duration::ZERO);
    let cmm = caching(&k, CacheLimits::default().with_max_age(Duration::from_millis(150)));
    let m = enc(&cmm, "a", Some(1)).await;
    enc(&cmm, "a", Some(1)).await;
    dec(&cmm, &m).await?;
    dec(&cmm, &m).await?;
    assert_eq!((k.enc(), k.dec()), (1, 1));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let m2 = enc(&cmm, "a", Some(1)).await;
    assert_ne!(key_of(&m), key_of(&m2), "an expired entry is replaced by a fresh key");
    dec(&cmm, &m).await?;
    assert_eq!((k.enc(), k.dec()), (2, 2));
    Ok(())
}

#[tokio::test]
async fn cache_max_messages() {
    let k = Counting::new(Duration::ZERO);
    let cmm = caching(&k, CacheLimits::default().with_max_messages(3));
    let mut keys = Vec::new();
    for _ in 0..7 {
        keys.push(key_of(&enc(&cmm, "a", Some(1)).await));
    }
    assert_eq!(k.enc(), 3);
    assert!(keys[0] == keys[2] && keys[3] == keys[5] && keys[0] != keys[3] && keys[3] != keys[6]);
    assert_eq!(cmm.stats().encrypt, OpStats { hits: 4, misses: 3, underlying_calls: 3 });

    // One message per key: nothing to share, the cache is bypassed.
    let one = caching(&k, CacheLimits::default().with_max_messages(1));
    enc(&one, "a", Some(1)).await;
    enc(&one, "a", Some(1)).await;
    assert_eq!(k.enc(), 5);
    assert!(one.cache().is_empty());
}

#[tokio::test]
async fn cache_max_bytes() {
    let k = Counting::new(Duration::ZERO);
    let cmm = caching(&k, CacheLimits::default().with_max_bytes(100));
    enc(&cmm, "a", Some(40)).await;
    enc(&cmm, "a", Some(40)).await;
    assert_eq!(k.enc(), 1);
    enc(&cmm, "a", Some(40)).await; // 120 > 100: a fresh key (40 used)
    assert_eq!(k.enc(), 2);
    enc(&cmm, "a", Some(60)).await; // exactly 100: served, then used up
    assert_eq!(k.enc(), 2);
    assert!(cmm.cache().is_empty());
    enc(&cmm, "a", Some(10)).await;
    assert_eq!(k.enc(), 3);
    // Longer than the limit on its own, or of unknown length: bypassed,
    // and the entry stays.
    enc(&cmm, "a", Some(101)).await;
    enc(&cmm, "a", None).await;
    assert_eq!(k.enc(), 5);
    enc(&cmm, "a", Some(0)).await;
    enc(&cmm, "a", Some(90)).await;
    assert_eq!(k.enc(), 5);
    assert_eq!(cmm.stats().encrypt, OpStats { hits: 4, misses: 5, underlying_calls: 5 });
}

#[tokio::test]
async fn cache_lru_eviction_at_capacity() {
    let k = Counting::new(Duration::ZERO);
    let cmm = caching(&k, CacheLimits::default().with_capacity(2));
    enc(&cmm, "a", Some(1)).await;
    enc(&cmm, "b", Some(1)).await;
    enc(&cmm, "a", Some(1)).await; // hit: a is now the most recent
    assert_eq!(k.enc(), 2);
    enc(&cmm, "c", Some(1)).await; // evicts b
    assert_eq!(k.enc(), 3);
    assert_eq!(cmm.cache().len(), 2);
    enc(&cmm, "a", Some(1)).await;
    assert_eq!(k.enc(), 3);
    enc(&cmm, "b", Some(1)).await; // evicted: fetched again (evicts c)
    assert_eq!(k.enc(), 4);
    enc(&cmm, "a", Some(1)).await;
    assert_eq!(k.enc(), 4);
    assert_eq!(cmm.cache().len(), 2);

    // Decrypt entries share the capacity.
    let m = enc(&cmm, "a", Some(1)).await;
    dec(&cmm, &m).await.expect("decrypt");
    assert_eq!(cmm.cache().len(), 2);
    cmm.cache().clear();
    assert!(cmm.cache().is_empty());
    enc(&cmm, "a", Some(1)).await;
    assert_eq!(k.enc(), 5);
}

#[tokio::test]
async fn cache_partitions_isolated() {
    let k = Counting::new(Duration::ZERO);
    let underlying: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(k.clone()));
    let limits = CacheLimits::default();
    let store = Arc::new(MaterialsCache::new(10).expect("capacity"));
    let make = |p: &str| {
        CachingCmm::with_cache(underlying.clone(), limits, store.clone()).expect("valid limits").with_partition(p)
    };
    let (p1, p2, p1_again) = (make("p1"), make("p2"), make("p1"));
    let a = enc(&p1, "a", Some(1)).await;
    let b = enc(&p2, "a", Some(1)).await;
    assert_eq!(k.enc(), 2);
    assert_ne!(key_of(&a), key_of(&b));
    let c = enc(&p1_again, "a", Some(1)).await;
    assert_eq!(k.enc(), 2, "same partition, same store: shared");
    assert_eq!(key_of(&a), key_of(&c));
    assert_eq!(p1_again.stats().encrypt, OpStats { hits: 1, misses: 0, underlying_calls: 0 });
    dec(&p1, &a).await.expect("decrypt");
    dec(&p2, &a).await.expect("decrypt");
    dec(&p1_again, &a).await.expect("decrypt");
    assert_eq!(k.dec(), 2);
    assert_eq!(store.len(), 4);

    // Default partitions are random: nothing shared.
    let r1 = CachingCmm::with_cache(underlying.clone(), limits, store.clone()).expect("valid");
    let r2 = CachingCmm::with_cache(underlying.clone(), limits, store.clone()).expect("valid");
    assert_ne!(r1.partition(), r2.partition());
    enc(&r1, "a", Some(1)).await;
    enc(&r2, "a", Some(1)).await;
    assert_eq!(k.enc(), 4);
}

#[tokio::test]
async fn cache_signed_suites_bypass_encrypt() -> Result<()> {
    let k = Counting::new(Duration::ZERO);
    let cmm = caching(&k, CacheLimits::default());
    let mut public_keys = Vec::new();
    for _ in 0..3 {
        let mut r = req("a", Some(1));
        r.suite = Some(SIGNED);
        let m = cmm.get_encryption_materials(r).await?;
        assert!(m.signing_key.is_some());
        public_keys.push(m.encryption_context[crate::context::PUBLIC_KEY_FIELD].clone());
    }
    assert_eq!(k.enc(), 3);
    assert!(public_keys[0] != public_keys[1] && public_keys[1] != public_keys[2]);
    assert!(cmm.cache().is_empty());
    assert_eq!(cmm.stats().encrypt, OpStats { hits: 0, misses: 3, underlying_calls: 3 });

    // A policy whose default suite is signed: bypassed too.
    let mut r = req("a", Some(1));
    r.commitment_policy = CommitmentPolicy::ForbidEncryptAllowDecrypt;
    cmm.get_encryption_materials(r.clone()).await?;
    cmm.get_encryption_materials(r).await?;
    assert_eq!(k.enc(), 5);

    // Decrypting signed messages is cached (the verification key is in
    // the stored context, so it is part of the id).
    let client = Client::builder_with_cmm(cmm.clone()).build();
    let opts = EncryptOptions::default().with_suite(SIGNED).with_context_pair("bucket", "a");
    let m1 = client.encrypt(b"one", &opts).await?;
    let before = k.dec();
    client.decrypt(&m1, &EncryptionContext::new()).await?;
    client.decrypt(&m1, &EncryptionContext::new()).await?;
    assert_eq!(k.dec(), before + 1);
    Ok(())
}

#[tokio::test]
async fn cache_no_kdf_suites_never_cached() -> Result<()> {
    let k = Counting::new(Duration::ZERO);
    let cmm = caching(&k, CacheLimits::default());
    let client =
        Client::builder_with_cmm(cmm.clone()).commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt).build();
    let opts = EncryptOptions::default().with_suite(AlgorithmSuite::Aes256GcmIv12Tag16NoKdf);
    let a = client.encrypt(b"a", &opts).await?;
    client.encrypt(b"b", &opts).await?;
    assert_eq!(k.enc(), 2);
    client.decrypt(&a, &EncryptionContext::new()).await?;
    client.decrypt(&a, &EncryptionContext::new()).await?;
    assert_eq!(k.dec(), 2);
    assert!(cmm.cache().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_concurrent_misses_single_flight() -> Result<()> {
    let k = Counting::new(Duration::from_millis(200));
    let cmm = caching(&k, CacheLimits::default());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cmm = cmm.clone();
            tokio::spawn(async move { cmm.get_encryption_materials(req("a", Some(1))).await })
        })
        .collect();
    let mut keys = Vec::new();
    for t in tasks {
        let m = t.await.map_err(|e| Error::Keyring { keyring: "task".into(), message: e.to_string() })??;
        keys.push(key_of(&m));
    }
    assert_eq!(k.enc(), 1, "50 concurrent misses, one keyring call");
    assert!(keys.iter().all(|x| *x == keys[0]));
    assert_eq!(cmm.stats().encrypt, OpStats { hits: 49, misses: 1, underlying_calls: 1 });

    let m = Arc::new(enc(&cmm, "a", Some(1)).await);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cmm, m) = (cmm.clone(), m.clone());
            tokio::spawn(async move { dec(&cmm, &m).await.map(|d| d.data_key.map(|k| k.as_bytes().to_vec())) })
        })
        .collect();
    for t in tasks {
        let got = t.await.map_err(|e| Error::Keyring { keyring: "task".into(), message: e.to_string() })??;
        assert_eq!(got, Some(key_of(&m)));
    }
    assert_eq!(k.dec(), 1, "50 concurrent misses, one keyring call");
    assert_eq!(cmm.stats().decrypt, OpStats { hits: 49, misses: 1, underlying_calls: 1 });
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_concurrent_misses_respect_message_limit() {
    let k = Counting::new(Duration::from_millis(50));
    let cmm = caching(&k, CacheLimits::default().with_max_messages(10));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cmm = cmm.clone();
            tokio::spawn(async move { cmm.get_encryption_materials(req("a", Some(1))).await.map(|m| key_of(&m)) })
        })
        .collect();
    let mut per_key: HashMap<Vec<u8>, u64> = HashMap::new();
    for t in tasks {
        let key = t.await.expect("task").expect("materials");
        *per_key.entry(key).or_default() += 1;
    }
    assert_eq!(k.enc(), 5);
    assert!(per_key.values().all(|n| *n == 10), "{:?}", per_key.values());
}

/// Every request that waited on a failed unwrap gets the leader's error:
/// the same variant, kind and message (not a summary of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decrypt_waiters_get_the_leaders_exact_error() {
    let k = Counting::new(Duration::from_millis(200));
    let cmm = caching(&k, CacheLimits::default());
    let m = Arc::new(enc(&cmm, "a", Some(1)).await);
    k.fail.store(true, Ordering::SeqCst);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (cmm, m) = (cmm.clone(), Arc::clone(&m));
            tokio::spawn(async move { dec(&cmm, &m).await })
        })
        .collect();
    for t in tasks {
        let err = t.await.expect("task").expect_err("the keyring refuses");
        assert!(
            matches!(&err, Error::Kms { operation: "Decrypt", kind: KmsErrorKind::AccessDenied, message }
                if message == "AccessDenied"),
            "{err:?}"
        );
        assert_eq!(err.kind(), crate::error::ErrorKind::AccessDenied);
    }
    assert_eq!(k.dec(), 1, "waiters share the leader's unwrap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_failed_fetch_shared_then_retried() {
    let k = Counting::new(Duration::from_millis(200));
    k.fail.store(true, Ordering::SeqCst);
    let cmm = caching(&k, CacheLimits::default());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cmm = cmm.clone();
            tokio::spawn(async move { cmm.get_encryption_materials(req("a", Some(1))).await })
        })
        .collect();
    for t in tasks {
        let err = t.await.expect("task").expect_err("the keyring fails");
        assert!(
            matches!(&err, Error::Kms { operation: "GenerateDataKey", kind: KmsErrorKind::Throttled, message }
                if message == "Throttled"),
            "{err:?}"
        );
        assert_eq!(err.kind(), crate::error::ErrorKind::KeyUnavailable);
    }
    assert_eq!(k.enc(), 1, "followers share the leader's error");
    assert_eq!(cmm.stats().encrypt, OpStats { hits: 0, misses: 20, underlying_calls: 1 });

    // Errors are not cached.
    k.fail.store(false, Ordering::SeqCst);
    enc(&cmm, "a", Some(1)).await;
    assert_eq!(k.enc(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_cancelled_leader_is_replaced() {
    let k = Counting::new(Duration::from_millis(300));
    let cmm = caching(&k, CacheLimits::default());
    let leader = {
        let cmm = cmm.clone();
        tokio::spawn(async move { cmm.get_encryption_materials(req("a", Some(1))).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let follower = {
        let cmm = cmm.clone();
        tokio::spawn(async move { cmm.get_encryption_materials(req("a", Some(1))).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    assert!(leader.await.is_err_and(|e| e.is_cancelled()));
    let m = follower.await.expect("task").expect("the follower takes over");
    assert_eq!(k.enc(), 2);
    enc(&cmm, "a", Some(1)).await;
    assert_eq!(k.enc(), 2);
    assert_eq!(key_of(&m), key_of(&enc(&cmm, "a", Some(1)).await));
}

#[test]
fn cache_limits_checked() {
    let k = Counting::new(Duration::ZERO);
    let cmm: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(k));
    for bad in [
        CacheLimits::default().with_max_age(Duration::ZERO),
        CacheLimits::default().with_max_messages(0),
        CacheLimits::default().with_capacity(0),
    ] {
        let err = CachingCmm::new(cmm.clone(), bad).expect_err("invalid limits");
        assert!(matches!(err, Error::InvalidParameter(_)), "{err:?}");
    }
    assert!(matches!(MaterialsCache::new(0), Err(Error::InvalidParameter(_))));
    let d = CacheLimits::default();
    assert_eq!(
        (d.max_age, d.max_messages, d.max_bytes, d.capacity),
        (Duration::from_secs(300), 10_000, u64::MAX, 1_000)
    );
}

#[tokio::test]
async fn cache_debug_shows_no_key() {
    let k = Counting::new(Duration::ZERO);
    let cmm = caching(&k, CacheLimits::default());
    let m = enc(&cmm, "a", Some(1)).await;
    let shown = format!("{cmm:?} {m:?}");
    let key = key_of(&m);
    assert!(!shown.contains(&format!("{key:?}")));
    assert!(!shown.contains(&format!("{:?}", &key[..4])));
}
