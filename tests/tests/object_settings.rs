//! Object settings, versions and server-side encryption through the real
//! `s3seal proxy` (issue 13 parts 3 and 4):
//!
//! * the embedded store keeps the tags, storage class and headers a write
//!   gives (PutObject, multipart, copy) and refuses, storing nothing, what
//!   it cannot honour (ACLs, Object Lock, SSE, archive classes);
//! * Object Lock through the proxy in front of moto: retention and legal
//!   hold given with PutObject and by their own operations reach the store,
//!   and a locked version cannot be deleted, as on moto directly;
//! * versions through the proxy: GET/HEAD/DELETE by version id, listings
//!   with plaintext sizes, an older version restored by copying it;
//! * `upstream sse`: every upstream write carries the store's encryption
//!   (HEAD on moto shows it), a client's own choice wins, and a store that
//!   refuses unencrypted writes (as the usual bucket policy does) accepts
//!   the proxy's writes with the setting and refuses them without it.

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectCannedAcl, ObjectLockLegalHold, ObjectLockLegalHoldStatus,
    ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, ServerSideEncryption, StorageClass, TaggingDirective,
    VersioningConfiguration,
};
use s3seal_tests::clients::{ProxyOptions, ProxyProcess, Upstream};
use s3seal_tests::s3client::{error_code, status};

fn temp(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir")
}

async fn body_of(c: &aws_sdk_s3::Client, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    let got = c.get_object().bucket(bucket).key(key).set_version_id(version.map(str::to_string)).send().await;
    let got = got.unwrap_or_else(|e| panic!("GET {key} {version:?}: {e:?}"));
    got.body.collect().await.expect("body").into_bytes().to_vec()
}

