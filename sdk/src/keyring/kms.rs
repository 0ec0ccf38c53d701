//! AWS KMS keyrings (ESDK `framework/aws-kms/`).
//!
//! * [`KmsKeyring`] wraps data keys under one KMS key: `GenerateDataKey`
//!   when it is the first keyring, `Encrypt` otherwise; it decrypts only the
//!   encrypted data keys made under that same key (named by its ARN).
//! * [`KmsDiscoveryKeyring`] cannot encrypt; it decrypts any `aws-kms`
//!   encrypted data key whose key ARN passes an optional filter (partition
//!   and account ids), asking KMS to use the key the message names.
//!
//! Encrypted data keys are written exactly as every AWS Encryption SDK
//! writes them: provider id `aws-kms`, provider info = the key ARN KMS
//! returned (UTF-8), ciphertext = the KMS `CiphertextBlob`. The message's
//! encryption context is passed to KMS as its encryption context, so KMS
//! itself refuses to unwrap a data key under a different context.
//!
//! # Runtimes
//!
//! `aws-sdk-kms` needs a Tokio reactor. Both keyrings capture
//! [`tokio::runtime::Handle::try_current`] when they are constructed (or take
//! one from `with_runtime`). With a handle, every KMS call is spawned on that
//! runtime and its result awaited, so the keyring's futures can be driven by
//! any executor, including `futures_executor::block_on` on a thread with no
//! runtime of its own; the runtime must then be running (a multi-thread
//! runtime, or a current-thread runtime whose thread is not the one blocked).
//! Without a handle the call is awaited in place, which needs the caller to
//! be inside a Tokio runtime; otherwise the call fails with a clear error
//! rather than a panic.
//!
//! # Errors
//!
//! A failed KMS call is [`Error::Kms`], whose [`KmsErrorKind`] says what
//! class of failure it was (access denied, not found, disabled, refused
//! ciphertext, throttled, unavailable) and whose message says what happened
//! (wrong encryption context, KMS unreachable at a given URL, ...). `on_encrypt` returns it as is. `on_decrypt` tries
//! every matching encrypted data key and returns
//! [`Error::NoDecryptableKey`] listing each failure, except when every
//! attempt failed because KMS could not be used at all (unreachable,
//! timed out, throttled, internal error): then it returns that
//! [`Error::Kms`], so callers can tell an outage (retry later) from a key
//! that does not fit.
//!
//! Note: the plaintext data key handed to KMS `Encrypt` is copied into the
//! request buffer of `aws-sdk-kms`, which does not zeroize it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::error::{Error, KmsErrorKind, NoKeyDetails, Result};
use crate::keyring::{Keyring, already_has_key};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::s3ec::{self, ContentSuite, WrapAlgorithm, WrappedKey};

/// Provider id of encrypted data keys made by AWS KMS.
pub const PROVIDER_ID: &str = crate::materials::KMS_PROVIDER_ID;

/// The parts of an AWS KMS ARN (ESDK `aws-kms-key-arn.md`):
/// `arn:<partition>:kms:<region>:<account>:<resource type>/<resource id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsArn {
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`, ...).
    pub partition: String,
    /// The region (`us-east-1`, ...).
    pub region: String,
    /// The account id.
    pub account: String,
    /// `key` or `alias`.
    pub resource_type: String,
    /// The key id or alias name (may contain further `/`).
    pub resource_id: String,
}

impl KmsArn {
    /// Parses a valid AWS KMS ARN; anything else gives `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        let (arn, partition, service, region, account, resource) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if arn != "arn" || partition.is_empty() || service != "kms" || region.is_empty() || account.is_empty() {
            return None;
        }
        let (resource_type, resource_id) = resource.split_once('/')?;
        if !matches!(resource_type, "key" | "alias") || resource_id.is_empty() {
            return None;
        }
        Some(Self {
            partition: partition.into(),
            region: region.into(),
            account: account.into(),
            resource_type: resource_type.into(),
            resource_id: resource_id.into(),
        })
    }

    /// True for a key ARN (as opposed to an alias ARN).
    pub fn is_key(&self) -> bool {
        self.resource_type == "key"
    }
}

