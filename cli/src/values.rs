//! Parsers of command-line values (clap `value_parser`s): key specs,
//! `KEY=VALUE` pairs, algorithm suites and commitment policies.

use s3seal::keyspec::KeySpec;
use s3seal::{AlgorithmSuite, CommitmentPolicy};

/// The message of an SDK error, without the error kind's prefix where the
/// message alone says what is wrong with the value.
fn sdk_message(e: s3seal::Error) -> String {
    match e {
        s3seal::Error::InvalidParameter(m) | s3seal::Error::InvalidKey(m) => m,
        other => other.to_string(),
    }
}

/// A `--key` spec.
pub fn parse_key_spec(s: &str) -> Result<KeySpec, String> {
    s.parse().map_err(sdk_message)
}

/// A `-c KEY=VALUE` pair (the value may hold `=`; the key may not be empty).
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some(("", _)) => Err("the key is empty (expected KEY=VALUE, e.g. -c purpose=backup)".into()),
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err("expected KEY=VALUE, e.g. -c purpose=backup".into()),
    }
}

/// A `--suite`: 0478 or 0578, in hex, with or without `0x`.
pub fn parse_suite(s: &str) -> Result<AlgorithmSuite, String> {
    let hex = s.trim_start_matches("0x").trim_start_matches("0X");
    let suite = u16::from_str_radix(hex, 16)
        .ok()
        .and_then(|id| AlgorithmSuite::from_id(id).ok())
        .filter(|s| matches!(s.id(), 0x0478 | 0x0578));
    suite.ok_or_else(|| {
        "expected 0478 (AES-256-GCM with key commitment) or 0578 (the same, signed with ECDSA P-384)".into()
    })
}

/// A `--commitment-policy`.
pub fn parse_policy(s: &str) -> Result<CommitmentPolicy, String> {
    s.parse().map_err(sdk_message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_parsers() {
        assert_eq!(parse_pair("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_pair("a=").unwrap(), ("a".into(), String::new()));
        assert!(parse_pair("=b").is_err());
        assert!(parse_pair("ab").is_err());
        assert_eq!(parse_suite("0x0578").unwrap().id(), 0x0578);
        assert_eq!(parse_suite("0478").unwrap().id(), 0x0478);
        assert!(parse_suite("0178").is_err());
        assert!(parse_suite("zz").is_err());
        assert!(parse_policy("forbid-encrypt-allow-decrypt").is_ok());
        assert!(parse_policy("nope").unwrap_err().contains("unknown commitment policy"));
    }
}
