//! Objects inside a running Postgres: roles, databases, extensions, default
//! privileges, and pgBouncer's userlist (built from the catalog). Checks read the
//! catalog and say what differs in words (`role dbuser_app: connlimit 10 -> 20`);
//! applies feed SQL on stdin to `psql` run as the database superuser OS user over the
//! Unix socket, so no password or SQL ever sits in an argument list or a log line.
//!
//! Writes happen on the primary only: on a replica (`pg_is_in_recovery()`), every
//! step here is skipped with that reason, so the same plan runs on every member and
//! after a failover the new primary picks the work up.
use super::{scram, ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

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
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", &self.socket, "-p"])
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
        self.cmd("postgres").stdin(b"SELECT pg_reload_conf();".to_vec())
    }

    /// Run SQL in `db`; returns stdout.
    pub fn exec(&self, db: &str, sql: &str) -> ResResult<String> {
        let out = self.cmd(db).stdin(sql.as_bytes().to_vec()).ok().map_err(|e| ResError::msg(format!("database `{db}`: {e}")))?;
        Ok(out.stdout)
    }

    /// Run a query that returns one JSON value.
    pub fn json(&self, db: &str, sql: &str) -> ResResult<Value> {
        let out = self.exec(db, sql)?;
        serde_json::from_str(out.trim()).map_err(|e| ResError::msg(format!("database `{db}`: unexpected answer to a catalog query ({e}): {}", out.trim())))
    }

    /// True when this instance is a replica.
    pub fn in_recovery(&self) -> ResResult<bool> {
        Ok(self.exec("postgres", "SELECT pg_is_in_recovery();")?.trim() == "t")
    }

    /// Names of settings waiting for a restart.
    pub fn pending_restart(&self) -> ResResult<Vec<String>> {
        let v = self.json("postgres", "SELECT coalesce(json_agg(name ORDER BY name), '[]') FROM pg_settings WHERE pending_restart;")?;
        Ok(v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default())
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
        Ok(v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default())
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

const QUIET: &str = "SET client_min_messages TO warning;\nSET log_statement TO 'none';\nSET log_min_duration_statement TO -1;\n";

const REPLICA: &str = "replica (pg_is_in_recovery): managed on the primary";

//------------------------------------------------------------------------------
// Role
//------------------------------------------------------------------------------

/// A role as the inventory describes it (`pg_default_roles`, `pg_users`). `None`
/// means "not managed" for the attributes where a default would do harm.
#[derive(Debug, Clone, Default)]
pub struct RoleSpec {
    pub name: String,
    pub login: Option<bool>,
    pub superuser: Option<bool>,
    pub createdb: Option<bool>,
    pub createrole: Option<bool>,
    pub inherit: Option<bool>,
    pub replication: Option<bool>,
    pub bypassrls: Option<bool>,
    pub connlimit: Option<i64>,
    /// Plain password or a SCRAM verifier / md5 hash.
    pub password: Option<String>,
    /// Roles this one is a member of (granted).
    pub roles: Vec<String>,
    /// Roles this one must not be a member of (`roles: [{name: x, state: absent}]`).
    pub revoke: Vec<String>,
    pub comment: Option<String>,
    /// `ALTER ROLE .. SET` parameters.
    pub parameters: BTreeMap<String, String>,
    /// `VALID UNTIL` timestamp, e.g. `2030-12-31`.
    pub expire_at: Option<String>,
}

impl RoleSpec {
    /// Attribute name, catalog column, wanted value (resolved defaults).
    fn flags(&self) -> Vec<(&'static str, &'static str, &'static str, &'static str, Option<bool>)> {
        let su = self.superuser.unwrap_or(false);
        // Superusers bypass these anyway, and initdb gives the bootstrap superuser all of
        // them: leave them alone on a superuser unless the inventory says otherwise.
        let guarded = |v: Option<bool>| if su { v } else { Some(v.unwrap_or(false)) };
        vec![
            ("login", "rolcanlogin", "LOGIN", "NOLOGIN", Some(self.login.unwrap_or(true))),
            ("superuser", "rolsuper", "SUPERUSER", "NOSUPERUSER", Some(su)),
            ("createdb", "rolcreatedb", "CREATEDB", "NOCREATEDB", guarded(self.createdb)),
            ("createrole", "rolcreaterole", "CREATEROLE", "NOCREATEROLE", guarded(self.createrole)),
            ("inherit", "rolinherit", "INHERIT", "NOINHERIT", Some(self.inherit.unwrap_or(true))),
            ("replication", "rolreplication", "REPLICATION", "NOREPLICATION", guarded(self.replication)),
            ("bypassrls", "rolbypassrls", "BYPASSRLS", "NOBYPASSRLS", guarded(self.bypassrls)),
        ]
    }

    fn connlimit(&self) -> i64 {
        self.connlimit.unwrap_or(-1)
    }

    /// The catalog query: recovery flag plus the role row (null when absent).
    pub fn query(&self) -> String {
        format!(
            "SELECT json_build_object('recovery', pg_is_in_recovery(), 'role', (SELECT json_build_object(\
'rolcanlogin', r.rolcanlogin, 'rolsuper', r.rolsuper, 'rolcreatedb', r.rolcreatedb, 'rolcreaterole', r.rolcreaterole, \
'rolinherit', r.rolinherit, 'rolreplication', r.rolreplication, 'rolbypassrls', r.rolbypassrls, 'rolconnlimit', r.rolconnlimit, \
'rolpassword', r.rolpassword, 'rolvaliduntil', to_char(r.rolvaliduntil, 'YYYY-MM-DD'), \
'rolconfig', (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0), \
'comment', shobj_description(r.oid, 'pg_authid'), \
'member_of', ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid ORDER BY 1)) \
FROM pg_authid r WHERE r.rolname = {}));",
            lit(&self.name)
        )
    }

    /// What differs between the catalog row `cur` (None: role absent) and the spec.
    /// The second value says whether the password must be (re)set.
    pub fn diff(&self, cur: Option<&Value>) -> (Vec<String>, bool) {
        let n = &self.name;
        let Some(cur) = cur.filter(|c| !c.is_null()) else {
            return (vec![format!("create role {n}")], self.password.is_some());
        };
        let mut d = vec![];
        for (attr, col, _, _, want) in self.flags() {
            if let Some(w) = want {
                let have = cur[col].as_bool().unwrap_or(false);
                if have != w {
                    d.push(format!("role {n}: {attr} {have} -> {w}"));
                }
            }
        }
        let cl = cur["rolconnlimit"].as_i64().unwrap_or(-1);
        if cl != self.connlimit() {
            d.push(format!("role {n}: connlimit {cl} -> {}", self.connlimit()));
        }
        let mut pw = false;
        if let Some(want) = &self.password {
            match cur["rolpassword"].as_str() {
                None => {
                    d.push(format!("role {n}: password not set -> set"));
                    pw = true;
                }
                Some(have) => {
                    let same = if scram::is_verifier(want) || want.starts_with("md5") && want.len() == 35 {
                        have == want
                    } else {
                        scram::verify(want, have)
                    };
                    if !same {
                        d.push(format!("role {n}: password differs -> reset"));
                        pw = true;
                    }
                }
            }
        }
        let member_of: BTreeSet<&str> = cur["member_of"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        for r in &self.roles {
            if !member_of.contains(r.as_str()) {
                d.push(format!("role {n}: grant {r}"));
            }
        }
        for r in &self.revoke {
            if member_of.contains(r.as_str()) {
                d.push(format!("role {n}: revoke {r}"));
            }
        }
        if let Some(c) = &self.comment {
            let have = cur["comment"].as_str().unwrap_or("");
            if have != c {
                d.push(format!("role {n}: comment {have:?} -> {c:?}"));
            }
        }
        let config: BTreeMap<String, String> = cur["rolconfig"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
            .unwrap_or_default();
        for (k, v) in &self.parameters {
            match config.get(k) {
                Some(h) if h == v => {}
                h => d.push(format!("role {n}: set {k} {} -> {v}", h.map(String::as_str).unwrap_or("(unset)"))),
            }
        }
        if let Some(e) = &self.expire_at {
            let have = cur["rolvaliduntil"].as_str().unwrap_or("(never)");
            if have != e {
                d.push(format!("role {n}: valid until {have} -> {e}"));
            }
        }
        (d, pw)
    }

    /// The SQL that brings the role in line; `verifier` is the password to set, if any.
    pub fn sql(&self, exists: bool, verifier: Option<&str>) -> String {
        let n = ident(&self.name);
        let mut s = String::from(QUIET);
        if !exists {
            s.push_str(&format!("CREATE ROLE {n};\n"));
        }
        let mut attrs: Vec<String> = self
            .flags()
            .into_iter()
            .filter_map(|(_, _, yes, no, want)| want.map(|w| if w { yes } else { no }.to_string()))
            .collect();
        attrs.push(format!("CONNECTION LIMIT {}", self.connlimit()));
        if let Some(v) = verifier {
            attrs.push(format!("PASSWORD {}", lit(v)));
        }
        if let Some(e) = &self.expire_at {
            attrs.push(format!("VALID UNTIL {}", lit(e)));
        }
        s.push_str(&format!("ALTER ROLE {n} WITH {};\n", attrs.join(" ")));
        if let Some(c) = &self.comment {
            s.push_str(&format!("COMMENT ON ROLE {n} IS {};\n", lit(c)));
        }
        for r in &self.roles {
            s.push_str(&format!("GRANT {} TO {n};\n", ident(r)));
        }
        for r in &self.revoke {
            s.push_str(&format!("REVOKE {} FROM {n};\n", ident(r)));
        }
        for (k, v) in &self.parameters {
            s.push_str(&format!("ALTER ROLE {n} SET {} TO {};\n", ident(k), lit(v)));
        }
        s
    }
}

pub struct PgRole {
    pub psql: Psql,
    pub spec: RoleSpec,
}

impl PgRole {
    fn state(&self) -> ResResult<(bool, Option<Value>)> {
        let v = self.psql.json("postgres", &self.spec.query())?;
        let role = v.get("role").cloned().filter(|r| !r.is_null());
        Ok((v["recovery"].as_bool().unwrap_or(false), role))
    }
}

impl Resource for PgRole {
    fn kind(&self) -> &'static str {
        "pg role"
    }
    fn name(&self) -> String {
        self.spec.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        let (recovery, cur) = self.state()?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        Ok(State::from_diffs(self.spec.diff(cur.as_ref()).0))
    }
    fn apply(&self) -> ResResult<()> {
        let (_, cur) = self.state()?;
        let (_, set_pw) = self.spec.diff(cur.as_ref());
        let verifier = match (&self.spec.password, set_pw) {
            (Some(p), true) if scram::is_verifier(p) || p.starts_with("md5") => Some(p.clone()),
            (Some(p), true) => Some(scram::verifier(p)),
            _ => None,
        };
        self.psql.exec("postgres", &self.spec.sql(cur.is_some(), verifier.as_deref()))?;
        Ok(())
    }
}

/// A role the inventory marks `state: absent`: its sessions are ended, what it owns in
/// each database goes to the database superuser (`REASSIGN OWNED`, then `DROP OWNED`
/// for its grants), and the role is dropped. pgBouncer forgets it through the userlist.
pub struct PgDropRole {
    pub psql: Psql,
    pub name: String,
}

impl PgDropRole {
    fn state(&self) -> ResResult<(bool, bool)> {
        let v = self.psql.json(
            "postgres",
            &format!(
                "SELECT json_build_object('recovery', pg_is_in_recovery(), 'exists', EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {}));",
                lit(&self.name)
            ),
        )?;
        Ok((v["recovery"].as_bool().unwrap_or(false), v["exists"].as_bool().unwrap_or(false)))
    }

    /// SQL run in each database that accepts connections.
    pub fn sql_per_db(&self, dbsu: &str) -> String {
        let n = ident(&self.name);
        format!("{QUIET}REASSIGN OWNED BY {n} TO {};\nDROP OWNED BY {n};\n", ident(dbsu))
    }

    /// SQL run last, in `postgres`.
    pub fn sql_drop(&self) -> String {
        format!(
            "{QUIET}SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = {};\nDROP ROLE IF EXISTS {};\n",
            lit(&self.name),
            ident(&self.name)
        )
    }
}

impl Resource for PgDropRole {
    fn kind(&self) -> &'static str {
        "pg role"
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        let (recovery, exists) = self.state()?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        Ok(if exists { State::drift(format!("drop role {}", self.name)) } else { State::InSync })
    }
    fn apply(&self) -> ResResult<()> {
        let dbs = self.psql.json("postgres", "SELECT coalesce(json_agg(datname ORDER BY datname), '[]') FROM pg_database WHERE datallowconn;")?;
        for db in dbs.as_array().into_iter().flatten().filter_map(Value::as_str) {
            self.psql.exec(db, &self.sql_per_db(&self.psql.dbsu))?;
        }
        self.psql.exec("postgres", &self.sql_drop())?;
        Ok(())
    }
}

//------------------------------------------------------------------------------
// Database
//------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct DbSpec {
    pub name: String,
    pub owner: Option<String>,
    pub template: Option<String>,
    pub strategy: Option<String>,
    pub encoding: Option<String>,
    pub locale: Option<String>,
    pub lc_collate: Option<String>,
    pub lc_ctype: Option<String>,
    pub locale_provider: Option<String>,
    pub icu_locale: Option<String>,
    pub icu_rules: Option<String>,
    pub builtin_locale: Option<String>,
    pub tablespace: Option<String>,
    pub is_template: Option<bool>,
    pub allowconn: Option<bool>,
    /// true: `REVOKE CONNECT ... FROM PUBLIC` (owner, admin, monitor and replicator keep it);
    /// false: PUBLIC may connect again; None: left alone.
    pub revokeconn: Option<bool>,
    pub comment: Option<String>,
    pub connlimit: Option<i64>,
    pub schemas: Vec<String>,
    /// `ALTER DATABASE .. SET` parameters.
    pub parameters: BTreeMap<String, String>,
    /// Pigsty's `baseline`: (file name, its SQL when found) run once, right after the
    /// database is created.
    pub baseline: Option<(String, Option<String>)>,
    /// Roles that keep CONNECT when `revokeconn` is on (admin, monitor, replicator).
    pub keep_connect: Vec<String>,
}

