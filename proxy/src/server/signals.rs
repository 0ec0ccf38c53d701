//! The signals that stop the server.

use crate::error::{Error, Result};

/// SIGINT and SIGTERM handlers (Ctrl-C only where there is no SIGTERM).
/// Once installed, these signals no longer end the process: they are
/// delivered to [`Signals::recv`].
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers. Must be called inside a Tokio runtime.
    pub fn install() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).map_err(|e| Error::io("cannot watch SIGINT", e))?,
                terminate: signal(SignalKind::terminate()).map_err(|e| Error::io("cannot watch SIGTERM", e))?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next SIGINT or SIGTERM.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
