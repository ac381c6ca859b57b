//! Ports: two services on one port of one host.
use super::*;

/// Ports each module listens on: (module, port parameter, enabling bool, service).
pub(super) const PORTS: &[(Module, &str, Option<&str>, &str)] = &[
    (
        Module::Node,
        "node_exporter_port",
        Some("node_exporter_enabled"),
        "node_exporter",
    ),
    (
        Module::Node,
        "haproxy_exporter_port",
        Some("haproxy_enabled"),
        "haproxy admin",
    ),
    (
        Module::Node,
        "vip_exporter_port",
        Some("vip_enabled"),
        "keepalived_exporter",
    ),
    (
        Module::Node,
        "vector_port",
        Some("vector_enabled"),
        "vector",
    ),
    (
        Module::Node,
        "docker_exporter_port",
        Some("docker_enabled"),
        "docker metrics",
    ),
    (Module::Infra, "nginx_port", Some("nginx_enabled"), "nginx"),
    (
        Module::Infra,
        "nginx_ssl_port",
        Some("nginx_enabled"),
        "nginx https",
    ),
    (
        Module::Infra,
        "nginx_exporter_port",
        Some("nginx_exporter_enabled"),
        "nginx_exporter",
    ),
    (Module::Infra, "dns_port", Some("dns_enabled"), "dnsmasq"),
    (
        Module::Infra,
        "grafana_port",
        Some("grafana_enabled"),
        "grafana",
    ),
    (
        Module::Infra,
        "alertmanager_port",
        Some("alertmanager_enabled"),
        "alertmanager",
    ),
    (
        Module::Infra,
        "blackbox_port",
        Some("blackbox_enabled"),
        "blackbox_exporter",
    ),
    (
        Module::Infra,
        "vmetrics_port",
        Some("vmetrics_enabled"),
        "victoria-metrics",
    ),
    (
        Module::Infra,
        "vlogs_port",
        Some("vlogs_enabled"),
        "victoria-logs",
    ),
    (
        Module::Infra,
        "vtraces_port",
        Some("vtraces_enabled"),
        "victoria-traces",
    ),
    (
        Module::Infra,
        "vmalert_port",
        Some("vmalert_enabled"),
        "vmalert",
    ),
    (
        Module::Infra,
        "prometheus_port",
        Some("prometheus_enabled"),
        "prometheus",
    ),
    (
        Module::Infra,
        "pushgateway_port",
        Some("pushgateway_enabled"),
        "pushgateway",
    ),
    (Module::Infra, "loki_port", Some("loki_enabled"), "loki"),
    (Module::Etcd, "etcd_port", None, "etcd"),
    (Module::Etcd, "etcd_peer_port", None, "etcd peer"),
    (Module::Minio, "minio_port", None, "minio"),
    (Module::Minio, "minio_admin_port", None, "minio console"),
    (Module::Pgsql, "pg_port", None, "postgres"),
    (
        Module::Pgsql,
        "pgbouncer_port",
        Some("pgbouncer_enabled"),
        "pgbouncer",
    ),
    (
        Module::Pgsql,
        "patroni_port",
        Some("patroni_enabled"),
        "patroni",
    ),
    (
        Module::Pgsql,
        "pg_exporter_port",
        Some("pg_exporter_enabled"),
        "pg_exporter",
    ),
    (
        Module::Pgsql,
        "pgbouncer_exporter_port",
        Some("pgbouncer_exporter_enabled"),
        "pgbouncer_exporter",
    ),
    (
        Module::Pgsql,
        "pgbackrest_exporter_port",
        Some("pgbackrest_exporter_enabled"),
        "pgbackrest_exporter",
    ),
    (
        Module::Redis,
        "redis_exporter_port",
        Some("redis_exporter_enabled"),
        "redis_exporter",
    ),
];

/// One listening socket a host would have, and where it is configured.
pub(super) struct Listen<'a> {
    port: u16,
    service: String,
    /// The host whose variables configure it (a cluster member for services that
    /// `pg_service_provider` places elsewhere).
    owner: &'a Host,
    key: &'static str,
    sub: Vec<String>,
}