/// Checks that `id` is a valid AWS KMS identifier: a key ARN, an alias ARN,
/// an alias (`alias/name`) or a key id.
fn check_identifier(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::InvalidKey("the AWS KMS key identifier is empty".into()));
    }
    if id.starts_with("arn:") && KmsArn::parse(id).is_none() {
        return Err(Error::InvalidKey(format!(
            "{id:?} is not a valid AWS KMS ARN (expected arn:<partition>:kms:<region>:<account>:key/<key id> \
             or ...:alias/<name>)"
        )));
    }
    Ok(())
}

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

/// A failed KMS call: the error, and whether retrying later might help
/// (KMS unreachable, throttled, or internally failing).
struct Failure {
    error: Error,
    transient: bool,
}

impl Failure {
    fn new(operation: &'static str, kind: KmsErrorKind, message: String) -> Self {
        Failure { error: Error::Kms { operation, kind, message }, transient: kind.is_transient() }
    }
}

/// The innermost cause of an error chain (`Connection refused (os error 111)`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Every message of an error chain, joined by `: ` (repeats left out).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Turns an `aws-sdk-kms` error into an error a user can act on.
fn kms_failure<E, R>(operation: &'static str, key: &str, where_: &str, err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let mut kind = KmsErrorKind::Other;
    let message = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("unknown error");
            // KMS's own words, when it sent some.
            let said = match e.message() {
                Some(m) if !m.is_empty() => format!(" ({m})"),
                _ => String::new(),
            };
            match code {
                "AccessDeniedException" => {
                    kind = KmsErrorKind::AccessDenied;
                    format!(
                        "access denied to key {key}{said}: check the key policy, IAM permissions and \
                     grant tokens, and that the data key was encrypted under this key"
                    )
                }
                "NotFoundException" => {
                    kind = KmsErrorKind::NotFound;
                    format!(
                        "key {key} was not found{said}: check the key id or alias, and the region and \
                         account of the KMS client"
                    )
                }
                "InvalidCiphertextException" => {
                    kind = KmsErrorKind::InvalidCiphertext;
                    format!(
                        "KMS could not decrypt the data key under {key}: the encryption context differs \
                         from the one used when encrypting, or the encrypted data key was modified"
                    )
                }
                "IncorrectKeyException" => {
                    kind = KmsErrorKind::InvalidCiphertext;
                    format!("the data key was encrypted under a different KMS key than {key}{said}")
                }
                "DisabledException" => {
                    kind = KmsErrorKind::Disabled;
                    format!("key {key} is disabled{said}")
                }
                "KMSInvalidStateException" => {
                    kind = KmsErrorKind::Disabled;
                    format!(
                        "key {key} cannot be used in its current state (pending deletion or \
                         import?){said}"
                    )
                }
                "InvalidKeyUsageException" => {
                    kind = KmsErrorKind::Disabled;
                    format!(
                        "key {key} cannot be used for {operation}{said}: it must be a symmetric \
                         ENCRYPT_DECRYPT key"
                    )
                }
                "InvalidGrantTokenException" => {
                    kind = KmsErrorKind::AccessDenied;
                    format!("a grant token was refused{said}")
                }
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "IncompleteSignature"
                | "InvalidClientTokenId"
                | "MissingAuthenticationToken" => {
                    kind = KmsErrorKind::AccessDenied;
                    format!("KMS refused the credentials: {code}{said}")
                }
                "KeyUnavailableException"
                | "DependencyTimeoutException"
                | "KMSInternalException"
                | "ThrottlingException"
                | "LimitExceededException"
                | "ServiceUnavailableException" => {
                    kind = if matches!(code, "ThrottlingException" | "LimitExceededException") {
                        KmsErrorKind::Throttled
                    } else {
                        KmsErrorKind::Unavailable
                    };
                    format!("KMS is unavailable or throttling requests: {code}{said}; try again later")
                }
                _ => format!("{code}{said}"),
            }
        }
        SdkError::DispatchFailure(df) => match df.as_connector_error() {
            Some(ce) if ce.is_timeout() => {
                kind = KmsErrorKind::Unavailable;
                format!("timed out connecting to KMS at {where_}")
            }
            Some(ce) if ce.is_io() => {
                kind = KmsErrorKind::Unavailable;
                format!("could not reach KMS at {where_}: {}", root_cause(ce))
            }
            Some(ce) => format!("could not send the request to KMS at {where_}: {}", chain(ce)),
            None => format!("could not send the request to KMS at {where_}: {}", chain(&err)),
        },
        SdkError::TimeoutError(_) => {
            kind = KmsErrorKind::Unavailable;
            format!("timed out waiting for KMS at {where_}")
        }
        SdkError::ResponseError(_) => {
            kind = KmsErrorKind::Unavailable;
            format!("could not understand the response of KMS at {where_}: {}", chain(&err))
        }
        SdkError::ConstructionFailure(_) => format!(
            "could not build the request (is a region configured, are credentials \
             available?): {}",
            chain(&err)
        ),
        _ => chain(&err),
    };
    Failure::new(operation, kind, message)
}

