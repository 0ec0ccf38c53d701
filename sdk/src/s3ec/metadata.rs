//! Content metadata of S3 Encryption Client objects: which format an
//! object uses, parsing it from object metadata or an instruction file,
//! and writing V3 metadata (`s3-encryption/data-format/content-metadata.md`,
//! `metadata-strategy.md`).
//!
//! Keys are the user-metadata names without the `x-amz-meta-` prefix, as
//! S3 SDKs return them. Any deviation from the format (keys of two format
//! versions, missing keys, bad lengths) is an error: such metadata was not
//! written by an S3 Encryption Client, or was altered.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::context::EncryptionContext;
use crate::crypto::gcm_stream::IV_LEN;
use crate::error::{Error, Result};
use crate::s3ec::suite::{COMMITMENT_LEN, COMMITTING_IV, ContentSuite, MESSAGE_ID_LEN, WrapAlgorithm};
use crate::s3ec::wrap::WrappedKey;

/// The default suffix of instruction files: `<key>.instruction`.
pub(crate) const INSTRUCTION_SUFFIX: &str = ".instruction";

/// V1 encrypted data key (legacy, not read).
pub(crate) const KEY_V1: &str = "x-amz-key";
/// V2 encrypted data key.
pub(crate) const KEY_V2: &str = "x-amz-key-v2";
/// V1/V2 content IV.
pub(crate) const IV: &str = "x-amz-iv";
/// V1/V2 material description or KMS encryption context (JSON).
pub(crate) const MATDESC: &str = "x-amz-matdesc";
/// V2 key wrapping algorithm.
pub(crate) const WRAP_ALG: &str = "x-amz-wrap-alg";
/// V2 content algorithm.
pub(crate) const CEK_ALG: &str = "x-amz-cek-alg";
/// V2 tag length in bits.
pub(crate) const TAG_LEN: &str = "x-amz-tag-len";
/// V1/V2 plaintext length (informational).
pub(crate) const UNENCRYPTED_LENGTH: &str = "x-amz-unencrypted-content-length";
/// Marks an instruction file.
pub(crate) const INSTRUCTION_FILE: &str = "x-amz-crypto-instr-file";
/// V3 content algorithm.
pub(crate) const CONTENT_CIPHER_V3: &str = "x-amz-c";
/// V3 encrypted data key.
pub(crate) const KEY_V3: &str = "x-amz-3";
/// V3 material description (raw keys, JSON).
pub(crate) const MAT_DESC_V3: &str = "x-amz-m";
/// V3 KMS encryption context (JSON).
pub(crate) const ENCRYPTION_CONTEXT_V3: &str = "x-amz-t";
/// V3 key wrapping algorithm code.
pub(crate) const WRAP_ALG_V3: &str = "x-amz-w";
/// V3 key commitment.
pub(crate) const KEY_COMMITMENT_V3: &str = "x-amz-d";
/// V3 message id.
pub(crate) const MESSAGE_ID_V3: &str = "x-amz-i";

const V1_V2_ONLY: [&str; 6] = [KEY_V1, KEY_V2, IV, MATDESC, WRAP_ALG, CEK_ALG];
const V3_ONLY: [&str; 7] =
    [CONTENT_CIPHER_V3, KEY_V3, MAT_DESC_V3, ENCRYPTION_CONTEXT_V3, WRAP_ALG_V3, KEY_COMMITMENT_V3, MESSAGE_ID_V3];
/// V3 keys that live in the object's metadata even in instruction-file mode.
const V3_OBJECT_ONLY: [&str; 3] = [CONTENT_CIPHER_V3, KEY_COMMITMENT_V3, MESSAGE_ID_V3];

/// True for every metadata key the S3 Encryption Client owns.
pub fn is_s3ec_key(key: &str) -> bool {
    V1_V2_ONLY.contains(&key)
        || V3_ONLY.contains(&key)
        || [TAG_LEN, UNENCRYPTED_LENGTH, INSTRUCTION_FILE].contains(&key)
}

/// The metadata format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `x-amz-key-v2`: AES-GCM without key commitment.
    V2,
    /// `x-amz-3` / `x-amz-c`: AES-GCM with key commitment.
    V3,
}

