//! Which Postgres major version to run. An explicit `pg_version` must be installable
//! from the configured apt sources (or already installed); otherwise we keep the
//! version of an existing data directory, or of an installed server, or take the
//! highest `postgresql-NN` the sources offer (15 on plain Debian 12).
use super::params::Vars;
use crate::inventory::Host;
use crate::sys::pkg::{Apt, PackageManager};
use anyhow::{bail, Result};

/// Majors we know how to run, newest first.
pub const KNOWN: &[u32] = &[18, 17, 16, 15, 14, 13];

/// Read a data directory's `PG_VERSION`.
fn data_version(pg_data: &str) -> Option<u32> {
    std::fs::read_to_string(format!("{pg_data}/PG_VERSION")).ok()?.trim().parse().ok()
}

/// Decide the version; `pm` answers what is installed and installable.
pub fn resolve_with(host: &Host, pm: &dyn PackageManager) -> Result<u32> {
    let v = Vars(&host.vars);
    let installed = |n: u32| pm.missing(&[format!("postgresql-{n}")]).map(|m| m.is_empty()).unwrap_or(false);
    let available = |n: u32| installed(n) || pm.candidate(&format!("postgresql-{n}")).is_some();
    if host.is_set("pg_version") {
        let raw = v.s("pg_version", "");
        let Ok(n) = raw.trim().parse::<u32>() else {
            bail!("host `{}`: `pg_version: {raw}` is not a postgres major version (e.g. 15)", host.addr);
        };
        if let Some(d) = data_version(&v.s("pg_data", "/pg/data")) {
            if d != n {
                bail!(
                    "host `{}`: `pg_version: {n}` but the data directory holds a PostgreSQL {d} cluster; pigsty does not upgrade majors in place\nhint: keep `pg_version: {d}`, or move the cluster to new members with PostgreSQL {n}",
                    host.addr
                );
            }
        }
        if available(n) {
            return Ok(n);
        }
        let fallback = KNOWN.iter().copied().find(|k| *k != n && pm.candidate(&format!("postgresql-{k}")).is_some());
        bail!(
            "host `{}`: `pg_version: {n}` but package `postgresql-{n}` is not available from any configured apt source\nhint: add the PGDG repository (apt.postgresql.org) for PostgreSQL {n}{}",
            host.addr,
            match fallback {
                Some(f) => format!(", or unset `pg_version` to use PostgreSQL {f} from the configured sources"),
                None => String::new(),
            }
        );
    }
    let pg_data = v.s("pg_data", "/pg/data");
    if let Some(n) = data_version(&pg_data) {
        if available(n) {
            return Ok(n);
        }
        bail!(
            "host `{}`: `{pg_data}` holds a PostgreSQL {n} cluster but package `postgresql-{n}` is neither installed nor available\nhint: add the repository that provides it, or set `pg_version`",
            host.addr
        );
    }
    if let Some(n) = KNOWN.iter().copied().find(|n| installed(*n)) {
        return Ok(n);
    }
    if let Some(n) = KNOWN.iter().copied().find(|n| pm.candidate(&format!("postgresql-{n}")).is_some()) {
        return Ok(n);
    }
    bail!(
        "host `{}`: no `postgresql-NN` package ({}) is available from the configured apt sources\nhint: run `apt-get update`, or add the PGDG repository (apt.postgresql.org)",
        host.addr,
        KNOWN.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
    )
}

/// [`resolve_with`] against apt.
pub fn resolve(host: &Host) -> Result<u32> {
    resolve_with(host, &Apt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::CmdError;

    struct Fake {
        installed: Vec<&'static str>,
        candidates: Vec<&'static str>,
    }
    impl PackageManager for Fake {
        fn missing(&self, names: &[String]) -> Result<Vec<String>, CmdError> {
            Ok(names.iter().filter(|n| !self.installed.contains(&n.as_str())).cloned().collect())
        }
        fn install(&self, _: &[String]) -> Result<(), CmdError> {
            Ok(())
        }
        fn candidate(&self, name: &str) -> Option<String> {
            self.candidates.contains(&name).then(|| "1".into())
        }
    }

    fn host(extra: &str) -> crate::inventory::Inventory {
        let text = format!(
            "all:\n  children:\n    pg-x:\n      hosts: {{ 10.10.10.12: {{ pg_seq: 1, pg_role: primary }} }}\n      vars: {{ pg_cluster: pg-x, pg_data: /nonexistent/pgdata{extra} }}\n"
        );
        crate::inventory::Inventory::from_str_with("t.yml", &text, &[], &crate::inventory::LoadOptions { resolve_names: false }).unwrap()
    }

    #[test]
    fn unset_version_takes_the_highest_available() {
        let inv = host("");
        let pm = Fake { installed: vec![], candidates: vec!["postgresql-15"] };
        assert_eq!(resolve_with(&inv.hosts[0], &pm).unwrap(), 15);
        let pm = Fake { installed: vec![], candidates: vec!["postgresql-15", "postgresql-17"] };
        assert_eq!(resolve_with(&inv.hosts[0], &pm).unwrap(), 17);
    }

    #[test]
    fn an_installed_server_wins_over_a_newer_candidate() {
        let inv = host("");
        let pm = Fake { installed: vec!["postgresql-15"], candidates: vec!["postgresql-17"] };
        assert_eq!(resolve_with(&inv.hosts[0], &pm).unwrap(), 15);
    }

    #[test]
    fn unavailable_explicit_version_names_the_package_and_pgdg() {
        let inv = host(", pg_version: 18");
        let pm = Fake { installed: vec![], candidates: vec!["postgresql-15"] };
        let e = resolve_with(&inv.hosts[0], &pm).unwrap_err().to_string();
        assert!(e.contains("`postgresql-18`") && e.contains("PGDG") && e.contains("PostgreSQL 15"), "{e}");
    }

    #[test]
    fn an_explicit_version_other_than_the_data_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("PG_VERSION"), "15\n").unwrap();
        let text = format!(
            "all:\n  children:\n    pg-x:\n      hosts: {{ 10.10.10.12: {{ pg_seq: 1, pg_role: primary }} }}\n      vars: {{ pg_cluster: pg-x, pg_version: 16, pg_data: {} }}\n",
            d.path().display()
        );
        let inv = crate::inventory::Inventory::from_str_with("t.yml", &text, &[], &crate::inventory::LoadOptions { resolve_names: false }).unwrap();
        let pm = Fake { installed: vec!["postgresql-15"], candidates: vec!["postgresql-16"] };
        let e = resolve_with(&inv.hosts[0], &pm).unwrap_err().to_string();
        assert!(e.contains("PostgreSQL 15 cluster") && e.contains("does not upgrade"), "{e}");
        let text = text.replace("pg_version: 16, ", "");
        let inv = crate::inventory::Inventory::from_str_with("t.yml", &text, &[], &crate::inventory::LoadOptions { resolve_names: false }).unwrap();
        assert_eq!(resolve_with(&inv.hosts[0], &pm).unwrap(), 15, "the data directory decides when unset");
    }

    #[test]
    fn nothing_available_is_a_clear_error() {
        let inv = host("");
        let pm = Fake { installed: vec![], candidates: vec![] };
        let e = resolve_with(&inv.hosts[0], &pm).unwrap_err().to_string();
        assert!(e.contains("apt-get update"), "{e}");
    }
}
