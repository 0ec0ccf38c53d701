//! Tests of the settings: sources, precedence, defaults and refusals.

use std::path::PathBuf;
use std::time::Duration;

use s3seal::cache::CacheLimits;
use s3seal::object::ObjectSuite;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[test]
fn defaults_are_the_embedded_mode() {
    let s = Settings::default();
    assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(s.admin_listen.map(|a| a.to_string()).as_deref(), Some(DEFAULT_ADMIN_LISTEN));
    assert!(s.upstream.is_none() && s.clients.is_empty() && s.keys.is_empty() && s.tls.is_none());
    assert_eq!(s.frame_length, DEFAULT_FRAME_LENGTH);
    assert_eq!(s.cache, CacheLimits::default());
}

#[test]
fn full_file() {
    let p = PartialSettings::from_toml_str(
            r#"
            listen = "0.0.0.0:8443"
            admin_listen = "off"
            domains = ["s3.example.com"]
            keys = ["kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "aes:acme:escrow:/k"]
            frame_length = 1048576
            suite = "chacha20-poly1305"
            shutdown_timeout_secs = 5
            [tls]
            cert = "/c.pem"
            key = "/k.pem"
            [upstream]
            endpoint = "https://minio.internal:9000"
            region = "eu-west-1"
            access_key = "up"
            secret_key = "up-secret"
            [cache]
            max_age_secs = 60
            max_messages = 5
            max_bytes = 1000
            capacity = 7
            [[clients]]
            access_key = "a1"
            secret_key = "s1"
            [[clients]]
            access_key = "a2"
            secret_key = "s2"
            "#,
        )
        .unwrap();
    let s = p.resolve().unwrap();
    assert_eq!(s.admin_listen, None);
    assert_eq!(s.domains, ["s3.example.com"]);
    assert_eq!(s.keys.len(), 2);
    assert_eq!(s.suite, ObjectSuite::ChaCha20Poly1305Commit);
    assert_eq!(s.tls.unwrap().cert, PathBuf::from("/c.pem"));
    let u = s.upstream.unwrap();
    assert_eq!(u.endpoint.as_deref(), Some("https://minio.internal:9000"));
    assert!(u.path_style);
    assert_eq!(u.credentials.unwrap().secret_key.expose(), "up-secret");
    assert_eq!(s.cache.max_messages, 5);
    assert_eq!(s.cache.capacity, 7);
    assert_eq!(s.clients.len(), 2);
    assert_eq!(s.shutdown_timeout, Duration::from_secs(5));
}

#[test]
fn unknown_keys_are_refused() {
    let e = PartialSettings::from_toml_str("lisen = \"1.2.3.4:5\"").unwrap_err();
    assert!(e.to_string().contains("lisen"), "{e}");
}

#[test]
fn precedence_flags_env_file() {
    let file = PartialSettings::from_toml_str(
            "listen = \"127.0.0.1:1\"\nframe_length = 4096\n[upstream]\nendpoint = \"http://a:1\"\naccess_key = \"f\"\nsecret_key = \"fs\"\n[cache]\nmax_messages = 3\ncapacity = 9",
        )
        .unwrap();
    let env = PartialSettings::from_env_with(env(&[
        ("S3SEAL_LISTEN", "127.0.0.1:2"),
        ("S3SEAL_FRAME_LENGTH", "8192"),
        ("S3SEAL_UPSTREAM_ACCESS_KEY", "e"),
        ("S3SEAL_UPSTREAM_SECRET_KEY", "es"),
        ("S3SEAL_CACHE_MAX_MESSAGES", "4"),
        ("S3SEAL_CLIENT_CREDENTIALS", "c1:x, c2:y:z"),
        ("S3SEAL_KEYS", "aes:a:b:/k1;kms-discovery:111122223333,444455556666"),
    ]))
    .unwrap();
    let flags = PartialSettings { listen: Some("127.0.0.1:3".into()), ..Default::default() };
    let s = flags.over(env).over(file).resolve().unwrap();
    assert_eq!(s.listen.port(), 3);
    assert_eq!(s.frame_length, 8192);
    let u = s.upstream.unwrap();
    assert_eq!(u.endpoint.as_deref(), Some("http://a:1"));
    assert_eq!(u.credentials.unwrap().access_key, "e");
    assert_eq!((s.cache.max_messages, s.cache.capacity), (4, 9));
    assert_eq!(s.clients[1].secret_key.expose(), "y:z");
    assert_eq!(s.keys.len(), 2);
}

#[test]
fn refusals() {
    let bad = |toml: &str| PartialSettings::from_toml_str(toml).and_then(PartialSettings::resolve).unwrap_err();
    assert!(
        bad("keys = [\"aes:a:b:/k\"]\n[upstream]\nendpoint = \"http://a:1\"")
            .to_string()
            .contains("client credentials")
    );
    assert!(bad("keys = [\"nope:x\"]").to_string().contains("unknown key type"));
    assert!(bad("keys = [\"kms-discovery\"]").to_string().contains("only decrypt"));
    assert!(bad("keys = [\"kms:alias/x\"]").to_string().contains("key ARN"));
    assert!(bad("frame_length = 10").to_string().contains("power of two"));
    assert!(bad("frame_length = 2097152").to_string().contains("power of two"));
    assert!(bad("commitment_policy = \"sometimes\"").to_string().contains("commitment_policy"));
    assert!(bad("commitment_policy = \"forbid-encrypt-allow-decrypt\"").to_string().contains("always writes"));
    assert!(bad("[tls]\ncert = \"/c\"").to_string().contains("both"));
    assert!(bad("[upstream]\nregion = \"x\"").to_string().contains("no upstream endpoint"));
    assert!(bad("[upstream]\nendpoint = \"ftp://x\"").to_string().contains("http"));
    assert!(bad("listen = \"nowhere\"").to_string().contains("HOST:PORT"));
    assert!(bad("[cache]\nmax_age_secs = 0").to_string().contains("max_age"));
    let dup =
        "[[clients]]\naccess_key = \"a\"\nsecret_key = \"b\"\n[[clients]]\naccess_key = \"a\"\nsecret_key = \"c\"";
    assert!(bad(dup).to_string().contains("twice"));
}

#[test]
fn secrets_are_not_shown() {
    let s = PartialSettings::from_env_with(env(&[("S3SEAL_CLIENT_CREDENTIALS", "ak:very-secret")]))
        .unwrap()
        .resolve()
        .unwrap();
    let shown = format!("{s:?}");
    assert!(shown.contains("ak") && !shown.contains("very-secret"), "{shown}");
    let e = parse_client_credentials("ak-without-secret-very-secret").unwrap_err();
    assert!(!e.to_string().contains("very-secret"));
}

#[test]
fn aws_endpoint_is_virtual_host() {
    let s = PartialSettings::from_toml_str(
            "keys=[\"kms:alias/a\", \"kms-discovery\"]\n[upstream]\nendpoint=\"aws\"\n[[clients]]\naccess_key=\"a\"\nsecret_key=\"b\"",
        )
        .unwrap()
        .resolve()
        .unwrap();
    let u = s.upstream.unwrap();
    assert_eq!(u.endpoint, None);
    assert!(!u.path_style);
}

#[test]
fn payloads_go_unsigned_over_loopback_http_only() {
    let unsigned = |upstream: &str| {
        PartialSettings::from_toml_str(&format!(
                "keys=[\"kms:alias/a\", \"kms-discovery\"]\n[upstream]\n{upstream}\n[[clients]]\naccess_key=\"a\"\nsecret_key=\"b\""
            ))
            .unwrap()
            .resolve()
            .unwrap()
            .upstream
            .unwrap()
            .unsigned_payloads
    };
    assert!(unsigned("endpoint=\"http://127.0.0.1:9000\""));
    assert!(unsigned("endpoint=\"http://localhost:9000\""));
    assert!(unsigned("endpoint=\"http://[::1]:9000\""));
    assert!(!unsigned("endpoint=\"http://127.0.0.1:9000\"\nsign_payload=true"));
    assert!(!unsigned("endpoint=\"http://minio.internal:9000\""));
    assert!(!unsigned("endpoint=\"http://10.0.0.5:9000\""));
    assert!(unsigned("endpoint=\"http://minio.internal:9000\"\nsign_payload=false"));
    assert!(!unsigned("endpoint=\"https://127.0.0.1:9000\"\nsign_payload=false"));
    assert!(!unsigned("endpoint=\"aws\""));
}

#[test]
fn upstream_sse_from_every_source() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let upstream = |extra: &str| {
        PartialSettings::from_toml_str(&format!(
            "keys=[\"kms:alias/a\", \"kms-discovery\"]\n[upstream]\nendpoint=\"http://127.0.0.1:9000\"\n{extra}\n[[clients]]\naccess_key=\"a\"\nsecret_key=\"b\""
        ))
        .unwrap()
        .resolve()
    };
    let sse =
        upstream("sse=\"aws:kms\"\nsse_kms_key_id=\"alias/s3\"\nsse_bucket_key=true").unwrap().upstream.unwrap().sse;
    let sse = sse.unwrap();
    assert_eq!(sse.algorithm, ServerSideEncryption::AwsKms);
    assert_eq!(sse.kms_key_id.as_deref(), Some("alias/s3"));
    assert_eq!(sse.bucket_key_enabled, Some(true));
    assert_eq!(upstream("").unwrap().upstream.unwrap().sse, None);
    assert!(upstream("sse=\"aes256\"").is_err(), "spelled as the header spells it");
    assert!(upstream("sse=\"AES256\"\nsse_kms_key_id=\"k\"").is_err(), "a KMS key needs aws:kms");
    assert!(upstream("sse_kms_key_id=\"k\"").is_err(), "a KMS key without sse");

    let env = PartialSettings::from_env_with(|name| match name {
        "S3SEAL_UPSTREAM" => Some("http://127.0.0.1:9000".into()),
        "S3SEAL_UPSTREAM_SSE" => Some("AES256".into()),
        "S3SEAL_KEYS" => Some("kms:alias/a;kms-discovery".into()),
        "S3SEAL_CLIENT_CREDENTIALS" => Some("a:b".into()),
        _ => None,
    })
    .unwrap();
    let sse = env.resolve().unwrap().upstream.unwrap().sse.unwrap();
    assert_eq!(sse.algorithm, ServerSideEncryption::Aes256);

    let embedded = PartialSettings::from_env_with(|name| (name == "S3SEAL_UPSTREAM_SSE").then(|| "AES256".into()));
    let e = embedded.unwrap().resolve().unwrap_err();
    assert!(e.to_string().contains("embedded"), "{e}");
}

