//! The encrypting S3 client: a wrapper over [`aws_sdk_s3::Client`] that
//! stores every object in the s3seal object format (`docs/FORMAT.md`).
//!
//! Operations mirror `aws-sdk-s3`'s fluent builders: `put_object`,
//! `get_object` (streaming, optional plaintext range), `head_object`,
//! `list_objects_v2` (plaintext sizes), multipart uploads whose parts may
//! be sent in any order and concurrently (also copied from a range of
//! another encrypted object, `upload_part_copy`), a high-level `upload`
//! that splits a stream into parallel parts with bounded memory,
//! `copy_object` (the body is copied server-side; only the envelope is
//! re-authenticated) and `delete_object`. Every write also takes the
//! `aws-sdk-s3` input builder of its operation as a template of the rest of
//! the request (tagging, storage class, Object Lock, SSE-KMS, conditions,
//! ...), sent as it is (see `request`).
//!
//! ```no_run
//! # async fn demo(s3: aws_sdk_s3::Client) -> Result<(), s3seal::Error> {
//! use std::sync::Arc;
//! let keyring = Arc::new(s3seal::keyring::RawAesKeyring::new("acme", "k1", &[7u8; 32])?);
//! let client = s3seal::s3::Client::new(s3, keyring);
//! client.put_object().bucket("b").key("hello.txt").body(b"hi".to_vec()).send().await?;
//! let got = client.get_object().bucket("b").key("hello.txt").send().await?;
//! assert_eq!(got.body.collect().await?, b"hi");
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::cmm::{DefaultCmm, MaterialsManager};
use crate::context::EncryptionContext;
use crate::crypto::aead::Backend;
use crate::error::{Error, Result};
use crate::keyring::Keyring;
use crate::object::{Envelope, ObjectSuite, SealedObject};
use crate::s3ec::SpoolLimits;
use crate::suite::CommitmentPolicy;

/// The standard headers of an `aws-sdk-s3` response, with `metadata`.
macro_rules! headers {
    ($resp:expr, $metadata:expr) => {
        $crate::s3::write::ObjectHeaders {
            content_type: $resp.content_type.clone(),
            cache_control: $resp.cache_control.clone(),
            content_disposition: $resp.content_disposition.clone(),
            content_encoding: $resp.content_encoding.clone(),
            content_language: $resp.content_language.clone(),
            metadata: $metadata,
        }
    };
}

/// The `bucket` and `key` setters of a request builder (fields `bucket`
/// and `key`).
macro_rules! bucket_and_key {
    () => {
        /// The bucket.
        pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
            self.bucket = bucket.into();
            self
        }

        /// The object key.
        pub fn key(mut self, key: impl Into<String>) -> Self {
            self.key = key.into();
            self
        }
    };
}

mod body;
mod copy;
mod get;
mod head;
mod multipart;
mod put;
mod record;
mod request;
mod s3ec;
mod settings;
mod sidecar;
mod sse;
mod write;

pub use body::{Body, ObjectBody};
pub use copy::{CopyObject, CopyObjectOutput, DeleteObject, ListObjectsV2};
pub use get::{GetObject, GetObjectOutput};
pub use head::{Conditions, HeadObject, HeadObjectOutput, ReadAccount};
pub use multipart::{
    CompleteOutput, CompletedPart, CreateMultipartUpload, MultipartUpload, StoredPart, UPLOAD_BINDING_TAG_LEN, Upload,
    UploadOutput, UploadPartCopy, UploadPartCopyOutput,
};
pub use put::PutObject;
pub use settings::StoredSettings;
pub use sidecar::{SIDECAR_PREFIX, SIDECAR_REF_KEY};
pub use sse::SseDefault;
pub use write::{ObjectHeaders, PutObjectOutput};

/// The default of [`Config::max_encrypted_data_keys`]: envelopes with more
/// encrypted data keys are refused before any of them is unwrapped.
pub const DEFAULT_MAX_ENCRYPTED_DATA_KEYS: usize = 8;

/// The key prefix of the objects s3seal keeps beside the data (envelope
/// sidecars, final records): hidden from listings.
pub const RESERVED_PREFIX: &str = ".s3seal/";

/// S3's limit on user-defined metadata: keys and values, in bytes.
pub const MAX_USER_METADATA: usize = 2048;

