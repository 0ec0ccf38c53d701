//! The entry point: a [`Client`] encrypts and decrypts messages with a
//! materials manager (usually a keyring) under a commitment policy.

use std::sync::Arc;

use crate::cmm::{DefaultCmm, MaterialsManager};
use crate::context::{self, EncryptionContext};
use crate::crypto::aead::Backend;
use crate::error::{Error, Result};
use crate::keyring::Keyring;
use crate::materials::{DecryptRequest, EncryptionRequest};
use crate::message::{BodyDecryptor, Header, MessageEncryptor, ParseLimits};
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// Default plaintext bytes per frame: 64 KiB.
pub const DEFAULT_FRAME_LENGTH: u32 = 64 * 1024;

/// Default limit on a legacy non-framed body held in memory: 64 MiB.
pub const DEFAULT_MAX_NON_FRAMED: u64 = 64 * 1024 * 1024;

/// How to encrypt a message.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// The encryption context (stored in the header unless listed in
    /// `required_context_keys`).
    pub context: EncryptionContext,
    /// Keys of `context` that are authenticated but not stored: the reader
    /// must supply them to decrypt.
    pub required_context_keys: Vec<String>,
    /// The algorithm suite; the policy's default (`0x0478`) when `None`.
    pub suite: Option<AlgorithmSuite>,
    /// Plaintext bytes per frame.
    pub frame_length: u32,
    /// The plaintext length, when known in advance.
    pub plaintext_length: Option<u64>,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            context: EncryptionContext::new(),
            required_context_keys: Vec::new(),
            suite: None,
            frame_length: DEFAULT_FRAME_LENGTH,
            plaintext_length: None,
        }
    }
}

impl EncryptOptions {
    /// Sets the encryption context.
    pub fn with_context(mut self, context: EncryptionContext) -> Self {
        self.context = context;
        self
    }

    /// Adds one encryption context pair.
    pub fn with_context_pair(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// Authenticates these context keys without storing them.
    pub fn with_required_context_keys(mut self, keys: Vec<String>) -> Self {
        self.required_context_keys = keys;
        self
    }

    /// Sets the algorithm suite.
    pub fn with_suite(mut self, suite: AlgorithmSuite) -> Self {
        self.suite = Some(suite);
        self
    }

    /// Sets the frame length.
    pub fn with_frame_length(mut self, frame_length: u32) -> Self {
        self.frame_length = frame_length;
        self
    }

    /// Declares the plaintext length.
    pub fn with_plaintext_length(mut self, len: u64) -> Self {
        self.plaintext_length = Some(len);
        self
    }
}

/// A decrypted message.
#[derive(Debug)]
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The verified header: suite, stored encryption context, data keys.
    pub header: Header,
}

/// Encrypts and decrypts messages.
#[derive(Debug, Clone)]
pub struct Client {
    cmm: Arc<dyn MaterialsManager>,
    policy: CommitmentPolicy,
    max_encrypted_data_keys: Option<usize>,
    backend: Backend,
    max_non_framed: u64,
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    client: Client,
}

impl ClientBuilder {
    /// Sets the commitment policy (default: require-encrypt-require-decrypt).
    pub fn commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.client.policy = policy;
        self
    }

    /// Refuses messages with more encrypted data keys than `n`.
    pub fn max_encrypted_data_keys(mut self, n: usize) -> Self {
        self.client.max_encrypted_data_keys = Some(n);
        self
    }

    /// Chooses the AEAD backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.client.backend = backend;
        self
    }

    /// Bounds the memory used for a legacy non-framed body.
    pub fn max_non_framed_body(mut self, bytes: u64) -> Self {
        self.client.max_non_framed = bytes;
        self
    }

    /// Finishes the client.
    pub fn build(self) -> Client {
        self.client
    }
}

impl Client {
    /// A client over `keyring` with the default settings.
    pub fn new(keyring: Arc<dyn Keyring>) -> Self {
        Self::builder(keyring).build()
    }

    /// A builder over `keyring`.
    pub fn builder(keyring: Arc<dyn Keyring>) -> ClientBuilder {
        Self::builder_with_cmm(Arc::new(DefaultCmm::new(keyring)))
    }

    /// A builder over a custom materials manager (for example a cache).
    pub fn builder_with_cmm(cmm: Arc<dyn MaterialsManager>) -> ClientBuilder {
        ClientBuilder {
            client: Client {
                cmm,
                policy: CommitmentPolicy::default(),
                max_encrypted_data_keys: None,
                backend: Backend::default(),
                max_non_framed: DEFAULT_MAX_NON_FRAMED,
            },
        }
    }

