//! Client authentication: the access keys clients sign with.
//!
//! `s3s` verifies every request's SigV4 signature (header, presigned URL,
//! signed streaming chunks) with the secret this map returns; unknown
//! access keys get `InvalidAccessKeyId`, wrong signatures
//! `SignatureDoesNotMatch`, unsigned requests `AccessDenied`, all 403.
//! What `s3s` accepts beyond AWS's rules (SigV2, long presigned URLs,
//! foreign scopes, unsigned `host`) is refused before, at the server's
//! edge (`server/edge/auth.rs`).

use std::collections::HashMap;

use s3s::S3Result;
use s3s::auth::{S3Auth, SecretKey};

use crate::config::ClientCredential;

/// The client credentials the proxy accepts.
pub struct ClientAuth {
    keys: HashMap<String, SecretKey>,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Access key ids are not secret; the secrets are not shown.
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("ClientAuth").field("access_keys", &ids).finish()
    }
}

impl ClientAuth {
    /// Accepts requests signed with any of `credentials`.
    pub fn new<'a>(credentials: impl IntoIterator<Item = &'a ClientCredential>) -> Self {
        let keys =
            credentials.into_iter().map(|c| (c.access_key.clone(), SecretKey::from(c.secret_key.expose()))).collect();
        Self { keys }
    }

    /// How many access keys are accepted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if no access key is accepted (every request is refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[async_trait::async_trait]
impl S3Auth for ClientAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.keys.get(access_key) {
            Some(secret) => Ok(secret.clone()),
            None => {
                tracing::info!(access_key, "request signed with an unknown access key");
                Err(s3s::s3_error!(
                    InvalidAccessKeyId,
                    "The AWS access key Id you provided does not exist in our records."
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[tokio::test]
    async fn lookup() {
        let creds = [
            ClientCredential { access_key: "a".into(), secret_key: Secret::new("secret-of-a") },
            ClientCredential { access_key: "b".into(), secret_key: Secret::new("sb") },
        ];
        let auth = ClientAuth::new(&creds);
        assert_eq!(auth.len(), 2);
        assert_eq!(auth.get_secret_key("b").await.unwrap().expose(), "sb");
        let e = auth.get_secret_key("c").await.unwrap_err();
        assert_eq!(*e.code(), s3s::S3ErrorCode::InvalidAccessKeyId);
        assert!(!format!("{auth:?}").contains("secret-of-a"));
    }
}
