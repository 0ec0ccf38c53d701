//! Object keys as relative paths: an injective, reversible encoding that
//! never escapes the bucket's directory.
//!
//! A key is split at `/` into segments (`a//b` has three, `trail/` ends in
//! an empty one). Each segment is escaped byte by byte: ASCII lower-case
//! letters, digits, `-` and `_` are kept, every other byte becomes `%XX`
//! (upper-case hex), so no encoded segment holds `.`, `/`, an upper-case
//! letter (case-insensitive file systems) or a non-ASCII character
//! (normalising file systems). An empty segment is `%n`. An encoded segment
//! longer than [`PIECE`] bytes is cut (between escapes) into pieces, each
//! but the last a directory named `PIECE%k`. Segments but the last are
//! directories; the last names the object's file, `LAST%o`.
//!
//! Tokens `%` + a letter that is not a hex digit (`%n`, `%k`, `%o`, `%t`)
//! never come out of escaping, so segment names, pieces and the files of
//! the store cannot collide, and decoding is the exact inverse of encoding.

use std::path::PathBuf;

/// The longest key S3 accepts, in bytes of UTF-8.
pub(crate) const MAX_KEY_LEN: usize = 1024;
/// The longest encoded piece of a segment in one path component, leaving
/// room for a token under the usual 255-byte limit.
const PIECE: usize = 200;
/// An empty segment.
const EMPTY: &str = "%n";
/// Suffix of a piece of a segment continued in the directory it names.
const CONTINUED: &str = "%k";
/// Suffix of an object's file.
pub(crate) const OBJECT: &str = "%o";
/// Suffix of the file holding an object's tags.
pub(crate) const TAGS: &str = "%t";

/// Why a key cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyError {
    /// Over [`MAX_KEY_LEN`] bytes.
    #[error("the key is {0} bytes long; the limit is {MAX_KEY_LEN}")]
    TooLong(usize),
    /// The empty key.
    #[error("the key is empty")]
    Empty,
}

/// Where an object is kept, relative to its bucket's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredKey {
    /// The directories above the object's file.
    pub dirs: PathBuf,
    /// The file name without its suffix.
    pub leaf: String,
}

impl StoredKey {
    /// The object's file (relative to the bucket).
    pub fn object(&self) -> PathBuf {
        self.dirs.join(format!("{}{OBJECT}", self.leaf))
    }

    /// The object's tag file (relative to the bucket).
    pub fn tags(&self) -> PathBuf {
        self.dirs.join(format!("{}{TAGS}", self.leaf))
    }
}

/// The stored place of `key`.
pub(crate) fn encode(key: &str) -> Result<StoredKey, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong(key.len()));
    }
    let mut components: Vec<String> = Vec::new();
    for segment in key.split('/') {
        let pieces = pieces(&escape(segment));
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            components.push(if i < last { format!("{piece}{CONTINUED}") } else { piece });
        }
    }
    let leaf = components.pop().unwrap_or_default();
    Ok(StoredKey { dirs: components.iter().collect(), leaf })
}

/// The key stored under `components` (relative to the bucket), if they
/// are the encoding of one: the last must end in [`OBJECT`].
pub(crate) fn decode<S: AsRef<str>>(components: &[S]) -> Option<String> {
    let (last, dirs) = components.split_last()?;
    let leaf = last.as_ref().strip_suffix(OBJECT)?;
    let mut key = Vec::new();
    let mut segment = String::new();
    for c in dirs.iter().map(AsRef::as_ref) {
        match c.strip_suffix(CONTINUED) {
            Some(piece) => segment.push_str(piece),
            None => {
                segment.push_str(c);
                key.extend(unescape(&segment)?);
                key.push(b'/');
                segment.clear();
            }
        }
    }
    segment.push_str(leaf);
    key.extend(unescape(&segment)?);
    let key = String::from_utf8(key).ok()?;
    // Only the canonical encoding of a key decodes to it.
    let again = encode(&key).ok()?;
    let mut expected: Vec<String> = again.dirs.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    expected.push(format!("{}{OBJECT}", again.leaf));
    (expected.iter().map(String::as_str).eq(components.iter().map(AsRef::as_ref))).then_some(key)
}

