//! The final record of a multipart object (`docs/FORMAT.md` section 2.15):
//! the object's final shape (part count, plaintext and ciphertext length),
//! authenticated under a key derived from the data key, written when the
//! upload completes. Objects whose envelope carries
//! [`FLAG_RECORDED`](super::envelope::FLAG_RECORDED) are read only when
//! their record verifies and their stored length is the one it names, so an
//! object cut at a part boundary (whose frames all still verify) is refused.
//!
//! Binary layout (version 1, big-endian, 85 bytes):
//!
//! ```text
//! version            u8   = 1
//! message id         [32] the envelope's
//! part count         u32
//! plaintext length   u64
//! ciphertext length  u64
//! mac                [32] HKDF-SHA512(salt = message id, ikm = data key,
//!                         info = "s3seal object record v1" || the 53 bytes above, 32)
//! ```
//!
//! The MAC covers neither the bucket nor the object key, only what a copy
//! of the object keeps (the body, hence the message id and data key), so a
//! copy of a recorded object stays readable under the same record.

use subtle::ConstantTimeEq;

use crate::crypto::kdf;
use crate::error::{Error, Result};

/// Key prefix of the final records, in the object's bucket.
pub const RECORD_PREFIX: &str = ".s3seal/records/";
/// The label of the record MAC.
const RECORD_LABEL: &[u8] = b"s3seal object record v1";
const RECORD_VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 32 + 4 + 8 + 8;
/// Bytes in a record.
pub const RECORD_LEN: usize = BODY_LEN + 32;

/// The final shape of a multipart object, as its record states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FinalRecord {
    /// The object's message id (from its envelope).
    pub message_id: [u8; 32],
    /// Parts in the completed object.
    pub parts: u32,
    /// Plaintext bytes of the object.
    pub plaintext_length: u64,
    /// Stored (ciphertext) bytes of the object.
    pub ciphertext_length: u64,
}

impl FinalRecord {
    /// The key of the record of the object with `message_id`:
    /// `.s3seal/records/<lowercase hex of the message id>`.
    pub fn object_key(message_id: &[u8; 32]) -> String {
        format!("{RECORD_PREFIX}{}", hex::encode(message_id))
    }

    fn body(&self) -> [u8; BODY_LEN] {
        let mut b = [0u8; BODY_LEN];
        b[0] = RECORD_VERSION;
        b[1..33].copy_from_slice(&self.message_id);
        b[33..37].copy_from_slice(&self.parts.to_be_bytes());
        b[37..45].copy_from_slice(&self.plaintext_length.to_be_bytes());
        b[45..53].copy_from_slice(&self.ciphertext_length.to_be_bytes());
        b
    }

    fn mac(body: &[u8], message_id: &[u8; 32], data_key: &[u8]) -> Result<[u8; 32]> {
        let m = kdf::hkdf_sha512(message_id, data_key, &[RECORD_LABEL, body], 32)?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&m);
        Ok(out)
    }

    /// The record's bytes, authenticated with `data_key`.
    pub fn to_bytes(&self, data_key: &[u8]) -> Result<Vec<u8>> {
        let body = self.body();
        let mut out = body.to_vec();
        out.extend_from_slice(&Self::mac(&body, &self.message_id, data_key)?);
        Ok(out)
    }

    /// Parses and authenticates a record of the object with `message_id`
    /// and `data_key`: the MAC is checked (in constant time) before any
    /// field is trusted, then the message id.
    pub fn open(bytes: &[u8], message_id: &[u8; 32], data_key: &[u8]) -> Result<Self> {
        if bytes.len() != RECORD_LEN {
            return Err(Error::malformed(format!(
                "the object's final record is {} bytes, not {RECORD_LEN}",
                bytes.len()
            )));
        }
        let (body, mac) = bytes.split_at(BODY_LEN);
        let expected = Self::mac(body, message_id, data_key)?;
        if !bool::from(expected.ct_eq(mac)) {
            return Err(Error::Authentication("object final record"));
        }
        if body[0] != RECORD_VERSION {
            return Err(Error::malformed(format!("unknown final record version {}", body[0])));
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&body[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let mut id = [0u8; 32];
        id.copy_from_slice(&body[1..33]);
        if id != *message_id {
            return Err(Error::Authentication("object final record"));
        }
        let parts = u32::from_be_bytes([body[33], body[34], body[35], body[36]]);
        Ok(Self { message_id: id, parts, plaintext_length: u64_at(37), ciphertext_length: u64_at(45) })
    }

    /// Fails unless an object of `stored` bytes has the shape this record
    /// names.
    pub fn check_stored_length(&self, stored: u64) -> Result<()> {
        if stored == self.ciphertext_length {
            Ok(())
        } else {
            Err(Error::ObjectShapeMismatch { recorded: self.ciphertext_length, stored })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_flip_fails() {
        let rec = FinalRecord { message_id: [7; 32], parts: 3, plaintext_length: 306, ciphertext_length: 386 };
        let dk = [9u8; 32];
        let bytes = rec.to_bytes(&dk).unwrap();
        assert_eq!(bytes.len(), RECORD_LEN);
        assert_eq!(FinalRecord::open(&bytes, &[7; 32], &dk).unwrap(), rec);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(FinalRecord::open(&b, &[7; 32], &dk).is_err(), "byte {i}");
        }
        assert!(matches!(FinalRecord::open(&bytes, &[8; 32], &dk), Err(Error::Authentication(_))));
        assert!(matches!(FinalRecord::open(&bytes, &[7; 32], &[1; 32]), Err(Error::Authentication(_))));
        assert!(FinalRecord::open(&bytes[..84], &[7; 32], &dk).is_err());
        assert!(rec.check_stored_length(386).is_ok());
        assert!(matches!(rec.check_stored_length(240), Err(Error::ObjectShapeMismatch { recorded: 386, stored: 240 })));
        assert_eq!(FinalRecord::object_key(&[0xab; 32]), format!(".s3seal/records/{}", "ab".repeat(32)));
    }
}
