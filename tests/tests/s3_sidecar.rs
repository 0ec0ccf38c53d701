//! Envelopes too large for S3's 2 KB of user metadata go to a sidecar
//! object (`docs/FORMAT.md` section 2.1): written, read (whole, ranged,
//! HEAD), uploaded in parts, copied, deleted, and refused when the sidecar
//! is missing, altered or swapped. On s3s-fs and on moto.

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use aws_sdk_s3::primitives::ByteStream;
use s3seal::Error;
use s3seal::cmm::DefaultCmm;
use s3seal::keyring::{Keyring, MultiKeyring, RawAesKeyring};
use s3seal::s3::{Body, Client, Config, SIDECAR_PREFIX, SIDECAR_REF_KEY};
use s3seal_tests::clients::plaintext;
use s3seal_tests::moto::MotoServer;
use s3seal_tests::s3client::moto_s3_client;
use s3seal_tests::s3fs::S3FsServer;

const BUCKET: &str = "sidecar";

/// Sixteen raw AES keys with long names: an envelope of about 3 KB.
fn many_keys() -> Result<Arc<dyn Keyring>> {
    let mut keys: Vec<Arc<dyn Keyring>> = Vec::new();
    for i in 0..16u8 {
        let name = format!("a-rather-long-key-name-to-fill-the-envelope-{i:02}");
        keys.push(Arc::new(RawAesKeyring::new("s3seal-tests/sidecar", name, &[i; 32])?));
    }
    let generator = keys.remove(0);
    Ok(Arc::new(MultiKeyring::new(Some(generator), keys)?))
}

async fn sidecars(raw: &aws_sdk_s3::Client) -> Result<Vec<String>> {
    let list = raw.list_objects_v2().bucket(BUCKET).prefix(SIDECAR_PREFIX).send().await?;
    Ok(list.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect())
}

