//! Secrets and client credentials.

use std::fmt;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A secret string (a secret access key or session token): zeroized on
/// drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An access key and secret key pair clients sign their requests with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredential {
    /// The access key id (`AWS_ACCESS_KEY_ID` of the client).
    pub access_key: String,
    /// The secret access key (`AWS_SECRET_ACCESS_KEY` of the client).
    pub secret_key: Secret,
}

/// Parses `ACCESS_KEY:SECRET_KEY[,ACCESS_KEY:SECRET_KEY...]`.
pub fn parse_client_credentials(s: &str) -> Result<Vec<ClientCredential>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((ak, sk)) if !ak.is_empty() && !sk.is_empty() => {
                Ok(ClientCredential { access_key: ak.to_string(), secret_key: Secret::new(sk) })
            }
            // Never echo the value: it holds a secret.
            _ => {
                Err(Error::Config("client credentials must be ACCESS_KEY:SECRET_KEY pairs separated by commas".into()))
            }
        })
        .collect()
}