async fn tags_of(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<String> {
    let tags = c.get_object_tagging().bucket(bucket).key(key).send().await.expect("GetObjectTagging");
    tags.tag_set().iter().map(|t| format!("{}={}", t.key(), t.value())).collect()
}

/// A one-part multipart upload of `body` to `key`, created by `create`.
async fn multipart(
    c: &aws_sdk_s3::Client,
    create: aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    bucket: &str,
    key: &str,
    body: &[u8],
) {
    let up = create.bucket(bucket).key(key).send().await.expect("CreateMultipartUpload");
    let id = up.upload_id().expect("upload id");
    let part = c.upload_part().bucket(bucket).key(key).upload_id(id).part_number(1);
    let part = part.body(ByteStream::from(body.to_vec())).send().await.expect("UploadPart");
    let parts = vec![CompletedPart::builder().part_number(1).set_e_tag(part.e_tag).build()];
    c.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("CompleteMultipartUpload");
}

/// The embedded store keeps what a write gives and refuses, storing
/// nothing, what it cannot honour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_keeps_settings_and_refuses_the_rest() {
    let dir = temp("settings-embedded-");
    let proxy = ProxyProcess::start_embedded(dir.path(), &ProxyOptions::default()).expect("embedded proxy");
    let c = proxy.sdk_client();
    let b = "settings";
    c.create_bucket().bucket(b).send().await.expect("CreateBucket");
    let expires = DateTime::from_secs(1_900_000_000);
    c.put_object()
        .bucket(b)
        .key("put")
        .body(ByteStream::from_static(b"tagged"))
        .tagging("team=blue&cost%20centre=a%26b")
        .storage_class(StorageClass::StandardIa)
        .cache_control("max-age=60")
        .website_redirect_location("/elsewhere")
        .expires(expires)
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .send()
        .await
        .expect("PutObject with settings");
    let create = c.create_multipart_upload().tagging("team=green").storage_class(StorageClass::OnezoneIa);
    multipart(&c, create, b, "mpu", b"part").await;
    let copy = c.copy_object().bucket(b).key("copy").copy_source(format!("{b}/put"));
    copy.tagging_directive(TaggingDirective::Replace).tagging("team=red").send().await.expect("CopyObject");
    c.copy_object().bucket(b).key("copy-tags").copy_source(format!("{b}/put")).send().await.expect("CopyObject");

    assert_eq!(tags_of(&c, b, "put").await, ["team=blue", "cost centre=a&b"]);
    assert_eq!(tags_of(&c, b, "mpu").await, ["team=green"]);
    assert_eq!(tags_of(&c, b, "copy").await, ["team=red"]);
    assert_eq!(tags_of(&c, b, "copy-tags").await, ["team=blue", "cost centre=a&b"], "tags copied by default");
    let head = c.head_object().bucket(b).key("put").send().await.expect("HEAD");
    assert_eq!(head.storage_class(), Some(&StorageClass::StandardIa));
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(head.website_redirect_location(), Some("/elsewhere"));
    assert_eq!(head.expires_string(), Some("Sun, 17 Mar 2030 17:46:40 GMT"));
    let head = c.head_object().bucket(b).key("mpu").send().await.expect("HEAD");
    assert_eq!(head.storage_class(), Some(&StorageClass::OnezoneIa));
    let head = c.head_object().bucket(b).key("copy").send().await.expect("HEAD");
    assert_eq!(head.storage_class(), None, "a copy's class is the request's (STANDARD), as in S3");
    let listed = c.list_objects_v2().bucket(b).send().await.expect("ListObjectsV2");
    let classes: Vec<_> = listed.contents().iter().map(|o| (o.key().unwrap_or(""), o.storage_class())).collect();
    assert!(classes.iter().any(|(k, c)| *k == "put" && c.map(|c| c.as_str()) == Some("STANDARD_IA")), "{classes:?}");
    assert_eq!(body_of(&c, b, "put", None).await, b"tagged");

    // Refused, naming what, and nothing stored.
    let put = || c.put_object().bucket(b).key("refused").body(ByteStream::from_static(b"x"));
    let until = DateTime::from_secs(1_900_000_000);
    let refusals = [
        ("SSE-S3", put().server_side_encryption(ServerSideEncryption::Aes256).send().await, 501, "NotImplemented"),
        ("public ACL", put().acl(ObjectCannedAcl::PublicRead).send().await, 400, "AccessControlListNotSupported"),
        (
            "grant",
            put().grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"").send().await,
            400,
            "AccessControlListNotSupported",
        ),
        (
            "Object Lock",
            put().object_lock_mode(ObjectLockMode::Governance).object_lock_retain_until_date(until).send().await,
            400,
            "InvalidRequest",
        ),
        (
            "legal hold",
            put().object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On).send().await,
            400,
            "InvalidRequest",
        ),
        ("GLACIER", put().storage_class(StorageClass::Glacier).send().await, 501, "NotImplemented"),
        (
            "too many tags",
            put().tagging((0..11).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&")).send().await,
            400,
            "InvalidTag",
        ),
    ];
    for (what, r, want_status, want_code) in refusals {
        assert_eq!(status(&r), want_status, "{what}: {r:?}");
        assert_eq!(error_code(&r).as_deref(), Some(want_code), "{what}");
    }
    let create =
        c.create_multipart_upload().bucket(b).key("refused").acl(ObjectCannedAcl::PublicReadWrite).send().await;
    assert_eq!(status(&create), 400, "{create:?}");
    assert!(c.head_object().bucket(b).key("refused").send().await.is_err(), "nothing stored");
}

