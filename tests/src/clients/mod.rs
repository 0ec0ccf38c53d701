//! Real S3 tools driven through the proxy, and what their tests share; one
//! file a concern, everything re-exported here (`s3seal_tests::clients::X`).
//!
//! * [`Upstream`] (`upstream.rs`): the store behind the proxy, `s3s-fs` (in
//!   process, checks the proxy's signatures; raw AES key) or moto (S3 + KMS;
//!   KMS key).
//! * [`ProxyProcess`] (`proxy.rs`): the real `s3seal proxy` binary
//!   ([`proxy_binary`]) on a free 127.0.0.1 port, configured by a TOML file
//!   and an environment built from nothing (no inherited `AWS_*`,
//!   `RCLONE_*`, `HOME`...; see `process.rs`), optionally with TLS from a
//!   [`TestCa`] (`tls.rs`); stopped (SIGTERM) and restarted on demand.
//! * [`Clients`] / [`Tool`] (`tools.rs`): aws cli v1 (`<repo>/.venv/bin/aws`),
//!   aws cli v2 (`/usr/bin/aws`), `s3cmd` and `rclone`, each with its own
//!   config files in a temporary directory and an explicit environment: the
//!   tests never depend on the developer's AWS setup (profiles,
//!   `AWS_CA_BUNDLE`, ...).
//! * Test data ([`write_test_files`], `data.rs`) built of 8-byte words
//!   `MAGIC || index` so that [`find_plaintext`] can tell exactly whether
//!   any 16-byte window of any test file appears in stored bytes (every
//!   16-byte window holds one whole aligned word), and
//!   [`assert_ciphertext_at_rest`] (`at_rest.rs`), which reads every object
//!   straight from the upstream.
//! * [`sigv4`]: a small SigV4 signer for requests no SDK sends (tampered
//!   signed chunks, POST policies, WriteGetObjectResponse), and
//!   [`raw_http`] (`raw_http.rs`) to send them.
//! * [`forge`]: hand-made requests of the attack tests (SigV2, presigned
//!   URLs of any expiry, unsigned `host`, `aws-chunked` bodies without
//!   their final chunk or with a lying length, signed POST forms).
//! * [`CountingRelay`] (`relay.rs`): a TCP relay in front of the upstream
//!   that counts the bytes the proxy sends it, to show a refused request
//!   never reached the upstream.

mod at_rest;
mod constants;
mod data;
pub mod forge;
mod process;
mod proxy;
mod raw_http;
mod relay;
pub mod sigv4;
mod tls;
mod tools;
mod upstream;

pub use at_rest::{assert_ciphertext_at_rest, find_plaintext};
pub use constants::{CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, FRAME, REGION};
pub use data::{FILE_SIZES, TestFile, plaintext, resolve_range, write_test_files};
pub use process::{Ran, run_with_timeout};
pub use proxy::{PROXY_BINARY_ENV, ProxyOptions, ProxyProcess, proxy_binary};
pub use raw_http::{RawResponse, raw_http};
pub use relay::CountingRelay;
pub use tls::TestCa;
pub use tools::{Clients, Tool};
pub use upstream::Upstream;