/// Everything needed to decrypt an S3 Encryption Client object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentMetadata {
    /// The format version.
    pub format: Format,
    /// The content suite.
    pub suite: ContentSuite,
    /// The wrapped data key.
    pub wrapped: WrappedKey,
    /// The content IV (the fixed `0x01 × 12` for V3).
    pub iv: [u8; IV_LEN],
    /// V3: the message id (HKDF salt).
    pub message_id: Option<[u8; MESSAGE_ID_LEN]>,
    /// V3: the key commitment.
    pub commitment: Option<[u8; COMMITMENT_LEN]>,
    /// True when part of it came from an instruction file.
    pub instruction_file: bool,
}

/// What an object's own metadata says about its encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// No S3 Encryption Client metadata: a plain object, or one whose
    /// metadata is all in an instruction file (V1/V2 instruction mode).
    None,
    /// Complete content metadata.
    Complete(ContentMetadata),
    /// V3 content keys without the data key: it is in the instruction file.
    InstructionFile,
}

/// Reads an object's metadata.
pub(crate) fn detect(metadata: &HashMap<String, String>) -> Result<Detection> {
    let has = |k: &str| metadata.contains_key(k);
    if !metadata.keys().any(|k| is_s3ec_key(k)) {
        return Ok(Detection::None);
    }
    if !has(KEY_V1) && !has(KEY_V2) && !has(KEY_V3) {
        if V3_OBJECT_ONLY.iter().any(|k| has(k)) {
            return Ok(Detection::InstructionFile);
        }
        if has(INSTRUCTION_FILE) {
            return Err(Error::UnsupportedS3ec("this object is an instruction file, not an encrypted object".into()));
        }
        return Err(Error::malformed(
            "the object carries S3 Encryption Client metadata but no encrypted data key (the metadata was altered)",
        ));
    }
    parse(metadata).map(Detection::Complete)
}

/// Parses complete content metadata (object metadata, or object metadata
/// merged with an instruction file).
pub(crate) fn parse(m: &HashMap<String, String>) -> Result<ContentMetadata> {
    let exclusive = [KEY_V1, KEY_V2, KEY_V3].iter().filter(|k| m.contains_key(**k)).count();
    if exclusive > 1 {
        return Err(Error::malformed(
            "the metadata holds encrypted data keys of several format versions (the object or its instruction file was altered)",
        ));
    }
    if m.contains_key(KEY_V1) {
        return Err(Error::UnsupportedS3ec(
            "the object uses format V1 (x-amz-key), written by S3 Encryption Client V1 in legacy modes that s3seal does not decrypt".into(),
        ));
    }
    if m.contains_key(KEY_V2) { parse_v2(m) } else { parse_v3(m) }
}

fn get<'a>(m: &'a HashMap<String, String>, key: &str) -> Result<&'a str> {
    m.get(key).map(String::as_str).ok_or_else(|| Error::malformed(format!("S3 Encryption Client metadata lacks {key}")))
}

fn b64(key: &str, v: &str) -> Result<Vec<u8>> {
    B64.decode(v.trim()).map_err(|_| Error::malformed(format!("{key} is not valid base64")))
}

fn fixed<const N: usize>(key: &str, v: &str) -> Result<[u8; N]> {
    b64(key, v)?.try_into().map_err(|b: Vec<u8>| Error::malformed(format!("{key} holds {} bytes, not {N}", b.len())))
}

fn json_map(key: &str, v: &str) -> Result<EncryptionContext> {
    let decoded = decode_s3_encoding(v);
    serde_json::from_str::<EncryptionContext>(&decoded)
        .map_err(|e| Error::malformed(format!("{key} is not a JSON object of strings: {e}")))
}

