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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha512};
use tokio::sync::watch;

use crate::cmm::MaterialsManager;
use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::materials::{
    DataKey, DecryptRequest, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials, EncryptionRequest,
};
use crate::suite::{AlgorithmSuite, CommitmentPolicy, Kdf};

/// Limits on how long and how much one cached data key is used.
///
/// The defaults ([`CacheLimits::default`]) suit an S3 client that writes
/// and reads many objects of one bucket:
///
/// * `max_age` = 5 minutes: bounds how long a revoked KMS permission keeps
///   working through the cache (for both encryption and decryption), like
///   the short-lived S3 Bucket Keys.
/// * `max_messages` = 10,000: bounds how many objects one data key protects
///   (the blast radius of a leaked data key), while 1,000 PUTs still cost
///   one KMS call.
/// * `max_bytes` = unlimited (`u64::MAX`): every message already encrypts
///   under its own derived key, so AES-GCM's per-key limits do not
///   accumulate across messages; and streams of unknown length can only be
///   cached without a byte limit (see below).
/// * `capacity` = 1,000 entries (encrypt and decrypt together): one entry
///   per encryption context on the encrypt side, one per data key on the
///   decrypt side.
///
/// Byte accounting uses [`EncryptionRequest::plaintext_length`]. A request
/// whose length is unknown could encrypt any amount, so when `max_bytes` is
/// finite it bypasses the cache (a fresh data key, not cached); with the
/// default unlimited `max_bytes` it is served from the cache like any other.
/// A request longer than `max_bytes` on its own also bypasses the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// How long an entry is used after it was stored. Must be positive.
    pub max_age: Duration,
    /// How many messages one encryption entry serves (at least 1). With 1
    /// nothing can be shared, so encryption bypasses the cache.
    pub max_messages: u64,
    /// How many plaintext bytes one encryption entry serves in total;
    /// `u64::MAX` means no limit.
    pub max_bytes: u64,
    /// How many entries the cache holds (at least 1); the least recently
    /// used entry is evicted to make room.
    pub capacity: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self { max_age: Duration::from_secs(300), max_messages: 10_000, max_bytes: u64::MAX, capacity: 1_000 }
    }
}

impl CacheLimits {
    /// Sets [`CacheLimits::max_age`].
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets [`CacheLimits::max_messages`].
    pub fn with_max_messages(mut self, max_messages: u64) -> Self {
        self.max_messages = max_messages;
        self
    }

    /// Sets [`CacheLimits::max_bytes`].
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets [`CacheLimits::capacity`].
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    fn check(&self) -> Result<()> {
        if self.max_age.is_zero() {
            return Err(Error::InvalidParameter("cache max_age must be positive".into()));
        }
        if self.max_messages == 0 {
            return Err(Error::InvalidParameter("cache max_messages must be at least 1".into()));
        }
        if self.capacity == 0 {
            return Err(Error::InvalidParameter("cache capacity must be at least 1".into()));
        }
        Ok(())
    }
}

/// Counters of one side (encrypt or decrypt) of a [`CachingCmm`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Requests served from the cache, including those that waited for
    /// another request's fetch of the same entry.
    pub hits: u64,
    /// Requests not served from the cache: those that fetched (or
    /// bypassed the cache) and those that got a failed fetch's error.
    /// `hits + misses` is the number of requests.
    pub misses: u64,
    /// Calls made to the underlying materials manager (keyring calls).
    pub underlying_calls: u64,
}

/// A snapshot of a [`CachingCmm`]'s counters ([`CachingCmm::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Encryption-materials requests.
    pub encrypt: OpStats,
    /// Decryption-materials requests.
    pub decrypt: OpStats,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    calls: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> OpStats {
        OpStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            underlying_calls: self.calls.load(Ordering::Relaxed),
        }
    }

    fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// A cache id: SHA-512 of the request's identifying fields.
type CacheId = [u8; 64];

/// Unsigned encryption materials as cached (no signing key, ever).
struct CachedEncryption {
    suite: AlgorithmSuite,
    encryption_context: EncryptionContext,
    required_context_keys: Vec<String>,
    data_key: DataKey,
    encrypted_data_keys: Vec<EncryptedDataKey>,
}

