//! The request body as the edge passes it on: watched for its rate, and,
//! for `aws-chunked` uploads, for its framing.
//!
//! Nothing here reads ahead: bytes are looked at as `s3s` (after the
//! signature check) pulls them. Two faults end the body with an error and
//! are recorded for the answer ([`Fault`]):
//!
//! * **Too slow.** Time spent waiting for the client (not time the
//!   consumer spends elsewhere, such as writing upstream) is cut into
//!   windows of `body_timeout`; each must bring `body_timeout ×
//!   min_body_rate` bytes.
//! * **Bad `aws-chunked` framing.** `s3s` 0.14.1 ends a `STREAMING-*`
//!   body without complaint when it stops before the final zero-length
//!   chunk, and does not compare the chunks' total with
//!   `x-amz-decoded-content-length`. Here the chunk sizes are followed:
//!   the body must end with its final chunk, and the chunks must carry
//!   exactly the declared length.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// The longest chunk header line accepted (`s3s` accepts 1 KiB).
const MAX_CHUNK_LINE: usize = 1024;

/// Why a request body was cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A window of `secs` seconds of waiting brought fewer bytes than the
    /// minimum rate asks (`received` in all).
    TooSlow { secs: u64, received: u64 },
    /// The `aws-chunked` body ended before its final zero-length chunk.
    MissingFinalChunk { received: u64, declared: u64 },
    /// The chunks carry less than `x-amz-decoded-content-length`.
    Short { received: u64, declared: u64 },
    /// The chunks carry more than `x-amz-decoded-content-length`.
    Long { declared: u64 },
    /// A chunk header or separator is malformed.
    BadChunk(&'static str),
}

impl Fault {
    /// The metric label and log reason.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Fault::TooSlow { .. } => "body_too_slow",
            Fault::MissingFinalChunk { .. } => "chunked_no_final_chunk",
            Fault::Short { .. } => "body_short",
            Fault::Long { .. } => "body_long",
            Fault::BadChunk(_) => "chunked_malformed",
        }
    }

    /// The S3 error code and message clients get (all 400).
    pub(crate) fn answer(&self) -> (&'static str, String) {
        match self {
            Fault::TooSlow { secs, received } => (
                "RequestTimeout",
                format!(
                    "Your socket connection to the server was not read from or written to within the timeout period \
                     (the body brought too few bytes in {secs} s; {received} bytes received)."
                ),
            ),
            Fault::MissingFinalChunk { received, declared } => (
                "IncompleteBody",
                format!(
                    "The aws-chunked body ended without its final zero-length chunk ({received} of {declared} bytes)."
                ),
            ),
            Fault::Short { received, declared } => (
                "IncompleteBody",
                format!(
                    "You did not provide the number of bytes specified by x-amz-decoded-content-length \
                     ({received} of {declared})."
                ),
            ),
            Fault::Long { declared } => (
                "InvalidRequest",
                format!("The aws-chunked body carries more than its x-amz-decoded-content-length ({declared} bytes)."),
            ),
            Fault::BadChunk(what) => ("InvalidRequest", format!("Malformed aws-chunked body: {what}.")),
        }
    }
}

/// Where a guarded body records its fault, for the answer.
#[derive(Debug, Default)]
pub(crate) struct FaultSlot(Mutex<Option<Fault>>);

impl FaultSlot {
    fn set(&self, f: Fault) {
        if let Ok(mut slot) = self.0.lock()
            && slot.is_none()
        {
            *slot = Some(f);
        }
    }

    /// The fault, if the body had one.
    pub(crate) fn get(&self) -> Option<Fault> {
        self.0.lock().ok().and_then(|s| s.clone())
    }
}

/// The error a guarded body ends with.
#[derive(Debug, thiserror::Error)]
#[error("request body refused: {0}")]
pub(crate) struct BodyError(String);

/// The minimum body rate, over windows of waiting time.
struct RateWatch {
    window: Duration,
    min_bytes: u64,
    /// Waiting time in the current window.
    waited: Duration,
    /// Bytes in the current window.
    bytes: u64,
    total: u64,
    /// Since when the body is waiting for the client, if it is.
    since: Option<Instant>,
    timer: Pin<Box<Sleep>>,
}

impl RateWatch {
    fn new(window: Duration, min_rate: u64) -> Self {
        let min_bytes = min_rate.saturating_mul(window.as_secs().max(1));
        Self {
            window,
            min_bytes,
            waited: Duration::ZERO,
            bytes: 0,
            total: 0,
            since: None,
            timer: Box::pin(tokio::time::sleep(window)),
        }
    }

