//! The edge: what every client request passes before `s3s` sees it.
//!
//! Only the request's head (method, path, query, headers) is looked at,
//! never its body, so a refused request costs no more than its head:
//!
//! * browser POST uploads (`multipart/form-data`) are refused with `501
//!   NotImplemented` (`s3s` would read the form, and then the whole file
//!   into memory, before any signature check);
//! * authentication is held to AWS's rules ([`auth`]): SigV2 refused unless
//!   allowed, presigned URLs valid 7 days at most, the credential scope
//!   this proxy's region and `s3`, `host` signed;
//! * declared sizes are checked: an object body over `max_object_bytes`
//!   (`400 EntityTooLarge`), any other body over `max_xml_body_bytes`
//!   (`400 MaxMessageLengthExceeded`).
//!
//! The body of an admitted request is passed on guarded ([`body`]): a
//! minimum rate, and the framing of `aws-chunked` uploads. A body fault
//! decides the answer (`400 RequestTimeout`, `400 IncompleteBody`, ...),
//! whatever the handler made of the failed read. Every refusal is logged
//! at info with its reason and counted in
//! `s3seal_requests_refused_total{reason}`.

mod auth;
mod body;

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method, StatusCode};
use hyper::body::Incoming;

use crate::config::RequestLimits;
use crate::metrics::Metrics;
pub(crate) use auth::AuthRules;
use body::{FaultSlot, GuardedBody};

/// A request refused at the edge: the S3 error clients get.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The log reason and metric label.
    reason: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, reason: &'static str, code: &'static str, message: &str) -> Self {
        Self { status, code, message: message.to_string(), reason }
    }

    fn bad_request(reason: &'static str, code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason, code, message)
    }

    fn forbidden(reason: &'static str, code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason, code, message)
    }
}

/// The rules of the edge, shared by every connection.
#[derive(Debug)]
pub(crate) struct Edge {
    auth: AuthRules,
    limits: RequestLimits,
    metrics: Arc<Metrics>,
}

/// What an admitted request's body is watched for.
#[derive(Debug)]
pub(crate) struct Admitted {
    fault: Arc<FaultSlot>,
}

impl Edge {
    pub(crate) fn new(auth: AuthRules, limits: RequestLimits, metrics: Arc<Metrics>) -> Self {
        Self { auth, limits, metrics }
    }

    /// Admits `req` with its body guarded, or answers it now.
    pub(crate) fn admit(
        &self,
        req: http::Request<Incoming>,
    ) -> Result<(s3s::HttpRequest, Admitted), Box<s3s::HttpResponse>> {
        let chunked_length = match self.screen(&req) {
            Ok(c) => c,
            Err(r) => return Err(Box::new(self.refuse(req.method(), req.uri().path(), has_body(req.headers()), &r))),
        };
        let fault = Arc::new(FaultSlot::default());
        let (parts, incoming) = req.into_parts();
        let guarded = GuardedBody::new(
            incoming,
            self.limits.body_timeout,
            self.limits.min_body_rate,
            chunked_length,
            fault.clone(),
        );
        let req = http::Request::from_parts(parts, s3s::Body::http_body_unsync(guarded));
        Ok((req, Admitted { fault }))
    }

    /// The answer to an admitted request: the handler's, unless its body
    /// had a fault, which then decides it.
    pub(crate) fn settle(
        &self,
        method: &Method,
        path: &str,
        admitted: &Admitted,
        result: Result<s3s::HttpResponse, s3s::HttpError>,
    ) -> Result<s3s::HttpResponse, s3s::HttpError> {
        match admitted.fault.get() {
            None => result,
            Some(f) => {
                let (code, message) = f.answer();
                Ok(self.refuse(method, path, true, &Refusal::bad_request(f.reason(), code, &message)))
            }
        }
    }