impl DbSpec {
    pub fn query(&self) -> String {
        format!(
            "SELECT json_build_object('recovery', pg_is_in_recovery(), 'db', (SELECT json_build_object(\
'owner', pg_get_userbyid(d.datdba), 'connlimit', d.datconnlimit, 'comment', shobj_description(d.oid, 'pg_database'), \
'allowconn', d.datallowconn, 'is_template', d.datistemplate, \
'tablespace', (SELECT t.spcname FROM pg_tablespace t WHERE t.oid = d.dattablespace), \
'public_connect', (SELECT coalesce(bool_or(a.grantee = 0 AND a.privilege_type = 'CONNECT'), false) \
FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a), \
'config', (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0)) \
FROM pg_database d WHERE d.datname = {}));",
            lit(&self.name)
        )
    }

    pub fn schema_query(&self) -> String {
        "SELECT coalesce(json_agg(nspname ORDER BY nspname), '[]') FROM pg_namespace;".into()
    }

    /// Differences; `schemas` is None when the database does not exist yet (or takes no connections).
    pub fn diff(&self, cur: Option<&Value>, schemas: Option<&BTreeSet<String>>) -> Vec<String> {
        let n = &self.name;
        let Some(cur) = cur.filter(|c| !c.is_null()) else {
            let mut d = vec![format!("create database {n}")];
            d.extend(self.schemas.iter().map(|s| format!("database {n}: create schema {s}")));
            if let Some((file, _)) = &self.baseline {
                d.push(format!("database {n}: run baseline {file}"));
            }
            return d;
        };
        let mut d = vec![];
        if let Some(o) = &self.owner {
            let have = cur["owner"].as_str().unwrap_or("");
            if have != o {
                d.push(format!("database {n}: owner {have} -> {o}"));
            }
        }
        let cl = cur["connlimit"].as_i64().unwrap_or(-1);
        if let Some(want) = self.connlimit {
            if cl != want {
                d.push(format!("database {n}: connlimit {cl} -> {want}"));
            }
        }
        if let Some(c) = &self.comment {
            let have = cur["comment"].as_str().unwrap_or("");
            if have != c {
                d.push(format!("database {n}: comment {have:?} -> {c:?}"));
            }
        }
        for (attr, col, want) in [("allowconn", "allowconn", self.allowconn), ("is_template", "is_template", self.is_template)] {
            if let Some(w) = want {
                let have = cur[col].as_bool().unwrap_or(!w);
                if have != w {
                    d.push(format!("database {n}: {attr} {have} -> {w}"));
                }
            }
        }
        if let Some(rc) = self.revokeconn {
            let public = cur["public_connect"].as_bool().unwrap_or(true);
            if public == rc {
                d.push(format!("database {n}: revokeconn {} -> {rc}", !public));
            }
        }
        if let Some(t) = &self.tablespace {
            let have = cur["tablespace"].as_str().unwrap_or("");
            if have != t {
                d.push(format!("database {n}: tablespace {have} -> {t}"));
            }
        }
        let config: BTreeMap<String, String> = cur["config"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
            .unwrap_or_default();
        for (k, v) in &self.parameters {
            match config.get(k) {
                Some(h) if h == v => {}
                h => d.push(format!("database {n}: set {k} {} -> {v}", h.map(String::as_str).unwrap_or("(unset)"))),
            }
        }
        if let Some(have) = schemas {
            for s in &self.schemas {
                if !have.contains(s) {
                    d.push(format!("database {n}: create schema {s}"));
                }
            }
        }
        d
    }

    /// SQL run in `postgres` (create/alter the database). `cur`: the catalog row, None
    /// when the database does not exist yet.
    pub fn sql_cluster(&self, cur: Option<&Value>) -> String {
        let n = ident(&self.name);
        let mut s = String::from(QUIET);
        let exists = cur.is_some();
        if !exists {
            let mut c = format!("CREATE DATABASE {n}");
            for (kw, v, quote) in [
                ("OWNER", &self.owner, false),
                ("TEMPLATE", &self.template, false),
                ("STRATEGY", &self.strategy, true),
                ("ENCODING", &self.encoding, true),
                ("LOCALE", &self.locale, true),
                ("LC_COLLATE", &self.lc_collate, true),
                ("LC_CTYPE", &self.lc_ctype, true),
                ("LOCALE_PROVIDER", &self.locale_provider, true),
                ("ICU_LOCALE", &self.icu_locale, true),
                ("ICU_RULES", &self.icu_rules, true),
                ("BUILTIN_LOCALE", &self.builtin_locale, true),
                ("TABLESPACE", &self.tablespace, false),
            ] {
                if let Some(v) = v {
                    c.push_str(&format!(" {kw} {}", if quote { lit(v) } else { ident(v) }));
                }
            }
            s.push_str(&c);
            s.push_str(";\n");
        }
        if let Some(o) = &self.owner {
            s.push_str(&format!("ALTER DATABASE {n} OWNER TO {};\n", ident(o)));
        }
        if let Some(cl) = self.connlimit {
            s.push_str(&format!("ALTER DATABASE {n} CONNECTION LIMIT {cl};\n"));
        }
        if let Some(c) = &self.comment {
            s.push_str(&format!("COMMENT ON DATABASE {n} IS {};\n", lit(c)));
        }
        if let (Some(t), true) = (&self.tablespace, exists) {
            if cur.and_then(|c| c["tablespace"].as_str()) != Some(t.as_str()) {
                s.push_str(&format!("ALTER DATABASE {n} SET TABLESPACE {};\n", ident(t)));
            }
        }
        if let Some(t) = self.is_template {
            s.push_str(&format!("ALTER DATABASE {n} IS_TEMPLATE {t};\n"));
        }
        for (k, v) in &self.parameters {
            s.push_str(&format!("ALTER DATABASE {n} SET {} TO {};\n", ident(k), lit(v)));
        }
        match self.revokeconn {
            Some(true) => {
                s.push_str(&format!("REVOKE CONNECT ON DATABASE {n} FROM PUBLIC;\n"));
                let mut keep: Vec<&String> = self.keep_connect.iter().collect();
                if let Some(o) = &self.owner {
                    keep.push(o);
                }
                for r in keep {
                    s.push_str(&format!("GRANT CONNECT ON DATABASE {n} TO {} WITH GRANT OPTION;\n", ident(r)));
                }
            }
            Some(false) => s.push_str(&format!("GRANT CONNECT ON DATABASE {n} TO PUBLIC;\n")),
            None => {}
        }
        s
    }

    /// `ALLOW_CONNECTIONS` last: the steps inside the database need to connect first.
    pub fn sql_allowconn(&self) -> Option<String> {
        self.allowconn.map(|a| format!("{QUIET}ALTER DATABASE {} ALLOW_CONNECTIONS {a};\n", ident(&self.name)))
    }

    /// SQL run inside the database (schemas).
    pub fn sql_inside(&self) -> String {
        let mut s = String::from(QUIET);
        for sc in &self.schemas {
            s.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {}", ident(sc)));
            if let Some(o) = &self.owner {
                s.push_str(&format!(" AUTHORIZATION {}", ident(o)));
            }
            s.push_str(";\n");
        }
        s
    }
}

pub struct PgDatabase {
    pub psql: Psql,
    pub spec: DbSpec,
}

impl PgDatabase {
    fn state(&self) -> ResResult<(bool, Option<Value>, Option<BTreeSet<String>>)> {
        let v = self.psql.json("postgres", &self.spec.query())?;
        let db = v.get("db").cloned().filter(|r| !r.is_null());
        let connectable = db.as_ref().is_some_and(|d| d["allowconn"].as_bool().unwrap_or(true));
        let schemas = if connectable && !self.spec.schemas.is_empty() {
            let s = self.psql.json(&self.spec.name, &self.spec.schema_query())?;
            Some(s.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default())
        } else {
            None
        };
        Ok((v["recovery"].as_bool().unwrap_or(false), db, schemas))
    }
}

impl Resource for PgDatabase {
    fn kind(&self) -> &'static str {
        "pg database"
    }
    fn name(&self) -> String {
        self.spec.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        let (recovery, cur, schemas) = self.state()?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        Ok(State::from_diffs(self.spec.diff(cur.as_ref(), schemas.as_ref())))
    }
    fn apply(&self) -> ResResult<()> {
        let (_, cur, _) = self.state()?;
        let created = cur.is_none();
        // Inside steps first when the database refuses connections (it may have been
        // switched off before): allow, work, then set the wanted value.
        if cur.as_ref().is_some_and(|c| c["allowconn"] == false) && (!self.spec.schemas.is_empty()) {
            self.psql.exec("postgres", &format!("{QUIET}ALTER DATABASE {} ALLOW_CONNECTIONS true;\n", ident(&self.spec.name)))?;
        }
        self.psql.exec("postgres", &self.spec.sql_cluster(cur.as_ref()))?;
        if !self.spec.schemas.is_empty() {
            self.psql.exec(&self.spec.name, &self.spec.sql_inside())?;
        }
        if let (true, Some((file, sql))) = (created, &self.spec.baseline) {
            let Some(sql) = sql else {
                return Err(ResError::msg(format!(
                    "database `{}`: baseline `{file}` not found (looked next to the inventory and in its `files/` directory)",
                    self.spec.name
                )));
            };
            self.psql.exec(&self.spec.name, sql).map_err(|e| ResError::msg(format!("database `{}`: baseline `{file}`: {e}", self.spec.name)))?;
        }
        if let Some(sql) = self.spec.sql_allowconn() {
            self.psql.exec("postgres", &sql)?;
        }
        Ok(())
    }
}

