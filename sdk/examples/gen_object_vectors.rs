//! Generates the known-answer vectors of the object format
//! (`docs/FORMAT.md`, part 2) into `testvectors/objects/`.
//!
//! Run: `cargo run -p s3seal --example gen_object_vectors`
//!
//! Everything is fixed: the wrapping keys are constants, and the values a
//! writer would draw at random (data key, message id, the IVs of the raw AES
//! key wrapping) are derived from the case name with HKDF-SHA512
//! (`salt = "s3seal test vectors"`, `ikm = case name`, `info = label`), and
//! recorded in the manifest too, so other implementations need not re-derive
//! them. Running the generator twice, or with either AEAD backend, gives
//! byte-identical files; `sdk/tests/object_vectors.rs` checks that the
//! committed files are exactly what this program writes, and that each
//! vector decrypts.
//!
//! The encrypted data keys are made here, following the raw AES keyring's
//! layout (`sdk/src/keyring/raw_aes.rs`), because the keyring draws its IV
//! at random: provider id = namespace, provider info = key name || 128 (u32)
//! || 12 (u32) || IV, ciphertext = AES-256-GCM(wrapping key, IV, AAD =
//! serialized encryption context including `s3seal:bucket`, data key) ||
//! tag. [`s3seal::keyring::RawAesKeyring`] unwraps them. The envelope with
//! two keyrings uses two raw AES keys, not RSA, because RSA-OAEP is
//! randomized and its ciphertext could not be regenerated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use s3seal::context::{self, EncryptionContext};
use s3seal::hazmat::aead::{self, AeadAlgorithm, Backend};
use s3seal::hazmat::kdf;
use s3seal::hazmat::object::{FrameFlags, NewObject, PartEncryptor, SealedObject, frame_nonce};
use s3seal::materials::{DataKey, EncryptedDataKey};
use s3seal::object::{BUCKET_CONTEXT_KEY, FLAG_END_MARKED, FLAG_MULTIPART, FLAG_RECORDED, METADATA_KEY};
use s3seal::object::{ObjectSuite, ciphertext_len};
use serde::{Deserialize, Serialize};

/// Directory of the object vectors, relative to the repository root.
pub(crate) const VECTORS_DIR: &str = "testvectors/objects";

/// Name of the manifest file in [`VECTORS_DIR`].
pub(crate) const MANIFEST: &str = "manifest.json";

/// The bucket every vector is written to.
pub(crate) const BUCKET: &str = "s3seal-vectors";

/// The small frame length used by most cases.
const SMALL_FRAME: u32 = 64;

/// The manifest: the wrapping keys and every case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// What these files are.
    pub description: String,
    /// The format and version the vectors are written in.
    pub format: String,
    /// The raw AES wrapping keys the encrypted data keys were made with.
    pub wrapping_keys: Vec<WrappingKey>,
    /// The vectors.
    pub cases: Vec<Case>,
}

/// A raw AES wrapping key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WrappingKey {
    /// Short name the cases refer to.
    pub id: String,
    /// Raw AES keyring namespace (the EDK provider id).
    pub namespace: String,
    /// Raw AES keyring key name (the start of the EDK provider info).
    pub name: String,
    /// The 256-bit key, hex.
    pub key_hex: String,
}

/// One part of an object as stored: its plaintext and its ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartInfo {
    /// Part number in the frame nonces: 0 for a single-request object,
    /// 1..=N for multipart objects.
    pub number: u32,
    /// Plaintext bytes of the part.
    pub plaintext_length: u64,
    /// Offset of the part's first byte in the body file.
    pub ciphertext_offset: u64,
    /// Ciphertext bytes of the part.
    pub ciphertext_length: u64,
}

/// One frame of the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FrameInfo {
    /// Part number (nonce bytes 0..4).
    pub part: u32,
    /// Index within the part (nonce bytes 4..8).
    pub index: u32,
    /// Flags (nonce bytes 8..12): 1 = end of part, 2 = end of object.
    pub flags: u32,
    /// The 12-byte nonce, hex.
    pub nonce_hex: String,
    /// Offset of the frame (ciphertext || tag) in the body file.
    pub ciphertext_offset: u64,
    /// Length of ciphertext || tag.
    pub ciphertext_length: u64,
}

