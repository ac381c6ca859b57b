//! Roles, databases, schemas, extensions and default privileges, from
//! `pg_default_roles` + `pg_users`, `pg_databases`, `pg_default_schemas`,
//! `pg_default_extensions` and `pg_default_privileges`. Every member gets the steps;
//! they skip themselves on replicas (see `resources::postgres`).
use super::params::Pg;
use crate::engine::ModulePlan;
use crate::resources::postgres::{
    DbSpec, PgDatabase, PgDefaultPrivileges, PgDropDatabase, PgDropRole, PgExtension, PgRole,
    PgSchemas, RoleSpec,
};
use anyhow::{bail, Result};
use serde_json::Value;
use std::collections::BTreeMap;

fn str_of(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn bool_of(v: &Value, k: &str) -> Option<bool> {
    match v.get(k)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(matches!(s.as_str(), "true" | "yes" | "on")),
        _ => None,
    }
}

fn list_of(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A role definition (with the password the credentials give the system users).
#[derive(Debug, Clone)]
pub struct RoleDef {
    pub spec: RoleSpec,
    pub pgbouncer: bool,
    pub pool_mode: Option<String>,
    pub pool_connlimit: Option<i64>,
    /// `state: absent`: the role is dropped.
    pub absent: bool,
}

/// Today as days since 1970-01-01, from the facts' clock.
fn today_days(pg: &Pg) -> i64 {
    pg.facts.now.div_euclid(86_400)
}

fn is_absent(v: &Value) -> bool {
    str_of(v, "state").is_some_and(|s| s == "absent")
}

/// An entry's `parameters` (role or database settings) as name → value text.
fn parameters_of(v: &Value) -> BTreeMap<String, String> {
    v.get("parameters")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, x)| (k.clone(), super::tune::value_str(x)))
                .collect()
        })
        .unwrap_or_default()
}

/// `roles: [a, {name: b}, {name: c, state: absent}]` -> (grant, revoke).
fn memberships(v: &Value) -> (Vec<String>, Vec<String>) {
    let (mut grant, mut revoke) = (vec![], vec![]);
    for r in v
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match r {
            Value::String(s) => grant.push(s.clone()),
            Value::Object(_) => {
                if let Some(n) = str_of(r, "name") {
                    if is_absent(r) {
                        revoke.push(n)
                    } else {
                        grant.push(n)
                    }
                }
            }
            _ => {}
        }
    }
    (grant, revoke)
}

/// `pg_default_roles` then `pg_users`, later definitions of a name replacing earlier ones.
pub fn role_defs(pg: &Pg) -> Result<Vec<RoleDef>> {
    let mut out: Vec<RoleDef> = vec![];
    for v in pg.default_roles.iter().chain(pg.users.iter()) {
        let Some(name) = str_of(v, "name").filter(|n| !n.is_empty()) else {
            bail!(
                "host `{}`: a role in pg_default_roles/pg_users has no `name`",
                pg.ip
            );
        };
        let password = if name == pg.admin_username {
            Some(pg.admin_password.clone())
        } else if name == pg.monitor_username {
            Some(pg.monitor_password.clone())
        } else if name == pg.replication_username {
            Some(pg.replication_password.clone())
        } else if name == pg.dbsu {
            Some(pg.dbsu_password.clone()).filter(|p| !p.is_empty())
        } else {
            None
        };
        let password = str_of(v, "password").filter(|p| !p.is_empty()).or(password);
        let parameters = parameters_of(v);
        let (roles, revoke) = memberships(v);
        // Pigsty: `expire_in` (days from now) wins over `expire_at`.
        let expire_at = match v.get("expire_in").and_then(Value::as_i64) {
            Some(n) => Some(crate::clock::fmt_date(today_days(pg) + n)),
            None => str_of(v, "expire_at"),
        };
        let spec = RoleSpec {
            name: name.clone(),
            login: bool_of(v, "login"),
            superuser: bool_of(v, "superuser"),
            createdb: bool_of(v, "createdb"),
            createrole: bool_of(v, "createrole"),
            inherit: bool_of(v, "inherit"),
            replication: bool_of(v, "replication"),
            bypassrls: bool_of(v, "bypassrls"),
            connlimit: v.get("connlimit").and_then(Value::as_i64),
            password,
            roles,
            revoke,
            comment: str_of(v, "comment"),
            parameters,
            expire_at,
        };
        let def = RoleDef {
            spec,
            pgbouncer: bool_of(v, "pgbouncer").unwrap_or(false),
            pool_mode: str_of(v, "pool_mode"),
            pool_connlimit: v.get("pool_connlimit").and_then(Value::as_i64),
            absent: is_absent(v),
        };
        match out.iter_mut().find(|d| d.spec.name == name) {
            Some(d) => *d = def,
            None => out.push(def),
        }
    }
    Ok(out)
}

