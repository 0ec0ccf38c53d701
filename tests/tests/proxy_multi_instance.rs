//! Two `s3seal proxy` processes with the same keyring and upstream share one
//! multipart upload (issue 4, must-show 4): parts go alternately to each,
//! one of them is stopped (SIGTERM) and started again in the middle, and
//! the object reads back byte-identical through both. Over `s3s-fs` (raw
//! AES key file shared by the two) and moto (one KMS key).

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3seal_tests::clients::{ProxyOptions, ProxyProcess, TestFile, Upstream, find_plaintext, plaintext};

const BUCKET: &str = "shared";
const PART: usize = 5 * 1024 * 1024;

async fn get(client: &aws_sdk_s3::Client, key: &str, range: Option<String>) -> Vec<u8> {
    let out = client.get_object().bucket(BUCKET).key(key).set_range(range).send().await.expect("GetObject");
    out.body.collect().await.expect("body").into_bytes().to_vec()
}

async fn shared_upload(upstream: &str) {
    let t0 = Instant::now();
    let dir = tempfile::Builder::new().prefix("proxy-multi-").tempdir().expect("temp dir");
    let upstream = Upstream::start(upstream).await.expect("upstream");
    let start = |name: &str| {
        ProxyProcess::start(&upstream, dir.path(), &ProxyOptions { name: name.into(), ..Default::default() })
            .expect("s3seal proxy")
    };
    let mut a = start("a");
    let mut b = start("b");
    assert_ne!(a.endpoint(), b.endpoint());

    let magic = 0x3a17_0000 | u32::from(upstream.name() == "moto");
    let data = plaintext(magic, 4 * PART + 1024 * 1024 + 123);
    let file = TestFile { name: "object".into(), data: data.clone(), magic };
    let key = "object";

    a.sdk_client().create_bucket().bucket(BUCKET).send().await.expect("CreateBucket");
    let created = b.sdk_client().create_multipart_upload().bucket(BUCKET).key(key).send().await.expect("Create");
    let upload_id = created.upload_id().expect("upload id").to_string();

    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(PART).enumerate() {
        let n = i as i32 + 1;
        // Parts 1, 3, 5 to a; 2, 4 to b; a restarts after part 2.
        if n == 3 {
            a.restart().expect("restarting a");
        }
        let (name, proxy) = if n % 2 == 1 { ("a", &a) } else { ("b", &b) };
        let r = proxy
            .sdk_client()
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&upload_id)
            .part_number(n)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n} through {name}: {e:?}\n--- log of {name}\n{}", proxy.log()));
        parts.push(CompletedPart::builder().part_number(n).set_e_tag(r.e_tag().map(str::to_string)).build());
    }

    // Either instance sees every part, with plaintext sizes.
    let listed =
        b.sdk_client().list_parts().bucket(BUCKET).key(key).upload_id(&upload_id).send().await.expect("ListParts");
    let sizes: Vec<i64> = listed.parts().iter().map(|p| p.size().unwrap_or(-1)).collect();
    let want: Vec<i64> = data.chunks(PART).map(|c| c.len() as i64).collect();
    assert_eq!(sizes, want, "ListParts through b");

    let done = a
        .sdk_client()
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!("CompleteMultipartUpload through the restarted a: {e:?}\n--- log of a\n{}", a.log())
        });
    assert!(done.e_tag().is_some_and(|e| e.trim_matches('"').ends_with("-5")), "{:?}", done.e_tag());

    assert!(get(&a.sdk_client(), key, None).await == data, "the object read through a differs");
    assert!(get(&b.sdk_client(), key, None).await == data, "the object read through b differs");
    let r = format!("bytes={}-{}", PART - 100, 3 * PART + 100);
    assert!(get(&b.sdk_client(), key, Some(r)).await == data[PART - 100..=3 * PART + 100], "a range across parts");

    // At rest: ciphertext of the format's size.
    let stored = upstream.direct_client().get_object().bucket(BUCKET).key(key).send().await.expect("direct GET");
    let stored = stored.body.collect().await.expect("body").into_bytes();
    assert_eq!(stored.len() as u64, s3seal::object::ciphertext_len(data.len() as u64, 65536));
    assert_eq!(find_plaintext(&stored, &[file]), None, "plaintext on the upstream");

    a.stop().expect("stopping a");
    b.stop().expect("stopping b");
    eprintln!("two proxies over {}: {:.1} s", upstream.name(), t0.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_share_an_upload_across_a_restart_s3fs() {
    shared_upload("s3fs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_share_an_upload_across_a_restart_moto() {
    shared_upload("moto").await;
}
