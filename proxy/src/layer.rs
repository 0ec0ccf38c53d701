//! The encryption layer (in progress).
