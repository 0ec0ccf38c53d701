//! The failures of one `on_decrypt`, and the error they make.

use super::failure::Failure;
use crate::error::{Error, NoKeyDetails};

/// Collects the failures of one `on_decrypt` and builds its final error.
#[derive(Default)]
pub(super) struct Attempts {
    pub(super) notes: Vec<String>,
    pub(super) tried: usize,
    all_transient: bool,
    first_transient: Option<Error>,
}

impl Attempts {
    pub(super) fn failed(&mut self, keyring: &str, f: Failure) {
        self.all_transient = if self.tried == 0 { f.transient } else { self.all_transient && f.transient };
        self.tried += 1;
        self.notes.push(format!("{keyring}: {}", f.error));
        if f.transient && self.first_transient.is_none() {
            self.first_transient = Some(f.error);
        }
    }

    /// When every tried key failed because KMS could not be used at all, the
    /// KMS error itself (retrying may help); otherwise "no decryptable key"
    /// with every collected reason.
    pub(super) fn into_error(mut self, keyring: &str) -> Error {
        if self.tried > 0
            && self.all_transient
            && let Some(e) = self.first_transient
        {
            return e;
        }
        if self.notes.is_empty() {
            self.notes.push(keyring.to_string());
        }
        Error::NoDecryptableKey(NoKeyDetails { message_keys: Vec::new(), attempts: self.notes })
    }
}