/// A database definition.
#[derive(Debug, Clone)]
pub struct DbDef {
    pub spec: DbSpec,
    pub extensions: Vec<(String, Option<String>)>,
    pub pgbouncer: bool,
    pub pool_mode: Option<String>,
    pub pool_size: i64,
    pub pool_reserve: i64,
    pub pool_size_min: i64,
    pub pool_connlimit: i64,
    pub pool_auth_user: Option<String>,
    /// `state: absent` (dropped, after a confirmation) or `recreate` (dropped and created again).
    pub state: DbState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
    Create,
    Absent,
    Recreate,
}

fn extensions_of(v: &Value) -> Vec<(String, Option<String>)> {
    v.get("extensions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| match e {
                    Value::String(s) => Some((s.clone(), None)),
                    Value::Object(_) => str_of(e, "name").map(|n| (n, str_of(e, "schema"))),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where a `baseline` name is looked for, next to the inventory: `files/NAME`, then `NAME`.
pub fn baseline_paths(inventory_dir: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let p = std::path::Path::new(name);
    if p.is_absolute() {
        return vec![p.to_path_buf()];
    }
    vec![
        inventory_dir.join("files").join(name),
        inventory_dir.join(name),
    ]
}

/// A `baseline` file's text: read by the controller next to its inventory and sent
/// with the request (planning reads no file).
fn baseline_sql(pg: &Pg, name: &str) -> Option<String> {
    pg.opts.files.get(name).cloned()
}

pub fn db_defs(pg: &Pg) -> Result<Vec<DbDef>> {
    let mut out = vec![];
    for v in &pg.databases {
        let Some(name) = str_of(v, "name").filter(|n| !n.is_empty()) else {
            bail!("host `{}`: a database in pg_databases has no `name`", pg.ip);
        };
        let i = |k: &str, d: i64| v.get(k).and_then(Value::as_i64).unwrap_or(d);
        let parameters = parameters_of(v);
        let state = match str_of(v, "state").as_deref() {
            Some("absent") => DbState::Absent,
            Some("recreate") => DbState::Recreate,
            _ => DbState::Create,
        };
        let mut keep_connect = vec![
            pg.admin_username.clone(),
            pg.monitor_username.clone(),
            pg.replication_username.clone(),
        ];
        keep_connect.dedup();
        out.push(DbDef {
            spec: DbSpec {
                name,
                owner: str_of(v, "owner"),
                template: str_of(v, "template"),
                strategy: str_of(v, "strategy"),
                encoding: str_of(v, "encoding"),
                locale: str_of(v, "locale"),
                lc_collate: str_of(v, "lc_collate"),
                lc_ctype: str_of(v, "lc_ctype"),
                locale_provider: str_of(v, "locale_provider"),
                icu_locale: str_of(v, "icu_locale"),
                icu_rules: str_of(v, "icu_rules"),
                builtin_locale: str_of(v, "builtin_locale"),
                tablespace: str_of(v, "tablespace"),
                is_template: bool_of(v, "is_template"),
                allowconn: bool_of(v, "allowconn"),
                revokeconn: bool_of(v, "revokeconn"),
                comment: str_of(v, "comment"),
                connlimit: v.get("connlimit").and_then(Value::as_i64),
                schemas: list_of(v, "schemas"),
                parameters,
                baseline: str_of(v, "baseline").filter(|b| !b.is_empty()).map(|b| {
                    let sql = baseline_sql(pg, &b);
                    (b, sql)
                }),
                keep_connect,
            },
            extensions: extensions_of(v),
            pgbouncer: bool_of(v, "pgbouncer").unwrap_or(true),
            pool_mode: str_of(v, "pool_mode"),
            pool_size: i("pool_size", 64),
            pool_reserve: i("pool_reserve", 32),
            pool_size_min: i("pool_size_min", 0),
            pool_connlimit: i("pool_connlimit", 100),
            pool_auth_user: str_of(v, "pool_auth_user"),
            state,
        });
    }
    Ok(out)
}

pub fn ext_hint(pg: &Pg, name: &str) -> String {
    if let Ok(m) = super::ext::manifest() {
        if let Some((alias, e)) = super::ext::find(&m, name) {
            return format!(
                "hint: its package is `{}`: list `{alias}` in `pg_extensions` (`pigsty pgsql ext {} {alias}`)",
                e.deb.replace("$v", &pg.version.to_string()),
                pg.cluster
            );
        }
    }
    format!(
        "hint: install its package (on Debian often `postgresql-{}-{}`), e.g. through `pg_extensions`",
        pg.version,
        name.trim_start_matches("pg_").replace('_', "-")
    )
}

/// Which part of the catalog a plan covers: everything (deploy), or one user / one
/// database (`pigsty pgsql user|db`).
#[derive(Debug, Clone, Default)]
pub struct Only {
    pub user: Option<String>,
    pub db: Option<String>,
    /// Dropping databases was confirmed (typed back or `--yes`).
    pub allow_drop: bool,
}

/// The command that drops a database marked absent, for hints.
pub fn drop_hint(pg: &Pg, db: &str) -> String {
    format!("pigsty pgsql db {} {db}", pg.cluster)
}

/// Roles of `pg_default_roles` + `pg_users` (one of them with `user`), in order;
/// those marked absent are dropped after everything else.
pub fn role_steps(p: &mut ModulePlan, pg: &Pg, user: Option<&str>) -> Result<Vec<String>> {
    let psql = pg.psql();
    let mut dropped = vec![];
    for r in role_defs(pg)?
        .into_iter()
        .filter(|r| user.is_none_or(|u| u == r.spec.name))
    {
        if r.absent {
            dropped.push(r.spec.name.clone());
        } else {
            p.add(PgRole {
                psql: psql.clone(),
                spec: r.spec.clone(),
            });
        }
    }
    Ok(dropped)
}

/// `DROP ROLE` steps for the roles `role_steps` left for last.
pub fn drop_role_steps(p: &mut ModulePlan, pg: &Pg, names: Vec<String>) {
    for name in names {
        p.add(PgDropRole {
            psql: pg.psql(),
            name,
        });
    }
}

/// Databases of `pg_databases` (one of them with `db`), with their extensions.
pub fn db_steps(p: &mut ModulePlan, pg: &Pg, db: Option<&str>, allow_drop: bool) -> Result<()> {
    let psql = pg.psql();
    for d in db_defs(pg)?
        .into_iter()
        .filter(|d| db.is_none_or(|n| n == d.spec.name))
    {
        let name = d.spec.name.clone();
        if d.state != DbState::Create {
            p.add(PgDropDatabase {
                psql: psql.clone(),
                name: name.clone(),
                allowed: allow_drop && !pg.safeguard,
                hint: drop_hint(pg, &name),
            });
        }
        if d.state == DbState::Absent {
            continue;
        }
        p.add(PgDatabase {
            psql: psql.clone(),
            spec: d.spec.clone(),
        });
        // Pigsty 2.7+: what the owner creates in its database is granted like the
        // dbsu's and the admin's objects (pg_default_privileges, for that role)
        if let (Some(owner), false) = (&d.spec.owner, pg.default_privileges.is_empty()) {
            p.add(PgDefaultPrivileges {
                psql: psql.clone(),
                db: name.clone(),
                owners: vec![owner.clone()],
                grants: pg.default_privileges.clone(),
            });
        }
        for (ext, schema) in &d.extensions {
            p.add(PgExtension {
                psql: psql.clone(),
                db: name.clone(),
                hint: ext_hint(pg, ext),
                name: ext.clone(),
                schema: schema.clone(),
            });
        }
    }
    Ok(())
}

/// template1 and postgres: default schemas, extensions and privileges.
fn template_steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    let psql = pg.psql();
    let roles = role_defs(pg)?;
    // template1 first (new databases inherit from it), then postgres.
    let owners: Vec<String> = {
        let mut o = vec![pg.dbsu.clone(), pg.admin_username.clone()];
        if roles
            .iter()
            .any(|r| r.spec.name == "dbrole_admin" && !r.absent)
        {
            o.push("dbrole_admin".into());
        }
        o.dedup();
        o
    };
    for db in ["template1", "postgres"] {
        if !pg.default_schemas.is_empty() {
            p.add(PgSchemas {
                psql: psql.clone(),
                db: db.into(),
                schemas: pg.default_schemas.clone(),
            });
        }
        for e in &pg.default_extensions {
            let Some(name) = str_of(e, "name") else {
                continue;
            };
            p.add(PgExtension {
                psql: psql.clone(),
                db: db.into(),
                hint: ext_hint(pg, &name),
                schema: str_of(e, "schema"),
                name,
            });
        }
        if !pg.default_privileges.is_empty() {
            p.add(PgDefaultPrivileges {
                psql: psql.clone(),
                db: db.into(),
                owners: owners.clone(),
                grants: pg.default_privileges.clone(),
            });
        }
    }
    Ok(())
}

pub fn steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    if !pg.provision {
        return Ok(());
    }
    let dropped = role_steps(p, pg, None)?;
    template_steps(p, pg)?;
    db_steps(p, pg, None, false)?;
    drop_role_steps(p, pg, dropped);
    Ok(())
}

