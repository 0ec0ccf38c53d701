//! The encryption layer: an `s3s::S3` implementation that stores every
//! object in the s3seal object format through the SDK's encrypting client,
//! forwards operations that carry no object data to the upstream, and
//! refuses everything else.
//!
//! * Object data (PutObject, GetObject, HeadObject, multipart, CopyObject,
//!   UploadPartCopy) goes through [`s3seal::s3::Client`]: bodies are
//!   encrypted before they leave and verified frame by frame when they come
//!   back (a copied part is read, verified and sealed again as the part).
//! * Listings are forwarded and their sizes rewritten to plaintext sizes by
//!   the format's arithmetic.
//! * Client checksums (`Content-MD5`, `x-amz-checksum-*` headers or
//!   trailers) are verified against the plaintext and never forwarded; a
//!   mismatch aborts the upstream write, so nothing is stored.
//! * Operations not known to be safe (SelectObjectContent,
//!   WriteGetObjectResponse, GetObjectAttributes, torrents, restores, ...)
//!   are not implemented here, so s3s answers `NotImplemented` and nothing
//!   reaches the upstream. Browser POST uploads never get here: the
//!   server's edge refuses them from their head (`501 NotImplemented`).
//!
//! ETags: one per object, derived from the stored object's ETag only: a
//! single-request object's `X` is shown as `X-0` (so that sync tools do
//! not take it for the MD5 of the content), a multipart one's `Y-N` as it
//! is; PutObject, UploadPart and UploadPartCopy (for their part),
//! CompleteMultipartUpload, CopyObject, HEAD, GET and listings all show
//! that ETag, and `If-Match`,
//! `If-None-Match` and `x-amz-copy-source-if-*` conditions on it are
//! translated back and forwarded, so the upstream enforces them
//! atomically. No plaintext hash is computed unless the client sent
//! `Content-MD5` (verified), and none is ever stored.
//!
//! Request fields (tagging, storage class, ACLs, Object Lock, SSE-S3 and
//! SSE-KMS, ...) are carried to the upstream (`passthrough`); one the
//! proxy cannot honour is refused with an error naming it.
//!
//! Multipart uploads are stateless: the upload id handed to clients carries
//! the upstream upload id and the object's envelope, bound together (and
//! to the bucket and key) by a tag made with the upload's data key, so any
//! proxy instance can take any part, a restart loses nothing, and a
//! spliced or altered id is `404 NoSuchUpload` before anything is sent
//! upstream.

mod checksums;
mod errors;
mod etag;
mod forward;
mod hashing;
mod headers;
mod listing;
mod multipart;
mod objects;
mod passthrough;
mod query;
mod request_body;
mod response_body;
mod service;
mod upload_id;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

pub use service::EncryptingS3;

