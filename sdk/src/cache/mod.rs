//! Data-key caching: the caching materials manager (the S3 Bucket Key idea).
//!
//! A [`CachingCmm`] wraps another [`MaterialsManager`] (usually a
//! [`DefaultCmm`](crate::cmm::DefaultCmm) over a KMS keyring) and reuses
//! what it returns:
//!
//! * **Encrypt**: the materials (plaintext data key and its encrypted forms)
//!   obtained for one encryption context serve many messages. Each message
//!   still encrypts under its own key, derived by HKDF from the data key and
//!   the message's random message id, so reusing a data key does not reuse
//!   an AES-GCM key. One KMS `GenerateDataKey` thus pays for many objects.
//! * **Decrypt**: the unwrapped data key is cached by the encrypted data keys
//!   it came from, so reading many objects written under one data key costs
//!   one KMS `Decrypt`.
//!
//! This follows the ESDK caching CMM (`framework/caching-cmm.md`,
//! `cryptographic-materials-cache.md`, `local-cryptographic-materials-cache.md`):
//!
//! * Cache ids are hashes (SHA-512) of the partition, the operation, the
//!   suite (if requested) and the encryption context; the decrypt id also
//!   covers the sorted encrypted data keys. Fields are length-prefixed, so
//!   the encoding is injective; s3seal also covers the commitment policy,
//!   the required context keys (encrypt) and the reproduced context
//!   (decrypt), so a cached answer is always the answer the underlying
//!   manager gave to exactly the same request. Ids never leave the process.
//! * Signed suites are never cached for encryption (a signing key must sign
//!   one message only), and suites without key derivation (`0x0014`,
//!   `0x0046`, `0x0078`) are never cached at all, since there the data key
//!   *is* the message key. Such requests go straight to the underlying
//!   manager.
//! * Each encryption entry serves at most [`CacheLimits::max_messages`]
//!   messages and [`CacheLimits::max_bytes`] plaintext bytes, for at most
//!   [`CacheLimits::max_age`]; an entry that cannot serve a request is
//!   evicted and a fresh data key is fetched. Decryption entries have the age
//!   limit only.
//!
//! # Concurrency
//!
//! The cache is a bounded LRU map ([`CacheLimits::capacity`] entries) behind
//! a mutex that is only held for short, synchronous bookkeeping, never
//! across a call to the underlying manager. Concurrent misses for the same
//! id are *single-flight*: the first request (the leader) calls the
//! underlying manager, the others wait for it and are then served from the
//! entry it stored (they count as hits). If the leader's call fails, every
//! waiting request gets the same error (same [`Error`] variant and message)
//! and nothing is cached, so the next request tries again. If the leader is
//! cancelled (its future dropped), one of the waiting requests takes over.
//! On the encrypt side a waiting request that finds the new entry already
//! used up (its message limit reached by the others) queues for the next
//! fetch.
//!
//! # Secrets
//!
//! Cached data keys are [`DataKey`]s, zeroized when the last copy is
//! dropped (evicted entries as soon as no message uses them any more).
//! Nothing about keys or contexts is logged, and [`Debug`] shows no key.
//!
//! ```no_run
//! # async fn f(kms: aws_sdk_kms::Client) -> s3seal::Result<()> {
//! use std::sync::Arc;
//! use s3seal::cache::{CacheLimits, CachingCmm};
//! use s3seal::cmm::DefaultCmm;
//! use s3seal::keyring::KmsKeyring;
//!
//! let keyring = Arc::new(KmsKeyring::new(kms, "arn:aws:kms:us-east-1:111122223333:key/..."));
//! let cache = Arc::new(CachingCmm::new(Arc::new(DefaultCmm::new(keyring)), CacheLimits::default())?);
//! let client = s3seal::Client::builder_with_cmm(cache.clone()).build();
//! let opts = s3seal::EncryptOptions::default().with_context_pair("bucket", "photos");
//! for i in 0..1000 {
//!     client.encrypt(format!("object {i}").as_bytes(), &opts).await?; // one KMS call in all
//! }
//! assert_eq!(cache.stats().encrypt.underlying_calls, 1);
//! # Ok(()) }
//! ```
//!
//! [`DataKey`]: crate::materials::DataKey

