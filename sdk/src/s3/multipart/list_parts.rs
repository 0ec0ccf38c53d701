//! `ListParts` answers from stores that name their root element
//! `ListPartsResponse`.

/// Accepts `ListParts` responses whose root element is
/// `ListPartsResponse` (as some S3 implementations write it) by renaming
/// it to the `ListPartsResult` of the S3 API. The response body is still
/// streaming when interceptors run, so it is wrapped in a body that reads
/// it whole (a ListParts answer is small) and renames the root.
#[derive(Debug)]
pub(super) struct ListPartsRootCompat;

impl aws_sdk_s3::config::Intercept for ListPartsRootCompat {
    fn name(&self) -> &'static str {
        "ListPartsRootCompat"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _: &aws_sdk_s3::config::RuntimeComponents,
        _: &mut aws_sdk_s3::config::ConfigBag,
    ) -> std::result::Result<(), aws_sdk_s3::error::BoxError> {
        let body = context.response_mut().body_mut();
        let inner = std::mem::replace(body, aws_smithy_types::body::SdkBody::taken());
        *body = aws_smithy_types::body::SdkBody::from_body_1_x(RenameRoot { inner, buf: Vec::new(), done: false });
        Ok(())
    }
}

/// The body of [`ListPartsRootCompat`].
struct RenameRoot {
    inner: aws_smithy_types::body::SdkBody,
    buf: Vec<u8>,
    done: bool,
}

impl http_body::Body for RenameRoot {
    type Data = bytes::Bytes;
    type Error = aws_sdk_s3::error::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::{Poll, ready};
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match ready!(std::pin::Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(d) = frame.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    self.done = true;
                    let text = String::from_utf8_lossy(&self.buf)
                        .replace("<ListPartsResponse", "<ListPartsResult")
                        .replace("</ListPartsResponse>", "</ListPartsResult>");
                    return Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from(text)))));
                }
            }
        }
    }
}
