//! The nginx home page (`<nginx_home>/index.html`) and site (`/etc/nginx/conf.d/pigsty.conf`).
//!
//! The page links every infra service by address and port (it works without DNS), the
//! `infra_portal` domains, and lists the clusters of the inventory: Postgres members,
//! roles, service ports, databases and users (never passwords), etcd members, nodes,
//! and every scrape target.
use super::{prom, P};
use crate::inventory::{Host, Inventory, PgRole};
use crate::modules::scrape_targets;
use crate::template;
use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Serialize)]
struct Link {
    name: String,
    url: String,
    desc: String,
}

fn link(name: &str, url: String, desc: &str) -> Link {
    Link {
        name: name.into(),
        url,
        desc: desc.into(),
    }
}

#[derive(Serialize)]
struct InfraNode {
    ins: String,
    ip: String,
    links: Vec<Link>,
}

#[derive(Serialize)]
struct PgMember {
    ins: String,
    ip: String,
    role: String,
    postgres: u16,
    pgbouncer: u16,
    patroni: String,
}

#[derive(Serialize)]
struct PgService {
    name: String,
    port: u16,
    addrs: Vec<String>,
}

#[derive(Serialize)]
struct PgCluster {
    name: String,
    members: Vec<PgMember>,
    services: Vec<PgService>,
    databases: Vec<String>,
    users: Vec<String>,
}

#[derive(Serialize)]
struct NodeRow {
    ip: String,
    nodename: String,
    cluster: String,
    modules: String,
}

#[derive(Serialize)]
struct TargetRow {
    ins: String,
    cls: String,
    addr: String,
    url: String,
}

#[derive(Serialize)]
struct Portal {
    name: String,
    domain: String,
    endpoint: Option<String>,
    path: Option<String>,
    websocket: bool,
}

/// Pigsty's default services (`pg_default_services`): haproxy port on every member.
const DEFAULT_SERVICES: &[(&str, u16)] = &[
    ("primary", 5433),
    ("replica", 5434),
    ("default", 5436),
    ("offline", 5438),
];

fn names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn services(v: &Map<String, Value>) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = vec![];
    let from = |key: &str| -> Option<Vec<(String, u16)>> {
        let a = v.get(key)?.as_array()?;
        Some(
            a.iter()
                .filter_map(|s| {
                    let name = s.get("name")?.as_str()?.to_string();
                    let port = s.get("port")?.as_u64()? as u16;
                    Some((name, port))
                })
                .collect(),
        )
    };
    out.extend(from("pg_default_services").unwrap_or_else(|| {
        DEFAULT_SERVICES
            .iter()
            .map(|(n, p)| (n.to_string(), *p))
            .collect()
    }));
    out.extend(from("pg_services").unwrap_or_default());
    out
}

fn role(h: &Host) -> &'static str {
    match h.id.pg_role {
        Some(PgRole::Primary) => "primary",
        Some(PgRole::Replica) => "replica",
        Some(PgRole::Offline) => "offline",
        None => "",
    }
}

fn infra_links(h: &Host) -> Vec<Link> {
    let p = P {
        host: &h.addr,
        v: &h.vars,
    };
    let ip = &h.addr;
    let on = |k: &str| p.bool(k).unwrap_or(false);
    let mut l = vec![];
    if on("nginx_enabled") && p.str("nginx_sslmode").is_ok_and(|m| m != "disable") {
        let port = p.var_port("nginx_ssl_port");
        l.push(link(
            "CA certificate",
            format!("https://{ip}:{port}/ca.crt"),
            "the INFRA CA: trust it to verify pigsty's TLS (Postgres, nginx)",
        ));
    }
    if on("prometheus_enabled") {
        let port = p.var_port("prometheus_port");
        l.push(link(
            "Prometheus",
            format!("http://{ip}:{port}/"),
            "metrics query and graphs",
        ));
        l.push(link(
            "Targets",
            format!("http://{ip}:{port}/targets"),
            "scrape targets and their health",
        ));
        l.push(link(
            "Alerts",
            format!("http://{ip}:{port}/alerts"),
            "alert rules and what fires",
        ));
    }
    // (name, enabled, port parameter, path, what it is)
    let services = [
        ("Alertmanager", on("alertmanager_enabled"), "alertmanager_port", "/", "alerts, grouping and silences"),
        ("Pushgateway", on("pushgateway_enabled"), "pushgateway_port", "/", "metrics pushed by batch jobs"),
        ("Blackbox", on("blackbox_enabled"), "blackbox_port", "/", "ICMP, TCP and HTTP probes"),
        (
            "Nginx metrics",
            on("nginx_enabled") && on("nginx_exporter_enabled"),
            "nginx_exporter_port",
            "/metrics",
            "nginx exporter",
        ),
        (
            "Grafana",
            on("grafana_enabled"),
            "grafana_port",
            "/",
            "dashboards (package from apt.grafana.com: absent unless that repository is configured)",
        ),
    ];
    for (name, enabled, port, path, desc) in services {
        if enabled {
            l.push(link(
                name,
                format!("http://{ip}:{}{path}", p.var_port(port)),
                desc,
            ));
        }
    }
    l
}