/// Ports every host would listen on, by host address.
pub(super) fn listens(inv: &Inventory) -> BTreeMap<&str, Vec<Listen<'_>>> {
    let mut by_host: BTreeMap<&str, Vec<Listen>> = BTreeMap::new();
    let on = |h: &Host, flag: Option<&str>| flag.is_none_or(|f| h.bool(f) == Some(true));
    for h in &inv.hosts {
        let mods = h.modules();
        let v = by_host.entry(h.addr.as_str()).or_default();
        for (m, key, flag, svc) in PORTS {
            if mods.contains(m) && on(h, *flag) {
                if let Some(port) = h.port(key) {
                    v.push(Listen {
                        port,
                        service: svc.to_string(),
                        owner: h,
                        key,
                        sub: vec![],
                    });
                }
            }
        }
        if mods.contains(&Module::Redis) {
            let name = format!(
                "{}-{}",
                h.id.redis_cluster.as_deref().unwrap_or("redis"),
                h.id.redis_node.unwrap_or(0)
            );
            for port in &h.id.redis_ports {
                v.push(Listen {
                    port: *port,
                    service: format!("redis `{name}-{port}`"),
                    owner: h,
                    key: "redis_instances",
                    sub: vec![port.to_string()],
                });
            }
        }
        if on(h, Some("haproxy_enabled")) {
            for (i, svc) in h.list("haproxy_services").into_iter().flatten().enumerate() {
                if let (Some(name), Some(port)) =
                    (svc.get("name").and_then(Value::as_str), port_of(svc))
                {
                    v.push(Listen {
                        port,
                        service: format!("haproxy service `{name}`"),
                        owner: h,
                        key: "haproxy_services",
                        sub: vec![format!("[{i}]"), "port".into()],
                    });
                }
            }
        }
    }
    // pgsql services: haproxy on every member (or on the `pg_service_provider` group).
    for cls in inv.pg_clusters() {
        for m in inv.cluster_members(cls) {
            if m.bool("haproxy_enabled") == Some(false) {
                continue;
            }
            let targets: Vec<&str> = match m.str("pg_service_provider").filter(|s| !s.is_empty()) {
                Some(g) => inv
                    .groups
                    .get(g)
                    .map(|g| g.hosts.iter().map(String::as_str).collect())
                    .unwrap_or_default(),
                None => vec![m.addr.as_str()],
            };
            for key in ["pg_default_services", "pg_services"] {
                for (i, svc) in m.list(key).into_iter().flatten().enumerate() {
                    let (Some(name), Some(port)) =
                        (svc.get("name").and_then(Value::as_str), port_of(svc))
                    else {
                        continue;
                    };
                    for t in &targets {
                        by_host.entry(t).or_default().push(Listen {
                            port,
                            service: format!("service `{cls}-{name}`"),
                            owner: m,
                            key,
                            sub: vec![format!("[{i}]"), "port".into()],
                        });
                    }
                }
            }
        }
    }
    by_host
}

pub(super) fn port_of(svc: &Value) -> Option<u16> {
    match svc.get("port")? {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Two different services on one port of one host.
pub(super) fn ports(inv: &Inventory, out: &mut Vec<Diag>) {
    for (addr, listens) in listens(inv) {
        let mut taken: BTreeMap<u16, &Listen> = BTreeMap::new();
        for l in &listens {
            match taken.get(&l.port) {
                Some(first) if first.service != l.service => {
                    // Point at the one the inventory sets, rather than at a default.
                    let default = |x: &Listen| x.owner.source(x.key) == Some(&Source::Default);
                    let (rep, other) = if default(l) && !default(first) {
                        (*first, l)
                    } else {
                        (l, *first)
                    };
                    let sub: Vec<&str> = rep.sub.iter().map(String::as_str).collect();
                    let mut d = at(
                        inv,
                        Severity::Error,
                        rep.owner,
                        rep.key,
                        &sub,
                        format!(
                            "port {} is taken by both {} (`{}`) and {}",
                            l.port, other.service, other.key, rep.service
                        ),
                        Some("give one of them another port"),
                    );
                    d.host = Some(addr.to_string());
                    out.push(d);
                }
                Some(_) => {}
                None => {
                    taken.insert(l.port, l);
                }
            }
        }
    }
}
