//! HTTPS with HTTP/2 and HTTP/1.1 negotiated by ALPN: browsers speak HTTP/2 only over TLS,
//! and HTTP/2 lifts their six-connections-per-host ceiling.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context as _;

use crate::Config;

/// A certificate chain and its private key, both PEM.
pub struct TlsMaterial {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// For a generated certificate: the base64 SHA-256 of its public key (SPKI), which
    /// Chromium's `--ignore-certificate-errors-spki-list` takes to trust this key alone.
    pub spki_sha256: Option<String>,
    /// A generated certificate saved for people to trust; removed when this is dropped.
    pub saved: Option<SavedCertificate>,
}

/// A generated certificate written into a private directory of its own, which goes away
/// (file and all) when this is dropped: on exit, after serving.
pub struct SavedCertificate {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SavedCertificate {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The TLS material the flags ask for, or `None` for plain HTTP.
pub fn from_config(config: &Config) -> anyhow::Result<Option<TlsMaterial>> {
    match (&config.tls_cert, &config.tls_key, config.tls_self_signed) {
        (Some(cert), Some(key), false) => Ok(Some(TlsMaterial {
            cert_pem: read(cert, "--tls-cert")?,
            key_pem: read(key, "--tls-key")?,
            spki_sha256: None,
            saved: None,
        })),
        (None, None, true) => {
            let mut material = self_signed()?;
            material.saved = Some(save_certificate(&std::env::temp_dir(), &material.cert_pem)?);
            Ok(Some(material))
        }
        (None, None, false) => Ok(None),
        (Some(_), None, _) | (None, Some(_), _) => anyhow::bail!("--tls-cert and --tls-key go together"),
        _ => anyhow::bail!("use either --tls-cert/--tls-key or --tls-self-signed, not both"),
    }
}

/// What `--check` can verify without side effects: the PEM files named are readable
/// (clap has already refused the combinations that make no sense).
pub fn check(config: &Config) -> anyhow::Result<()> {
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        read(cert, "--tls-cert")?;
        read(key, "--tls-key")?;
    }
    Ok(())
}

fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag} {}", path.display()))
}

/// How long a generated certificate is valid: trusting it trusts its key for no longer.
pub const SELF_SIGNED_DAYS: i64 = 30;

/// A fresh certificate for localhost, 127.0.0.1 and ::1, in memory only: an end-entity
/// certificate for TLS servers (it can sign nothing else), valid for [`SELF_SIGNED_DAYS`].
pub fn self_signed() -> anyhow::Result<TlsMaterial> {
    let params = leaf_params()?;
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let cert = params.self_signed(&key).context("generating a certificate")?;
    let spki = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(
            rcgen::PublicKeyData::subject_public_key_info(&key),
        ))
    };
    Ok(TlsMaterial {
        cert_pem: cert.pem().into_bytes(),
        key_pem: key.serialize_pem().into_bytes(),
        spki_sha256: Some(spki),
        saved: None,
    })
}

fn leaf_params() -> anyhow::Result<rcgen::CertificateParams> {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose};
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    names.extend(crate::shards::loopback_shard_hosts());
    let mut params = CertificateParams::new(names).context("naming the certificate")?;
    let now = time::OffsetDateTime::now_utc();
    // A minute's slack for a client whose clock is a little behind.
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

/// Writes `cert_pem` into a new directory under `parent` that only this user can enter
/// (0700, with an unpredictable name), so that nobody else on a shared machine can plant or
/// swap the file a person is told to trust.
pub fn save_certificate(parent: &Path, cert_pem: &[u8]) -> anyhow::Result<SavedCertificate> {
    let dir = tempfile::Builder::new()
        .prefix("fanout-proxy-")
        .permissions(private_dir())
        .tempdir_in(parent)
        .with_context(|| format!("creating a private directory in {}", parent.display()))?;
    let path = dir.path().join("localhost.pem");
    write_new(&path, cert_pem)?;
    Ok(SavedCertificate { path, _dir: dir })
}