/// A database the inventory marks `state: absent`. Dropping is destructive: unless
/// `allowed` (the user typed the name back to `pigsty pgsql db` or passed `--yes`),
/// the step is skipped with that hint, so `deploy` never drops a database by itself.
pub struct PgDropDatabase {
    pub psql: Psql,
    pub name: String,
    pub allowed: bool,
    /// e.g. `pigsty pgsql db pg-meta olddb`
    pub hint: String,
}

impl PgDropDatabase {
    fn state(&self) -> ResResult<(bool, bool)> {
        let v = self.psql.json(
            "postgres",
            &format!(
                "SELECT json_build_object('recovery', pg_is_in_recovery(), 'exists', EXISTS (SELECT 1 FROM pg_database WHERE datname = {}));",
                lit(&self.name)
            ),
        )?;
        Ok((v["recovery"].as_bool().unwrap_or(false), v["exists"].as_bool().unwrap_or(false)))
    }

    pub fn sql(&self) -> String {
        let n = ident(&self.name);
        format!("{QUIET}ALTER DATABASE {n} IS_TEMPLATE false;\nDROP DATABASE IF EXISTS {n} WITH (FORCE);\n")
    }
}

impl Resource for PgDropDatabase {
    fn kind(&self) -> &'static str {
        "pg database"
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        let (recovery, exists) = self.state()?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        if !exists {
            return Ok(State::InSync);
        }
        if !self.allowed {
            return Ok(State::Skip(format!(
                "database {} is marked `state: absent` but dropping it needs a confirmation; hint: `{}`",
                self.name, self.hint
            )));
        }
        Ok(State::drift(format!("drop database {}", self.name)))
    }
    fn apply(&self) -> ResResult<()> {
        self.psql.exec("postgres", &self.sql())?;
        Ok(())
    }
}

