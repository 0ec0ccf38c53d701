//! Amazon S3 Encryption Client objects through [`Client`]: finding their
//! content metadata (object metadata or instruction file), and writing
//! format V3 (single request, or parts in sequence).

use std::collections::HashMap;

use aws_sdk_s3::operation::put_object::builders::PutObjectInputBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart as S3Part};
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::context::EncryptionContext;
use crate::crypto::gcm_stream::TAG_LEN;
use crate::error::{Error, Result};
use crate::s3::body::{Body, channel_body};
use crate::s3::request::{complete_from_put, create_from_put};
use crate::s3::sse::with_sse_default;
use crate::s3::write::{MIN_PART, read_part};
use crate::s3::write::{PutObjectOutput, send_put};
use crate::s3::{Client, check_metadata_size, s3_error};
use crate::s3ec::metadata::{self, ContentMetadata, Detection, INSTRUCTION_FILE, INSTRUCTION_SUFFIX};
use crate::s3ec::seal::new_v3_object;

/// Instruction files are small JSON documents; anything larger is refused.
const MAX_INSTRUCTION_FILE: usize = 64 * 1024;
/// S3's limit on a single PUT.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;
const CHUNK: usize = crate::tuning::IO_CHUNK;

impl Client {
    /// The S3 Encryption Client content metadata of an object without an
    /// s3seal envelope: from its own metadata, or from `<key>.instruction`.
    /// `None` for objects that are not S3 Encryption Client objects.
    pub(crate) async fn s3ec_metadata(
        &self,
        bucket: &str,
        key: &str,
        object: &HashMap<String, String>,
    ) -> Result<Option<ContentMetadata>> {
        match metadata::detect(object)? {
            Detection::Complete(m) => Ok(Some(m)),
            Detection::InstructionFile => match self.instruction_file(bucket, key, object, false).await? {
                Some(m) => Ok(Some(m)),
                None => Err(Error::malformed(format!(
                    "s3://{bucket}/{key} is an S3 Encryption Client object whose instruction file {key}{INSTRUCTION_SUFFIX} is missing"
                ))),
            },
            Detection::None if self.shared.config.s3ec_instruction_files => {
                self.instruction_file(bucket, key, object, true).await
            }
            Detection::None => Ok(None),
        }
    }

    /// Reads and merges `<key>.instruction`. When `require_marker`, an
    /// object there counts only if it carries the instruction-file marker
    /// in its metadata (so an unrelated object of that name is ignored).
    async fn instruction_file(
        &self,
        bucket: &str,
        key: &str,
        object: &HashMap<String, String>,
        require_marker: bool,
    ) -> Result<Option<ContentMetadata>> {
        let name = format!("{key}{INSTRUCTION_SUFFIX}");
        let resp = match self.shared.s3_read.get_object().bucket(bucket).key(&name).send().await {
            Ok(r) => r,
            Err(e) => {
                return match s3_error("GetObject", e) {
                    Error::S3 { status: Some(404), .. } => Ok(None),
                    other => Err(other),
                };
            }
        };
        if require_marker && !resp.metadata().is_some_and(|m| m.contains_key(INSTRUCTION_FILE)) {
            return Ok(None);
        }
        let mut body = Vec::new();
        resp.body.into_async_read().take(MAX_INSTRUCTION_FILE as u64 + 1).read_to_end(&mut body).await?;
        if body.len() > MAX_INSTRUCTION_FILE {
            return Err(Error::malformed(format!(
                "the instruction file {name} is larger than {MAX_INSTRUCTION_FILE} bytes"
            )));
        }
        let mut merged = metadata::merge_instruction_file(object, &body)?;
        merged.instruction_file = true;
        Ok(Some(merged))
    }
}

