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
    s3seal::keyspec::keyring_from_specs(specs, || kms_client(region))
        .await
        .map_err(|e| fail::sdk(e, phase).context("cannot use the given --key"))
}

/// A KMS client from the standard AWS chain (environment, profiles, SSO,
/// IMDS; `AWS_ENDPOINT_URL_KMS`); the region of a key ARN when the chain
/// names none.
async fn kms_client(fallback_region: Option<String>) -> aws_sdk_kms::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let mut builder = aws_sdk_kms::config::Builder::from(&config);
    if config.region().is_none()
        && let Some(region) = fallback_region
    {
        builder = builder.region(aws_sdk_kms::config::Region::new(region));
    }
    aws_sdk_kms::Client::from_conf(builder.build())
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