//------------------------------------------------------------------------------
// Schemas in an existing database (template1, postgres: pg_default_schemas)
//------------------------------------------------------------------------------

pub struct PgSchemas {
    pub psql: Psql,
    pub db: String,
    pub schemas: Vec<String>,
}

impl PgSchemas {
    fn missing(&self) -> ResResult<(bool, Vec<String>)> {
        let v = self.psql.json(
            &self.db,
            "SELECT json_build_object('recovery', pg_is_in_recovery(), 'schemas', (SELECT json_agg(nspname) FROM pg_namespace));",
        )?;
        let have: BTreeSet<&str> = v["schemas"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let miss = self.schemas.iter().filter(|s| !have.contains(s.as_str())).cloned().collect();
        Ok((v["recovery"].as_bool().unwrap_or(false), miss))
    }
}

impl Resource for PgSchemas {
    fn kind(&self) -> &'static str {
        "pg schema"
    }
    fn name(&self) -> String {
        format!("{} in {}", self.schemas.join(", "), self.db)
    }
    fn check(&self) -> ResResult<State> {
        let (recovery, miss) = self.missing()?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        Ok(State::from_diffs(miss.into_iter().map(|s| format!("database {}: create schema {s}", self.db)).collect()))
    }
    fn apply(&self) -> ResResult<()> {
        let mut sql = String::from(QUIET);
        for s in &self.schemas {
            sql.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};\n", ident(s)));
        }
        self.psql.exec(&self.db, &sql)?;
        Ok(())
    }
}

