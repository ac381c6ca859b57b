//! Roles: a role as the inventory wants it (`RoleSpec`), and its removal.
use super::*;

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
    fn flags(
        &self,
    ) -> Vec<(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<bool>,
    )> {
        let su = self.superuser.unwrap_or(false);
        // Superusers bypass these anyway, and initdb gives the bootstrap superuser all of
        // them: leave them alone on a superuser unless the inventory says otherwise.
        let guarded = |v: Option<bool>| if su { v } else { Some(v.unwrap_or(false)) };
        vec![
            (
                "login",
                "rolcanlogin",
                "LOGIN",
                "NOLOGIN",
                Some(self.login.unwrap_or(true)),
            ),
            (
                "superuser",
                "rolsuper",
                "SUPERUSER",
                "NOSUPERUSER",
                Some(su),
            ),
            (
                "createdb",
                "rolcreatedb",
                "CREATEDB",
                "NOCREATEDB",
                guarded(self.createdb),
            ),
            (
                "createrole",
                "rolcreaterole",
                "CREATEROLE",
                "NOCREATEROLE",
                guarded(self.createrole),
            ),
            (
                "inherit",
                "rolinherit",
                "INHERIT",
                "NOINHERIT",
                Some(self.inherit.unwrap_or(true)),
            ),
            (
                "replication",
                "rolreplication",
                "REPLICATION",
                "NOREPLICATION",
                guarded(self.replication),
            ),
            (
                "bypassrls",
                "rolbypassrls",
                "BYPASSRLS",
                "NOBYPASSRLS",
                guarded(self.bypassrls),
            ),
        ]
    }

    fn connlimit(&self) -> i64 {
        self.connlimit.unwrap_or(-1)
    }
}

/// One role's catalog row as JSON (`r` is its `pg_authid` row).
const ROLE_ROW: &str = "json_build_object(\
'rolcanlogin', r.rolcanlogin, 'rolsuper', r.rolsuper, 'rolcreatedb', r.rolcreatedb, 'rolcreaterole', r.rolcreaterole, \
'rolinherit', r.rolinherit, 'rolreplication', r.rolreplication, 'rolbypassrls', r.rolbypassrls, 'rolconnlimit', r.rolconnlimit, \
'rolpassword', r.rolpassword, 'rolvaliduntil', to_char(r.rolvaliduntil, 'YYYY-MM-DD'), \
'rolconfig', (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0), \
'comment', shobj_description(r.oid, 'pg_authid'), \
'member_of', ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid ORDER BY 1))";

/// Every role at once, for the checks of one run: `{recovery, roles: {name: row}}`.
fn all_roles_query() -> String {
    format!("SELECT json_build_object('recovery', pg_is_in_recovery(), 'roles', (SELECT coalesce(json_object_agg(r.rolname, {ROLE_ROW}), '{{}}') FROM pg_authid r));")
}

impl RoleSpec {
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
                    let same = if scram::is_verifier(want)
                        || want.starts_with("md5") && want.len() == 35
                    {
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
        let member_of: BTreeSet<&str> = cur["member_of"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
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
        let what = format!("role {n}");
        d.extend(text_drift(
            &what,
            "comment",
            cur,
            "comment",
            "",
            self.comment.as_deref(),
            true,
        ));
        d.extend(settings_drift(&what, &cur["rolconfig"], &self.parameters));
        d.extend(text_drift(
            &what,
            "valid until",
            cur,
            "rolvaliduntil",
            "(never)",
            self.expire_at.as_deref(),
            false,
        ));
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
        let v = self.psql.shared("postgres", &all_roles_query())?;
        let role = v["roles"]
            .get(&self.spec.name)
            .cloned()
            .filter(|r| !r.is_null());
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
        self.psql.exec(
            "postgres",
            &self.spec.sql(cur.is_some(), verifier.as_deref()),
        )?;
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
    /// SQL run in each database that accepts connections.
    pub fn sql_per_db(&self, dbsu: &str) -> String {
        let n = ident(&self.name);
        format!(
            "{QUIET}REASSIGN OWNED BY {n} TO {};\nDROP OWNED BY {n};\n",
            ident(dbsu)
        )
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
        let (recovery, exists) = self
            .psql
            .recovery_and_exists("pg_roles", "rolname", &self.name)?;
        if recovery {
            return Ok(State::Skip(REPLICA.into()));
        }
        Ok(if exists {
            State::drift(format!("drop role {}", self.name))
        } else {
            State::InSync
        })
    }
    fn apply(&self) -> ResResult<()> {
        let dbs = self.psql.json("postgres", "SELECT coalesce(json_agg(datname ORDER BY datname), '[]') FROM pg_database WHERE datallowconn;")?;
        for db in dbs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            self.psql.exec(db, &self.sql_per_db(&self.psql.dbsu))?;
        }
        self.psql.exec("postgres", &self.sql_drop())?;
        Ok(())
    }
}
