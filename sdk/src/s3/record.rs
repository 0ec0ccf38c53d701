//! Final records of multipart objects in the store (`docs/FORMAT.md`
//! section 2.15): written at `.s3seal/records/<hex message id>` in the
//! object's bucket before the upload is completed, and required by every
//! read (whole, ranged, HEAD) of an object whose envelope says so.
//!
//! Verified records are cached by bucket and message id. A cached record
//! that does not match is fetched again before the object is refused (a
//! completion retried with other parts, on another instance, rewrites it).

use tokio::io::AsyncReadExt;

use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::object::{Envelope, FinalRecord, RECORD_LEN, SealedObject};
use crate::s3::{Client, s3_error};

/// Records kept in memory before the cache is emptied.
const MAX_CACHED_RECORDS: usize = 10_000;

type CacheKey = (String, [u8; 32]);

impl Client {
    /// Stores the final record of the object `sealed` completed with
    /// `parts` parts of `plaintext_length` bytes in all, in `bucket`.
    /// Called before the upload is completed, so that no completed object
    /// is ever without its record.
    pub(crate) async fn put_final_record(
        &self,
        bucket: &str,
        sealed: &SealedObject,
        parts: u32,
        plaintext_length: u64,
    ) -> Result<()> {
        let bytes = sealed.final_record(parts, plaintext_length)?;
        let key = FinalRecord::object_key(&sealed.envelope.message_id);
        self.put_own_object(bucket, &key, bytes).await?;
        if let Ok(mut m) = self.shared.records.lock() {
            m.remove(&(bucket.to_string(), sealed.envelope.message_id));
        }
        tracing::debug!(bucket, record = %key, parts, plaintext_length, "final record stored");
        Ok(())
    }

    fn cached_record(&self, key: &CacheKey) -> Option<FinalRecord> {
        self.shared.records.lock().ok().and_then(|m| m.get(key).copied())
    }

    /// The final record of `sealed` in `bucket`, fetched and authenticated
    /// (never from the cache).
    pub(crate) async fn fetch_final_record(&self, bucket: &str, sealed: &SealedObject) -> Result<FinalRecord> {
        let key = FinalRecord::object_key(&sealed.envelope.message_id);
        let resp =
            self.shared.s3_read.get_object().bucket(bucket).key(&key).send().await.map_err(|e| {
                match s3_error("GetObject", e) {
                    Error::S3 { status: Some(404), .. } => {
                        Error::FinalRecordMissing { bucket: bucket.to_string(), record: key.clone() }
                    }
                    other => other,
                }
            })?;
        let mut bytes = Vec::with_capacity(RECORD_LEN);
        resp.body.into_async_read().take(RECORD_LEN as u64 + 1).read_to_end(&mut bytes).await?;
        let record = sealed.open_final_record(&bytes)?;
        if let Ok(mut m) = self.shared.records.lock() {
            if m.len() >= MAX_CACHED_RECORDS {
                m.clear();
            }
            m.insert((bucket.to_string(), sealed.envelope.message_id), record);
        }
        Ok(record)
    }

    /// Fails unless the object `sealed` of `stored` bytes in `bucket` has
    /// the shape its final record names (objects without
    /// [`FLAG_RECORDED`](crate::object::FLAG_RECORDED) pass). Returns the
    /// record, if the object has one.
    pub(crate) async fn check_final_shape(
        &self,
        bucket: &str,
        sealed: &SealedObject,
        stored: u64,
    ) -> Result<Option<FinalRecord>> {
        if !sealed.envelope.is_recorded() {
            return Ok(None);
        }
        let cache_key = (bucket.to_string(), sealed.envelope.message_id);
        if let Some(r) = self.cached_record(&cache_key).filter(|r| r.check_stored_length(stored).is_ok()) {
            return Ok(Some(r));
        }
        let record = self.fetch_final_record(bucket, sealed).await?;
        record.check_stored_length(stored)?;
        Ok(Some(record))
    }

    /// [`Client::check_final_shape`] for a reader that has not opened the
    /// envelope (HEAD): a cached record that matches answers; otherwise
    /// the envelope of `bucket`/`key` is opened (data key, commitment,
    /// header tag) to authenticate the record.
    pub(crate) async fn check_final_shape_of(
        &self,
        bucket: &str,
        key: &str,
        envelope: &Envelope,
        stored: u64,
    ) -> Result<()> {
        if !envelope.is_recorded() {
            return Ok(());
        }
        let cache_key = (bucket.to_string(), envelope.message_id);
        if self.cached_record(&cache_key).is_some_and(|r| r.check_stored_length(stored).is_ok()) {
            return Ok(());
        }
        let sealed = self.open_envelope(envelope.clone(), bucket, key, &EncryptionContext::new()).await?;
        self.check_final_shape(bucket, &sealed, stored).await.map(|_| ())
    }
}
