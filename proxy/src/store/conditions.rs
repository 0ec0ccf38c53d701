//! Conditional requests, as S3 evaluates them: reads (`If-Match`,
//! `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`, in RFC 9110's
//! order) and writes (`If-None-Match: *`, `If-Match`), checked by the store
//! against the current object under the key's lock.

use s3s::dto::{ETagCondition, Timestamp};
use s3s::{S3Result, s3_error};

use super::file::Meta;

/// The `If-*` headers of a read (or of a copy's source).
#[derive(Debug, Default)]
pub(crate) struct ReadConditions {
    pub if_match: Option<ETagCondition>,
    pub if_none_match: Option<ETagCondition>,
    pub if_modified_since: Option<Timestamp>,
    pub if_unmodified_since: Option<Timestamp>,
}

fn matches(c: &ETagCondition, etag: &str) -> bool {
    match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(t) => t.value() == etag,
    }
}

/// Whole seconds since the epoch (HTTP dates have no finer precision).
fn secs(t: &Timestamp) -> S3Result<i64> {
    let t: aws_sdk_s3::primitives::DateTime = s3s_aws::conv::try_into_aws(t.clone())?;
    Ok(t.secs())
}

impl ReadConditions {
    /// Checks a read of `meta`: `412 PreconditionFailed`, or (when
    /// `not_modified_fails` is false, as for GET and HEAD) `304 NotModified`.
    pub fn check(&self, meta: &Meta, not_modified_fails: bool) -> S3Result<()> {
        let modified = meta.modified_ms.div_euclid(1000);
        if let Some(c) = &self.if_match {
            if !matches(c, &meta.etag) {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        } else if let Some(t) = &self.if_unmodified_since
            && modified > secs(t)?
        {
            return Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"));
        }
        let not_modified = match (&self.if_none_match, &self.if_modified_since) {
            (Some(c), _) => matches(c, &meta.etag),
            (None, Some(t)) => modified <= secs(t)?,
            (None, None) => false,
        };
        if not_modified {
            return Err(if not_modified_fails {
                s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
            } else {
                s3_error!(NotModified)
            });
        }
        Ok(())
    }
}

/// The conditions of a write (PutObject, CompleteMultipartUpload,
/// CopyObject's destination) or a delete (`If-Match` only).
#[derive(Debug, Default)]
pub(crate) struct WriteConditions {
    pub if_match: Option<ETagCondition>,
    pub if_none_match: Option<ETagCondition>,
}

impl WriteConditions {
    /// Refuses what S3 does not implement either: `If-None-Match` with an
    /// ETag rather than `*`.
    pub fn validate(&self) -> S3Result<()> {
        if let Some(ETagCondition::ETag(_)) = &self.if_none_match {
            return Err(s3_error!(NotImplemented, "If-None-Match on a write only takes '*'"));
        }
        Ok(())
    }

    /// Checks the write against the current object (`None`: no object).
    pub fn check(&self, current: Option<&Meta>) -> S3Result<()> {
        if self.if_none_match.is_some() && current.is_some() {
            return Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"));
        }
        if let Some(c) = &self.if_match {
            match current {
                None => return Err(s3_error!(NoSuchKey)),
                Some(m) if !matches(c, &m.etag) => {
                    return Err(s3_error!(
                        PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold"
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Whether there is anything to check.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::ETag;

    fn meta() -> Meta {
        Meta { etag: "abc".into(), modified_ms: 10_500, ..Default::default() }
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }

    fn etag(v: &str) -> Option<ETagCondition> {
        Some(ETagCondition::ETag(ETag::Strong(v.into())))
    }

    fn code(r: S3Result<()>) -> Option<String> {
        r.err().map(|e| e.code().as_str().to_string())
    }

    #[test]
    fn reads_in_rfc_order() {
        let m = meta();
        let c = |if_match, if_none_match, ims, ius| ReadConditions {
            if_match,
            if_none_match,
            if_modified_since: ims,
            if_unmodified_since: ius,
        };
        assert_eq!(code(c(etag("abc"), None, None, None).check(&m, false)), None);
        assert_eq!(code(c(etag("x"), None, None, None).check(&m, false)).as_deref(), Some("PreconditionFailed"));
        assert_eq!(code(c(None, etag("abc"), None, None).check(&m, false)).as_deref(), Some("NotModified"));
        assert_eq!(code(c(None, etag("abc"), None, None).check(&m, true)).as_deref(), Some("PreconditionFailed"));
        assert_eq!(
            code(c(None, Some(ETagCondition::Any), None, None).check(&m, false)).as_deref(),
            Some("NotModified")
        );
        assert_eq!(code(c(None, None, Some(at(10)), None).check(&m, false)).as_deref(), Some("NotModified"));
        assert_eq!(code(c(None, None, Some(at(9)), None).check(&m, false)), None);
        assert_eq!(code(c(None, None, None, Some(at(9))).check(&m, false)).as_deref(), Some("PreconditionFailed"));
        assert_eq!(code(c(None, None, None, Some(at(10))).check(&m, false)), None);
        // If-Match holding overrides If-Unmodified-Since; If-None-Match
        // failing to match overrides If-Modified-Since.
        assert_eq!(code(c(etag("abc"), None, None, Some(at(9))).check(&m, false)), None);
        assert_eq!(code(c(None, etag("x"), Some(at(10)), None).check(&m, false)), None);
    }

    #[test]
    fn writes() {
        let m = meta();
        let none = WriteConditions { if_none_match: Some(ETagCondition::Any), if_match: None };
        assert_eq!(code(none.check(None)), None);
        assert_eq!(code(none.check(Some(&m))).as_deref(), Some("PreconditionFailed"));
        let if_match = WriteConditions { if_match: etag("abc"), if_none_match: None };
        assert_eq!(code(if_match.check(Some(&m))), None);
        assert_eq!(code(if_match.check(None)).as_deref(), Some("NoSuchKey"));
        let wrong = WriteConditions { if_match: etag("x"), if_none_match: None };
        assert_eq!(code(wrong.check(Some(&m))).as_deref(), Some("PreconditionFailed"));
        assert_eq!(
            code(WriteConditions { if_match: None, if_none_match: etag("x") }.validate()).as_deref(),
            Some("NotImplemented")
        );
    }
}
