//! The INFRA certificate authority: an ECDSA P-256 key (`ca.key`, 0600) and a
//! self-signed CA certificate (`ca.crt`, 0644) with `ca_cn`, made in-process with
//! `rcgen` (no openssl, nothing passed through a shell). Created once, never replaced:
//! every certificate hangs on it.
use super::{Delta, ResError, ResResult, Resource, State};
use crate::options::CertPair;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub struct Ca {
    pub dir: PathBuf,
    pub cn: String,
    pub days: u32,
}

impl Ca {
    pub fn new(dir: impl Into<PathBuf>, cn: &str, days: u32) -> Ca {
        Ca {
            dir: dir.into(),
            cn: cn.into(),
            days,
        }
    }
    fn crt(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    fn key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
}

/// A new CA: (certificate PEM, key PEM).
pub fn make_ca(cn: &str, days: u32) -> Result<(String, String), rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(i64::from(days));
    let crt = p.self_signed(&key)?;
    Ok((crt.pem(), key.serialize_pem()))
}

impl Resource for Ca {
    fn kind(&self) -> &'static str {
        "ca"
    }
    fn name(&self) -> String {
        format!("`{}` in {}", self.cn, self.dir.display())
    }
    fn check(&self) -> ResResult<State> {
        match (self.crt().exists(), self.key().exists()) {
            (true, true) => Ok(State::InSync),
            (false, false) => Ok(State::Drift(vec![Delta::Create])),
            (crt, _) => Err(ResError::msg(format!(
                "`{}` is there but `{}` is not; refusing to make a new CA over half of an old one\nhint: restore the missing file from a backup, or move both aside to start a new CA (every issued certificate is then re-issued)",
                if crt { self.crt() } else { self.key() }.display(),
                if crt { self.key() } else { self.crt() }.display()
            ))),
        }
    }
    fn apply(&self) -> ResResult<()> {
        let (crt, key) = make_ca(&self.cn, self.days)
            .map_err(|e| ResError::msg(format!("creating the CA: {e}")))?;
        std::fs::create_dir_all(&self.dir).map_err(|source| crate::sys::fs::FsError::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
        // the key first: a certificate without its key is never left behind
        crate::sys::fs::write_atomic(&self.key(), key.as_bytes(), 0o600, None, None)?;
        crate::sys::fs::write_atomic(&self.crt(), crt.as_bytes(), 0o644, None, None)?;
        Ok(())
    }
}

/// Certificates are issued again when fewer days than this remain.
pub const RENEW_DAYS: i64 = 30;

/// What is kept next to an issued certificate to decide whether it still serves.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct IssuedMeta {
    sans: Vec<String>,
    /// sha256 of the CA certificate that signed it
    ca: String,
    /// not after, seconds since the epoch
    expires: i64,
}