fn parse_v2(m: &HashMap<String, String>) -> Result<ContentMetadata> {
    if let Some(k) = V3_ONLY.iter().find(|k| m.contains_key(**k)) {
        return Err(Error::malformed(format!(
            "V2 metadata also holds the V3 key {k} (the object or its instruction file was altered)"
        )));
    }
    let suite = ContentSuite::from_name(get(m, CEK_ALG)?)?;
    match m.get(TAG_LEN).map(String::as_str) {
        Some("128") => {}
        Some(other) => return Err(Error::malformed(format!("{TAG_LEN} is {other:?}; AES-GCM objects use 128"))),
        None => return Err(Error::malformed(format!("S3 Encryption Client metadata lacks {TAG_LEN}"))),
    }
    let algorithm = WrapAlgorithm::from_name(get(m, WRAP_ALG)?)?;
    let iv = fixed::<IV_LEN>(IV, get(m, IV)?)?;
    let context = match m.get(MATDESC) {
        Some(v) => json_map(MATDESC, v)?,
        None => EncryptionContext::new(),
    };
    let ciphertext = b64(KEY_V2, get(m, KEY_V2)?)?;
    Ok(ContentMetadata {
        format: Format::V2,
        suite,
        wrapped: WrappedKey { algorithm, suite, ciphertext, context },
        iv,
        message_id: None,
        commitment: None,
        instruction_file: false,
    })
}

fn parse_v3(m: &HashMap<String, String>) -> Result<ContentMetadata> {
    if let Some(k) = V1_V2_ONLY.iter().chain(&[TAG_LEN]).find(|k| m.contains_key(**k)) {
        return Err(Error::malformed(format!(
            "V3 metadata also holds the V1/V2 key {k} (the object or its instruction file was altered)"
        )));
    }
    let suite = ContentSuite::from_name(get(m, CONTENT_CIPHER_V3)?)?;
    if suite != ContentSuite::CommittingAesGcm {
        return Err(Error::malformed(format!("format V3 requires suite 115, the metadata names {suite}")));
    }
    let algorithm = WrapAlgorithm::from_v3_code(get(m, WRAP_ALG_V3)?)?;
    let context_key = if algorithm == WrapAlgorithm::KmsContext { ENCRYPTION_CONTEXT_V3 } else { MAT_DESC_V3 };
    let context = match m.get(context_key) {
        Some(v) => json_map(context_key, v)?,
        None => EncryptionContext::new(),
    };
    let ciphertext = b64(KEY_V3, get(m, KEY_V3)?)?;
    Ok(ContentMetadata {
        format: Format::V3,
        suite,
        wrapped: WrappedKey { algorithm, suite, ciphertext, context },
        iv: COMMITTING_IV,
        message_id: Some(fixed(MESSAGE_ID_V3, get(m, MESSAGE_ID_V3)?)?),
        commitment: Some(fixed(KEY_COMMITMENT_V3, get(m, KEY_COMMITMENT_V3)?)?),
        instruction_file: false,
    })
}

/// Merges an instruction file's JSON body with the object's metadata and
/// parses the result. The instruction file may hold only S3 Encryption
/// Client keys, never the V3 keys that belong to the object (`x-amz-c`,
/// `x-amz-d`, `x-amz-i`); V1/V2 objects in instruction-file mode carry no
/// content metadata of their own.
pub(crate) fn merge_instruction_file(object: &HashMap<String, String>, body: &[u8]) -> Result<ContentMetadata> {
    let doc: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| Error::malformed(format!("the instruction file is not a JSON object: {e}")))?;
    let mut merged = HashMap::new();
    for (k, v) in doc {
        if !is_s3ec_key(&k) {
            return Err(Error::malformed(format!("the instruction file holds the foreign key {k:?}")));
        }
        if V3_OBJECT_ONLY.contains(&k.as_str()) {
            return Err(Error::malformed(format!(
                "the instruction file holds {k}, which only the object's own metadata may hold (it was altered)"
            )));
        }
        let v = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(o) => serde_json::Value::Object(o).to_string(),
            other => return Err(Error::malformed(format!("the instruction file value of {k} is {other}"))),
        };
        merged.insert(k, v);
    }
    let own: Vec<&String> = object.keys().filter(|k| is_s3ec_key(k) && k.as_str() != UNENCRYPTED_LENGTH).collect();
    if (merged.contains_key(KEY_V2) || merged.contains_key(KEY_V1))
        && let Some(k) = own.first()
    {
        return Err(Error::malformed(format!(
            "the object holds content metadata ({k}) while its V1/V2 instruction file holds the rest (an illegal combination)"
        )));
    }
    for k in own {
        if let Some(v) = object.get(k) {
            merged.insert(k.clone(), v.clone());
        }
    }
    merged.remove(INSTRUCTION_FILE);
    parse(&merged)
}

