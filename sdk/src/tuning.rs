//! Tuning values shared by every layer that moves bytes: one constant per
//! value, so a measurement that changes one changes it everywhere.

/// How many bytes a streaming read or write moves at a time: reading stored
/// objects, sending bodies, hashing and copying. 256 KiB keeps a stream's
/// memory small (a few chunks per request) while each system call and
/// channel hop carries enough bytes that their cost does not show.
pub const IO_CHUNK: usize = 256 * 1024;
