//! Roles, databases, schemas, extensions and default privileges, from
//! `pg_default_roles` + `pg_users`, `pg_databases`, `pg_default_schemas`,
//! `pg_default_extensions` and `pg_default_privileges`. Every member gets the steps;
//! they skip themselves on replicas (see `resources::postgres`).
use super::params::Pg;
use crate::engine::ModulePlan;
use crate::resources::postgres::{DbSpec, PgDatabase, PgDefaultPrivileges, PgExtension, PgRole, PgSchemas, RoleSpec};
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
    v.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// A role definition (with the password the credentials give the system users).
#[derive(Debug, Clone)]
pub struct RoleDef {
    pub spec: RoleSpec,
    pub pgbouncer: bool,
    pub pool_mode: Option<String>,
    pub pool_connlimit: Option<i64>,
}

/// `pg_default_roles` then `pg_users`, later definitions of a name replacing earlier ones.
pub fn role_defs(pg: &Pg) -> Result<Vec<RoleDef>> {
    let mut out: Vec<RoleDef> = vec![];
    for v in pg.default_roles.iter().chain(pg.users.iter()) {
        let Some(name) = str_of(v, "name").filter(|n| !n.is_empty()) else {
            bail!("host `{}`: a role in pg_default_roles/pg_users has no `name`", pg.ip);
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
        let parameters: BTreeMap<String, String> = v
            .get("parameters")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, x)| (k.clone(), super::tune::value_str(x))).collect())
            .unwrap_or_default();
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
            roles: list_of(v, "roles"),
            comment: str_of(v, "comment"),
            parameters,
            expire_at: str_of(v, "expire_at"),
        };
        let def = RoleDef {
            spec,
            pgbouncer: bool_of(v, "pgbouncer").unwrap_or(false),
            pool_mode: str_of(v, "pool_mode"),
            pool_connlimit: v.get("pool_connlimit").and_then(Value::as_i64),
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

pub fn db_defs(pg: &Pg) -> Result<Vec<DbDef>> {
    let mut out = vec![];
    for v in &pg.databases {
        let Some(name) = str_of(v, "name").filter(|n| !n.is_empty()) else {
            bail!("host `{}`: a database in pg_databases has no `name`", pg.ip);
        };
        let i = |k: &str, d: i64| v.get(k).and_then(Value::as_i64).unwrap_or(d);
        out.push(DbDef {
            spec: DbSpec {
                name,
                owner: str_of(v, "owner"),
                template: str_of(v, "template"),
                encoding: str_of(v, "encoding"),
                locale: str_of(v, "locale"),
                lc_collate: str_of(v, "lc_collate"),
                lc_ctype: str_of(v, "lc_ctype"),
                comment: str_of(v, "comment"),
                connlimit: v.get("connlimit").and_then(Value::as_i64),
                schemas: list_of(v, "schemas"),
            },
            extensions: extensions_of(v),
            pgbouncer: bool_of(v, "pgbouncer").unwrap_or(true),
            pool_mode: str_of(v, "pool_mode"),
            pool_size: i("pool_size", 64),
            pool_reserve: i("pool_reserve", 32),
            pool_size_min: i("pool_size_min", 0),
            pool_connlimit: i("pool_connlimit", 100),
            pool_auth_user: str_of(v, "pool_auth_user"),
        });
    }
    Ok(out)
}

fn ext_hint(pg: &Pg, name: &str) -> String {
    format!(
        "hint: install its package (on Debian often `postgresql-{}-{}`), e.g. through `pg_extensions`",
        pg.version,
        name.trim_start_matches("pg_").replace('_', "-")
    )
}

pub fn steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    if !pg.provision {
        return Ok(());
    }
    let psql = pg.psql();
    let roles = role_defs(pg)?;
    for r in &roles {
        p.add(PgRole { psql: psql.clone(), spec: r.spec.clone() });
    }
    // template1 first (new databases inherit from it), then postgres.
    let owners: Vec<String> = {
        let mut o = vec![pg.dbsu.clone(), pg.admin_username.clone()];
        if roles.iter().any(|r| r.spec.name == "dbrole_admin") {
            o.push("dbrole_admin".into());
        }
        o.dedup();
        o
    };
    for db in ["template1", "postgres"] {
        if !pg.default_schemas.is_empty() {
            p.add(PgSchemas { psql: psql.clone(), db: db.into(), schemas: pg.default_schemas.clone() });
        }
        for e in &pg.default_extensions {
            let Some(name) = str_of(e, "name") else { continue };
            p.add(PgExtension { psql: psql.clone(), db: db.into(), hint: ext_hint(pg, &name), schema: str_of(e, "schema"), name });
        }
        if !pg.default_privileges.is_empty() {
            p.add(PgDefaultPrivileges { psql: psql.clone(), db: db.into(), owners: owners.clone(), grants: pg.default_privileges.clone() });
        }
    }
    for d in db_defs(pg)? {
        p.add(PgDatabase { psql: psql.clone(), spec: d.spec.clone() });
        for (name, schema) in &d.extensions {
            p.add(PgExtension { psql: psql.clone(), db: d.spec.name.clone(), hint: ext_hint(pg, name), name: name.clone(), schema: schema.clone() });
        }
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
        assert_eq!(get("dbuser_dba").spec.password.as_deref(), Some("test-admin-pw"));
        assert_eq!(get("dbuser_monitor").spec.password.as_deref(), Some("test-monitor-pw"));
        assert_eq!(get("replicator").spec.password.as_deref(), Some("test-repl-pw"));
        assert_eq!(get("postgres").spec.password, None, "empty pg_dbsu_password leaves postgres without one");
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
        assert_eq!((d[0].pool_size, d[0].pool_reserve, d[0].pool_connlimit), (64, 32, 100));
        assert!(d[0].pgbouncer);
    }
}
