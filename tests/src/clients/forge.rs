//! Hand-made requests for the proxy's attack tests (`proxy_attacks`):
//! SigV2 signatures, SigV4 presigned URLs with any expiry or signed
//! headers, header signatures without `host`, `aws-chunked` bodies with a
//! chosen declared length and with or without their final chunk, and
//! signed browser POST forms. Each returns a whole HTTP/1.1 request
//! (`Connection: close`) for [`raw_http`](super::raw_http).

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};

use super::sigv4::{Signer, sha256_hex};

/// The `UNSIGNED-PAYLOAD` payload hash.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// S3's URI encoding (everything but unreserved characters escaped).
pub fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn finish(method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "connection: close\r\n\r\n";
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A SigV2 header-signed GET of `path` (`/bucket/key`) with `date` as its
/// `Date` header (HTTP date).
pub fn sigv2_get(access_key: &str, secret_key: &str, host: &str, path: &str, date: &str) -> Vec<u8> {
    let signature = sigv2_signature(secret_key, &format!("GET\n\n\n{date}\n{path}"));
    let headers = vec![
        ("host".to_string(), host.to_string()),
        ("date".to_string(), date.to_string()),
        ("authorization".to_string(), format!("AWS {access_key}:{signature}")),
    ];
    finish("GET", path, &headers, b"")
}

/// A SigV2 presigned GET of `path`, expiring at `expires` (Unix seconds).
pub fn sigv2_presigned_get(access_key: &str, secret_key: &str, host: &str, path: &str, expires: u64) -> Vec<u8> {
    let signature = sigv2_signature(secret_key, &format!("GET\n\n\n{expires}\n{path}"));
    let target = format!(
        "{path}?AWSAccessKeyId={}&Expires={expires}&Signature={}",
        uri_encode(access_key),
        uri_encode(&signature)
    );
    finish("GET", &target, &[("host".to_string(), host.to_string())], b"")
}

fn sigv2_signature(secret_key: &str, string_to_sign: &str) -> String {
    let mut m = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key");
    m.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// A SigV4 presigned GET of `path` valid `expires` seconds, signing the
/// headers `signed` (name, value; lower case), which it also sends. A
/// `Host` header is always sent; it is signed only if listed.
pub fn presigned_get(signer: &Signer, host: &str, path: &str, expires: u64, signed: &[(&str, &str)]) -> Vec<u8> {
    let names: Vec<&str> = {
        let mut n: Vec<&str> = signed.iter().map(|(k, _)| *k).collect();
        n.sort_unstable();
        n
    };
    let mut query = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_string()),
        ("X-Amz-Credential", signer.credential()),
        ("X-Amz-Date", signer.date_time.clone()),
        ("X-Amz-Expires", expires.to_string()),
        ("X-Amz-SignedHeaders", names.join(";")),
    ];
    query.sort();
    let canonical: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", uri_encode(v))).collect();
    let canonical = canonical.join("&");
    let headers: Vec<(String, String)> = signed.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (_, signature) = signer.authorization("GET", path, &canonical, &headers, UNSIGNED_PAYLOAD);
    let mut sent = headers;
    if !sent.iter().any(|(k, _)| k == "host") {
        sent.push(("host".to_string(), host.to_string()));
    }
    finish("GET", &format!("{path}?{canonical}&X-Amz-Signature={signature}"), &sent, b"")
}

/// A SigV4 header-signed GET of `path`; `host` is among the signed
/// headers only if `sign_host` (the `Host` header is sent either way).
pub fn header_signed_get(signer: &Signer, host: &str, path: &str, sign_host: bool) -> Vec<u8> {
    let empty = sha256_hex(b"");
    let mut headers =
        vec![("x-amz-date".to_string(), signer.date_time.clone()), ("x-amz-content-sha256".to_string(), empty.clone())];
    if sign_host {
        headers.push(("host".to_string(), host.to_string()));
    }
    let (authorization, _) = signer.authorization("GET", path, "", &headers, &empty);
    if !sign_host {
        headers.push(("host".to_string(), host.to_string()));
    }
    headers.push(("authorization".to_string(), authorization));
    finish("GET", path, &headers, b"")
}

