//! Checksums of plaintext as S3 clients send them: `Content-MD5` and the
//! flexible checksums (`x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`,
//! `-sha1`, `-sha256`), all base64 of the big-endian digest.
//!
//! A proxy verifies what a client sent against the plaintext it received,
//! and never forwards these values: the store sees ciphertext, whose
//! checksums the upstream client computes itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crc_fast::{CrcAlgorithm, Digest as Crc};
use md5::Md5;
use sha2::Digest as _;

/// A flexible checksum algorithm of S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm.
    pub const ALL: [ChecksumAlgorithm; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// The HTTP header (or trailer) carrying this checksum.
    pub const fn header_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm whose header is `name` (case-insensitive).
    pub fn from_header_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.header_name().eq_ignore_ascii_case(name))
    }
}

enum State {
    Crc(Crc, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

/// Computes the MD5 of a stream (unless told not to), and optionally one
/// flexible checksum.
pub struct PlaintextDigest {
    md5: Option<Md5>,
    extra: Option<(ChecksumAlgorithm, State)>,
}

impl std::fmt::Debug for PlaintextDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaintextDigest").field("extra", &self.extra.as_ref().map(|(a, _)| a)).finish()
    }
}

/// The digests of a finished stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// MD5 of the data, if it was computed.
    pub md5: Option<[u8; 16]>,
    /// The flexible checksum, base64, if one was computed.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

impl Digests {
    /// `Content-MD5` form of the MD5 (base64).
    pub fn md5_base64(&self) -> Option<String> {
        self.md5.map(|m| B64.encode(m))
    }

    /// Hex form of the MD5, as in a single-part ETag.
    pub fn md5_hex(&self) -> Option<String> {
        self.md5.map(|m| m.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl PlaintextDigest {
    /// MD5 plus `extra`, if given.
    pub fn new(extra: Option<ChecksumAlgorithm>) -> Self {
        Self::with_md5(true, extra)
    }

    /// `extra`, if given, and the MD5 only if `md5` (it is the costliest
    /// of the digests: computed only when someone will compare it).
    pub fn with_md5(md5: bool, extra: Option<ChecksumAlgorithm>) -> Self {
        let extra = extra.map(|a| {
            let s = match a {
                ChecksumAlgorithm::Crc32 => State::Crc(Crc::new(CrcAlgorithm::Crc32IsoHdlc), 4),
                ChecksumAlgorithm::Crc32c => State::Crc(Crc::new(CrcAlgorithm::Crc32Iscsi), 4),
                ChecksumAlgorithm::Crc64Nvme => State::Crc(Crc::new(CrcAlgorithm::Crc64Nvme), 8),
                ChecksumAlgorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
                ChecksumAlgorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            };
            (a, s)
        });
        Self { md5: md5.then(Md5::new), extra }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        if let Some(m) = &mut self.md5 {
            m.update(data);
        }
        match &mut self.extra {
            Some((_, State::Crc(c, _))) => c.update(data),
            Some((_, State::Sha1(h))) => h.update(data),
            Some((_, State::Sha256(h))) => h.update(data),
            None => {}
        }
    }

    /// Finishes.
    pub fn finish(self) -> Digests {
        let md5 = self.md5.map(|m| {
            let mut out = [0u8; 16];
            out.copy_from_slice(&m.finalize());
            out
        });
        let checksum = self.extra.map(|(a, s)| {
            let bytes = match s {
                State::Crc(c, n) => c.finalize().to_be_bytes()[8 - n..].to_vec(),
                State::Sha1(h) => h.finalize().to_vec(),
                State::Sha256(h) => h.finalize().to_vec(),
            };
            (a, B64.encode(bytes))
        });
        Digests { md5, checksum }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // "123456789" check values of each CRC; SHA/MD5 of "abc".
        let cases = [
            (ChecksumAlgorithm::Crc32, &b"123456789"[..], B64.encode(0xCBF4_3926u32.to_be_bytes())),
            (ChecksumAlgorithm::Crc32c, b"123456789", B64.encode(0xE306_9283u32.to_be_bytes())),
            (ChecksumAlgorithm::Crc64Nvme, b"123456789", B64.encode(0xAE8B_1486_0A79_9888u64.to_be_bytes())),
            (ChecksumAlgorithm::Sha1, b"abc", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=".to_string()),
            (ChecksumAlgorithm::Sha256, b"abc", "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=".to_string()),
        ];
        for (alg, data, want) in cases {
            let mut d = PlaintextDigest::new(Some(alg));
            let (a, b) = data.split_at(2);
            d.update(a);
            d.update(b);
            assert_eq!(d.finish().checksum, Some((alg, want)), "{alg:?}");
        }
        let mut d = PlaintextDigest::new(None);
        d.update(b"abc");
        assert_eq!(d.finish().md5_hex().as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
        let mut d = PlaintextDigest::with_md5(false, None);
        d.update(b"abc");
        assert_eq!(d.finish().md5, None);
        assert_eq!(ChecksumAlgorithm::from_header_name("X-Amz-Checksum-CRC32C"), Some(ChecksumAlgorithm::Crc32c));
    }
}
