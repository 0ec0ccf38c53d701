//! The limits of a [`CachingCmm`](crate::cache::CachingCmm) and its counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

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
///
/// [`EncryptionRequest::plaintext_length`]: crate::materials::EncryptionRequest::plaintext_length
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

    pub(super) fn check(&self) -> Result<()> {
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

    /// True when an entry that served `messages` messages and `bytes` bytes
    /// can serve no more.
    pub(super) fn exhausted(&self, messages: u64, bytes: u64) -> bool {
        messages >= self.max_messages || (self.max_bytes != u64::MAX && bytes >= self.max_bytes)
    }
}

/// Counters of one side (encrypt or decrypt) of a [`CachingCmm`].
///
/// [`CachingCmm`]: crate::cache::CachingCmm
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
///
/// [`CachingCmm`]: crate::cache::CachingCmm
/// [`CachingCmm::stats`]: crate::cache::CachingCmm::stats
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Encryption-materials requests.
    pub encrypt: OpStats,
    /// Decryption-materials requests.
    pub decrypt: OpStats,
}

/// The live counters of one side of a [`CachingCmm`](crate::cache::CachingCmm).
#[derive(Debug, Default)]
pub(super) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    calls: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> OpStats {
        OpStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            underlying_calls: self.calls.load(Ordering::Relaxed),
        }
    }

    pub(super) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}