async fn exercise(raw: aws_sdk_s3::Client) -> Result<()> {
    raw.create_bucket().bucket(BUCKET).send().await.context("CreateBucket")?;
    // Sixteen encrypted data keys: over the default limit of 8, so allowed here.
    let config = Config { part_size: 5 * 1024 * 1024, max_encrypted_data_keys: Some(16), ..Config::default() };
    let client = Client::with_cmm(raw.clone(), Arc::new(DefaultCmm::new(many_keys()?)), config.clone());
    // A reader holding only one of the sixteen keys.
    let one = Arc::new(RawAesKeyring::new(
        "s3seal-tests/sidecar",
        "a-rather-long-key-name-to-fill-the-envelope-07",
        &[7; 32],
    )?);
    let reader = Client::with_cmm(raw.clone(), Arc::new(DefaultCmm::new(one)), config);

    let data = plaintext(0x51de_ca40, 200_001);
    client.put_object().bucket(BUCKET).key("big-envelope").body(data.clone()).metadata("color", "red").send().await?;
    let stored = raw.head_object().bucket(BUCKET).key("big-envelope").send().await?;
    let meta = stored.metadata().cloned().unwrap_or_default();
    ensure!(!meta.contains_key("s3seal-envelope"), "the envelope should not be inline: {meta:?}");
    let pointer = meta.get(SIDECAR_REF_KEY).context("no sidecar pointer")?.clone();
    ensure!(sidecars(&raw).await? == vec![format!("{SIDECAR_PREFIX}{pointer}")], "one sidecar");
    let listed = client.list_objects_v2().bucket(BUCKET).send().await?;
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    ensure!(keys == ["big-envelope"], "the client lists no sidecars: {keys:?}");

    let got = reader.get_object().bucket(BUCKET).key("big-envelope").send().await?;
    ensure!(got.headers.metadata.get("color").map(String::as_str) == Some("red"), "user metadata");
    ensure!(!got.headers.metadata.contains_key(SIDECAR_REF_KEY), "the pointer is hidden");
    ensure!(got.body.collect().await? == data, "whole read");
    let r = reader.get_object().bucket(BUCKET).key("big-envelope").range("bytes=65530-131100").send().await?;
    ensure!(r.body.collect().await? == data[65530..=131100], "ranged read");
    let h = reader.head_object().bucket(BUCKET).key("big-envelope").send().await?;
    ensure!(h.content_length == data.len() as u64, "HEAD size");
    ensure!(h.envelope.is_some_and(|e| e.encrypted_data_keys.len() == 16), "HEAD envelope");

    // Multipart upload with the same keys.
    let big = plaintext(0x51de_ca41, 11 * 1024 * 1024 + 3);
    client
        .upload()
        .bucket(BUCKET)
        .key("big-envelope-parts")
        .body(Body::from_reader(std::io::Cursor::new(big.clone())))
        .send()
        .await?;
    ensure!(reader.get_object().bucket(BUCKET).key("big-envelope-parts").send().await?.body.collect().await? == big);

    // Copy: a new envelope (re-bound to the new key), so a new sidecar.
    client.copy_object().source(BUCKET, "big-envelope").bucket(BUCKET).key("copied").send().await?;
    ensure!(reader.get_object().bucket(BUCKET).key("copied").send().await?.body.collect().await? == data, "copy");
    ensure!(sidecars(&raw).await?.len() == 3, "three sidecars after the copy");

    // Swapping sidecar pointers between objects is refused: the envelope
    // binds its object key.
    let copied_meta =
        raw.head_object().bucket(BUCKET).key("copied").send().await?.metadata().cloned().unwrap_or_default();
    let body = raw.get_object().bucket(BUCKET).key("big-envelope").send().await?.body.collect().await?.into_bytes();
    raw.put_object()
        .bucket(BUCKET)
        .key("swapped")
        .set_metadata(Some(copied_meta))
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await?;
    let swapped = reader.get_object().bucket(BUCKET).key("swapped").send().await;
    ensure!(matches!(swapped, Err(Error::Authentication(_))), "swapped pointer: {swapped:?}");

    // An altered sidecar is refused by its digest.
    let key = format!("{SIDECAR_PREFIX}{pointer}");
    let mut env = raw.get_object().bucket(BUCKET).key(&key).send().await?.body.collect().await?.into_bytes().to_vec();
    env[40] ^= 1;
    raw.put_object().bucket(BUCKET).key(&key).body(ByteStream::from(env)).send().await?;
    let altered = reader.get_object().bucket(BUCKET).key("big-envelope").send().await;
    ensure!(
        matches!(&altered, Err(Error::Malformed(m)) if m.contains("does not match its digest")),
        "altered sidecar: {altered:?}"
    );

    // Deleting an object deletes its sidecar; a missing sidecar is a clear error.
    client.delete_object().bucket(BUCKET).key("copied").send().await?;
    ensure!(sidecars(&raw).await?.len() == 2, "the copy's sidecar is deleted with it");
    raw.delete_object().bucket(BUCKET).key(&key).send().await?;
    let missing = reader.get_object().bucket(BUCKET).key("big-envelope").send().await;
    ensure!(matches!(&missing, Err(Error::Malformed(m)) if m.contains("is missing")), "missing sidecar: {missing:?}");

    // Small envelopes stay inline.
    let small = Client::with_cmm(
        raw.clone(),
        Arc::new(DefaultCmm::new(Arc::new(RawAesKeyring::new("n", "k", &[1; 32])?))),
        Config::default(),
    );
    small.put_object().bucket(BUCKET).key("small").body(b"tiny".to_vec()).send().await?;
    let m = raw.head_object().bucket(BUCKET).key("small").send().await?.metadata().cloned().unwrap_or_default();
    ensure!(m.contains_key("s3seal-envelope") && !m.contains_key(SIDECAR_REF_KEY), "inline envelope: {m:?}");

    // User metadata alone over the limit is still refused.
    let huge = "x".repeat(2100);
    let r = small.put_object().bucket(BUCKET).key("too-much").body(b"x".to_vec()).metadata("note", huge).send().await;
    ensure!(matches!(&r, Err(Error::InvalidParameter(m)) if m.contains("2048")), "oversized user metadata: {r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_envelopes_use_a_sidecar_on_s3s_fs() -> Result<()> {
    let fs = S3FsServer::start()?;
    exercise(fs.client()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_envelopes_use_a_sidecar_on_moto() -> Result<()> {
    let moto = MotoServer::start()?;
    exercise(moto_s3_client(&moto)).await
}

/// Through the proxy: objects with sidecar envelopes read back, and
/// listings do not show the sidecars.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_reads_sidecar_envelopes_and_hides_them_from_listings() -> Result<()> {
    use s3seal_tests::clients::{ProxyOptions, ProxyProcess, Upstream};
    let dir = tempfile::tempdir()?;
    let upstream = Upstream::s3fs()?;
    // Objects of sixteen encrypted data keys: over the default limit of 8.
    let options = ProxyOptions { extra_config: "max_encrypted_data_keys = 16\n".into(), ..ProxyOptions::default() };
    let proxy = ProxyProcess::start(&upstream, dir.path(), &options)?;
    // The proxy's own key (written by `key_spec`) generates; fifteen more wrap.
    let proxy_key: [u8; 32] =
        std::fs::read(dir.path().join("proxy.key"))?.try_into().map_err(|_| anyhow::anyhow!("key"))?;
    let mut children: Vec<Arc<dyn Keyring>> = Vec::new();
    for i in 1..16u8 {
        let name = format!("a-rather-long-key-name-to-fill-the-envelope-{i:02}");
        children.push(Arc::new(RawAesKeyring::new("s3seal-tests/sidecar", name, &[i; 32])?));
    }
    let generator: Arc<dyn Keyring> = Arc::new(RawAesKeyring::new("s3seal-tests", "proxy", &proxy_key)?);
    let keyring: Arc<dyn Keyring> = Arc::new(MultiKeyring::new(Some(generator), children)?);
    let raw = upstream.direct_client();
    raw.create_bucket().bucket(BUCKET).send().await?;
    let writer = Client::with_cmm(raw.clone(), Arc::new(DefaultCmm::new(keyring)), Config::default());
    let data = plaintext(0x51de_ca42, 100_000);
    writer.put_object().bucket(BUCKET).key("dir/object").body(data.clone()).send().await?;
    ensure!(sidecars(&raw).await?.len() == 1, "a sidecar was written");

    let c = proxy.sdk_client();
    let got = c.get_object().bucket(BUCKET).key("dir/object").send().await?;
    ensure!(got.content_length() == Some(100_000), "proxy GET length");
    ensure!(got.body.collect().await?.into_bytes() == data, "proxy GET bytes");
    let all = c.list_objects_v2().bucket(BUCKET).send().await?;
    let keys: Vec<&str> = all.contents().iter().filter_map(|o| o.key()).collect();
    ensure!(keys == ["dir/object"], "proxy listing: {keys:?}");
    ensure!(all.key_count() == Some(1), "key count {:?}", all.key_count());
    let top = c.list_objects_v2().bucket(BUCKET).delimiter("/").send().await?;
    let prefixes: Vec<&str> = top.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    ensure!(prefixes == ["dir/"], "proxy prefixes: {prefixes:?}");
    let v1 = c.list_objects().bucket(BUCKET).send().await?;
    ensure!(v1.contents().len() == 1, "ListObjects v1 shows sidecars");

    // Deleting through the proxy (DeleteObject, DeleteObjects) deletes the
    // sidecars too; an object without one is deleted as before.
    for key in ["dir/b", "dir/c"] {
        writer.put_object().bucket(BUCKET).key(key).body(data.clone()).send().await?;
    }
    c.put_object().bucket(BUCKET).key("plain-sized").body(ByteStream::from_static(b"small")).send().await?;
    ensure!(sidecars(&raw).await?.len() == 3, "three sidecars");
    c.delete_object().bucket(BUCKET).key("dir/object").send().await?;
    ensure!(sidecars(&raw).await?.len() == 2, "DeleteObject through the proxy deletes the sidecar");
    let ids = ["dir/b", "dir/c", "plain-sized", "never-existed"]
        .iter()
        .map(|k| aws_sdk_s3::types::ObjectIdentifier::builder().key(*k).build())
        .collect::<Result<Vec<_>, _>>()?;
    let delete = aws_sdk_s3::types::Delete::builder().set_objects(Some(ids)).build()?;
    c.delete_objects().bucket(BUCKET).delete(delete).send().await?;
    ensure!(sidecars(&raw).await?.is_empty(), "DeleteObjects through the proxy deletes the sidecars");
    let left = raw.list_objects_v2().bucket(BUCKET).send().await?;
    ensure!(left.contents().is_empty(), "everything deleted: {:?}", left.contents());
    Ok(())
}

/// In a bucket that keeps versions, deleting an object keeps its sidecar:
/// the older version still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_buckets_keep_the_sidecars_of_deleted_objects() -> Result<()> {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let moto = MotoServer::start()?;
    let raw = moto_s3_client(&moto);
    raw.create_bucket().bucket(BUCKET).send().await?;
    let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    raw.put_bucket_versioning().bucket(BUCKET).versioning_configuration(versioning).send().await?;
    let config = Config { max_encrypted_data_keys: Some(16), ..Config::default() };
    let client = Client::with_cmm(raw.clone(), Arc::new(DefaultCmm::new(many_keys()?)), config);
    let data = plaintext(0x51de_ca43, 70_000);
    client.put_object().bucket(BUCKET).key("kept").body(data.clone()).send().await?;
    let version =
        raw.head_object().bucket(BUCKET).key("kept").send().await?.version_id().context("version")?.to_string();
    ensure!(sidecars(&raw).await?.len() == 1, "a sidecar was written");
    client.delete_object().bucket(BUCKET).key("kept").send().await?;
    ensure!(sidecars(&raw).await?.len() == 1, "the sidecar stays in a versioned bucket");
    let old = client.get_object().bucket(BUCKET).key("kept").version_id(&version).send().await?;
    ensure!(old.body.collect().await? == data, "the older version reads");
    Ok(())
}
