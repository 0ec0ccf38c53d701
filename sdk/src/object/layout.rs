//! Size arithmetic and range mapping of the object format.
//!
//! Every frame holds `F` plaintext bytes except the last frame of each
//! part, and every frame adds a 16-byte tag. Parts other than the last hold
//! a multiple of `F`, so the frame grid is the same whether an object was
//! written in one request or in parts, and
//! `C = P + 16 * max(1, ceil(P / F))`.

use crate::error::{Error, Result};

/// Bytes a frame adds to its plaintext.
pub(crate) const FRAME_OVERHEAD: u64 = 16;

/// Ciphertext length of `plaintext` bytes written in frames of `frame`.
pub fn ciphertext_len(plaintext: u64, frame: u64) -> u64 {
    plaintext + FRAME_OVERHEAD * plaintext.div_ceil(frame.max(1)).max(1)
}

/// Number of frames of an object of `plaintext` bytes.
pub(crate) fn frame_count(plaintext: u64, frame: u64) -> u64 {
    plaintext.div_ceil(frame.max(1)).max(1)
}

/// Plaintext length of an object whose ciphertext is `ciphertext` bytes,
/// or an error if no plaintext length gives that ciphertext length.
pub fn plaintext_len(ciphertext: u64, frame: u64) -> Result<u64> {
    let unit = frame.max(1) + FRAME_OVERHEAD;
    let frames = ciphertext.div_ceil(unit).max(1);
    let p = ciphertext
        .checked_sub(FRAME_OVERHEAD * frames)
        .ok_or_else(|| Error::malformed(format!("object of {ciphertext} bytes is too short to be encrypted")))?;
    if ciphertext_len(p, frame) != ciphertext {
        return Err(Error::malformed(format!("{ciphertext} bytes is not a valid encrypted object length")));
    }
    Ok(p)
}

/// A byte range request, as in an HTTP `Range: bytes=` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last`, inclusive.
    FromTo(u64, u64),
    /// `first-`.
    From(u64),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` (one range only).
    pub fn parse(header: &str) -> Result<Self> {
        let bad = || Error::InvalidParameter(format!("unsupported Range header {header:?}"));
        let spec = header.trim().strip_prefix("bytes=").ok_or_else(bad)?.trim();
        if spec.contains(',') {
            return Err(Error::InvalidParameter("multiple ranges are not supported".into()));
        }
        let (a, b) = spec.split_once('-').ok_or_else(bad)?;
        let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
        match (a.trim().is_empty(), b.trim().is_empty()) {
            (true, false) => Ok(ByteRange::Suffix(num(b)?)),
            (false, true) => Ok(ByteRange::From(num(a)?)),
            (false, false) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a { Err(bad()) } else { Ok(ByteRange::FromTo(a, b)) }
            }
            (true, true) => Err(bad()),
        }
    }

    /// Resolves against an object of `len` bytes: `Some((first, last))`
    /// inclusive, or `None` when the range is not satisfiable (HTTP 416),
    /// following S3.
    pub fn resolve(self, len: u64) -> Option<(u64, u64)> {
        if len == 0 {
            return None;
        }
        match self {
            ByteRange::FromTo(a, b) if a < len && a <= b => Some((a, b.min(len - 1))),
            ByteRange::From(a) if a < len => Some((a, len - 1)),
            ByteRange::Suffix(n) if n > 0 => Some((len - n.min(len), len - 1)),
            _ => None,
        }
    }
}

/// The frames that cover a plaintext range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan {
    /// Index of the first frame.
    pub first_frame: u64,
    /// Index of the last frame (inclusive).
    pub last_frame: u64,
    /// First ciphertext byte to fetch.
    pub ciphertext_first: u64,
    /// Last ciphertext byte to fetch (inclusive).
    pub ciphertext_last: u64,
    /// Plaintext bytes to drop from the start of the first frame.
    pub skip: u64,
    /// Plaintext bytes to return.
    pub len: u64,
}

/// Maps the inclusive plaintext range `first..=last` of an object of
/// `plaintext` bytes (frames of `frame`) to the frames that hold it.
pub fn frames_for_range(first: u64, last: u64, plaintext: u64, frame: u64) -> Result<FrameSpan> {
    let frame = frame.max(1);
    if first > last || last >= plaintext.max(1) {
        return Err(Error::InvalidParameter("range outside the object".into()));
    }
    let unit = frame + FRAME_OVERHEAD;
    let first_frame = first / frame;
    let last_frame = last / frame;
    let total = ciphertext_len(plaintext, frame);
    Ok(FrameSpan {
        first_frame,
        last_frame,
        ciphertext_first: first_frame * unit,
        ciphertext_last: ((last_frame + 1) * unit).min(total) - 1,
        skip: first - first_frame * frame,
        len: last - first + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_round_trips() {
        for f in [1u64, 7, 64, 65536] {
            for p in (0..5 * f + 3).chain([10 * f, 10 * f + 1]) {
                let c = ciphertext_len(p, f);
                assert_eq!(plaintext_len(c, f).unwrap(), p, "p={p} f={f}");
            }
        }
        assert_eq!(ciphertext_len(0, 65536), 16);
        assert_eq!(ciphertext_len(65536, 65536), 65536 + 16);
        assert_eq!(ciphertext_len(65537, 65536), 65537 + 32);
        assert!(plaintext_len(15, 64).is_err());
        // 64 + 16 + 16 cannot happen: a second frame of zero bytes.
        assert!(plaintext_len(96, 64).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(ByteRange::parse("bytes=0-9").unwrap(), ByteRange::FromTo(0, 9));
        assert_eq!(ByteRange::parse("bytes=5-").unwrap(), ByteRange::From(5));
        assert_eq!(ByteRange::parse("bytes=-3").unwrap(), ByteRange::Suffix(3));
        assert!(ByteRange::parse("bytes=9-2").is_err());
        assert!(ByteRange::parse("bytes=0-1,4-5").is_err());
        assert_eq!(ByteRange::FromTo(0, 100).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::From(10).resolve(10), None);
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        assert_eq!(ByteRange::From(0).resolve(0), None);
        let s = frames_for_range(70, 130, 200, 64).unwrap();
        assert_eq!(
            (s.first_frame, s.last_frame, s.ciphertext_first, s.ciphertext_last, s.skip, s.len),
            (1, 2, 80, 239, 6, 61)
        );
        let s = frames_for_range(190, 199, 200, 64).unwrap();
        assert_eq!((s.first_frame, s.last_frame, s.ciphertext_first, s.ciphertext_last), (2, 3, 160, 263));
        assert_eq!(ciphertext_len(200, 64), 264);
    }
}