/// The V3 object metadata of a new object.
pub(crate) fn v3_metadata(
    wrapped: &WrappedKey,
    message_id: &[u8; MESSAGE_ID_LEN],
    commitment: &[u8; COMMITMENT_LEN],
) -> Result<Vec<(String, String)>> {
    let mut out = vec![
        (CONTENT_CIPHER_V3.to_string(), ContentSuite::CommittingAesGcm.name().to_string()),
        (KEY_V3.to_string(), B64.encode(&wrapped.ciphertext)),
        (WRAP_ALG_V3.to_string(), wrapped.algorithm.v3_code().to_string()),
        (KEY_COMMITMENT_V3.to_string(), B64.encode(commitment)),
        (MESSAGE_ID_V3.to_string(), B64.encode(message_id)),
    ];
    if !wrapped.context.is_empty() {
        let key = if wrapped.algorithm == WrapAlgorithm::KmsContext { ENCRYPTION_CONTEXT_V3 } else { MAT_DESC_V3 };
        let json = serde_json::to_string(&wrapped.context).map_err(|_| Error::Crypto("context serialization"))?;
        if !json.is_ascii() {
            return Err(Error::EncryptionContext(
                "S3 Encryption Client objects need US-ASCII encryption context and material description".into(),
            ));
        }
        out.push((key.to_string(), json));
    }
    Ok(out)
}

/// Undoes the encoding S3 applies to non-ASCII metadata values: RFC 2047
/// encoded words (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`), then, where the
/// result is UTF-8 read as Latin-1, the UTF-8 reading. Values without
/// encoded words are returned as they are.
pub(crate) fn decode_s3_encoding(value: &str) -> String {
    let Some(decoded) = decode_encoded_words(value) else {
        return value.to_string();
    };
    if decoded.chars().any(|c| (0x80..=0xff).contains(&u32::from(c))) && decoded.chars().all(|c| u32::from(c) <= 0xff) {
        let bytes: Vec<u8> = decoded.chars().map(|c| c as u8).collect();
        if let Ok(s) = String::from_utf8(bytes) {
            return s;
        }
    }
    decoded
}

