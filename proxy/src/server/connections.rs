//! Connection discipline: how many client connections may be open, from
//! where, and which one gives way when the proxy is full.
//!
//! Every accepted connection takes a [`Ticket`] from the [`Gate`] before
//! anything is read from it. A connection with no request in flight
//! (including one that has sent nothing yet) is *idle*: idle connections
//! are closed after the idle timeout, and when the proxy (or one address)
//! is at its limit, a new connection makes the oldest idle one (of that
//! address) give way. Only when every connection is busy is a new one
//! refused: it is closed at once, counted and logged. So idle or silent
//! connections, however many, cannot lock clients out, and the proxy
//! never runs out of file descriptors by accepting.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::config::ConnectionLimits;

/// File descriptors kept for everything but client connections: the
/// listeners, upstream connections of busy requests, files, logs.
const RESERVED_FDS: u64 = 64;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every connection is busy and the proxy is at its limit.
    Full,
    /// Every connection from this address is busy and it is at its limit.
    AddressFull,
}

impl Refusal {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Full => "max_connections",
            Self::AddressFull => "max_connections_per_address",
        }
    }
}

/// How many connections beyond the limit may be closing at a time.
fn closing_allowance(max_total: usize) -> usize {
    (max_total / 4).max(1)
}

/// Raises the soft open-file limit to the hard one and returns the
/// connection limits that fit in it: each busy client connection may
/// need one upstream connection too, and up to a quarter more client
/// connections may be closing at a time.
pub(crate) fn fit_to_open_files(limits: ConnectionLimits) -> ConnectionLimits {
    let (before, _) = rlimit::Resource::NOFILE.get().unwrap_or((1024, 1024));
    let nofile = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, limit = before, "cannot raise the open-file limit");
            before
        }
    };
    // n client connections, n/4 more closing and n upstream ones: 9n/4.
    let fit = usize::try_from(nofile.saturating_sub(RESERVED_FDS) * 4 / 9).unwrap_or(usize::MAX).max(1);
    let max_connections = limits.max_connections.min(fit);
    tracing::info!(
        open_files_before = before,
        open_files = nofile,
        max_connections,
        max_connections_per_address = limits.max_connections_per_address.min(max_connections),
        "connection limits"
    );
    if max_connections < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            max_connections,
            "max_connections lowered to fit the open-file limit (raise `ulimit -n` to allow more)"
        );
    }
    ConnectionLimits {
        max_connections,
        max_connections_per_address: limits.max_connections_per_address.min(max_connections),
        ..limits
    }
}

/// The count of open connections, total and per address, and the queue
/// of idle ones, oldest first.
#[derive(Debug)]
pub(crate) struct Gate {
    max_total: usize,
    max_per_address: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Idle connections by when they became idle (a sequence number).
    idle: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
    next: u64,
}