/// Object Lock through the proxy in front of moto, held to moto directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_through_the_proxy() {
    let dir = temp("settings-lock-");
    let upstream = Upstream::moto().await.expect("moto");
    let proxy = ProxyProcess::start(&upstream, dir.path(), &ProxyOptions::default()).expect("proxy");
    let (c, raw) = (proxy.sdk_client(), upstream.direct_client());
    let b = "locked";
    c.create_bucket().bucket(b).object_lock_enabled_for_bucket(true).send().await.expect("CreateBucket with lock");
    let config = c.get_object_lock_configuration().bucket(b).send().await.expect("GetObjectLockConfiguration");
    let enabled = config.object_lock_configuration().and_then(|c| c.object_lock_enabled()).map(|e| e.as_str());
    assert_eq!(enabled, Some("Enabled"));

    let until = DateTime::from_secs(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 86_400,
    );
    let put = c
        .put_object()
        .bucket(b)
        .key("kept")
        .body(ByteStream::from_static(b"retained"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("PutObject with Object Lock");
    let version = put.version_id().expect("a version id").to_string();
    for (who, client) in [("proxy", &c), ("moto", &raw)] {
        let head = client.head_object().bucket(b).key("kept").send().await.expect("HEAD");
        assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance), "{who}");
        assert_eq!(head.object_lock_retain_until_date().map(DateTime::secs), Some(until.secs()), "{who}");
        assert_eq!(head.object_lock_legal_hold_status(), Some(&ObjectLockLegalHoldStatus::On), "{who}");
    }
    assert_eq!(body_of(&c, b, "kept", None).await, b"retained");
    let hold = c.get_object_legal_hold().bucket(b).key("kept").send().await.expect("GetObjectLegalHold");
    assert_eq!(hold.legal_hold().and_then(|h| h.status()), Some(&ObjectLockLegalHoldStatus::On));
    let delete = c.delete_object().bucket(b).key("kept").version_id(&version).send().await;
    let direct = raw.delete_object().bucket(b).key("kept").version_id(&version).send().await;
    assert_eq!(status(&delete), status(&direct), "a locked version: {delete:?}");
    assert_eq!(status(&delete), 403);
    assert_eq!(body_of(&c, b, "kept", Some(&version)).await, b"retained", "still there");

    // The operations of their own, on an object written without settings.
    c.put_object().bucket(b).key("later").body(ByteStream::from_static(b"x")).send().await.expect("PutObject");
    let retention = ObjectLockRetention::builder().mode(ObjectLockRetentionMode::Governance).retain_until_date(until);
    c.put_object_retention()
        .bucket(b)
        .key("later")
        .retention(retention.build())
        .send()
        .await
        .expect("PutObjectRetention");
    let hold = ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::On).build();
    c.put_object_legal_hold().bucket(b).key("later").legal_hold(hold).send().await.expect("PutObjectLegalHold");
    let head = raw.head_object().bucket(b).key("later").send().await.expect("HEAD on moto");
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(head.object_lock_legal_hold_status(), Some(&ObjectLockLegalHoldStatus::On));
    // GetObjectRetention is forwarded as it is: the proxy answers as the
    // store does ([`moto_get_retention`]).
    let through = c.get_object_retention().bucket(b).key("later").send().await;
    let direct = raw.get_object_retention().bucket(b).key("later").send().await;
    moto_get_retention(&through, &direct);
}

/// GetObjectRetention through the proxy answers as the store does. moto
/// 5.2.6 has no GetObjectRetention: it answers the request as a GetObject
/// (`200` with the object's stored bytes, which `aws-sdk-s3` cannot read as
/// a retention). The proxy must then answer an error, never a `200`, and
/// never pass those bytes on. With a store that answers the retention
/// (S3), both answers are the retention.
fn moto_get_retention(
    through: &Result<
        aws_sdk_s3::operation::get_object_retention::GetObjectRetentionOutput,
        aws_sdk_s3::error::SdkError<
            aws_sdk_s3::operation::get_object_retention::GetObjectRetentionError,
            aws_sdk_s3::config::http::HttpResponse,
        >,
    >,
    direct: &Result<
        aws_sdk_s3::operation::get_object_retention::GetObjectRetentionOutput,
        aws_sdk_s3::error::SdkError<
            aws_sdk_s3::operation::get_object_retention::GetObjectRetentionError,
            aws_sdk_s3::config::http::HttpResponse,
        >,
    >,
) {
    match direct {
        Ok(d) => assert_eq!(through.as_ref().ok().map(|t| t.retention()), Some(d.retention()), "{through:?}"),
        Err(_) => {
            let s = status(through);
            assert!(through.is_err() && !(200..300).contains(&s), "moto failed; the proxy answered {s}: {through:?}");
        }
    }
}

