//! Checks of the business objects of each pgsql cluster, once per cluster: users and
//! roles (`pg_default_roles`, `pg_users`), databases (`pg_databases`), HBA rules
//! (`pg_*hba_rules`, `pgb_*hba_rules`) and services (`pg_*services`). An unknown
//! attribute, a value of the wrong kind, a database owner no user defines, or an HBA
//! address alias that does not exist is an error naming the key (`pg_users[1].superuserr`),
//! and nothing is applied anywhere.
use super::{Diag, Host, Inventory, Severity};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Attributes of a user/role definition (Pigsty's).
pub const USER_KEYS: &[&str] = &[
    "name",
    "state",
    "password",
    "login",
    "superuser",
    "createdb",
    "createrole",
    "inherit",
    "replication",
    "bypassrls",
    "connlimit",
    "expire_in",
    "expire_at",
    "comment",
    "roles",
    "parameters",
    "pgbouncer",
    "pool_mode",
    "pool_connlimit",
    "admin",
    "search_path",
];

/// Attributes of a database definition (Pigsty's).
pub const DB_KEYS: &[&str] = &[
    "name",
    "state",
    "baseline",
    "schemas",
    "extensions",
    "comment",
    "pgbouncer",
    "owner",
    "template",
    "strategy",
    "encoding",
    "locale",
    "lc_collate",
    "lc_ctype",
    "locale_provider",
    "icu_locale",
    "icu_rules",
    "builtin_locale",
    "tablespace",
    "is_template",
    "allowconn",
    "revokeconn",
    "register_datasource",
    "connlimit",
    "pool_auth_user",
    "pool_mode",
    "pool_size",
    "pool_reserve",
    "pool_size_min",
    "pool_connlimit",
    "pool_max_db_conn",
    "parameters",
];

/// Attributes of an HBA rule.
pub const HBA_KEYS: &[&str] = &[
    "user", "db", "addr", "auth", "title", "role", "order", "rules", "comment",
];

/// Attributes of a service.
pub const SERVICE_KEYS: &[&str] = &[
    "name", "port", "ip", "selector", "backup", "dest", "check", "maxconn", "balance", "options",
    "comment",
];

/// HBA address aliases (besides an IP address or a CIDR).
pub const HBA_ADDRS: &[&str] = &[
    "local",
    "localhost",
    "admin",
    "infra",
    "cluster",
    "intra",
    "intranet",
    "world",
    "all",
];

/// HBA auth aliases.
pub const HBA_AUTHS: &[&str] = &[
    "pwd",
    "sha",
    "scram",
    "scram-sha-256",
    "md5",
    "ssl",
    "cert",
    "trust",
    "deny",
    "reject",
    "ident",
    "peer",
];

const BOOL_USER: &[&str] = &[
    "login",
    "superuser",
    "createdb",
    "createrole",
    "inherit",
    "replication",
    "bypassrls",
    "pgbouncer",
    "admin",
];
const INT_USER: &[&str] = &["connlimit", "expire_in", "pool_connlimit"];
const BOOL_DB: &[&str] = &[
    "pgbouncer",
    "is_template",
    "allowconn",
    "revokeconn",
    "register_datasource",
];
const INT_DB: &[&str] = &[
    "connlimit",
    "pool_size",
    "pool_reserve",
    "pool_size_min",
    "pool_connlimit",
    "pool_max_db_conn",
];
const POOL_MODES: &[&str] = &["transaction", "session", "statement"];

/// Is `addr` a known alias, an IP address or a CIDR?
pub fn valid_hba_addr(addr: &str) -> bool {
    HBA_ADDRS.contains(&addr) || ip_or_cidr(addr).is_some()
}

/// The address of an IP address or CIDR (`10.0.0.0/8`, `fd00::/8`), `None` for anything else.
pub fn ip_or_cidr(addr: &str) -> Option<std::net::IpAddr> {
    let (ip, bits) = match addr.split_once('/') {
        Some((i, b)) => (i, Some(b)),
        None => (addr, None),
    };
    let ip = ip.parse::<std::net::IpAddr>().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|n| n <= max))
        .then_some(ip)
}

struct Ctx<'a> {
    inv: &'a Inventory,
    host: &'a Host,
    out: &'a mut Vec<Diag>,
}

