//! The KMS client shared by both keyrings: runtime handling, grant tokens,
//! the KMS calls and the checks of their responses.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::error::BoxError;
use aws_sdk_kms::primitives::Blob;
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use super::arn::KmsArn;
use super::failure::{Failure, bad_response, kms_failure};
use crate::context::EncryptionContext;
use crate::error::{KmsErrorKind, Result};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey};
use crate::s3ec::{self, WrappedKey};

/// Remembers the URL of the last request a KMS call sent, so that transport
/// errors can say where KMS was expected.
#[derive(Debug, Clone, Default)]
struct SeenUrl(Arc<Mutex<Option<String>>>);

impl SeenUrl {
    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

impl Intercept for SeenUrl {
    fn name(&self) -> &'static str {
        "s3seal-kms-seen-url"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(context.request().uri().to_string());
        }
        Ok(())
    }
}

fn kms_context(ctx: &EncryptionContext) -> HashMap<String, String> {
    ctx.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Sends one KMS request (a fluent builder, before `send`) with the
/// keyring's grant tokens, on its runtime; a failure names the operation,
/// the key and the endpoint the request reached.
macro_rules! send {
    ($self:ident, $op:expr, $key:expr, $req:expr) => {{
        let seen = SeenUrl::default();
        let fallback = $self.fallback_where();
        let key = String::from($key);
        let req = $req.set_grant_tokens($self.grant_tokens()).customize().interceptor(seen.clone());
        $self
            .run($op, async move {
                req.send().await.map_err(|e| kms_failure($op, &key, &seen.get().unwrap_or(fallback), e))
            })
            .await
    }};
}

/// The builder methods both KMS keyrings share: they set the fields of
/// the keyring's [`Kms`].
macro_rules! kms_options {
    ($keyring:ty) => {
        impl $keyring {
            /// Sends these grant tokens with every KMS call.
            pub fn with_grant_tokens(mut self, grant_tokens: Vec<String>) -> Self {
                self.kms.grant_tokens = grant_tokens;
                self
            }

            /// Runs every KMS call on `runtime` (spawned, then awaited), so that the
            /// keyring works from any executor. By default the runtime current at
            /// construction is used, if there was one.
            pub fn with_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
                self.kms.runtime = Some(runtime);
                self
            }
        }
    };
}
pub(super) use kms_options;

/// The KMS client, grant tokens and runtime shared by both keyrings.
#[derive(Clone)]
pub(super) struct Kms {
    client: aws_sdk_kms::Client,
    pub(super) grant_tokens: Vec<String>,
    pub(super) runtime: Option<Handle>,
}

/// What KMS `Decrypt` returned.
struct Unwrapped {
    key_id: Option<String>,
    plaintext: Zeroizing<Vec<u8>>,
}

impl Kms {
    pub(super) fn new(client: aws_sdk_kms::Client) -> Self {
        Self { client, grant_tokens: Vec::new(), runtime: Handle::try_current().ok() }
    }

    fn grant_tokens(&self) -> Option<Vec<String>> {
        (!self.grant_tokens.is_empty()).then(|| self.grant_tokens.clone())
    }

    /// Where the client sends requests, when no request was sent yet.
    fn fallback_where(&self) -> String {
        match self.client.config().region() {
            Some(r) => format!("the {r} endpoint"),
            None => "the configured endpoint".into(),
        }
    }

