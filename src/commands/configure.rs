//! `pigsty configure`: write an inventory for this host from an embedded profile,
//! with this host's address, a tuning template picked from its CPU and memory, and a
//! fresh random secret for every credential. Never overwrites without `--force`.
use crate::cli::{ConfigureArgs, Global};
use crate::facts::Facts;
use anyhow::{bail, Context, Result};
use rand::Rng;
use serde_json::json;
use std::path::{Path, PathBuf};

pub use crate::inventory::SECRETS;

/// A random password: 24 characters from [A-Za-z0-9], from the OS RNG (~143 bits).
pub fn random_secret() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..24)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// Pigsty's tuning templates: tiny below 4 cores or 4 GiB, else oltp.
pub fn pick_tune(cpus: usize, mem_mb: u64) -> &'static str {
    if cpus < 4 || mem_mb < 3800 {
        "tiny"
    } else {
        "oltp"
    }
}

/// Render a profile for `ip` with `tune` and fresh secrets.
pub fn render_profile(profile: &str, ip: &str, tune: &str) -> Result<String> {
    let Some(src) = crate::assets::profile(profile) else {
        bail!(
            "unknown profile `{profile}`\nhint: embedded profiles: {}",
            crate::assets::profile_names().join(", ")
        );
    };
    let secrets: serde_json::Map<String, serde_json::Value> = SECRETS
        .iter()
        .map(|k| (k.to_string(), json!(random_secret())))
        .collect();
    let ctx = json!({
        "admin_ip": ip,
        "node_tune": tune,
        "pg_conf": format!("{tune}.yml"),
        "secrets": secrets,
    });
    crate::template::render_str(src, &ctx).with_context(|| format!("rendering profile `{profile}`"))
}

/// Write `text` to `path` with mode 0600 (directory 0700 when we create it).
pub fn write_inventory(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating `{}`", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("setting mode of `{}`", dir.display()))?;
        }
    }
    crate::sys::fs::write_atomic(path, text.as_bytes(), 0o600, None, None)?;
    Ok(())
}

pub fn run(g: &Global, a: &ConfigureArgs) -> Result<u8> {
    if a.list {
        for name in crate::assets::profile_names() {
            println!("{name:<12} {}", crate::assets::profile_desc(&name));
        }
        return Ok(0);
    }
    let path: PathBuf = a.output.clone().unwrap_or_else(|| g.inventory_path());
    configure(&path, a)?;
    Ok(0)
}

/// Shared by `configure` and `install`.
pub fn configure(path: &Path, a: &ConfigureArgs) -> Result<()> {
    if path.exists() && !a.force {
        bail!(
            "inventory `{}` already exists; refusing to overwrite it\nhint: pass --force to replace it (its credentials will change)",
            path.display()
        );
    }
    let mut profile = a.profile.clone();
    if let Some(c) = &a.conf {
        if crate::assets::profile(c).is_some() {
            profile = c.clone();
        } else if Path::new(c).is_file() {
            return import_file(path, Path::new(c), a);
        } else {
            bail!(
                "`-c {c}` is neither an embedded profile nor a file\nhint: embedded profiles: {}",
                crate::assets::profile_names().join(", ")
            );
        }
    }
    let single = crate::assets::profile(&profile).is_some_and(|t| t.contains("{{ admin_ip }}"));
    if a.ip.is_some() && !single {
        bail!("profile `{profile}` describes several nodes at fixed addresses (10.10.10.10 and up); `--ip` applies to single-node profiles\nhint: write it without --ip, then change the addresses in the file");
    }
    let facts = Facts::gather();
    let ip = match &a.ip {
        Some(ip) => {
            ip.parse::<std::net::Ipv4Addr>()
                .with_context(|| format!("`--ip {ip}` is not an IPv4 address"))?;
            ip.clone()
        }
        None => facts
            .primary_ipv4
            .clone()
            .context("could not find this host's primary IPv4 address\nhint: pass --ip ADDRESS")?,
    };
    let tune = match &a.tune {
        Some(t) => t.clone(),
        None => pick_tune(facts.cpus, facts.mem_mb).to_string(),
    };
    let text = render_profile(&profile, &ip, &tune)?;
    write_inventory(path, &text)?;
    let hosts = if single {
        format!("host {ip}")
    } else {
        "nodes at the profile's addresses (10.10.10.10 and up)".to_string()
    };
    eprintln!(
        "wrote `{}` (mode 0600): profile {}, {hosts}, tuning {tune} ({} cpus, {} MiB), {} fresh credentials",
        path.display(),
        profile,
        facts.cpus,
        facts.mem_mb,
        SECRETS.len()
    );
    Ok(())
}

