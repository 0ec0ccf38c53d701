//! The committed known-answer vectors of the object format
//! (`testvectors/objects/`) against the code and against `docs/FORMAT.md`:
//!
//! * regenerating them gives byte-identical files, with both AEAD backends;
//! * each decrypts to its plaintext with `SealedObject::open` and
//!   `FrameDecryptor`, whole and frame by frame, with every keyring it names;
//! * an independent reading that follows only `docs/FORMAT.md` (byte offsets,
//!   HKDF labels, nonces, header AAD, key wrapping) accepts them too;
//! * any change to a body, an envelope or the metadata value is refused, and
//!   the attacks of `docs/THREATS.md` behave as that document says.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s3seal::Error;
use s3seal::cmm::DefaultCmm;
use s3seal::context::{self, EncryptionContext};
use s3seal::hazmat::aead::{self, AeadAlgorithm, Backend};
use s3seal::hazmat::kdf;
use s3seal::hazmat::object::{
    FrameDecryptor, FrameFlags, FramePosition, NewObject, ObjectKey, SealedObject, frames_for_range,
};
use s3seal::hazmat::{FrameBuffer, InPlaceDecrypt};
use s3seal::keyring::RawAesKeyring;
use s3seal::materials::{DataKey, EncryptedDataKey};
use s3seal::object::BUCKET_CONTEXT_KEY;
use s3seal::object::{Envelope, ObjectSuite, plaintext_len};

#[allow(dead_code)]
#[path = "../examples/gen_object_vectors.rs"]
mod generator;

use generator::{Case, Manifest};

/// The committed vectors, read from disk.
struct Vectors {
    manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
}

impl Vectors {
    fn load() -> Self {
        let dir = generator::vectors_dir();
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            files.insert(name, std::fs::read(entry.path()).unwrap());
        }
        let manifest = serde_json::from_slice(&files[generator::MANIFEST]).expect("manifest parses");
        Vectors { manifest, files }
    }

    fn file(&self, name: &str) -> &[u8] {
        self.files.get(name).unwrap_or_else(|| panic!("missing file {name}"))
    }

    fn case(&self, name: &str) -> &Case {
        self.manifest.cases.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case {name}"))
    }

    fn wrapping_key(&self, id: &str) -> RawAesKeyring {
        let k = self.manifest.wrapping_keys.iter().find(|k| k.id == id).expect("wrapping key");
        RawAesKeyring::new(k.namespace.clone(), k.name.clone(), &hex::decode(&k.key_hex).unwrap()).unwrap()
    }

    fn cmm(&self, id: &str, backend: Backend) -> DefaultCmm {
        DefaultCmm::new(Arc::new(self.wrapping_key(id).with_backend(backend)))
    }

    /// Opens `case`'s envelope (as given) with the first keyring it names.
    async fn open(&self, case: &Case, envelope: Envelope, backend: Backend) -> Result<SealedObject, Error> {
        self.open_at(case, envelope, &case.bucket, &case.key, backend).await
    }

    async fn open_at(
        &self,
        case: &Case,
        envelope: Envelope,
        bucket: &str,
        key: &str,
        backend: Backend,
    ) -> Result<SealedObject, Error> {
        let cmm = self.cmm(&case.wrapping_keys[0], backend);
        SealedObject::open(&cmm, backend, envelope, bucket, key, &case.context, None).await
    }

    fn envelope(&self, case: &Case) -> Envelope {
        Envelope::from_metadata_value(&case.metadata[&generator::metadata_header()]).unwrap()
    }
}

/// Frames per part other than the last, as a reader learns it from the
/// store (the manifest's part list) when the envelope has no hint.
fn part_frames(case: &Case) -> Option<u64> {
    (case.flags & 1 != 0).then(|| case.parts[0].plaintext_length / u64::from(case.frame_length))
}

