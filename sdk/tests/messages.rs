//! Round trips and hostile inputs for ESDK messages written by s3seal.

use std::io::{Read, Write};
use std::sync::Arc;

use s3seal::hazmat::signature::SigningKey;
use s3seal::keyring::{Keyring, MultiKeyring, RawAesKeyring};
use s3seal::materials::{DataKey, EncryptedDataKey, EncryptionMaterials};
use s3seal::message::{Header, MessageEncryptor, ParseLimits};
use s3seal::stream::{AsyncDecryptingReader, AsyncEncryptingWriter, DecryptingReader, EncryptingWriter};
use s3seal::{AlgorithmSuite, Backend, Client, CommitmentPolicy, EncryptOptions, EncryptionContext, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SIGNED: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384;
const UNSIGNED: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;

fn aes(name: &str, fill: u8) -> Arc<dyn Keyring> {
    Arc::new(RawAesKeyring::new("acme", name, &[fill; 32]).unwrap())
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A deterministic pseudo-random sequence for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test]
async fn round_trips_all_sizes_suites_frames() {
    let client = Client::new(aes("k", 1));
    let mut rng = Rng(7);
    for suite in [UNSIGNED, SIGNED] {
        for frame in [1u32, 7, 4096, 65536] {
            let f = frame as usize;
            for len in [0, 1, f.saturating_sub(1), f, f + 1, 3 * f, 3 * f + 5] {
                let pt = rng.bytes(len);
                let opts = EncryptOptions::default()
                    .with_suite(suite)
                    .with_frame_length(frame)
                    .with_context(ctx(&[("purpose", "test")]));
                let ct = client.encrypt(&pt, &opts).await.unwrap();
                let out = client.decrypt(&ct, &ctx(&[("purpose", "test")])).await.unwrap();
                assert_eq!(out.plaintext, pt, "suite {suite} frame {frame} len {len}");
                assert_eq!(out.header.frame_length, frame);
                assert_eq!(out.header.suite, suite);
                // Exact multiples end with a full final frame, not an empty one.
                let regular = len.div_ceil(f).saturating_sub(1);
                let body = regular * (32 + f) + 40 + (len - regular * f);
                let footer = ct.len() - out.header.len() - body;
                if suite == SIGNED {
                    assert!((2 + 100..=2 + 104).contains(&footer), "footer {footer}");
                } else {
                    assert_eq!(footer, 0, "suite {suite} frame {frame} len {len}");
                }
            }
        }
    }
}

#[tokio::test]
async fn context_rules() {
    let client = Client::new(aes("k", 1));
    let opts = EncryptOptions::default().with_context(ctx(&[("aws-crypto-x", "1")]));
    assert!(matches!(client.encrypt(b"x", &opts).await, Err(Error::EncryptionContext(_))));

    // Stored pairs must match what the caller reproduces.
    let opts = EncryptOptions::default().with_context(ctx(&[("tenant", "a")]));
    let ct = client.encrypt(b"secret", &opts).await.unwrap();
    let e = client.decrypt(&ct, &ctx(&[("tenant", "b")])).await.unwrap_err();
    assert!(matches!(e, Error::EncryptionContext(_)), "{e}");
    assert!(e.to_string().contains("tenant"), "{e}");
    assert_eq!(client.decrypt(&ct, &ctx(&[("tenant", "a")])).await.unwrap().plaintext, b"secret");

    // Authenticated-only pairs are not stored and must be supplied.
    let opts = EncryptOptions::default()
        .with_context(ctx(&[("tenant", "a"), ("bucket", "b1")]))
        .with_required_context_keys(vec!["bucket".into()]);
    let ct = client.encrypt(b"secret", &opts).await.unwrap();
    let (h, _) = Header::parse(&ct, ParseLimits { max_encrypted_data_keys: None }).unwrap().unwrap();
    assert_eq!(h.encryption_context, ctx(&[("tenant", "a")]));
    assert!(client.decrypt(&ct, &EncryptionContext::new()).await.is_err());
    assert!(client.decrypt(&ct, &ctx(&[("bucket", "b2")])).await.is_err());
    assert_eq!(client.decrypt(&ct, &ctx(&[("bucket", "b1")])).await.unwrap().plaintext, b"secret");
}

#[tokio::test]
async fn distinct_errors() {
    let client = Client::new(aes("prod", 1));
    let ct = client.encrypt(b"hello", &EncryptOptions::default()).await.unwrap();

    // Wrong key material under the right name.
    let e = Client::new(aes("prod", 2)).decrypt(&ct, &EncryptionContext::new()).await.unwrap_err();
    assert!(matches!(e, Error::NoDecryptableKey(_)), "{e}");
    // Another key name: the message says what the message was encrypted for.
    let e = Client::new(aes("dev", 1)).decrypt(&ct, &EncryptionContext::new()).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("no key could decrypt this message") && msg.contains("acme:prod") && msg.contains("aes:acme:dev"),
        "{msg}"
    );

    // Too many encrypted data keys.
    let multi: Arc<dyn Keyring> =
        Arc::new(MultiKeyring::from_keyrings(vec![aes("a", 1), aes("b", 2), aes("c", 3)]).unwrap());
    let ct3 = Client::new(multi.clone()).encrypt(b"x", &EncryptOptions::default()).await.unwrap();
    let limited = Client::builder(multi.clone()).max_encrypted_data_keys(2).build();
    let e = limited.decrypt(&ct3, &EncryptionContext::new()).await.unwrap_err();
    assert!(matches!(e, Error::TooManyEncryptedDataKeys { found: 3, limit: 2 }), "{e}");
    // Any single keyring of the three decrypts.
    assert_eq!(Client::new(aes("c", 3)).decrypt(&ct3, &EncryptionContext::new()).await.unwrap().plaintext, b"x");

    // Commitment mismatch: change the stored commitment.
    let (h, hlen) = Header::parse(&ct, ParseLimits { max_encrypted_data_keys: None }).unwrap().unwrap();
    let commit_at = h.body_bytes().len() - 32;
    let mut bad = ct.clone();
    bad[commit_at] ^= 0x01;
    let e = client.decrypt(&bad, &EncryptionContext::new()).await.unwrap_err();
    assert!(matches!(e, Error::CommitmentMismatch), "{e}");

    // Header tag.
    let mut bad = ct.clone();
    bad[hlen - 1] ^= 0x80;
    assert!(matches!(client.decrypt(&bad, &EncryptionContext::new()).await, Err(Error::Authentication(_))));

    // Policy: a committing-only client refuses to encrypt a legacy suite.
    let e = client
        .encrypt(b"x", &EncryptOptions::default().with_suite(AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha384EcdsaP384))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::CommitmentPolicy { .. }), "{e}");
    // And a forbid-encrypt client writes v1 messages that the default refuses to read.
    let legacy = Client::builder(aes("prod", 1)).commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt).build();
    let v1 = legacy.encrypt(b"old", &EncryptOptions::default()).await.unwrap();
    assert_eq!(v1[0], 1);
    assert!(matches!(client.decrypt(&v1, &EncryptionContext::new()).await, Err(Error::CommitmentPolicy { .. })));
    assert_eq!(legacy.decrypt(&v1, &EncryptionContext::new()).await.unwrap().plaintext, b"old");
}

