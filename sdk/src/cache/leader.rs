//! The leader of a fetch: the request that calls the underlying manager
//! while the others wait (see the [module documentation](super#concurrency)).

use std::time::Instant;

use tokio::sync::watch;

use super::flight::Outcome;
use super::id::CacheId;
use super::store::{MaterialsCache, Value};

/// The leader of a fetch. Dropping it unfinished (cancellation) removes the
/// fetch, so that a waiting request takes over.
pub(super) struct Leader<'a> {
    cache: &'a MaterialsCache,
    id: CacheId,
    flight: u64,
    tx: Option<watch::Sender<Option<Outcome>>>,
}

impl<'a> Leader<'a> {
    /// The leader of the fetch `flight` of `id`, which will tell its
    /// waiters through `tx`.
    pub(super) fn new(cache: &'a MaterialsCache, id: CacheId, flight: u64, tx: watch::Sender<Option<Outcome>>) -> Self {
        Self { cache, id, flight, tx: Some(tx) }
    }

    /// Ends the fetch: stores `insert` (if any) and wakes the waiters.
    pub(super) fn finish(&mut self, insert: Option<(Value, Instant, u64, u64)>, outcome: Outcome) {
        {
            let mut store = self.cache.lock();
            store.flights.end(&self.id, self.flight);
            if let Some((value, created, messages, bytes)) = insert {
                store.insert(self.id, value, created, messages, bytes, self.cache.capacity());
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
            store.flights.end(&self.id, self.flight);
        }
    }
}
