//! Counting the calls an `aws_sdk_kms::Client` makes, on the client itself.
//!
//! [`KmsCalls`] is an interceptor that sees every HTTP request the client
//! sends, including retries, and counts it under the operation named by its
//! `X-Amz-Target` header (`TrentService.GenerateDataKey` is counted as
//! [`GENERATE_DATA_KEY`]). Nothing is mocked: the requests still go to the
//! real server. [`counted_kms_client`] builds a client for a moto server
//! with the counter installed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};

use crate::moto::MotoServer;

/// The operation name of KMS `GenerateDataKey`, as counted.
pub const GENERATE_DATA_KEY: &str = "GenerateDataKey";
/// The operation name of KMS `Decrypt`, as counted.
pub const DECRYPT: &str = "Decrypt";
/// The operation name of KMS `Encrypt`, as counted.
pub const ENCRYPT: &str = "Encrypt";

/// Counts the requests a KMS client sends, by operation. Clones share
/// their counts.
#[derive(Debug, Clone, Default)]
pub struct KmsCalls(Arc<Mutex<BTreeMap<String, u64>>>);

impl KmsCalls {
    /// The counts so far, by operation name (`GenerateDataKey`, `Decrypt`,
    /// ...; `unknown` for a request without `X-Amz-Target`).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Requests sent for `operation` so far.
    pub fn get(&self, operation: &str) -> u64 {
        self.snapshot().get(operation).copied().unwrap_or(0)
    }

    /// Requests sent so far, all operations together.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

impl Intercept for KmsCalls {
    fn name(&self) -> &'static str {
        "KmsCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("unknown");
        let operation = target.strip_prefix("TrentService.").unwrap_or(target);
        let mut calls = self.0.lock().map_err(|_| "KmsCalls lock poisoned")?;
        *calls.entry(operation.to_string()).or_default() += 1;
        Ok(())
    }
}

/// A KMS client for `server` that counts its calls, and its counter.
pub fn counted_kms_client(server: &MotoServer) -> (aws_sdk_kms::Client, KmsCalls) {
    let calls = KmsCalls::default();
    let conf = aws_sdk_kms::config::Builder::from(&server.sdk_config()).interceptor(calls.clone()).build();
    (aws_sdk_kms::Client::from_conf(conf), calls)
}

/// Creates a symmetric KMS key on `server` (through an uncounted client)
/// and returns its ARN.
pub async fn create_key(server: &MotoServer) -> Result<String> {
    let out = server.kms_client().await.create_key().send().await.context("CreateKey")?;
    Ok(out.key_metadata().and_then(|m| m.arn()).context("CreateKey returned no ARN")?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counter sees real requests, by operation, including failed ones.
    #[tokio::test]
    async fn counts_requests_by_operation() -> Result<()> {
        let server = MotoServer::start()?;
        let arn = create_key(&server).await?;
        let (kms, calls) = counted_kms_client(&server);
        assert_eq!(calls.total(), 0, "CreateKey went through an uncounted client");
        let dk = kms.generate_data_key().key_id(&arn).number_of_bytes(32).send().await?;
        let blob = dk.ciphertext_blob().context("no ciphertext")?.clone();
        kms.decrypt().ciphertext_blob(blob.clone()).send().await?;
        let refused = kms.decrypt().ciphertext_blob(blob).encryption_context("k", "v").send().await;
        assert!(refused.is_err(), "moto KMS enforces the encryption context");
        assert_eq!(calls.get(GENERATE_DATA_KEY), 1, "{:?}", calls.snapshot());
        assert_eq!(calls.get(DECRYPT), 2, "{:?}", calls.snapshot());
        assert_eq!(calls.total(), 3, "{:?}", calls.snapshot());
        let clone = calls.clone();
        kms.list_keys().send().await?;
        assert_eq!(clone.get("ListKeys"), 1, "clones share their counts");
        Ok(())
    }
}