//------------------------------------------------------------------------------
// Extension
//------------------------------------------------------------------------------

pub struct PgExtension {
    pub psql: Psql,
    pub db: String,
    pub name: String,
    pub schema: Option<String>,
    /// What to tell the user when the extension is not installed on this machine.
    pub hint: String,
}

impl PgExtension {
    fn state(&self) -> ResResult<Value> {
        self.psql.json(
            &self.db,
            &format!(
                "SELECT json_build_object('recovery', pg_is_in_recovery(), \
'available', EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = {n}), \
'installed', EXISTS (SELECT 1 FROM pg_extension WHERE extname = {n}));",
                n = lit(&self.name)
            ),
        )
    }
}

impl Resource for PgExtension {
    fn kind(&self) -> &'static str {
        "pg extension"
    }
    fn name(&self) -> String {
        format!("{} in {}", self.name, self.db)
    }
    fn check(&self) -> ResResult<State> {
        let v = self.state()?;
        if v["recovery"] == true {
            return Ok(State::Skip(REPLICA.into()));
        }
        if v["installed"] == true {
            return Ok(State::InSync);
        }
        if v["available"] != true {
            return Ok(State::Skip(format!("module pgsql: extension `{}` is not available on this machine; {}", self.name, self.hint)));
        }
        Ok(State::drift(format!("database {}: create extension {}", self.db, self.name)))
    }
    fn apply(&self) -> ResResult<()> {
        let mut sql = format!("{QUIET}CREATE EXTENSION IF NOT EXISTS {}", ident(&self.name));
        if let Some(s) = &self.schema {
            sql.push_str(&format!(" WITH SCHEMA {}", ident(s)));
        }
        sql.push_str(" CASCADE;\n");
        self.psql.exec(&self.db, &sql)?;
        Ok(())
    }
}

