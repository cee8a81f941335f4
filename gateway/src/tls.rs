//! rustls client configuration for every TLS link: the uplinks (MQTT, PostgreSQL, webhook)
//! and ARI over `https` (ring provider; no C system library on the board). A bottom module:
//! it imports nothing of the crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read PEM file {path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("no CA certificate found in {0}")]
    NoCa(PathBuf),
    #[error("no usable system CA certificates; set ca_file")]
    NoSystemRoots,
    #[error("TLS configuration rejected: {0}")]
    Config(#[from] rustls::Error),
}

pub(crate) fn client_config(
    ca_file: Option<&Path>,
    client_auth: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in read_certs(path)? {
                roots.add(cert)?;
            }
            if roots.is_empty() {
                return Err(TlsError::NoCa(path.to_owned()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsError::NoSystemRoots);
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    Ok(match client_auth {
        Some((cert, key)) => {
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
                path: key.to_owned(),
                message: e.to_string(),
            })?;
            builder.with_client_auth_cert(read_certs(cert)?, key)?
        }
        None => builder.with_no_client_auth(),
    })
}

/// As [`client_config`] without a client certificate; with no `ca_file` and no system roots,
/// an empty trust store, so plain connections (`http://`, `sslmode=prefer`) still work and a
/// TLS one fails with a clear certificate error later.
pub fn client_config_or_plain(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    match client_config(ca_file, None) {
        Err(TlsError::NoSystemRoots) if ca_file.is_none() => {
            Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth())
        }
        other => other,
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |message: String| TlsError::Pem {
        path: path.to_owned(),
        message,
    };
    CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))
}
