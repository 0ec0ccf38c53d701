//! AWS KMS key identifiers: ARNs, the identifiers a keyring accepts, and
//! the key ARN an encrypted data key names.

use super::PROVIDER_ID;
use crate::error::{Error, Result};
use crate::materials::EncryptedDataKey;

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
pub(super) fn check_identifier(id: &str) -> Result<()> {
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

/// Returns the key ARN named by an `aws-kms` encrypted data key, `None` for
/// other providers, and an error for an `aws-kms` key whose provider info is
/// not a key ARN (the ESDK requires decryption to fail then).
pub(super) fn edk_key_arn<'a>(keyring: &str, edk: &'a EncryptedDataKey) -> Result<Option<(&'a str, KmsArn)>> {
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