/// Creates `path` and writes `bytes`; an existing file (or link) is refused, never followed
/// or overwritten.
pub fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(unix)]
fn private_dir() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o700)
}

#[cfg(not(unix))]
fn private_dir() -> std::fs::Permissions {
    std::fs::metadata(std::env::temp_dir())
        .expect("the temp directory exists")
        .permissions()
}

/// What to tell a person about a generated certificate: how to trust it for this site
/// only, never as an authority (it is not one, and must not vouch for other sites).
pub fn trust_hint(cert: &Path, url: &str) -> String {
    format!(
        "self-signed certificate for localhost and 127.0.0.1, valid {SELF_SIGNED_DAYS} days: {cert} \
         (removed when the proxy stops)\n  \
         to trust it for this site only: `curl --cacert {cert} {url}api/health`; Firefox: open {url} \
         and choose Advanced > Accept the Risk and Continue (an exception for this site only)",
        cert = cert.display()
    )
}

/// How Chromium trusts one key, `spki_sha256`, in a profile of its own.
pub fn chromium_hint(spki_sha256: &str, url: &str) -> String {
    format!(
        "  Chromium or Chrome, in a throwaway profile that trusts this key alone: \
         `chromium --user-data-dir=$(mktemp -d) --ignore-certificate-errors-spki-list={spki_sha256} {url}`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_a_server_certificate_for_thirty_days() {
        let material = self_signed().unwrap();
        let params = leaf_params().unwrap();
        assert!(
            matches!(params.is_ca, rcgen::IsCa::ExplicitNoCa),
            "not an authority: {:?}",
            params.is_ca
        );
        let lifetime = params.not_after - params.not_before;
        assert!(
            lifetime <= time::Duration::days(SELF_SIGNED_DAYS) + time::Duration::minutes(1),
            "{lifetime}"
        );
        assert!(params.not_after > time::OffsetDateTime::now_utc() + time::Duration::days(29));
        let hint = trust_hint(Path::new("/tmp/x/localhost.pem"), "https://localhost:8080/");
        assert!(
            hint.contains("this site only") && !hint.contains("Authorities"),
            "{hint}"
        );
        let pin = material.spki_sha256.unwrap();
        assert_eq!(pin.len(), 44, "base64 of 32 bytes");
        assert!(chromium_hint(&pin, "https://localhost:8080/").contains(&pin));
    }

    #[test]
    fn the_certificate_names_the_loopback_shards() {
        let names: Vec<String> = leaf_params()
            .unwrap()
            .subject_alt_names
            .iter()
            .filter_map(|name| match name {
                rcgen::SanType::DnsName(dns) => Some(dns.as_str().to_owned()),
                _ => None,
            })
            .collect();
        for host in ["localhost", "s0.localhost", "s15.localhost"] {
            assert!(names.iter().any(|n| n == host), "{host} missing from {names:?}");
        }
    }

    #[test]
    fn a_saved_certificate_is_private_and_goes_away() {
        let parent = tempfile::tempdir().unwrap();
        let saved = save_certificate(parent.path(), b"PEM").unwrap();
        let dir = saved.path().parent().unwrap().to_owned();
        assert_eq!(std::fs::read(saved.path()).unwrap(), b"PEM");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        }
        let again = save_certificate(parent.path(), b"PEM").unwrap();
        assert_ne!(again.path(), saved.path(), "each start gets its own directory");
        drop(saved);
        assert!(!dir.exists(), "removed on drop");
    }

    #[test]
    fn an_existing_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        std::fs::write(&path, "theirs").unwrap();
        assert!(write_new(&path, b"ours").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.pem");
            std::os::unix::fs::symlink(dir.path().join("elsewhere.pem"), &link).unwrap();
            assert!(
                write_new(&link, b"ours").is_err(),
                "a dangling link is not followed"
            );
            assert!(!dir.path().join("elsewhere.pem").exists());
        }
    }
}