impl Ctx<'_> {
    fn err(&mut self, key: &str, sub: &[String], message: String, hint: Option<String>) {
        let subs: Vec<&str> = sub.iter().map(String::as_str).collect();
        let (file, line) = self.inv.locate(self.host, key, &subs);
        let full = if sub.is_empty() {
            key.to_string()
        } else {
            format!("{key}.{}", sub.join(".")).replace(".[", "[")
        };
        self.out.push(Diag {
            severity: Severity::Error,
            file,
            line,
            host: Some(self.host.addr.clone()),
            key: Some(full),
            message,
            hint,
        });
    }
}

fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    super::schema::closest(name, known.iter().copied())
}

fn unknown_hint(name: &str, known: &[&str]) -> String {
    let is_param = super::schema::Schema::builtin().is_ok_and(|s| s.params.contains_key(name));
    match suggest(name, known) {
        _ if is_param => format!(
            "`{name}` is a parameter (of the cluster or host), not an attribute here: is it indented one level too deep?"
        ),
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("known: {}", known.join(", ")),
    }
}

fn is_int(v: &Value) -> bool {
    v.as_i64().is_some() || v.as_str().is_some_and(|s| s.trim().parse::<i64>().is_ok())
}

fn is_bool(v: &Value) -> bool {
    v.is_boolean()
        || v.as_str()
            .is_some_and(|s| matches!(s, "true" | "false" | "yes" | "no" | "on" | "off"))
}

/// Common shape checks of a list of definitions; returns (index, item) of the mappings.
fn items<'v>(
    c: &mut Ctx,
    key: &str,
    list: &'v [Value],
    known: &[&str],
    what: &str,
    needs_name: bool,
) -> Vec<(usize, &'v serde_json::Map<String, Value>)> {
    let mut out = vec![];
    for (i, v) in list.iter().enumerate() {
        let at = format!("[{i}]");
        let Some(m) = v.as_object() else {
            c.err(
                key,
                &[at],
                format!("each {what} must be a mapping like `{{ name: x, ... }}`"),
                None,
            );
            continue;
        };
        for k in m.keys() {
            if !known.contains(&k.as_str()) {
                c.err(
                    key,
                    &[at.clone(), k.clone()],
                    format!("unknown {what} attribute `{k}`"),
                    Some(unknown_hint(k, known)),
                );
            }
        }
        if needs_name
            && m.get("name")
                .and_then(Value::as_str)
                .is_none_or(|n| n.is_empty())
        {
            c.err(
                key,
                std::slice::from_ref(&at),
                format!("a {what} needs a `name`"),
                None,
            );
        }
        out.push((i, m));
    }
    out
}

fn kinds(
    c: &mut Ctx,
    key: &str,
    i: usize,
    m: &serde_json::Map<String, Value>,
    bools: &[&str],
    ints: &[&str],
) {
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        let sub = vec![format!("[{i}]"), k.clone()];
        if bools.contains(&k.as_str()) && !is_bool(v) {
            c.err(
                key,
                &sub,
                format!("`{k}` must be true or false, not {v}"),
                None,
            );
        } else if ints.contains(&k.as_str()) && !is_int(v) {
            c.err(
                key,
                &sub,
                format!("`{k}` must be a whole number, not {v}"),
                None,
            );
        }
    }
    let modes = format!("one of {}", POOL_MODES.join(", "));
    one_of(c, key, i, m, "pool_mode", POOL_MODES, &modes);
}

/// `field` of item `i`, when set, must be one of `allowed` (`say`s how, in the error).
fn one_of(
    c: &mut Ctx,
    key: &str,
    i: usize,
    m: &serde_json::Map<String, Value>,
    field: &str,
    allowed: &[&str],
    say: &str,
) {
    if let Some(v) = m.get(field).filter(|v| !v.is_null()) {
        if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
            c.err(
                key,
                &[format!("[{i}]"), field.into()],
                format!("`{field}` must be {say}, not {v}"),
                None,
            );
        }
    }
}

