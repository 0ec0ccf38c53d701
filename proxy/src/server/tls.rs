//! TLS on the client listener.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::config::TlsSettings;
use crate::error::{Error, Result};

/// The TLS acceptor of the client listener (rustls with aws-lc-rs; ALPN
/// `http/1.1`).
pub(super) fn tls_acceptor(t: &TlsSettings) -> Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&t.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("certificate file {}: {e}", t.cert.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!("certificate file {}: no CERTIFICATE in it", t.cert.display())));
    }
    let key =
        PrivateKeyDer::from_pem_file(&t.key).map_err(|e| Error::Tls(format!("key file {}: {e}", t.key.display())))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(format!("{} and {}: {e}", t.cert.display(), t.key.display())))?;
    // HTTP/1.1 only, like S3 itself: S3 clients are written and tested
    // against HTTP/1.1 (plain-text listeners still accept h2c).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