/// Decodes a run of RFC 2047 encoded words; `None` if `value` has none or
/// one is malformed.
fn decode_encoded_words(value: &str) -> Option<String> {
    if !value.contains("=?") {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = value;
    let mut last_was_word = false;
    while !rest.is_empty() {
        let Some(start) = rest.find("=?") else {
            out.extend_from_slice(rest.as_bytes());
            break;
        };
        let between = &rest[..start];
        // Whitespace between two encoded words is dropped (RFC 2047 §6.2).
        if !(last_was_word && between.trim().is_empty()) {
            out.extend_from_slice(between.as_bytes());
        }
        let word = &rest[start + 2..];
        let mut parts = word.splitn(3, '?');
        let charset = parts.next()?;
        let encoding = parts.next()?;
        let tail = parts.next()?;
        let end = tail.find("?=")?;
        let text = &tail[..end];
        let bytes = match encoding {
            "B" | "b" => B64.decode(text).ok()?,
            "Q" | "q" => decode_q(text)?,
            _ => return None,
        };
        let charset = charset.to_ascii_lowercase();
        match charset.as_str() {
            "utf-8" | "us-ascii" => out.extend_from_slice(&bytes),
            "iso-8859-1" | "latin1" => out.extend(bytes.iter().flat_map(|b| char::from(*b).to_string().into_bytes())),
            _ => return None,
        }
        rest = &tail[end + 2..];
        last_was_word = true;
    }
    String::from_utf8(out).ok()
}

fn decode_q(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn v3() -> HashMap<String, String> {
        map(&[
            (CONTENT_CIPHER_V3, "115"),
            (KEY_V3, "AAECAw=="),
            (WRAP_ALG_V3, "12"),
            (KEY_COMMITMENT_V3, &B64.encode([1u8; 28])),
            (MESSAGE_ID_V3, &B64.encode([2u8; 28])),
            (ENCRYPTION_CONTEXT_V3, r#"{"aws:x-amz-cek-alg": "115", "team": "a"}"#),
        ])
    }

    fn v2() -> HashMap<String, String> {
        map(&[
            (KEY_V2, "AAECAw=="),
            (IV, &B64.encode([3u8; 12])),
            (WRAP_ALG, "kms+context"),
            (CEK_ALG, "AES/GCM/NoPadding"),
            (TAG_LEN, "128"),
            (MATDESC, r#"{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}"#),
        ])
    }

    #[test]
    fn detects_v3_and_v2() {
        let Detection::Complete(m) = detect(&v3()).expect("v3") else { panic!("not complete") };
        assert_eq!(m.format, Format::V3);
        assert_eq!(m.iv, [1u8; 12]);
        assert_eq!(m.wrapped.algorithm, WrapAlgorithm::KmsContext);
        assert_eq!(m.wrapped.caller_context().get("team").map(String::as_str), Some("a"));
        assert_eq!(m.wrapped.caller_context().len(), 1);
        let Detection::Complete(m) = detect(&v2()).expect("v2") else { panic!("not complete") };
        assert_eq!(m.format, Format::V2);
        assert_eq!(m.suite, ContentSuite::AesGcm);
        assert_eq!(m.iv, [3u8; 12]);
        assert_eq!(detect(&map(&[("color", "red")])).expect("plain"), Detection::None);
    }

    #[test]
    fn rejects_mixed_missing_and_malformed() {
        let mut mixed = v3();
        mixed.insert(KEY_V2.into(), "AA==".into());
        assert!(matches!(detect(&mixed), Err(Error::Malformed(_))));
        let mut mixed = v2();
        mixed.insert(MESSAGE_ID_V3.into(), "AA==".into());
        assert!(matches!(detect(&mixed), Err(Error::Malformed(_))));
        for k in [CONTENT_CIPHER_V3, WRAP_ALG_V3, KEY_COMMITMENT_V3, MESSAGE_ID_V3] {
            let mut m = v3();
            m.remove(k);
            assert!(detect(&m).is_err(), "{k}");
        }
        for k in [IV, WRAP_ALG, CEK_ALG, TAG_LEN] {
            let mut m = v2();
            m.remove(k);
            assert!(detect(&m).is_err(), "{k}");
        }
        let mut m = v3();
        m.insert(KEY_COMMITMENT_V3.into(), B64.encode([1u8; 27]));
        assert!(matches!(detect(&m), Err(Error::Malformed(_))));
        let mut m = v3();
        m.insert(ENCRYPTION_CONTEXT_V3.into(), "{not json".into());
        assert!(matches!(detect(&m), Err(Error::Malformed(_))));
        let mut m = v3();
        m.insert(WRAP_ALG_V3.into(), "99".into());
        assert!(matches!(detect(&m), Err(Error::UnsupportedS3ec(_))));
        let mut m = v2();
        m.insert(CEK_ALG.into(), "AES/CBC/PKCS5Padding".into());
        assert!(matches!(detect(&m), Err(Error::UnsupportedS3ec(_))));
        assert!(matches!(detect(&map(&[(KEY_V1, "AA=="), (IV, "AA==")])), Err(Error::UnsupportedS3ec(_))));
    }

    /// Fuzz target (see `crate::fuzz`): one metadata value of a valid V2
    /// or V3 map mutated, or a mutated instruction file: never a panic
    /// (bolero reports the input that panics).
    #[test]
    fn fuzz_detect() {
        use bolero::check;

        use crate::fuzz::{Mutation, mutate};
        let maps = [v2(), v3()];
        let instruction: Vec<u8> = {
            let mut object = v3();
            let mut i = serde_json::Map::new();
            for k in [KEY_V3, WRAP_ALG_V3, ENCRYPTION_CONTEXT_V3] {
                i.insert(k.to_string(), serde_json::Value::String(object.remove(k).expect("key")));
            }
            serde_json::to_vec(&i).expect("json")
        };
        check!().with_type::<(u8, u8, Mutation)>().for_each(|(which, field, m)| {
            let mut map = maps[usize::from(*which) % 2].clone();
            let mut keys: Vec<String> = map.keys().cloned().collect();
            keys.sort();
            let key = keys[usize::from(*field) % keys.len()].clone();
            let seed = vec![map[&key].as_bytes().to_vec()];
            map.insert(key, String::from_utf8_lossy(&mutate(&seed, m)).into_owned());
            let _ = detect(&map);
            let mut object = v3();
            for k in [KEY_V3, WRAP_ALG_V3, ENCRYPTION_CONTEXT_V3] {
                object.remove(k);
            }
            let _ = merge_instruction_file(&object, &mutate(std::slice::from_ref(&instruction), m));
        });
    }

    #[test]
    fn instruction_files() {
        let mut object = v3();
        let mut instruction = serde_json::Map::new();
        for k in [KEY_V3, WRAP_ALG_V3, ENCRYPTION_CONTEXT_V3] {
            let v = object.remove(k).expect("key");
            instruction.insert(k.to_string(), serde_json::Value::String(v));
        }
        assert_eq!(detect(&object).expect("detect"), Detection::InstructionFile);
        let body = serde_json::to_vec(&instruction).expect("json");
        let merged = merge_instruction_file(&object, &body).expect("merge");
        assert_eq!(Detection::Complete(merged), detect(&v3()).expect("v3"));
        // The instruction file may not carry the object's own V3 keys.
        let mut bad = instruction.clone();
        bad.insert(MESSAGE_ID_V3.into(), serde_json::Value::String(B64.encode([9u8; 28])));
        assert!(merge_instruction_file(&object, &serde_json::to_vec(&bad).expect("json")).is_err());
        // Nor V2 keys beside the object's V3 keys.
        let mut bad = instruction.clone();
        bad.remove(KEY_V3);
        bad.insert(KEY_V2.into(), serde_json::Value::String("AA==".into()));
        assert!(merge_instruction_file(&object, &serde_json::to_vec(&bad).expect("json")).is_err());
        assert!(merge_instruction_file(&object, b"[1,2]").is_err());
        assert!(merge_instruction_file(&object, br#"{"other": "x"}"#).is_err());
        // V2 instruction files hold everything; the object holds nothing.
        let body = serde_json::to_vec(&v2()).expect("json");
        let m = merge_instruction_file(&HashMap::new(), &body).expect("v2 merge");
        assert_eq!(m.format, Format::V2);
        let mut nested = serde_json::Map::new();
        for (k, v) in v2() {
            let v = if k == MATDESC { serde_json::from_str(&v).expect("json") } else { serde_json::Value::String(v) };
            nested.insert(k, v);
        }
        assert_eq!(
            merge_instruction_file(&HashMap::new(), &serde_json::to_vec(&nested).expect("json")).expect("nested"),
            m
        );
    }

    #[test]
    fn s3_encoded_values() {
        assert_eq!(decode_s3_encoding("plain"), "plain");
        assert_eq!(decode_s3_encoding("=?UTF-8?B?eyJrIjoidsOkbCJ9?="), r#"{"k":"väl"}"#);
        assert_eq!(decode_s3_encoding("=?UTF-8?Q?caf=C3=A9_au_lait?="), "café au lait");
        // UTF-8 bytes that were read as Latin-1 and encoded again.
        assert_eq!(decode_s3_encoding("=?UTF-8?B?dsODwqRs?="), "väl");
        assert_eq!(decode_s3_encoding("=?UTF-8?X?abc?="), "=?UTF-8?X?abc?=");
    }

    #[test]
    fn v3_metadata_round_trips() {
        let Detection::Complete(m) = detect(&v3()).expect("v3") else { panic!("not complete") };
        let written: HashMap<String, String> =
            v3_metadata(&m.wrapped, &m.message_id.expect("id"), &m.commitment.expect("c"))
                .expect("write")
                .into_iter()
                .collect();
        assert_eq!(parse(&written).expect("parse"), m);
    }
}