/// `pigsty pgsql user|db`: just that user or database (catalog on the primary,
/// pgBouncer's lists on every member).
pub fn only_steps(p: &mut ModulePlan, pg: &Pg, only: &Only) -> Result<()> {
    if let Some(u) = &only.user {
        let dropped = role_steps(p, pg, Some(u))?;
        drop_role_steps(p, pg, dropped);
    }
    if let Some(d) = &only.db {
        db_steps(p, pg, Some(d), only.allow_drop)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_users_get_their_passwords_from_the_credentials() {
        let pg = super::super::tests::meta_pg();
        let r = role_defs(&pg).unwrap();
        let get = |n: &str| r.iter().find(|x| x.spec.name == n).unwrap();
        assert_eq!(
            get("dbuser_dba").spec.password.as_deref(),
            Some("test-admin-pw")
        );
        assert_eq!(
            get("dbuser_monitor").spec.password.as_deref(),
            Some("test-monitor-pw")
        );
        assert_eq!(
            get("replicator").spec.password.as_deref(),
            Some("test-repl-pw")
        );
        assert_eq!(
            get("postgres").spec.password,
            None,
            "empty pg_dbsu_password leaves postgres without one"
        );
        assert!(get("dbuser_dba").pgbouncer && get("dbuser_meta").pgbouncer);
        assert_eq!(get("dbuser_dba").pool_connlimit, Some(16));
        assert_eq!(get("dbrole_readonly").spec.login, Some(false));
    }

    #[test]
    fn databases_carry_pool_settings_with_pigsty_defaults() {
        let pg = super::super::tests::meta_pg();
        let d = db_defs(&pg).unwrap();
        assert_eq!(d[0].spec.name, "meta");
        assert_eq!(d[0].spec.schemas, vec!["pigsty".to_string()]);
        assert_eq!(
            (d[0].pool_size, d[0].pool_reserve, d[0].pool_connlimit),
            (64, 32, 100)
        );
        assert!(d[0].pgbouncer);
    }

    fn pg_with(users: serde_json::Value, dbs: serde_json::Value) -> Pg {
        let mut pg = super::super::tests::meta_pg();
        pg.users = users.as_array().unwrap().clone();
        pg.databases = dbs.as_array().unwrap().clone();
        pg
    }

    #[test]
    fn users_carry_removal_revocations_and_expiry() {
        let pg = pg_with(
            serde_json::json!([
                {"name": "dbuser_app", "roles": ["dbrole_readwrite", {"name": "dbrole_offline", "state": "absent"}], "expire_in": 1},
                {"name": "dbuser_old", "state": "absent", "pgbouncer": true},
                {"name": "dbuser_exp", "expire_at": "2030-12-31"}
            ]),
            serde_json::json!([]),
        );
        let r = role_defs(&pg).unwrap();
        let get = |n: &str| r.iter().find(|x| x.spec.name == n).unwrap();
        assert_eq!(
            get("dbuser_app").spec.roles,
            vec!["dbrole_readwrite".to_string()]
        );
        assert_eq!(
            get("dbuser_app").spec.revoke,
            vec!["dbrole_offline".to_string()]
        );
        assert_eq!(
            get("dbuser_app").spec.expire_at.as_deref(),
            Some(crate::clock::fmt_date(today_days(&pg) + 1).as_str())
        );
        assert_eq!(
            get("dbuser_exp").spec.expire_at.as_deref(),
            Some("2030-12-31")
        );
        assert!(get("dbuser_old").absent);
        assert!(!super::super::pgbouncer::userlist_users(&pg)
            .unwrap()
            .contains(&"dbuser_old".to_string()));
        let mut p = ModulePlan::new("pgsql");
        steps(&mut p, &pg).unwrap();
        let names: Vec<String> = p
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect();
        let last_role = names
            .iter()
            .rposition(|n| n == "pg role dbuser_old")
            .unwrap();
        assert!(
            names
                .iter()
                .position(|n| n.starts_with("pg database"))
                .is_none_or(|d| d < last_role),
            "dropped last: {names:?}"
        );
    }

    #[test]
    fn databases_read_every_attribute_and_absent_ones_leave_pgbouncer() {
        let pg = pg_with(
            serde_json::json!([{"name": "dbuser_app"}]),
            serde_json::json!([
                {"name": "app", "owner": "dbuser_app", "template": "template0", "encoding": "UTF8", "locale": "C", "tablespace": "pg_default",
                 "allowconn": true, "revokeconn": true, "is_template": false, "connlimit": 50, "parameters": {"work_mem": "8MB"},
                 "extensions": [{"name": "postgis"}], "strategy": "FILE_COPY"},
                {"name": "old", "state": "absent"},
                {"name": "again", "state": "recreate"}
            ]),
        );
        let d = db_defs(&pg).unwrap();
        let app = &d[0].spec;
        assert_eq!(
            (
                app.revokeconn,
                app.allowconn,
                app.is_template,
                app.connlimit
            ),
            (Some(true), Some(true), Some(false), Some(50))
        );
        assert_eq!(
            app.parameters.get("work_mem").map(String::as_str),
            Some("8MB")
        );
        let sql = app.sql_cluster(None);
        assert!(sql.contains("CREATE DATABASE \"app\" OWNER \"dbuser_app\" TEMPLATE \"template0\" STRATEGY 'FILE_COPY' ENCODING 'UTF8' LOCALE 'C' TABLESPACE \"pg_default\";"), "{sql}");
        assert!(
            sql.contains("REVOKE CONNECT ON DATABASE \"app\" FROM PUBLIC;")
                && sql.contains(
                    "GRANT CONNECT ON DATABASE \"app\" TO \"dbuser_app\" WITH GRANT OPTION;"
                ),
            "{sql}"
        );
        assert!(
            sql.contains("ALTER DATABASE \"app\" SET \"work_mem\" TO '8MB';"),
            "{sql}"
        );
        assert_eq!(
            (d[1].state, d[2].state),
            (DbState::Absent, DbState::Recreate)
        );
        let txt = super::super::pgbouncer::render_databases(&pg).unwrap();
        assert!(
            txt.contains("\napp = ") && txt.contains("\nagain = ") && !txt.contains("\nold = "),
            "{txt}"
        );
        let mut p = ModulePlan::new("pgsql");
        db_steps(&mut p, &pg, None, false).unwrap();
        let names: Vec<String> = p
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect();
        assert_eq!(
            names,
            vec![
                "pg database app",
                "pg privileges default privileges in app",
                "pg extension postgis in app",
                "pg database old",
                "pg database again",
                "pg database again"
            ],
        );
    }
}
