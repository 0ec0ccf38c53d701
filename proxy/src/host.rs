//! Virtual-host addressing by clients: `BUCKET.DOMAIN[:PORT]` names a
//! bucket when `DOMAIN` is one of the configured domains; every other Host
//! (the domain itself, an IP address, `localhost`, any other name) is
//! path-style, so path-style requests always work.
//!
//! (Unlike `s3s`'s own `MultiDomain`, a Host outside the configured domains
//! is never taken as a whole-host "CNAME" bucket name, and the port is
//! ignored.)

use std::borrow::Cow;

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// Parses `Host` headers against the configured domains.
#[derive(Debug, Clone)]
pub struct DomainHost {
    domains: Vec<String>,
}

impl DomainHost {
    /// Virtual hosts under `domains` (host names without port; compared
    /// case-insensitively).
    pub fn new(domains: &[String]) -> Self {
        Self { domains: domains.iter().map(|d| d.trim_end_matches('.').to_ascii_lowercase()).collect() }
    }
}

/// `host` without a `:PORT` suffix (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    }
}

impl S3Host for DomainHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = strip_port(host).trim_end_matches('.');
        for domain in &self.domains {
            if name.len() > domain.len() + 1 {
                let (bucket, rest) = name.split_at(name.len() - domain.len());
                if rest.eq_ignore_ascii_case(domain)
                    && let Some(bucket) = bucket.strip_suffix('.')
                {
                    return Ok(
                        VirtualHost::new(Cow::Borrowed(domain.as_str())).with_bucket(bucket.to_ascii_lowercase())
                    );
                }
            }
        }
        Ok(VirtualHost::new(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let h = DomainHost::new(&["s3.example.com".into(), "S3.Local".into()]);
        let bucket = |host: &'static str| h.parse_host_header(host).unwrap().bucket().map(str::to_string);
        assert_eq!(bucket("photos.s3.example.com"), Some("photos".into()));
        assert_eq!(bucket("photos.s3.example.com:9000"), Some("photos".into()));
        assert_eq!(bucket("my.dotted.bucket.s3.local:443"), Some("my.dotted.bucket".into()));
        assert_eq!(bucket("s3.example.com:9000"), None);
        assert_eq!(bucket("127.0.0.1:9000"), None);
        assert_eq!(bucket("[::1]:9000"), None);
        assert_eq!(bucket("other.example.org"), None);
        assert_eq!(bucket("xs3.example.com"), None);
        assert_eq!(bucket(".s3.example.com"), None);
    }
}
