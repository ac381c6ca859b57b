//! Extensions: `pg_extensions` (names or package aliases, installed on every member)
//! and each database's `extensions` (packages installed on every member too, then
//! `CREATE EXTENSION` in that database on the primary). Which package carries an
//! extension on which distro comes from the embedded manifest
//! `repo-mirror/extensions.yml`; a name it does not know, or a package the distro does
//! not have, is reported with what to add, never skipped silently.
use super::params::Pg;
use super::roles::{db_defs, DbState};
use crate::engine::ModulePlan;
use crate::resources::postgres::PgExtension;
use crate::resources::{Note, OptionalPackage};
use anyhow::{anyhow, Result};
use serde::Deserialize;
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;

/// One entry of the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// Names `CREATE EXTENSION` takes from the package.
    pub ext: Vec<String>,
    /// Debian package name, `$v` = Postgres major version.
    pub deb: String,
    /// Everything else: `<distro>-<release>: <repository>`.
    #[serde(flatten)]
    pub repos: BTreeMap<String, Yaml>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    extensions: BTreeMap<String, Entry>,
}

/// The embedded manifest, alias -> entry.
pub fn manifest() -> Result<BTreeMap<String, Entry>> {
    let text = crate::assets::REPO_MIRROR
        .get_file("extensions.yml")
        .and_then(|f| f.contents_utf8())
        .ok_or_else(|| anyhow!("the embedded repo-mirror/extensions.yml is missing"))?;
    let m: Manifest =
        serde_yaml::from_str(text).map_err(|e| anyhow!("repo-mirror/extensions.yml: {e}"))?;
    Ok(m.extensions)
}

/// The manifest entry for an alias or an extension name.
pub fn find<'a>(m: &'a BTreeMap<String, Entry>, name: &str) -> Option<(&'a String, &'a Entry)> {
    m.get_key_value(name)
        .or_else(|| m.iter().find(|(_, e)| e.ext.iter().any(|x| x == name)))
}

/// What one wanted name resolves to on this host.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    /// A package, from the repository the manifest names for this distro.
    Package {
        alias: String,
        package: String,
        repo: String,
    },
    /// Known, but not packaged for this distro.
    NotPackaged { alias: String, distro: String },
    /// A raw package name given in `pg_extensions` (`postgresql-15-foo`).
    Raw { package: String },
    /// Neither in the manifest nor a package name.
    Unknown { name: String },
}