/// Decrypts a whole body, pushing it in odd-sized chunks, four ways that
/// must agree: appending to a `Vec`, into a slice, and through a
/// `FrameBuffer` with read buffers smaller than a frame (frames opened in
/// place) and of a whole frame (opened into the read buffer).
fn read_all(obj: &SealedObject, body: &[u8], part_frames: Option<u64>) -> Result<Vec<u8>, Error> {
    let f = u64::from(obj.envelope.frame_length);
    let p = plaintext_len(body.len() as u64, f)?;
    let frames = p.div_ceil(f).max(1);
    let first = FramePosition { part: if obj.envelope.is_multipart() { 1 } else { 0 }, index: 0 };
    let new = || FrameDecryptor::new(obj.key.clone(), &obj.envelope, p, 0, frames - 1, first, part_frames);
    let appended = (|| {
        let mut d = new()?;
        let mut out = Vec::new();
        for chunk in body.chunks(53) {
            d.update(chunk, &mut out)?;
        }
        d.finish()?;
        Ok(out)
    })();
    let into_slice = (|| {
        let mut d = new()?;
        let mut out = vec![0u8; body.len()];
        let mut written = 0;
        for chunk in body.chunks(53) {
            written += d.update_to(chunk, &mut out[written..])?;
        }
        d.finish()?;
        out.truncate(written);
        Ok(out)
    })();
    let buffered = |read_len: usize| -> Result<Vec<u8>, Error> {
        let mut d = new()?;
        let mut frames = FrameBuffer::new();
        let (mut out, mut buf, mut input) = (Vec::new(), vec![0u8; read_len], body);
        loop {
            let n = frames.read_to(&mut d, &mut buf)?;
            if n > 0 {
                out.extend_from_slice(&buf[..n]);
            } else if input.is_empty() {
                if !frames.pending().is_empty() {
                    d.update(frames.pending(), &mut Vec::new())?;
                }
                d.finish()?;
                return Ok(out);
            } else {
                let take = frames.want(d.preferred_read_len()).min(53).min(input.len());
                frames.push(&input[..take]);
                input = &input[take..];
            }
        }
    };
    for other in [into_slice, buffered(7), buffered(obj.envelope.frame_length as usize)] {
        match (&appended, &other) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "decryption paths disagree"),
            (Err(_), Err(_)) => {}
            (a, b) => {
                panic!("decryption paths disagree: {:?} / {:?}", a.as_ref().map(Vec::len), b.as_ref().map(Vec::len))
            }
        }
    }
    appended
}

/// Decrypts the plaintext range `first..=last` (a ranged GET).
fn read_range(
    obj: &SealedObject,
    body: &[u8],
    first: u64,
    last: u64,
    part_frames: Option<u64>,
) -> Result<Vec<u8>, Error> {
    let f = u64::from(obj.envelope.frame_length);
    let p = plaintext_len(body.len() as u64, f)?;
    let span = frames_for_range(first, last, p, f)?;
    let pos = FramePosition::of(span.first_frame, if obj.envelope.is_multipart() { part_frames } else { None })?;
    let mut d =
        FrameDecryptor::new(obj.key.clone(), &obj.envelope, p, span.first_frame, span.last_frame, pos, part_frames)?;
    let mut out = Vec::new();
    d.update(&body[span.ciphertext_first as usize..=span.ciphertext_last as usize], &mut out)?;
    d.finish()?;
    Ok(out[span.skip as usize..(span.skip + span.len) as usize].to_vec())
}

#[test]
fn regenerating_gives_identical_files() {
    let committed = Vectors::load();
    for backend in Backend::ALL {
        let generated = generator::generate(backend).unwrap();
        assert_eq!(
            generated.files.keys().collect::<Vec<_>>(),
            committed.files.keys().collect::<Vec<_>>(),
            "{backend}: the set of files differs (run `cargo run -p s3seal --example gen_object_vectors`)"
        );
        for (name, bytes) in &generated.files {
            assert!(committed.files[name] == *bytes, "{backend}: {name} differs from the committed file");
        }
        assert_eq!(generated.manifest, committed.manifest);
    }
}

#[test]
fn cases_cover_the_issue() {
    let v = Vectors::load();
    let lens: Vec<u64> = v.manifest.cases.iter().filter(|c| c.frame_length == 64).map(|c| c.plaintext_length).collect();
    for want in [0, 1, 63, 64, 65] {
        assert!(lens.contains(&want), "no case of {want} bytes");
    }
    assert!(v.manifest.cases.iter().any(|c| c.frame_length == 65536));
    assert!(v.manifest.cases.iter().any(|c| c.suite == 2));
    assert!(v.manifest.cases.iter().any(|c| c.wrapping_keys.len() == 2));
    assert!(v.manifest.cases.iter().any(|c| c.frames.len() >= 5));
    for flags in [1, 3, 5] {
        assert!(v.manifest.cases.iter().any(|c| c.flags == flags && c.parts.len() == 3), "3-part flags {flags}");
    }
}

