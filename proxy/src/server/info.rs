//! What a started server serves, and with what: the endpoint, the upstream,
//! the keys and the client credentials, as the accessors and the startup
//! banner show them.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use s3seal::keyspec::KeySpec;

use crate::config::{ClientCredential, DEFAULT_REGION};

/// What a started server serves.
#[derive(Debug)]
pub(super) struct ServerInfo {
    pub(super) local_addr: SocketAddr,
    pub(super) admin_addr: Option<SocketAddr>,
    pub(super) tls: bool,
    pub(super) domains: Vec<String>,
    pub(super) upstream: String,
    pub(super) clients: Vec<ClientCredential>,
    pub(super) generated_clients: bool,
    pub(super) stored_clients: bool,
    pub(super) keys: Vec<KeySpec>,
    pub(super) generated_key: bool,
    pub(super) data_dir: Option<PathBuf>,
}

impl ServerInfo {
    /// The endpoint URL clients use (`http://` or `https://`; a wildcard
    /// listen address is shown as the loopback address).
    pub(super) fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", shown(self.local_addr))
    }

    /// What to print at startup: the endpoint, the upstream, the keys, the
    /// admin address and how to use it. Secret keys are shown only when
    /// they were generated (an operator must learn them somehow); configured
    /// ones never are.
    pub(super) fn banner(&self) -> String {
        let mut out = String::new();
        let endpoint = self.endpoint();
        let _ = writeln!(out, "s3seal proxy: encrypting S3 endpoint at {endpoint}");
        let _ = writeln!(out, "  upstream:  {}", self.upstream);
        for k in &self.keys {
            let note =
                if self.generated_key { " (generated now: back it up, without it the data is lost)" } else { "" };
            let _ = writeln!(out, "  key:       {k}{note}");
        }
        if !self.domains.is_empty() {
            let _ = writeln!(
                out,
                "  domains:   {} (virtual-host addressing; path-style always works)",
                self.domains.join(", ")
            );
        }
        match self.admin_addr {
            Some(a) => {
                let a = shown(a);
                let _ = writeln!(out, "  admin:     http://{a}/metrics  http://{a}/health");
            }
            None => {
                let _ = writeln!(out, "  admin:     off");
            }
        }
        self.write_clients(&mut out, &endpoint);
        out
    }

    /// The banner's client credentials and how to use them.
    fn write_clients(&self, out: &mut String, endpoint: &str) {
        let first = self.clients.first();
        // Only credentials the proxy generated (and keeps in its data
        // directory) are shown with their secret: configured ones never are.
        if let (Some(c), Some(dir)) = (first.filter(|_| self.stored_clients), &self.data_dir) {
            let stored = dir.join(crate::embedded::CREDENTIALS_FILE);
            let note = if self.generated_clients { "generated now" } else { "stored" };
            let _ = writeln!(out, "  clients:   {} ({note} in {})", c.access_key, stored.display());
            let _ = writeln!(out);
            let _ = writeln!(out, "Use it with any S3 client, for example:");
            let _ = writeln!(out, "  export AWS_ACCESS_KEY_ID={}", c.access_key);
            let _ = writeln!(out, "  export AWS_SECRET_ACCESS_KEY={}", c.secret_key.expose());
            let _ = writeln!(out, "  export AWS_DEFAULT_REGION={DEFAULT_REGION}");
            let _ = writeln!(out, "  aws --endpoint-url {endpoint} s3 mb s3://demo");
            let _ = writeln!(out, "  aws --endpoint-url {endpoint} s3 cp ./some-file s3://demo/");
            let _ = writeln!(out, "  aws --endpoint-url {endpoint} s3 ls s3://demo/");
            write_objects_dir(out, dir);
        } else {
            let ids: Vec<&str> = self.clients.iter().map(|c| c.access_key.as_str()).collect();
            let _ = writeln!(out, "  clients:   {} (secret keys as configured)", ids.join(", "));
            let _ = writeln!(out);
            let _ = writeln!(out, "Example: aws --endpoint-url {endpoint} s3 ls");
            if let Some(dir) = &self.data_dir {
                write_objects_dir(out, dir);
            }
        }
    }
}

/// The banner's line saying where the ciphertext is stored.
fn write_objects_dir(out: &mut String, data_dir: &Path) {
    let _ =
        writeln!(out, "Objects are stored encrypted under {}.", data_dir.join(crate::embedded::OBJECTS_DIR).display());
}

/// A wildcard address shown as the loopback address (what a local client uses).
fn shown(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}