//------------------------------------------------------------------------------
// Default privileges
//------------------------------------------------------------------------------

/// (owner, objtype letter, grantee, privilege) of one default grant.
type Grant = (String, char, String, String);

/// `ALTER DEFAULT PRIVILEGES FOR ROLE <owner> GRANT ...` for each owner, in one
/// database (template1 so new databases inherit them, and postgres).
pub struct PgDefaultPrivileges {
    pub psql: Psql,
    pub db: String,
    pub owners: Vec<String>,
    /// Pigsty's form: `GRANT SELECT ON TABLES TO dbrole_readonly`.
    pub grants: Vec<String>,
}

/// (objtype letter, privilege name, grantee) of one `GRANT <priv> ON <objects> TO <role>`.
pub fn parse_default_grant(g: &str) -> Option<(char, String, String)> {
    let w: Vec<&str> = g.split_whitespace().collect();
    let on = w.iter().position(|x| x.eq_ignore_ascii_case("ON"))?;
    let to = w.iter().position(|x| x.eq_ignore_ascii_case("TO"))?;
    if !w.first()?.eq_ignore_ascii_case("GRANT") || on != 2 || to != 4 || w.len() != 6 {
        return None;
    }
    let objtype = match w[3].to_ascii_uppercase().as_str() {
        "TABLES" => 'r',
        "SEQUENCES" => 'S',
        "FUNCTIONS" | "ROUTINES" => 'f',
        "TYPES" => 'T',
        "SCHEMAS" => 'n',
        _ => return None,
    };
    Some((objtype, w[1].to_ascii_uppercase(), w[5].trim_matches('"').to_string()))
}