mod flight;
mod id;
mod leader;
mod limits;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use self::flight::{Step, wait};
use self::id::{decrypt_id, encrypt_id};
use self::leader::Leader;
use self::limits::Counters;
pub use self::limits::{CacheLimits, CacheStats, OpStats};
pub use self::store::MaterialsCache;
use self::store::{CachedEncryption, Value};
use crate::cmm::MaterialsManager;
use crate::error::{Error, Result};
use crate::materials::{DecryptRequest, DecryptionMaterials, EncryptionMaterials, EncryptionRequest};
use crate::suite::{AlgorithmSuite, Kdf};

/// A caching materials manager: one data key serves many messages.
///
/// See the [module documentation](self) for what is cached, the limits and
/// the concurrency guarantees.
pub struct CachingCmm {
    underlying: Arc<dyn MaterialsManager>,
    cache: Arc<MaterialsCache>,
    limits: CacheLimits,
    partition: String,
    encrypt: Counters,
    decrypt: Counters,
}

impl fmt::Debug for CachingCmm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingCmm")
            .field("underlying", &self.underlying)
            .field("limits", &self.limits)
            .field("partition", &self.partition)
            .field("cache", &self.cache)
            .finish()
    }
}

impl CachingCmm {
    /// A manager caching what `underlying` returns, under `limits`, with
    /// its own store of `limits.capacity` entries and a random partition.
    /// Fails if a limit is out of range or the system random generator
    /// fails.
    pub fn new(underlying: Arc<dyn MaterialsManager>, limits: CacheLimits) -> Result<Self> {
        limits.check()?;
        let cache = Arc::new(MaterialsCache::new(limits.capacity)?);
        Self::with_cache(underlying, limits, cache)
    }

    /// A manager using the shared store `cache` (whose own capacity applies;
    /// `limits.capacity` is ignored) with a random partition, so that it
    /// shares no entries until [`CachingCmm::with_partition`] names one.
    pub fn with_cache(
        underlying: Arc<dyn MaterialsManager>,
        limits: CacheLimits,
        cache: Arc<MaterialsCache>,
    ) -> Result<Self> {
        limits.check()?;
        let random: [u8; 16] = crate::crypto::random::array()?;
        let partition = random.iter().fold(String::from("random-"), |mut s, b| {
            s.push_str(&format!("{b:02x}"));
            s
        });
        Ok(Self { underlying, cache, limits, partition, encrypt: Counters::default(), decrypt: Counters::default() })
    }

    /// Names the partition: managers sharing a store share entries if and
    /// only if their partitions are equal.
    pub fn with_partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = partition.into();
        self
    }

    /// The partition name.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The limits in force.
    pub fn limits(&self) -> &CacheLimits {
        &self.limits
    }

    /// The store.
    pub fn cache(&self) -> &Arc<MaterialsCache> {
        &self.cache
    }

    /// The underlying manager.
    pub fn underlying(&self) -> &Arc<dyn MaterialsManager> {
        &self.underlying
    }

    /// A snapshot of the hit, miss and underlying-call counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats { encrypt: self.encrypt.snapshot(), decrypt: self.decrypt.snapshot() }
    }

    async fn encrypt_uncached(&self, request: EncryptionRequest) -> Result<EncryptionMaterials> {
        self.encrypt.miss();
        self.encrypt.call();
        self.underlying.get_encryption_materials(request).await
    }

    /// Leads the fetch of encryption materials for the cache entry of
    /// `leader`: asks the underlying manager, stores cacheable materials and
    /// wakes the waiters.
    async fn lead_encrypt(
        &self,
        mut leader: Leader<'_>,
        request: EncryptionRequest,
        charge: u64,
    ) -> Result<EncryptionMaterials> {
        self.encrypt.miss();
        self.encrypt.call();
        let result = self.underlying.get_encryption_materials(request).await;
        match result {
            Ok(m) => {
                let insert = CachedEncryption::from_materials(&m)
                    .filter(|c| !no_kdf(c.suite) && !self.limits.exhausted(1, charge))
                    .map(|c| (Value::Encrypt(Arc::new(c)), Instant::now(), 1, charge));
                leader.finish(insert, Ok(None));
                Ok(m)
            }
            Err(e) => {
                leader.finish(None, Err(Arc::new(e.clone())));
                Err(e)
            }
        }
    }

    /// Leads the fetch of decryption materials for the cache entry of
    /// `leader`: asks the underlying manager, stores materials holding a
    /// data key and hands them to the waiters.
    async fn lead_decrypt(&self, mut leader: Leader<'_>, request: DecryptRequest<'_>) -> Result<DecryptionMaterials> {
        self.decrypt.miss();
        self.decrypt.call();
        match self.underlying.decrypt_materials(request).await {
            Ok(m) => {
                let cached = Arc::new(m.clone());
                let insert = m.data_key.is_some().then(|| (Value::Decrypt(Arc::clone(&cached)), Instant::now(), 0, 0));
                leader.finish(insert, Ok(Some(cached)));
                Ok(m)
            }
            Err(e) => {
                leader.finish(None, Err(Arc::new(e.clone())));
                Err(e)
            }
        }
    }
}

