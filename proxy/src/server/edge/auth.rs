//! Authentication as strict as AWS, checked on the request's head (headers
//! and query, never the body) before `s3s` verifies the signature.
//!
//! `s3s` 0.14.1 verifies signatures but accepts more than AWS does: SigV2
//! (header and presigned) with no check of its date, SigV4 presigned URLs
//! valid for any `X-Amz-Expires`, any region and the service `sts` (whose
//! requests it hashes by reading up to 8 KiB of body) in the credential
//! scope, and signatures that do not cover `host`. The scheme is told
//! apart as `s3s` does (`Signature` query parameter, then an `AWS `
//! authorization header, then `X-Amz-Signature`, then an authorization
//! header), so that what is checked here is what `s3s` verifies next.
//! Anything this step cannot parse is left to `s3s`, which refuses it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use super::Refusal;

/// The authentication rules in force.
#[derive(Debug, Clone)]
pub(crate) struct AuthRules {
    /// The region clients must sign for; `None`: any.
    pub(crate) region: Option<String>,
    /// SigV2 is accepted (with its dates checked).
    pub(crate) insecure_allow_sigv2: bool,
}

/// The longest validity of a presigned URL (AWS: 7 days).
pub(super) const MAX_PRESIGNED_EXPIRES: u64 = 604_800;
/// The largest difference between a request's date and now (AWS: 15 min).
const MAX_SKEW: Duration = Duration::from_secs(900);
/// The signing algorithm of SigV4 (HMAC-SHA256).
const SIGV4_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A parsed query: names and values, percent-decoded as `s3s` does.
pub(super) type Query = [(String, String)];

fn param<'a>(query: &'a Query, name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Checks the request's authentication parameters against `auth`.
pub(super) fn check(auth: &AuthRules, headers: &HeaderMap, query: &Query, now: SystemTime) -> Result<(), Refusal> {
    let authorization = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if param(query, "Signature").is_some() {
        return sigv2_presigned(auth, query, now);
    }
    if let Some(a) = authorization
        && a.starts_with("AWS ")
    {
        return sigv2_header(auth, headers, now);
    }
    if param(query, "X-Amz-Signature").is_some() {
        return sigv4_presigned(auth, query);
    }
    match authorization {
        Some(a) => sigv4_header(auth, a),
        None => Ok(()),
    }
}

fn sigv2_refused() -> Refusal {
    Refusal::bad_request(
        "sigv2",
        "InvalidRequest",
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
    )
}

/// A SigV2 presigned URL: refused unless allowed; then its `Expires` at
/// most 7 days ahead (`s3s` refuses it once past).
fn sigv2_presigned(auth: &AuthRules, query: &Query, now: SystemTime) -> Result<(), Refusal> {
    if !auth.insecure_allow_sigv2 {
        return Err(sigv2_refused());
    }
    let Some(expires) = param(query, "Expires").and_then(|e| e.parse::<u64>().ok()) else { return Ok(()) };
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if expires.saturating_sub(now) > MAX_PRESIGNED_EXPIRES {
        return Err(Refusal::bad_request(
            "presign_expiry",
            "AuthorizationQueryParametersError",
            "Expires must be less than a week (in seconds) ahead; that is, at most 604800 seconds from now",
        ));
    }
    Ok(())
}

