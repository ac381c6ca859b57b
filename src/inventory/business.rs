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
    "name", "state", "password", "login", "superuser", "createdb", "createrole", "inherit", "replication", "bypassrls",
    "connlimit", "expire_in", "expire_at", "comment", "roles", "parameters", "pgbouncer", "pool_mode", "pool_connlimit",
    "admin", "search_path",
];

/// Attributes of a database definition (Pigsty's).
pub const DB_KEYS: &[&str] = &[
    "name", "state", "baseline", "schemas", "extensions", "comment", "pgbouncer", "owner", "template", "strategy", "encoding",
    "locale", "lc_collate", "lc_ctype", "locale_provider", "icu_locale", "icu_rules", "builtin_locale", "tablespace",
    "is_template", "allowconn", "revokeconn", "register_datasource", "connlimit", "pool_auth_user", "pool_mode", "pool_size",
    "pool_reserve", "pool_size_min", "pool_connlimit", "pool_max_db_conn", "parameters",
];

/// Attributes of an HBA rule.
pub const HBA_KEYS: &[&str] = &["user", "db", "addr", "auth", "title", "role", "order", "rules", "comment"];

/// Attributes of a service.
pub const SERVICE_KEYS: &[&str] = &["name", "port", "ip", "selector", "backup", "dest", "check", "maxconn", "balance", "options", "comment"];

/// HBA address aliases (besides an IP address or a CIDR).
pub const HBA_ADDRS: &[&str] = &["local", "localhost", "admin", "infra", "cluster", "intra", "intranet", "world", "all"];

/// HBA auth aliases.
pub const HBA_AUTHS: &[&str] = &["pwd", "sha", "scram", "scram-sha-256", "md5", "ssl", "cert", "trust", "deny", "reject", "ident", "peer"];

const BOOL_USER: &[&str] = &["login", "superuser", "createdb", "createrole", "inherit", "replication", "bypassrls", "pgbouncer", "admin"];
const INT_USER: &[&str] = &["connlimit", "expire_in", "pool_connlimit"];
const BOOL_DB: &[&str] = &["pgbouncer", "is_template", "allowconn", "revokeconn", "register_datasource"];
const INT_DB: &[&str] = &["connlimit", "pool_size", "pool_reserve", "pool_size_min", "pool_connlimit", "pool_max_db_conn"];
const POOL_MODES: &[&str] = &["transaction", "session", "statement"];

/// Is `addr` a known alias, an IP address or a CIDR?
pub fn valid_hba_addr(addr: &str) -> bool {
    if HBA_ADDRS.contains(&addr) {
        return true;
    }
    let (ip, bits) = match addr.split_once('/') {
        Some((i, b)) => (i, Some(b)),
        None => (addr, None),
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else { return false };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|n| n <= max))
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
        let full = if sub.is_empty() { key.to_string() } else { format!("{key}.{}", sub.join(".")).replace(".[", "[") };
        self.out.push(Diag { severity: Severity::Error, file, line, host: Some(self.host.addr.clone()), key: Some(full), message, hint });
    }
}

fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known.iter().map(|k| (super::schema::edit_distance(name, k), *k)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d).map(|(_, k)| k)
}

fn unknown_hint(name: &str, known: &[&str]) -> String {
    match suggest(name, known) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("known: {}", known.join(", ")),
    }
}

fn is_int(v: &Value) -> bool {
    v.as_i64().is_some() || v.as_str().is_some_and(|s| s.trim().parse::<i64>().is_ok())
}

fn is_bool(v: &Value) -> bool {
    v.is_boolean() || v.as_str().is_some_and(|s| matches!(s, "true" | "false" | "yes" | "no" | "on" | "off"))
}

/// Common shape checks of a list of definitions; returns (index, item) of the mappings.
fn items<'v>(c: &mut Ctx, key: &str, list: &'v [Value], known: &[&str], what: &str, needs_name: bool) -> Vec<(usize, &'v serde_json::Map<String, Value>)> {
    let mut out = vec![];
    for (i, v) in list.iter().enumerate() {
        let at = format!("[{i}]");
        let Some(m) = v.as_object() else {
            c.err(key, &[at], format!("each {what} must be a mapping like `{{ name: x, ... }}`"), None);
            continue;
        };
        for k in m.keys() {
            if !known.contains(&k.as_str()) {
                c.err(key, &[at.clone(), k.clone()], format!("unknown {what} attribute `{k}`"), Some(unknown_hint(k, known)));
            }
        }
        if needs_name && !m.get("name").and_then(Value::as_str).is_some_and(|n| !n.is_empty()) {
            c.err(key, &[at.clone()], format!("a {what} needs a `name`"), None);
        }
        out.push((i, m));
    }
    out
}

fn kinds(c: &mut Ctx, key: &str, i: usize, m: &serde_json::Map<String, Value>, bools: &[&str], ints: &[&str]) {
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        let sub = vec![format!("[{i}]"), k.clone()];
        if bools.contains(&k.as_str()) && !is_bool(v) {
            c.err(key, &sub, format!("`{k}` must be true or false, not {v}"), None);
        } else if ints.contains(&k.as_str()) && !is_int(v) {
            c.err(key, &sub, format!("`{k}` must be a whole number, not {v}"), None);
        }
    }
    if let Some(p) = m.get("pool_mode").filter(|v| !v.is_null()) {
        if !p.as_str().is_some_and(|p| POOL_MODES.contains(&p)) {
            c.err(key, &[format!("[{i}]"), "pool_mode".into()], format!("`pool_mode` must be one of {}, not {p}", POOL_MODES.join(", ")), None);
        }
    }
}

