//! A counting TCP relay in front of the upstream.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;

/// A TCP relay on a free 127.0.0.1 port in front of `target`, counting the
/// bytes its clients send (requests toward the upstream). Runs on the
/// current Tokio runtime; stopped when dropped.
#[derive(Debug)]
pub struct CountingRelay {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingRelay {
    /// Starts the relay.
    pub async fn start(target: SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let sent = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (sent2, requests2) = (sent.clone(), requests.clone());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((inbound, _)) = accepted else { continue };
                        let (sent, requests) = (sent2.clone(), requests2.clone());
                        conns.spawn(async move {
                            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { return };
                            relay(inbound, outbound, sent, requests).await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self { addr, sent, requests, task })
    }

    /// The relay's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes sent toward the target so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Request lines seen so far (the first line of each read that starts
    /// with an HTTP method; for failure messages).
    pub fn request_lines(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    sent: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut in_r, mut in_w) = inbound.into_split();
    let (mut out_r, mut out_w) = outbound.into_split();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match in_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            sent.fetch_add(n as u64, Ordering::SeqCst);
            let text = String::from_utf8_lossy(&buf[..n.min(200)]);
            if ["GET ", "PUT ", "POST ", "HEAD ", "DELETE "].iter().any(|m| text.starts_with(m))
                && let (Some(line), Ok(mut r)) = (text.lines().next(), requests.lock())
            {
                r.push(line.to_string());
            }
            if out_w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = out_w.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut out_r, &mut in_w).await;
        let _ = in_w.shutdown().await;
    };
    tokio::join!(up, down);
}