/// The certificate `name` in `dir` was issued for exactly `sans`, by the CA at
/// `ca_crt`, and has more than [`RENEW_DAYS`] left at `now`.
pub fn still_serves(dir: &Path, ca_crt: &Path, name: &str, sans: &[String], now: i64) -> bool {
    let ca_sum = crate::sys::fs::file_sha256(ca_crt).unwrap_or_default();
    let kept: Option<IssuedMeta> = std::fs::read(dir.join(format!("{name}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    kept.is_some_and(|m| m.sans == sans && m.ca == ca_sum && m.expires - now > RENEW_DAYS * 86_400)
        && dir.join(format!("{name}.crt")).exists()
        && dir.join(format!("{name}.key")).exists()
}

/// A server certificate for `name` with `sans` (DNS names and IPs) signed by the CA
/// at `ca_crt`/`ca_key`, kept in `dir` (`<name>.crt`, `.key` 0600, `.json`); the one
/// kept there while [`still_serves`] says so.
pub fn issue_in(
    dir: &Path,
    ca_crt: &Path,
    ca_key: &Path,
    name: &str,
    sans: &[String],
    validity_days: u32,
    now: i64,
) -> Result<CertPair> {
    if !ca_key.exists() {
        bail!("no CA key at `{}` on this node\nhint: run pigsty from the admin (infra) node after `pigsty deploy -m infra` created the CA", ca_key.display());
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        bail!("certificate name `{name}`: only letters, digits, `-`, `_`, `.`");
    }
    let ca_pem = std::fs::read_to_string(ca_crt)
        .with_context(|| format!("reading `{}`", ca_crt.display()))?;
    let ca_sum = crate::sys::fs::file_sha256(ca_crt).unwrap_or_default();
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let meta = dir.join(format!("{name}.json"));
    if still_serves(dir, ca_crt, name, sans, now) {
        if let (Ok(c), Ok(k)) = (std::fs::read_to_string(&crt), std::fs::read_to_string(&key)) {
            return Ok(CertPair { crt: c, key: k });
        }
    }
    use rcgen::{
        CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose,
        SanType,
    };
    let ca_key_pem = std::fs::read_to_string(ca_key)
        .with_context(|| format!("reading `{}`", ca_key.display()))?;
    let signer = KeyPair::from_pem(&ca_key_pem)
        .with_context(|| format!("`{}` is not a private key rcgen can use", ca_key.display()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, signer)
        .with_context(|| format!("`{}` is not a CA certificate", ca_crt.display()))?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(
        DnType::CommonName,
        sans.first().cloned().unwrap_or_else(|| name.to_string()),
    );
    for s in sans {
        p.subject_alt_names
            .push(match s.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    s.as_str()
                        .try_into()
                        .with_context(|| format!("`{s}` is not a DNS name"))?,
                ),
            });
    }
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let start = time::OffsetDateTime::from_unix_timestamp(now)?;
    p.not_before = start - time::Duration::hours(1);
    p.not_after = start + time::Duration::days(i64::from(validity_days));
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
    let leaf_key = KeyPair::generate()?;
    let leaf = p
        .signed_by(&leaf_key, &issuer)
        .context("signing the certificate with the CA")?;
    let (c, k) = (leaf.pem(), leaf_key.serialize_pem());
    crate::sys::fs::write_atomic(&key, k.as_bytes(), 0o600, None, None)?;
    crate::sys::fs::write_atomic(&crt, c.as_bytes(), 0o644, None, None)?;
    let m = IssuedMeta {
        sans: sans.to_vec(),
        ca: ca_sum,
        expires: p.not_after.unix_timestamp(),
    };
    crate::sys::fs::write_atomic(&meta, &serde_json::to_vec(&m)?, 0o600, None, None)?;
    Ok(CertPair { crt: c, key: k })
}

/// A server certificate issued on this node by its own CA (the infra node: nginx),
/// kept in `dir` as `<name>.crt` and `<name>.key`; issued again when the names
/// change, the CA changed, or fewer than [`RENEW_DAYS`] remain.
pub struct IssuedCert {
    pub dir: PathBuf,
    pub ca_dir: PathBuf,
    pub name: String,
    pub sans: Vec<String>,
    pub days: u32,
}

impl Resource for IssuedCert {
    fn kind(&self) -> &'static str {
        "certificate"
    }
    fn name(&self) -> String {
        format!("{} ({})", self.name, self.sans.join(", "))
    }
    fn check(&self) -> ResResult<State> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if still_serves(
            &self.dir,
            &self.ca_dir.join("ca.crt"),
            &self.name,
            &self.sans,
            now,
        ) {
            return Ok(State::InSync);
        }
        if self.dir.join(format!("{}.crt", self.name)).exists() {
            Ok(State::drift("issue again (names, CA or expiry)"))
        } else {
            Ok(State::create())
        }
    }
    fn apply(&self) -> ResResult<()> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        issue_in(
            &self.dir,
            &self.ca_dir.join("ca.crt"),
            &self.ca_dir.join("ca.key"),
            &self.name,
            &self.sans,
            self.days,
            now,
        )
        .map_err(|e| ResError::msg(format!("issuing `{}`: {e:#}", self.name)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_issued_on_the_node_once_and_again_for_new_names() {
        let d = tempfile::tempdir().unwrap();
        Ca::new(d.path().join("pki"), "pigsty-ca", 3650)
            .apply()
            .unwrap();
        let mut c = IssuedCert {
            dir: d.path().join("pki/issued"),
            ca_dir: d.path().join("pki"),
            name: "nginx-10.0.0.1".into(),
            sans: vec!["10.0.0.1".into()],
            days: 397,
        };
        assert_eq!(c.check().unwrap(), State::create());
        c.apply().unwrap();
        assert!(c.check().unwrap().in_sync());
        c.sans.push("h.pigsty".into());
        assert!(matches!(c.check().unwrap(), State::Drift(_)));
        c.apply().unwrap();
        assert!(c.check().unwrap().in_sync());
    }

    #[test]
    fn a_ca_is_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let ca = Ca::new(d.path().join("pki"), "pigsty-ca", 3650);
        assert_eq!(ca.check().unwrap(), State::create());
        ca.apply().unwrap();
        assert!(ca.check().unwrap().in_sync());
        let crt = std::fs::read_to_string(d.path().join("pki/ca.crt")).unwrap();
        assert!(crt.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(
            crate::sys::fs::stat(&d.path().join("pki/ca.key"))
                .unwrap()
                .0,
            0o600
        );
    }

    #[test]
    fn half_a_ca_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ca.crt"), "x").unwrap();
        let e = Ca::new(d.path(), "c", 1).check().unwrap_err().to_string();
        assert!(e.contains("ca.key") && e.contains("refusing"), "{e}");
    }
}