/// Versions through the proxy in front of moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_through_the_proxy() {
    let dir = temp("settings-versions-");
    let upstream = Upstream::moto().await.expect("moto");
    let proxy = ProxyProcess::start(&upstream, dir.path(), &ProxyOptions::default()).expect("proxy");
    let c = proxy.sdk_client();
    let b = "versioned";
    c.create_bucket().bucket(b).send().await.expect("CreateBucket");
    let enabled = VersioningConfiguration::builder().status(aws_sdk_s3::types::BucketVersioningStatus::Enabled).build();
    c.put_bucket_versioning().bucket(b).versioning_configuration(enabled).send().await.expect("versioning");
    let (one, two) = (vec![1u8; 300_000], vec![2u8; 123_457]);
    let put = |body: Vec<u8>| c.put_object().bucket(b).key("doc").body(ByteStream::from(body)).send();
    let v1 = put(one.clone()).await.expect("PUT 1").version_id.expect("version 1");
    let v2 = put(two.clone()).await.expect("PUT 2").version_id.expect("version 2");
    assert_ne!(v1, v2);
    assert_eq!(body_of(&c, b, "doc", None).await, two);
    assert_eq!(body_of(&c, b, "doc", Some(&v1)).await, one);
    let head = c.head_object().bucket(b).key("doc").version_id(&v1).send().await.expect("HEAD v1");
    assert_eq!(head.content_length(), Some(300_000));
    let ranged = c.get_object().bucket(b).key("doc").version_id(&v1).range("bytes=-5").send().await.expect("range");
    assert_eq!(ranged.body.collect().await.expect("body").into_bytes().as_ref(), &one[one.len() - 5..]);

    let versions = c.list_object_versions().bucket(b).send().await.expect("ListObjectVersions");
    let sizes: Vec<_> = versions.versions().iter().map(|v| (v.version_id().unwrap_or(""), v.size())).collect();
    assert!(
        sizes.contains(&(v1.as_str(), Some(300_000))) && sizes.contains(&(v2.as_str(), Some(123_457))),
        "{sizes:?}"
    );

    // A plain DELETE leaves a delete marker; the versions stay readable.
    let marker = c.delete_object().bucket(b).key("doc").send().await.expect("DELETE");
    assert_eq!(marker.delete_marker(), Some(true));
    assert_eq!(status(&c.get_object().bucket(b).key("doc").send().await), 404);
    assert_eq!(body_of(&c, b, "doc", Some(&v2)).await, two);
    // Restore version 1 by copying it over the key.
    let restore = c.copy_object().bucket(b).key("doc").copy_source(format!("{b}/doc?versionId={v1}")).send().await;
    restore.expect("CopyObject of an older version");
    assert_eq!(body_of(&c, b, "doc", None).await, one, "the restored version reads back");
    // Another key from a version, and a version deleted for good.
    let copy = c.copy_object().bucket(b).key("copy").copy_source(format!("{b}/doc?versionId={v2}")).send().await;
    copy.expect("CopyObject of a version to another key");
    assert_eq!(body_of(&c, b, "copy", None).await, two);
    c.delete_object().bucket(b).key("doc").version_id(&v2).send().await.expect("DELETE v2");
    assert_eq!(status(&c.get_object().bucket(b).key("doc").version_id(&v2).send().await), 404);
}