fn check_word(host: &str, key: &str, s: &str, extra: &[char]) -> Result<()> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c) || extra.contains(&c))
    {
        bail!("host `{host}`: `{key}` has `{s}`, which cannot go into the nginx config\nhint: use a plain domain name, `host:port` or an absolute path");
    }
    Ok(())
}

/// `infra_portal` entries, `${admin_ip}` expanded and checked for nginx.
fn portal(host: &Host) -> Result<Vec<Portal>> {
    let mut out = vec![];
    let Some(m) = host.dict("infra_portal") else {
        return Ok(out);
    };
    for (name, e) in m {
        let key = format!("infra_portal.{name}");
        let get = |k: &str| e.get(k).and_then(Value::as_str).map(|s| host.expand(s));
        let Some(domain) = get("domain") else {
            continue;
        };
        check_word(&host.addr, &format!("{key}.domain"), &domain, &[])?;
        let endpoint = get("endpoint");
        if let Some(ep) = &endpoint {
            check_word(&host.addr, &format!("{key}.endpoint"), ep, &[':', '[', ']'])?;
        }
        let path = get("path");
        if let Some(pa) = &path {
            check_word(&host.addr, &format!("{key}.path"), pa, &['/'])?;
        }
        let websocket = e.get("websocket").and_then(Value::as_bool).unwrap_or(false);
        out.push(Portal {
            name: name.clone(),
            domain,
            endpoint,
            path,
            websocket,
        });
    }
    Ok(out)
}

/// The nginx server certificate of this infra node (issued on the node by its CA):
/// its name in `/etc/pki/issued` and the names it carries (the address, the node
/// name, every portal domain, localhost).
pub fn cert(host: &Host) -> Result<(String, Vec<String>)> {
    let mut sans = vec![host.addr.clone()];
    sans.extend(host.id.nodename.clone());
    sans.extend(portal(host)?.into_iter().map(|x| x.domain));
    sans.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
    let mut seen = std::collections::BTreeSet::new();
    sans.retain(|n| seen.insert(n.clone()));
    Ok((format!("nginx-{}", host.addr), sans))
}

/// `/etc/nginx/conf.d/pigsty.conf`: the home server and one server per portal domain,
/// on HTTP and (`nginx_sslmode` enable) HTTPS, or (enforce) HTTPS with HTTP
/// redirected, except the local package repository and the exporter's status page.
pub fn nginx_conf(host: &Host, v: &Map<String, Value>) -> Result<String> {
    let p = P {
        host: &host.addr,
        v,
    };
    let www = p.str("nginx_home")?;
    check_word(&host.addr, "nginx_home", &www, &['/'])?;
    let portals = portal(host)?;
    let home_domain = portals
        .iter()
        .find(|x| x.name == "home")
        .map(|x| x.domain.clone());
    let others: Vec<&Portal> = portals
        .iter()
        .filter(|x| x.name != "home" && (x.endpoint.is_some() || x.path.is_some()))
        .collect();
    let mode = p.str("nginx_sslmode")?;
    let ssl = (mode != "disable").then(|| {
        let (name, _) = cert(host).unwrap_or_default();
        let dir = crate::modules::pki::ISSUED_DIR;
        json!({
            "port": p.var_port("nginx_ssl_port"), "enforce": mode == "enforce",
            "crt": format!("{dir}/{name}.crt"), "key": format!("{dir}/{name}.key"), "ca": crate::modules::pki::CA_CRT,
        })
    });
    template::render(
        "infra/nginx-pigsty.conf.j2",
        &json!({ "port": p.port("nginx_port")?, "www": www, "home_domain": home_domain, "portals": others, "ssl": ssl }),
    )
}

/// `<nginx_home>/index.html`.
#[derive(Serialize)]
struct Board {
    title: String,
    file: String,
    url: Option<String>,
}

/// The provisioned Grafana dashboards by title, linked when this host runs Grafana.
fn boards(host: &Host, v: &Map<String, Value>) -> Vec<Board> {
    let p = P {
        host: &host.addr,
        v,
    };
    let grafana = p
        .var_bool("grafana_enabled")
        .then(|| format!("http://{}:{}", host.addr, p.var_port("grafana_port")));
    let mut out: Vec<Board> = super::dashboards()
        .into_iter()
        .filter_map(|(name, text)| {
            let d: Value = serde_json::from_str(text).ok()?;
            let uid = d.get("uid")?.as_str()?;
            Some(Board {
                title: d.get("title")?.as_str()?.to_string(),
                file: format!("{}/{name}", super::DASHBOARD_DIR),
                url: grafana.as_ref().map(|g| format!("{g}/d/{uid}")),
            })
        })
        .collect();
    // the home dashboard first, then by title
    out.sort_by_key(|b| (!b.file.ends_with("/pigsty-home.json"), b.title.clone()));
    out
}

