//! Host-based authentication in Pigsty's rule format:
//! `{ user, db, addr, auth, title, order, role }` (or `{ rules: [raw lines], ... }`),
//! rendered to `pg_hba.conf` lines for Postgres and pgBouncer.
//!
//! - `user`: a name, `all`, `+group`, or `${dbsu}` `${repl}` `${monitor}` `${admin}`
//! - `addr`: `local` (Unix socket), `localhost` (socket + loopback), `admin`
//!   (`admin_ip`), `infra` (infra nodes), `cluster` (this cluster's members),
//!   `intra` (10/8, 172.16/12, 192.168/16), `world` (everything), or an IP / CIDR
//! - `auth`: `pwd` (scram-sha-256), `sha`/`scram`, `md5`, `ssl` (TLS + password),
//!   `cert`, `trust`, `deny`, `ident`, `peer`
//! - `role`: `common` (default), `primary`, `replica`, `offline`: whether the rule
//!   applies to this instance
//! - `order`: rules are sorted by it (default 1000), stable.
use super::params::Pg;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Postgres,
    Pgbouncer,
}

/// One rendered rule: its title and lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub order: i64,
    pub title: String,
    pub lines: Vec<String>,
}

fn s(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Does a rule with this `role` apply to the instance?
fn applies(role: &str, pg: &Pg) -> bool {
    match role {
        "" | "common" => true,
        "primary" => pg.role == "primary",
        "replica" => pg.role == "replica" || pg.role == "offline",
        "offline" => pg.role == "offline" || pg.offline_query,
        _ => false,
    }
}

fn expand_user(u: &str, pg: &Pg) -> String {
    u.replace("${dbsu}", &pg.dbsu)
        .replace("${repl}", &pg.replication_username)
        .replace("${monitor}", &pg.monitor_username)
        .replace("${admin}", &pg.admin_username)
}

/// Address alias -> list of `local` or CIDR.
fn addresses(addr: &str, pg: &Pg) -> Result<Vec<String>, String> {
    let cidr = |ip: &str| {
        if ip.contains('/') {
            ip.to_string()
        } else if ip.contains(':') {
            format!("{ip}/128")
        } else {
            format!("{ip}/32")
        }
    };
    Ok(match addr {
        "local" => vec!["local".into()],
        "localhost" => vec!["local".into(), "127.0.0.1/32".into(), "::1/128".into()],
        "admin" => vec![cidr(&pg.admin_ip)],
        "infra" => pg.infra_ips.iter().map(|i| cidr(i)).collect(),
        "cluster" => pg.members.iter().map(|m| cidr(&m.ip)).collect(),
        "intra" | "intranet" => vec![
            "10.0.0.0/8".into(),
            "172.16.0.0/12".into(),
            "192.168.0.0/16".into(),
        ],
        "world" | "all" => vec!["0.0.0.0/0".into(), "::/0".into()],
        other => {
            let ip = other.split('/').next().unwrap_or("");
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(format!("hba addr `{other}`: expected local, localhost, admin, infra, cluster, intra, world, an IP or a CIDR"));
            }
            vec![cidr(other)]
        }
    })
}

/// (connection type for TCP, method).
fn method(auth: &str, target: Target, local: bool) -> Result<(&'static str, &'static str), String> {
    let pwd = "scram-sha-256";
    Ok(match auth {
        "pwd" | "sha" | "scram" | "scram-sha-256" => ("host", pwd),
        "md5" => ("host", "md5"),
        "ssl" => ("hostssl", pwd),
        "cert" => ("hostssl", "cert"),
        "trust" => ("host", "trust"),
        "deny" | "reject" => ("host", "reject"),
        // pgBouncer has no ident; on a socket Postgres treats ident as peer anyway.
        "ident" => match (target, local) {
            (Target::Pgbouncer, true) => ("host", "peer"),
            (Target::Pgbouncer, false) => return Err("pgbouncer hba auth `ident` only works with addr `local`".into()),
            _ => ("host", "ident"),
        },
        "peer" if local => ("host", "peer"),
        "peer" => return Err("hba auth `peer` only works with addr `local`".into()),
        other => return Err(format!("hba auth `{other}`: expected pwd, sha, scram, md5, ssl, cert, trust, deny, ident or peer")),
    })
}

