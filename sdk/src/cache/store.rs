//! The store: cached entries, their limits of use and LRU eviction.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::flight::Flights;
use super::id::CacheId;
use super::limits::CacheLimits;
use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::suite::AlgorithmSuite;

/// Unsigned encryption materials as cached (no signing key, ever).
pub(super) struct CachedEncryption {
    pub(super) suite: AlgorithmSuite,
    encryption_context: EncryptionContext,
    required_context_keys: Vec<String>,
    data_key: DataKey,
    encrypted_data_keys: Vec<EncryptedDataKey>,
}

impl CachedEncryption {
    /// Takes a copy of cacheable materials: complete and unsigned.
    pub(super) fn from_materials(m: &EncryptionMaterials) -> Option<Self> {
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

    pub(super) fn to_materials(&self) -> EncryptionMaterials {
        let mut m = EncryptionMaterials::new(self.suite, self.encryption_context.clone());
        m.required_context_keys = self.required_context_keys.clone();
        m.data_key = Some(self.data_key.clone());
        m.encrypted_data_keys = self.encrypted_data_keys.clone();
        m
    }
}

/// What an entry holds.
pub(super) enum Value {
    Encrypt(Arc<CachedEncryption>),
    Decrypt(Arc<DecryptionMaterials>),
}

/// One cached value, when it was stored, what it served, when it was last used.
struct Entry {
    value: Value,
    created: Instant,
    messages: u64,
    bytes: u64,
    tick: u64,
}

/// The entries, their LRU order and the fetches in progress, all behind the
/// one mutex of a [`MaterialsCache`].
#[derive(Default)]
pub(super) struct Store {
    entries: HashMap<CacheId, Entry>,
    /// LRU order: tick of last use → id.
    order: BTreeMap<u64, CacheId>,
    tick: u64,
    pub(super) flights: Flights,
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

    pub(super) fn insert(
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
        self.entries.insert(id, Entry { value, created, messages, bytes, tick });
        self.order.insert(tick, id);
    }

    /// Takes one use of the encryption entry `id`, if it can serve `charge`
    /// more bytes; evicts it if it cannot, or if it is used up afterwards.
    pub(super) fn reserve(
        &mut self,
        id: &CacheId,
        now: Instant,
        charge: u64,
        limits: &CacheLimits,
    ) -> Option<Arc<CachedEncryption>> {
        let entry = self.entries.get_mut(id)?;
        let usable = now.saturating_duration_since(entry.created) < limits.max_age
            && entry.messages < limits.max_messages
            && entry.bytes.saturating_add(charge) <= limits.max_bytes;
        let m = match &entry.value {
            Value::Encrypt(m) if usable => Arc::clone(m),
            _ => {
                self.remove(id);
                return None;
            }
        };
        entry.messages += 1;
        entry.bytes = entry.bytes.saturating_add(charge);
        if limits.exhausted(entry.messages, entry.bytes) {
            self.remove(id);
        } else {
            self.touch(id);
        }
        Some(m)
    }

    /// Looks `id` up for a decrypt request: a fresh entry is a hit, a stale
    /// one is evicted.
    pub(super) fn lookup_decrypt(
        &mut self,
        id: &CacheId,
        now: Instant,
        max_age: Duration,
    ) -> Option<Arc<DecryptionMaterials>> {
        let entry = self.entries.get(id)?;
        match &entry.value {
            Value::Decrypt(m) if now.saturating_duration_since(entry.created) < max_age => {
                let m = Arc::clone(m);
                self.touch(id);
                Some(m)
            }
            _ => {
                self.remove(id);
                None
            }
        }
    }
}

/// The store behind one or more [`CachingCmm`]s (the ESDK's cryptographic
/// materials cache): a bounded LRU map of cache entries.
///
/// Each `CachingCmm` made with [`CachingCmm::new`] has its own; share one
/// with [`CachingCmm::with_cache`]. Managers sharing a store share entries
/// only if they use the same [partition].
///
/// [`CachingCmm`]: crate::cache::CachingCmm
/// [`CachingCmm::new`]: crate::cache::CachingCmm::new
/// [`CachingCmm::with_cache`]: crate::cache::CachingCmm::with_cache
/// [partition]: crate::cache::CachingCmm::with_partition
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

    pub(super) fn lock(&self) -> MutexGuard<'_, Store> {
        // The store's invariants hold between statements, so a panic in
        // another thread leaves it usable.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
