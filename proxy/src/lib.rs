//! The s3seal proxy.