/// Every single-byte change anywhere in a message (header, every frame,
/// footer) and every truncation is rejected, by the one-shot API and by
/// the streaming reader.
#[tokio::test]
async fn every_flip_and_truncation_rejected() {
    for suite in [
        UNSIGNED,
        SIGNED,
        AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
        AlgorithmSuite::Aes128GcmIv12Tag16HkdfSha256,
    ] {
        let client = Client::builder(aes("k", 9))
            .commitment_policy(if suite.is_committing() {
                CommitmentPolicy::RequireEncryptRequireDecrypt
            } else {
                CommitmentPolicy::ForbidEncryptAllowDecrypt
            })
            .build();
        let pt: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        let opts = EncryptOptions::default().with_suite(suite).with_frame_length(64).with_context(ctx(&[("a", "b")]));
        let ct = client.encrypt(&pt, &opts).await.unwrap();
        let none = EncryptionContext::new();
        assert_eq!(client.decrypt(&ct, &none).await.unwrap().plaintext, pt);
        for i in 0..ct.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = ct.clone();
                bad[i] ^= bit;
                assert!(
                    client.decrypt(&bad, &none).await.is_err(),
                    "suite {suite}: flip {bit:#x} at byte {i} of {} accepted",
                    ct.len()
                );
                // The streaming reader must fail too (possibly after some
                // verified frames).
                let mut r = match AsyncDecryptingReader::new(&client, &bad[..], &none).await {
                    Ok(r) => r,
                    Err(_) => continue,
                };
                let mut sink = Vec::new();
                assert!(r.read_to_end(&mut sink).await.is_err(), "suite {suite}: stream accepted flip at {i}");
                assert!(pt.starts_with(&sink), "stream released wrong plaintext");
                if suite.signature().is_some() {
                    assert!(sink.len() < pt.len(), "signed: final frame released before the signature");
                }
            }
        }
        for cut in 0..ct.len() {
            assert!(client.decrypt(&ct[..cut], &none).await.is_err(), "suite {suite}: truncation at {cut} accepted");
            let mut sink = Vec::new();
            if let Ok(mut r) = AsyncDecryptingReader::new(&client, &ct[..cut], &none).await {
                assert!(r.read_to_end(&mut sink).await.is_err(), "stream accepted truncation at {cut}");
            }
        }
        let mut longer = ct.clone();
        longer.push(0);
        assert!(client.decrypt(&longer, &none).await.is_err(), "trailing byte accepted");
    }
}