    /// Logs and counts `r`, and makes its answer (closing the connection
    /// when a body may be left unread).
    fn refuse(&self, method: &Method, path: &str, body_left: bool, r: &Refusal) -> s3s::HttpResponse {
        tracing::info!(%method, %path, reason = r.reason, code = r.code, status = r.status.as_u16(), message = %r.message, "request refused");
        self.metrics.request_refused(r.reason);
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            r.code,
            xml_escape(&r.message)
        );
        let mut resp = http::Response::new(s3s::Body::from(xml));
        *resp.status_mut() = r.status;
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
        if body_left {
            h.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        resp
    }

    /// Checks the head of `req`; for an `aws-chunked` upload, returns its
    /// declared decoded length.
    fn screen(&self, req: &http::Request<Incoming>) -> Result<Option<u64>, Refusal> {
        let headers = req.headers();
        if req.method() == Method::POST && is_form_upload(headers) {
            return Err(Refusal::new(
                StatusCode::NOT_IMPLEMENTED,
                "post_upload",
                "NotImplemented",
                "Browser POST uploads (multipart/form-data) are not supported through s3seal: upload with PUT.",
            ));
        }
        // A query s3s cannot parse is refused by s3s (InvalidURI).
        let query: Vec<(String, String)> =
            req.uri().query().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
        auth::check(&self.auth, headers, &query, SystemTime::now())?;
        self.sizes(req.method(), headers, &query)
    }

    /// The declared sizes against the limits.
    fn sizes(&self, method: &Method, headers: &HeaderMap, query: &auth::Query) -> Result<Option<u64>, Refusal> {
        let number = |name| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        let chunked = headers.get("x-amz-content-sha256").is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"));
        let decoded = if chunked { number("x-amz-decoded-content-length") } else { None };
        let content_length = number("content-length");
        if is_object_write(method, query) {
            let plaintext = if chunked { decoded } else { content_length };
            if plaintext.is_some_and(|n| n > self.limits.max_object_bytes) {
                return Err(Refusal::bad_request(
                    "too_large",
                    "EntityTooLarge",
                    &format!(
                        "Your proposed upload exceeds the maximum allowed size ({} bytes).",
                        self.limits.max_object_bytes
                    ),
                ));
            }
        } else if content_length.or(decoded).is_some_and(|n| n > self.limits.max_xml_body_bytes as u64) {
            return Err(Refusal::bad_request(
                "xml_too_large",
                "MaxMessageLengthExceeded",
                &format!("Your request was too big (at most {} bytes).", self.limits.max_xml_body_bytes),
            ));
        }
        Ok(decoded)
    }
}

/// A POST of a form: what `s3s` takes for a browser POST upload (it checks
/// `multipart/form-data`; any `multipart/` type is refused here).
fn is_form_upload(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CONTENT_TYPE)
        .iter()
        .any(|v| String::from_utf8_lossy(v.as_bytes()).trim_start().to_ascii_lowercase().starts_with("multipart/"))
}

/// A PutObject or UploadPart: a PUT whose query names no subresource
/// (only the part, the upload and authentication parameters).
fn is_object_write(method: &Method, query: &auth::Query) -> bool {
    method == Method::PUT
        && query.iter().all(|(k, _)| {
            matches!(k.as_str(), "partNumber" | "uploadId" | "x-id" | "AWSAccessKeyId" | "Expires" | "Signature")
                || k.starts_with("X-Amz-")
                || k.starts_with("x-amz-")
        })
}

/// True unless the request says it has no body.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers.get(http::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_writes_and_forms_are_told_apart() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(is_object_write(&Method::PUT, &q(&[])));
        assert!(is_object_write(&Method::PUT, &q(&[("partNumber", "1"), ("uploadId", "x")])));
        assert!(is_object_write(&Method::PUT, &q(&[("X-Amz-Signature", "x"), ("x-id", "PutObject")])));
        assert!(!is_object_write(&Method::PUT, &q(&[("tagging", "")])));
        assert!(!is_object_write(&Method::POST, &q(&[("delete", "")])));
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, "Multipart/Form-Data; boundary=x".parse().unwrap());
        assert!(is_form_upload(&h));
        h.insert(http::header::CONTENT_TYPE, "application/xml".parse().unwrap());
        assert!(!is_form_upload(&h));
        assert_eq!(xml_escape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
    }
}