/// Render one rule (None when its `role` does not apply here).
pub fn render_rule(rule: &Value, pg: &Pg, target: Target) -> Result<Option<Rendered>, String> {
    let role = s(rule, "role").unwrap_or_default();
    if !applies(&role, pg) {
        return Ok(None);
    }
    let order = rule.get("order").and_then(Value::as_i64).unwrap_or(1000);
    let title = s(rule, "title").unwrap_or_default();
    if let Some(raw) = rule.get("rules").and_then(Value::as_array) {
        let lines = raw
            .iter()
            .filter_map(Value::as_str)
            .map(|l| expand_user(l.trim(), pg))
            .collect();
        return Ok(Some(Rendered {
            order,
            title,
            lines,
        }));
    }
    let user = expand_user(&s(rule, "user").unwrap_or_else(|| "all".into()), pg);
    let db = s(rule, "db").unwrap_or_else(|| "all".into());
    let addr = s(rule, "addr").ok_or_else(|| format!("hba rule `{title}`: `addr` is required"))?;
    let auth = s(rule, "auth").unwrap_or_else(|| "pwd".into());
    // hostssl lines only where TLS is served (a certificate came with the request;
    // for pgBouncer also `pgbouncer_sslmode` not `disable`)
    let tls = pg.tls() && (target == Target::Postgres || pg.pgbouncer_sslmode != "disable");
    let mut lines = vec![];
    for a in addresses(&addr, pg)? {
        let local = a == "local";
        let (ty, m) = method(&auth, target, local)?;
        if local {
            if ty == "hostssl" {
                continue; // no TLS on a Unix socket
            }
            lines.push(format!(
                "{:<9} {:<15} {:<17} {:<19} {m}",
                "local", db, user, ""
            ));
        } else if ty == "hostssl" && !tls {
            // Without a server certificate (TLS off) such a line can never match and
            // Postgres flags it on every reload: keep it visible, commented out.
            lines.push(format!(
                "#{:<8} {:<15} {:<17} {:<19} {m}   (tls is off)",
                ty, db, user, a
            ));
        } else {
            lines.push(format!("{:<9} {:<15} {:<17} {:<19} {m}", ty, db, user, a));
        }
    }
    Ok(Some(Rendered {
        order,
        title,
        lines: lines.into_iter().map(|l| collapse(&l)).collect(),
    }))
}

/// `local` lines have no address column; keep columns aligned without trailing blanks.
fn collapse(l: &str) -> String {
    l.trim_end().to_string()
}

/// Default rules then the user's, sorted by `order` (stable).
pub fn render(
    default_rules: &[Value],
    rules: &[Value],
    pg: &Pg,
    target: Target,
) -> Result<Vec<Rendered>, String> {
    let mut out = vec![];
    for r in default_rules.iter().chain(rules.iter()) {
        if let Some(x) = render_rule(r, pg, target)? {
            out.push(x);
        }
    }
    out.sort_by_key(|r| r.order);
    Ok(out)
}

