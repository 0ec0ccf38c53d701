//! Single flight: the fetches in progress, and the requests that wait for
//! them (see the [module documentation](super#concurrency)).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::id::CacheId;
use crate::error::Error;
use crate::materials::DecryptionMaterials;

/// What a finished fetch tells the requests that waited for it. Encrypt
/// waiters look the entry up again (to count their use); decrypt waiters
/// take the materials.
pub(super) type Outcome = std::result::Result<Option<Arc<DecryptionMaterials>>, Arc<Error>>;

struct Flight {
    id: u64,
    rx: watch::Receiver<Option<Outcome>>,
}

/// The fetches in progress, by cache id.
#[derive(Default)]
pub(super) struct Flights {
    flights: HashMap<CacheId, Flight>,
    next_flight: u64,
}

impl Flights {
    /// Joins the fetch in progress for `id` or starts one.
    pub(super) fn join_or_lead<T>(&mut self, id: &CacheId) -> Step<T> {
        if let Some(f) = self.flights.get(id) {
            return Step::Wait(f.rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        self.next_flight += 1;
        let flight = self.next_flight;
        self.flights.insert(*id, Flight { id: flight, rx });
        Step::Lead(flight, tx)
    }

    /// Removes the fetch for `id` if it is still `flight` (not a later one).
    pub(super) fn end(&mut self, id: &CacheId, flight: u64) {
        if self.flights.get(id).is_some_and(|f| f.id == flight) {
            self.flights.remove(id);
        }
    }
}

/// What a request does after looking at the store.
pub(super) enum Step<T> {
    Hit(T),
    Wait(watch::Receiver<Option<Outcome>>),
    Lead(u64, watch::Sender<Option<Outcome>>),
}

/// Waits for a fetch: `None` if its leader gave up (was cancelled).
pub(super) async fn wait(mut rx: watch::Receiver<Option<Outcome>>) -> Option<Outcome> {
    match rx.wait_for(Option::is_some).await {
        Ok(v) => v.clone(),
        Err(_) => None,
    }
}