fn users(c: &mut Ctx) -> BTreeSet<String> {
    let mut defined = BTreeSet::new();
    for key in ["pg_default_roles", "pg_users"] {
        let list = c.host.list(key).cloned().unwrap_or_default();
        for (i, m) in items(c, key, &list, USER_KEYS, "role", true) {
            kinds(c, key, i, m, BOOL_USER, INT_USER);
            let at = format!("[{i}]");
            if let Some(s) = m.get("state").filter(|v| !v.is_null()) {
                if !matches!(s.as_str(), Some("create" | "present" | "absent")) {
                    c.err(key, &[at.clone(), "state".into()], format!("`state` must be create or absent, not {s}"), None);
                }
            }
            if let Some(r) = m.get("roles").filter(|v| !v.is_null()) {
                if !r.as_array().is_some_and(|a| a.iter().all(|x| x.is_string() || x.get("name").is_some_and(Value::is_string))) {
                    c.err(key, &[at.clone(), "roles".into()], "`roles` must be a list of role names".into(), None);
                }
            }
            if let Some(p) = m.get("parameters").filter(|v| !v.is_null()) {
                if !p.is_object() {
                    c.err(key, &[at.clone(), "parameters".into()], "`parameters` must be a mapping of setting names to values".into(), None);
                }
            }
            if let Some(e) = m.get("expire_at").filter(|v| !v.is_null()) {
                let ok = e.as_str().is_some_and(|s| s.len() >= 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-');
                if !ok {
                    c.err(key, &[at.clone(), "expire_at".into()], format!("`expire_at` must be a date like 2030-12-31, not {e}"), None);
                }
            }
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
    let s = |k: &str, d: &str| c.host.str(k).unwrap_or(d).to_string();
    let mut owners: BTreeSet<String> = users.clone();
    owners.extend([
        s("pg_dbsu", "postgres"),
        s("pg_admin_username", "dbuser_dba"),
        s("pg_monitor_username", "dbuser_monitor"),
        s("pg_replication_username", "replicator"),
    ]);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, m) in items(c, key, &list, DB_KEYS, "database", true) {
        kinds(c, key, i, m, BOOL_DB, INT_DB);
        let at = format!("[{i}]");
        if let Some(s) = m.get("state").filter(|v| !v.is_null()) {
            if !matches!(s.as_str(), Some("create" | "present" | "absent" | "recreate")) {
                c.err(key, &[at.clone(), "state".into()], format!("`state` must be create, absent or recreate, not {s}"), None);
            }
        }
        if let Some(o) = m.get("owner").filter(|v| !v.is_null()) {
            match o.as_str() {
                Some(o) if owners.contains(o) => {}
                _ => c.err(
                    key,
                    &[at.clone(), "owner".into()],
                    format!("owner {o} of database `{}` is not a user this cluster defines", m.get("name").and_then(Value::as_str).unwrap_or("?")),
                    Some("define it in `pg_users` (or `pg_default_roles`), or leave `owner` out".into()),
                ),
            }
        }
        for k in ["schemas", "extensions"] {
            if let Some(v) = m.get(k).filter(|v| !v.is_null()) {
                if !v.is_array() {
                    c.err(key, &[at.clone(), k.into()], format!("`{k}` must be a list"), None);
                }
            }
        }
        if let Some(n) = m.get("name").and_then(Value::as_str) {
            if let Some(first) = seen.insert(n.to_string(), i) {
                c.err(key, &[at.clone(), "name".into()], format!("database `{n}` is defined twice (also at [{first}])"), None);
            }
        }
    }
}

fn hba(c: &mut Ctx) {
    for key in ["pg_default_hba_rules", "pg_hba_rules", "pgb_default_hba_rules", "pgb_hba_rules"] {
        let list = c.host.list(key).cloned().unwrap_or_default();
        for (i, m) in items(c, key, &list, HBA_KEYS, "hba rule", false) {
            let at = format!("[{i}]");
            if m.get("rules").is_some_and(|r| !r.is_null()) {
                if !m["rules"].as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                    c.err(key, &[at.clone(), "rules".into()], "`rules` must be a list of raw hba lines".into(), None);
                }
                continue;
            }
            match m.get("addr").filter(|v| !v.is_null()) {
                None => c.err(key, &[at.clone()], "an hba rule needs `addr` (or raw `rules`)".into(), None),
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
            if let Some(a) = m.get("auth").filter(|v| !v.is_null()) {
                if !a.as_str().is_some_and(|a| HBA_AUTHS.contains(&a)) {
                    c.err(key, &[at.clone(), "auth".into()], format!("hba auth {a} is not known"), Some(format!("known: {}", HBA_AUTHS.join(", "))));
                }
            }
            if let Some(r) = m.get("role").filter(|v| !v.is_null()) {
                if !r.as_str().is_some_and(|r| matches!(r, "common" | "primary" | "replica" | "offline")) {
                    c.err(key, &[at.clone(), "role".into()], format!("hba role {r} must be common, primary, replica or offline"), None);
                }
            }
            if let Some(o) = m.get("order").filter(|v| !v.is_null()) {
                if !is_int(o) {
                    c.err(key, &[at.clone(), "order".into()], format!("`order` must be a whole number, not {o}"), None);
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
                c.err(key, &[format!("[{i}]"), "port".into()], "a service needs a `port` (a number)".into(), None);
            }
        }
    }
}

/// Every business-object problem, once per pgsql cluster (on its first host).
pub(super) fn check(inv: &Inventory, out: &mut Vec<Diag>) {
    let mut done = BTreeSet::new();
    for h in &inv.hosts {
        let Some(cls) = h.id.pg_cluster.as_deref() else { continue };
        if !done.insert(cls.to_string()) {
            continue;
        }
        let mut c = Ctx { inv, host: h, out };
        let defined = users(&mut c);
        databases(&mut c, &defined);
        hba(&mut c);
        services(&mut c);
    }
}