/// One known-answer vector: an object as S3 stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Case {
    /// Unique name; also the stem of the files.
    pub name: String,
    /// What the case covers.
    pub description: String,
    /// The bucket (bound as the authenticated-only context `s3seal:bucket`).
    pub bucket: String,
    /// The object key (bound by the header tag).
    pub key: String,
    /// The caller's encryption context (stored in the envelope).
    pub context: BTreeMap<String, String>,
    /// Envelope suite byte: 1 = AES-256-GCM, 2 = ChaCha20-Poly1305.
    pub suite: u8,
    /// Plaintext bytes per frame.
    pub frame_length: u32,
    /// Envelope flags: 1 = multipart, 2 = end-marked, 4 = recorded.
    pub flags: u8,
    /// Envelope `part_frames` hint (0 = unknown).
    pub part_frames: u32,
    /// Plaintext length of the object.
    pub plaintext_length: u64,
    /// Ciphertext length of the object (the S3 object size).
    pub ciphertext_length: u64,
    /// The parts, in order.
    pub parts: Vec<PartInfo>,
    /// Every frame, in body order.
    pub frames: Vec<FrameInfo>,
    /// Ids of the wrapping keys, in encrypted-data-key order.
    pub wrapping_keys: Vec<String>,
    /// Injected: the data key, hex.
    pub data_key_hex: String,
    /// Injected: the message id, hex.
    pub message_id_hex: String,
    /// Injected: the IV of each encrypted data key, hex.
    pub edk_ivs_hex: Vec<String>,
    /// Derived: the object key, hex (HKDF-SHA512, docs/FORMAT.md).
    pub object_key_hex: String,
    /// Derived: the key commitment, hex (also in the envelope).
    pub commitment_hex: String,
    /// The object's user metadata as S3 returns it (full header names).
    pub metadata: BTreeMap<String, String>,
    /// The envelope bytes (the base64-decoded metadata value).
    pub envelope_file: String,
    /// The object body as stored (frames only).
    pub body_file: String,
    /// The expected plaintext.
    pub plaintext_file: String,
    /// For recorded objects (flag 4): the final record, as stored at
    /// `.s3seal/records/<message id hex>` (docs/FORMAT.md section 2.15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_file: Option<String>,
}

/// The full metadata header name of the envelope.
pub(crate) fn metadata_header() -> String {
    format!("x-amz-meta-{METADATA_KEY}")
}

/// The generated files: name (relative to [`VECTORS_DIR`]) → bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generated {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Every file, the manifest included.
    pub files: BTreeMap<String, Vec<u8>>,
}

struct Spec {
    name: &'static str,
    description: &'static str,
    key: &'static str,
    context: &'static [(&'static str, &'static str)],
    suite: ObjectSuite,
    frame_length: u32,
    flags: u8,
    part_frames: u32,
    parts: &'static [u64],
    keys: &'static [usize],
}

const KEYS: [(&str, &str, &str); 2] =
    [("aes-1", "s3seal-vectors", "wrapping-key-1"), ("aes-2", "s3seal-vectors", "wrapping-key-2")];

/// Wrapping key `i`: bytes `32 * i .. 32 * i + 32`.
fn wrapping_key(i: usize) -> [u8; 32] {
    std::array::from_fn(|j| (32 * i + j) as u8)
}

const END: u8 = FLAG_END_MARKED;
const AES: ObjectSuite = ObjectSuite::Aes256GcmCommit;

fn specs() -> Vec<Spec> {
    let single = |name: &'static str, description: &'static str, key: &'static str, len: &'static [u64]| Spec {
        name,
        description,
        key,
        context: &[],
        suite: AES,
        frame_length: SMALL_FRAME,
        flags: END,
        part_frames: 0,
        parts: len,
        keys: &[0],
    };
    vec![
        single("empty", "empty object: one empty final frame (16 bytes)", "vectors/empty", &[0]),
        single("one-byte", "1 byte: one short final frame", "vectors/one-byte", &[1]),
        single("frame-minus-one", "F-1 bytes: one short final frame", "vectors/frame-minus-one", &[63]),
        single("one-frame", "F bytes: one full final frame (no empty frame after it)", "vectors/one-frame", &[64]),
        single("frame-plus-one", "F+1 bytes: a full frame, then a 1-byte final frame", "vectors/frame-plus-one", &[65]),
        Spec {
            context: &[("purpose", "known-answer test"), ("tenant", "acme")],
            ..single(
                "several-frames",
                "5 full frames and a 17-byte final frame; a stored encryption context; a non-ASCII object key",
                "vectors/sévéral frames/ünïcode.bin",
                &[337],
            )
        },
        Spec {
            flags: FLAG_MULTIPART,
            ..single(
                "multipart-3-parts",
                "3 parts of 128, 128 and 50 bytes (2, 2 and 1 frames) as the proxy writes them: \
                 not end-marked, part size unknown to the envelope (part_frames 0)",
                "vectors/multipart-3-parts",
                &[128, 128, 50],
            )
        },
        Spec {
            flags: FLAG_MULTIPART | FLAG_END_MARKED,
            part_frames: 2,
            ..single(
                "multipart-3-parts-end-marked",
                "3 parts of 128, 128 and 50 bytes as the SDK's upload writes them: the last frame carries \
                 end-of-object, and the envelope records 2 frames per part",
                "vectors/multipart-3-parts-end-marked",
                &[128, 128, 50],
            )
        },
        Spec {
            flags: FLAG_MULTIPART | FLAG_RECORDED,
            ..single(
                "multipart-3-parts-recorded",
                "3 parts of 128, 128 and 50 bytes as the proxy writes them since envelope flag 4: not \
                 end-marked, part size unknown, and a final record binding 3 parts, 306 plaintext and 386 \
                 stored bytes",
                "vectors/multipart-3-parts-recorded",
                &[128, 128, 50],
            )
        },
        Spec {
            suite: ObjectSuite::ChaCha20Poly1305Commit,
            ..single("chacha20", "ChaCha20-Poly1305 suite, 200 bytes (4 frames)", "vectors/chacha20", &[200])
        },
        Spec {
            keys: &[0, 1],
            ..single(
                "two-keyrings",
                "two encrypted data keys (two raw AES keys) for one data key; either keyring decrypts",
                "vectors/two-keyrings",
                &[100],
            )
        },
        Spec {
            frame_length: 65536,
            ..single(
                "default-frame",
                "the default frame length 65536, 65537 bytes: a full frame and a 1-byte final frame",
                "vectors/default-frame",
                &[65537],
            )
        },
    ]
}

