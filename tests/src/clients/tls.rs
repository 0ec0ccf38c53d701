//! A test CA and a server certificate it signed, for TLS on the proxy's
//! client listener.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// A test CA and a server certificate it signed for `127.0.0.1` and
/// `localhost`, as PEM files.
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA certificate (what clients trust).
    pub ca_pem: PathBuf,
    /// The server's certificate.
    pub cert_pem: PathBuf,
    /// The server's private key.
    pub key_pem: PathBuf,
}

impl TestCa {
    /// Makes the CA and the server certificate in `dir`.
    pub fn create(dir: &Path) -> Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
            KeyUsagePurpose,
        };
        std::fs::create_dir_all(dir)?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "s3seal test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let leaf_key = KeyPair::generate()?;
        let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        leaf_params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
        let ca = Self { ca_pem: dir.join("ca.pem"), cert_pem: dir.join("cert.pem"), key_pem: dir.join("key.pem") };
        std::fs::write(&ca.ca_pem, ca_cert.pem())?;
        std::fs::write(&ca.cert_pem, leaf.pem())?;
        std::fs::write(&ca.key_pem, leaf_key.serialize_pem())?;
        Ok(ca)
    }
}