/// FORMAT.md 2.15: the final record of a recorded multipart object, read
/// independently from the text (offsets, HKDF label and inputs), through
/// the SDK, and against the truncations that the frames alone cannot see:
/// every cut at a part boundary reads as a valid shorter object, and only
/// the record's ciphertext length tells it apart.
#[tokio::test]
async fn final_records_bind_the_object_shape() {
    let v = Vectors::load();
    let recorded: Vec<&Case> = v.manifest.cases.iter().filter(|c| c.flags & 4 != 0).collect();
    assert!(!recorded.is_empty());
    for case in recorded {
        let name = &case.name;
        let rec = v.file(case.record_file.as_deref().expect("a recorded case has a record file"));
        let body = v.file(&case.body_file);
        let message_id: [u8; 32] = hex::decode(&case.message_id_hex).unwrap().try_into().unwrap();
        let data_key = hex::decode(&case.data_key_hex).unwrap();
        // Independent reading: 85 bytes, version 1, fields at fixed offsets.
        assert_eq!(rec.len(), 85, "{name}");
        assert_eq!(rec[0], 1, "{name}");
        assert_eq!(&rec[1..33], &message_id[..], "{name}");
        assert_eq!(u32::from_be_bytes(rec[33..37].try_into().unwrap()) as usize, case.parts.len(), "{name}");
        assert_eq!(u64::from_be_bytes(rec[37..45].try_into().unwrap()), case.plaintext_length, "{name}");
        assert_eq!(u64::from_be_bytes(rec[45..53].try_into().unwrap()), body.len() as u64, "{name}");
        let mac = kdf::hkdf_sha512(&message_id, &data_key, &[b"s3seal object record v1", &rec[..53]], 32).unwrap();
        assert_eq!(&rec[53..], &mac[..], "{name}: MAC");
        assert_eq!(
            s3seal::object::FinalRecord::object_key(&message_id),
            format!(".s3seal/records/{}", case.message_id_hex)
        );
        // The SDK: the record opens, and names the stored length.
        let obj = v.open(case, v.envelope(case), Backend::default()).await.unwrap();
        assert!(obj.envelope.is_recorded());
        let opened = obj.open_final_record(rec).unwrap();
        opened.check_stored_length(body.len() as u64).unwrap();
        assert_eq!(obj.final_record(opened.parts, opened.plaintext_length).unwrap(), rec, "{name}: regenerated");
        for i in 0..rec.len() {
            for bit in [0x01u8, 0x80] {
                let mut r = rec.to_vec();
                r[i] ^= bit;
                assert!(obj.open_final_record(&r).is_err(), "{name}: record byte {i} flipped and accepted");
            }
        }
        // Cut at each part boundary: the frames accept it, the record does not.
        for part in &case.parts[..case.parts.len() - 1] {
            let cut = part.ciphertext_offset + part.ciphertext_length;
            assert!(read_all(&obj, &body[..cut as usize], None).is_ok(), "{name}: the frames alone accept the cut");
            assert!(
                matches!(opened.check_stored_length(cut), Err(Error::ObjectShapeMismatch { .. })),
                "{name}: cut after part {} not refused",
                part.number
            );
        }
        // A record made for fewer parts does not open as this one's (the
        // writer's key makes it; an attacker cannot): shape fields are MACed.
        let mut forged = rec.to_vec();
        forged[36] = 2;
        assert!(obj.open_final_record(&forged).is_err());
        // An old reader (flags without bit 2) refuses the envelope cleanly;
        // the header tag covers the flags, so dropping the bit fails too.
        let mut env = v.envelope(case);
        env.flags &= !4;
        assert!(matches!(v.open(case, env, Backend::default()).await, Err(Error::Authentication(_))));
    }
}

#[tokio::test]
async fn every_vector_decrypts() {
    let v = Vectors::load();
    for backend in Backend::ALL {
        for case in &v.manifest.cases {
            let body = v.file(&case.body_file);
            let pt = v.file(&case.plaintext_file);
            assert_eq!(body.len() as u64, case.ciphertext_length);
            assert_eq!(pt.len() as u64, case.plaintext_length);
            assert_eq!(plaintext_len(body.len() as u64, u64::from(case.frame_length)).unwrap(), case.plaintext_length);
            let envelope = v.envelope(case);
            assert_eq!(envelope.to_bytes().unwrap(), v.file(&case.envelope_file), "{}", case.name);
            // Every keyring the envelope names decrypts it on its own, with
            // the stored context reproduced or with none.
            for id in &case.wrapping_keys {
                for reproduced in [case.context.clone(), EncryptionContext::new()] {
                    let cmm = v.cmm(id, backend);
                    let obj =
                        SealedObject::open(&cmm, backend, envelope.clone(), &case.bucket, &case.key, &reproduced, None)
                            .await
                            .unwrap_or_else(|e| panic!("{backend} {} with {id}: {e}", case.name));
                    assert_eq!(read_all(&obj, body, part_frames(case)).unwrap(), pt, "{backend} {}", case.name);
                }
            }
            let obj = v.open(case, envelope.clone(), backend).await.unwrap();
            // Multipart objects read sequentially without knowing the part
            // size: each frame's end-of-part flag is found by trial.
            if envelope.is_multipart() {
                assert_eq!(read_all(&obj, body, None).unwrap(), pt, "{backend} {}: no layout", case.name);
            }
            // Each frame alone, as a ranged read.
            let f = u64::from(case.frame_length);
            for (j, _) in case.frames.iter().enumerate() {
                if case.plaintext_length == 0 {
                    break;
                }
                let first = j as u64 * f;
                let last = (first + f - 1).min(case.plaintext_length - 1);
                let got = read_range(&obj, body, first, last, part_frames(case)).unwrap();
                assert_eq!(got, pt[first as usize..=last as usize], "{backend} {} frame {j}", case.name);
            }
            // A range crossing every frame boundary but the outer ones.
            if case.plaintext_length > 2 {
                let got = read_range(&obj, body, 1, case.plaintext_length - 2, part_frames(case)).unwrap();
                assert_eq!(got, pt[1..pt.len() - 1]);
            }
        }
    }
}