fn bad_response(operation: &'static str, message: String) -> Failure {
    Failure::new(operation, KmsErrorKind::Other, message)
}

fn kms_context(ctx: &EncryptionContext) -> HashMap<String, String> {
    ctx.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The KMS client, grant tokens and runtime shared by both keyrings.
#[derive(Clone)]
struct Kms {
    client: aws_sdk_kms::Client,
    grant_tokens: Vec<String>,
    runtime: Option<Handle>,
}

/// What KMS `Decrypt` returned.
struct Unwrapped {
    key_id: Option<String>,
    plaintext: Zeroizing<Vec<u8>>,
}

impl Kms {
    fn new(client: aws_sdk_kms::Client) -> Self {
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
    async fn generate_data_key(
        &self,
        key_id: &str,
        len: usize,
        ctx: &EncryptionContext,
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>, String), Failure> {
        const OP: &str = "GenerateDataKey";
        let n = i32::try_from(len).map_err(|_| bad_response(OP, format!("a {len}-byte data key is too long")))?;
        let seen = SeenUrl::default();
        let fallback = self.fallback_where();
        let key = key_id.to_string();
        let req = self
            .client
            .generate_data_key()
            .key_id(key_id)
            .number_of_bytes(n)
            .set_encryption_context(Some(kms_context(ctx)))
            .set_grant_tokens(self.grant_tokens())
            .customize()
            .interceptor(seen.clone());
        let out =
            self.run(OP, async move {
                req.send().await.map_err(|e| kms_failure(OP, &key, &seen.get().unwrap_or(fallback), e))
            })
            .await?;
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
    async fn encrypt(
        &self,
        key_id: &str,
        data_key: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<(Vec<u8>, String), Failure> {
        const OP: &str = "Encrypt";
        let seen = SeenUrl::default();
        let fallback = self.fallback_where();
        let key = key_id.to_string();
        let req = self
            .client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(data_key.to_vec()))
            .set_encryption_context(Some(kms_context(ctx)))
            .set_grant_tokens(self.grant_tokens())
            .customize()
            .interceptor(seen.clone());
        let out =
            self.run(OP, async move {
                req.send().await.map_err(|e| kms_failure(OP, &key, &seen.get().unwrap_or(fallback), e))
            })
            .await?;
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
        let seen = SeenUrl::default();
        let fallback = self.fallback_where();
        let key = key_id.unwrap_or("(the key named in the ciphertext)").to_string();
        let req = self
            .client
            .decrypt()
            .set_key_id(key_id.map(str::to_string))
            .ciphertext_blob(Blob::new(ciphertext.to_vec()))
            .set_encryption_context(Some(kms_context(ctx)))
            .set_grant_tokens(self.grant_tokens())
            .customize()
            .interceptor(seen.clone());
        let out =
            self.run(OP, async move {
                req.send().await.map_err(|e| kms_failure(OP, &key, &seen.get().unwrap_or(fallback), e))
            })
            .await?;
        Ok(Unwrapped {
            key_id: out.key_id,
            plaintext: Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default()),
        })
    }

    /// Decrypts `edk` under `key_arn` and checks the response (ESDK: the
    /// response `KeyId` must be `key_arn`, the plaintext the suite's length).
    async fn unwrap_edk(
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
    async fn unwrap_s3ec(&self, key_id: Option<&str>, key: &WrappedKey) -> Result<(DataKey, Option<String>)> {
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

/// Returns the key ARN named by an `aws-kms` encrypted data key, `None` for
/// other providers, and an error for an `aws-kms` key whose provider info is
/// not a key ARN (the ESDK requires decryption to fail then).
fn edk_key_arn<'a>(keyring: &str, edk: &'a EncryptedDataKey) -> Result<Option<(&'a str, KmsArn)>> {
    if edk.provider_id != PROVIDER_ID.as_bytes() {
        return Ok(None);
    }
    let invalid = || Error::Keyring {
        keyring: keyring.to_string(),
        message: format!(
            "the message holds an aws-kms encrypted data key for {:?}, which is not a KMS key ARN",
            String::from_utf8_lossy(&edk.provider_info)
        ),
    };
    let s = std::str::from_utf8(&edk.provider_info).map_err(|_| invalid())?;
    match KmsArn::parse(s) {
        Some(arn) if arn.is_key() => Ok(Some((s, arn))),
        _ => Err(invalid()),
    }
}

/// Collects the failures of one `on_decrypt` and builds its final error.
#[derive(Default)]
struct Attempts {
    notes: Vec<String>,
    tried: usize,
    all_transient: bool,
    first_transient: Option<Error>,
}

impl Attempts {
    fn failed(&mut self, keyring: &str, f: Failure) {
        self.all_transient = if self.tried == 0 { f.transient } else { self.all_transient && f.transient };
        self.tried += 1;
        self.notes.push(format!("{keyring}: {}", f.error));
        if f.transient && self.first_transient.is_none() {
            self.first_transient = Some(f.error);
        }
    }

    /// When every tried key failed because KMS could not be used at all, the
    /// KMS error itself (retrying may help); otherwise "no decryptable key"
    /// with every collected reason.
    fn into_error(mut self, keyring: &str) -> Error {
        if self.tried > 0
            && self.all_transient
            && let Some(e) = self.first_transient
        {
            return e;
        }
        if self.notes.is_empty() {
            self.notes.push(keyring.to_string());
        }
        Error::NoDecryptableKey(NoKeyDetails { message_keys: Vec::new(), attempts: self.notes })
    }
}

/// A keyring that wraps data keys under one AWS KMS key
/// (ESDK `aws-kms-keyring.md`).
///
/// The key may be named by key id, key ARN, alias (`alias/name`) or alias
/// ARN for encryption. Decryption follows the ESDK: only encrypted data keys
/// whose key ARN equals the configured identifier are tried, so a keyring
/// that must decrypt should be given the key ARN (use
/// [`KmsDiscoveryKeyring`] to decrypt without knowing it).
///
/// KMS calls run on the Tokio runtime captured at construction, if any (see
/// the [module documentation](self) and [`KmsKeyring::with_runtime`]).
///
/// ```no_run
/// # async fn f() -> s3seal::Result<()> {
/// let config = aws_config::load_from_env().await;
/// let keyring = s3seal::keyring::KmsKeyring::new(
///     aws_sdk_kms::Client::new(&config),
///     "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
/// );
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KmsKeyring {
    key_id: String,
    kms: Kms,
}

impl fmt::Debug for KmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KmsKeyring({})", self.describe())
    }
}

impl KmsKeyring {
    /// A keyring for the KMS key `key_id` (key id, key ARN, alias or alias
    /// ARN), called through `client`. An invalid identifier (empty, or a
    /// malformed ARN) is reported by the first operation.
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { key_id: key_id.into(), kms: Kms::new(client) }
    }

    /// Sends these grant tokens with every KMS call.
    pub fn with_grant_tokens(mut self, grant_tokens: Vec<String>) -> Self {
        self.kms.grant_tokens = grant_tokens;
        self
    }

    /// Runs every KMS call on `runtime` (spawned, then awaited), so that the
    /// keyring works from any executor. By default the runtime current at
    /// construction is used, if there was one.
    pub fn with_runtime(mut self, runtime: Handle) -> Self {
        self.kms.runtime = Some(runtime);
        self
    }

    /// The configured key identifier.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[async_trait]
impl Keyring for KmsKeyring {
    async fn on_encrypt(&self, mut materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        check_identifier(&self.key_id)?;
        let ctx = &materials.encryption_context;
        let edk = match &materials.data_key {
            None => {
                let (mut plaintext, ciphertext, arn) = self
                    .kms
                    .generate_data_key(&self.key_id, materials.suite.data_key_len(), ctx)
                    .await
                    .map_err(|f| f.error)?;
                tracing::debug!(key = %arn, "KMS generated a data key");
                materials.data_key = Some(DataKey::new(std::mem::take(&mut *plaintext)));
                EncryptedDataKey { provider_id: PROVIDER_ID.into(), provider_info: arn.into_bytes(), ciphertext }
            }
            Some(dk) => {
                let (ciphertext, arn) =
                    self.kms.encrypt(&self.key_id, dk.as_bytes(), ctx).await.map_err(|f| f.error)?;
                tracing::debug!(key = %arn, "KMS encrypted the data key");
                EncryptedDataKey { provider_id: PROVIDER_ID.into(), provider_info: arn.into_bytes(), ciphertext }
            }
        };
        materials.encrypted_data_keys.push(edk);
        Ok(materials)
    }

    async fn on_decrypt(
        &self,
        mut materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        let me = self.describe();
        if materials.data_key.is_some() {
            return Err(already_has_key(&me));
        }
        check_identifier(&self.key_id)?;
        let mut attempts = Attempts::default();
        let mut other_kms_keys = 0usize;
        for edk in edks {
            let Some((arn, _)) = edk_key_arn(&me, edk)? else {
                continue;
            };
            if arn != self.key_id {
                other_kms_keys += 1;
                continue;
            }
            match self.kms.unwrap_edk(arn, edk, &materials).await {
                Ok(dk) => {
                    materials.data_key = Some(dk);
                    return Ok(materials);
                }
                Err(f) => attempts.failed(&me, f),
            }
        }
        let is_key_arn = KmsArn::parse(&self.key_id).is_some_and(|a| a.is_key());
        if attempts.tried == 0 && other_kms_keys > 0 && !is_key_arn {
            attempts.notes.push(format!(
                "{me}: the keyring names its key by {:?}, but messages name KMS keys by key ARN; \
                 configure the key ARN (or use a discovery keyring) to decrypt",
                self.key_id
            ));
        }
        Err(attempts.into_error(&me))
    }

    async fn s3ec_unwrap(&self, key: &WrappedKey) -> Result<Option<DataKey>> {
        if key.algorithm != WrapAlgorithm::KmsContext {
            return Ok(None);
        }
        check_identifier(&self.key_id)?;
        self.kms.unwrap_s3ec(Some(&self.key_id), key).await.map(|(k, _)| Some(k))
    }

    async fn s3ec_wrap(
        &self,
        suite: ContentSuite,
        context: &EncryptionContext,
    ) -> Result<Option<(DataKey, WrappedKey)>> {
        check_identifier(&self.key_id)?;
        let ctx = s3ec::wrap::kms_context(suite, context)?;
        let (mut plaintext, ciphertext, arn) =
            self.kms.generate_data_key(&self.key_id, s3ec::DATA_KEY_LEN, &ctx).await.map_err(|f| f.error)?;
        tracing::debug!(key = %arn, "KMS generated an S3 Encryption Client data key");
        let dk = DataKey::new(std::mem::take(&mut *plaintext));
        Ok(Some((dk, WrappedKey { algorithm: WrapAlgorithm::KmsContext, suite, ciphertext, context: ctx })))
    }

    fn describe(&self) -> String {
        format!("kms:{}", self.key_id)
    }
}

/// The optional filter of a discovery keyring.
#[derive(Debug, Clone)]
struct DiscoveryFilter {
    partition: String,
    accounts: Vec<String>,
}

/// A keyring that decrypts data keys wrapped under any AWS KMS key the
/// caller may use (ESDK `aws-kms-discovery-keyring.md`). It cannot encrypt.
///
/// Each `aws-kms` encrypted data key is tried with `KeyId` set to the key
/// ARN the message names, unless a filter ([`KmsDiscoveryKeyring::with_filter`])
/// excludes its partition or account. KMS calls run on the Tokio runtime
/// captured at construction, if any (see the [module documentation](self)).
#[derive(Clone)]
pub struct KmsDiscoveryKeyring {
    kms: Kms,
    filter: Option<DiscoveryFilter>,
}

impl fmt::Debug for KmsDiscoveryKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KmsDiscoveryKeyring({})", self.describe())
    }
}