impl State {
    /// Tells the oldest idle connection (of `address`, when given) to
    /// close. False when there is none.
    fn evict_oldest(&mut self, address: Option<IpAddr>) -> bool {
        let seq = self.idle.iter().find(|(_, (a, _))| address.is_none_or(|x| x == *a)).map(|(s, _)| *s);
        match seq.and_then(|s| self.idle.remove(&s)) {
            Some((_, evict)) => {
                evict.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Gate {
    /// A gate for `limits`.
    pub(crate) fn new(limits: &ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            max_total: limits.max_connections,
            max_per_address: limits.max_connections_per_address,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a connection from `address`, making an idle one give way if
    /// a limit is reached. The new connection starts idle.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refusal> {
        let mut s = self.lock();
        let from_address = s.per_address.get(&address).copied().unwrap_or(0);
        if from_address >= self.max_per_address && !s.evict_oldest(Some(address)) {
            return Err(Refusal::AddressFull);
        }
        if s.open >= self.max_total && !s.evict_oldest(None) {
            return Err(Refusal::Full);
        }
        // Connections told to give way close within a moment; until they
        // do they still hold a descriptor, so only a quarter more may wait.
        if s.open >= self.max_total + closing_allowance(self.max_total) {
            return Err(Refusal::Full);
        }
        s.open += 1;
        *s.per_address.entry(address).or_insert(0) += 1;
        let evict = Arc::new(Notify::new());
        let seq = s.next;
        s.next += 1;
        s.idle.insert(seq, (address, evict.clone()));
        drop(s);
        let activity = Mutex::new(Activity { in_flight: 0, idle_seq: Some(seq), since: Instant::now() });
        Ok(Ticket { gate: self.clone(), address, evict, activity })
    }

    /// Open connections.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.lock().open
    }
}

/// What a connection is doing.
#[derive(Debug)]
struct Activity {
    in_flight: usize,
    /// Its place in the idle queue, while idle.
    idle_seq: Option<u64>,
    /// When it last became idle or busy.
    since: Instant,
}

/// One admitted connection: counts as open until dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    gate: Arc<Gate>,
    address: IpAddr,
    evict: Arc<Notify>,
    activity: Mutex<Activity>,
}

impl Ticket {
    fn activity(&self) -> MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A request started.
    pub(crate) fn request_started(&self) {
        let mut a = self.activity();
        a.in_flight += 1;
        if let Some(seq) = a.idle_seq.take() {
            self.gate.lock().idle.remove(&seq);
        }
        a.since = Instant::now();
    }

    /// A request ended (its response is on its way).
    pub(crate) fn request_ended(&self) {
        let mut a = self.activity();
        a.in_flight = a.in_flight.saturating_sub(1);
        a.since = Instant::now();
        if a.in_flight == 0 && a.idle_seq.is_none() {
            let mut s = self.gate.lock();
            let seq = s.next;
            s.next += 1;
            s.idle.insert(seq, (self.address, self.evict.clone()));
            a.idle_seq = Some(seq);
        }
    }

    /// When the connection may be closed for idleness, if it is idle.
    pub(crate) fn idle_deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        let a = self.activity();
        (a.in_flight == 0).then(|| a.since + idle_timeout)
    }

    /// Completes when the gate needs this (idle) connection to close.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let seq = self.activity().idle_seq.take();
        let mut s = self.gate.lock();
        if let Some(seq) = seq {
            s.idle.remove(&seq);
        }
        s.open = s.open.saturating_sub(1);
        if let Some(n) = s.per_address.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.per_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_address: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: total,
            max_connections_per_address: per_address,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[tokio::test]
    async fn idle_connections_give_way_busy_ones_do_not() {
        let gate = Gate::new(&limits(2, 2));
        let first = gate.admit(A).unwrap();
        let second = gate.admit(A).unwrap();
        second.request_started();
        // Full: the idle one (first) is told to close; the new one is in.
        let third = gate.admit(B).unwrap();
        tokio::time::timeout(Duration::from_secs(1), first.evicted()).await.expect("the idle connection was evicted");
        drop(first);
        assert_eq!(gate.open(), 2);
        // Now both are busy: a new connection is refused.
        third.request_started();
        assert_eq!(gate.admit(B).unwrap_err(), Refusal::Full);
        // A request ends: that connection becomes the one to give way.
        second.request_ended();
        let fourth = gate.admit(B).unwrap();
        tokio::time::timeout(Duration::from_secs(1), second.evicted()).await.expect("evicted once idle again");
        drop((second, third, fourth));
        assert_eq!(gate.open(), 0);
    }

    #[tokio::test]
    async fn one_address_cannot_take_every_slot() {
        let gate = Gate::new(&limits(10, 2));
        let a1 = gate.admit(A).unwrap();
        let a2 = gate.admit(A).unwrap();
        a1.request_started();
        a2.request_started();
        assert_eq!(gate.admit(A).unwrap_err(), Refusal::AddressFull);
        let b = gate.admit(B).expect("another address still gets in");
        assert_eq!(gate.open(), 3);
        drop((a1, a2, b));
        assert_eq!(gate.open(), 0);
    }

    #[test]
    fn idle_deadline_only_while_idle() {
        let gate = Gate::new(&limits(4, 4));
        let t = gate.admit(A).unwrap();
        assert!(t.idle_deadline(Duration::from_secs(5)).is_some());
        t.request_started();
        assert!(t.idle_deadline(Duration::from_secs(5)).is_none());
        t.request_ended();
        assert!(t.idle_deadline(Duration::from_secs(5)).is_some());
    }
}
