//! An upstream that enforces what the usual hardening bucket policy
//! enforces: `s3s-fs` behind an `s3s` layer that refuses, with `403
//! AccessDenied`, every PutObject, CreateMultipartUpload and CopyObject
//! without `x-amz-server-side-encryption` (the policy's
//! `"Null": {"s3:x-amz-server-side-encryption": "true"}` deny), and, as S3
//! does, every GetObject and HeadObject whose `x-amz-expected-bucket-owner`
//! is not [`OWNER`]. moto evaluates neither, so this stands in for a bucket
//! with that policy in account [`OWNER`]. Everything else is s3s-fs's own;
//! requests are signed with [`crate::s3fs::ACCESS_KEY`] /
//! [`crate::s3fs::SECRET_KEY`].

use anyhow::Result;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::s3fs::{ACCESS_KEY, SECRET_KEY, ServiceServer};

/// The account the buckets belong to.
pub const OWNER: &str = "111122223333";

/// s3s-fs that refuses unencrypted writes.
pub struct RequireSse {
    fs: s3s_fs::FileSystem,
}

impl std::fmt::Debug for RequireSse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireSse").finish_non_exhaustive()
    }
}

/// The enforcing server over `root` and its directory; stopped when dropped.
pub fn start(root: &std::path::Path) -> Result<ServiceServer> {
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("s3s-fs over {}: {e:?}", root.display()))?;
    let mut builder = S3ServiceBuilder::new(RequireSse { fs });
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    ServiceServer::start(builder.build())
}

fn require(sse: Option<&ServerSideEncryption>, op: &str) -> S3Result<()> {
    match sse {
        Some(_) => Ok(()),
        None => {
            Err(s3_error!(AccessDenied, "{op} without x-amz-server-side-encryption is denied by the bucket policy"))
        }
    }
}

fn owned(expected: Option<&String>) -> S3Result<()> {
    match expected {
        Some(owner) if owner != OWNER => Err(s3_error!(AccessDenied, "the bucket belongs to another account")),
        _ => Ok(()),
    }
}

macro_rules! require_sse_impl {
    (enforced { $($eop:ident: $einput:ident => $eoutput:ident;)* } passed { $($op:ident: $input:ident => $output:ident;)* }) => {
        #[async_trait::async_trait]
        impl S3 for RequireSse {
            async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
                owned(req.input.expected_bucket_owner.as_ref())?;
                self.fs.get_object(req).await
            }

            async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
                owned(req.input.expected_bucket_owner.as_ref())?;
                self.fs.head_object(req).await
            }

            $(
                async fn $eop(&self, req: S3Request<$einput>) -> S3Result<S3Response<$eoutput>> {
                    require(req.input.server_side_encryption.as_ref(), stringify!($eop))?;
                    self.fs.$eop(req).await
                }
            )*
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.fs.$op(req).await
                }
            )*
        }
    };
}

require_sse_impl! {
    enforced {
        put_object: PutObjectInput => PutObjectOutput;
        create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
        copy_object: CopyObjectInput => CopyObjectOutput;
    }
    passed {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        upload_part: UploadPartInput => UploadPartOutput;
        list_parts: ListPartsInput => ListPartsOutput;
        complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    }
}
