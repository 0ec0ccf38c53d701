//! How the CLI fails: every error carries its exit code (1 verification,
//! 2 usage, 3 I/O) and, where there is one, a hint naming the fix.

use std::fmt;
use std::io;

/// The exit codes of `s3seal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Decryption or verification failed (wrong key, tampered or truncated
    /// input, context mismatch, policy refusal).
    Verify = 1,
    /// The command line or a key is wrong.
    Usage = 2,
    /// Reading or writing failed (files, pipes, AWS KMS).
    Io = 3,
    /// Interrupted by Ctrl-C (the shell convention, 128 + SIGINT).
    Interrupted = 130,
}

/// An error with its exit code and hints for the user.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: Code,
    /// What went wrong.
    pub error: anyhow::Error,
    /// How to fix it.
    pub hints: Vec<String>,
}

impl Failure {
    pub fn new(code: Code, error: impl Into<anyhow::Error>) -> Self {
        Self { code, error: error.into(), hints: Vec::new() }
    }

    pub fn usage(msg: impl fmt::Display) -> Self {
        Self::new(Code::Usage, anyhow::anyhow!("{msg}"))
    }

    pub fn io(what: impl fmt::Display, e: io::Error) -> Self {
        Self::new(Code::Io, anyhow::Error::new(e).context(what.to_string()))
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Adds `what` as context in front of the message.
    pub fn context(mut self, what: impl fmt::Display + Send + Sync + 'static) -> Self {
        self.error = self.error.context(what);
        self
    }
}

pub type CliResult<T> = Result<T, Failure>;

/// Which operation an SDK error came from (the same error can be a usage
/// problem when encrypting and a verification failure when decrypting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Encrypt,
    Decrypt,
}

/// Classifies an SDK error.
pub fn sdk(e: s3seal::Error, phase: Phase) -> Failure {
    use s3seal::Error as E;
    let code = match &e {
        E::Io(_) => Code::Io,
        E::InvalidParameter(_) | E::InvalidKey(_) => Code::Usage,
        E::Kms { .. } => Code::Io,
        E::Keyring { .. } | E::EncryptionContext(_) | E::CommitmentPolicy { .. } | E::UnsupportedSuite(_)
            if phase == Phase::Encrypt =>
        {
            Code::Usage
        }
        _ => Code::Verify,
    };
    Failure::new(code, e)
}

/// Classifies an I/O error from a stream: SDK errors travel inside
/// `io::Error`s (kind `InvalidData`); anything else is an I/O failure of
/// `what`.
pub fn stream(e: io::Error, what: &str, phase: Phase) -> Failure {
    if e.get_ref().is_some_and(|inner| inner.is::<s3seal::Error>()) {
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<s3seal::Error>()) {
            Some(Ok(sdk_err)) => return sdk(*sdk_err, phase),
            Some(Err(other)) => return Failure::io(what, io::Error::new(kind, other)),
            None => return Failure::io(what, io::Error::from(kind)),
        }
    }
    Failure::io(what, e)
}
