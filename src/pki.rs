//! The CA: created once by INFRA on the infra node (`/etc/pki/ca.crt`, `/etc/pki/ca.key`,
//! ECDSA P-256, `ca_cn`, `cert_validity`), trusted by every node, and the server
//! certificates it signs (the MINIO module's HTTPS endpoint).
//!
//! The controller runs on the admin node, which holds the CA (Pigsty's layout: the admin
//! node is the infra node). For each node it sends, in the node request:
//! - the CA certificate (public), which NODE, MINIO and PGSQL install as `/etc/pki/ca.crt`
//!   and into the system trust store (`update-ca-certificates`);
//! - for MINIO members, a server certificate and key it issued. Issued certificates are
//!   kept on the admin node in `/etc/pki/issued/` (keys 0600) and re-sent unchanged
//!   while their names still match, so a re-run changes nothing.
//!
//! Keys travel only in the request on the node's stdin, never in arguments or logs.
use crate::engine::{Handler, ModulePlan};
use crate::resources::{Exec, File};
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

pub const CA_DIR: &str = "/etc/pki";
pub const CA_CRT: &str = "/etc/pki/ca.crt";
pub const CA_KEY: &str = "/etc/pki/ca.key";
pub const ISSUED_DIR: &str = "/etc/pki/issued";
/// Where Debian's `update-ca-certificates` picks the CA up.
pub const TRUST_CRT: &str = "/usr/local/share/ca-certificates/pigsty-ca.crt";
const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A certificate and its private key (PEM).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CertPair {
    pub crt: String,
    pub key: String,
}

/// What the controller hands a node along with its request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delivered {
    /// The CA certificate (PEM), when the admin node has one.
    #[serde(default)]
    pub ca_crt: Option<String>,
    /// Server certificates issued for this node, by purpose (`minio`).
    #[serde(default)]
    pub certs: BTreeMap<String, CertPair>,
}

static DELIVERED: OnceLock<Delivered> = OnceLock::new();

/// Node mode: remember what the request carried (once per process).
pub fn set_delivered(d: Delivered) {
    let _ = DELIVERED.set(d);
}

/// What the request carried (empty when nothing was sent, as in tests).
pub fn delivered() -> Delivered {
    DELIVERED.get().cloned().unwrap_or_default()
}

static PACKAGES_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Plans made only to list packages (`pigsty repo list|build`) need no certificates:
/// a missing one is left out instead of failing the plan.
pub fn packages_only() {
    PACKAGES_ONLY.store(true, std::sync::atomic::Ordering::Relaxed);
}

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
    let script = format!(
        "set -e; umask 077; mkdir -p {CA_DIR}; cd {CA_DIR}; \
         openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
           -keyout ca.key.tmp -out ca.crt.tmp -days {validity_days} -subj \"/CN={cn}\" \
           -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'; \
         chmod 600 ca.key.tmp; chmod 644 ca.crt.tmp; mv ca.key.tmp ca.key; mv ca.crt.tmp ca.crt"
    );
    p.add(
        Exec::new(
            &format!("CA `{cn}` in {CA_DIR}"),
            Cmd::new("sh")
                .args(["-c", &script])
                .timeout(Duration::from_secs(60)),
        )
        .creates(CA_CRT)
        .why("create"),
    );
}