/// An implementation of the reading side that follows `docs/FORMAT.md`
/// only: byte offsets of the envelope, HKDF labels, the header AAD and
/// nonce, the frame nonces and the raw AES key wrapping.
#[test]
fn vectors_follow_the_written_spec() {
    let v = Vectors::load();
    for backend in Backend::ALL {
        for case in &v.manifest.cases {
            let env = v.file(&case.envelope_file);
            let meta = &case.metadata["x-amz-meta-s3seal-envelope"];
            assert_eq!(B64.decode(meta).unwrap(), env, "metadata value = base64(envelope)");

            // Fixed fields.
            assert_eq!(env[0], 1, "version");
            assert_eq!(env[1], case.suite);
            assert_eq!(env[2], case.flags);
            assert_eq!(u32::from_be_bytes(env[3..7].try_into().unwrap()), case.frame_length);
            assert_eq!(u32::from_be_bytes(env[7..11].try_into().unwrap()), case.part_frames);
            let message_id: [u8; 32] = env[11..43].try_into().unwrap();
            assert_eq!(hex::encode(message_id), case.message_id_hex);
            let mut at = 43;
            let ctx_len = usize::from(u16::from_be_bytes([env[at], env[at + 1]]));
            at += 2;
            let stored = context::deserialize(&env[at..at + ctx_len]).unwrap();
            assert_eq!(stored, case.context, "stored context");
            at += ctx_len;
            let n = u16::from_be_bytes([env[at], env[at + 1]]);
            at += 2;
            assert_eq!(usize::from(n), case.wrapping_keys.len());
            let mut edks = Vec::new();
            for _ in 0..n {
                let mut field = || {
                    let len = usize::from(u16::from_be_bytes([env[at], env[at + 1]]));
                    let f = env[at + 2..at + 2 + len].to_vec();
                    at += 2 + len;
                    f
                };
                edks.push((field(), field(), field()));
            }
            let commitment = &env[at..at + 32];
            let tag = &env[at + 32..];
            assert_eq!(tag.len(), 16, "the tag ends the envelope");
            assert_eq!(hex::encode(commitment), case.commitment_hex);

            // Key wrapping: AAD = the full context (stored pairs and the bucket).
            let mut full = case.context.clone();
            full.insert("s3seal:bucket".into(), case.bucket.clone());
            let aad = context::serialize(&full).unwrap();
            let data_key = hex::decode(&case.data_key_hex).unwrap();
            for ((provider_id, info, ct), (id, iv)) in edks.iter().zip(case.wrapping_keys.iter().zip(&case.edk_ivs_hex))
            {
                let wk = v.manifest.wrapping_keys.iter().find(|k| k.id == *id).unwrap();
                assert_eq!(provider_id, wk.namespace.as_bytes());
                let name_len = wk.name.len();
                assert_eq!(&info[..name_len], wk.name.as_bytes());
                assert_eq!(&info[name_len..name_len + 8], &[0, 0, 0, 128, 0, 0, 0, 12]);
                assert_eq!(hex::encode(&info[name_len + 8..]), *iv);
                let iv: [u8; 12] = info[name_len + 8..].try_into().unwrap();
                let k = hex::decode(&wk.key_hex).unwrap();
                let unwrapped = aead::open(backend, AeadAlgorithm::Aes256Gcm, &k, &iv, &aad, ct, "edk").unwrap();
                assert_eq!(&unwrapped[..], &data_key[..]);
            }

            // Key derivation and commitment.
            let okey = kdf::hkdf_sha512(&message_id, &data_key, &[b"s3seal object key v1", &[case.suite]], 32).unwrap();
            assert_eq!(hex::encode(&okey), case.object_key_hex);
            let c = kdf::hkdf_sha512(&message_id, &data_key, &[b"s3seal object commit v1"], 32).unwrap();
            assert_eq!(&c[..], commitment);
            let alg = if case.suite == 1 { AeadAlgorithm::Aes256Gcm } else { AeadAlgorithm::ChaCha20Poly1305 };

            // Header tag: AEAD over no plaintext, nonce FFFFFFFF FFFFFFFF 00000000.
            let mut aad = b"s3seal object v1".to_vec();
            aad.extend_from_slice(&env[..env.len() - 16]);
            aad.extend_from_slice(&(case.key.len() as u16).to_be_bytes());
            aad.extend_from_slice(case.key.as_bytes());
            let mut bucket_ctx = EncryptionContext::new();
            bucket_ctx.insert("s3seal:bucket".into(), case.bucket.clone());
            aad.extend_from_slice(&context::serialize(&bucket_ctx).unwrap());
            let header_nonce = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
            aead::open(backend, alg, &okey, &header_nonce, &aad, tag, "header").unwrap();

            // Frames: nonce = part || index || flags, empty AAD.
            let body = v.file(&case.body_file);
            let mut pt = Vec::new();
            let mut expected_at = 0;
            for fr in &case.frames {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&fr.part.to_be_bytes());
                nonce[4..8].copy_from_slice(&fr.index.to_be_bytes());
                nonce[8..].copy_from_slice(&fr.flags.to_be_bytes());
                assert_eq!(hex::encode(nonce), fr.nonce_hex);
                assert_eq!(fr.ciphertext_offset, expected_at, "frames are contiguous");
                let unit = &body[fr.ciphertext_offset as usize..(fr.ciphertext_offset + fr.ciphertext_length) as usize];
                pt.extend_from_slice(&aead::open(backend, alg, &okey, &nonce, &[], unit, "frame").unwrap());
                expected_at += fr.ciphertext_length;
            }
            assert_eq!(expected_at, body.len() as u64);
            assert_eq!(pt, v.file(&case.plaintext_file), "{}", case.name);

            // Flags: only the last frame of each part ends a part; only the
            // object's last frame of an end-marked object ends the object.
            let last = case.frames.len() - 1;
            for (i, fr) in case.frames.iter().enumerate() {
                let ends_part = i == last || case.frames[i + 1].part != fr.part;
                assert_eq!(fr.flags & 1 != 0, ends_part);
                assert_eq!(fr.flags & 2 != 0, i == last && case.flags & 2 != 0);
                let single = case.flags & 1 == 0;
                assert_eq!(fr.part == 0, single);
            }
        }
    }
}