/// The rendered rules as template context.
pub fn to_ctx(rules: &[Rendered]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| serde_json::json!({"order": r.order, "title": r.title, "lines": r.lines}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pg() -> Pg {
        super::super::tests::meta_pg()
    }

    #[test]
    fn localhost_means_socket_and_loopback() {
        let r = render_rule(&json!({"user": "${monitor}", "db": "all", "addr": "localhost", "auth": "pwd", "title": "m", "order": 350}), &pg(), Target::Postgres)
            .unwrap()
            .unwrap();
        assert_eq!(r.lines.len(), 3);
        assert!(
            r.lines[0].starts_with("local")
                && r.lines[0].ends_with("scram-sha-256")
                && r.lines[0].contains("dbuser_monitor")
        );
        assert!(r.lines[1].contains("127.0.0.1/32"));
    }

    #[test]
    fn ssl_is_hostssl_where_tls_is_served_commented_elsewhere_and_skips_the_socket() {
        let rule = json!({"user": "${admin}", "addr": "world", "auth": "ssl"});
        let r = render_rule(&rule, &pg(), Target::Postgres)
            .unwrap()
            .unwrap();
        assert_eq!(r.lines.len(), 2, "{:?}", r.lines);
        assert!(
            r.lines.iter().all(|l| l.starts_with("hostssl")
                && l.contains("dbuser_dba")
                && l.ends_with("scram-sha-256")),
            "{:?}",
            r.lines
        );
        assert_eq!(r.order, 1000);
        // pgBouncer with pgbouncer_sslmode: disable serves no TLS
        let r = render_rule(&rule, &pg(), Target::Pgbouncer)
            .unwrap()
            .unwrap();
        assert!(
            r.lines
                .iter()
                .all(|l| l.starts_with("#hostssl") && l.ends_with("(tls is off)")),
            "{:?}",
            r.lines
        );
        // no certificate came with the request: no TLS anywhere
        let mut p = pg();
        p.opts = crate::options::PlanOptions::NONE;
        let r = render_rule(&rule, &p, Target::Postgres).unwrap().unwrap();
        assert!(
            r.lines
                .iter()
                .all(|l| l.starts_with("#hostssl") && l.ends_with("(tls is off)")),
            "{:?}",
            r.lines
        );
    }

    #[test]
    fn role_rules_apply_only_to_matching_instances() {
        let mut p = pg();
        let rule = json!({"user": "all", "addr": "intra", "auth": "deny", "role": "replica"});
        assert!(render_rule(&rule, &p, Target::Postgres).unwrap().is_none());
        p.role = "replica".into();
        assert!(render_rule(&rule, &p, Target::Postgres).unwrap().is_some());
        let off = json!({"user": "all", "addr": "intra", "auth": "pwd", "role": "offline"});
        assert!(render_rule(&off, &p, Target::Postgres).unwrap().is_none());
        p.offline_query = true;
        assert!(render_rule(&off, &p, Target::Postgres).unwrap().is_some());
    }

    #[test]
    fn rules_sort_by_order_stably() {
        let d = vec![
            json!({"addr": "local", "auth": "ident", "title": "b", "order": 100}),
            json!({"addr": "intra", "title": "c", "order": 500}),
        ];
        let u = vec![
            json!({"addr": "world", "auth": "deny", "title": "a", "order": 50}),
            json!({"addr": "admin", "title": "d"}),
        ];
        let r = render(&d, &u, &pg(), Target::Postgres).unwrap();
        let titles: Vec<&str> = r.iter().map(|x| x.title.as_str()).collect();
        assert_eq!(titles, vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn pgbouncer_gets_peer_for_ident_and_bad_input_is_named() {
        let r = render_rule(
            &json!({"user": "${dbsu}", "db": "pgbouncer", "addr": "local", "auth": "ident"}),
            &pg(),
            Target::Pgbouncer,
        )
        .unwrap()
        .unwrap();
        assert!(r.lines[0].ends_with("peer"), "{:?}", r.lines);
        assert!(
            render_rule(&json!({"addr": "nowhere"}), &pg(), Target::Postgres)
                .unwrap_err()
                .contains("nowhere")
        );
        assert!(render_rule(
            &json!({"addr": "intra", "auth": "magic"}),
            &pg(),
            Target::Postgres
        )
        .unwrap_err()
        .contains("magic"));
        assert!(render_rule(
            &json!({"addr": "10.10.10.0/24", "auth": "pwd"}),
            &pg(),
            Target::Postgres
        )
        .unwrap()
        .unwrap()
        .lines[0]
            .contains("10.10.10.0/24"));
    }

    #[test]
    fn raw_rules_pass_through() {
        let r = render_rule(&json!({"rules": ["host all ${admin} 1.2.3.4/32 scram-sha-256"], "title": "raw", "order": 1}), &pg(), Target::Postgres)
            .unwrap()
            .unwrap();
        assert_eq!(
            r.lines,
            vec!["host all dbuser_dba 1.2.3.4/32 scram-sha-256".to_string()]
        );
    }
}
