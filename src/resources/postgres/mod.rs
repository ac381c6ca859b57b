//! Objects inside a running Postgres: roles, databases, extensions, default
//! privileges, and pgBouncer's userlist (built from the catalog). Checks read the
//! catalog and say what differs in words (`role dbuser_app: connlimit 10 -> 20`);
//! applies feed SQL on stdin to `psql` run as the database superuser OS user over the
//! Unix socket, so no password or SQL ever sits in an argument list or a log line.
//!
//! Writes happen on the primary only: on a replica (`pg_is_in_recovery()`), every
//! step here is skipped with that reason, so the same plan runs on every member and
//! after a failover the new primary picks the work up.
//!
//! Here: the `psql` client ([`Psql`]) and quoting; one file per kind: `role.rs`
//! (roles and their removal), `database.rs`, `schemas.rs`, `extension.rs`,
//! `privileges.rs` (default privileges), `userlist.rs` (pgBouncer's userlist).
use super::{scram, ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod database;
mod extension;
mod privileges;
mod role;
mod schemas;
mod userlist;
pub use database::*;
pub use extension::*;
pub use privileges::*;
pub use role::*;
pub use schemas::*;
pub use userlist::*;

/// Answers of [`Psql::shared`] queries, until the next other statement.
static SHARED: std::sync::Mutex<Vec<(String, Value)>> = std::sync::Mutex::new(Vec::new());

fn forget_shared() {
    if let Ok(mut s) = SHARED.lock() {
        s.clear();
    }
}

/// How to reach the local Postgres as its superuser.
#[derive(Debug, Clone)]
pub struct Psql {
    /// e.g. `/usr/lib/postgresql/15/bin/psql`
    pub bin: String,
    /// OS user (`pg_dbsu`), also the database role we log in as (peer auth).
    pub dbsu: String,
    /// Unix socket directory (`pg_localhost`).
    pub socket: String,
    pub port: u16,
}

impl Psql {
    /// `psql` reading SQL from stdin, as the dbsu, in `db`.
    pub fn cmd(&self, db: &str) -> Cmd {
        Cmd::new(self.bin.clone())
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                &self.socket,
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-U", &self.dbsu, "-d", db, "-f", "-"])
            .env("PGAPPNAME", "pigsty")
            .env("PGCONNECT_TIMEOUT", "5")
            .cwd("/")
            .timeout(Duration::from_secs(600))
            .as_user(&self.dbsu)
    }

    /// A command that makes Postgres re-read its configuration files (HBA included).
    pub fn reload_cmd(&self) -> Cmd {
        self.cmd("postgres")
            .stdin(b"SELECT pg_reload_conf();".to_vec())
    }

    /// Run SQL in `db`; returns stdout.
    pub fn exec(&self, db: &str, sql: &str) -> ResResult<String> {
        forget_shared();
        self.run(db, sql)
    }

    fn run(&self, db: &str, sql: &str) -> ResResult<String> {
        let out = self
            .cmd(db)
            .stdin(sql.as_bytes().to_vec())
            .ok()
            .map_err(|e| ResError::msg(format!("database `{db}`: {e}")))?;
        Ok(out.stdout)
    }

    /// Run a query that returns one JSON value.
    pub fn json(&self, db: &str, sql: &str) -> ResResult<Value> {
        self.parse(db, self.exec(db, sql)?)
    }

    /// A catalog query many checks ask (every role, every extension of a database):
    /// asked once, its answer kept until the next other statement through this
    /// process's [`Psql`] (`exec`, `json`), so nothing made since is missed.
    pub fn shared(&self, db: &str, sql: &str) -> ResResult<Value> {
        let key = format!("{}:{}/{db}\n{sql}", self.socket, self.port);
        if let Some(v) = SHARED
            .lock()
            .ok()
            .and_then(|s| s.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
        {
            return Ok(v);
        }
        let v = self.parse(db, self.run(db, sql)?)?;
        if let Ok(mut s) = SHARED.lock() {
            s.push((key, v.clone()));
        }
        Ok(v)
    }

    fn parse(&self, db: &str, out: String) -> ResResult<Value> {
        serde_json::from_str(out.trim()).map_err(|e| {
            ResError::msg(format!(
                "database `{db}`: unexpected answer to a catalog query ({e}): {}",
                out.trim()
            ))
        })
    }

    /// True when this instance is a replica.
    pub fn in_recovery(&self) -> ResResult<bool> {
        Ok(self.exec("postgres", "SELECT pg_is_in_recovery();")?.trim() == "t")
    }

    /// Names of settings waiting for a restart.
    pub fn pending_restart(&self) -> ResResult<Vec<String>> {
        let v = self.json("postgres", "SELECT coalesce(json_agg(name ORDER BY name), '[]') FROM pg_settings WHERE pending_restart;")?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `current_setting()` of each name (missing ones left out).
    pub fn settings(&self, names: &[String]) -> ResResult<BTreeMap<String, String>> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let list = names.iter().map(|n| lit(n)).collect::<Vec<_>>().join(", ");
        let v = self.json(
            "postgres",
            &format!("SELECT coalesce(json_object_agg(name, current_setting(name)), '{{}}') FROM pg_settings WHERE name IN ({list});"),
        )?;
        Ok(v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default())
    }
    /// (in recovery, `query` returns a row), asked in `postgres`.
    /// Whether the server is in recovery, and whether the catalog `table` has a row whose
    /// `column` is `name` (`pg_roles`/`rolname`, `pg_database`/`datname`).
    pub fn recovery_and_exists(
        &self,
        table: &str,
        column: &str,
        name: &str,
    ) -> ResResult<(bool, bool)> {
        let v = self.json(
            "postgres",
            &format!(
                "SELECT json_build_object('recovery', pg_is_in_recovery(), 'exists', EXISTS (SELECT 1 FROM {table} WHERE {column} = {}));",
                lit(name)
            ),
        )?;
        Ok((
            v["recovery"].as_bool().unwrap_or(false),
            v["exists"].as_bool().unwrap_or(false),
        ))
    }
}

/// SQL identifier, always quoted.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// SQL string literal (standard_conforming_strings = on, the default since 9.1).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `{what}: set k old -> new` for each wanted setting that a catalog `key=value` array
/// (`rolconfig`, `datconfig`) does not hold with that value.
pub(super) fn settings_drift(
    what: &str,
    catalog: &Value,
    wanted: &BTreeMap<String, String>,
) -> Vec<String> {
    let have: BTreeMap<&str, &str> = catalog
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|kv| kv.split_once('='))
                .collect()
        })
        .unwrap_or_default();
    wanted
        .iter()
        .filter(|(k, v)| have.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, v)| {
            format!(
                "{what}: set {k} {} -> {v}",
                have.get(k.as_str()).copied().unwrap_or("(unset)")
            )
        })
        .collect()
}