    /// Adds the waiting time up to `now`; at the end of a window, checks it.
    fn settle(&mut self, now: Instant) -> Result<(), Fault> {
        if let Some(since) = self.since {
            self.waited += now.saturating_duration_since(since);
            self.since = Some(now);
        }
        if self.waited >= self.window {
            if self.bytes < self.min_bytes {
                return Err(Fault::TooSlow { secs: self.window.as_secs(), received: self.total });
            }
            self.waited = Duration::ZERO;
            self.bytes = 0;
        }
        Ok(())
    }

    /// The client has not sent more yet: wait, at most to the end of the window.
    fn pending(&mut self, cx: &mut Context<'_>) -> Result<(), Fault> {
        self.pending_at(cx, Instant::now())
    }

    fn pending_at(&mut self, cx: &mut Context<'_>, now: Instant) -> Result<(), Fault> {
        self.since.get_or_insert(now);
        self.settle(now)?;
        self.timer.as_mut().reset(now + (self.window - self.waited));
        if self.timer.as_mut().poll(cx).is_ready() {
            // Only with a zero window left, which settle has just reset.
            self.settle(Instant::now())?;
        }
        Ok(())
    }

    fn received(&mut self, n: usize) -> Result<(), Fault> {
        self.received_at(n, Instant::now())
    }

    fn received_at(&mut self, n: usize, now: Instant) -> Result<(), Fault> {
        self.bytes += n as u64;
        self.total += n as u64;
        self.settle(now)?;
        self.since = None;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line.
    Line,
    /// In a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data: this many bytes of `\r\n` seen.
    Crlf(u8),
    /// After the final chunk (trailers follow, left to `s3s`).
    Done,
}

/// Follows the chunk sizes of an `aws-chunked` body.
struct Framing {
    declared: u64,
    total: u64,
    state: State,
    line: Vec<u8>,
}

impl Framing {
    fn new(declared: u64) -> Self {
        Self { declared, total: 0, state: State::Line, line: Vec::new() }
    }

    fn feed(&mut self, mut d: &[u8]) -> Result<(), Fault> {
        while let Some(&first) = d.first() {
            match self.state {
                State::Done => return Ok(()),
                State::Line => {
                    let end = d.iter().position(|&b| b == b'\n');
                    let take = end.map_or(d.len(), |i| i + 1);
                    if self.line.len() + take > MAX_CHUNK_LINE {
                        return Err(Fault::BadChunk("chunk header too long"));
                    }
                    self.line.extend_from_slice(&d[..take]);
                    d = &d[take..];
                    if end.is_some() {
                        let size = chunk_size(&self.line)?;
                        self.line.clear();
                        self.chunk(size)?;
                    }
                }
                State::Data(n) => {
                    let k = usize::try_from(n).unwrap_or(usize::MAX).min(d.len());
                    d = &d[k..];
                    let left = n - k as u64;
                    self.state = if left == 0 { State::Crlf(0) } else { State::Data(left) };
                }
                State::Crlf(seen) => {
                    if first != b"\r\n"[usize::from(seen)] {
                        return Err(Fault::BadChunk("chunk data not followed by CRLF"));
                    }
                    d = &d[1..];
                    self.state = if seen == 1 { State::Line } else { State::Crlf(1) };
                }
            }
        }
        Ok(())
    }

    fn chunk(&mut self, size: u64) -> Result<(), Fault> {
        if size == 0 {
            if self.total < self.declared {
                return Err(Fault::Short { received: self.total, declared: self.declared });
            }
            self.state = State::Done;
            return Ok(());
        }
        self.total = self.total.saturating_add(size);
        if self.total > self.declared {
            return Err(Fault::Long { declared: self.declared });
        }
        self.state = State::Data(size);
        Ok(())
    }

    fn finish(&self) -> Result<(), Fault> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(Fault::MissingFinalChunk { received: self.total, declared: self.declared }),
        }
    }
}

/// `SIZE[;chunk-signature=...]\r\n`: the size, hexadecimal.
fn chunk_size(line: &[u8]) -> Result<u64, Fault> {
    let line = line
        .strip_suffix(b"\n")
        .and_then(|l| l.strip_suffix(b"\r"))
        .ok_or(Fault::BadChunk("chunk header without CRLF"))?;
    let size = line.split(|&b| b == b';').next().unwrap_or_default();
    if size.is_empty() || size.len() > 8 || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(Fault::BadChunk("chunk size is not a hexadecimal number"));
    }
    let text = std::str::from_utf8(size).map_err(|_| Fault::BadChunk("chunk size"))?;
    u64::from_str_radix(text, 16).map_err(|_| Fault::BadChunk("chunk size"))
}

