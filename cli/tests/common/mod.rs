//! Helpers shared by the CLI test files.

use std::path::Path;
use std::process::{Command, Stdio};

/// Writes `rsa.pem` (private) and `rsa.pub.pem` (public) into `dir`, with
/// openssl, or the test venv's Python `cryptography` when openssl is missing.
pub fn gen_rsa(dir: &Path) {
    let openssl = |args: &[&str]| {
        Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    if openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"])
        && openssl(&["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub.pem"])
    {
        return;
    }
    let python = s3seal_tests::python::venv_python().expect("neither openssl nor the test venv's Python");
    let script = "from cryptography.hazmat.primitives.asymmetric import rsa\n\
                  from cryptography.hazmat.primitives import serialization as s\n\
                  k = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n\
                  open('rsa.pem','wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))\n\
                  open('rsa.pub.pem','wb').write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))\n";
    let st = Command::new(python).args(["-c", script]).current_dir(dir).status();
    assert!(st.is_ok_and(|s| s.success()), "generating an RSA key with Python failed");
}