impl CachedEncryption {
    /// Takes a copy of cacheable materials: complete and unsigned.
    fn from_materials(m: &EncryptionMaterials) -> Option<Self> {
        if m.signing_key.is_some() || m.suite.signature().is_some() || m.encrypted_data_keys.is_empty() {
            return None;
        }
        Some(Self {
            suite: m.suite,
            encryption_context: m.encryption_context.clone(),
            required_context_keys: m.required_context_keys.clone(),
            data_key: m.data_key.clone()?,
            encrypted_data_keys: m.encrypted_data_keys.clone(),
        })
    }

    fn to_materials(&self) -> EncryptionMaterials {
        let mut m = EncryptionMaterials::new(self.suite, self.encryption_context.clone());
        m.required_context_keys = self.required_context_keys.clone();
        m.data_key = Some(self.data_key.clone());
        m.encrypted_data_keys = self.encrypted_data_keys.clone();
        m
    }
}

enum Value {
    Encrypt(Arc<CachedEncryption>),
    Decrypt(Arc<DecryptionMaterials>),
}

struct Entry {
    value: Value,
    created: Instant,
    messages: u64,
    bytes: u64,
    tick: u64,
}

/// What a finished fetch tells the requests that waited for it. Encrypt
/// waiters look the entry up again (to count their use); decrypt waiters
/// take the materials.
type Outcome = std::result::Result<Option<Arc<DecryptionMaterials>>, Arc<Error>>;

struct Flight {
    id: u64,
    rx: watch::Receiver<Option<Outcome>>,
}

#[derive(Default)]
struct Store {
    entries: HashMap<CacheId, Entry>,
    /// LRU order: tick of last use → id.
    order: BTreeMap<u64, CacheId>,
    tick: u64,
    flights: HashMap<CacheId, Flight>,
    next_flight: u64,
}

impl Store {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn touch(&mut self, id: &CacheId) {
        let tick = self.next_tick();
        if let Some(e) = self.entries.get_mut(id) {
            self.order.remove(&e.tick);
            e.tick = tick;
            self.order.insert(tick, *id);
        }
    }

    fn remove(&mut self, id: &CacheId) {
        if let Some(e) = self.entries.remove(id) {
            self.order.remove(&e.tick);
        }
    }

    fn insert(&mut self, id: CacheId, value: Value, created: Instant, messages: u64, bytes: u64, capacity: usize) {
        self.remove(&id);
        while self.entries.len() >= capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let tick = self.next_tick();
        self.entries.insert(id, Entry { value, created, messages, bytes, tick });
        self.order.insert(tick, id);
    }
}

/// The store behind one or more [`CachingCmm`]s (the ESDK's cryptographic
/// materials cache): a bounded LRU map of cache entries.
///
/// Each `CachingCmm` made with [`CachingCmm::new`] has its own; share one
/// with [`CachingCmm::with_cache`]. Managers sharing a store share entries
/// only if they use the same [partition](CachingCmm::with_partition).
pub struct MaterialsCache {
    store: Mutex<Store>,
    capacity: usize,
}

impl fmt::Debug for MaterialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaterialsCache").field("capacity", &self.capacity).field("len", &self.len()).finish()
    }
}