    /// The commitment policy in force.
    pub fn commitment_policy(&self) -> CommitmentPolicy {
        self.policy
    }

    /// The AEAD backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Limits applied when parsing headers.
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits { max_encrypted_data_keys: self.max_encrypted_data_keys }
    }

    /// Starts a message: obtains materials and returns the encryptor.
    pub async fn encryptor(&self, opts: &EncryptOptions) -> Result<MessageEncryptor> {
        context::check_caller_context(&opts.context)?;
        if let Some(k) = opts.required_context_keys.iter().find(|k| !opts.context.contains_key(*k)) {
            return Err(Error::EncryptionContext(format!("required key {k:?} is not in the encryption context")));
        }
        if let Some(suite) = opts.suite {
            self.policy.check_encrypt(suite)?;
        }
        let materials = self
            .cmm
            .get_encryption_materials(EncryptionRequest {
                encryption_context: opts.context.clone(),
                required_context_keys: opts.required_context_keys.clone(),
                suite: opts.suite,
                commitment_policy: self.policy,
                plaintext_length: opts.plaintext_length,
            })
            .await?;
        self.policy.check_encrypt(materials.suite)?;
        Ok(MessageEncryptor::new(materials, opts.frame_length, self.backend)?
            .with_plaintext_length(opts.plaintext_length))
    }

    /// Verifies a parsed header and returns the body decryptor.
    /// `reproduced` is the context the caller expects: pairs stored in the
    /// message must match it, and pairs not stored are authenticated.
    pub async fn body_decryptor(&self, header: &Header, reproduced: &EncryptionContext) -> Result<BodyDecryptor> {
        self.policy.check_decrypt(header.suite)?;
        if let Some(limit) = self.max_encrypted_data_keys
            && header.encrypted_data_keys.len() > limit
        {
            return Err(Error::TooManyEncryptedDataKeys { found: header.encrypted_data_keys.len(), limit });
        }
        let materials = self
            .cmm
            .decrypt_materials(DecryptRequest {
                suite: header.suite,
                commitment_policy: self.policy,
                encrypted_data_keys: &header.encrypted_data_keys,
                encryption_context: &header.encryption_context,
                reproduced_context: reproduced,
            })
            .await
            .map_err(|e| match e {
                Error::NoDecryptableKey(mut d) => {
                    d.message_keys = header.encrypted_data_keys.iter().map(|k| k.describe()).collect();
                    Error::NoDecryptableKey(d)
                }
                other => other,
            })?;
        BodyDecryptor::new(header, &materials, self.backend, self.max_non_framed)
    }

    /// Encrypts `plaintext` into a complete message.
    pub async fn encrypt(&self, plaintext: &[u8], opts: &EncryptOptions) -> Result<Vec<u8>> {
        let opts = EncryptOptions { plaintext_length: Some(plaintext.len() as u64), ..opts.clone() };
        let mut enc = self.encryptor(&opts).await?;
        // Zeroed by the allocator (fresh pages for large messages), so the
        // AEAD writes straight into it with no zero-filling pass of ours.
        let mut out = vec![0u8; enc.ciphertext_len_bound(plaintext.len())];
        let len = enc.encrypt_to(plaintext, &mut out)?;
        out.truncate(len);
        Ok(out)
    }

    /// Decrypts a complete message. `reproduced` is the encryption context
    /// the caller expects (may be empty).
    pub async fn decrypt(&self, message: &[u8], reproduced: &EncryptionContext) -> Result<Decrypted> {
        let (header, used) = Header::parse(message, self.parse_limits())?
            .ok_or(Error::Truncated("the message ends inside its header"))?;
        let mut dec = self.body_decryptor(&header, reproduced).await?;
        // Zeroed by the allocator (fresh pages for large messages), so the
        // AEAD writes straight into it with no zero-filling pass of ours.
        let body = &message[used..];
        let mut plaintext = vec![0u8; body.len()];
        let len = dec.decrypt_body_to(body, &mut plaintext)?;
        plaintext.truncate(len);
        Ok(Decrypted { plaintext, header })
    }

    /// Blocking form of [`Client::encrypt`], for code without an async
    /// runtime (see [`crate::stream`] on keyrings that need one).
    pub fn encrypt_blocking(&self, plaintext: &[u8], opts: &EncryptOptions) -> Result<Vec<u8>> {
        futures_executor::block_on(self.encrypt(plaintext, opts))
    }

    /// Blocking form of [`Client::decrypt`].
    pub fn decrypt_blocking(&self, message: &[u8], reproduced: &EncryptionContext) -> Result<Decrypted> {
        futures_executor::block_on(self.decrypt(message, reproduced))
    }
}