/// Frames reordered, dropped or duplicated are rejected.
#[tokio::test]
async fn frame_reorder_drop_duplicate() {
    let client = Client::new(aes("k", 3));
    let pt = vec![5u8; 64 * 4 + 10];
    let ct = client.encrypt(&pt, &EncryptOptions::default().with_frame_length(64)).await.unwrap();
    let (_, hlen) = Header::parse(&ct, ParseLimits { max_encrypted_data_keys: None }).unwrap().unwrap();
    let fl = 4 + 12 + 64 + 16;
    let frame = |i: usize| ct[hlen + i * fl..hlen + (i + 1) * fl].to_vec();
    let tail = ct[hlen + 4 * fl..].to_vec();
    let head = ct[..hlen].to_vec();
    let build = |order: &[usize]| {
        let mut m = head.clone();
        for &i in order {
            m.extend(frame(i));
        }
        m.extend(&tail);
        m
    };
    let none = EncryptionContext::new();
    assert_eq!(client.decrypt(&build(&[0, 1, 2, 3]), &none).await.unwrap().plaintext, pt);
    for order in [&[1, 0, 2, 3][..], &[0, 1, 3], &[0, 1, 1, 2, 3], &[0, 2, 1, 3], &[0, 1, 2, 3, 3]] {
        let e = client.decrypt(&build(order), &none).await.unwrap_err();
        assert!(matches!(e, Error::Malformed(_) | Error::Authentication(_)), "{order:?}: {e}");
    }
}

/// Random garbage and random mutations never panic.
#[tokio::test]
async fn hostile_inputs_do_not_panic() {
    let client = Client::builder(aes("k", 4)).commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt).build();
    let ct = client
        .encrypt(&[1u8; 300], &EncryptOptions::default().with_suite(SIGNED).with_frame_length(100))
        .await
        .unwrap();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let none = EncryptionContext::new();
    for i in 0..20_000 {
        let input = if i % 4 == 0 {
            let n = (rng.next() % 400) as usize;
            let mut v = rng.bytes(n);
            if let Some(b) = v.first_mut() {
                *b = [1u8, 2][(i / 4) % 2];
            }
            v
        } else {
            let mut v = ct.clone();
            for _ in 0..(1 + rng.next() % 4) {
                let at = (rng.next() as usize) % v.len();
                v[at] = rng.next() as u8;
            }
            if rng.next().is_multiple_of(3) {
                v.truncate((rng.next() as usize) % v.len());
            }
            v
        };
        assert!(client.decrypt(&input, &none).await.is_err() || input == ct);
    }
}