/// An item's boolean and integer fields of the right kind, and its `state` one of
/// `states` (`present` is a synonym of `create` the message leaves out).
fn typed(
    c: &mut Ctx,
    key: &str,
    i: usize,
    m: &serde_json::Map<String, Value>,
    (bools, ints): (&[&str], &[&str]),
    states: &[&str],
) {
    kinds(c, key, i, m, bools, ints);
    let named: Vec<&str> = states.iter().copied().filter(|s| *s != "present").collect();
    let say = match named.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => named.join(""),
    };
    one_of(c, key, i, m, "state", states, &say);
}

/// An item field's name, the test its value passes, and what it must be.
type Shape<'a> = (&'a str, &'a dyn Fn(&Value) -> bool, &'a str);

fn users(c: &mut Ctx) -> BTreeSet<String> {
    let mut defined = BTreeSet::new();
    for key in ["pg_default_roles", "pg_users"] {
        let list = c.host.list(key).cloned().unwrap_or_default();
        for (i, m) in items(c, key, &list, USER_KEYS, "role", true) {
            typed(
                c,
                key,
                i,
                m,
                (BOOL_USER, INT_USER),
                &["create", "present", "absent"],
            );
            let at = format!("[{i}]");
            let is_date = |e: &Value| {
                e.as_str().is_some_and(|s| {
                    s.len() >= 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-'
                })
            };
            let checks: [Shape; 3] = [
                (
                    "roles",
                    &|r| {
                        r.as_array().is_some_and(|a| {
                            a.iter().all(|x| {
                                x.is_string() || x.get("name").is_some_and(Value::is_string)
                            })
                        })
                    },
                    "a list of role names",
                ),
                (
                    "parameters",
                    &Value::is_object,
                    "a mapping of setting names to values",
                ),
                ("expire_at", &is_date, "a date like 2030-12-31"),
            ];
            for (field, ok, what) in checks {
                if let Some(v) = m.get(field).filter(|v| !v.is_null() && !ok(v)) {
                    let msg = format!("`{field}` must be {what}, not {v}");
                    c.err(key, &[at.clone(), field.into()], msg, None);
                }
            }
            pg_name(c, key, &[at.clone(), "name".into()], "role", m.get("name"));
            pg_names(c, key, &at, m, "roles", "role");
            if let Some(n) = m.get("name").and_then(Value::as_str) {
                let absent = m.get("state").and_then(Value::as_str) == Some("absent");
                if absent {
                    defined.remove(n);
                } else {
                    defined.insert(n.to_string());
                }
            }
        }
    }
    defined
}

fn databases(c: &mut Ctx, users: &BTreeSet<String>) {
    let key = "pg_databases";
    let list = c.host.list(key).cloned().unwrap_or_default();
    let mut owners: BTreeSet<String> = users.clone();
    owners.extend(
        [
            "pg_dbsu",
            "pg_admin_username",
            "pg_monitor_username",
            "pg_replication_username",
        ]
        .map(|k| c.host.var_str(k).to_string()),
    );
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, m) in items(c, key, &list, DB_KEYS, "database", true) {
        typed(
            c,
            key,
            i,
            m,
            (BOOL_DB, INT_DB),
            &["create", "present", "absent", "recreate"],
        );
        let at = format!("[{i}]");
        if let Some(o) = m.get("owner").filter(|v| !v.is_null()) {
            match o.as_str() {
                Some(o) if owners.contains(o) => {}
                _ => c.err(
                    key,
                    &[at.clone(), "owner".into()],
                    format!(
                        "owner `{}` of database `{}` is not a user this cluster defines",
                        o.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| o.to_string()),
                        m.get("name").and_then(Value::as_str).unwrap_or("?")
                    ),
                    Some(
                        "define it in `pg_users` (or `pg_default_roles`), or leave `owner` out"
                            .into(),
                    ),
                ),
            }
        }
        for k in ["schemas", "extensions"] {
            if let Some(v) = m.get(k).filter(|v| !v.is_null()) {
                if !v.is_array() {
                    c.err(
                        key,
                        &[at.clone(), k.into()],
                        format!("`{k}` must be a list"),
                        None,
                    );
                }
            }
        }
        pg_name(
            c,
            key,
            &[at.clone(), "name".into()],
            "database",
            m.get("name"),
        );
        pg_names(c, key, &at, m, "schemas", "schema");
        if let Some(n) = m.get("name").and_then(Value::as_str) {
            if let Some(first) = seen.insert(n.to_string(), i) {
                c.err(
                    key,
                    &[at.clone(), "name".into()],
                    format!("database `{n}` is defined twice (also at [{first}])"),
                    None,
                );
            }
        }
    }
}

