//! HTTPS with HTTP/2 and HTTP/1.1 negotiated by ALPN: browsers speak HTTP/2 only over TLS,
//! and HTTP/2 lifts their six-connections-per-host ceiling.

use std::path::{Path, PathBuf};

use crate::Config;

/// A certificate chain and its private key, both PEM.
pub struct TlsMaterial {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// Where a generated certificate was written, for people to trust it.
    pub generated_cert: Option<PathBuf>,
}

/// The TLS material the flags ask for, or `None` for plain HTTP.
pub fn from_config(config: &Config) -> Result<Option<TlsMaterial>, String> {
    match (&config.tls_cert, &config.tls_key, config.tls_self_signed) {
        (Some(cert), Some(key), false) => Ok(Some(TlsMaterial {
            cert_pem: read(cert, "--tls-cert")?,
            key_pem: read(key, "--tls-key")?,
            generated_cert: None,
        })),
        (None, None, true) => self_signed(&std::env::temp_dir()).map(Some),
        (None, None, false) => Ok(None),
        (Some(_), None, _) | (None, Some(_), _) => Err("--tls-cert and --tls-key go together".into()),
        _ => Err("use either --tls-cert/--tls-key or --tls-self-signed, not both".into()),
    }
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|err| format!("{flag} {}: {err}", path.display()))
}

/// A fresh certificate for localhost and 127.0.0.1, written to `dir` so it can be trusted.
pub fn self_signed(dir: &Path) -> Result<TlsMaterial, String> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|err| format!("cannot generate a certificate: {err}"))?;
    let cert_pem = certified.cert.pem().into_bytes();
    let path = dir.join(format!("fanout-proxy-localhost-{}.pem", std::process::id()));
    std::fs::write(&path, &cert_pem).map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(TlsMaterial {
        cert_pem,
        key_pem: certified.signing_key.serialize_pem().into_bytes(),
        generated_cert: Some(path),
    })
}

/// What to tell a person about a generated certificate.
pub fn trust_hint(cert: &Path, url: &str) -> String {
    format!(
        "self-signed certificate for localhost and 127.0.0.1: {cert}\n  \
         to trust it: `curl --cacert {cert} {url}api/health`; in Chromium or Chrome import it under \
         Settings > Privacy and security > Security > Manage certificates > Authorities \
         (or, for a throwaway profile only, start the browser with --ignore-certificate-errors)",
        cert = cert.display()
    )
}