impl MaterialsCache {
    /// An empty store holding at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::InvalidParameter("cache capacity must be at least 1".into()));
        }
        Ok(Self { store: Mutex::new(Store::default()), capacity })
    }

    /// The most entries the store holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of entries (some may be expired or used up and not yet
    /// evicted).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Evicts every entry (data keys are zeroized once no message in
    /// progress holds a copy). Fetches in progress are not affected.
    pub fn clear(&self) {
        let mut store = self.lock();
        store.entries.clear();
        store.order.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // The store's invariants hold between statements, so a panic in
        // another thread leaves it usable.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

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

/// What a request does after looking at the store.
enum Step<T> {
    Hit(T),
    Wait(watch::Receiver<Option<Outcome>>),
    Lead(u64, watch::Sender<Option<Outcome>>),
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

    fn encrypt_id(&self, request: &EncryptionRequest) -> CacheId {
        let mut id = IdHasher::new(&self.partition, 0x01);
        match request.suite {
            None => id.field(&[0x00]),
            Some(s) => {
                id.field(&[0x01]);
                id.field(&s.id().to_be_bytes());
            }
        }
        id.context(&request.encryption_context);
        id.count(request.required_context_keys.len());
        for k in &request.required_context_keys {
            id.field(k.as_bytes());
        }
        id.field(&[policy_byte(request.commitment_policy)]);
        id.finish()
    }

    fn decrypt_id(&self, request: &DecryptRequest<'_>) -> CacheId {
        let mut id = IdHasher::new(&self.partition, 0x02);
        id.field(&request.suite.id().to_be_bytes());
        let mut edks: Vec<Vec<u8>> = request.encrypted_data_keys.iter().map(encode_edk).collect();
        edks.sort();
        id.count(edks.len());
        for e in &edks {
            id.field(e);
        }
        id.context(request.encryption_context);
        id.context(request.reproduced_context);
        id.field(&[policy_byte(request.commitment_policy)]);
        id.finish()
    }

    /// Takes one use of the encryption entry `id`, if it can serve `charge`
    /// more bytes; evicts it if it cannot, or if it is used up afterwards.
    fn reserve(&self, store: &mut Store, id: &CacheId, now: Instant, charge: u64) -> Option<Arc<CachedEncryption>> {
        let limits = &self.limits;
        let entry = store.entries.get_mut(id)?;
        let usable = now.saturating_duration_since(entry.created) < limits.max_age
            && entry.messages < limits.max_messages
            && entry.bytes.saturating_add(charge) <= limits.max_bytes;
        let m = match &entry.value {
            Value::Encrypt(m) if usable => Arc::clone(m),
            _ => {
                store.remove(id);
                return None;
            }
        };
        entry.messages += 1;
        entry.bytes = entry.bytes.saturating_add(charge);
        if self.exhausted(entry.messages, entry.bytes) {
            store.remove(id);
        } else {
            store.touch(id);
        }
        Some(m)
    }

    fn exhausted(&self, messages: u64, bytes: u64) -> bool {
        messages >= self.limits.max_messages || (self.limits.max_bytes != u64::MAX && bytes >= self.limits.max_bytes)
    }

    /// Looks `id` up for a decrypt request: a fresh entry is a hit, a stale
    /// one is evicted.
    fn lookup_decrypt(&self, store: &mut Store, id: &CacheId, now: Instant) -> Option<Arc<DecryptionMaterials>> {
        let entry = store.entries.get(id)?;
        match &entry.value {
            Value::Decrypt(m) if now.saturating_duration_since(entry.created) < self.limits.max_age => {
                let m = Arc::clone(m);
                store.touch(id);
                Some(m)
            }
            _ => {
                store.remove(id);
                None
            }
        }
    }

    /// Joins the fetch in progress for `id` or starts one.
    fn join_or_lead<T>(store: &mut Store, id: &CacheId) -> Step<T> {
        if let Some(f) = store.flights.get(id) {
            return Step::Wait(f.rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        store.next_flight += 1;
        let flight = store.next_flight;
        store.flights.insert(*id, Flight { id: flight, rx });
        Step::Lead(flight, tx)
    }
}

/// Waits for a fetch: `None` if its leader gave up (was cancelled).
async fn wait(mut rx: watch::Receiver<Option<Outcome>>) -> Option<Outcome> {
    match rx.wait_for(Option::is_some).await {
        Ok(v) => v.clone(),
        Err(_) => None,
    }
}

/// The leader of a fetch. Dropping it unfinished (cancellation) removes the
/// fetch, so that a waiting request takes over.
struct Leader<'a> {
    cache: &'a MaterialsCache,
    id: CacheId,
    flight: u64,
    tx: Option<watch::Sender<Option<Outcome>>>,
}

impl Leader<'_> {
    /// Ends the fetch: stores `insert` (if any) and wakes the waiters.
    fn finish(&mut self, insert: Option<(Value, Instant, u64, u64)>, outcome: Outcome) {
        {
            let mut store = self.cache.lock();
            if store.flights.get(&self.id).is_some_and(|f| f.id == self.flight) {
                store.flights.remove(&self.id);
            }
            if let Some((value, created, messages, bytes)) = insert {
                store.insert(self.id, value, created, messages, bytes, self.cache.capacity);
            }
        }
        if let Some(tx) = self.tx.take() {
            tx.send_replace(Some(outcome));
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if self.tx.is_some() {
            let mut store = self.cache.lock();
            if store.flights.get(&self.id).is_some_and(|f| f.id == self.flight) {
                store.flights.remove(&self.id);
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
        let id = self.encrypt_id(&request);
        loop {
            let step = {
                let mut store = self.cache.lock();
                match self.reserve(&mut store, &id, Instant::now(), charge) {
                    Some(m) => Step::Hit(m),
                    None => Self::join_or_lead(&mut store, &id),
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
                    let mut leader = Leader { cache: &self.cache, id, flight, tx: Some(tx) };
                    self.encrypt.miss();
                    self.encrypt.call();
                    let result = self.underlying.get_encryption_materials(request.clone()).await;
                    match result {
                        Ok(m) => {
                            let insert = CachedEncryption::from_materials(&m)
                                .filter(|c| !no_kdf(c.suite) && !self.exhausted(1, charge))
                                .map(|c| (Value::Encrypt(Arc::new(c)), Instant::now(), 1, charge));
                            leader.finish(insert, Ok(None));
                            return Ok(m);
                        }
                        Err(e) => {
                            leader.finish(None, Err(Arc::new(e.clone())));
                            return Err(e);
                        }
                    }
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
        let id = self.decrypt_id(&request);
        loop {
            let step = {
                let mut store = self.cache.lock();
                match self.lookup_decrypt(&mut store, &id, Instant::now()) {
                    Some(m) => Step::Hit(m),
                    None => Self::join_or_lead(&mut store, &id),
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
                    let mut leader = Leader { cache: &self.cache, id, flight, tx: Some(tx) };
                    self.decrypt.miss();
                    self.decrypt.call();
                    match self.underlying.decrypt_materials(request).await {
                        Ok(m) => {
                            let cached = Arc::new(m.clone());
                            let insert = m
                                .data_key
                                .is_some()
                                .then(|| (Value::Decrypt(Arc::clone(&cached)), Instant::now(), 0, 0));
                            leader.finish(insert, Ok(Some(cached)));
                            return Ok(m);
                        }
                        Err(e) => {
                            leader.finish(None, Err(Arc::new(e.clone())));
                            return Err(e);
                        }
                    }
                }
            }
        }
    }
}

fn policy_byte(p: CommitmentPolicy) -> u8 {
    match p {
        CommitmentPolicy::ForbidEncryptAllowDecrypt => 1,
        CommitmentPolicy::RequireEncryptAllowDecrypt => 2,
        CommitmentPolicy::RequireEncryptRequireDecrypt => 3,
    }
}

fn encode_edk(edk: &EncryptedDataKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + edk.provider_id.len() + edk.provider_info.len() + edk.ciphertext.len());
    for part in [&edk.provider_id, &edk.provider_info, &edk.ciphertext] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Builds a cache id from length-prefixed fields.
struct IdHasher(Sha512);

impl IdHasher {
    /// Resource id (caching CMM = 1), scope (encrypt 1, decrypt 2), partition.
    fn new(partition: &str, scope: u8) -> Self {
        let mut h = IdHasher(Sha512::new());
        h.field(&[0x01]);
        h.field(&[scope]);
        h.field(partition.as_bytes());
        h
    }

    fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_be_bytes());
    }

    fn field(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.update(bytes);
    }

    fn context(&mut self, ctx: &EncryptionContext) {
        self.count(ctx.len());
        for (k, v) in ctx {
            self.field(k.as_bytes());
            self.field(v.as_bytes());
        }
    }

    fn finish(self) -> CacheId {
        let mut id = [0u8; 64];
        id.copy_from_slice(&self.0.finalize());
        id
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::Client;
    use crate::client::EncryptOptions;
    use crate::cmm::DefaultCmm;
    use crate::error::KmsErrorKind;
    use crate::keyring::{Keyring, RawAesKeyring};

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
        let client = Client::builder_with_cmm(cmm.clone())
            .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
            .build();
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
}