/// A role, database or schema name outside the safe character set (a missing or
/// non-string name is reported elsewhere).
fn pg_name(c: &mut Ctx, key: &str, sub: &[String], what: &str, v: Option<&Value>) {
    let Some(n) = v.and_then(Value::as_str) else {
        return;
    };
    if let Err(why) = crate::names::check(crate::names::Kind::Postgres, n) {
        c.err(key, sub, format!("{what} name `{n}` {why}"), None);
    }
}

/// Each name in the list `field` of entry `at` (a string, or a map with `name`).
fn pg_names(
    c: &mut Ctx,
    key: &str,
    at: &str,
    m: &serde_json::Map<String, Value>,
    field: &str,
    what: &str,
) {
    for (j, x) in m
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let sub = [at.to_string(), field.to_string(), format!("[{j}]")];
        pg_name(c, key, &sub, what, Some(x.get("name").unwrap_or(x)));
    }
}

/// `pg_default_privileges`: each entry parses into privilege, objects and role.
fn privileges(c: &mut Ctx) {
    let key = "pg_default_privileges";
    let list = c.host.list(key).cloned().unwrap_or_default();
    for (i, v) in list.iter().enumerate() {
        let why = match v.as_str() {
            Some(t) => crate::names::DefaultGrant::parse(t).err(),
            None => Some(format!(
                "expected a string `{}`, got {v}",
                crate::names::DefaultGrant::FORM
            )),
        };
        if let Some(why) = why {
            c.err(
                key,
                &[format!("[{i}]")],
                format!("default privilege: {why}"),
                None,
            );
        }
    }
}

fn hba(c: &mut Ctx) {
    for key in [
        "pg_default_hba_rules",
        "pg_hba_rules",
        "pgb_default_hba_rules",
        "pgb_hba_rules",
    ] {
        let list = c.host.list(key).cloned().unwrap_or_default();
        for (i, m) in items(c, key, &list, HBA_KEYS, "hba rule", false) {
            let at = format!("[{i}]");
            if m.get("rules").is_some_and(|r| !r.is_null()) {
                if !m["rules"]
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string))
                {
                    c.err(
                        key,
                        &[at.clone(), "rules".into()],
                        "`rules` must be a list of raw hba lines".into(),
                        None,
                    );
                }
                continue;
            }
            match m.get("addr").filter(|v| !v.is_null()) {
                None => c.err(
                    key,
                    std::slice::from_ref(&at),
                    "an hba rule needs `addr` (or raw `rules`)".into(),
                    None,
                ),
                Some(a) => {
                    let s = match a {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if !valid_hba_addr(&s) {
                        c.err(
                            key,
                            &[at.clone(), "addr".into()],
                            format!("hba address `{s}` is not an alias, an IP address or a CIDR"),
                            Some(format!("aliases: {}", HBA_ADDRS.join(", "))),
                        );
                    }
                }
            }
            // the optional fields: valid when absent or null
            type Field = (
                &'static str,
                fn(&Value) -> bool,
                fn(&Value) -> String,
                Option<String>,
            );
            let fields: [Field; 3] = [
                (
                    "auth",
                    |a| a.as_str().is_some_and(|a| HBA_AUTHS.contains(&a)),
                    |a| format!("hba auth {a} is not known"),
                    Some(format!("known: {}", HBA_AUTHS.join(", "))),
                ),
                (
                    "role",
                    |r| {
                        r.as_str().is_some_and(|r| {
                            matches!(r, "common" | "primary" | "replica" | "offline")
                        })
                    },
                    |r| format!("hba role {r} must be common, primary, replica or offline"),
                    None,
                ),
                (
                    "order",
                    is_int,
                    |o| format!("`order` must be a whole number, not {o}"),
                    None,
                ),
            ];
            for (field, valid, message, hint) in fields {
                if let Some(v) = m.get(field).filter(|v| !v.is_null() && !valid(v)) {
                    c.err(key, &[at.clone(), field.into()], message(v), hint);
                }
            }
        }
    }
}

