//! HAProxy services of the cluster, one file per service in `/etc/haproxy/`
//! (`<cluster>-<service>.cfg`; the NODE module runs haproxy on the directory):
//! `pg_default_services` + `pg_services`, each routing its port to every selected
//! member, health-checked against Patroni's REST API (`/primary`, `/read-only`,
//! `/replica`, ...) with probe timings from `pg_rto`.
use super::params::{Pg, Vars};
use super::selector::Selector;
use super::tune;
use super::HAPROXY_UNIT;
use crate::engine::{Handler, ModulePlan};
use crate::resources::{File, RuleFile, StaleFiles};
use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

/// (path, content) of each service file.
pub fn render(pg: &Pg) -> Result<Vec<(String, String)>> {
    let t = tune::timings(pg).map_err(|e| anyhow!("host `{}`: {e}", pg.ip))?;
    let default_server = format!(
        "inter {} fastinter {} downinter {} rise {} fall {} on-marked-down shutdown-sessions slowstart 30s maxconn 3000 maxqueue 128 weight 100",
        t.inter, t.fastinter, t.downinter, t.rise, t.fall
    );
    let mut out = vec![];
    let mut seen = std::collections::BTreeSet::new();
    for svc in pg.default_services.iter().chain(pg.services.iter()) {
        let s = |k: &str| match svc.get(k) {
            Some(Value::String(x)) => Some(x.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let Some(short) = s("name") else {
            bail!(
                "host `{}`: a service in pg_default_services/pg_services has no `name`",
                pg.ip
            );
        };
        let Some(port) = svc
            .get("port")
            .and_then(Value::as_u64)
            .filter(|p| *p > 0 && *p < 65536)
        else {
            bail!("host `{}`: service `{short}` needs a `port`", pg.ip);
        };
        if !seen.insert(short.clone()) {
            bail!("host `{}`: service `{short}` is defined twice", pg.ip);
        }
        let name = format!("{}-{short}", pg.cluster);
        let err = |e: String| anyhow!("host `{}`: service `{name}`: {e}", pg.ip);
        let selector =
            Selector::parse(&s("selector").unwrap_or_else(|| "[]".into())).map_err(err)?;
        let backup = match s("backup") {
            Some(b) => Some(Selector::parse(&b).map_err(err)?),
            None => None,
        };
        let dest = s("dest").unwrap_or_else(|| "default".into());
        let dest = if dest == "default" {
            pg.default_service_dest.clone()
        } else {
            dest
        };
        let mut servers = vec![];
        let mut backups = vec![];
        for m in &pg.members {
            let sel = selector.matches(&m.vars);
            let bak = backup.as_ref().is_some_and(|b| b.matches(&m.vars));
            if !sel && !bak {
                continue;
            }
            let v = Vars(&m.vars);
            let port_of = |d: &str| -> Result<u16> {
                Ok(match d {
                    "postgres" => v.port("pg_port"),
                    "pgbouncer" => v.port("pgbouncer_port"),
                    n => n.parse().map_err(|_| anyhow!("host `{}`: service `{name}`: dest `{n}` is not default, postgres, pgbouncer or a port", pg.ip))?,
                })
            };
            if bak {
                backups.push(m.instance.clone());
            }
            servers.push(json!({
                "instance": m.instance, "ip": m.ip, "port": port_of(&dest)?,
                "check_port": v.port("patroni_port"), "weight": v.i("pg_weight"), "backup": bak,
                // patroni_ssl_enabled: the check speaks https, the member verified by the CA
                "check_ca": v.b("patroni_ssl_enabled").then_some(crate::modules::pki::CA_CRT),
            }));
        }
        let options: Vec<String> = match svc.get("options") {
            Some(Value::String(o)) => o
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec![],
        };
        let path = format!("/etc/haproxy/{name}.cfg");
        let dest_name = match dest.as_str() {
            "postgres" | "pgbouncer" => dest.clone(),
            n => format!("port {n}"),
        };
        let content = crate::template::render(
            "pgsql/haproxy-service.cfg.j2",
            &json!({
                "path": path, "name": name, "cluster": pg.cluster, "ip": s("ip").unwrap_or_else(|| "*".into()), "port": port,
                "dest_name": dest_name, "check": s("check").unwrap_or_else(|| "/".into()),
                "maxconn": svc.get("maxconn").and_then(Value::as_u64).unwrap_or(5000),
                "balance": s("balance").unwrap_or_else(|| "roundrobin".into()),
                "client_timeout": pg.haproxy_client_timeout, "server_timeout": pg.haproxy_server_timeout,
                "default_server": default_server, "options": options, "servers": servers, "backups": backups,
            }),
        )?;
        out.push((path, content));
    }
    Ok(out)
}

pub fn steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    if !pg.local_services() {
        return Ok(());
    }
    let mut keep = std::collections::BTreeSet::new();
    for (path, content) in render(pg)? {
        let file = path.rsplit('/').next().unwrap_or_default().to_string();
        let label = format!("service {}", file.trim_end_matches(".cfg"));
        keep.insert(file);
        p.add_notify(
            RuleFile::new(File::new(path, content).mode(0o644), &label),
            vec![Handler::Reload(HAPROXY_UNIT.into())],
        );
    }
    // Services removed from the inventory: the files this cluster's services were
    // written to (their header names the cluster), and nothing else.
    let marker = format!(" of cluster {}, written by pigsty", pg.cluster);
    let prefix = format!("{}-", pg.cluster);
    p.add_notify(
        StaleFiles::new(
            &format!("{} services", pg.cluster),
            "/etc/haproxy",
            keep,
            move |name, content| {
                name.starts_with(&prefix)
                    && name.ends_with(".cfg")
                    && content.lines().nth(1).is_some_and(|l| l.ends_with(&marker))
            },
        ),
        vec![Handler::Reload(HAPROXY_UNIT.into())],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    /// pg-test as ha-full has it: a primary and two replicas, one of them offline.
    fn pg_test(services: &str) -> Pg {
        let text = format!(
            "all:\n  children:\n    pg-test:\n      hosts:\n        10.10.10.11: {{ pg_seq: 1, pg_role: primary }}\n        10.10.10.12: {{ pg_seq: 2, pg_role: replica }}\n        10.10.10.13: {{ pg_seq: 3, pg_role: replica, pg_offline_query: true }}\n      vars:\n        pg_cluster: pg-test\n        pg_services:\n{services}  vars:\n    pg_admin_password: a\n    pg_monitor_password: m\n    pg_replication_password: r\n    patroni_password: p\n"
        );
        let inv = Inventory::unresolved("t.yml", &text);
        Pg::new(
            &inv,
            inv.host("10.10.10.11").unwrap(),
            &crate::facts::Facts::test_meta(),
            15,
        )
        .unwrap()
    }

    #[test]
    fn a_custom_service_routes_to_the_replicas_with_the_primary_as_backup() {
        let pg = pg_test("          - { name: ro, port: 5440, dest: pgbouncer, check: /read-only, selector: \"[? pg_role == `replica` ]\", backup: \"[? pg_role == `primary` ]\", maxconn: 100 }\n");
        let files = render(&pg).unwrap();
        let (path, cfg) = files
            .iter()
            .find(|(p, _)| p.ends_with("pg-test-ro.cfg"))
            .unwrap();
        assert_eq!(path, "/etc/haproxy/pg-test-ro.cfg");
        let servers: Vec<&str> = cfg
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("server "))
            .collect();
        assert_eq!(
            servers,
            vec![
                "server pg-test-1 10.10.10.11:6432 check port 8008 weight 100 backup",
                "server pg-test-2 10.10.10.12:6432 check port 8008 weight 100",
                "server pg-test-3 10.10.10.13:6432 check port 8008 weight 100",
            ]
        );
        assert!(
            cfg.contains("bind *:5440")
                && cfg.contains("maxconn 100")
                && cfg.contains("uri /read-only"),
            "{cfg}"
        );
    }

    #[test]
    fn a_removed_service_file_is_pruned_and_other_clusters_files_are_kept() {
        let pg = pg_test("          - { name: ro, port: 5440 }\n");
        let mut p = ModulePlan::new("pgsql");
        steps(&mut p, &pg).unwrap();
        let names: Vec<String> = p
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect();
        assert!(
            names.contains(&"file /etc/haproxy/pg-test-ro.cfg".to_string()),
            "{names:?}"
        );
        assert_eq!(
            names.last().map(String::as_str),
            Some("stale files pg-test services")
        );
    }
}