/// `pg_extensions` entries, split on blanks and commas (Pigsty allows `"postgis pgvector"`).
pub fn listed(pg: &Pg) -> Vec<String> {
    pg.extensions
        .iter()
        .flat_map(|s| s.split([' ', ',', '\t']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Names wanted on this host: `pg_extensions`, then every extension a (present)
/// database lists. `only` narrows to those names (aliases or extension names).
pub fn wanted_names(pg: &Pg, only: &[String]) -> Result<Vec<String>> {
    let mut names = listed(pg);
    for d in db_defs(pg)?
        .into_iter()
        .filter(|d| d.state != DbState::Absent)
    {
        names.extend(d.extensions.into_iter().map(|(n, _)| n));
    }
    let m = manifest()?;
    let matches = |n: &str| {
        only.is_empty()
            || only.iter().any(|o| {
                o == n || find(&m, o).is_some_and(|(a, _)| find(&m, n).is_some_and(|(b, _)| a == b))
            })
    };
    let mut out: Vec<String> = vec![];
    for n in names {
        if matches(&n) && !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Resolve names for Postgres `version` on `distro` (e.g. `debian-12`), one per package.
pub fn resolve(names: &[String], version: u32, distro: &str) -> Result<Vec<Want>> {
    let m = manifest()?;
    let mut out: Vec<Want> = vec![];
    for n in names {
        let w = match find(&m, n) {
            Some((alias, e)) => match e.repos.get(distro).and_then(Yaml::as_str) {
                Some(repo) => Want::Package {
                    alias: alias.clone(),
                    package: e.deb.replace("$v", &version.to_string()),
                    repo: repo.to_string(),
                },
                None => Want::NotPackaged {
                    alias: alias.clone(),
                    distro: distro.to_string(),
                },
            },
            None if n.starts_with("postgresql-") => Want::Raw {
                package: n
                    .replace("${pg_version}", &version.to_string())
                    .replace("$v", &version.to_string()),
            },
            // contrib extensions ship with the server package itself
            None if CONTRIB.contains(&n.as_str()) => continue,
            None => Want::Unknown { name: n.clone() },
        };
        if !out.contains(&w) {
            out.push(w);
        }
    }
    Ok(out)
}

/// Extensions that come with `postgresql-NN` (contrib): nothing to install.
const CONTRIB: &[&str] = &[
    "adminpack",
    "amcheck",
    "autoinc",
    "bloom",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dblink",
    "dict_int",
    "dict_xsyn",
    "earthdistance",
    "file_fdw",
    "fuzzystrmatch",
    "hstore",
    "insert_username",
    "intagg",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "moddatetime",
    "old_snapshot",
    "pageinspect",
    "pg_buffercache",
    "pg_freespacemap",
    "pg_prewarm",
    "pg_stat_statements",
    "pg_surgery",
    "pg_trgm",
    "pg_visibility",
    "pg_walinspect",
    "pgcrypto",
    "pgrowlocks",
    "pgstattuple",
    "plpgsql",
    "postgres_fdw",
    "refint",
    "seg",
    "sslinfo",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
    "uuid-ossp",
    "xml2",
    "plperl",
    "plperlu",
    "plpython3u",
    "pltcl",
    "pltclu",
];

/// This host's distro key in the manifest, e.g. `debian-12`.
pub fn distro(pg: &Pg) -> String {
    pg.facts.distro_key()
}

/// Package steps for the wanted extensions (every member).
pub fn package_steps(p: &mut ModulePlan, pg: &Pg, only: &[String]) -> Result<()> {
    let names = wanted_names(pg, only)?;
    let distro = distro(pg);
    for w in resolve(&names, pg.version, &distro)? {
        match w {
            Want::Package {
                alias,
                package,
                repo,
            } => {
                let hint = if repo == "pgdg" {
                    format!("it comes from the PGDG repository (apt.postgresql.org, see repo-mirror/{distro}.yml); add that repository to the node")
                } else {
                    format!("it comes from the `{repo}` repository")
                };
                p.add(OptionalPackage::new(
                    "pgsql",
                    &format!("extension {alias}"),
                    &[package.as_str()],
                    &hint,
                ));
            }
            Want::Raw { package } => {
                p.add(OptionalPackage::new(
                    "pgsql",
                    &format!("extension package {package}"),
                    &[package.as_str()],
                    "check the package name in pg_extensions",
                ));
            }
            Want::NotPackaged { alias, distro } => {
                p.add(Note::skip(
                "package",
                &format!("extension {alias}"),
                &format!("module pgsql: extension `{alias}` has no package for {distro} in repo-mirror/extensions.yml; hint: install it by hand or add it to the manifest"),
                ));
            }
            Want::Unknown { name } => {
                p.add(Note::skip(
                "package",
                &format!("extension {name}"),
                &format!(
                    "module pgsql: `{name}` is not in repo-mirror/extensions.yml; hint: name its package in pg_extensions (e.g. `postgresql-{}-{}`)",
                    pg.version,
                    name.replace('_', "-")
                ),
                ));
            }
        }
    }
    Ok(())
}

/// `CREATE EXTENSION` in the databases that list the extensions (`only`: these names).
pub fn create_steps(p: &mut ModulePlan, pg: &Pg, only: &[String]) -> Result<()> {
    let m = manifest()?;
    for d in db_defs(pg)?
        .into_iter()
        .filter(|d| d.state != DbState::Absent)
    {
        for (name, schema) in &d.extensions {
            let wanted = only.is_empty()
                || only.iter().any(|o| {
                    o == name
                        || find(&m, o)
                            .is_some_and(|(a, _)| find(&m, name).is_some_and(|(b, _)| a == b))
                });
            if wanted {
                p.add(PgExtension {
                    psql: pg.psql(),
                    db: d.spec.name.clone(),
                    hint: super::roles::ext_hint(pg, name),
                    name: name.clone(),
                    schema: schema.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_loads_and_maps_names_to_packages() {
        let m = manifest().unwrap();
        assert_eq!(find(&m, "vector").unwrap().0, "pgvector");
        assert_eq!(find(&m, "postgis_topology").unwrap().0, "postgis");
        let w = resolve(
            &[
                "postgis".into(),
                "vector".into(),
                "pgvector".into(),
                "btree_gist".into(),
                "nosuch".into(),
            ],
            15,
            "debian-12",
        )
        .unwrap();
        assert_eq!(
            w,
            vec![
                Want::Package {
                    alias: "postgis".into(),
                    package: "postgresql-15-postgis-3".into(),
                    repo: "debian".into()
                },
                Want::Package {
                    alias: "pgvector".into(),
                    package: "postgresql-15-pgvector".into(),
                    repo: "pgdg".into()
                },
                Want::Unknown {
                    name: "nosuch".into()
                },
            ]
        );
        assert_eq!(
            resolve(&["postgis".into()], 15, "ubuntu-24").unwrap(),
            vec![Want::NotPackaged {
                alias: "postgis".into(),
                distro: "ubuntu-24".into()
            }]
        );
        assert_eq!(
            resolve(&["postgresql-${pg_version}-hll".into()], 16, "debian-12").unwrap(),
            vec![Want::Raw {
                package: "postgresql-16-hll".into()
            }]
        );
    }

    #[test]
    fn every_manifest_entry_names_a_package_with_the_version() {
        for (alias, e) in manifest().unwrap() {
            assert!(e.deb.contains("$v"), "{alias}");
            assert!(!e.ext.is_empty(), "{alias}");
        }
    }
}