/// A client's request body, guarded.
pub(crate) struct GuardedBody {
    inner: Incoming,
    rate: RateWatch,
    framing: Option<Framing>,
    fault: Arc<FaultSlot>,
    ended: bool,
}

impl GuardedBody {
    /// Guards `inner`: the rate of `min_rate` bytes per second over each
    /// `window` of waiting; with `chunked_length`, the `aws-chunked`
    /// framing of that decoded length. Faults go to `fault`.
    pub(crate) fn new(
        inner: Incoming,
        window: Duration,
        min_rate: u64,
        chunked_length: Option<u64>,
        fault: Arc<FaultSlot>,
    ) -> Self {
        Self {
            inner,
            rate: RateWatch::new(window, min_rate),
            framing: chunked_length.map(Framing::new),
            fault,
            ended: false,
        }
    }

    fn fail(&mut self, f: Fault) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let (_, message) = f.answer();
        self.fault.set(f);
        self.ended = true;
        Poll::Ready(Some(Err(BodyError(message))))
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => match this.rate.pending(cx) {
                Ok(()) => Poll::Pending,
                Err(f) => this.fail(f),
            },
            Poll::Ready(None) => {
                if let Some(Err(f)) = this.framing.as_ref().map(Framing::finish) {
                    return this.fail(f);
                }
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.ended = true;
                Poll::Ready(Some(Err(BodyError(e.to_string()))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let checked = this.rate.received(data.len()).and_then(|()| match &mut this.framing {
                        Some(f) => f.feed(data),
                        None => Ok(()),
                    });
                    if let Err(f) = checked {
                        return this.fail(f);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || (self.inner.is_end_stream() && self.framing.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(chunks: &[&[u8]], final_chunk: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(format!("{:x};chunk-signature={}\r\n", c.len(), "0".repeat(64)).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        if final_chunk {
            out.extend_from_slice(format!("0;chunk-signature={}\r\n\r\n", "0".repeat(64)).as_bytes());
        }
        out
    }

    /// Feeds `body` a byte at a time and then whole; both give the same.
    fn run(declared: u64, body: &[u8]) -> Result<(), Fault> {
        let mut whole = Framing::new(declared);
        let a = whole.feed(body).and_then(|()| whole.finish());
        let mut bytewise = Framing::new(declared);
        let b = body.iter().try_for_each(|b| bytewise.feed(std::slice::from_ref(b))).and_then(|()| bytewise.finish());
        assert_eq!(a, b);
        a
    }

    #[test]
    fn framing_is_followed() {
        assert_eq!(run(8, &encode(&[b"abc", b"defgh"], true)), Ok(()));
        assert_eq!(run(0, &encode(&[], true)), Ok(()));
        assert_eq!(
            run(8, &encode(&[b"abc", b"defgh"], false)),
            Err(Fault::MissingFinalChunk { received: 8, declared: 8 })
        );
        assert_eq!(run(9, &encode(&[b"abc", b"defgh"], true)), Err(Fault::Short { received: 8, declared: 9 }));
        assert_eq!(run(5, &encode(&[b"abc", b"defgh"], true)), Err(Fault::Long { declared: 5 }));
        assert!(matches!(run(3, b"zz\r\nabc\r\n0\r\n\r\n"), Err(Fault::BadChunk(_))));
        assert!(matches!(run(3, b"3\r\nabcX\n0\r\n\r\n"), Err(Fault::BadChunk(_))));
        // Unsigned chunks with a trailer after the final chunk.
        assert_eq!(run(3, b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), Ok(()));
    }

    #[tokio::test]
    async fn a_trickle_fails_its_window() {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut w = RateWatch::new(Duration::from_secs(3), 1024);
        assert!(w.pending_at(&mut cx, at(0)).is_ok());
        assert!(w.received_at(1, at(2)).is_ok());
        assert!(w.pending_at(&mut cx, at(2)).is_ok());
        assert_eq!(w.pending_at(&mut cx, at(4)), Err(Fault::TooSlow { secs: 3, received: 1 }));
        // A fast body passes window after window.
        let mut w = RateWatch::new(Duration::from_secs(3), 1024);
        for s in 0..10 {
            assert!(w.pending_at(&mut cx, at(s)).is_ok());
            assert!(w.received_at(2048, at(s + 1)).is_ok());
        }
        // Time the consumer spends elsewhere (not waiting) does not count.
        let mut w = RateWatch::new(Duration::from_secs(3), 1024);
        assert!(w.pending_at(&mut cx, at(0)).is_ok());
        assert!(w.received_at(10, at(1)).is_ok());
        assert!(w.pending_at(&mut cx, at(100)).is_ok());
        assert!(w.received_at(10, at(101)).is_ok());
    }
}