/// `-c FILE`: import an existing Pigsty configuration (see `configure_import`).
fn import_file(out: &Path, src: &Path, a: &ConfigureArgs) -> Result<()> {
    let name = src.display().to_string();
    let text = std::fs::read_to_string(src).with_context(|| format!("reading `{name}`"))?;
    let r = super::configure_import::import(&name, &text, a.generate)?;
    write_inventory(out, &r.text)?;
    eprintln!(
        "wrote `{}` (mode 0600) from `{name}`: every value kept, {} credential(s) generated{}{}",
        out.display(),
        r.generated.len(),
        if r.generated.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.generated.join(", "))
        },
        if r.replaced.is_empty() {
            String::new()
        } else {
            format!(", {} published password(s) replaced", r.replaced.len())
        },
    );
    if !r.published.is_empty() {
        eprintln!(
            "warning: {} password(s) published in Pigsty's docs are kept ({}); anyone can look them up\n  hint: `pigsty configure -c {name} -g` replaces them with fresh ones",
            r.published.len(),
            r.published.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_renders_loads_and_lacks_nothing() {
        let names = crate::assets::profile_names();
        for want in [
            "meta",
            "rich",
            "slim",
            "ha/full",
            "ha/trio",
            "ha/safe",
            "ha/dual",
            "demo/redis",
            "demo/minio",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "no profile {want}: {names:?}"
            );
        }
        for name in &names {
            assert!(
                !crate::assets::profile_desc(name).is_empty(),
                "{name}: no `# desc:` line"
            );
            let text = render_profile(name, "10.10.10.10", "oltp")
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let inv = crate::inventory::Inventory::from_str_with(
                name,
                &text,
                &[],
                &crate::inventory::LoadOptions {
                    resolve_names: false,
                },
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                inv.check_secrets().is_empty(),
                "{name}: {:?}",
                inv.check_secrets()
            );
            assert!(
                inv.check_unsupported().is_empty(),
                "{name}: {:?}",
                inv.check_unsupported()
            );
            let w: Vec<String> = inv.warnings.iter().map(|w| w.to_string()).collect();
            // (published passwords, unknown or unsupported parameters would all be warnings)
            assert!(w.is_empty(), "{name}: warnings:\n{}", w.join("\n"));
        }
    }

    #[test]
    fn secrets_are_random_and_long() {
        let a = random_secret();
        assert_eq!(a.len(), 24);
        assert_ne!(a, random_secret());
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn tune_is_tiny_below_four_cores() {
        assert_eq!(pick_tune(2, 24000), "tiny");
        assert_eq!(pick_tune(8, 2000), "tiny");
        assert_eq!(pick_tune(8, 32000), "oltp");
    }

    #[test]
    fn meta_profile_renders_with_host_and_no_placeholder_left() {
        let t = render_profile("meta", "10.1.2.3", "oltp").unwrap();
        assert!(t.contains("10.1.2.3: { pg_seq: 1, pg_role: primary }"));
        assert!(!t.contains("{{"));
        for bad in [
            "DBUser.DBA",
            "DBUser.Monitor",
            "DBUser.Replicator",
            "Patroni.API",
            ": pigsty\n",
        ] {
            assert!(!t.contains(bad), "default password {bad} in profile");
        }
        let v: serde_yaml::Value = serde_yaml::from_str(&t).unwrap();
        assert!(
            v["all"]["vars"]["pg_admin_password"]
                .as_str()
                .unwrap()
                .len()
                == 24
        );
    }

    #[test]
    fn two_renders_have_different_credentials() {
        let a = render_profile("meta", "10.1.2.3", "oltp").unwrap();
        let b = render_profile("meta", "10.1.2.3", "oltp").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn existing_inventory_is_not_overwritten_without_force() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pigsty.yml");
        std::fs::write(&p, "keep").unwrap();
        let a = ConfigureArgs {
            force: false,
            conf: None,
            generate: false,
            list: false,
            profile: "meta".into(),
            ip: Some("10.0.0.1".into()),
            output: None,
            tune: None,
        };
        let e = configure(&p, &a).unwrap_err().to_string();
        assert!(e.contains("already exists") && e.contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep");
    }

    #[test]
    fn written_inventory_is_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("etc/pigsty.yml");
        let a = ConfigureArgs {
            force: false,
            conf: None,
            generate: false,
            list: false,
            profile: "meta".into(),
            ip: Some("10.0.0.1".into()),
            output: None,
            tune: Some("tiny".into()),
        };
        configure(&p, &a).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .contains("node_tune: tiny"));
    }
}