    /// Runs one KMS call on the stored runtime, or in place (see the module
    /// documentation).
    async fn run<T, F>(&self, operation: &'static str, fut: F) -> Result<T, Failure>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        if let Some(h) = &self.runtime {
            return match h.spawn(fut).await {
                Ok(r) => r,
                Err(e) if e.is_panic() => Err(bad_response(operation, "the KMS call panicked".into())),
                Err(_) => Err(Failure::new(
                    operation,
                    KmsErrorKind::Unavailable,
                    "the KMS call was cancelled: the Tokio runtime of the keyring is shutting down".into(),
                )),
            };
        }
        if Handle::try_current().is_err() {
            return Err(bad_response(
                operation,
                "aws-sdk-kms needs a Tokio runtime: create the keyring inside one, or give it one with \
                 `with_runtime(handle)`"
                    .into(),
            ));
        }
        fut.await
    }

    /// `GenerateDataKey`: returns (plaintext, ciphertext, key ARN).
    pub(super) async fn generate_data_key(
        &self,
        key_id: &str,
        len: usize,
        ctx: &EncryptionContext,
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>, String), Failure> {
        const OP: &str = "GenerateDataKey";
        let n = i32::try_from(len).map_err(|_| bad_response(OP, format!("a {len}-byte data key is too long")))?;
        let out = send!(
            self,
            OP,
            key_id,
            self.client
                .generate_data_key()
                .key_id(key_id)
                .number_of_bytes(n)
                .set_encryption_context(Some(kms_context(ctx)))
        )?;
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        if plaintext.len() != len {
            return Err(bad_response(
                OP,
                format!("KMS returned a {}-byte data key, the algorithm suite needs {len}", plaintext.len()),
            ));
        }
        let ciphertext = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_response(OP, "the response holds no CiphertextBlob".into()))?;
        let arn = response_key_arn(OP, out.key_id)?;
        Ok((plaintext, ciphertext, arn))
    }

    /// `Encrypt`: returns (ciphertext, key ARN).
    pub(super) async fn encrypt(
        &self,
        key_id: &str,
        data_key: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<(Vec<u8>, String), Failure> {
        const OP: &str = "Encrypt";
        let out = send!(
            self,
            OP,
            key_id,
            self.client
                .encrypt()
                .key_id(key_id)
                .plaintext(Blob::new(data_key.to_vec()))
                .set_encryption_context(Some(kms_context(ctx)))
        )?;
        let ciphertext = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_response(OP, "the response holds no CiphertextBlob".into()))?;
        let arn = response_key_arn(OP, out.key_id)?;
        Ok((ciphertext, arn))
    }

    /// `Decrypt`, with `KeyId` set when one is given.
    async fn decrypt(
        &self,
        key_id: Option<&str>,
        ciphertext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Unwrapped, Failure> {
        const OP: &str = "Decrypt";
        let out = send!(
            self,
            OP,
            key_id.unwrap_or("(the key named in the ciphertext)"),
            self.client
                .decrypt()
                .set_key_id(key_id.map(str::to_string))
                .ciphertext_blob(Blob::new(ciphertext.to_vec()))
                .set_encryption_context(Some(kms_context(ctx)))
        )?;
        Ok(Unwrapped {
            key_id: out.key_id,
            plaintext: Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default()),
        })
    }

    /// Decrypts `edk` under `key_arn` and checks the response (ESDK: the
    /// response `KeyId` must be `key_arn`, the plaintext the suite's length).
    pub(super) async fn unwrap_edk(
        &self,
        key_arn: &str,
        edk: &EncryptedDataKey,
        materials: &DecryptionMaterials,
    ) -> Result<DataKey, Failure> {
        let mut out = self.decrypt(Some(key_arn), &edk.ciphertext, &materials.encryption_context).await?;
        if out.key_id.as_deref() != Some(key_arn) {
            return Err(bad_response(
                "Decrypt",
                format!(
                    "KMS answered for key {:?}, not for the requested key {key_arn}",
                    out.key_id.unwrap_or_default()
                ),
            ));
        }
        let want = materials.suite.data_key_len();
        if out.plaintext.len() != want {
            return Err(bad_response(
                "Decrypt",
                format!("KMS returned a {}-byte data key, the algorithm suite needs {want}", out.plaintext.len()),
            ));
        }
        Ok(DataKey::new(std::mem::take(&mut *out.plaintext)))
    }

    /// Decrypts an S3 Encryption Client `kms+context` key with its stored
    /// context. Returns the key and the ARN KMS answered for.
    pub(super) async fn unwrap_s3ec(
        &self,
        key_id: Option<&str>,
        key: &WrappedKey,
    ) -> Result<(DataKey, Option<String>)> {
        let mut out = self.decrypt(key_id, &key.ciphertext, &key.context).await.map_err(|f| f.error)?;
        if out.plaintext.len() != s3ec::DATA_KEY_LEN {
            return Err(bad_response(
                "Decrypt",
                format!("KMS returned a {}-byte data key, S3 Encryption Client objects use 32", out.plaintext.len()),
            )
            .error);
        }
        Ok((DataKey::new(std::mem::take(&mut *out.plaintext)), out.key_id))
    }
}

/// The response `KeyId` of `GenerateDataKey` / `Encrypt`, which must be a
/// key ARN (it becomes the provider info).
fn response_key_arn(operation: &'static str, key_id: Option<String>) -> Result<String, Failure> {
    match key_id {
        Some(k) if KmsArn::parse(&k).is_some_and(|a| a.is_key()) => Ok(k),
        other => Err(bad_response(
            operation,
            format!("the response KeyId {:?} is not a KMS key ARN", other.unwrap_or_default()),
        )),
    }
}