impl KmsDiscoveryKeyring {
    /// A discovery keyring calling KMS through `client`.
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        Self { kms: Kms::new(client), filter: None }
    }

    /// Only decrypts data keys wrapped under keys of `partition` (`aws`,
    /// `aws-cn`, ...) owned by one of `accounts`.
    pub fn with_filter(
        mut self,
        partition: impl Into<String>,
        accounts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.filter = Some(DiscoveryFilter {
            partition: partition.into(),
            accounts: accounts.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Sends these grant tokens with every KMS call.
    pub fn with_grant_tokens(mut self, grant_tokens: Vec<String>) -> Self {
        self.kms.grant_tokens = grant_tokens;
        self
    }

    /// Runs every KMS call on `runtime` (spawned, then awaited), so that the
    /// keyring works from any executor. By default the runtime current at
    /// construction is used, if there was one.
    pub fn with_runtime(mut self, runtime: Handle) -> Self {
        self.kms.runtime = Some(runtime);
        self
    }

    /// Why the filter excludes `arn`, if it does.
    fn excluded(&self, arn: &KmsArn) -> Option<String> {
        let f = self.filter.as_ref()?;
        if f.partition != arn.partition {
            return Some(format!("partition {:?} is not the filter's {:?}", arn.partition, f.partition));
        }
        if !f.accounts.contains(&arn.account) {
            return Some(format!(
                "account {} is not one the filter allows ({})",
                arn.account,
                if f.accounts.is_empty() { "none".into() } else { f.accounts.join(", ") }
            ));
        }
        None
    }
}

#[async_trait]
impl Keyring for KmsDiscoveryKeyring {
    async fn on_encrypt(&self, _materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        Err(Error::Keyring {
            keyring: self.describe(),
            message: "a KMS discovery keyring can only decrypt; to encrypt, use a KMS keyring with a key ARN".into(),
        })
    }

    async fn on_decrypt(
        &self,
        mut materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        let me = self.describe();
        if materials.data_key.is_some() {
            return Err(already_has_key(&me));
        }
        let mut attempts = Attempts::default();
        for edk in edks {
            let Some((arn_str, arn)) = edk_key_arn(&me, edk)? else {
                continue;
            };
            if let Some(why) = self.excluded(&arn) {
                attempts.notes.push(format!("{me}: skipped key {arn_str}: {why}"));
                continue;
            }
            match self.kms.unwrap_edk(arn_str, edk, &materials).await {
                Ok(dk) => {
                    materials.data_key = Some(dk);
                    return Ok(materials);
                }
                Err(f) => attempts.failed(&me, f),
            }
        }
        Err(attempts.into_error(&me))
    }

    async fn s3ec_unwrap(&self, key: &WrappedKey) -> Result<Option<DataKey>> {
        if key.algorithm != WrapAlgorithm::KmsContext {
            return Ok(None);
        }
        let (dk, arn) = self.kms.unwrap_s3ec(None, key).await?;
        let arn_str = arn.unwrap_or_default();
        match KmsArn::parse(&arn_str) {
            Some(a) => {
                if let Some(why) = self.excluded(&a) {
                    return Err(Error::Keyring {
                        keyring: self.describe(),
                        message: format!("the object's key {arn_str} is excluded: {why}"),
                    });
                }
            }
            None if self.filter.is_some() => {
                return Err(Error::Keyring {
                    keyring: self.describe(),
                    message: "KMS did not name the key it decrypted with, so the discovery filter cannot be applied"
                        .into(),
                });
            }
            None => {}
        }
        Ok(Some(dk))
    }

    fn describe(&self) -> String {
        match &self.filter {
            None => "kms-discovery".into(),
            Some(f) => format!("kms-discovery:{}", f.accounts.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_parsing() {
        let a = KmsArn::parse("arn:aws:kms:us-east-1:123456789012:key/ab-cd/ef").unwrap();
        assert_eq!(a.partition, "aws");
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.resource_id, "ab-cd/ef");
        assert!(a.is_key());
        assert!(!KmsArn::parse("arn:aws:kms:us-east-1:1:alias/x").unwrap().is_key());
        for bad in [
            "",
            "1234abcd",
            "alias/x",
            "arn:aws:s3:us-east-1:1:key/x",
            "arn::kms:us-east-1:1:key/x",
            "arn:aws:kms::1:key/x",
            "arn:aws:kms:us-east-1::key/x",
            "arn:aws:kms:us-east-1:1:key/",
            "arn:aws:kms:us-east-1:1:grant/x",
            "arn:aws:kms:us-east-1:1:key",
        ] {
            assert!(KmsArn::parse(bad).is_none(), "{bad}");
        }
        assert!(check_identifier("alias/x").is_ok());
        assert!(check_identifier("").is_err());
        assert!(check_identifier("arn:aws:kms:x").is_err());
    }
}
