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
    DataKey, DecryptRequest, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials,
    EncryptionRequest,
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
        Self {
            max_age: Duration::from_secs(300),
            max_messages: 10_000,
            max_bytes: u64::MAX,
            capacity: 1_000,
        }
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
            return Err(Error::InvalidParameter(
                "cache max_age must be positive".into(),
            ));
        }
        if self.max_messages == 0 {
            return Err(Error::InvalidParameter(
                "cache max_messages must be at least 1".into(),
            ));
        }
        if self.capacity == 0 {
            return Err(Error::InvalidParameter(
                "cache capacity must be at least 1".into(),
            ));
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
        if m.signing_key.is_some()
            || m.suite.signature().is_some()
            || m.encrypted_data_keys.is_empty()
        {
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

    fn insert(
        &mut self,
        id: CacheId,
        value: Value,
        created: Instant,
        messages: u64,
        bytes: u64,
        capacity: usize,
    ) {
        self.remove(&id);
        while self.entries.len() >= capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let tick = self.next_tick();
        self.entries.insert(
            id,
            Entry {
                value,
                created,
                messages,
                bytes,
                tick,
            },
        );
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
        f.debug_struct("MaterialsCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl MaterialsCache {
    /// An empty store holding at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::InvalidParameter(
                "cache capacity must be at least 1".into(),
            ));
        }
        Ok(Self {
            store: Mutex::new(Store::default()),
            capacity,
        })
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
        Ok(Self {
            underlying,
            cache,
            limits,
            partition,
            encrypt: Counters::default(),
            decrypt: Counters::default(),
        })
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
        CacheStats {
            encrypt: self.encrypt.snapshot(),
            decrypt: self.decrypt.snapshot(),
        }
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
    fn reserve(
        &self,
        store: &mut Store,
        id: &CacheId,
        now: Instant,
        charge: u64,
    ) -> Option<Arc<CachedEncryption>> {
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
        messages >= self.limits.max_messages
            || (self.limits.max_bytes != u64::MAX && bytes >= self.limits.max_bytes)
    }

    /// Looks `id` up for a decrypt request: a fresh entry is a hit, a stale
    /// one is evicted.
    fn lookup_decrypt(
        &self,
        store: &mut Store,
        id: &CacheId,
        now: Instant,
    ) -> Option<Arc<DecryptionMaterials>> {
        let entry = store.entries.get(id)?;
        match &entry.value {
            Value::Decrypt(m)
                if now.saturating_duration_since(entry.created) < self.limits.max_age =>
            {
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
            if store
                .flights
                .get(&self.id)
                .is_some_and(|f| f.id == self.flight)
            {
                store.flights.remove(&self.id);
            }
            if let Some((value, created, messages, bytes)) = insert {
                store.insert(
                    self.id,
                    value,
                    created,
                    messages,
                    bytes,
                    self.cache.capacity,
                );
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
            if store
                .flights
                .get(&self.id)
                .is_some_and(|f| f.id == self.flight)
            {
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
    async fn get_encryption_materials(
        &self,
        request: EncryptionRequest,
    ) -> Result<EncryptionMaterials> {
        let suite = request
            .suite
            .unwrap_or(request.commitment_policy.default_suite());
        let limits = &self.limits;
        let charge = match request.plaintext_length {
            Some(n) => n,
            None if limits.max_bytes == u64::MAX => 0,
            None => return self.encrypt_uncached(request).await,
        };
        if suite.signature().is_some()
            || no_kdf(suite)
            || limits.max_messages <= 1
            || charge > limits.max_bytes
        {
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
                        return Err(copy_error(&e));
                    }
                    // Done (look again and count this use) or abandoned
                    // (take over).
                    Some(Ok(_)) | None => continue,
                },
                Step::Lead(flight, tx) => {
                    let mut leader = Leader {
                        cache: &self.cache,
                        id,
                        flight,
                        tx: Some(tx),
                    };
                    self.encrypt.miss();
                    self.encrypt.call();
                    let result = self
                        .underlying
                        .get_encryption_materials(request.clone())
                        .await;
                    match result {
                        Ok(m) => {
                            let insert = CachedEncryption::from_materials(&m)
                                .filter(|c| !no_kdf(c.suite) && !self.exhausted(1, charge))
                                .map(|c| (Value::Encrypt(Arc::new(c)), Instant::now(), 1, charge));
                            leader.finish(insert, Ok(None));
                            return Ok(m);
                        }
                        Err(e) => {
                            leader.finish(None, Err(Arc::new(copy_error(&e))));
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
                        return Err(copy_error(&e));
                    }
                    Some(Ok(None)) | None => continue,
                },
                Step::Lead(flight, tx) => {
                    let mut leader = Leader {
                        cache: &self.cache,
                        id,
                        flight,
                        tx: Some(tx),
                    };
                    self.decrypt.miss();
                    self.decrypt.call();
                    match self.underlying.decrypt_materials(request).await {
                        Ok(m) => {
                            let cached = Arc::new(m.clone());
                            let insert = m.data_key.is_some().then(|| {
                                (Value::Decrypt(Arc::clone(&cached)), Instant::now(), 0, 0)
                            });
                            leader.finish(insert, Ok(Some(cached)));
                            return Ok(m);
                        }
                        Err(e) => {
                            leader.finish(None, Err(Arc::new(copy_error(&e))));
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
    let mut out = Vec::with_capacity(
        24 + edk.provider_id.len() + edk.provider_info.len() + edk.ciphertext.len(),
    );
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

/// An equal error for each request that waited on a failed fetch (the same
/// variant and message; an I/O error keeps its kind and text).
fn copy_error(e: &Error) -> Error {
    match e {
        Error::Malformed(m) => Error::Malformed(m.clone()),
        Error::Truncated(m) => Error::Truncated(*m),
        Error::Authentication(m) => Error::Authentication(*m),
        Error::CommitmentMismatch => Error::CommitmentMismatch,
        Error::BadSignature => Error::BadSignature,
        Error::NoDecryptableKey(d) => Error::NoDecryptableKey(d.clone()),
        Error::TooManyEncryptedDataKeys { found, limit } => Error::TooManyEncryptedDataKeys {
            found: *found,
            limit: *limit,
        },
        Error::CommitmentPolicy { policy, suite } => Error::CommitmentPolicy {
            policy: *policy,
            suite: *suite,
        },
        Error::EncryptionContext(m) => Error::EncryptionContext(m.clone()),
        Error::UnsupportedSuite(id) => Error::UnsupportedSuite(*id),
        Error::InvalidKey(m) => Error::InvalidKey(m.clone()),
        Error::Keyring { keyring, message } => Error::Keyring {
            keyring: keyring.clone(),
            message: message.clone(),
        },
        Error::Kms { operation, message } => Error::Kms {
            operation: *operation,
            message: message.clone(),
        },
        Error::InvalidParameter(m) => Error::InvalidParameter(m.clone()),
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        Error::Crypto(m) => Error::Crypto(*m),
        // Variants added later keep their message.
        #[allow(unreachable_patterns)]
        other => Error::Keyring {
            keyring: "cache".into(),
            message: other.to_string(),
        },
    }
}
