//! Shared helpers for end-to-end tests.
pub mod python;
