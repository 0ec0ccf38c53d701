//! The AWS Encryption SDK message format (`data-format/` of the ESDK
//! specification): header, framed and non-framed bodies, footer.

pub mod codec;