/// NODE, MINIO, PGSQL: trust the delivered CA (nothing when none was delivered).
pub fn trust_steps(p: &mut ModulePlan) {
    let Some(ca) = delivered().ca_crt else {
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

/// Install a delivered server certificate (`purpose`) as `<dir>/<name>.crt`, `.key`
/// and a combined `.pem` (HAProxy), keys 0600; `notify` on change.
pub fn server_cert_steps(
    p: &mut ModulePlan,
    purpose: &str,
    host: &str,
    notify: Vec<Handler>,
) -> Result<()> {
    let d = delivered();
    let Some(c) = d.certs.get(purpose) else {
        if PACKAGES_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        bail!(
            "host `{host}`: no {purpose} certificate came with the request (the admin node has no CA at `{CA_CRT}`)\nhint: run pigsty from the admin node after INFRA created the CA (`pigsty deploy -m infra`)"
        );
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

/// Controller: what goes with the request of `host` for `module`: the local CA
/// certificate (any module), and for MINIO members the server certificate. A failure
/// to issue is left for the module to report (no certificate in the request).
pub fn for_host(
    inv: &crate::inventory::Inventory,
    host: &str,
    module: crate::inventory::Module,
) -> Delivered {
    let mut d = Delivered {
        ca_crt: local_ca(),
        ..Default::default()
    };
    if d.ca_crt.is_none() || module != crate::inventory::Module::Minio {
        return d;
    }
    let Some(h) = inv.host(host) else {
        return d;
    };
    let Ok(m) = crate::modules::minio::Minio::new(h) else {
        return d;
    };
    if !m.https {
        return d;
    }
    let validity = days(h.str("cert_validity").unwrap_or("7300d")).min(3650);
    match issue(&format!("minio-{}", m.ip), &m.cert_names(), validity) {
        Ok(c) => {
            d.certs.insert("minio".into(), c);
        }
        Err(e) => tracing::warn!("issuing the minio certificate of `{host}`: {e:#}"),
    }
    d
}

/// Controller: the CA certificate of this (admin) node, if any.
pub fn local_ca() -> Option<String> {
    std::fs::read_to_string(CA_CRT)
        .ok()
        .filter(|s| s.contains("BEGIN CERTIFICATE"))
}

fn run(c: Cmd) -> Result<String> {
    let out = c.timeout(Duration::from_secs(60)).ok()?;
    Ok(out.stdout)
}

/// Controller: a server certificate for `name` with `sans` (DNS names and IPs), signed
/// by the local CA; the one issued before when its names are the same and it still
/// verifies against the CA.
pub fn issue(name: &str, sans: &[String], validity_days: u32) -> Result<CertPair> {
    if !Path::new(CA_KEY).exists() {
        bail!("no CA key at `{CA_KEY}` on this node\nhint: run pigsty from the admin (infra) node after `pigsty deploy -m infra` created the CA");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("certificate name `{name}`: only letters, digits, `-`, `_`, `.`");
    }
    let dir = Path::new(ISSUED_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{ISSUED_DIR}`"))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let names = dir.join(format!("{name}.sans"));
    let want = sans.join(",");
    let same_names = std::fs::read_to_string(&names)
        .map(|s| s.trim() == want)
        .unwrap_or(false);
    if same_names && crt.exists() && key.exists() {
        let ok = Cmd::new("openssl")
            .args(["verify", "-CAfile", CA_CRT])
            .arg(crt.display().to_string())
            .timeout(Duration::from_secs(30))
            .succeeds();
        if ok {
            return Ok(CertPair {
                crt: std::fs::read_to_string(&crt)?,
                key: std::fs::read_to_string(&key)?,
            });
        }
    }
    let alt: Vec<String> = sans
        .iter()
        .map(|s| {
            if s.parse::<std::net::IpAddr>().is_ok() {
                format!("IP:{s}")
            } else {
                format!("DNS:{s}")
            }
        })
        .collect();
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={}\n",
            alt.join(",")
        ),
    )?;
    let tmpkey = dir.join(format!("{name}.key.tmp"));
    let csr = dir.join(format!("{name}.csr"));
    let cn = sans.first().cloned().unwrap_or_else(|| name.to_string());
    run(Cmd::new("sh").args([
        "-c",
        "umask 077; exec openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout \"$1\" -out \"$2\" -subj \"/CN=$3\" 2>&1",
        "sh",
        &tmpkey.display().to_string(),
        &csr.display().to_string(),
        &cn,
    ]))
    .context("creating a key and signing request with openssl")?;
    let serial = format!("0x{}", hex::encode(rand::random::<[u8; 16]>()));
    run(Cmd::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &csr.display().to_string(),
        "-CA",
        CA_CRT,
        "-CAkey",
        CA_KEY,
        "-set_serial",
        &serial,
        "-days",
        &validity_days.to_string(),
        "-extfile",
        &ext.display().to_string(),
        "-out",
        &crt.display().to_string(),
    ]))
    .context("signing the certificate with the CA")?;
    std::fs::rename(&tmpkey, &key)?;
    std::fs::write(&names, &want)?;
    let _ = std::fs::remove_file(&csr);
    Ok(CertPair {
        crt: std::fs::read_to_string(&crt)?,
        key: std::fs::read_to_string(&key)?,
    })
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
        trust_steps(&mut p);
        assert_eq!(p.steps().count(), 0);
    }
}