/// Settings of the encrypting client.
#[derive(Debug, Clone)]
pub struct Config {
    /// Frame AEAD for new objects.
    pub suite: ObjectSuite,
    /// Plaintext bytes per frame for new objects (also used to report
    /// plaintext sizes in listings).
    pub frame_length: u32,
    /// Part size of [`Client::upload`]; rounded down to a multiple of the
    /// frame length, at least 5 MiB.
    pub part_size: u64,
    /// Parts [`Client::upload`] sends at once.
    pub concurrency: usize,
    /// Read objects that s3seal did not write as they are, instead of failing.
    pub allow_unencrypted: bool,
    /// AEAD implementation.
    pub backend: Backend,
    /// Refuse envelopes with more encrypted data keys than this
    /// ([`Error::TooManyEncryptedDataKeys`](crate::Error::TooManyEncryptedDataKeys)),
    /// before any keyring (KMS) call: a stored envelope, or one carried by
    /// a resumed upload, cannot make a read cost one unwrap attempt per
    /// key. `None`: no limit. Default:
    /// [`DEFAULT_MAX_ENCRYPTED_DATA_KEYS`] (as the ESDKs' setting of the
    /// same name).
    pub max_encrypted_data_keys: Option<usize>,
    /// The format of new objects.
    pub write_format: WriteFormat,
    /// Which S3 Encryption Client objects may be read: format V2 has no key
    /// commitment and is read only under a policy that allows it.
    pub commitment_policy: CommitmentPolicy,
    /// How S3 Encryption Client objects (one AES-GCM tag over the whole
    /// object) are held while they are authenticated.
    pub s3ec_spool: SpoolLimits,
    /// Look for `<key>.instruction` when an object carries no encryption
    /// metadata of its own (S3 Encryption Client instruction-file mode).
    pub s3ec_instruction_files: bool,
    /// **Unauthenticated**: serve ranged reads of S3 Encryption Client
    /// objects by decrypting only the requested bytes (AES-CTR), without
    /// verifying the object's tag. Modified bytes then go undetected. Off by
    /// default: ranges are cut from the authenticated whole object.
    pub s3ec_unauthenticated_ranges: bool,
    /// Send object bodies (PutObject, UploadPart) with
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD` and no request checksum.
    /// Over plain `http://`, `aws-sdk-s3` otherwise signs every 64 KiB chunk
    /// (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`), a SHA-256 over the
    /// whole body on both sides. The body is ciphertext whose frames carry
    /// their own authentication tags, so a body altered in transit is
    /// refused when read, never decrypted; what is lost is the store's
    /// refusal of an altered upload. Meant for stores on a link nobody else
    /// can write to (loopback). Over `https://` the SDK already sends
    /// unsigned chunks with a CRC32 trailer; leave this off there (it would
    /// drop the trailer). Default: off.
    pub unsigned_upload_payloads: bool,
    /// Server-side encryption asked of the store on every write that names
    /// none of its own (defense in depth, and buckets whose policy requires
    /// `x-amz-server-side-encryption`). Default: none (the bucket's own
    /// default applies).
    pub server_side_encryption: Option<SseDefault>,
}

/// The format [`Client`] writes new objects in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WriteFormat {
    /// The s3seal object format (`docs/FORMAT.md`): framed, ranged reads
    /// and parallel multipart uploads. The default.
    #[default]
    S3seal,
    /// Amazon S3 Encryption Client format V3, readable by the official
    /// clients: one AES-GCM message per object, multipart parts sent in
    /// sequence.
    S3ecV3,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            suite: ObjectSuite::default(),
            frame_length: 64 * 1024,
            part_size: 8 * 1024 * 1024,
            concurrency: 4,
            allow_unencrypted: false,
            backend: Backend::default(),
            max_encrypted_data_keys: Some(DEFAULT_MAX_ENCRYPTED_DATA_KEYS),
            write_format: WriteFormat::default(),
            commitment_policy: CommitmentPolicy::default(),
            s3ec_spool: SpoolLimits::default(),
            s3ec_instruction_files: true,
            s3ec_unauthenticated_ranges: false,
            unsigned_upload_payloads: false,
            server_side_encryption: None,
        }
    }
}

