//! The issuing side of the INFRA CA (the controller runs on the admin node, which
//! holds the CA, Pigsty's layout). For each node it sends, in the node request:
//! - the CA certificate (public), which NODE, MINIO and PGSQL install as `/etc/pki/ca.crt`
//!   and into the system trust store (`update-ca-certificates`), see `modules::pki`;
//! - for MINIO and PGSQL members, a server certificate and key it issued. Issued certificates are
//!   kept on the admin node in `/etc/pki/issued/` (keys 0600) and re-sent unchanged
//!   while their names still match, so a re-run changes nothing.
//!
//! Keys travel only in the request on the node's stdin, never in arguments or logs.
use crate::modules::pki::{days, CA_CRT, CA_KEY, ISSUED_DIR};
use crate::options::{CertPair, Delivered};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Controller: what goes with the request of `host` for `module`: the local CA
/// certificate (any module), and for MINIO members the server certificate. A failure
/// to issue is left for the module to report (no certificate in the request).
pub fn for_host(
    inv: &crate::inventory::Inventory,
    host: &str,
    module: crate::inventory::Module,
) -> Delivered {
    use crate::inventory::Module;
    let mut d = Delivered {
        ca_crt: local_ca(),
        ..Default::default()
    };
    let Some(h) = inv.host(host) else {
        return d;
    };
    if d.ca_crt.is_none() {
        return d;
    }
    let validity = days(h.var_str("cert_validity")).min(3650);
    let (purpose, name, sans) = match module {
        Module::Minio => {
            let Ok(m) = crate::modules::minio::Minio::new(h) else {
                return d;
            };
            if !m.https {
                return d;
            }
            ("minio", format!("minio-{}", m.ip), m.cert_names())
        }
        Module::Pgsql if h.id.pg_cluster.is_some() => (
            crate::modules::pgsql::tls::PURPOSE,
            format!("pgsql-{}", h.addr),
            crate::modules::pgsql::tls::cert_names(inv, h),
        ),
        _ => return d,
    };
    match issue(&name, &sans, validity) {
        Ok(c) => {
            d.certs.insert(purpose.into(), c);
        }
        Err(e) => tracing::warn!("issuing the {purpose} certificate of `{host}`: {e:#}"),
    }
    d
}

/// Controller: the CA certificate of this (admin) node, if any.
pub fn local_ca() -> Option<String> {
    std::fs::read_to_string(CA_CRT)
        .ok()
        .filter(|s| s.contains("BEGIN CERTIFICATE"))
}

/// Controller: a server certificate for `name` with `sans` (DNS names and IPs), signed
/// by the local CA with `rcgen`; the one issued before while its names are the same,
/// it was signed by the current CA and more than [`RENEW_DAYS`] remain.
pub fn issue(name: &str, sans: &[String], validity_days: u32) -> Result<CertPair> {
    issue_in(Path::new(ISSUED_DIR), Path::new(CA_CRT), Path::new(CA_KEY), name, sans, validity_days, now())
}

/// Certificates are issued again when fewer days than this remain.
pub const RENEW_DAYS: i64 = 30;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// What is kept next to an issued certificate to decide whether it still serves.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct IssuedMeta {
    sans: Vec<String>,
    /// sha256 of the CA certificate that signed it
    ca: String,
    /// not after, seconds since the epoch
    expires: i64,
}

