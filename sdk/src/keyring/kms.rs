//! AWS KMS keyrings (ESDK `framework/aws-kms/`).

/// Provider id of encrypted data keys made by AWS KMS.
pub const PROVIDER_ID: &str = "aws-kms";

/// Placeholder until the KMS keyring lands.
#[derive(Debug)]
pub struct KmsKeyring;

/// Placeholder until the KMS discovery keyring lands.
#[derive(Debug)]
pub struct KmsDiscoveryKeyring;