/// A SigV2 header signature: refused unless allowed; then its `Date` and
/// `x-amz-date` (those present) within 15 minutes of now, as SigV4's.
fn sigv2_header(auth: &AuthRules, headers: &HeaderMap, now: SystemTime) -> Result<(), Refusal> {
    if !auth.insecure_allow_sigv2 {
        return Err(sigv2_refused());
    }
    let dates: Vec<&str> = ["x-amz-date", "date"]
        .iter()
        .flat_map(|n| headers.get_all(*n).iter())
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    if dates.is_empty() {
        return Err(Refusal::forbidden(
            "sigv2_date",
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header",
        ));
    }
    for d in dates {
        let Some(t) = parse_date(d) else {
            return Err(Refusal::forbidden(
                "sigv2_date",
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
            ));
        };
        let skew = now.duration_since(t).unwrap_or_else(|e| e.duration());
        if skew > MAX_SKEW {
            return Err(Refusal::forbidden(
                "sigv2_date",
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
    }
    Ok(())
}

/// `Credential=AK/DATE/REGION/SERVICE/aws4_request`: region and service.
fn scope(credential: &str) -> Option<(&str, &str)> {
    let mut parts = credential.rsplitn(5, '/');
    let terminator = parts.next()?;
    let service = parts.next()?;
    let region = parts.next()?;
    let _date = parts.next()?;
    let _access_key = parts.next()?;
    (terminator == "aws4_request").then_some((region, service))
}

/// What is wrong with a credential scope, if anything.
fn scope_fault(auth: &AuthRules, region: &str, service: &str) -> Option<(&'static str, String)> {
    if service != "s3" {
        return Some(("scope_service", format!("incorrect service '{service}'. This endpoint belongs to 's3'.")));
    }
    match &auth.region {
        Some(want) if want != region => {
            Some(("scope_region", format!("the region '{region}' is wrong; expecting '{want}'")))
        }
        _ => None,
    }
}

fn signs_host(signed_headers: &str) -> bool {
    signed_headers.split(';').any(|h| h.trim().eq_ignore_ascii_case("host"))
}

/// A SigV4 presigned URL: `X-Amz-Expires` at most 7 days, the scope this
/// proxy's region and `s3`, `host` signed.
fn sigv4_presigned(auth: &AuthRules, query: &Query) -> Result<(), Refusal> {
    let malformed =
        |reason, message: String| Refusal::bad_request(reason, "AuthorizationQueryParametersError", &message);
    if let Some(expires) = param(query, "X-Amz-Expires").and_then(|e| e.parse::<u64>().ok())
        && expires > MAX_PRESIGNED_EXPIRES
    {
        return Err(malformed(
            "presign_expiry",
            "X-Amz-Expires must be less than a week (in seconds) that is; the given X-Amz-Expires must be less than 604800 seconds".into(),
        ));
    }
    if let Some((region, service)) = param(query, "X-Amz-Credential").and_then(scope)
        && let Some((reason, why)) = scope_fault(auth, region, service)
    {
        return Err(malformed(reason, format!("Error parsing the X-Amz-Credential parameter; {why}")));
    }
    if let Some(signed) = param(query, "X-Amz-SignedHeaders")
        && !signs_host(signed)
    {
        return Err(malformed("host_unsigned", "X-Amz-SignedHeaders must include host".into()));
    }
    Ok(())
}

/// A SigV4 `Authorization` header: the algorithm, the scope and `host`
/// among the signed headers.
fn sigv4_header(auth: &AuthRules, authorization: &str) -> Result<(), Refusal> {
    let Some((algorithm, rest)) = authorization.trim_start().split_once(' ') else { return Ok(()) };
    if algorithm != SIGV4_ALGORITHM {
        return Err(Refusal::bad_request("algorithm", "InvalidArgument", "Unsupported Authorization Type"));
    }
    let field = |name: &str| {
        rest.split(',').map(str::trim).find_map(|p| p.strip_prefix(name).and_then(|p| p.strip_prefix('=')))
    };
    let malformed = |reason, why: String| {
        Refusal::bad_request(
            reason,
            "AuthorizationHeaderMalformed",
            &format!("The authorization header is malformed; {why}"),
        )
    };
    if let Some((region, service)) = field("Credential").and_then(scope)
        && let Some((reason, why)) = scope_fault(auth, region, service)
    {
        return Err(malformed(reason, why));
    }
    if let Some(signed) = field("SignedHeaders")
        && !signs_host(signed)
    {
        return Err(malformed("host_unsigned", "the host header must be signed (SignedHeaders lacks host)".into()));
    }
    Ok(())
}

/// An HTTP date (RFC 1123, RFC 850 or asctime) or an ISO 8601 basic
/// timestamp (`20130524T000000Z`), as SigV2 clients send.
fn parse_date(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    httpdate::parse_http_date(s).ok().or_else(|| parse_amz_date(s))
}

/// `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num =
        |r: std::ops::Range<usize>| s.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit()))?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(region: Option<&str>, sigv2: bool) -> AuthRules {
        AuthRules { region: region.map(String::from), insecure_allow_sigv2: sigv2 }
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn code(r: Result<(), Refusal>) -> Option<(u16, &'static str)> {
        r.err().map(|e| (e.status.as_u16(), e.code))
    }

    #[test]
    fn amz_dates_parse() {
        let t = parse_amz_date("20130524T000000Z").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_369_353_600);
        assert!(parse_amz_date("2013052T000000ZZ").is_none());
        let t = parse_date("Fri, 24 May 2013 00:00:00 GMT").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_369_353_600);
    }

    #[test]
    fn sigv4_header_scope_and_host() {
        let auth = settings(Some("us-east-1"), false);
        let h = |cred: &str, signed: &str| {
            format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}, Signature=abc")
        };
        let ok = h("AK/20260101/us-east-1/s3/aws4_request", "host;x-amz-date");
        assert_eq!(code(sigv4_header(&auth, &ok)), None);
        let sts = h("AK/20260101/us-east-1/sts/aws4_request", "host;x-amz-date");
        assert_eq!(code(sigv4_header(&auth, &sts)), Some((400, "AuthorizationHeaderMalformed")));
        let region = h("AK/20260101/eu-west-1/s3/aws4_request", "host;x-amz-date");
        assert_eq!(code(sigv4_header(&auth, &region)), Some((400, "AuthorizationHeaderMalformed")));
        assert_eq!(code(sigv4_header(&settings(None, false), &region)), None);
        let unsigned_host = h("AK/20260101/us-east-1/s3/aws4_request", "x-amz-date");
        assert_eq!(code(sigv4_header(&auth, &unsigned_host)), Some((400, "AuthorizationHeaderMalformed")));
        assert_eq!(code(sigv4_header(&auth, "AWS4-ECDSA-P256-SHA256 Credential=x")), Some((400, "InvalidArgument")));
    }

    #[test]
    fn presigned_limits() {
        let auth = settings(Some("us-east-1"), false);
        let base = [
            ("X-Amz-Signature", "abc"),
            ("X-Amz-Credential", "AK/20260101/us-east-1/s3/aws4_request"),
            ("X-Amz-SignedHeaders", "host"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut v = q(&base);
            v.retain(|(k, _)| k != extra.0);
            v.push((extra.0.to_string(), extra.1.to_string()));
            v
        };
        let headers = HeaderMap::new();
        let now = SystemTime::now();
        assert_eq!(code(check(&auth, &headers, &with(("X-Amz-Expires", "604800")), now)), None);
        assert_eq!(
            code(check(&auth, &headers, &with(("X-Amz-Expires", "604801")), now)),
            Some((400, "AuthorizationQueryParametersError"))
        );
        assert!(code(check(&auth, &headers, &with(("X-Amz-SignedHeaders", "x-amz-date")), now)).is_some());
        assert!(
            code(check(&auth, &headers, &with(("X-Amz-Credential", "AK/20260101/us-east-1/sts/aws4_request")), now))
                .is_some()
        );
        // SigV2 presigned: refused, unless allowed (then 7 days at most).
        let v2 = |expires: u64| {
            let e = (now.duration_since(UNIX_EPOCH).unwrap().as_secs() + expires).to_string();
            vec![
                ("AWSAccessKeyId".to_string(), "AK".to_string()),
                ("Signature".into(), "x".into()),
                ("Expires".into(), e),
            ]
        };
        assert_eq!(code(check(&auth, &headers, &v2(60), now)), Some((400, "InvalidRequest")));
        let allowed = settings(Some("us-east-1"), true);
        assert_eq!(code(check(&allowed, &headers, &v2(60), now)), None);
        assert!(code(check(&allowed, &headers, &v2(MAX_PRESIGNED_EXPIRES + 60), now)).is_some());
    }

    #[test]
    fn sigv2_header_dates() {
        let now = SystemTime::now();
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "AWS AK:sig".parse().unwrap());
        assert_eq!(code(check(&settings(None, false), &headers, &[], now)), Some((400, "InvalidRequest")));
        let allowed = settings(None, true);
        assert_eq!(code(check(&allowed, &headers, &[], now)), Some((403, "AccessDenied")));
        headers.insert("date", httpdate::fmt_http_date(now).parse().unwrap());
        assert_eq!(code(check(&allowed, &headers, &[], now)), None);
        headers.insert("date", httpdate::fmt_http_date(now - Duration::from_secs(1000)).parse().unwrap());
        assert_eq!(code(check(&allowed, &headers, &[], now)), Some((403, "RequestTimeTooSkewed")));
    }
}