fn issue_in(dir: &Path, ca_crt: &Path, ca_key: &Path, name: &str, sans: &[String], validity_days: u32, now: i64) -> Result<CertPair> {
    if !ca_key.exists() {
        bail!("no CA key at `{}` on this node\nhint: run pigsty from the admin (infra) node after `pigsty deploy -m infra` created the CA", ca_key.display());
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || name.starts_with('.') {
        bail!("certificate name `{name}`: only letters, digits, `-`, `_`, `.`");
    }
    let ca_pem = std::fs::read_to_string(ca_crt).with_context(|| format!("reading `{}`", ca_crt.display()))?;
    let ca_sum = crate::sys::fs::file_sha256(ca_crt).unwrap_or_default();
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let meta = dir.join(format!("{name}.json"));
    let kept: Option<IssuedMeta> = std::fs::read(&meta).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(m) = kept {
        if m.sans == sans && m.ca == ca_sum && m.expires - now > RENEW_DAYS * 86_400 {
            if let (Ok(c), Ok(k)) = (std::fs::read_to_string(&crt), std::fs::read_to_string(&key)) {
                return Ok(CertPair { crt: c, key: k });
            }
        }
    }
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose, SanType};
    let ca_key_pem = std::fs::read_to_string(ca_key).with_context(|| format!("reading `{}`", ca_key.display()))?;
    let signer = KeyPair::from_pem(&ca_key_pem).with_context(|| format!("`{}` is not a private key rcgen can use", ca_key.display()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, signer).with_context(|| format!("`{}` is not a CA certificate", ca_crt.display()))?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, sans.first().cloned().unwrap_or_else(|| name.to_string()));
    for s in sans {
        p.subject_alt_names.push(match s.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(s.as_str().try_into().with_context(|| format!("`{s}` is not a DNS name"))?),
        });
    }
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let start = time::OffsetDateTime::from_unix_timestamp(now)?;
    p.not_before = start - time::Duration::hours(1);
    p.not_after = start + time::Duration::days(i64::from(validity_days));
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
    let leaf_key = KeyPair::generate()?;
    let leaf = p.signed_by(&leaf_key, &issuer).context("signing the certificate with the CA")?;
    let (c, k) = (leaf.pem(), leaf_key.serialize_pem());
    crate::sys::fs::write_atomic(&key, k.as_bytes(), 0o600, None, None)?;
    crate::sys::fs::write_atomic(&crt, c.as_bytes(), 0o644, None, None)?;
    let m = IssuedMeta { sans: sans.to_vec(), ca: ca_sum, expires: p.not_after.unix_timestamp() };
    crate::sys::fs::write_atomic(&meta, &serde_json::to_vec(&m)?, 0o600, None, None)?;
    Ok(CertPair { crt: c, key: k })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Cmd;

    fn ca(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let (c, k) = crate::resources::ca::make_ca("test-ca", 3650).unwrap();
        std::fs::write(dir.join("ca.crt"), c).unwrap();
        std::fs::write(dir.join("ca.key"), k).unwrap();
        (dir.join("ca.crt"), dir.join("ca.key"))
    }

    #[test]
    fn an_issued_certificate_is_kept_while_names_ca_and_time_allow() {
        let d = tempfile::tempdir().unwrap();
        let (c, k) = ca(d.path());
        let issued = d.path().join("issued");
        let sans = vec!["sss.pigsty".to_string(), "10.10.10.10".to_string()];
        let a = issue_in(&issued, &c, &k, "minio-10.10.10.10", &sans, 365, 1_800_000_000).unwrap();
        assert!(a.crt.starts_with("-----BEGIN CERTIFICATE-----") && a.key.contains("PRIVATE KEY"));
        let b = issue_in(&issued, &c, &k, "minio-10.10.10.10", &sans, 365, 1_800_000_000 + 86_400).unwrap();
        assert_eq!(a, b, "same names, same CA, far from expiry: the same certificate");
        let near = 1_800_000_000 + (365 - RENEW_DAYS + 1) * 86_400;
        let r = issue_in(&issued, &c, &k, "minio-10.10.10.10", &sans, 365, near).unwrap();
        assert_ne!(a, r, "fewer than 30 days left: issued again");
        let other = issue_in(&issued, &c, &k, "minio-10.10.10.10", &sans[..1], 365, near).unwrap();
        assert_ne!(r, other, "other names: issued again");
        assert_eq!(crate::sys::fs::stat(&issued.join("minio-10.10.10.10.key")).unwrap().0, 0o600);
    }

    #[test]
    fn issued_certificates_verify_against_the_ca_with_openssl() {
        if !Cmd::new("openssl").arg("version").succeeds() {
            return; // the RFC-level check needs openssl; the rest of the tests do not
        }
        let d = tempfile::tempdir().unwrap();
        let (c, k) = ca(d.path());
        let a = issue_in(&d.path().join("i"), &c, &k, "n", &["h.example".to_string(), "10.0.0.1".to_string()], 30, now()).unwrap();
        std::fs::write(d.path().join("leaf.crt"), &a.crt).unwrap();
        let out = Cmd::new("openssl").args(["verify", "-CAfile"]).arg(c.display().to_string()).arg(d.path().join("leaf.crt").display().to_string()).run().unwrap();
        assert!(out.stdout.contains(": OK"), "{out:?}");
    }

    #[test]
    fn no_ca_key_is_a_hint_and_bad_names_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = issue_in(d.path(), &d.path().join("ca.crt"), &d.path().join("ca.key"), "n", &[], 1, 0).unwrap_err().to_string();
        assert!(e.contains("no CA key") && e.contains("hint:"), "{e}");
        let (c, k) = ca(d.path());
        let e = issue_in(d.path(), &c, &k, "../x", &[], 1, 0).unwrap_err().to_string();
        assert!(e.contains("only letters"), "{e}");
    }
}