impl PgDefaultPrivileges {
    fn want(&self) -> BTreeSet<Grant> {
        let mut s = BTreeSet::new();
        for o in &self.owners {
            for g in &self.grants {
                if let Some((t, p, r)) = parse_default_grant(g) {
                    s.insert((o.clone(), t, r, p));
                }
            }
        }
        s
    }
    fn missing(&self) -> ResResult<(bool, Vec<Grant>)> {
        let v = self.psql.json(
            &self.db,
            "SELECT json_build_object('recovery', pg_is_in_recovery(), 'acl', (SELECT coalesce(json_agg(json_build_array(\
pg_get_userbyid(d.defaclrole), d.defaclobjtype, CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type)), '[]') \
FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE d.defaclnamespace = 0));",
        )?;
        let have: BTreeSet<Grant> = v["acl"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        Some((
                            r[0].as_str()?.to_string(),
                            r[1].as_str()?.chars().next()?,
                            r[2].as_str()?.to_string(),
                            r[3].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((v["recovery"].as_bool().unwrap_or(false), self.want().difference(&have).cloned().collect()))
    }
}

impl Resource for PgDefaultPrivileges {
    fn kind(&self) -> &'static str {
        "pg privileges"
    }
    fn name(&self) -> String {
        format!("default privileges in {}", self.db)
    }
    fn check(&self) -> ResResult<State> {
        let (recovery, miss) = self.missing()?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        if miss.is_empty() {
            return Ok(State::InSync);
        }
        let owners: BTreeSet<&str> = miss.iter().map(|m| m.0.as_str()).collect();
        Ok(State::drift(format!(
            "database {}: {} default grants missing (for {})",
            self.db,
            miss.len(),
            owners.into_iter().collect::<Vec<_>>().join(", ")
        )))
    }
    fn apply(&self) -> ResResult<()> {
        let mut sql = String::from(QUIET);
        for o in &self.owners {
            for g in &self.grants {
                if parse_default_grant(g).is_none() {
                    return Err(ResError::msg(format!("default privilege `{g}`: expected `GRANT <privilege> ON <TABLES|SEQUENCES|FUNCTIONS|TYPES|SCHEMAS> TO <role>`")));
                }
                sql.push_str(&format!("ALTER DEFAULT PRIVILEGES FOR ROLE {} {g};\n", ident(o)));
            }
        }
        self.psql.exec(&self.db, &sql)?;
        Ok(())
    }
}

//------------------------------------------------------------------------------
// pgBouncer userlist, from the catalog
//------------------------------------------------------------------------------

/// `/etc/pgbouncer/userlist.txt`: `"user" "SCRAM-SHA-256$..."` for each listed user,
/// taken from `pg_authid` so pgBouncer holds the very verifier Postgres has (SCRAM
/// pass-through to the server needs the same salt). Works on replicas too (read-only).
pub struct PgbouncerUserlist {
    pub psql: Psql,
    pub path: String,
    pub users: Vec<String>,
    pub owner: String,
}

impl PgbouncerUserlist {
    fn render(&self) -> ResResult<String> {
        if self.users.is_empty() {
            return Ok(String::new());
        }
        let list = self.users.iter().map(|u| lit(u)).collect::<Vec<_>>().join(", ");
        let query = format!(
            "SELECT json_build_object('recovery', pg_is_in_recovery(), 'n', (SELECT count(*) FROM pg_roles WHERE rolname IN ({list})), 'users', (SELECT coalesce(json_agg(json_build_array(rolname, rolpassword) \
ORDER BY rolname), '[]') FROM pg_authid WHERE rolname IN ({list}) AND rolpassword IS NOT NULL));"
        );
        // On a replica a role the primary has just created may not be replayed yet:
        // wait a little for every listed user to show up.
        let t0 = std::time::Instant::now();
        let v = loop {
            let v = self.psql.json("postgres", &query)?;
            let found = v["n"].as_u64().unwrap_or(0) as usize;
            if v["recovery"] != true || found >= self.users.len() || t0.elapsed() > Duration::from_secs(10) {
                break v["users"].clone();
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let mut s = String::new();
        for r in v.as_array().into_iter().flatten() {
            let (Some(u), Some(p)) = (r[0].as_str(), r[1].as_str()) else { continue };
            s.push_str(&format!("\"{}\" \"{}\"\n", u.replace('"', "\"\""), p.replace('"', "\"\"")));
        }
        Ok(s)
    }
    fn file(&self, content: String) -> super::File {
        super::File::new(&self.path, content).mode(0o600).owner(&self.owner, &self.owner).secret()
    }
}

/// Users whose line differs between two userlists (names only).
fn userlist_delta(old: &str, new: &str) -> Vec<String> {
    let parse = |s: &str| -> BTreeMap<String, String> {
        s.lines().filter_map(|l| l.split_once("\" \"").map(|(u, p)| (u.trim_start_matches('"').to_string(), p.to_string()))).collect()
    };
    let (o, n) = (parse(old), parse(new));
    let mut d = vec![];
    for (u, p) in &n {
        match o.get(u) {
            None => d.push(format!("userlist: add {u}")),
            Some(q) if q != p => d.push(format!("userlist: new secret for {u}")),
            _ => {}
        }
    }
    for u in o.keys().filter(|u| !n.contains_key(*u)) {
        d.push(format!("userlist: remove {u}"));
    }
    d
}

impl Resource for PgbouncerUserlist {
    fn kind(&self) -> &'static str {
        "file"
    }
    fn name(&self) -> String {
        self.path.clone()
    }
    fn check(&self) -> ResResult<State> {
        let content = self.render()?;
        let old = std::fs::read_to_string(&self.path).unwrap_or_default();
        let f = self.file(content.clone());
        match f.check()? {
            State::InSync => Ok(State::InSync),
            State::Drift(mut d) => {
                // a secret file's content change says nothing; tell which users differ
                let changed = super::Delta::Content { summary: None };
                if d.contains(&changed) {
                    d.retain(|x| *x != changed);
                    let words = userlist_delta(&old, &content);
                    d.extend(if words.is_empty() { vec![changed] } else { words.into_iter().map(super::Delta::from).collect() });
                }
                Ok(State::Drift(d))
            }
            other => Ok(other),
        }
    }
    fn apply(&self) -> ResResult<()> {
        self.file(self.render()?).apply()
    }
}

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
        assert!(!d.iter().any(|x| x.contains("Other.2") || x.contains("Secret.1")));
    }

    #[test]
    fn role_absent_means_create() {
        let (d, pw) = spec().diff(None);
        assert_eq!(d, vec!["create role dbuser_app".to_string()]);
        assert!(pw);
    }

    #[test]
    fn superuser_keeps_its_other_attributes_when_unspecified() {
        let s = RoleSpec { name: "postgres".into(), superuser: Some(true), ..Default::default() };
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
        assert!(!sql.contains("REPLICATION") && !sql.contains("CREATEDB") && !sql.contains("CREATEROLE"), "{sql}");
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
        assert!(sql.contains("ALTER ROLE \"dbuser_app\" SET \"log_min_duration_statement\" TO '1000';"));
        assert!(sql.contains("COMMENT ON ROLE \"dbuser_app\" IS 'app user';"));
    }

    #[test]
    fn quoting_survives_hostile_names() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(lit("it's"), "'it''s'");
        let s = RoleSpec { name: "x'; DROP TABLE y; --".into(), ..Default::default() };
        assert!(s.query().contains("'x''; DROP TABLE y; --'"));
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
        assert_eq!(s.diff(None, None), vec!["create database meta".to_string(), "database meta: create schema pigsty".to_string()]);
        let cur = json!({"owner": "postgres", "connlimit": -1, "comment": "pigsty meta database"});
        let have: BTreeSet<String> = ["public".to_string()].into();
        assert_eq!(
            s.diff(Some(&cur), Some(&have)),
            vec!["database meta: owner postgres -> dbuser_meta".to_string(), "database meta: create schema pigsty".to_string()]
        );
        let sql = s.sql_cluster(None);
        assert!(sql.contains("CREATE DATABASE \"meta\" OWNER \"dbuser_meta\";"), "{sql}");
        assert!(s.sql_inside().contains("CREATE SCHEMA IF NOT EXISTS \"pigsty\" AUTHORIZATION \"dbuser_meta\";"));
    }

    #[test]
    fn default_grants_parse_pigsty_form() {
        assert_eq!(parse_default_grant("GRANT USAGE      ON SCHEMAS    TO  dbrole_readonly"), Some(('n', "USAGE".into(), "dbrole_readonly".into())));
        assert_eq!(parse_default_grant("GRANT SELECT ON TABLES TO dbrole_readonly"), Some(('r', "SELECT".into(), "dbrole_readonly".into())));
        assert_eq!(parse_default_grant("REVOKE x"), None);
    }

    #[test]
    fn userlist_delta_names_users_only() {
        let d = userlist_delta("\"a\" \"S1\"\n\"b\" \"S2\"\n", "\"a\" \"S9\"\n\"c\" \"S3\"\n");
        assert_eq!(d, vec!["userlist: new secret for a".to_string(), "userlist: add c".to_string(), "userlist: remove b".to_string()]);
    }
}
