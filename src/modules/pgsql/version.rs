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
            "host `{}`: `pg_version: {n}` but no configured apt source offers package `postgresql-{n}`\n  sources tried: {}\nhint: {}{}",
            host.addr,
            match pkgs.sources.is_empty() {
                true => "none (no apt source is configured)".to_string(),
                false => pkgs.sources.join("; "),
            },
            entry_to_add(host, n),
            match fallback {
                Some(f) => format!("\n      or unset `pg_version` to use PostgreSQL {f} from the configured sources"),
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

/// What to add so that a source offers PostgreSQL `n`: the repo_upstream entry with
/// `module: pgsql` if the inventory has one the node does not use, else PGDG's entry.
fn entry_to_add(host: &Host, n: u32) -> String {
    let modules = host.var_str("node_repo_modules");
    let uses_pgsql = crate::modules::node::upstream::repo_modules(host).contains(&"pgsql");
    let pgsql_entry = host.list("repo_upstream").and_then(|l| {
        l.iter().find_map(|e| {
            (e.get("module").and_then(|m| m.as_str()) == Some("pgsql")).then(|| {
                e.get("name")
                    .and_then(|m| m.as_str())
                    .unwrap_or("?")
                    .to_string()
            })
        })
    });
    match pgsql_entry {
        Some(e) if !uses_pgsql => format!(
            "this node does not use repo_upstream entry `{e}` (module pgsql): add `pgsql` to node_repo_modules (now `{modules}`)"
        ),
        Some(e) => format!(
            "repo_upstream entry `{e}` (module pgsql) is in use but does not offer PostgreSQL {n} for this release: check its baseurl and releases"
        ),
        None => format!(
            "add PGDG to repo_upstream and `pgsql` to node_repo_modules (now `{modules}`), e.g.\n      repo_upstream:\n        - {{ name: pgdg, description: PGDG, module: pgsql, baseurl: {{ default: 'http://apt.postgresql.org/pub/repos/apt/ ${{distro_codename}}-pgdg main' }}, key: <PGDG's armored signing key> }}\n      node_repo_modules: {}pgsql\n      (a node on the local repository: add the entry, `pgsql` to repo_modules, and run `pigsty repo build`)",
            match modules.trim() {
                "" => String::new(),
                m => format!("{m},"),
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::PackageFacts;

    fn facts(installed: &[&str], candidates: &[&str], data: Option<u32>) -> Facts {
        let mut f = Facts::test_meta();
        f.packages = PackageFacts {
            sources: f.packages.sources.clone(),
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
            e.contains("`pg_version: 18`")
                && e.contains("`postgresql-18`")
                && e.contains("sources tried: http://deb.debian.org/debian bookworm")
                && e.contains("name: pgdg")
                && e.contains("node_repo_modules: local,pgsql")
                && e.contains("PostgreSQL 15"),
            "{e}"
        );
        // an entry the node does not use is named, with the module to add
        let inv = host(", pg_version: 18, repo_upstream: [{ name: mypg, module: pgsql, baseurl: { default: 'http://x/ y main' } }]");
        let e = resolve(&inv.hosts[0], &facts(&[], &["postgresql-15"], None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("repo_upstream entry `mypg`")
                && e.contains("add `pgsql` to node_repo_modules (now `local`)"),
            "{e}"
        );
        let inv = host(", pg_version: 18, node_repo_modules: 'local,pgsql', repo_upstream: [{ name: mypg, module: pgsql, baseurl: { default: 'http://x/ y main' } }]");
        let e = resolve(&inv.hosts[0], &facts(&[], &[], None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`mypg` (module pgsql) is in use") && !e.contains("unset"),
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