/// Request limits, client authentication and the EDK limit: defaults,
/// file, environment (over the file), and refusals.
#[test]
fn request_limits_and_auth() {
    let s = Settings::default();
    assert_eq!(s.requests.max_header_bytes, DEFAULT_MAX_HEADER_BYTES);
    assert_eq!(s.requests.max_xml_body_bytes, DEFAULT_MAX_XML_BODY_BYTES);
    assert_eq!(s.requests.max_object_bytes, DEFAULT_MAX_OBJECT_BYTES);
    assert_eq!((s.requests.body_timeout, s.requests.min_body_rate), (DEFAULT_BODY_TIMEOUT, DEFAULT_MIN_BODY_RATE));
    assert_eq!(s.auth, AuthSettings { region: ClientRegion::Upstream, insecure_allow_sigv2: false });
    assert_eq!(s.max_encrypted_data_keys, 8);

    let file = PartialSettings::from_toml_str(
        r#"
        max_encrypted_data_keys = 3
        [limits]
        max_header_bytes = 16384
        max_xml_body_bytes = 1000
        max_object_bytes = 2000
        body_timeout_secs = 7
        min_body_rate = 10
        [auth]
        region = "eu-west-1"
        "#,
    )
    .unwrap();
    let s = file.clone().resolve().unwrap();
    let want = RequestLimits {
        max_header_bytes: 16384,
        max_xml_body_bytes: 1000,
        max_object_bytes: 2000,
        body_timeout: Duration::from_secs(7),
        min_body_rate: 10,
    };
    assert_eq!(
        (s.requests, &s.auth.region, s.max_encrypted_data_keys),
        (want, &ClientRegion::Named("eu-west-1".into()), 3)
    );
    let env = PartialSettings::from_env_with(env(&[
        ("S3SEAL_CLIENT_REGION", "*"),
        ("S3SEAL_INSECURE_ALLOW_SIGV2", "true"),
        ("S3SEAL_BODY_TIMEOUT_SECS", "9"),
        ("S3SEAL_MAX_ENCRYPTED_DATA_KEYS", "4"),
    ]))
    .unwrap();
    let s = env.over(file).resolve().unwrap();
    assert_eq!(s.auth, AuthSettings { region: ClientRegion::Any, insecure_allow_sigv2: true });
    assert_eq!((s.requests.body_timeout, s.requests.max_object_bytes), (Duration::from_secs(9), 2000));
    assert_eq!(s.max_encrypted_data_keys, 4);

    for bad in [
        "[limits]\nmax_header_bytes = 4096",
        "[limits]\nbody_timeout_secs = 0",
        "max_encrypted_data_keys = 0",
        "[auth]\nregion = \"\"",
        "max_encrypted_data_keys = 1\nkeys = [\"aes:a:b:/k\", \"aes:a:c:/k\"]",
    ] {
        assert!(PartialSettings::from_toml_str(bad).unwrap().resolve().is_err(), "{bad}");
    }
}