/// The directories (from the bucket's) that hold every key starting with
/// `prefix`: those of its whole segments (all before its last `/`).
pub(crate) fn prefix_dirs(prefix: &str) -> Vec<String> {
    let Some(end) = prefix.rfind('/') else { return Vec::new() };
    // The whole segments, then a short last one that is all leaf.
    match encode(&format!("{}x", &prefix[..=end])) {
        Ok(s) => s.dirs.iter().map(|c| c.to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

fn kept(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

fn escape(segment: &str) -> String {
    if segment.is_empty() {
        return EMPTY.to_string();
    }
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if kept(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(segment: &str) -> Option<Vec<u8>> {
    if segment == EMPTY {
        return Some(Vec::new());
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h)) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else if kept(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// An escaped segment cut into pieces of at most [`PIECE`] bytes, never
/// inside an escape.
fn pieces(escaped: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut rest = escaped;
    while let Some(first) = rest.chars().next() {
        let token_len = if first == '%' { 3.min(rest.len()) } else { first.len_utf8() };
        let (token, tail) = rest.split_at(token_len);
        if current.len() + token.len() > PIECE {
            out.push(std::mem::take(&mut current));
        }
        current.push_str(token);
        rest = tail;
    }
    out.push(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    fn components(s: &StoredKey) -> Vec<String> {
        let mut c: Vec<String> = s.dirs.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        c.push(format!("{}{OBJECT}", s.leaf));
        c
    }

    /// Every component is a plain name: no `.`, `..`, root or empty part,
    /// ASCII only, within the length limit.
    fn assert_safe(key: &str, s: &StoredKey) {
        for c in s.object().components() {
            assert!(matches!(c, Component::Normal(_)), "{key:?} -> {:?}", s.object());
        }
        for c in components(s) {
            assert!(!c.is_empty() && c.len() <= 255, "{key:?} -> {c:?}");
            // Lower-case letters, digits, `-`, `_`, `%` and upper-case hex
            // digits only: no `.`, no separator, nothing a file system folds.
            let allowed = |b: u8| kept(b) || b == b'%' || (b'A'..=b'F').contains(&b);
            assert!(c.bytes().all(allowed), "{key:?} -> {c:?}");
        }
    }

    #[test]
    fn special_keys_are_distinct_safe_and_reversible() {
        let long_segment = "s".repeat(300);
        let long_key = "k".repeat(MAX_KEY_LEN);
        let mut keys: Vec<&str> = include_str!("../../../testvectors/keys.txt").lines().collect();
        keys.extend(["\u{0}", &long_segment, &long_key]);
        let mut seen = std::collections::HashSet::new();
        for key in keys {
            let s = encode(key).unwrap();
            assert_safe(key, &s);
            assert_eq!(decode(&components(&s)).as_deref(), Some(key), "{s:?}");
            assert!(seen.insert(s.object()), "{key:?} collides");
        }
        assert_eq!(encode(&"k".repeat(MAX_KEY_LEN + 1)), Err(KeyError::TooLong(MAX_KEY_LEN + 1)));
        assert_eq!(encode(""), Err(KeyError::Empty));
        assert_eq!(encode("Dir/a.b").unwrap().object(), PathBuf::from("%44ir/a%2Eb%o"));
    }

    #[test]
    fn prefixes_start_the_walk_at_their_whole_segments() {
        assert!(prefix_dirs("abc").is_empty());
        assert_eq!(prefix_dirs("a/B/c"), ["a", "%42"]);
        assert_eq!(prefix_dirs("a//"), ["a", "%n"]);
        let long = format!("{}/x", "s".repeat(300));
        let key = format!("{long}/leaf");
        let dirs = prefix_dirs(&long);
        assert_eq!(dirs.len(), 2);
        assert!(encode(&key).unwrap().dirs.starts_with(dirs.iter().collect::<PathBuf>()));
    }

    #[test]
    fn foreign_and_non_canonical_names_do_not_decode() {
        for c in [vec!["a"], vec!["a%m"], vec!["..", "a%o"], vec!["A%o"], vec!["%2e%o"], vec!["%o"], vec!["x%k"]] {
            assert_eq!(decode(&c), None, "{c:?}");
        }
        // A short piece marked as continued is not how "ab" is encoded.
        assert_eq!(decode(&["a%k", "b%o"]), None);
    }

    /// Many random keys over an alphabet rich in separators, dots,
    /// escapes and multi-byte characters: encoding is injective, safe and
    /// reversed by decoding.
    #[test]
    fn random_keys_round_trip_without_collision() {
        const ALPHABET: &[&str] = &["/", ".", "..", "%", "%4", "a", "B", "+", " ", "ü", "😀", "k", "%o", "_", "-", "~"];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut seen = std::collections::HashMap::new();
        for _ in 0..20_000 {
            let len = 1 + (next() % 40) as usize;
            let mut key: String = (0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]).collect();
            if next() % 50 == 0 {
                key = key.repeat(1 + (next() % 80) as usize);
            }
            match encode(&key) {
                Ok(s) => {
                    assert_safe(&key, &s);
                    assert_eq!(decode(&components(&s)).as_deref(), Some(key.as_str()));
                    if let Some(other) = seen.insert(s.object(), key.clone()) {
                        assert_eq!(other, key, "two keys share {:?}", s.object());
                    }
                }
                Err(KeyError::TooLong(n)) => assert!(n > MAX_KEY_LEN),
                Err(e) => panic!("{key:?}: {e}"),
            }
        }
    }
}