fn services(c: &mut Ctx) {
    for key in ["pg_default_services", "pg_services"] {
        let list = c.host.list(key).cloned().unwrap_or_default();
        for (i, m) in items(c, key, &list, SERVICE_KEYS, "service", true) {
            if !m.get("port").is_some_and(is_int) {
                c.err(
                    key,
                    &[format!("[{i}]"), "port".into()],
                    "a service needs a `port` (a number)".into(),
                    None,
                );
            }
        }
    }
}

/// Every business-object problem, once per pgsql cluster (on its first host).
pub(super) fn check(inv: &Inventory, out: &mut Vec<Diag>) {
    let mut done = BTreeSet::new();
    for h in &inv.hosts {
        let Some(cls) = h.id.pg_cluster.as_deref() else {
            continue;
        };
        if !done.insert(cls.to_string()) {
            continue;
        }
        let mut c = Ctx { inv, host: h, out };
        let defined = users(&mut c);
        databases(&mut c, &defined);
        privileges(&mut c);
        hba(&mut c);
        services(&mut c);
    }
}

#[cfg(test)]
mod tests {
    use crate::inventory::{Diag, Inventory, LoadOptions};

    fn load(vars: &str) -> Result<Inventory, String> {
        let text = format!(
            "all:\n  children:\n    pg-x:\n      hosts:\n        10.0.0.1: {{ pg_seq: 1, pg_role: primary }}\n        10.0.0.2: {{ pg_seq: 2, pg_role: replica }}\n      vars:\n        pg_cluster: pg-x\n{vars}"
        );
        Inventory::from_str_with(
            "t.yml",
            &text,
            &[],
            &LoadOptions {
                resolve_names: false,
            },
        )
        .map_err(|e| e.to_string())
    }

    fn errors(vars: &str) -> String {
        load(vars).map(|_| String::new()).unwrap_or_else(|e| e)
    }

    #[test]
    fn an_unknown_role_attribute_is_named_with_its_key_and_a_suggestion() {
        let e = errors("        pg_users:\n          - { name: dbuser_app, password: Secret.Pw.1 }\n          - { name: dbuser_x, superuserr: true }\n");
        assert!(e.contains("pg_users[1].superuserr"), "{e}");
        assert!(e.contains("did you mean `superuser`"), "{e}");
        assert!(e.contains("t.yml:11"), "line of the item: {e}");
        assert!(!e.contains("Secret.Pw.1"), "{e}");
        assert_eq!(
            e.matches("superuserr").count(),
            2,
            "once per cluster, not per member: {e}"
        );
    }

    #[test]
    fn a_parameter_indented_into_a_database_says_so() {
        // Pigsty's conf/demo/kernel.yml writes pg_default_services inside a database
        let e = errors(
            "        pg_databases:\n          - name: app\n            pg_default_services: []\n",
        );
        assert!(
            e.contains("pg_databases[0].pg_default_services")
                && e.contains("is a parameter (of the cluster or host), not an attribute here: is it indented one level too deep?"),
            "{e}"
        );
    }

    #[test]
    fn a_database_owner_no_user_defines_is_an_error() {
        let e = errors("        pg_users: [{ name: dbuser_app }]\n        pg_databases: [{ name: app, owner: dbuser_nobody }]\n");
        assert!(
            e.contains("pg_databases[0].owner") && e.contains("dbuser_nobody"),
            "{e}"
        );
        let ok = "        pg_users: [{ name: dbuser_app }]\n        pg_databases: [{ name: app, owner: dbuser_app }, { name: b, owner: postgres }, { name: c, owner: dbuser_dba }]\n";
        assert!(load(ok).is_ok(), "{}", errors(ok));
        let gone = "        pg_users: [{ name: dbuser_app, state: absent }]\n        pg_databases: [{ name: app, owner: dbuser_app }]\n";
        assert!(
            errors(gone).contains("pg_databases[0].owner"),
            "an absent user owns nothing"
        );
    }

