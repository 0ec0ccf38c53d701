//! Checksums the proxy cannot verify over the plaintext are refused, not
//! dropped: `s3s` parses the five flexible checksums it knows (CRC32,
//! CRC32C, CRC64NVME, SHA-1, SHA-256), which the proxy verifies on the
//! plaintext; a header, trailer or `x-amz-sdk-checksum-algorithm` naming
//! any other (S3's newer MD5, SHA-512 and XXHASH checksums, or a name S3
//! does not know) would otherwise pass unchecked.

use s3s::{S3Result, s3_error};
use s3seal::checksum::ChecksumAlgorithm;

/// `x-amz-checksum-*` headers that are not checksums of the body.
const SETTINGS: [&str; 3] = ["x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm"];

fn refused(what: &str) -> s3s::S3Error {
    s3_error!(
        NotImplemented,
        "{what} is not supported through s3seal: only CRC32, CRC32C, CRC64NVME, SHA1 and SHA256 checksums can be verified over the plaintext"
    )
}

fn known_name(name: &str) -> bool {
    ChecksumAlgorithm::from_header_name(name).is_some()
}

/// Refuses a body checksum (header, trailer or announced algorithm) the
/// proxy cannot verify.
pub(super) fn refuse_unverifiable(headers: &http::HeaderMap) -> S3Result<()> {
    for name in headers.keys() {
        let n = name.as_str();
        if n.starts_with("x-amz-checksum-") && !SETTINGS.contains(&n) && !known_name(n) {
            return Err(refused(&format!("the header {n}")));
        }
    }
    for v in headers.get_all("x-amz-trailer") {
        let names = v.to_str().map_err(|_| s3_error!(InvalidArgument, "x-amz-trailer is not text"))?;
        for n in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if n.to_ascii_lowercase().starts_with("x-amz-checksum-") && !known_name(n) {
                return Err(refused(&format!("the trailer {n}")));
            }
        }
    }
    if let Some(v) = headers.get("x-amz-sdk-checksum-algorithm") {
        let alg = v.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if !known_name(&format!("x-amz-checksum-{alg}")) {
            return Err(refused(&format!("x-amz-sdk-checksum-algorithm: {alg}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&'static str, &'static str)]) -> S3Result<()> {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        refuse_unverifiable(&h)
    }

    #[test]
    fn known_checksums_pass_and_others_are_refused() {
        assert!(check(&[]).is_ok());
        assert!(check(&[("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-sdk-checksum-algorithm", "CRC32")]).is_ok());
        assert!(check(&[("x-amz-trailer", "x-amz-checksum-crc64nvme"), ("x-amz-checksum-type", "COMPOSITE")]).is_ok());
        assert!(check(&[("x-amz-checksum-mode", "ENABLED")]).is_ok());
        for refused in [
            vec![("x-amz-checksum-sha512", "AAAA")],
            vec![("x-amz-checksum-xxhash64", "AAAA")],
            vec![("x-amz-trailer", "x-amz-checksum-md5")],
            vec![("x-amz-sdk-checksum-algorithm", "XXHASH3")],
        ] {
            let e = check(&refused).unwrap_err();
            assert_eq!(e.code().as_str(), "NotImplemented", "{refused:?}");
        }
    }
}