pub(crate) struct Shared {
    pub(crate) s3: aws_sdk_s3::Client,
    /// The client for object bodies (PutObject, UploadPart): `s3`, or with
    /// [`Config::unsigned_upload_payloads`] the same without request
    /// checksums, so streamed bodies go out as `UNSIGNED-PAYLOAD`.
    pub(crate) s3_upload: aws_sdk_s3::Client,
    /// The same client without response checksum validation, for reading
    /// s3seal bodies: every frame carries its own authentication tag, and
    /// some stores report stale or composite checksums.
    pub(crate) s3_read: aws_sdk_s3::Client,
    pub(crate) cmm: Arc<dyn MaterialsManager>,
    pub(crate) config: Config,
    /// Frames per part learned for multipart objects, by (bucket, key, ETag).
    pub(crate) layouts: Mutex<HashMap<(String, String, String), u64>>,
    /// Verified final records of multipart objects, by (bucket, message id).
    pub(crate) records: Mutex<HashMap<(String, [u8; 32]), crate::object::FinalRecord>>,
}

/// The encrypting S3 client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("s3seal::s3::Client").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl Client {
    /// A client that encrypts with `keyring` and the default settings.
    pub fn new(s3: aws_sdk_s3::Client, keyring: Arc<dyn Keyring>) -> Self {
        Self::with_cmm(s3, Arc::new(DefaultCmm::new(keyring)), Config::default())
    }

    /// A client over a materials manager (for example a
    /// [`crate::cache::CachingCmm`]) with explicit settings.
    pub fn with_cmm(s3: aws_sdk_s3::Client, cmm: Arc<dyn MaterialsManager>, config: Config) -> Self {
        let s3_read = aws_sdk_s3::Client::from_conf(
            s3.config()
                .to_builder()
                .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
                .build(),
        );
        let s3_upload = if config.unsigned_upload_payloads {
            aws_sdk_s3::Client::from_conf(
                s3.config()
                    .to_builder()
                    .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
                    .build(),
            )
        } else {
            s3.clone()
        };
        Self {
            shared: Arc::new(Shared {
                s3,
                s3_read,
                s3_upload,
                cmm,
                config,
                layouts: Mutex::new(HashMap::new()),
                records: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The wrapped `aws-sdk-s3` client (requests through it are not encrypted).
    pub fn inner(&self) -> &aws_sdk_s3::Client {
        &self.shared.s3
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Uploads an object in one request.
    pub fn put_object(&self) -> PutObject {
        PutObject::new(self.clone())
    }

    /// Downloads an object or a plaintext range of it.
    pub fn get_object(&self) -> GetObject {
        GetObject::new(self.clone())
    }

    /// Reads an object's plaintext size and metadata.
    pub fn head_object(&self) -> HeadObject {
        HeadObject::new(self.clone())
    }

    /// Lists objects with plaintext sizes.
    pub fn list_objects_v2(&self) -> ListObjectsV2 {
        ListObjectsV2::new(self.clone())
    }

    /// Starts a multipart upload.
    pub fn create_multipart_upload(&self) -> CreateMultipartUpload {
        CreateMultipartUpload::new(self.clone())
    }

    /// Uploads a stream of any size: one request if small, else parallel parts.
    pub fn upload(&self) -> Upload {
        Upload::new(self.clone())
    }

    /// Copies an object (server-side; the envelope is re-authenticated).
    pub fn copy_object(&self) -> CopyObject {
        CopyObject::new(self.clone())
    }

    /// Deletes an object.
    pub fn delete_object(&self) -> DeleteObject {
        DeleteObject::new(self.clone())
    }

    /// Opens the envelope of an object: unwraps its data key (through the
    /// materials manager, so cached), checks commitment and header tag.
    pub async fn open_envelope(
        &self,
        envelope: Envelope,
        bucket: &str,
        key: &str,
        context: &EncryptionContext,
    ) -> Result<SealedObject> {
        let c = &self.shared.config;
        SealedObject::open(
            self.shared.cmm.as_ref(),
            c.backend,
            envelope,
            bucket,
            key,
            context,
            c.max_encrypted_data_keys,
        )
        .await
    }
}

/// Maps an `aws-sdk-s3` error to [`Error::S3`], keeping status and code.
pub(crate) fn s3_error<E>(operation: &'static str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().map(str::to_string);
    let message = match e.message() {
        Some(m) => m.to_string(),
        None => aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
    };
    Error::S3 { operation, status, code, message }
}

/// Fails if user metadata plus the envelope would exceed S3's limit.
pub(crate) fn check_metadata_size(meta: &HashMap<String, String>) -> Result<()> {
    let size: usize = meta.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_METADATA {
        return Err(Error::InvalidParameter(format!(
            "user metadata takes {size} bytes, over S3's {MAX_USER_METADATA}-byte limit: store less metadata"
        )));
    }
    Ok(())
}