// The one table of the operations served: handled ones by the function of
// their name in the module named, forwarded ones passed to the upstream.
forward::encrypting_s3! {
    handled {
        PutObject: put_object(PutObjectInput => PutObjectOutput) in objects;
        GetObject: get_object(GetObjectInput => GetObjectOutput) in objects;
        HeadObject: head_object(HeadObjectInput => HeadObjectOutput) in objects;
        CopyObject: copy_object(CopyObjectInput => CopyObjectOutput) in objects;
        DeleteObject: delete_object(DeleteObjectInput => DeleteObjectOutput) in objects;
        DeleteObjects: delete_objects(DeleteObjectsInput => DeleteObjectsOutput) in objects;
        CreateMultipartUpload: create_multipart_upload(CreateMultipartUploadInput => CreateMultipartUploadOutput) in multipart;
        UploadPart: upload_part(UploadPartInput => UploadPartOutput) in multipart;
        UploadPartCopy: upload_part_copy(UploadPartCopyInput => UploadPartCopyOutput) in multipart;
        CompleteMultipartUpload: complete_multipart_upload(CompleteMultipartUploadInput => CompleteMultipartUploadOutput) in multipart;
        AbortMultipartUpload: abort_multipart_upload(AbortMultipartUploadInput => AbortMultipartUploadOutput) in multipart;
        ListParts: list_parts(ListPartsInput => ListPartsOutput) in multipart;
        ListObjects: list_objects(ListObjectsInput => ListObjectsOutput) in listing;
        ListObjectsV2: list_objects_v2(ListObjectsV2Input => ListObjectsV2Output) in listing;
        ListObjectVersions: list_object_versions(ListObjectVersionsInput => ListObjectVersionsOutput) in listing;
    }
    // Operations that carry no object data: forwarded as they are.
    forwarded {
        ListBuckets: list_buckets(ListBucketsInput => ListBucketsOutput);
        CreateBucket: create_bucket(CreateBucketInput => CreateBucketOutput);
        DeleteBucket: delete_bucket(DeleteBucketInput => DeleteBucketOutput);
        HeadBucket: head_bucket(HeadBucketInput => HeadBucketOutput);
        GetBucketLocation: get_bucket_location(GetBucketLocationInput => GetBucketLocationOutput);
        GetBucketVersioning: get_bucket_versioning(GetBucketVersioningInput => GetBucketVersioningOutput);
        PutBucketVersioning: put_bucket_versioning(PutBucketVersioningInput => PutBucketVersioningOutput);
        GetBucketTagging: get_bucket_tagging(GetBucketTaggingInput => GetBucketTaggingOutput);
        PutBucketTagging: put_bucket_tagging(PutBucketTaggingInput => PutBucketTaggingOutput);
        DeleteBucketTagging: delete_bucket_tagging(DeleteBucketTaggingInput => DeleteBucketTaggingOutput);
        GetBucketAcl: get_bucket_acl(GetBucketAclInput => GetBucketAclOutput);
        GetBucketPolicy: get_bucket_policy(GetBucketPolicyInput => GetBucketPolicyOutput);
        PutBucketPolicy: put_bucket_policy(PutBucketPolicyInput => PutBucketPolicyOutput);
        DeleteBucketPolicy: delete_bucket_policy(DeleteBucketPolicyInput => DeleteBucketPolicyOutput);
        GetBucketLifecycleConfiguration: get_bucket_lifecycle_configuration(GetBucketLifecycleConfigurationInput => GetBucketLifecycleConfigurationOutput);
        PutBucketLifecycleConfiguration: put_bucket_lifecycle_configuration(PutBucketLifecycleConfigurationInput => PutBucketLifecycleConfigurationOutput);
        DeleteBucketLifecycle: delete_bucket_lifecycle(DeleteBucketLifecycleInput => DeleteBucketLifecycleOutput);
        GetObjectTagging: get_object_tagging(GetObjectTaggingInput => GetObjectTaggingOutput);
        PutObjectTagging: put_object_tagging(PutObjectTaggingInput => PutObjectTaggingOutput);
        DeleteObjectTagging: delete_object_tagging(DeleteObjectTaggingInput => DeleteObjectTaggingOutput);
        GetObjectAcl: get_object_acl(GetObjectAclInput => GetObjectAclOutput);
        PutObjectAcl: put_object_acl(PutObjectAclInput => PutObjectAclOutput);
        GetObjectRetention: get_object_retention(GetObjectRetentionInput => GetObjectRetentionOutput);
        PutObjectRetention: put_object_retention(PutObjectRetentionInput => PutObjectRetentionOutput);
        GetObjectLegalHold: get_object_legal_hold(GetObjectLegalHoldInput => GetObjectLegalHoldOutput);
        PutObjectLegalHold: put_object_legal_hold(PutObjectLegalHoldInput => PutObjectLegalHoldOutput);
        GetObjectLockConfiguration: get_object_lock_configuration(GetObjectLockConfigurationInput => GetObjectLockConfigurationOutput);
        PutObjectLockConfiguration: put_object_lock_configuration(PutObjectLockConfigurationInput => PutObjectLockConfigurationOutput);
        GetBucketEncryption: get_bucket_encryption(GetBucketEncryptionInput => GetBucketEncryptionOutput);
        PutBucketEncryption: put_bucket_encryption(PutBucketEncryptionInput => PutBucketEncryptionOutput);
        DeleteBucketEncryption: delete_bucket_encryption(DeleteBucketEncryptionInput => DeleteBucketEncryptionOutput);
        ListMultipartUploads: list_multipart_uploads(ListMultipartUploadsInput => ListMultipartUploadsOutput);
    }
}

impl EncryptingS3 {
    /// Counts a request of `op`, and its failure.
    fn observe<T>(&self, op: Operation, r: S3Result<T>) -> S3Result<T> {
        self.metrics.request(op.as_str());
        if r.is_err() {
            self.metrics.error(op.as_str());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_as_s3_names_them() {
        assert_eq!(Operation::PutObject.as_str(), "PutObject");
        assert_eq!(Operation::ListBuckets.as_str(), "ListBuckets");
        assert_eq!(Operation::GetBucketLifecycleConfiguration.as_str(), "GetBucketLifecycleConfiguration");
        let mut names: Vec<&str> = Operation::ALL.iter().map(|op| op.as_str()).collect();
        assert!(names.iter().all(|n| n.starts_with(|c: char| c.is_ascii_uppercase()) && !n.contains('_')), "{names:?}");
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Operation::ALL.len());
    }
}