pub fn render(inv: &Inventory, host: &Host, v: &Map<String, Value>) -> Result<String> {
    let infra: Vec<InfraNode> = inv
        .infra_hosts()
        .into_iter()
        .map(|h| InfraNode {
            ins: format!("infra-{}", h.id.infra_seq.unwrap_or(0)),
            ip: h.addr.clone(),
            links: infra_links(h),
        })
        .collect();

    let extra: Vec<Link> = v
        .get("infra_extra_services")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some(link(
                        s.get("name")?.as_str()?,
                        s.get("url")?.as_str()?.to_string(),
                        s.get("desc").and_then(Value::as_str).unwrap_or(""),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();

    let mut cluster_names: Vec<String> = vec![];
    for h in &inv.hosts {
        if let Some(c) = &h.id.pg_cluster {
            if !cluster_names.contains(c) {
                cluster_names.push(c.clone());
            }
        }
    }
    let clusters: Vec<PgCluster> = cluster_names
        .iter()
        .map(|c| {
            let members = inv.cluster_members(c);
            let first = members.first().map(|h| h.vars.clone()).unwrap_or_default();
            let fp = P { host: c, v: &first };
            let svc_port = |port: u16| -> Vec<String> {
                members
                    .iter()
                    .map(|h| format!("{}:{port}", h.addr))
                    .collect()
            };
            PgCluster {
                name: c.clone(),
                members: members
                    .iter()
                    .map(|h| {
                        let p = P {
                            host: &h.addr,
                            v: &h.vars,
                        };
                        PgMember {
                            ins: h.id.pg_instance.clone().unwrap_or_default(),
                            ip: h.addr.clone(),
                            role: role(h).into(),
                            postgres: p.var_port("pg_port"),
                            pgbouncer: p.var_port("pgbouncer_port"),
                            patroni: format!(
                                "{}/cluster",
                                crate::modules::pgsql::params::patroni_url(h)
                            ),
                        }
                    })
                    .collect(),
                services: services(&first)
                    .into_iter()
                    .map(|(n, port)| PgService {
                        name: format!("{c}-{n}"),
                        port,
                        addrs: svc_port(port),
                    })
                    .collect(),
                databases: names(fp.v.get("pg_databases")),
                users: names(fp.v.get("pg_users")),
            }
        })
        .collect();

    let etcd: Vec<String> = inv
        .etcd_members()
        .iter()
        .map(|h| {
            format!(
                "{}:{}",
                h.addr,
                P {
                    host: &h.addr,
                    v: &h.vars
                }
                .var_port("etcd_port")
            )
        })
        .collect();

    let nodes: Vec<NodeRow> = inv
        .hosts
        .iter()
        .map(|h| NodeRow {
            ip: h.addr.clone(),
            nodename: h.id.nodename.clone().unwrap_or_default(),
            cluster: h.id.node_cluster.clone().unwrap_or_default(),
            modules: h
                .modules()
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();

    let jobs = prom::jobs(inv, v);
    let paths: BTreeMap<String, String> = jobs
        .iter()
        .map(|j| (j.name.clone(), j.metrics_path.clone()))
        .collect();
    let tls: BTreeSet<String> = jobs
        .iter()
        .filter(|j| j.https)
        .map(|j| j.name.clone())
        .collect();
    let mut targets: BTreeMap<String, Vec<TargetRow>> = BTreeMap::new();
    for t in scrape_targets(inv) {
        let path = t
            .labels
            .get("__metrics_path__")
            .or(paths.get(&t.job))
            .cloned()
            .unwrap_or_else(|| "/metrics".into());
        let scheme = t.labels.get("__scheme__").cloned().unwrap_or_else(|| {
            if tls.contains(&t.job) {
                "https"
            } else {
                "http"
            }
            .into()
        });
        targets.entry(t.job.clone()).or_default().push(TargetRow {
            ins: t.labels.get("ins").cloned().unwrap_or_default(),
            cls: t.labels.get("cls").cloned().unwrap_or_default(),
            url: format!("{scheme}://{}{path}", t.addr),
            addr: t.addr,
        });
    }

    let portals: Vec<Portal> = portal(host)?;
    template::render(
        "infra/index.html.j2",
        &json!({
            "host_ip": host.addr,
            "infra": infra,
            "extra": extra,
            "boards": boards(host, v),
            "portals": portals,
            "clusters": clusters,
            "etcd": etcd,
            "nodes": nodes,
            "targets": targets,
        }),
    )
}
