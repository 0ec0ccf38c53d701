//! Randomness from the operating system.

use crate::error::{Error, Result};

/// Fills `buf` with bytes from the operating system's CSPRNG.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| Error::Crypto("the system random generator failed"))
}

/// Returns `N` random bytes.
pub fn array<const N: usize>() -> Result<[u8; N]> {
    let mut a = [0u8; N];
    fill(&mut a)?;
    Ok(a)
}