/// True for suites whose data key is the message key: never cached.
fn no_kdf(suite: AlgorithmSuite) -> bool {
    suite.kdf() == Kdf::Identity
}

#[async_trait]
impl MaterialsManager for CachingCmm {
    /// S3 Encryption Client keys are not cached: they go to the underlying manager.
    async fn s3ec_decrypt(&self, key: &crate::s3ec::WrappedKey) -> Result<crate::materials::DataKey> {
        self.underlying.s3ec_decrypt(key).await
    }

    /// S3 Encryption Client keys are not cached: they go to the underlying manager.
    async fn s3ec_encrypt(
        &self,
        suite: crate::s3ec::ContentSuite,
        context: &crate::context::EncryptionContext,
    ) -> Result<(crate::materials::DataKey, crate::s3ec::WrappedKey)> {
        self.underlying.s3ec_encrypt(suite, context).await
    }

    /// Re-wrapping is not cached: it goes to the underlying manager.
    async fn rewrap(
        &self,
        request: EncryptionRequest,
        data_key: crate::materials::DataKey,
    ) -> Result<EncryptionMaterials> {
        self.underlying.rewrap(request, data_key).await
    }

    async fn get_encryption_materials(&self, request: EncryptionRequest) -> Result<EncryptionMaterials> {
        let suite = request.suite.unwrap_or(request.commitment_policy.default_suite());
        let limits = &self.limits;
        let charge = match request.plaintext_length {
            Some(n) => n,
            None if limits.max_bytes == u64::MAX => 0,
            None => return self.encrypt_uncached(request).await,
        };
        if suite.signature().is_some() || no_kdf(suite) || limits.max_messages <= 1 || charge > limits.max_bytes {
            return self.encrypt_uncached(request).await;
        }
        let id = encrypt_id(&self.partition, &request);
        loop {
            let step = {
                let mut store = self.cache.lock();
                match store.reserve(&id, Instant::now(), charge, &self.limits) {
                    Some(m) => Step::Hit(m),
                    None => store.flights.join_or_lead(&id),
                }
            };
            match step {
                Step::Hit(m) => {
                    self.encrypt.hit();
                    return Ok(m.to_materials());
                }
                Step::Wait(rx) => match wait(rx).await {
                    Some(Err(e)) => {
                        self.encrypt.miss();
                        return Err(Error::clone(&e));
                    }
                    // Done (look again and count this use) or abandoned
                    // (take over).
                    Some(Ok(_)) | None => continue,
                },
                Step::Lead(flight, tx) => {
                    let leader = Leader::new(&self.cache, id, flight, tx);
                    return self.lead_encrypt(leader, request, charge).await;
                }
            }
        }
    }

    async fn decrypt_materials(&self, request: DecryptRequest<'_>) -> Result<DecryptionMaterials> {
        if no_kdf(request.suite) {
            self.decrypt.miss();
            self.decrypt.call();
            return self.underlying.decrypt_materials(request).await;
        }
        let id = decrypt_id(&self.partition, &request);
        loop {
            let step = {
                let mut store = self.cache.lock();
                match store.lookup_decrypt(&id, Instant::now(), self.limits.max_age) {
                    Some(m) => Step::Hit(m),
                    None => store.flights.join_or_lead(&id),
                }
            };
            match step {
                Step::Hit(m) => {
                    self.decrypt.hit();
                    return Ok((*m).clone());
                }
                Step::Wait(rx) => match wait(rx).await {
                    Some(Ok(Some(m))) => {
                        self.decrypt.hit();
                        return Ok((*m).clone());
                    }
                    Some(Err(e)) => {
                        self.decrypt.miss();
                        return Err(Error::clone(&e));
                    }
                    Some(Ok(None)) | None => continue,
                },
                Step::Lead(flight, tx) => {
                    let leader = Leader::new(&self.cache, id, flight, tx);
                    return self.lead_decrypt(leader, request).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
