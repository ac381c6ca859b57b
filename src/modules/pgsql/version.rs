//! Which Postgres major version to run, decided from facts (nothing is asked of the
//! machine here). An explicit `pg_version` must be installed or offered by the apt
//! sources; otherwise we keep the version of an existing data directory, or of an
//! installed server, or take the highest `postgresql-NN` the sources offer (15 on
//! plain Debian 12).
use crate::facts::{Facts, PG_MAJORS};
use crate::inventory::Host;
use anyhow::{bail, Result};

/// Decide the version of `host` from its facts (`Facts::gather_postgres`).
pub fn resolve(host: &Host, facts: &Facts) -> Result<u32> {
    let pkgs = &facts.packages;
    let name = |n: u32| format!("postgresql-{n}");
    let installed = |n: u32| pkgs.installed(&name(n));
    let available = |n: u32| installed(n) || pkgs.offered(&name(n));
    if host.is_set("pg_version") {
        let raw = super::params::Vars(&host.vars).s("pg_version");
        let Ok(n) = raw.trim().parse::<u32>() else {
            bail!(
                "host `{}`: `pg_version: {raw}` is not a postgres major version (e.g. 15)",
                host.addr
            );
        };
        if let Some(d) = facts.pg_data_version {
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
        let fallback = PG_MAJORS
            .iter()
            .copied()
            .find(|k| *k != n && pkgs.offered(&name(*k)));
        bail!(
            "host `{}`: `pg_version: {n}` but package `postgresql-{n}` is not available from any configured apt source\nhint: add the PGDG repository (apt.postgresql.org) for PostgreSQL {n}{}",
            host.addr,
            match fallback {
                Some(f) => format!(", or unset `pg_version` to use PostgreSQL {f} from the configured sources"),
                None => String::new(),
            }
        );
    }
    if let Some(n) = facts.pg_data_version {
        if available(n) {
            return Ok(n);
        }
        bail!(
            "host `{}`: `{}` holds a PostgreSQL {n} cluster but package `postgresql-{n}` is neither installed nor available\nhint: add the repository that provides it, or set `pg_version`",
            host.addr,
            host.str("pg_data").unwrap_or_default()
        );
    }
    if let Some(n) = PG_MAJORS.iter().copied().find(|n| installed(*n)) {
        return Ok(n);
    }
    if let Some(n) = PG_MAJORS.iter().copied().find(|n| pkgs.offered(&name(*n))) {
        return Ok(n);
    }
    bail!(
        "host `{}`: no `postgresql-NN` package ({}) is available from the configured apt sources\nhint: run `apt-get update`, or add the PGDG repository (apt.postgresql.org)",
        host.addr,
        PG_MAJORS.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::PackageFacts;

    fn facts(installed: &[&str], candidates: &[&str], data: Option<u32>) -> Facts {
        let mut f = Facts::test_meta();
        f.packages = PackageFacts {
            installed: installed.iter().map(|n| (n.to_string(), true)).collect(),
            candidates: candidates
                .iter()
                .map(|n| (n.to_string(), "1".to_string()))
                .collect(),
            ..Default::default()
        };
        f.pg_data_version = data;
        f
    }

    fn host(extra: &str) -> crate::inventory::Inventory {
        let text = format!(
            "all:\n  children:\n    pg-x:\n      hosts: {{ 10.10.10.12: {{ pg_seq: 1, pg_role: primary }} }}\n      vars: {{ pg_cluster: pg-x{extra} }}\n"
        );
        crate::inventory::Inventory::unresolved("t.yml", &text)
    }

    #[test]
    fn unset_version_takes_the_highest_available() {
        let inv = host("");
        assert_eq!(
            resolve(&inv.hosts[0], &facts(&[], &["postgresql-15"], None)).unwrap(),
            15
        );
        assert_eq!(
            resolve(
                &inv.hosts[0],
                &facts(&[], &["postgresql-15", "postgresql-17"], None)
            )
            .unwrap(),
            17
        );
    }

    #[test]
    fn an_installed_server_wins_over_a_newer_candidate() {
        let inv = host("");
        assert_eq!(
            resolve(
                &inv.hosts[0],
                &facts(&["postgresql-15"], &["postgresql-17"], None)
            )
            .unwrap(),
            15
        );
    }

    #[test]
    fn unavailable_explicit_version_names_the_package_and_pgdg() {
        let inv = host(", pg_version: 18");
        let e = resolve(&inv.hosts[0], &facts(&[], &["postgresql-15"], None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`postgresql-18`") && e.contains("PGDG") && e.contains("PostgreSQL 15"),
            "{e}"
        );
    }

    #[test]
    fn an_explicit_version_other_than_the_data_directory_is_refused() {
        let inv = host(", pg_version: 16");
        let f = facts(&["postgresql-15"], &["postgresql-16"], Some(15));
        let e = resolve(&inv.hosts[0], &f).unwrap_err().to_string();
        assert!(
            e.contains("PostgreSQL 15 cluster") && e.contains("does not upgrade"),
            "{e}"
        );
        let inv = host("");
        assert_eq!(
            resolve(&inv.hosts[0], &f).unwrap(),
            15,
            "the data directory decides when unset"
        );
    }

    #[test]
    fn nothing_available_is_a_clear_error() {
        let inv = host("");
        let e = resolve(&inv.hosts[0], &facts(&[], &[], None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("apt-get update"), "{e}");
    }

    #[test]
    fn gathering_asks_the_package_manager_and_reads_the_data_directory() {
        use crate::sys::CmdError;
        struct Fake;
        impl crate::sys::pkg::PackageManager for Fake {
            fn missing(&self, names: &[String]) -> Result<Vec<String>, CmdError> {
                Ok(names
                    .iter()
                    .filter(|n| n.as_str() != "postgresql-15")
                    .cloned()
                    .collect())
            }
            fn install(&self, _: &[String]) -> Result<(), CmdError> {
                Ok(())
            }
            fn candidate(&self, name: &str) -> Option<String> {
                (name == "postgresql-15").then(|| "15.1".into())
            }
        }
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("PG_VERSION"), "15\n").unwrap();
        let mut f = Facts::default();
        f.gather_postgres_with(&Fake, d.path().to_str().unwrap());
        assert!(f.packages.installed("postgresql-15") && !f.packages.installed("postgresql-17"));
        assert_eq!(
            f.packages
                .candidates
                .get("postgresql-15")
                .map(String::as_str),
            Some("15.1")
        );
        assert_eq!(f.pg_data_version, Some(15));
    }
}
