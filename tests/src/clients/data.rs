//! The test files, built of 8-byte words `MAGIC || index` (so that
//! [`find_plaintext`](super::find_plaintext) can find any 16-byte window of
//! them), and the bytes S3 answers for a range of one.

use std::path::Path;

use anyhow::{Context, Result};

/// The test files: 0 B, 1 B, 64 KiB, 64 KiB + 1 and 20 MiB (multipart for
/// every tool).
pub const FILE_SIZES: [(&str, usize); 5] =
    [("f0", 0), ("f1", 1), ("f64k", 65536), ("f64k1", 65537), ("f20m", 20 * 1024 * 1024)];

/// One test file: its name (also the object key's last segment) and bytes.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The file name.
    pub name: String,
    /// The plaintext.
    pub data: Vec<u8>,
    /// The magic in the high half of each 8-byte word.
    pub magic: u32,
}

/// `len` bytes of 8-byte big-endian words `magic << 32 | index`.
pub fn plaintext(magic: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut i: u32 = 0;
    while out.len() < len {
        out.extend_from_slice(&((u64::from(magic) << 32) | u64::from(i)).to_be_bytes());
        i = i.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// Writes the [`FILE_SIZES`] files into `dir` (created if missing), each
/// with its own magic derived from `seed`.
pub fn write_test_files(dir: &Path, seed: u32) -> Result<Vec<TestFile>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    FILE_SIZES
        .iter()
        .enumerate()
        .map(|(i, (name, len))| {
            // Distinct, and never 0 (so zero padding never looks like data).
            let magic = 0x5e41_0000u32 ^ seed.rotate_left(8) ^ ((i as u32 + 1) * 0x0101_0101);
            let data = plaintext(magic, *len);
            let path = dir.join(name);
            std::fs::write(&path, &data).with_context(|| format!("writing {}", path.display()))?;
            Ok(TestFile { name: (*name).to_string(), data, magic })
        })
        .collect()
}

/// The bytes of a `bytes=` range of `data` as S3 answers it, or `None`
/// when the range is not satisfiable.
pub fn resolve_range<'a>(data: &'a [u8], range: &str) -> Option<&'a [u8]> {
    let spec = range.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let n = data.len();
    let (first, last) = if a.is_empty() {
        let suffix: usize = b.parse().ok()?;
        if suffix == 0 || n == 0 {
            return None;
        }
        (n.saturating_sub(suffix), n - 1)
    } else {
        let first: usize = a.parse().ok()?;
        let last = if b.is_empty() { n.checked_sub(1)? } else { b.parse::<usize>().ok()?.min(n.checked_sub(1)?) };
        (first, last)
    };
    (first < n && first <= last).then(|| &data[first..=last])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_as_s3_does() {
        let d: Vec<u8> = (0..10).collect();
        assert_eq!(resolve_range(&d, "bytes=0-0"), Some(&d[..1]));
        assert_eq!(resolve_range(&d, "bytes=3-"), Some(&d[3..]));
        assert_eq!(resolve_range(&d, "bytes=-3"), Some(&d[7..]));
        assert_eq!(resolve_range(&d, "bytes=-30"), Some(&d[..]));
        assert_eq!(resolve_range(&d, "bytes=8-100"), Some(&d[8..]));
        assert_eq!(resolve_range(&d, "bytes=10-"), None);
        assert_eq!(resolve_range(&[], "bytes=-1"), None);
    }
}
