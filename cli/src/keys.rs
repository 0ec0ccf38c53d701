//! What encrypting and decrypting share: the keyring of the `--key` specs
//! and the encryption context of the `-c` pairs.

use std::sync::Arc;

use s3seal::EncryptionContext;
use s3seal::keyring::Keyring;
use s3seal::keyspec::KeySpec;

use crate::fail::{self, CliResult, Failure, Phase};

/// Builds the keyring of `specs`; the AWS configuration is loaded only when
/// a spec needs KMS.
pub async fn keyring(specs: &[KeySpec], phase: Phase) -> CliResult<Arc<dyn Keyring>> {
    let region = specs.iter().find_map(KeySpec::kms_region);
    s3seal::keyspec::keyring_from_specs(specs, || s3seal::keyring::kms::client_from_aws_chain(region))
        .await
        .map_err(|e| fail::sdk(e, phase).context("cannot use the given --key"))
}

/// The encryption context of the `-c` pairs; a key given twice with
/// different values is a usage error.
pub fn context_of(pairs: &[(String, String)]) -> CliResult<EncryptionContext> {
    let mut ctx = EncryptionContext::new();
    for (k, v) in pairs {
        if let Some(old) = ctx.insert(k.clone(), v.clone())
            && old != *v
        {
            return Err(Failure::usage(format!("-c {k}= is given twice, with different values ({old:?} and {v:?})")));
        }
    }
    Ok(ctx)
}
