//! The INFRA CA seen from the modules: INFRA creates it on the infra node; NODE, MINIO
//! and PGSQL trust the CA certificate the controller delivered with the request, and
//! install the server certificates it issued (see `crate::pki` for the issuing side).
//! What was delivered arrives through the plan's options, never a global.
use crate::engine::{Handler, ModulePlan};
use crate::options::Delivered;
use crate::resources::{Exec, File};
use crate::sys::Cmd;
use anyhow::{bail, Result};
use std::time::Duration;

pub const CA_DIR: &str = "/etc/pki";
pub const CA_CRT: &str = "/etc/pki/ca.crt";
pub const CA_KEY: &str = "/etc/pki/ca.key";
pub const ISSUED_DIR: &str = "/etc/pki/issued";
/// Where Debian's `update-ca-certificates` picks the CA up.
pub const TRUST_CRT: &str = "/usr/local/share/ca-certificates/pigsty-ca.crt";
const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Days of a Pigsty duration such as `7300d`, `397d`, `24h` (at least 1).
pub fn days(validity: &str) -> u32 {
    let v = validity.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num.parse().unwrap_or(7300);
    let d = match unit {
        "" | "d" => n,
        "h" => n / 24,
        "m" | "min" => n / 1440,
        "s" => n / 86400,
        "y" => n * 365,
        _ => n,
    };
    d.clamp(1, 36500) as u32
}

/// INFRA: create the CA unless it exists (never replaced: every certificate hangs on it).
pub fn ca_steps(p: &mut ModulePlan, cn: &str, validity_days: u32) {
    p.add(crate::resources::Ca::new(CA_DIR, cn, validity_days));
}

/// NODE, MINIO, PGSQL: trust the delivered CA (nothing when none was delivered).
pub fn trust_steps(p: &mut ModulePlan, d: &Delivered) {
    let Some(ca) = d.ca_crt.clone() else {
        return;
    };
    p.add(crate::resources::Dir::new(CA_DIR).mode(0o755));
    p.add(File::new(CA_CRT, ca.clone()).mode(0o644));
    p.add(crate::resources::Dir::new("/usr/local/share/ca-certificates").mode(0o755));
    p.add(File::new(TRUST_CRT, ca).mode(0o644));
    // the bundle is rebuilt whenever our file is newer than it
    p.add(
        Exec::new(
            "system trust store has the pigsty CA",
            Cmd::new("update-ca-certificates").timeout(Duration::from_secs(120)),
        )
        .unless(Cmd::new("test").args([BUNDLE, "-nt", TRUST_CRT]))
        .why("update-ca-certificates"),
    );
}

/// The server certificate delivered for `purpose` (`minio`, `etcd`, `pgsql`): `None`
/// only when the plan just lists packages; otherwise a missing one is an error
/// naming `what` ("etcd certificate").
pub fn delivered<'a>(
    opts: &'a crate::options::PlanOptions,
    purpose: &str,
    what: &str,
    host: &str,
) -> Result<Option<&'a crate::options::CertPair>> {
    match opts.pki.certs.get(purpose) {
        Some(c) => Ok(Some(c)),
        None if opts.packages_only => Ok(None),
        None => bail!(
            "host `{host}`: no {what} came with the request (the admin node has no CA at `{CA_CRT}`)\nhint: run pigsty from the admin node after INFRA created the CA (`pigsty deploy -m infra`)"
        ),
    }
}

/// Install a delivered server certificate (`purpose`) as `<dir>/<name>.crt`, `.key`
/// and a combined `.pem` (HAProxy), keys 0600; `notify` on change.
pub fn server_cert_steps(
    p: &mut ModulePlan,
    opts: &crate::options::PlanOptions,
    purpose: &str,
    host: &str,
    notify: Vec<Handler>,
) -> Result<()> {
    let Some(c) = delivered(opts, purpose, &format!("{purpose} certificate"), host)? else {
        return Ok(());
    };
    p.add(File::new(format!("{CA_DIR}/{purpose}.crt"), c.crt.clone()).mode(0o644));
    p.add(
        File::new(format!("{CA_DIR}/{purpose}.key"), c.key.clone())
            .mode(0o600)
            .secret(),
    );
    p.add_notify(
        File::new(
            format!("{CA_DIR}/{purpose}.pem"),
            format!("{}{}", c.crt, c.key),
        )
        .mode(0o600)
        .secret(),
        notify,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_days_from_pigsty_durations() {
        assert_eq!(days("7300d"), 7300);
        assert_eq!(days("397d"), 397);
        assert_eq!(days("48h"), 2);
        assert_eq!(days("10y"), 3650);
        assert_eq!(days("1s"), 1);
    }

    #[test]
    fn nothing_delivered_means_no_trust_steps() {
        let mut p = ModulePlan::new("node");
        trust_steps(&mut p, &Delivered::NONE);
        assert_eq!(p.steps().count(), 0);
        let d = Delivered {
            ca_crt: Some("-----BEGIN CERTIFICATE-----".into()),
            ..Default::default()
        };
        trust_steps(&mut p, &d);
        assert!(p.steps().count() >= 3);
    }

    #[test]
    fn a_missing_certificate_fails_unless_only_packages_are_listed() {
        let mut p = ModulePlan::new("minio");
        let e = server_cert_steps(
            &mut p,
            &crate::options::NO_OPTIONS,
            "minio",
            "10.10.10.10",
            vec![],
        )
        .unwrap_err();
        assert!(e.to_string().contains("no minio certificate"), "{e}");
        server_cert_steps(
            &mut p,
            &crate::options::PACKAGES_ONLY,
            "minio",
            "10.10.10.10",
            vec![],
        )
        .unwrap();
        assert_eq!(p.steps().count(), 0);
    }
}
