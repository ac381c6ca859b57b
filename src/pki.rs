//! The issuing side of the INFRA CA (the controller runs on the admin node, which
//! holds the CA, Pigsty's layout). For each node it sends, in the node request:
//! - the CA certificate (public), which NODE, MINIO and PGSQL install as `/etc/pki/ca.crt`
//!   and into the system trust store (`update-ca-certificates`), see `modules::pki`;
//! - for ETCD, MINIO and PGSQL members, a server certificate and key it issued. Issued certificates are
//!   kept on the admin node in `/etc/pki/issued/` (keys 0600) and re-sent unchanged
//!   while their names still match, so a re-run changes nothing.
//!
//! Keys travel only in the request on the node's stdin, never in arguments or logs.
use crate::modules::pki::{days, CA_CRT, CA_KEY, ISSUED_DIR};
use crate::options::{CertPair, Delivered};
use anyhow::Result;
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
        Module::Etcd if h.id.etcd_seq.is_some() => (
            crate::modules::etcd::CERT_PURPOSE,
            format!("etcd-{}", h.addr),
            crate::modules::etcd::cert_names(h),
        ),
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
    issue_in(
        Path::new(ISSUED_DIR),
        Path::new(CA_CRT),
        Path::new(CA_KEY),
        name,
        sans,
        validity_days,
        now(),
    )
}

use crate::resources::ca::issue_in;
pub use crate::resources::ca::RENEW_DAYS;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
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
        let a = issue_in(
            &issued,
            &c,
            &k,
            "minio-10.10.10.10",
            &sans,
            365,
            1_800_000_000,
        )
        .unwrap();
        assert!(a.crt.starts_with("-----BEGIN CERTIFICATE-----") && a.key.contains("PRIVATE KEY"));
        let b = issue_in(
            &issued,
            &c,
            &k,
            "minio-10.10.10.10",
            &sans,
            365,
            1_800_000_000 + 86_400,
        )
        .unwrap();
        assert_eq!(
            a, b,
            "same names, same CA, far from expiry: the same certificate"
        );
        let near = 1_800_000_000 + (365 - RENEW_DAYS + 1) * 86_400;
        let r = issue_in(&issued, &c, &k, "minio-10.10.10.10", &sans, 365, near).unwrap();
        assert_ne!(a, r, "fewer than 30 days left: issued again");
        let other = issue_in(&issued, &c, &k, "minio-10.10.10.10", &sans[..1], 365, near).unwrap();
        assert_ne!(r, other, "other names: issued again");
        assert_eq!(
            crate::sys::fs::stat(&issued.join("minio-10.10.10.10.key"))
                .unwrap()
                .0,
            0o600
        );
    }

    #[test]
    fn issued_certificates_verify_against_the_ca_with_openssl() {
        if !Cmd::new("openssl").arg("version").succeeds() {
            return; // the RFC-level check needs openssl; the rest of the tests do not
        }
        let d = tempfile::tempdir().unwrap();
        let (c, k) = ca(d.path());
        let a = issue_in(
            &d.path().join("i"),
            &c,
            &k,
            "n",
            &["h.example".to_string(), "10.0.0.1".to_string()],
            30,
            now(),
        )
        .unwrap();
        std::fs::write(d.path().join("leaf.crt"), &a.crt).unwrap();
        let out = Cmd::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(c.display().to_string())
            .arg(d.path().join("leaf.crt").display().to_string())
            .run()
            .unwrap();
        assert!(out.stdout.contains(": OK"), "{out:?}");
    }

    #[test]
    fn no_ca_key_is_a_hint_and_bad_names_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = issue_in(
            d.path(),
            &d.path().join("ca.crt"),
            &d.path().join("ca.key"),
            "n",
            &[],
            1,
            0,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no CA key") && e.contains("hint:"), "{e}");
        let (c, k) = ca(d.path());
        let e = issue_in(d.path(), &c, &k, "../x", &[], 1, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only letters"), "{e}");
    }
}