#[tokio::test]
async fn any_flip_of_body_envelope_or_metadata_fails() {
    let v = Vectors::load();
    for backend in Backend::ALL {
        for case in &v.manifest.cases {
            let body = v.file(&case.body_file);
            let envelope = v.envelope(case);
            let obj = v.open(case, envelope.clone(), backend).await.unwrap();
            // Body: every byte of small vectors (two bit positions), a
            // stride and the frame edges of the large one.
            let positions: Vec<usize> = if body.len() <= 4096 {
                (0..body.len()).collect()
            } else {
                let mut p: Vec<usize> = (0..body.len()).step_by(997).collect();
                for fr in &case.frames {
                    let (a, n) = (fr.ciphertext_offset as usize, fr.ciphertext_length as usize);
                    p.extend([a, a + 1, a + n - 17, a + n - 16, a + n - 1]);
                }
                p
            };
            for &i in &positions {
                for bit in [0x01u8, 0x80] {
                    let mut bad = body.to_vec();
                    bad[i] ^= bit;
                    assert!(
                        read_all(&obj, &bad, part_frames(case)).is_err(),
                        "{backend} {}: body flip at {i}",
                        case.name
                    );
                    if envelope.is_multipart() {
                        assert!(read_all(&obj, &bad, None).is_err(), "{backend} {}: body flip at {i}", case.name);
                    }
                }
            }
            // Envelope: every byte, every bit position.
            let bytes = v.file(&case.envelope_file);
            for i in 0..bytes.len() {
                for bit in 0..8 {
                    let mut bad = bytes.to_vec();
                    bad[i] ^= 1 << bit;
                    let parsed = Envelope::parse(&bad);
                    if i == 0 {
                        let e = parsed.expect_err("an unknown version is refused");
                        assert!(e.to_string().contains("version"), "{e}");
                        continue;
                    }
                    if let Ok(e) = parsed {
                        assert!(
                            v.open(case, e, backend).await.is_err(),
                            "{backend} {}: envelope flip at {i}",
                            case.name
                        );
                    }
                }
            }
            // Metadata value: every character replaced by another base64
            // character.
            let value = &case.metadata[&generator::metadata_header()];
            for i in 0..value.len() {
                let mut chars: Vec<u8> = value.as_bytes().to_vec();
                chars[i] = if chars[i] == b'A' { b'B' } else { b'A' };
                let s = String::from_utf8(chars).unwrap();
                if let Ok(e) = Envelope::from_metadata_value(&s) {
                    assert!(v.open(case, e, backend).await.is_err(), "{backend} {}: metadata char {i}", case.name);
                }
            }
            // Truncated or extended envelopes do not parse.
            for cut in 0..bytes.len() {
                assert!(Envelope::parse(&bytes[..cut]).is_err());
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert!(Envelope::parse(&longer).is_err());
        }
    }
}

#[tokio::test]
async fn frames_reordered_dropped_duplicated_or_truncated_fail() {
    let v = Vectors::load();
    let case = v.case("several-frames");
    let body = v.file(&case.body_file);
    let obj = v.open(case, v.envelope(case), Backend::default()).await.unwrap();
    let frame = |i: usize| {
        let fr = &case.frames[i];
        body[fr.ciphertext_offset as usize..(fr.ciphertext_offset + fr.ciphertext_length) as usize].to_vec()
    };
    let build = |order: &[usize]| order.iter().flat_map(|&i| frame(i)).collect::<Vec<u8>>();
    assert_eq!(read_all(&obj, &build(&[0, 1, 2, 3, 4, 5]), None).unwrap(), v.file(&case.plaintext_file));
    for order in [
        &[1, 0, 2, 3, 4, 5][..],
        &[0, 1, 2, 4, 3, 5],
        &[0, 1, 1, 2, 3, 4, 5],
        &[0, 2, 3, 4, 5],
        &[5, 0, 1, 2, 3, 4],
        &[0, 1, 2, 3, 4, 5, 5],
        &[0, 1, 2, 3, 4, 4, 5],
    ] {
        assert!(read_all(&obj, &build(order), None).is_err(), "{order:?}");
    }
    // Truncation at every frame boundary (and every byte) of a
    // single-request object.
    for cut in 0..body.len() {
        assert!(read_all(&obj, &body[..cut], None).is_err(), "cut at {cut}");
    }
}

/// THREATS.md: without the end-of-object mark (proxy multipart uploads),
/// dropping whole trailing parts is not detected; with it, it is. A cut at
/// any other frame boundary is detected either way.
#[tokio::test]
async fn truncation_at_part_boundaries() {
    let v = Vectors::load();
    for (name, marked) in [("multipart-3-parts", false), ("multipart-3-parts-end-marked", true)] {
        let case = v.case(name);
        let body = v.file(&case.body_file);
        let pt = v.file(&case.plaintext_file);
        let obj = v.open(case, v.envelope(case), Backend::default()).await.unwrap();
        for fr in &case.frames[..case.frames.len() - 1] {
            let cut = (fr.ciphertext_offset + fr.ciphertext_length) as usize;
            let at_part_boundary = fr.flags & FrameFlags::END_OF_PART.bits() != 0;
            for layout in [part_frames(case), None] {
                let r = read_all(&obj, &body[..cut], layout);
                if at_part_boundary && !marked {
                    let kept = plaintext_len(cut as u64, 64).unwrap() as usize;
                    assert_eq!(r.unwrap(), pt[..kept], "{name}: the truncated object reads as a shorter one");
                } else {
                    assert!(r.is_err(), "{name}: cut after part {} frame {} accepted", fr.part, fr.index);
                }
            }
        }
    }
}

/// FORMAT.md, layout discovery by search: frame `j` of a multipart object
/// verifies at part 1, index `j` (flags 0 or end-of-part) exactly when it
/// lies in part 1, so the part size is the number of frames that do.
#[tokio::test]
async fn part_size_search_finds_part_one() {
    let v = Vectors::load();
    for name in ["multipart-3-parts", "multipart-3-parts-end-marked"] {
        let case = v.case(name);
        let body = v.file(&case.body_file);
        let obj = v.open(case, v.envelope(case), Backend::default()).await.unwrap();
        let key: &ObjectKey = &obj.key;
        let verifies_in_part_one = |j: usize| {
            let fr = &case.frames[j];
            let unit = &body[fr.ciphertext_offset as usize..(fr.ciphertext_offset + fr.ciphertext_length) as usize];
            [FrameFlags::NONE, FrameFlags::END_OF_PART, FrameFlags::last_of_part(true)]
                .iter()
                .any(|&flags| key.open_frame_append(1, j as u32, flags, unit, &mut Vec::new()).is_ok())
        };
        let found = (0..case.frames.len()).take_while(|&j| verifies_in_part_one(j)).count();
        assert_eq!(found as u64, part_frames(case).unwrap(), "{name}");
        assert!(
            (found..case.frames.len()).all(|j| !verifies_in_part_one(j)),
            "{name}: monotone, so binary search works"
        );
        // A wrong guess of the part size fails authentication.
        let p = case.plaintext_length;
        for guess in [1, 3, 4] {
            assert!(read_range(&obj, body, 0, p - 1, Some(guess)).is_err(), "{name}: guess {guess}");
            assert!(read_range(&obj, body, p - 1, p - 1, Some(guess)).is_err(), "{name}: guess {guess}");
        }
    }
}

/// One body, two data keys: an envelope whose two encrypted data keys hold
/// different data keys opens only for the keyring whose key matches the
/// commitment; the other is refused before any frame is opened.
#[tokio::test]
async fn commitment_one_ciphertext_two_keys() {
    let v = Vectors::load();
    let case = v.case("two-keyrings");
    let mut full = case.context.clone();
    full.insert(BUCKET_CONTEXT_KEY.into(), case.bucket.clone());
    let aad = context::serialize(&full).unwrap();
    let wrap = |id: &str, dk: &[u8]| {
        let k = v.manifest.wrapping_keys.iter().find(|k| k.id == id).unwrap();
        let iv = [7u8; 12];
        let mut info = k.name.as_bytes().to_vec();
        info.extend_from_slice(&[0, 0, 0, 128, 0, 0, 0, 12]);
        info.extend_from_slice(&iv);
        let key = hex::decode(&k.key_hex).unwrap();
        EncryptedDataKey {
            provider_id: k.namespace.as_bytes().to_vec(),
            provider_info: info,
            ciphertext: aead::seal(Backend::default(), AeadAlgorithm::Aes256Gcm, &key, &iv, &aad, dk).unwrap(),
        }
    };
    let (dk1, dk2) = ([1u8; 32], [2u8; 32]);
    let obj = SealedObject::from_parts(
        Backend::default(),
        NewObject {
            bucket: &case.bucket,
            key: &case.key,
            context: &case.context,
            suite: ObjectSuite::Aes256GcmCommit,
            frame_length: 64,
            flags: 2,
            part_frames: 0,
            plaintext_length: None,
        },
        DataKey::new(dk1.to_vec()),
        vec![wrap("aes-1", &dk1), wrap("aes-2", &dk2)],
        [9u8; 32],
    )
    .unwrap();
    let open = |id: &'static str| {
        let cmm = v.cmm(id, Backend::default());
        let env = obj.envelope.clone();
        async move { SealedObject::open(&cmm, Backend::default(), env, &case.bucket, &case.key, &case.context, None).await }
    };
    assert!(open("aes-1").await.is_ok());
    assert!(matches!(open("aes-2").await, Err(Error::CommitmentMismatch)));
}