/// `{what}: {field} have -> want` when a wanted text (`want`, if any) differs from the
/// catalog's column `col` (missing or null reads as `absent`); `quoted` prints both in
/// quotes (comments, which may hold spaces).
pub(super) fn text_drift(
    what: &str,
    field: &str,
    cur: &Value,
    col: &str,
    absent: &str,
    want: Option<&str>,
    quoted: bool,
) -> Option<String> {
    let want = want?;
    let have = cur[col].as_str().unwrap_or(absent);
    (have != want).then(|| {
        if quoted {
            format!("{what}: {field} {have:?} -> {want:?}")
        } else {
            format!("{what}: {field} {have} -> {want}")
        }
    })
}

pub(super) const QUIET: &str = "SET client_min_messages TO warning;\nSET log_statement TO 'none';\nSET log_min_duration_statement TO -1;\n";

pub(super) const REPLICA: &str = "replica (pg_is_in_recovery): managed on the primary";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> RoleSpec {
        RoleSpec {
            name: "dbuser_app".into(),
            connlimit: Some(20),
            password: Some("Secret.1".into()),
            roles: vec!["dbrole_readwrite".into()],
            comment: Some("app user".into()),
            parameters: [("log_min_duration_statement".to_string(), "1000".to_string())].into(),
            ..Default::default()
        }
    }

    fn row() -> Value {
        json!({
            "rolcanlogin": true, "rolsuper": false, "rolcreatedb": false, "rolcreaterole": false,
            "rolinherit": true, "rolreplication": false, "rolbypassrls": false, "rolconnlimit": 10,
            "rolpassword": scram::verifier("Secret.1"), "rolvaliduntil": null,
            "rolconfig": ["log_min_duration_statement=1000"], "comment": "app user", "member_of": ["dbrole_readwrite"]
        })
    }

    #[test]
    fn role_diff_names_exactly_what_differs() {
        let (d, pw) = spec().diff(Some(&row()));
        assert_eq!(d, vec!["role dbuser_app: connlimit 10 -> 20".to_string()]);
        assert!(!pw, "the same password under another salt is not reset");
    }

    #[test]
    fn role_diff_sees_a_changed_password_without_showing_it() {
        let mut s = spec();
        s.password = Some("Other.2".into());
        let (d, pw) = s.diff(Some(&row()));
        assert!(pw);
        assert!(d.contains(&"role dbuser_app: password differs -> reset".to_string()));
        assert!(!d
            .iter()
            .any(|x| x.contains("Other.2") || x.contains("Secret.1")));
    }

    #[test]
    fn role_absent_means_create() {
        let (d, pw) = spec().diff(None);
        assert_eq!(d, vec!["create role dbuser_app".to_string()]);
        assert!(pw);
    }

    #[test]
    fn superuser_keeps_its_other_attributes_when_unspecified() {
        let s = RoleSpec {
            name: "postgres".into(),
            superuser: Some(true),
            ..Default::default()
        };
        let mut r = row();
        r["rolsuper"] = json!(true);
        r["rolreplication"] = json!(true);
        r["rolbypassrls"] = json!(true);
        r["rolcreatedb"] = json!(true);
        r["rolcreaterole"] = json!(true);
        r["rolconnlimit"] = json!(-1);
        let (d, _) = s.diff(Some(&r));
        assert!(d.is_empty(), "{d:?}");
        let sql = s.sql(true, None);
        assert!(
            !sql.contains("REPLICATION")
                && !sql.contains("CREATEDB")
                && !sql.contains("CREATEROLE"),
            "{sql}"
        );
    }

    #[test]
    fn role_sql_sets_a_verifier_never_the_plain_password() {
        let v = scram::verifier("Secret.1");
        let sql = spec().sql(false, Some(&v));
        assert!(sql.starts_with(QUIET));
        assert!(sql.contains("CREATE ROLE \"dbuser_app\";"));
        assert!(sql.contains("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 20 PASSWORD 'SCRAM-SHA-256$4096:"));
        assert!(!sql.contains("Secret.1"));
        assert!(sql.contains("GRANT \"dbrole_readwrite\" TO \"dbuser_app\";"));
        assert!(
            sql.contains("ALTER ROLE \"dbuser_app\" SET \"log_min_duration_statement\" TO '1000';")
        );
        assert!(sql.contains("COMMENT ON ROLE \"dbuser_app\" IS 'app user';"));
    }

    #[test]
    fn quoting_survives_hostile_names() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(lit("it's"), "'it''s'");
    }

    #[test]
    fn database_diff_and_sql() {
        let s = DbSpec {
            name: "meta".into(),
            owner: Some("dbuser_meta".into()),
            comment: Some("pigsty meta database".into()),
            schemas: vec!["pigsty".into()],
            ..Default::default()
        };
        assert_eq!(
            s.diff(None, None),
            vec![
                "create database meta".to_string(),
                "database meta: create schema pigsty".to_string()
            ]
        );
        let cur = json!({"owner": "postgres", "connlimit": -1, "comment": "pigsty meta database"});
        let have: BTreeSet<String> = ["public".to_string()].into();
        assert_eq!(
            s.diff(Some(&cur), Some(&have)),
            vec![
                "database meta: owner postgres -> dbuser_meta".to_string(),
                "database meta: create schema pigsty".to_string()
            ]
        );
        let sql = s.sql_cluster(None);
        assert!(
            sql.contains("CREATE DATABASE \"meta\" OWNER \"dbuser_meta\";"),
            "{sql}"
        );
        assert!(s
            .sql_inside()
            .contains("CREATE SCHEMA IF NOT EXISTS \"pigsty\" AUTHORIZATION \"dbuser_meta\";"));
    }

    #[test]
    fn userlist_delta_names_users_only() {
        let d = userlist_delta(
            "\"a\" \"S1\"\n\"b\" \"S2\"\n",
            "\"a\" \"S9\"\n\"c\" \"S3\"\n",
        );
        assert_eq!(
            d,
            vec![
                "userlist: new secret for a".to_string(),
                "userlist: add c".to_string(),
                "userlist: remove b".to_string()
            ]
        );
    }
}
