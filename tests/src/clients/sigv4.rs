//! A minimal AWS Signature Version 4 signer (header auth, signed chunks,
//! POST policies) for requests that SDKs will not make.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// `(YYYYMMDDTHHMMSSZ, YYYYMMDD)` for `t`.
pub fn amz_date(t: std::time::SystemTime) -> (String, String) {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let dt = aws_sdk_s3::primitives::DateTime::from_secs(secs as i64);
    let text = dt.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).unwrap_or_default();
    let compact: String = text.chars().filter(|c| *c != '-' && *c != ':').collect();
    let day = compact[..8].to_string();
    (compact, day)
}

/// One signer: credentials, time and scope.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The access key id.
    pub access_key: String,
    key: [u8; 32],
    /// `YYYYMMDDTHHMMSSZ`.
    pub date_time: String,
    /// `YYYYMMDD/REGION/s3/aws4_request`.
    pub scope: String,
}

impl Signer {
    /// A signer for S3 in `region` at time `t`.
    pub fn new(access_key: &str, secret_key: &str, region: &str, t: std::time::SystemTime) -> Self {
        Self::for_service(access_key, secret_key, region, "s3", t)
    }

    /// A signer for `service` (`s3`, or another, to test refusals) in
    /// `region` at time `t`.
    pub fn for_service(
        access_key: &str,
        secret_key: &str,
        region: &str,
        service: &str,
        t: std::time::SystemTime,
    ) -> Self {
        let (date_time, day) = amz_date(t);
        let k = hmac(format!("AWS4{secret_key}").as_bytes(), day.as_bytes());
        let k = hmac(&k, region.as_bytes());
        let k = hmac(&k, service.as_bytes());
        let key = hmac(&k, b"aws4_request");
        Self {
            access_key: access_key.to_string(),
            key,
            date_time,
            scope: format!("{day}/{region}/{service}/aws4_request"),
        }
    }

    /// The credential value, `AK/SCOPE`.
    pub fn credential(&self) -> String {
        format!("{}/{}", self.access_key, self.scope)
    }

    /// Signs `text` with the signing key; hex.
    pub fn sign(&self, text: &str) -> String {
        hex::encode(hmac(&self.key, text.as_bytes()))
    }

    /// Signs a request: `headers` must hold every header to sign
    /// (names lower case, including `host` and `x-amz-date`);
    /// `query` is the canonical query string. Returns the
    /// `Authorization` value and the signature.
    pub fn authorization(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        payload_hash: &str,
    ) -> (String, String) {
        let mut h: Vec<(String, String)> =
            headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
        h.sort();
        let canonical_headers: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let canonical = format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{payload_hash}");
        let to_sign =
            format!("AWS4-HMAC-SHA256\n{}\n{}\n{}", self.date_time, self.scope, sha256_hex(canonical.as_bytes()));
        let signature = self.sign(&to_sign);
        (
            format!("AWS4-HMAC-SHA256 Credential={}, SignedHeaders={signed}, Signature={signature}", self.credential()),
            signature,
        )
    }

    /// The signature of one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`
    /// body, chained on `previous`.
    pub fn chunk_signature(&self, previous: &str, chunk: &[u8]) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{}\n{}",
            self.date_time,
            self.scope,
            sha256_hex(b""),
            sha256_hex(chunk)
        );
        self.sign(&to_sign)
    }
}

/// A `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` PUT of `data` in `chunk`-byte
/// chunks to `path` on `host`, signed by `signer`. `tamper` is called
/// with the encoded body after signing (to corrupt it).
pub fn signed_chunked_put(
    signer: &Signer,
    host: &str,
    path: &str,
    data: &[u8],
    chunk: usize,
    tamper: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    const STREAMING: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    // The encoded length, computed before signing (it is a signed header).
    let mut sizes: Vec<usize> = data.chunks(chunk).map(<[u8]>::len).collect();
    sizes.push(0);
    let encoded_len: usize = sizes.iter().map(|n| format!("{n:x};chunk-signature=").len() + 64 + 2 + n + 2).sum();
    let headers = vec![
        ("host".to_string(), host.to_string()),
        ("x-amz-date".to_string(), signer.date_time.clone()),
        ("x-amz-content-sha256".to_string(), STREAMING.to_string()),
        ("content-encoding".to_string(), "aws-chunked".to_string()),
        ("x-amz-decoded-content-length".to_string(), data.len().to_string()),
        ("content-length".to_string(), encoded_len.to_string()),
    ];
    let (authorization, seed) = signer.authorization("PUT", path, "", &headers, STREAMING);
    let mut body = Vec::with_capacity(encoded_len);
    let mut previous = seed;
    for c in data.chunks(chunk).chain(std::iter::once(&[][..])) {
        let sig = signer.chunk_signature(&previous, c);
        body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
        previous = sig;
    }
    debug_assert_eq!(body.len(), encoded_len);
    tamper(&mut body);
    let mut req = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += &format!("authorization: {authorization}\r\nconnection: close\r\n\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(&body);
    out
}

/// A header-signed request with a fully hashed body.
pub fn signed_request(
    signer: &Signer,
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let payload_hash = sha256_hex(body);
    let mut headers = vec![
        ("host".to_string(), host.to_string()),
        ("x-amz-date".to_string(), signer.date_time.clone()),
        ("x-amz-content-sha256".to_string(), payload_hash.clone()),
        ("content-length".to_string(), body.len().to_string()),
    ];
    headers.extend(extra_headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())));
    let (authorization, _) = signer.authorization(method, path, query, &headers, &payload_hash);
    let target = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in &headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += &format!("authorization: {authorization}\r\nconnection: close\r\n\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::clients::sigv4;

    #[test]
    fn sigv4_matches_the_aws_example() {
        // The GET Object example of the S3 SigV4 documentation
        // (examplebucket, 20130524T000000Z, Range bytes=0-9).
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let signer =
            sigv4::Signer::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", t);
        assert_eq!(signer.date_time, "20130524T000000Z");
        let empty = sigv4::sha256_hex(b"");
        let headers = vec![
            ("host".to_string(), "examplebucket.s3.amazonaws.com".to_string()),
            ("range".to_string(), "bytes=0-9".to_string()),
            ("x-amz-content-sha256".to_string(), empty.clone()),
            ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
        ];
        let (_, sig) = signer.authorization("GET", "/test.txt", "", &headers, &empty);
        assert_eq!(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    }
}