/// A client, through a proxy with `[upstream] sse` set, over moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_sse_on_every_write() {
    let dir = temp("settings-sse-");
    let upstream = Upstream::moto().await.expect("moto");
    let Upstream::Moto { server, .. } = &upstream else { unreachable!("moto") };
    let key = server.kms_client().await.create_key().send().await.expect("a KMS key for SSE");
    let key_id = key.key_metadata().map(|m| m.key_id().to_string()).expect("key id");
    let options = ProxyOptions {
        upstream_config: format!("sse = \"aws:kms\"\nsse_kms_key_id = {key_id:?}\nsse_bucket_key = true"),
        ..Default::default()
    };
    let proxy = ProxyProcess::start(&upstream, dir.path(), &options).expect("proxy");
    let (c, raw) = (proxy.sdk_client(), upstream.direct_client());
    let b = "sse";
    c.create_bucket().bucket(b).send().await.expect("CreateBucket");
    c.put_object().bucket(b).key("put").body(ByteStream::from_static(b"one")).send().await.expect("PutObject");
    multipart(&c, c.create_multipart_upload(), b, "mpu", b"two").await;
    c.copy_object().bucket(b).key("copy").copy_source(format!("{b}/put")).send().await.expect("CopyObject");
    let own = c.put_object().bucket(b).key("own").server_side_encryption(ServerSideEncryption::Aes256);
    own.body(ByteStream::from_static(b"mine")).send().await.expect("PutObject with its own SSE");
    // UploadPartCopy: the parts follow their upload's encryption.
    let up = c.create_multipart_upload().bucket(b).key("part-copy").send().await.expect("CreateMultipartUpload");
    let id = up.upload_id().expect("upload id");
    let copied = c.upload_part_copy().bucket(b).key("part-copy").upload_id(id).part_number(1);
    let copied = copied.copy_source(format!("{b}/put")).send().await.expect("UploadPartCopy");
    let e_tag = copied.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string);
    let parts = vec![CompletedPart::builder().part_number(1).set_e_tag(e_tag).build()];
    c.complete_multipart_upload()
        .bucket(b)
        .key("part-copy")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("CompleteMultipartUpload of a copied part");
    for key in ["put", "mpu", "copy", "part-copy"] {
        let head = raw.head_object().bucket(b).key(key).send().await.expect("HEAD on moto");
        assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::AwsKms), "{key}");
        assert!(head.ssekms_key_id().is_some_and(|k| k.contains(&key_id)), "{key}: {:?}", head.ssekms_key_id());
    }
    let head = raw.head_object().bucket(b).key("own").send().await.expect("HEAD on moto");
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256), "the client's choice wins");
    for (key, want) in
        [("put", &b"one"[..]), ("mpu", b"two"), ("copy", b"one"), ("own", b"mine"), ("part-copy", b"one")]
    {
        assert_eq!(body_of(&c, b, key, None).await, want, "{key}");
    }
}

/// A store refusing writes without `x-amz-server-side-encryption` (the
/// usual bucket policy): the proxy's writes pass with `[upstream] sse` and
/// are refused, with the store's 403, without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_requires_encryption() {
    let dir = temp("settings-require-");
    let root = temp("settings-require-store-");
    let enforcing = s3seal_tests::require_sse::start(root.path()).expect("enforcing store");
    let upstream = Upstream::s3fs().expect("s3s-fs (for the credentials and key)");
    let start = |name: &str, upstream_config: &str| {
        let options = ProxyOptions {
            name: name.into(),
            upstream_endpoint: Some(enforcing.endpoint()),
            upstream_config: upstream_config.into(),
            ..Default::default()
        };
        ProxyProcess::start(&upstream, dir.path(), &options).expect("proxy")
    };
    let with = start("with", "sse = \"AES256\"");
    let without = start("without", "");
    let (cw, co) = (with.sdk_client(), without.sdk_client());
    cw.create_bucket().bucket("enforced").send().await.expect("CreateBucket");
    let put = |c: &aws_sdk_s3::Client, key: &str| {
        c.put_object().bucket("enforced").key(key).body(ByteStream::from_static(b"secret")).send()
    };
    put(&cw, "a").await.expect("PutObject with the setting");
    multipart(&cw, cw.create_multipart_upload(), "enforced", "b", b"parts").await;
    cw.copy_object().bucket("enforced").key("c").copy_source("enforced/a").send().await.expect("CopyObject");
    assert_eq!(body_of(&cw, "enforced", "a", None).await, b"secret");
    assert_eq!(body_of(&cw, "enforced", "b", None).await, b"parts");
    assert_eq!(body_of(&co, "enforced", "c", None).await, b"secret", "reads need no setting");

    let refused = put(&co, "d").await;
    assert_eq!((status(&refused), error_code(&refused).as_deref()), (403, Some("AccessDenied")), "{refused:?}");
    let create = co.create_multipart_upload().bucket("enforced").key("e").send().await;
    assert_eq!(status(&create), 403, "{create:?}");
    let copy = co.copy_object().bucket("enforced").key("f").copy_source("enforced/a").send().await;
    assert_eq!(status(&copy), 403, "{copy:?}");
    let own = co.put_object().bucket("enforced").key("g").server_side_encryption(ServerSideEncryption::Aes256);
    own.body(ByteStream::from_static(b"own")).send().await.expect("a client's own SSE header is forwarded");

    // x-amz-expected-bucket-owner reaches the store on reads (GET whole
    // and ranged, HEAD): the right account reads, another gets the store's 403.
    let owner = s3seal_tests::require_sse::OWNER;
    let get = |o: &str| co.get_object().bucket("enforced").key("a").expected_bucket_owner(o).send();
    assert_eq!(status(&get(owner).await), 200);
    assert_eq!(status(&get("999999999999").await), 403);
    let ranged = co.get_object().bucket("enforced").key("a").range("bytes=1-2").expected_bucket_owner("999999999999");
    assert_eq!(status(&ranged.send().await), 403);
    let head = |o: &str| co.head_object().bucket("enforced").key("a").expected_bucket_owner(o).send();
    assert_eq!(status(&head(owner).await), 200);
    assert_eq!(status(&head("999999999999").await), 403);
}