/// Swapping bodies or envelopes between objects, moving an object to
/// another key or bucket, and editing which keys the data key is wrapped
/// for are all refused.
#[tokio::test]
async fn swaps_and_key_id_substitution_fail() {
    let v = Vectors::load();
    let a = v.case("multipart-3-parts");
    let b = v.case("multipart-3-parts-end-marked");
    // Same-size bodies swapped between two objects.
    let obj_a = v.open(a, v.envelope(a), Backend::default()).await.unwrap();
    assert!(read_all(&obj_a, v.file(&b.body_file), part_frames(a)).is_err());
    assert!(read_all(&obj_a, v.file(&b.body_file), None).is_err());
    // An envelope served for another key or bucket (a plain S3 copy).
    for (bucket, key) in [(a.bucket.as_str(), b.key.as_str()), ("other-bucket", a.key.as_str())] {
        assert!(v.open_at(a, v.envelope(a), bucket, key, Backend::default()).await.is_err(), "{bucket}/{key}");
    }
    assert!(matches!(
        v.open_at(a, v.envelope(a), &a.bucket, &b.key, Backend::default()).await,
        Err(Error::Authentication(_))
    ));
    // Key-id substitution: naming the other keyring in the provider info
    // makes the unwrap fail; reordering the encrypted data keys (each still
    // unwraps) fails the header tag, which covers them.
    let t = v.case("two-keyrings");
    let env = v.envelope(t);
    let mut renamed = env.clone();
    let info = &mut renamed.encrypted_data_keys[0].provider_info;
    info.splice(..b"wrapping-key-1".len(), b"wrapping-key-2".iter().copied());
    let cmm2 = v.cmm("aes-2", Backend::default());
    let only_first = Envelope { encrypted_data_keys: vec![renamed.encrypted_data_keys[0].clone()], ..renamed.clone() };
    let e = SealedObject::open(&cmm2, Backend::default(), only_first, &t.bucket, &t.key, &t.context, None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoDecryptableKey(_)), "{e}");
    let mut reordered = env.clone();
    reordered.encrypted_data_keys.reverse();
    let e = v.open(t, reordered, Backend::default()).await.unwrap_err();
    assert!(matches!(e, Error::Authentication(_)), "{e}");
    // Removing an encrypted data key (the one the reader does not use)
    // fails the header tag too.
    let mut removed = env.clone();
    removed.encrypted_data_keys.pop();
    let e = v.open(t, removed, Backend::default()).await.unwrap_err();
    assert!(matches!(e, Error::Authentication(_)), "{e}");
    // Changing the suite byte (AES-GCM <-> ChaCha20) fails the header tag:
    // the suite is in the key derivation and in the tagged bytes.
    for name in ["one-byte", "chacha20"] {
        let c = v.case(name);
        let mut e = v.envelope(c);
        e.suite = if e.suite == ObjectSuite::Aes256GcmCommit {
            ObjectSuite::ChaCha20Poly1305Commit
        } else {
            ObjectSuite::Aes256GcmCommit
        };
        let err = v.open(c, e, Backend::default()).await.unwrap_err();
        assert!(matches!(err, Error::Authentication(_)), "{name}: {err}");
    }
    // A wrong reproduced context is refused.
    let s = v.case("several-frames");
    let mut wrong = s.context.clone();
    wrong.insert("tenant".into(), "other".into());
    let cmm = v.cmm("aes-1", Backend::default());
    assert!(
        SealedObject::open(&cmm, Backend::default(), v.envelope(s), &s.bucket, &s.key, &wrong, None).await.is_err()
    );
    let mut extra = s.context.clone();
    extra.insert("unstored".into(), "x".into());
    assert!(
        SealedObject::open(&cmm, Backend::default(), v.envelope(s), &s.bucket, &s.key, &extra, None).await.is_err()
    );
}