/// The plaintext of every case: byte `i` is `(i * 31 + 7) mod 251`.
pub(crate) fn plaintext(len: u64) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

/// The injected "random" value `label` of case `name`.
fn injected(name: &str, label: &str, len: usize) -> Vec<u8> {
    kdf::hkdf_sha512(b"s3seal test vectors", name.as_bytes(), &[label.as_bytes()], len)
        .expect("HKDF output length")
        .to_vec()
}

fn ctx_of(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn build(spec: &Spec, backend: Backend, files: &mut BTreeMap<String, Vec<u8>>) -> s3seal::Result<Case> {
    let context = ctx_of(spec.context);
    let data_key = injected(spec.name, "data key", 32);
    let message_id: [u8; 32] = injected(spec.name, "message id", 32).try_into().expect("32 bytes");

    // The encrypted data keys, as the raw AES keyring writes them. The AAD
    // is the full encryption context: the caller's pairs and the bucket.
    let mut full = context.clone();
    full.insert(BUCKET_CONTEXT_KEY.to_string(), BUCKET.to_string());
    let aad = context::serialize(&full)?;
    let mut edks = Vec::new();
    let mut ivs = Vec::new();
    for (n, &k) in spec.keys.iter().enumerate() {
        let iv: [u8; 12] = injected(spec.name, &format!("edk iv {n}"), 12).try_into().expect("12 bytes");
        let (_, namespace, name) = KEYS[k];
        let mut info = name.as_bytes().to_vec();
        info.extend_from_slice(&128u32.to_be_bytes());
        info.extend_from_slice(&12u32.to_be_bytes());
        info.extend_from_slice(&iv);
        edks.push(EncryptedDataKey {
            provider_id: namespace.as_bytes().to_vec(),
            provider_info: info,
            ciphertext: aead::seal(backend, AeadAlgorithm::Aes256Gcm, &wrapping_key(k), &iv, &aad, &data_key)?,
        });
        ivs.push(hex::encode(iv));
    }

    let total: u64 = spec.parts.iter().sum();
    let obj = SealedObject::from_parts(
        backend,
        NewObject {
            bucket: BUCKET,
            key: spec.key,
            context: &context,
            suite: spec.suite,
            frame_length: spec.frame_length,
            flags: spec.flags,
            part_frames: spec.part_frames,
            plaintext_length: Some(total),
        },
        DataKey::new(data_key.clone()),
        edks,
        message_id,
    )?;

    let pt = plaintext(total);
    let multipart = spec.flags & FLAG_MULTIPART != 0;
    let end_marked = spec.flags & FLAG_END_MARKED != 0;
    let f = u64::from(spec.frame_length);
    let mut body = Vec::new();
    let mut parts = Vec::new();
    let mut frames = Vec::new();
    let mut offset = 0usize;
    for (i, &len) in spec.parts.iter().enumerate() {
        let number = if multipart { i as u32 + 1 } else { 0 };
        let last_part = i + 1 == spec.parts.len();
        let start = body.len();
        let mut enc =
            PartEncryptor::new(obj.key.clone(), number, spec.frame_length, last_part && end_marked, Some(len))?;
        enc.update(&pt[offset..offset + len as usize], &mut body)?;
        enc.finish(&mut body)?;
        offset += len as usize;
        let part_ct = (body.len() - start) as u64;
        assert_eq!(part_ct, ciphertext_len(len, f), "{}: part {number}", spec.name);
        parts.push(PartInfo {
            number,
            plaintext_length: len,
            ciphertext_offset: start as u64,
            ciphertext_length: part_ct,
        });
        let n = len.div_ceil(f).max(1);
        let mut at = start as u64;
        for index in 0..n {
            let last = index + 1 == n;
            let flags = if last { FrameFlags::last_of_part(last_part && end_marked) } else { FrameFlags::NONE };
            let frame_pt = if last { len - index * f } else { f };
            frames.push(FrameInfo {
                part: number,
                index: index as u32,
                flags: flags.bits(),
                nonce_hex: hex::encode(frame_nonce(number, index as u32, flags)),
                ciphertext_offset: at,
                ciphertext_length: frame_pt + 16,
            });
            at += frame_pt + 16;
        }
    }
    assert_eq!(body.len() as u64, ciphertext_len(total, f), "{}", spec.name);

    let object_key = kdf::hkdf_sha512(&message_id, &data_key, &[b"s3seal object key v1", &[spec.suite.id()]], 32)?;
    let envelope = obj.envelope.to_bytes()?;
    let mut metadata = BTreeMap::new();
    metadata.insert(metadata_header(), obj.envelope.to_metadata_value()?);
    let case = Case {
        name: spec.name.to_string(),
        description: spec.description.to_string(),
        bucket: BUCKET.to_string(),
        key: spec.key.to_string(),
        context,
        suite: spec.suite.id(),
        frame_length: spec.frame_length,
        flags: spec.flags,
        part_frames: spec.part_frames,
        plaintext_length: total,
        ciphertext_length: body.len() as u64,
        parts,
        frames,
        wrapping_keys: spec.keys.iter().map(|&k| KEYS[k].0.to_string()).collect(),
        data_key_hex: hex::encode(&data_key),
        message_id_hex: hex::encode(message_id),
        edk_ivs_hex: ivs,
        object_key_hex: hex::encode(&object_key),
        commitment_hex: hex::encode(obj.envelope.commitment),
        metadata,
        envelope_file: format!("{}.envelope", spec.name),
        body_file: format!("{}.body", spec.name),
        plaintext_file: format!("{}.plaintext", spec.name),
        record_file: (spec.flags & FLAG_RECORDED != 0).then(|| format!("{}.record", spec.name)),
    };
    if let Some(name) = &case.record_file {
        let parts = u32::try_from(spec.parts.len()).expect("few parts");
        files.insert(name.clone(), obj.final_record(parts, total)?);
    }
    files.insert(case.envelope_file.clone(), envelope);
    files.insert(case.body_file.clone(), body);
    files.insert(case.plaintext_file.clone(), pt);
    Ok(case)
}

/// Builds every vector with `backend` (both backends give the same bytes).
pub(crate) fn generate(backend: Backend) -> s3seal::Result<Generated> {
    let mut files = BTreeMap::new();
    let cases = specs().iter().map(|s| build(s, backend, &mut files)).collect::<s3seal::Result<Vec<_>>>()?;
    let manifest = Manifest {
        description: "Known-answer vectors of the s3seal object format (docs/FORMAT.md, part 2), made by \
                      sdk/examples/gen_object_vectors.rs from fixed keys and injected randomness. Each case is \
                      one object: its user metadata, its body (frames only) and its plaintext."
            .to_string(),
        format: "s3seal object, envelope version 1".to_string(),
        wrapping_keys: KEYS
            .iter()
            .enumerate()
            .map(|(i, (id, ns, name))| WrappingKey {
                id: id.to_string(),
                namespace: ns.to_string(),
                name: name.to_string(),
                key_hex: hex::encode(wrapping_key(i)),
            })
            .collect(),
        cases,
    };
    let mut json = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    json.push('\n');
    files.insert(MANIFEST.to_string(), json.into_bytes());
    Ok(Generated { manifest, files })
}

/// The vectors directory of this repository.
pub(crate) fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(VECTORS_DIR)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let generated = generate(Backend::default())?;
    if generate(Backend::RustCrypto)? != generated {
        return Err("the two AEAD backends produced different vectors".into());
    }
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in &generated.files {
        std::fs::write(dir.join(name), bytes)?;
    }
    println!("wrote {} files ({} cases) to {}", generated.files.len(), generated.manifest.cases.len(), dir.display());
    Ok(())
}
