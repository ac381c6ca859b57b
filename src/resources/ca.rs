//! The INFRA certificate authority: an ECDSA P-256 key (`ca.key`, 0600) and a
//! self-signed CA certificate (`ca.crt`, 0644) with `ca_cn`, made in-process with
//! `rcgen` (no openssl, nothing passed through a shell). Created once, never replaced:
//! every certificate hangs on it.
use super::{Delta, ResError, ResResult, Resource, State};
use std::path::PathBuf;

pub struct Ca {
    pub dir: PathBuf,
    pub cn: String,
    pub days: u32,
}

impl Ca {
    pub fn new(dir: impl Into<PathBuf>, cn: &str, days: u32) -> Ca {
        Ca { dir: dir.into(), cn: cn.into(), days }
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
        let (crt, key) = make_ca(&self.cn, self.days).map_err(|e| ResError::msg(format!("creating the CA: {e}")))?;
        std::fs::create_dir_all(&self.dir).map_err(|source| crate::sys::fs::FsError::Io { path: self.dir.display().to_string(), source })?;
        // the key first: a certificate without its key is never left behind
        crate::sys::fs::write_atomic(&self.key(), key.as_bytes(), 0o600, None, None)?;
        crate::sys::fs::write_atomic(&self.crt(), crt.as_bytes(), 0o644, None, None)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_is_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let ca = Ca::new(d.path().join("pki"), "pigsty-ca", 3650);
        assert_eq!(ca.check().unwrap(), State::create());
        ca.apply().unwrap();
        assert!(ca.check().unwrap().in_sync());
        let crt = std::fs::read_to_string(d.path().join("pki/ca.crt")).unwrap();
        assert!(crt.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(crate::sys::fs::stat(&d.path().join("pki/ca.key")).unwrap().0, 0o600);
    }

    #[test]
    fn half_a_ca_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ca.crt"), "x").unwrap();
        let e = Ca::new(d.path(), "c", 1).check().unwrap_err().to_string();
        assert!(e.contains("ca.key") && e.contains("refusing"), "{e}");
    }
}