/// FORMAT.md, multipart rules: the last part of an object of two or more
/// parts must not be empty. Its one empty frame would add 16 bytes the size
/// arithmetic does not account for, and the object would have no valid
/// plaintext length.
#[test]
fn an_empty_last_part_has_no_plaintext_length() {
    use s3seal::object::ciphertext_len;
    for f in [64u64, 65536] {
        for full_parts in [1u64, 3] {
            let p = full_parts * 2 * f;
            let c = ciphertext_len(p, f) + ciphertext_len(0, f);
            assert!(plaintext_len(c, f).is_err(), "F={f} parts={full_parts}");
        }
    }
    // A single empty part (or a single-request empty object) is fine.
    assert_eq!(plaintext_len(16, 64).unwrap(), 0);
}

/// THREATS.md: a ranged read authenticates the frames it returns, not the
/// object's length. After the store drops the last frames, a range before
/// the cut still reads (and is authentic); the size computed from the
/// stored length is the shorter one; only a read of the (new) last frame
/// fails.
#[tokio::test]
async fn ranged_reads_authenticate_only_their_frames() {
    let v = Vectors::load();
    let case = v.case("several-frames");
    let body = v.file(&case.body_file);
    let pt = v.file(&case.plaintext_file);
    let obj = v.open(case, v.envelope(case), Backend::default()).await.unwrap();
    let cut = &body[..3 * 80];
    assert_eq!(plaintext_len(cut.len() as u64, 64).unwrap(), 3 * 64, "the stored length is not authenticated");
    assert_eq!(read_range(&obj, cut, 10, 100, None).unwrap(), pt[10..=100]);
    assert!(read_range(&obj, cut, 150, 191, None).is_err(), "the new last frame lacks the end flags");
    assert!(read_all(&obj, cut, None).is_err());
}