    #[test]
    fn an_hba_address_alias_that_does_not_exist_is_an_error() {
        let e =
            errors("        pg_hba_rules: [{ user: all, db: all, addr: intranett, auth: pwd }]\n");
        assert!(
            e.contains("pg_hba_rules[0].addr") && e.contains("intranett"),
            "{e}"
        );
        for good in [
            "intra",
            "world",
            "10.0.0.0/8",
            "10.10.10.10",
            "::1/128",
            "local",
            "infra",
            "admin",
        ] {
            let v = format!(
                "        pg_hba_rules: [{{ user: all, db: all, addr: '{good}', auth: deny }}]\n"
            );
            assert!(load(&v).is_ok(), "{good}: {}", errors(&v));
        }
        assert!(errors("        pgb_hba_rules: [{ addr: 10.0.0.0/33 }]\n")
            .contains("pgb_hba_rules[0].addr"));
        assert!(
            errors("        pg_hba_rules: [{ addr: intra, auth: magic }]\n")
                .contains("pg_hba_rules[0].auth")
        );
    }

    #[test]
    fn unsafe_names_and_spliced_privileges_are_named_with_line_and_key() {
        let e =
            errors("        pg_users: [{ name: \"bob'x\", roles: [dbrole_readonly, \"a b\"] }]\n");
        assert!(e.contains("`t.yml:9`: host `10.0.0.1`, key `pg_users[0].name`: role name `bob'x` has a quote (')"), "{e}");
        assert!(
            e.contains("key `pg_users[0].roles[1]`: role name `a b` has a space"),
            "{e}"
        );
        let e = errors("        pg_databases: [{ name: \"x;y\", schemas: [\"s'\"] }]\n");
        assert!(
            e.contains("key `pg_databases[0].name`: database name `x;y` has `;`"),
            "{e}"
        );
        assert!(
            e.contains("key `pg_databases[0].schemas[0]`: schema name `s'`"),
            "{e}"
        );
        let e = errors("        pg_default_privileges:\n          - GRANT SELECT ON TABLES TO dbrole_readonly\n          - GRANT SELECT ON TABLES TO x;DROP\n");
        assert!(e.contains("`t.yml:11`: host `10.0.0.1`, key `pg_default_privileges[1]`: default privilege: role `x;DROP` has `;`"), "{e}");
        assert!(!e.contains("pg_default_privileges[0]"), "{e}");
    }

    #[test]
    fn wrong_kinds_and_bad_services_are_named() {
        let e = errors(
            "        pg_users: [{ name: u, connlimit: lots, login: maybe, pool_mode: pooled }]\n",
        );
        assert!(
            e.contains("pg_users[0].connlimit")
                && e.contains("pg_users[0].login")
                && e.contains("pg_users[0].pool_mode"),
            "{e}"
        );
        let e = errors("        pg_services: [{ name: x, prot: 5440 }]\n");
        assert!(
            e.contains("pg_services[0].prot") && e.contains("pg_services[0].port"),
            "{e}"
        );
        let e = errors("        pg_databases: [{ name: a }, { name: a, allowcon: false }]\n");
        assert!(
            e.contains("pg_databases[1].allowcon") && e.contains("defined twice"),
            "{e}"
        );
    }

    #[test]
    fn pigsty_shaped_definitions_pass() {
        let v = r#"        pg_users:
          - { name: dbuser_meta, password: x, pgbouncer: true, roles: [ dbrole_admin, { name: dbrole_offline, state: absent } ], comment: c, expire_in: 3650, parameters: { work_mem: 64MB }, pool_mode: session, pool_connlimit: 10 }
          - { name: old, state: absent }
        pg_databases:
          - { name: meta, baseline: cmdb.sql, schemas: [ pigsty ], extensions: [ { name: vector, schema: public } ], comment: x, owner: dbuser_meta, revokeconn: true, connlimit: 10, pool_size: 32, parameters: { work_mem: 8MB } }
        pg_hba_rules:
          - { user: dbuser_view, db: all, addr: infra, auth: pwd, title: 'grafana', order: 800, role: primary }
          - { title: raw, rules: [ 'host all all 1.2.3.4/32 md5' ] }
        pg_services:
          - { name: standby, port: 5435, ip: "*", selector: "[]", dest: default, check: /sync, backup: "[? pg_role == `primary`]", maxconn: 3000, balance: roundrobin }
"#;
        let r: Result<Inventory, String> = load(v);
        assert!(r.is_ok(), "{}", errors(v));
        let _: Option<&Diag> = None;
    }
}
