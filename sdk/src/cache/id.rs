//! Cache ids: SHA-512 hashes of the length-prefixed fields that identify a
//! request (see the [module documentation](super)).

use sha2::{Digest, Sha512};

use crate::context::EncryptionContext;
use crate::materials::{DecryptRequest, EncryptedDataKey, EncryptionRequest};
use crate::suite::CommitmentPolicy;

/// A cache id: SHA-512 of the request's identifying fields.
pub(super) type CacheId = [u8; 64];

/// The id of an encryption request in `partition`.
pub(super) fn encrypt_id(partition: &str, request: &EncryptionRequest) -> CacheId {
    let mut id = IdHasher::new(partition, 0x01);
    match request.suite {
        None => id.field(&[0x00]),
        Some(s) => {
            id.field(&[0x01]);
            id.field(&s.id().to_be_bytes());
        }
    }
    id.context(&request.encryption_context);
    id.count(request.required_context_keys.len());
    for k in &request.required_context_keys {
        id.field(k.as_bytes());
    }
    id.field(&[policy_byte(request.commitment_policy)]);
    id.finish()
}

/// The id of a decryption request in `partition`.
pub(super) fn decrypt_id(partition: &str, request: &DecryptRequest<'_>) -> CacheId {
    let mut id = IdHasher::new(partition, 0x02);
    id.field(&request.suite.id().to_be_bytes());
    let mut edks: Vec<Vec<u8>> = request.encrypted_data_keys.iter().map(encode_edk).collect();
    edks.sort();
    id.count(edks.len());
    for e in &edks {
        id.field(e);
    }
    id.context(request.encryption_context);
    id.context(request.reproduced_context);
    id.field(&[policy_byte(request.commitment_policy)]);
    id.finish()
}

fn policy_byte(p: CommitmentPolicy) -> u8 {
    match p {
        CommitmentPolicy::ForbidEncryptAllowDecrypt => 1,
        CommitmentPolicy::RequireEncryptAllowDecrypt => 2,
        CommitmentPolicy::RequireEncryptRequireDecrypt => 3,
    }
}

fn encode_edk(edk: &EncryptedDataKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + edk.provider_id.len() + edk.provider_info.len() + edk.ciphertext.len());
    for part in [&edk.provider_id, &edk.provider_info, &edk.ciphertext] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Builds a cache id from length-prefixed fields.
struct IdHasher(Sha512);

impl IdHasher {
    /// Resource id (caching CMM = 1), scope (encrypt 1, decrypt 2), partition.
    fn new(partition: &str, scope: u8) -> Self {
        let mut h = IdHasher(Sha512::new());
        h.field(&[0x01]);
        h.field(&[scope]);
        h.field(partition.as_bytes());
        h
    }

    fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_be_bytes());
    }

    fn field(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.update(bytes);
    }

    fn context(&mut self, ctx: &EncryptionContext) {
        self.count(ctx.len());
        for (k, v) in ctx {
            self.field(k.as_bytes());
            self.field(v.as_bytes());
        }
    }

    fn finish(self) -> CacheId {
        let mut id = [0u8; 64];
        id.copy_from_slice(&self.0.finalize());
        id
    }
}