#[tokio::test]
async fn streaming_adapters_match_one_shot() {
    let client = Client::new(aes("k", 5));
    let mut rng = Rng(11);
    let pt = rng.bytes(1_000_003);
    let opts = EncryptOptions::default().with_frame_length(4096).with_suite(SIGNED);

    // Tokio writer, odd chunk sizes.
    let mut w = AsyncEncryptingWriter::new(&client, Vec::new(), &opts).await.unwrap();
    for chunk in pt.chunks(9999) {
        w.write_all(chunk).await.unwrap();
    }
    w.shutdown().await.unwrap();
    let ct_async = w.into_inner();
    assert_eq!(client.decrypt(&ct_async, &EncryptionContext::new()).await.unwrap().plaintext, pt);

    // std writer and reader on a plain thread.
    let c2 = client.clone();
    let pt2 = pt.clone();
    let opts2 = opts.clone();
    let ct_sync = tokio::task::spawn_blocking(move || {
        let mut w = EncryptingWriter::new(&c2, Vec::new(), &opts2).unwrap();
        for chunk in pt2.chunks(70_000) {
            w.write_all(chunk).unwrap();
        }
        let ct = w.finish().unwrap();
        let mut r = DecryptingReader::new(&c2, &ct[..], &EncryptionContext::new()).unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, pt2);
        ct
    })
    .await
    .unwrap();
    let mut r = AsyncDecryptingReader::new(&client, &ct_sync[..], &EncryptionContext::new()).await.unwrap();
    let mut back = Vec::new();
    r.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, pt);
}

/// Both AEAD backends write byte-identical messages from the same
/// materials and message id (signing included: ECDSA here is RFC 6979).
#[test]
fn backends_write_identical_messages() {
    for suite in [UNSIGNED, SIGNED] {
        let mut outs = Vec::new();
        for backend in Backend::ALL {
            let mut m = EncryptionMaterials::new(suite, ctx(&[("k", "v")]));
            m.data_key = Some(DataKey::new(vec![0x42; 32]));
            m.encrypted_data_keys.push(EncryptedDataKey {
                provider_id: b"p".to_vec(),
                provider_info: b"i".to_vec(),
                ciphertext: b"c".to_vec(),
            });
            if let Some(alg) = suite.signature() {
                let key = SigningKey::from_bytes(alg, &[0x11; 48]).unwrap();
                m.encryption_context.insert("aws-crypto-public-key".into(), key.public_key_base64());
                m.signing_key = Some(key);
            }
            let mut enc = MessageEncryptor::with_message_id(m, 1000, backend, vec![0x24; 32]).unwrap();
            let mut out = Vec::new();
            enc.update(&vec![0xab; 5555], &mut out).unwrap();
            enc.finish(&mut out).unwrap();
            outs.push(out);
        }
        assert_eq!(outs[0], outs[1], "suite {suite}");
    }
}

/// Yields at most `step` bytes per read, so that reads straddle frames in
/// every way.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl tokio::io::AsyncRead for Trickle<'_> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let n = buf.remaining().min(this.step).min(this.data.len());
        buf.put_slice(&this.data[..n]);
        this.data = &this.data[n..];
        std::task::Poll::Ready(Ok(()))
    }
}

/// The decrypting readers give the same plaintext whatever sizes the inner
/// reader returns and whatever sizes are asked of them, and reject a
/// tampered last frame of a signed message without releasing it.
#[tokio::test]
async fn streaming_readers_any_read_sizes() {
    let none = EncryptionContext::new();
    let mut rng = Rng(5);
    let pt = rng.bytes(50_500);
    for suite in [UNSIGNED, SIGNED] {
        let client = Client::new(aes("k", 3));
        let opts = EncryptOptions::default().with_frame_length(1000).with_suite(suite);
        let ct = client.encrypt(&pt, &opts).await.unwrap();
        for step in [1, 7, 999, 1000, 1028, 1029, 4096, 70_000] {
            for out in [1, 13, 1000, 65_536] {
                let mut r = DecryptingReader::new(&client, Trickle { data: &ct, step }, &none).unwrap();
                let mut back = Vec::new();
                let mut buf = vec![0u8; out];
                loop {
                    let n = r.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    back.extend_from_slice(&buf[..n]);
                }
                assert_eq!(back, pt, "{suite} step {step} out {out}");
            }
            let mut r = AsyncDecryptingReader::new(&client, Trickle { data: &ct, step }, &none).await.unwrap();
            let mut back = Vec::new();
            r.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, pt, "{suite} step {step} async");

            // A flipped byte inside the final frame's 500 bytes of
            // ciphertext (the footer, if any, is about 105 bytes).
            let mut bad = ct.clone();
            let at = ct.len() - if suite.signature().is_some() { 105 + 16 + 250 } else { 16 + 250 };
            bad[at] ^= 1;
            let mut r = DecryptingReader::new(&client, Trickle { data: &bad, step }, &none).unwrap();
            let mut back = Vec::new();
            assert!(r.read_to_end(&mut back).is_err(), "{suite} step {step}: tampering accepted");
            assert!(back.len() <= 50_000, "the tampered final frame was released");
            assert!(pt.starts_with(&back));
            let mut buf = [0u8; 16];
            assert!(r.read(&mut buf).is_err(), "a failed reader stays failed");
        }
    }
}