/// The head of a SigV4 header-signed request with an `UNSIGNED-PAYLOAD`
/// body of `content_length` bytes (the body is not included: send it as
/// you like). `query` is canonical.
pub fn unsigned_payload_head(
    signer: &Signer,
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    content_length: u64,
) -> Vec<u8> {
    let mut headers = vec![
        ("host".to_string(), host.to_string()),
        ("x-amz-date".to_string(), signer.date_time.clone()),
        ("x-amz-content-sha256".to_string(), UNSIGNED_PAYLOAD.to_string()),
        ("content-length".to_string(), content_length.to_string()),
    ];
    let (authorization, _) = signer.authorization(method, path, query, &headers, UNSIGNED_PAYLOAD);
    headers.push(("authorization".to_string(), authorization));
    let target = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
    finish(method, &target, &headers, b"")
}

/// A `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` PUT of `chunks` (each signed in
/// turn), with the final zero-length chunk only if `final_chunk`, that
/// declares `decoded_length` in `x-amz-decoded-content-length`. Its
/// `Content-Length` is the encoded body's real length.
pub fn chunked_put(
    signer: &Signer,
    host: &str,
    path: &str,
    chunks: &[&[u8]],
    final_chunk: bool,
    decoded_length: u64,
) -> Vec<u8> {
    const STREAMING: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    let line = |n: usize| format!("{n:x};chunk-signature=").len() + 64 + 2;
    let mut encoded_len: usize = chunks.iter().map(|c| line(c.len()) + c.len() + 2).sum();
    if final_chunk {
        encoded_len += line(0) + 2;
    }
    let mut headers = vec![
        ("host".to_string(), host.to_string()),
        ("x-amz-date".to_string(), signer.date_time.clone()),
        ("x-amz-content-sha256".to_string(), STREAMING.to_string()),
        ("content-encoding".to_string(), "aws-chunked".to_string()),
        ("x-amz-decoded-content-length".to_string(), decoded_length.to_string()),
        ("content-length".to_string(), encoded_len.to_string()),
    ];
    let (authorization, seed) = signer.authorization("PUT", path, "", &headers, STREAMING);
    let mut body = Vec::with_capacity(encoded_len);
    let mut previous = seed;
    let last: &[&[u8]] = if final_chunk { &[b""] } else { &[] };
    for c in chunks.iter().chain(last.iter()) {
        let sig = signer.chunk_signature(&previous, c);
        body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
        previous = sig;
    }
    assert_eq!(body.len(), encoded_len);
    headers.push(("authorization".to_string(), authorization));
    finish("PUT", path, &headers, &body)
}

/// A browser POST upload of `content` as `key` to `bucket`, with a policy
/// signed by `signer` (SigV4), as a browser form sends it.
pub fn signed_post_form(signer: &Signer, host: &str, bucket: &str, key: &str, content: &str) -> Vec<u8> {
    let date_time = signer.date_time.clone();
    let credential = signer.credential();
    let expiration =
        aws_sdk_s3::primitives::DateTime::from(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
            .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
            .unwrap_or_default();
    let policy = format!(
        r#"{{"expiration":"{expiration}","conditions":[{{"bucket":"{bucket}"}},["starts-with","$key",""],{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},{{"x-amz-credential":"{credential}"}},{{"x-amz-date":"{date_time}"}}]}}"#
    );
    let policy = base64::engine::general_purpose::STANDARD.encode(policy);
    let signature = signer.sign(&policy);
    let boundary = "s3sealattackboundary7MA4YWxk";
    let mut form = String::new();
    for (name, value) in [
        ("key", key),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", credential.as_str()),
        ("x-amz-date", date_time.as_str()),
        ("policy", policy.as_str()),
        ("x-amz-signature", signature.as_str()),
    ] {
        form += &format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
    }
    form += &format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    let headers = vec![
        ("host".to_string(), host.to_string()),
        ("content-type".to_string(), format!("multipart/form-data; boundary={boundary}")),
        ("content-length".to_string(), form.len().to_string()),
    ];
    finish("POST", &format!("/{bucket}"), &headers, form.as_bytes())
}