/// Uploads `body` as an S3 Encryption Client V3 object: one request when
/// the length is known and fits, else a multipart upload whose parts are
/// encrypted and sent in sequence (one GCM stream; memory: one part).
/// Returns the output and the number of parts (1 for a single request).
pub(crate) async fn put_s3ec(
    client: &Client,
    context: &EncryptionContext,
    request: PutObjectInputBuilder,
    body: Body,
    len: Option<u64>,
) -> Result<(PutObjectOutput, u32)> {
    let sh = &client.shared;
    let mut meta = request.get_metadata().clone().unwrap_or_default();
    // Every key the encryption writes is an S3 Encryption Client key.
    if let Some(k) = meta.keys().find(|k| metadata::is_s3ec_key(k)) {
        return Err(Error::InvalidParameter(format!("the user metadata key {k:?} is reserved for the encryption")));
    }
    let object = new_v3_object(sh.cmm.as_ref(), context).await?;
    meta.extend(object.metadata);
    check_metadata_size(&meta)?;
    let mut enc = object.encryptor;
    let mut reader = body.into_reader();
    let part_size = sh.config.part_size.max(MIN_PART);
    let (first, len) = match len {
        Some(n) if n <= MAX_SINGLE_PUT => (None, n),
        _ => {
            let first = read_part(&mut reader, part_size).await?;
            if (first.len() as u64) < part_size {
                let n = first.len() as u64;
                (Some(first), n)
            } else {
                return put_parts(client, &request, meta, enc, reader, first, part_size).await;
            }
        }
    };
    let stored = len + TAG_LEN as u64;
    let (tx, channel) = channel_body(stored);
    tokio::spawn(async move {
        let fail = |e: Error| Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        let mut sent = 0u64;
        if let Some(mut first) = first {
            if let Err(e) = enc.update(&mut first) {
                let _ = tx.send(fail(e)).await;
                return;
            }
            sent = first.len() as u64;
            if tx.send(Ok(Bytes::from(first))).await.is_err() {
                return;
            }
        } else {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match reader.read(&mut buf).await {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                if n == 0 {
                    break;
                }
                sent += n as u64;
                if sent > len {
                    break;
                }
                let chunk = &mut buf[..n];
                if let Err(e) = enc.update(chunk) {
                    let _ = tx.send(fail(e)).await;
                    return;
                }
                if tx.send(Ok(Bytes::copy_from_slice(chunk))).await.is_err() {
                    return;
                }
            }
        }
        if sent != len {
            let msg =
                format!("the body has {} bytes, not the {len} announced", if sent > len { "more" } else { "fewer" });
            let _ = tx.send(fail(Error::InvalidParameter(msg))).await;
            return;
        }
        let _ = tx.send(Ok(Bytes::copy_from_slice(&enc.finish()))).await;
    });
    let out = send_put(client, request, meta, ByteStream::from_body_1_x(channel), len, stored).await?;
    Ok((out, 1))
}

async fn put_parts(
    client: &Client,
    request: &PutObjectInputBuilder,
    meta: HashMap<String, String>,
    enc: crate::crypto::gcm_stream::GcmEncryptor,
    mut reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    first: Vec<u8>,
    part_size: u64,
) -> Result<(PutObjectOutput, u32)> {
    let sh = &client.shared;
    let (bucket, key) =
        (request.get_bucket().clone().unwrap_or_default(), request.get_key().clone().unwrap_or_default());
    let created = with_sse_default!(create_from_put(request), &sh.config.server_side_encryption)
        .set_metadata(Some(meta))
        .send_with(&sh.s3)
        .await
        .map_err(|e| s3_error("CreateMultipartUpload", e))?;
    let upload_id = created.upload_id.ok_or_else(|| Error::S3 {
        operation: "CreateMultipartUpload",
        status: None,
        code: None,
        message: "no upload id".into(),
    })?;
    let result = async {
        let mut enc = Some(enc);
        let mut current = first;
        let mut parts = Vec::new();
        let mut plaintext = 0u64;
        for number in 1..=10_000i32 {
            // One byte of look-ahead tells whether this part is the last
            // (which carries the tag) without holding a second part.
            let mut peek = [0u8; 1];
            let more = current.len() as u64 == part_size && reader.read(&mut peek).await? == 1;
            let last = !more;
            plaintext += current.len() as u64;
            let e = enc.as_mut().ok_or(Error::Crypto("encryptor used after the last part"))?;
            e.update(&mut current)?;
            if last {
                let tag = enc.take().ok_or(Error::Crypto("encryptor used after the last part"))?.finish();
                current.extend_from_slice(&tag);
            }
            let out = sh
                .s3_upload
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(ByteStream::from(std::mem::take(&mut current)))
                .send()
                .await
                .map_err(|e| s3_error("UploadPart", e))?;
            parts.push(S3Part::builder().part_number(number).set_e_tag(out.e_tag).build());
            if last {
                let done = complete_from_put(request)
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send_with(&sh.s3)
                    .await
                    .map_err(|e| s3_error("CompleteMultipartUpload", e))?;
                let out = PutObjectOutput {
                    e_tag: done.e_tag,
                    version_id: done.version_id,
                    plaintext_length: plaintext,
                    ciphertext_length: plaintext + TAG_LEN as u64,
                };
                return Ok((out, number.unsigned_abs()));
            }
            current = Vec::with_capacity(usize::try_from(part_size).unwrap_or(usize::MAX));
            current.push(peek[0]);
            (&mut reader).take(part_size - 1).read_to_end(&mut current).await?;
        }
        Err(Error::InvalidParameter("the body needs more than 10,000 parts: raise the part size".into()))
    }
    .await;
    if result.is_err() {
        let _ = sh.s3.abort_multipart_upload().bucket(&bucket).key(&key).upload_id(&upload_id).send().await;
    }
    result
}