/// What the proxy cannot verify is refused, naming it: checksums other
/// than CRC32, CRC32C, CRC64NVME, SHA-1 and SHA-256, whole-object checksums
/// of a multipart upload; `x-amz-mp-object-size` is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverifiable_checksums_are_refused_and_sizes_checked() {
    let dir = temp("settings-checksums-");
    let proxy = ProxyProcess::start_embedded(dir.path(), &ProxyOptions::default()).expect("embedded proxy");
    let c = proxy.sdk_client();
    let b = "checksums";
    c.create_bucket().bucket(b).send().await.expect("CreateBucket");
    let put = c.put_object().bucket(b).key("x").body(ByteStream::from_static(b"data"));
    let r = put
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-amz-checksum-sha512", "AAAA");
        })
        .send()
        .await;
    assert_eq!((status(&r), error_code(&r).as_deref()), (501, Some("NotImplemented")), "{r:?}");
    assert!(format!("{r:?}").contains("x-amz-checksum-sha512"), "names it: {r:?}");
    assert!(c.head_object().bucket(b).key("x").send().await.is_err(), "nothing stored");

    let full =
        c.create_multipart_upload().bucket(b).key("m").checksum_type(aws_sdk_s3::types::ChecksumType::FullObject);
    let r = full.send().await;
    assert_eq!(status(&r), 501, "{r:?}");

    let complete = |size: Option<i64>, crc: Option<&'static str>| {
        let c = c.clone();
        async move {
            let up = c.create_multipart_upload().bucket(b).key("m").send().await.expect("CreateMultipartUpload");
            let id = up.upload_id().expect("upload id").to_string();
            let part = c.upload_part().bucket(b).key("m").upload_id(&id).part_number(1);
            let part = part.body(ByteStream::from_static(b"12345")).send().await.expect("UploadPart");
            let parts = vec![CompletedPart::builder().part_number(1).set_e_tag(part.e_tag).build()];
            c.complete_multipart_upload()
                .bucket(b)
                .key("m")
                .upload_id(&id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .set_mpu_object_size(size)
                .set_checksum_crc32(crc.map(str::to_string))
                .send()
                .await
        }
    };
    let r = complete(Some(6), None).await;
    assert_eq!((status(&r), error_code(&r).as_deref()), (400, Some("InvalidRequest")), "{r:?}");
    let r = complete(None, Some("AAAAAA==")).await;
    assert_eq!(status(&r), 501, "{r:?}");
    assert!(c.head_object().bucket(b).key("m").send().await.is_err(), "nothing completed");
    complete(Some(5), None).await.expect("the right size completes");
    assert_eq!(body_of(&c, b, "m", None).await, b"12345");

    // RenameObject (`PUT ?renameObject`, unknown to s3s 0.14.1) is refused,
    // not served as an empty PutObject.
    let rename = c.put_object().bucket(b).key("renamed").customize().mutate_request(|r| {
        let sep = if r.uri().contains('?') { '&' } else { '?' };
        let uri = format!("{}{sep}renameObject", r.uri());
        let _ = r.set_uri(uri);
        r.headers_mut().insert("x-amz-rename-source", "/checksums/m");
    });
    let r = rename.send().await;
    assert_eq!(status(&r), 501, "{r:?}");
    assert!(format!("{r:?}").contains("renameObject"), "names it: {r:?}");
    assert!(c.head_object().bucket(b).key("renamed").send().await.is_err(), "nothing written");
    assert_eq!(body_of(&c, b, "m", None).await, b"12345", "the source is untouched");
}