/// THREATS.md: replaying an older version of an object (an envelope and
/// body once written for the same bucket and key) is not detected.
#[tokio::test]
async fn rollback_to_an_older_version_is_not_detected() {
    let v = Vectors::load();
    let case = v.case("one-byte");
    let keyring = v.wrapping_key("aes-1");
    let cmm = DefaultCmm::new(Arc::new(keyring));
    let none = EncryptionContext::new();
    let new = NewObject {
        bucket: &case.bucket,
        key: &case.key,
        context: &none,
        suite: ObjectSuite::Aes256GcmCommit,
        frame_length: 64,
        flags: 2,
        part_frames: 0,
        plaintext_length: None,
    };
    // Version 1 is the committed vector; version 2 is a new write.
    let newer = SealedObject::create(&cmm, Backend::default(), new).await.unwrap();
    let mut body2 = Vec::new();
    let mut e = s3seal::hazmat::object::PartEncryptor::new(newer.key.clone(), 0, 64, true, Some(2)).unwrap();
    e.update(b"v2", &mut body2).unwrap();
    e.finish(&mut body2).unwrap();
    let reopened = v.open(case, newer.envelope.clone(), Backend::default()).await.unwrap();
    assert_eq!(read_all(&reopened, &body2, None).unwrap(), b"v2");
    // The store serves version 1 again: it reads as valid.
    let older = v.open(case, v.envelope(case), Backend::default()).await.unwrap();
    assert_eq!(read_all(&older, v.file(&case.body_file), None).unwrap(), v.file(&case.plaintext_file));
}

/// THREATS.md, part re-uploads: sealing a part is deterministic (a retry
/// with the same bytes stores the same ciphertext), but the same part
/// number sealed again with other plaintext reuses the frames' nonces,
/// which leaks the XOR of the two plaintexts to whoever sees both uploads.
#[test]
fn resealing_a_part_reuses_its_nonces() {
    let (k, _) = ObjectKey::derive(ObjectSuite::Aes256GcmCommit, &[5; 32], &[6; 32], Backend::default()).unwrap();
    let k = Arc::new(k);
    let seal = |pt: &[u8]| {
        let mut out = Vec::new();
        let mut e = s3seal::hazmat::object::PartEncryptor::new(k.clone(), 1, 64, false, None).unwrap();
        e.update(pt, &mut out).unwrap();
        e.finish(&mut out).unwrap();
        out
    };
    let (a, b) = (vec![0x11u8; 64], vec![0x22u8; 64]);
    assert_eq!(seal(&a), seal(&a), "deterministic");
    let (ca, cb) = (seal(&a), seal(&b));
    let xor_ct: Vec<u8> = ca[..64].iter().zip(&cb[..64]).map(|(x, y)| x ^ y).collect();
    let xor_pt: Vec<u8> = a.iter().zip(&b).map(|(x, y)| x ^ y).collect();
    assert_eq!(xor_ct, xor_pt, "same key and nonce: the keystream cancels");
}
