//! Cryptographic primitives: the AEAD backend seam, key derivation,
//! signatures and randomness. Everything above this module speaks in terms
//! of these small types and never touches a cipher crate directly.

pub mod aead;
pub(crate) mod gcm_stream;
pub mod kdf;
pub mod random;
pub mod signature;