/// The same through the SDK's own client over moto: a default SSE on every
/// write (a request's own wins), Object Lock given in a template and seen
/// in `StoredSettings`, reads of a version, a version restored by a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_client_settings_versions_and_sse() {
    use aws_sdk_s3::operation::put_object::PutObjectInput;
    use s3seal::s3::{Client, Config, SseDefault};
    let moto = s3seal_tests::moto::MotoServer::start().expect("moto");
    let raw = s3seal_tests::s3client::moto_s3_client(&moto);
    let keyring = s3seal::keyring::RawAesKeyring::new("tests", "k", &[9u8; 32]).expect("keyring");
    let sse = SseDefault::parse("AES256", None, None).expect("SSE setting");
    let config = Config { server_side_encryption: Some(sse), ..Config::default() };
    let c = Client::with_cmm(
        raw.clone(),
        std::sync::Arc::new(s3seal::DefaultCmm::new(std::sync::Arc::new(keyring))),
        config,
    );
    let b = "sdk-settings";
    raw.create_bucket().bucket(b).object_lock_enabled_for_bucket(true).send().await.expect("CreateBucket");

    let v1 = c.put_object().bucket(b).key("k").body(b"first".to_vec()).send().await.expect("PUT 1");
    let head = raw.head_object().bucket(b).key("k").send().await.expect("HEAD on moto");
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256), "the default SSE");
    let until = DateTime::from_secs(4_000_000_000);
    let locked = PutObjectInput::builder()
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .server_side_encryption(ServerSideEncryption::AwsKms);
    let v2 = c.put_object().bucket(b).key("k").body(b"second".to_vec()).request(locked).send().await;
    let v2 = v2.expect("PUT with Object Lock (a checksum goes with it)");
    let head = c.head_object().bucket(b).key("k").send().await.expect("HEAD");
    assert_eq!(head.settings.object_lock_mode, Some(ObjectLockMode::Governance));
    assert_eq!(head.settings.object_lock_retain_until_date.map(|d| d.secs()), Some(until.secs()));
    assert_eq!(head.settings.server_side_encryption, Some(ServerSideEncryption::AwsKms), "the request's own SSE wins");

    let (v1, v2) = (v1.version_id.expect("version 1"), v2.version_id.expect("version 2"));
    let old = c.get_object().bucket(b).key("k").version_id(&v1).send().await.expect("GET v1");
    assert_eq!(old.body.collect().await.expect("body"), b"first");
    c.copy_object().source(b, "k").source_version_id(&v1).bucket(b).key("k").send().await.expect("restore v1");
    let now = c.get_object().bucket(b).key("k").send().await.expect("GET");
    assert_eq!(now.body.collect().await.expect("body"), b"first", "version 1 restored");
    let kept = c.get_object().bucket(b).key("k").version_id(&v2).send().await.expect("GET v2");
    assert_eq!(kept.body.collect().await.expect("body"), b"second");
}
