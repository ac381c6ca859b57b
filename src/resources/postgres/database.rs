//! Databases: a database as the inventory wants it (`DbSpec`), and its removal.
use super::*;

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
            d.extend(
                self.schemas
                    .iter()
                    .map(|s| format!("database {n}: create schema {s}")),
            );
            if let Some((file, _)) = &self.baseline {
                d.push(format!("database {n}: run baseline {file}"));
            }
            return d;
        };
        let what = format!("database {n}");
        let mut d: Vec<String> = text_drift(
            &what,
            "owner",
            cur,
            "owner",
            "",
            self.owner.as_deref(),
            false,
        )
        .into_iter()
        .collect();
        let cl = cur["connlimit"].as_i64().unwrap_or(-1);
        if let Some(want) = self.connlimit {
            if cl != want {
                d.push(format!("database {n}: connlimit {cl} -> {want}"));
            }
        }
        d.extend(text_drift(
            &what,
            "comment",
            cur,
            "comment",
            "",
            self.comment.as_deref(),
            true,
        ));
        for (attr, col, want) in [
            ("allowconn", "allowconn", self.allowconn),
            ("is_template", "is_template", self.is_template),
        ] {
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
        d.extend(text_drift(
            &what,
            "tablespace",
            cur,
            "tablespace",
            "",
            self.tablespace.as_deref(),
            false,
        ));
        d.extend(settings_drift(&what, &cur["config"], &self.parameters));
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
                s.push_str(&format!(
                    "ALTER DATABASE {n} SET TABLESPACE {};\n",
                    ident(t)
                ));
            }
        }
        if let Some(t) = self.is_template {
            s.push_str(&format!("ALTER DATABASE {n} IS_TEMPLATE {t};\n"));
        }
        for (k, v) in &self.parameters {
            s.push_str(&format!(
                "ALTER DATABASE {n} SET {} TO {};\n",
                ident(k),
                lit(v)
            ));
        }
        match self.revokeconn {
            Some(true) => {
                s.push_str(&format!("REVOKE CONNECT ON DATABASE {n} FROM PUBLIC;\n"));
                let mut keep: Vec<&String> = self.keep_connect.iter().collect();
                if let Some(o) = &self.owner {
                    keep.push(o);
                }
                for r in keep {
                    s.push_str(&format!(
                        "GRANT CONNECT ON DATABASE {n} TO {} WITH GRANT OPTION;\n",
                        ident(r)
                    ));
                }
            }
            Some(false) => s.push_str(&format!("GRANT CONNECT ON DATABASE {n} TO PUBLIC;\n")),
            None => {}
        }
        s
    }

    /// `ALLOW_CONNECTIONS` last: the steps inside the database need to connect first.
    pub fn sql_allowconn(&self) -> Option<String> {
        self.allowconn.map(|a| {
            format!(
                "{QUIET}ALTER DATABASE {} ALLOW_CONNECTIONS {a};\n",
                ident(&self.name)
            )
        })
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
        let connectable = db
            .as_ref()
            .is_some_and(|d| d["allowconn"].as_bool().unwrap_or(true));
        let schemas = if connectable && !self.spec.schemas.is_empty() {
            let s = self.psql.json(&self.spec.name, &self.spec.schema_query())?;
            Some(
                s.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
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
        Ok(State::from_diffs(
            self.spec.diff(cur.as_ref(), schemas.as_ref()),
        ))
    }
    fn apply(&self) -> ResResult<()> {
        let (_, cur, _) = self.state()?;
        let created = cur.is_none();
        // Inside steps first when the database refuses connections (it may have been
        // switched off before): allow, work, then set the wanted value.
        if cur.as_ref().is_some_and(|c| c["allowconn"] == false) && (!self.spec.schemas.is_empty())
        {
            self.psql.exec(
                "postgres",
                &format!(
                    "{QUIET}ALTER DATABASE {} ALLOW_CONNECTIONS true;\n",
                    ident(&self.spec.name)
                ),
            )?;
        }
        self.psql
            .exec("postgres", &self.spec.sql_cluster(cur.as_ref()))?;
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
            self.psql.exec(&self.spec.name, sql).map_err(|e| {
                ResError::msg(format!(
                    "database `{}`: baseline `{file}`: {e}",
                    self.spec.name
                ))
            })?;
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
        let (recovery, exists) =
            self.psql
                .recovery_and_exists("pg_database", "datname", &self.name)?;
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
