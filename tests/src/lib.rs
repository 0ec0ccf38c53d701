//! Shared helpers for end-to-end tests.
pub mod clients;
pub mod kms_count;
pub mod memory;
pub mod moto;
pub mod python;
pub mod require_sse;
pub mod s3client;
pub mod s3fs;
