//! The object format without S3: parts sealed independently, sequential and
//! ranged reads, and the attacks of docs/THREATS.md on the body and envelope.

use std::sync::Arc;

use s3seal::cmm::{DefaultCmm, MaterialsManager};
use s3seal::hazmat::object::{FrameDecryptor, FramePosition, NewObject, PartEncryptor, SealedObject, frames_for_range};
use s3seal::keyring::RawAesKeyring;
use s3seal::object::{ByteRange, ObjectSuite, ciphertext_len, plaintext_len};
use s3seal::object::{FLAG_END_MARKED, FLAG_MULTIPART};
use s3seal::{Backend, EncryptionContext, Error};

fn cmm(fill: u8) -> DefaultCmm {
    DefaultCmm::new(Arc::new(RawAesKeyring::new("ns", "k", &[fill; 32]).unwrap()))
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

async fn create(c: &dyn MaterialsManager, suite: ObjectSuite, frame: u32, flags: u8) -> SealedObject {
    let ctx = EncryptionContext::new();
    SealedObject::create(
        c,
        Backend::default(),
        NewObject {
            bucket: "b",
            key: "k",
            context: &ctx,
            suite,
            frame_length: frame,
            flags,
            part_frames: 0,
            plaintext_length: None,
        },
    )
    .await
    .unwrap()
}

/// Encrypts `parts` (part numbers from 1, or a single part 0).
fn seal_parts(obj: &SealedObject, parts: &[&[u8]], multipart: bool, end_marked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    // Seal in reverse order to show parts are independent.
    let mut sealed: Vec<(usize, Vec<u8>)> = parts
        .iter()
        .enumerate()
        .rev()
        .map(|(i, p)| {
            let number = if multipart { i as u32 + 1 } else { 0 };
            let last = i + 1 == parts.len() && end_marked;
            let expected = if i % 2 == 0 { Some(p.len() as u64) } else { None };
            let mut e = PartEncryptor::new(obj.key.clone(), number, obj.envelope.frame_length, last, expected).unwrap();
            let mut o = Vec::new();
            for chunk in p.chunks(1000) {
                e.update(chunk, &mut o).unwrap();
            }
            e.finish(&mut o).unwrap();
            (i, o)
        })
        .collect();
    sealed.sort_by_key(|(i, _)| *i);
    for (_, o) in sealed {
        out.extend(o);
    }
    out
}

fn read(obj: &SealedObject, ct: &[u8], first: u64, last: u64, part_frames: Option<u64>) -> Result<Vec<u8>, Error> {
    let f = u64::from(obj.envelope.frame_length);
    let p = plaintext_len(ct.len() as u64, f)?;
    let span = frames_for_range(first, last, p, f)?;
    let pos = if obj.envelope.is_multipart() {
        FramePosition::of(span.first_frame, Some(part_frames.expect("layout")))?
    } else {
        FramePosition::of(span.first_frame, None)?
    };
    let mut d =
        FrameDecryptor::new(obj.key.clone(), &obj.envelope, p, span.first_frame, span.last_frame, pos, part_frames)?;
    let mut out = Vec::new();
    d.update(&ct[span.ciphertext_first as usize..=span.ciphertext_last as usize], &mut out)?;
    d.finish()?;
    Ok(out[span.skip as usize..(span.skip + span.len) as usize].to_vec())
}

fn read_all(obj: &SealedObject, ct: &[u8]) -> Result<Vec<u8>, Error> {
    let f = u64::from(obj.envelope.frame_length);
    let p = plaintext_len(ct.len() as u64, f)?;
    let frames = p.div_ceil(f).max(1);
    let first = FramePosition { part: if obj.envelope.is_multipart() { 1 } else { 0 }, index: 0 };
    let mut d = FrameDecryptor::new(obj.key.clone(), &obj.envelope, p, 0, frames - 1, first, None)?;
    let mut out = Vec::new();
    for chunk in ct.chunks(777) {
        d.update(chunk, &mut out)?;
    }
    d.finish()?;
    Ok(out)
}

#[tokio::test]
async fn single_request_objects_all_sizes() {
    let c = cmm(1);
    for suite in [ObjectSuite::Aes256GcmCommit, ObjectSuite::ChaCha20Poly1305Commit] {
        let obj = create(&c, suite, 64, FLAG_END_MARKED).await;
        for n in [0usize, 1, 63, 64, 65, 200, 640] {
            let pt = data(n);
            let ct = seal_parts(&obj, &[&pt], false, true);
            assert_eq!(ct.len() as u64, ciphertext_len(n as u64, 64));
            assert_eq!(read_all(&obj, &ct).unwrap(), pt, "{suite:?} {n}");
            if n > 0 {
                for (a, b) in [(0, n - 1), (n / 2, n - 1), (0, 0), (n - 1, n - 1), (n / 3, n / 2)] {
                    assert_eq!(read(&obj, &ct, a as u64, b as u64, None).unwrap(), pt[a..=b], "range {a}-{b} of {n}");
                }
            }
            // Truncation at every frame boundary and byte is detected.
            for cut in 0..ct.len() {
                assert!(read_all(&obj, &ct[..cut]).is_err(), "{n}: cut at {cut}");
            }
        }
    }
}

#[tokio::test]
async fn multipart_any_order_sequential_and_ranged() {
    let c = cmm(2);
    let pt = data(64 * 5 * 3 + 37);
    let parts: Vec<&[u8]> = pt.chunks(64 * 5).collect();
    for end_marked in [false, true] {
        let flags = FLAG_MULTIPART | if end_marked { FLAG_END_MARKED } else { 0 };
        let obj = create(&c, ObjectSuite::Aes256GcmCommit, 64, flags).await;
        let ct = seal_parts(&obj, &parts, true, end_marked);
        assert_eq!(ct.len() as u64, ciphertext_len(pt.len() as u64, 64));
        assert_eq!(read_all(&obj, &ct).unwrap(), pt);
        for (a, b) in [(0usize, pt.len() - 1), (300, 700), (319, 320), (64 * 15, pt.len() - 1), (10, 10)] {
            assert_eq!(read(&obj, &ct, a as u64, b as u64, Some(5)).unwrap(), pt[a..=b], "{a}-{b}");
        }
        // A wrong layout guess fails authentication, never yields plaintext.
        assert!(read(&obj, &ct, 400, 500, Some(4)).is_err());

        let unit = 64 + 16;
        // Dropping the last frame of a middle part: detected.
        let mut cut = ct.clone();
        cut.drain(4 * unit..5 * unit);
        assert!(read_all(&obj, &cut).is_err());
        // Dropping a whole middle part: detected.
        let mut cut = ct.clone();
        cut.drain(5 * unit..10 * unit);
        assert!(read_all(&obj, &cut).is_err());
        // Swapping two parts: detected.
        let mut swapped = ct[5 * unit..10 * unit].to_vec();
        swapped.extend(&ct[..5 * unit]);
        swapped.extend(&ct[10 * unit..]);
        assert!(read_all(&obj, &swapped).is_err());
        // Dropping the whole last part: detected only when the writer
        // marked the end of the object (docs/THREATS.md).
        let cut = ct[..15 * unit].to_vec();
        assert_eq!(read_all(&obj, &cut).is_err(), end_marked);
    }
}

#[tokio::test]
async fn envelope_binding_and_tampering() {
    let c = cmm(3);
    let obj = create(&c, ObjectSuite::Aes256GcmCommit, 64, FLAG_END_MARKED).await;
    let none = EncryptionContext::new();
    let open = |e, b: &'static str, k: &'static str| {
        let c = &c;
        async move { SealedObject::open(c, Backend::default(), e, b, k, &EncryptionContext::new(), None).await }
    };
    assert!(open(obj.envelope.clone(), "b", "k").await.is_ok());
    // Another key or bucket: the envelope does not verify there.
    assert!(matches!(open(obj.envelope.clone(), "b", "k2").await, Err(Error::Authentication(_))));
    assert!(open(obj.envelope.clone(), "b2", "k").await.is_err());
    // Copy within the bucket re-tags; across buckets re-wraps.
    let moved = obj.rebind_key("k2").unwrap();
    assert!(open(moved.clone(), "b", "k2").await.is_ok());
    assert!(open(moved, "b", "k").await.is_err());
    let other = obj.rebind_bucket(&c, "b2", "x").await.unwrap();
    let reopened = SealedObject::open(&c, Backend::default(), other, "b2", "x", &none, None).await.unwrap();
    assert_eq!(reopened.envelope.message_id, obj.envelope.message_id);
    // Every byte of the serialized envelope matters.
    let bytes = obj.envelope.to_bytes().unwrap();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x04;
        if let Ok(e) = s3seal::object::Envelope::parse(&b) {
            assert!(open(e, "b", "k").await.is_err(), "flip at {i}");
        }
    }
    // Commitment attack surface: a different commitment is refused first.
    let mut e = obj.envelope.clone();
    e.commitment[0] ^= 1;
    assert!(matches!(open(e, "b", "k").await, Err(Error::CommitmentMismatch)));
    // Bodies of two objects are not interchangeable.
    let obj2 = create(&c, ObjectSuite::Aes256GcmCommit, 64, FLAG_END_MARKED).await;
    let ct2 = seal_parts(&obj2, &[&data(100)], false, true);
    assert!(read_all(&obj, &ct2).is_err());
    let _ = ByteRange::parse("bytes=0-1").unwrap();
}
