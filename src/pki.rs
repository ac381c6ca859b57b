//! The issuing side of the INFRA CA (the controller runs on the admin node, which
//! holds the CA, Pigsty's layout). For each node it sends, in the node request:
//! - the CA certificate (public), which NODE, MINIO and PGSQL install as `/etc/pki/ca.crt`
//!   and into the system trust store (`update-ca-certificates`), see `modules::pki`;
//! - for MINIO members, a server certificate and key it issued. Issued certificates are
//!   kept on the admin node in `/etc/pki/issued/` (keys 0600) and re-sent unchanged
//!   while their names still match, so a re-run changes nothing.
//!
//! Keys travel only in the request on the node's stdin, never in arguments or logs.
use crate::modules::pki::{days, CA_CRT, CA_KEY, ISSUED_DIR};
use crate::options::{CertPair, Delivered};
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

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