/// `decrypt_body_to` gives what `update` gives, and refuses an output too
/// short for the plaintext without panicking.
#[tokio::test]
async fn decrypt_body_to_matches_update() {
    let none = EncryptionContext::new();
    let pt = Rng(9).bytes(10_000);
    for suite in [UNSIGNED, SIGNED] {
        let client = Client::new(aes("k", 4));
        let opts = EncryptOptions::default().with_frame_length(1024).with_suite(suite);
        let ct = client.encrypt(&pt, &opts).await.unwrap();
        let (h, used) = Header::parse(&ct, ParseLimits { max_encrypted_data_keys: None }).unwrap().unwrap();
        let body = &ct[used..];
        let mut out = vec![0u8; body.len()];
        let mut dec = client.body_decryptor(&h, &none).await.unwrap();
        let n = dec.decrypt_body_to(body, &mut out).unwrap();
        assert_eq!(&out[..n], &pt[..], "{suite}");
        assert!(dec.is_done());
        let mut short = vec![0u8; pt.len() - 1];
        let mut dec = client.body_decryptor(&h, &none).await.unwrap();
        assert!(matches!(dec.decrypt_body_to(body, &mut short), Err(Error::InvalidParameter(_))), "{suite}");
        let mut dec = client.body_decryptor(&h, &none).await.unwrap();
        assert!(dec.decrypt_body_to(&body[..body.len() - 1], &mut out).is_err(), "{suite}: truncated");
    }
}

/// The one-shot encryptor (written into a presized buffer) and the
/// streaming writer (appending) produce messages of the same length that
/// decrypt to the same plaintext, for lengths around the frame size and for
/// a signed suite (whose signature length varies).
#[test]
fn one_shot_and_streaming_encryption_agree() {
    for suite in [AlgorithmSuite::Aes256GcmHkdfSha512CommitKey, AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384] {
        let client = s3seal::Client::new(std::sync::Arc::new(
            s3seal::keyring::RawAesKeyring::new("ns", "k", &[3u8; 32]).expect("keyring"),
        ));
        for len in [0usize, 1, 127, 128, 129, 256, 1000] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let opts = s3seal::EncryptOptions { suite: Some(suite), frame_length: 128, ..Default::default() };
            let one_shot = client.encrypt_blocking(&plaintext, &opts).expect("encrypt");
            let mut streamed = Vec::new();
            let mut w = EncryptingWriter::new(&client, &mut streamed, &opts_with_len(&opts, len)).expect("writer");
            w.write_all(&plaintext).expect("write");
            w.finish().expect("finish");
            let sig_slack = if suite.signature().is_some() { 8 } else { 0 };
            assert!(one_shot.len().abs_diff(streamed.len()) <= sig_slack, "{suite} {len}");
            for m in [&one_shot, &streamed] {
                let d = client.decrypt_blocking(m, &s3seal::EncryptionContext::new()).expect("decrypt");
                assert_eq!(d.plaintext, plaintext, "{suite} {len}");
            }
        }
    }
}

fn opts_with_len(opts: &s3seal::EncryptOptions, len: usize) -> s3seal::EncryptOptions {
    s3seal::EncryptOptions { plaintext_length: Some(len as u64), ..opts.clone() }
}
