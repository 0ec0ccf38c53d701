//! Shared helpers for end-to-end tests.
pub mod moto;
pub mod python;
