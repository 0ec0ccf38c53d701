//! An upstream that enforces what the usual hardening bucket policy
//! enforces: `s3s-fs` behind an `s3s` layer that refuses, with `403
//! AccessDenied`, every PutObject, CreateMultipartUpload and CopyObject
//! without `x-amz-server-side-encryption` (the policy's
//! `"Null": {"s3:x-amz-server-side-encryption": "true"}` deny). moto does
//! not evaluate bucket-policy conditions, so this stands in for a bucket
//! with that policy. Everything else is s3s-fs's own; requests are signed
//! with [`crate::s3fs::ACCESS_KEY`] / [`crate::s3fs::SECRET_KEY`].

use anyhow::Result;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::s3fs::{ACCESS_KEY, SECRET_KEY, ServiceServer};

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

macro_rules! require_sse_impl {
    (enforced { $($eop:ident: $einput:ident => $eoutput:ident;)* } passed { $($op:ident: $input:ident => $output:ident;)* }) => {
        #[async_trait::async_trait]
        impl S3 for RequireSse {
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
        get_object: GetObjectInput => GetObjectOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        head_object: HeadObjectInput => HeadObjectOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        upload_part: UploadPartInput => UploadPartOutput;
        list_parts: ListPartsInput => ListPartsOutput;
        complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    }
}
