//! Checks across hosts once variables are merged: addresses, identities, sequence
//! numbers, primaries, etcd size, port clashes; and the credential check.
use super::schema::Schema;
use super::{Diag, Host, Inventory, LoadOptions, Module, PgRole, Severity, Source};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};

/// Every cross-host problem of a freshly assembled inventory.
pub(super) fn validate(inv: &Inventory, opts: &LoadOptions) -> Vec<Diag> {
    let mut v = Vec::new();
    addresses(inv, opts, &mut v);
    identities(inv, &mut v);
    cluster_conflicts(inv, &mut v);
    pg_clusters(inv, &mut v);
    seq_clusters(inv, &mut v);
    redis_clusters(inv, &mut v);
    backups(inv, &mut v);
    ports(inv, &mut v);
    super::business::check(inv, &mut v);
    v
}

/// A diagnostic at the line where `host` got `key` (then `sub`).
fn at(
    inv: &Inventory,
    sev: Severity,
    host: &Host,
    key: &str,
    sub: &[&str],
    message: String,
    hint: Option<&str>,
) -> Diag {
    let (file, line) = inv.locate(host, key, sub);
    let key = if sub.is_empty() {
        key.to_string()
    } else {
        format!("{key}.{}", sub.join(".")).replace(".[", "[")
    };
    Diag {
        severity: sev,
        file,
        line,
        host: Some(host.addr.clone()),
        key: Some(key),
        message,
        hint: hint.map(str::to_string),
    }
}

/// A diagnostic at the line of `host`'s entry in the inventory (under `group` if
/// it is written there).
fn at_host(
    inv: &Inventory,
    host: &str,
    group: Option<&str>,
    key: Option<&str>,
    message: String,
    hint: Option<String>,
) -> Diag {
    Diag {
        severity: Severity::Error,
        file: inv.file(),
        line: inv.host_line_in(host, group),
        host: Some(host.to_string()),
        key: key.map(str::to_string),
        message,
        hint,
    }
}

fn error(inv: &Inventory, host: &Host, key: &str, message: String, hint: Option<&str>) -> Diag {
    at(inv, Severity::Error, host, key, &[], message, hint)
}

/// Present at all (a value of the wrong type was reported already; not "missing").
fn present(h: &Host, key: &str) -> bool {
    h.vars.get(key).is_some_and(|v| !v.is_null())
}

fn addresses(inv: &Inventory, opts: &LoadOptions, out: &mut Vec<Diag>) {
    for h in &inv.hosts {
        if h.addr.parse::<IpAddr>().is_ok() || !opts.resolve_names {
            continue;
        }
        let plausible = !h.addr.is_empty()
            && h.addr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        let resolves = plausible
            && (h.addr.as_str(), 22)
                .to_socket_addrs()
                .is_ok_and(|mut a| a.next().is_some());
        if !resolves {
            out.push(at_host(
                inv,
                &h.addr,
                None,
                None,
                format!(
                    "`{}` is neither an IP address nor a name that resolves",
                    h.addr
                ),
                Some("Pigsty keys hosts by IP address: `10.10.10.11: { pg_seq: 1 }`".into()),
            ));
        }
    }
}

fn identities(inv: &Inventory, out: &mut Vec<Diag>) {
    for h in &inv.hosts {
        let mut missing = |key: &str, group: &str, why: String, hint: String| {
            if !present(h, key) {
                out.push(at_host(
                    inv,
                    &h.addr,
                    Some(group),
                    Some(key),
                    why,
                    Some(hint),
                ));
            }
        };
        if h.in_group("infra") {
            missing(
                "infra_seq",
                "infra",
                "member of group `infra` without `infra_seq`".into(),
                "number infra nodes `infra_seq: 1`, `2`, ...".into(),
            );
        }
        if h.in_group("etcd") {
            missing(
                "etcd_seq",
                "etcd",
                "member of group `etcd` without `etcd_seq`".into(),
                "number etcd members `etcd_seq: 1`, `2`, ...".into(),
            );
        }
        // The group where the identity was written, for hints and lines.
        let group_of = |keys: &[&str]| -> String {
            for k in keys {
                if let Some(Source::Group(g) | Source::Host(g)) = h.source(k) {
                    if g != "all" {
                        return g.clone();
                    }
                }
            }
            h.groups.last().cloned().unwrap_or_else(|| "all".into())
        };
        // PGSQL: any pg identity set means the host is meant to run postgres.
        if ["pg_cluster", "pg_seq", "pg_role"]
            .iter()
            .any(|k| present(h, k))
        {
            let g = group_of(&["pg_cluster", "pg_seq", "pg_role"]);
            missing(
                "pg_cluster",
                &g,
                "pgsql instance without `pg_cluster`".into(),
                format!("set `pg_cluster: {g}` in the vars of group `{g}`"),
            );
            missing(
                "pg_seq",
                &g,
                "pgsql instance without `pg_seq`".into(),
                "number the members of a cluster `pg_seq: 1`, `2`, ...".into(),
            );
            missing(
                "pg_role",
                &g,
                "pgsql instance without `pg_role`".into(),
                "set `pg_role` to primary, replica or offline".into(),
            );
        }
        if ["minio_cluster", "minio_seq"].iter().any(|k| present(h, k)) {
            let g = group_of(&["minio_cluster", "minio_seq"]);
            missing(
                "minio_cluster",
                &g,
                "minio node without `minio_cluster`".into(),
                format!("set `minio_cluster: {g}` in the vars of group `{g}`"),
            );
            missing(
                "minio_seq",
                &g,
                "minio node without `minio_seq`".into(),
                "number minio nodes `minio_seq: 1`, `2`, ...".into(),
            );
        }
        if ["redis_cluster", "redis_node", "redis_instances"]
            .iter()
            .any(|k| present(h, k))
        {
            let g = group_of(&["redis_cluster", "redis_node"]);
            missing(
                "redis_cluster",
                &g,
                "redis node without `redis_cluster`".into(),
                format!("set `redis_cluster: {g}` in the vars of group `{g}`"),
            );
            missing(
                "redis_node",
                &g,
                "redis node without `redis_node`".into(),
                "number redis nodes `redis_node: 1`, `2`, ...".into(),
            );
            missing(
                "redis_instances",
                &g,
                "redis node without `redis_instances`".into(),
                "list its instances by port: `redis_instances: { 6379: {}, 6380: { replica_of: '10.10.10.10 6379' } }`".into(),
            );
            if let Some(inst) = h.dict("redis_instances") {
                for k in inst
                    .keys()
                    .filter(|k| k.parse::<u16>().map_or(true, |p| p == 0))
                {
                    out.push(at(
                        inv,
                        Severity::Error,
                        h,
                        "redis_instances",
                        &[k],
                        format!("`{k}` is not a port number"),
                        Some("redis instances are keyed by port: `6379: {}`"),
                    ));
                }
            }
        }
    }
}

/// A host whose groups put it in two clusters of one kind.
fn cluster_conflicts(inv: &Inventory, out: &mut Vec<Diag>) {
    for h in &inv.hosts {
        for key in ["pg_cluster", "minio_cluster", "redis_cluster"] {
            let defs: Vec<(&str, &Value)> = h
                .groups
                .iter()
                .filter_map(|g| inv.groups[g].vars.get(key).map(|v| (g.as_str(), v)))
                .collect();
            if let Some((g0, v0)) = defs.first() {
                for (g, v) in defs.iter().skip(1).filter(|(_, v)| v != v0) {
                    let (file, line) = {
                        let mut path = inv.group_paths.get(*g).cloned().unwrap_or_default();
                        path.push("vars".into());
                        path.push(key.into());
                        let p: Vec<&str> = path.iter().map(String::as_str).collect();
                        (inv.file(), super::locate::line_of(&inv.source, &p))
                    };
                    out.push(Diag {
                        severity: Severity::Error,
                        file,
                        line,
                        host: Some(h.addr.clone()),
                        key: Some(key.into()),
                        message: format!(
                            "host is in two clusters: {} (group `{g0}`) and {} (group `{g}`)",
                            show(v0),
                            show(v)
                        ),
                        hint: Some("a host belongs to one cluster of each kind; remove it from one of the groups".into()),
                    });
                }
            }
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

fn pg_clusters(inv: &Inventory, out: &mut Vec<Diag>) {
    for cls in inv.pg_clusters() {
        let members = inv.cluster_members(cls);
        let mut seqs: BTreeMap<u32, &str> = BTreeMap::new();
        // Report in file order, so "also on" names the earlier host.
        let in_file_order: Vec<&Host> = inv
            .hosts
            .iter()
            .filter(|h| h.id.pg_cluster.as_deref() == Some(cls))
            .collect();
        for h in &in_file_order {
            if let Some(seq) = h.id.pg_seq {
                if let Some(first) = seqs.get(&seq) {
                    out.push(error(
                        inv,
                        h,
                        "pg_seq",
                        format!("duplicate pg_seq {seq} in cluster `{cls}` (also on `{first}`)"),
                        Some("each member of a cluster needs its own `pg_seq`"),
                    ));
                } else {
                    seqs.insert(seq, &h.addr);
                }
            }
        }
        let primaries: Vec<&&Host> = in_file_order
            .iter()
            .filter(|h| h.id.pg_role == Some(PgRole::Primary))
            .collect();
        if let Some(first) = primaries.first() {
            for h in primaries.iter().skip(1) {
                out.push(error(
                    inv,
                    h,
                    "pg_role",
                    format!(
                        "second primary in cluster `{cls}` (also on `{}`)",
                        first.addr
                    ),
                    Some("a cluster has one primary; mark the others `pg_role: replica`"),
                ));
            }
        } else if members.iter().all(|h| h.id.pg_role.is_some()) {
            let Some(first) = members.first() else {
                continue;
            };
            let roles: Vec<String> = members
                .iter()
                .map(|h| {
                    format!(
                        "{} `{}`",
                        h.id.pg_role.map(|r| r.to_string()).unwrap_or_default(),
                        h.addr
                    )
                })
                .collect();
            let standby = members.iter().any(|h| h.id.pg_upstream.is_some());
            let hint = if standby {
                "for a standby cluster, Pigsty marks its leader `pg_role: primary` and sets `pg_upstream: <ip of the upstream primary>` on it"
            } else {
                "mark one member `pg_role: primary` (for a standby cluster, also set `pg_upstream` on it)"
            };
            let mut d = error(
                inv,
                first,
                "pg_cluster",
                format!("cluster `{cls}` has no primary: {}", roles.join(", ")),
                Some(hint),
            );
            d.host = None;
            out.push(d);
        }
    }
    // Pigsty selects a cluster by its group name: they should match.
    for (name, g) in &inv.groups {
        if let Some(Value::String(c)) = g.vars.get("pg_cluster") {
            if c != name {
                let mut path = inv.group_paths.get(name).cloned().unwrap_or_default();
                path.push("vars".into());
                path.push("pg_cluster".into());
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                out.push(Diag {
                    severity: Severity::Warning,
                    file: inv.file(),
                    line: super::locate::line_of(&inv.source, &p),
                    host: None,
                    key: Some("pg_cluster".into()),
                    message: format!("group `{name}` defines cluster `{c}`; Pigsty expects the group to be named after its cluster"),
                    hint: Some(format!("rename the group to `{c}`")),
                });
            }
        }
    }
}

/// Duplicate sequence numbers in infra, etcd, minio and redis clusters; etcd size.
fn seq_clusters(inv: &Inventory, out: &mut Vec<Diag>) {
    let mut dup = |hosts: Vec<&Host>, key: &str, seq: fn(&Host) -> Option<u32>, what: String| {
        let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
        let mut hosts = hosts;
        hosts.sort_by_key(|h| inv.hosts.iter().position(|x| x.addr == h.addr));
        for h in hosts {
            if let Some(s) = seq(h) {
                match seen.get(&s) {
                    Some(first) => out.push(error(
                        inv,
                        h,
                        key,
                        format!("duplicate {key} {s} in {what} (also on `{first}`)"),
                        Some(&format!("each member needs its own `{key}`")),
                    )),
                    None => {
                        seen.insert(s, &h.addr);
                    }
                }
            }
        }
    };
    dup(
        inv.infra_hosts(),
        "infra_seq",
        |h| h.id.infra_seq,
        "group `infra`".into(),
    );
    dup(
        inv.etcd_members(),
        "etcd_seq",
        |h| h.id.etcd_seq,
        "group `etcd`".into(),
    );
    for c in inv.minio_clusters() {
        dup(
            inv.minio_members(c),
            "minio_seq",
            |h| h.id.minio_seq,
            format!("minio cluster `{c}`"),
        );
    }
    for c in inv.redis_clusters() {
        dup(
            inv.redis_members(c),
            "redis_node",
            |h| h.id.redis_node,
            format!("redis cluster `{c}`"),
        );
    }

    let etcd = inv.etcd_members();
    let n = etcd.len();
    if n > 1 && n % 2 == 0 {
        let mut path = inv.group_paths.get("etcd").cloned().unwrap_or_default();
        path.push("hosts".into());
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        out.push(Diag {
            severity: Severity::Error,
            file: inv.file(),
            line: super::locate::line_of(&inv.source, &p),
            host: None,
            key: None,
            message: format!(
                "etcd has {n} members: an even count survives no more failures than {} {} and can split in two halves",
                n - 1,
                if n - 1 == 1 { "member does" } else { "members do" }
            ),
            hint: Some(format!("use an odd number of etcd members ({} or {})", n - 1, n + 1)),
        });
    }
}

/// `pgbackrest_method` must name a repository of `pgbackrest_repo`.
fn backups(inv: &Inventory, out: &mut Vec<Diag>) {
    for h in inv
        .hosts
        .iter()
        .filter(|h| h.has(Module::Pgsql) && h.bool("pgbackrest_enabled") != Some(false))
    {
        let Some(method) = h.str("pgbackrest_method") else {
            continue;
        };
        let repos = h.dict("pgbackrest_repo");
        if !repos.is_some_and(|r| r.contains_key(method)) {
            let known: Vec<String> = repos
                .map(|r| r.keys().map(|k| format!("`{k}`")).collect())
                .unwrap_or_default();
            out.push(error(
                inv,
                h,
                "pgbackrest_method",
                format!(
                    "no repository `{method}` in `pgbackrest_repo` (it has {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
                Some(
                    "set `pgbackrest_method` to a key of `pgbackrest_repo`, or add that repository",
                ),
            ));
        }
    }
}

/// Ports each module listens on: (module, port parameter, enabling bool, service).
const PORTS: &[(Module, &str, Option<&str>, &str)] = &[
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
struct Listen<'a> {
    port: u16,
    service: String,
    /// The host whose variables configure it (a cluster member for services that
    /// `pg_service_provider` places elsewhere).
    owner: &'a Host,
    key: &'static str,
    sub: Vec<String>,
}

/// Ports every host would listen on, by host address.
fn listens(inv: &Inventory) -> BTreeMap<&str, Vec<Listen<'_>>> {
    let mut by_host: BTreeMap<&str, Vec<Listen>> = BTreeMap::new();
    let on = |h: &Host, flag: Option<&str>| flag.map_or(true, |f| h.bool(f) == Some(true));
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

fn port_of(svc: &Value) -> Option<u16> {
    match svc.get("port")? {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Two different services on one port of one host.
fn ports(inv: &Inventory, out: &mut Vec<Diag>) {
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

/// Redis: `replica_of` names an instance the inventory defines (not itself), only in
/// standalone mode; one `redis_mode` per cluster; a native cluster has at least 3
/// primaries; Sentinel monitor entries have a name, host and port.
fn redis_clusters(inv: &Inventory, out: &mut Vec<Diag>) {
    use crate::inventory::parse_replica_of;
    let defined: Vec<(&str, u16)> = inv
        .hosts
        .iter()
        .filter(|h| h.id.redis_cluster.is_some())
        .flat_map(|h| h.id.redis_ports.iter().map(move |p| (h.addr.as_str(), *p)))
        .collect();
    for c in inv.redis_clusters() {
        let members = inv.redis_members(c);
        let mode = |h: &Host| h.var_str("redis_mode").to_string();
        let Some(first) = members.first() else { continue };
        let m0 = mode(first);
        for h in &members {
            if mode(h) != m0 {
                out.push(error(
                    inv,
                    h,
                    "redis_mode",
                    format!("redis cluster `{c}` mixes `redis_mode` {} and {m0} (on `{}`)", mode(h), first.addr),
                    Some("set `redis_mode` once, in the cluster's group vars"),
                ));
            }
            let Some(inst) = h.dict("redis_instances") else { continue };
            for (port, def) in inst {
                let Some(r) = def.get("replica_of").filter(|v| !v.is_null()) else { continue };
                let sub = [port.as_str(), "replica_of"];
                let bad = |msg: String, hint: &str| at(inv, Severity::Error, h, "redis_instances", &sub, msg, Some(hint));
                if m0 != "standalone" {
                    out.push(bad(
                        format!("`replica_of` is for `redis_mode: standalone`; cluster `{c}` is `{m0}`"),
                        if m0 == "cluster" { "a native cluster assigns replicas itself (`redis_cluster_replicas`)" } else { "sentinels do not replicate" },
                    ));
                    continue;
                }
                let Some((rh, rp)) = r.as_str().and_then(parse_replica_of) else {
                    out.push(bad(format!("`{}` is not `<ip> <port>`", show(r)), "write it as `replica_of: '10.10.10.10 6379'`"));
                    continue;
                };
                if rh == h.addr && port == &rp.to_string() {
                    out.push(bad(format!("instance `{rh} {rp}` is a replica of itself"), "point `replica_of` at its primary"));
                } else if !defined.contains(&(rh.as_str(), rp)) {
                    out.push(bad(
                        format!("`replica_of` points at `{rh} {rp}`, which is not a redis instance defined in the inventory"),
                        "define that instance in some host's `redis_instances`, or fix the address",
                    ));
                }
            }
        }
        if m0 == "cluster" {
            let total: usize = members.iter().map(|h| h.id.redis_ports.len()).sum();
            let replicas = first.var_int("redis_cluster_replicas").max(0) as usize;
            let primaries = total / (replicas + 1);
            if primaries < 3 {
                out.push(error(
                    inv,
                    first,
                    "redis_instances",
                    format!(
                        "redis cluster `{c}` (`redis_mode: cluster`) has {total} instance(s) with `redis_cluster_replicas: {replicas}`: {primaries} primaries, and a native cluster needs at least 3"
                    ),
                    Some("define at least 3 * (redis_cluster_replicas + 1) instances across the cluster's `redis_instances`"),
                ));
            }
        }
        if m0 == "sentinel" {
            for h in &members {
                for (i, m) in h.list("redis_sentinel_monitor").into_iter().flatten().enumerate() {
                    let idx = format!("[{i}]");
                    for k in ["name", "host", "port"] {
                        if m.get(k).is_none_or(|v| v.is_null()) {
                            out.push(at(
                                inv,
                                Severity::Error,
                                h,
                                "redis_sentinel_monitor",
                                &[idx.as_str()],
                                format!("sentinel monitor entry without `{k}`"),
                                Some("entries look like `{ name: redis-ms, host: 10.10.10.10, port: 6379, password: ..., quorum: 2 }`"),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// A credential missing on some hosts: module, hosts, and where the setting that
/// needs it lives (host, parameter, path inside it).
type Missing<'a> = (
    Module,
    Vec<&'a str>,
    Option<(&'a Host, &'static str, Vec<String>)>,
);

/// Required credentials: see [`Inventory::check_secrets`].
pub(super) fn check_secrets(inv: &Inventory) -> Vec<Diag> {
    let schema = match Schema::builtin() {
        Ok(s) => s,
        Err(e) => {
            return vec![Diag {
                severity: Severity::Error,
                file: "params.yml".into(),
                line: None,
                host: None,
                key: None,
                message: e,
                hint: None,
            }]
        }
    };
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    };
    // key → (module, hosts missing it, a host whose settings put it there)
    let mut missing: BTreeMap<String, Missing> = BTreeMap::new();
    for h in &inv.hosts {
        let mods = h.modules();
        for spec in schema.params.values().filter(|s| s.required) {
            let Some(m) = Module::from_section(&spec.module) else {
                continue;
            };
            if !mods.contains(&m) || spec.when.iter().any(|w| h.bool(w) != Some(true)) {
                continue;
            }
            if empty(h.get(&spec.name)) {
                missing
                    .entry(spec.name.clone())
                    .or_insert((m, vec![], None))
                    .1
                    .push(&h.addr);
            }
        }
        if mods.contains(&Module::Pgsql) && h.bool("pgbackrest_enabled") != Some(false) {
            if let Some(method) = h.str("pgbackrest_method") {
                if let Some(repo) = h.dict("pgbackrest_repo").and_then(|r| r.get(method)) {
                    let mut need = vec![];
                    if repo.get("type").and_then(Value::as_str) == Some("s3") {
                        need.push("s3_key_secret");
                    }
                    if repo
                        .get("cipher_type")
                        .and_then(Value::as_str)
                        .is_some_and(|c| c != "none")
                    {
                        need.push("cipher_pass");
                    }
                    for f in need {
                        if empty(repo.get(f)) {
                            let key = format!("pgbackrest_repo.{method}.{f}");
                            let loc = Some((h, "pgbackrest_repo", vec![method.to_string()]));
                            missing
                                .entry(key)
                                .or_insert((Module::Pgsql, vec![], loc))
                                .1
                                .push(&h.addr);
                        }
                    }
                }
            }
        }
        if mods.contains(&Module::Minio) {
            for (i, u) in h.list("minio_users").into_iter().flatten().enumerate() {
                if empty(u.get("secret_key")) {
                    let key = format!("minio_users[{i}].secret_key");
                    let loc = Some((h, "minio_users", vec![format!("[{i}]")]));
                    missing
                        .entry(key)
                        .or_insert((Module::Minio, vec![], loc))
                        .1
                        .push(&h.addr);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (key, (module, hosts, loc)) in missing {
        let (file, line) = match &loc {
            Some((h, k, sub)) if h.source(k) != Some(&Source::Default) => {
                let sub: Vec<&str> = sub.iter().map(String::as_str).collect();
                inv.locate(h, k, &sub)
            }
            _ => (inv.file(), None),
        };
        let list: Vec<String> = hosts.iter().take(5).map(|h| format!("`{h}`")).collect();
        let more = if hosts.len() > 5 {
            format!(" and {} more", hosts.len() - 5)
        } else {
            String::new()
        };
        let module = module.to_string().to_uppercase();
        out.push(Diag {
            severity: Severity::Error,
            file,
            line,
            host: (hosts.len() == 1).then(|| hosts[0].to_string()),
            key: Some(key.clone()),
            message: format!(
                "credential not set; {module} needs it on {}{more}",
                list.join(", ")
            ),
            hint: Some("set it in `all.vars` (`pigsty configure` writes fresh secrets)".into()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn err(text: &str) -> Vec<Diag> {
        match Inventory::from_str("pigsty.yml", text, &[]) {
            Ok(_) => panic!("expected the inventory to be invalid"),
            Err(e) => e.diags().iter().filter(|d| d.is_error()).cloned().collect(),
        }
    }

    fn one(text: &str, needle: &str) -> Diag {
        let diags = err(text);
        diags
            .iter()
            .find(|d| d.message.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no `{needle}` in {diags:#?}"))
    }

    #[test]
    fn duplicate_pg_seq_names_line_and_host() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12: { pg_seq: 1, pg_role: replica }
      vars: { pg_cluster: pg-test }
";
        let d = one(text, "duplicate pg_seq");
        assert_eq!(
            d.to_string().lines().next(),
            Some("`pigsty.yml:7`: host `10.10.10.12`, key `pg_seq`: duplicate pg_seq 1 in cluster `pg-test` (also on `10.10.10.11`)")
        );
    }

    #[test]
    fn two_primaries_are_refused() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12:
          pg_seq: 2
          pg_role: primary
      vars: { pg_cluster: pg-test }
";
        let d = one(text, "second primary");
        assert_eq!(
            (d.line, d.host.as_deref(), d.key.as_deref()),
            (Some(9), Some("10.10.10.12"), Some("pg_role"))
        );
        assert!(d.message.contains("(also on `10.10.10.11`)"));
    }

    #[test]
    fn a_cluster_of_replicas_has_no_primary() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: replica }
        10.10.10.12: { pg_seq: 2, pg_role: offline }
      vars:
        pg_cluster: pg-test
";
        let d = one(text, "has no primary");
        assert_eq!((d.line, d.key.as_deref()), (Some(9), Some("pg_cluster")));
        assert!(
            d.message
                .contains("replica `10.10.10.11`, offline `10.10.10.12`"),
            "{}",
            d.message
        );
    }

    #[test]
    fn a_standby_cluster_with_its_leader_marked_primary_is_valid() {
        let text = "
all:
  children:
    pg-test:
      hosts: { 10.10.10.11: { pg_seq: 1, pg_role: primary } }
      vars: { pg_cluster: pg-test }
    pg-test2:
      hosts:
        10.10.10.12: { pg_seq: 1, pg_role: primary, pg_upstream: 10.10.10.11 }
        10.10.10.13: { pg_seq: 2, pg_role: replica }
      vars: { pg_cluster: pg-test2 }
";
        let inv = Inventory::from_str("pigsty.yml", text, &[]).expect("valid");
        assert_eq!(
            inv.primary("pg-test2")
                .and_then(|h| h.id.pg_upstream.as_deref()),
            Some("10.10.10.11")
        );
    }

    #[test]
    fn a_standby_cluster_without_a_primary_gets_pigstys_convention_as_hint() {
        let text = "
all:
  children:
    pg-test2:
      hosts:
        10.10.10.12: { pg_seq: 1, pg_role: replica, pg_upstream: 10.10.10.11 }
      vars: { pg_cluster: pg-test2 }
";
        let d = one(text, "has no primary");
        assert!(
            d.hint.as_deref().is_some_and(|h| h.contains("pg_upstream")),
            "{d}"
        );
    }

    #[test]
    fn an_unknown_pg_role_is_refused() {
        let text = "all:\n  children:\n    pg-test:\n      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: leader } }\n      vars: { pg_cluster: pg-test }\n";
        let d = one(text, "one of primary, replica, offline");
        assert_eq!(
            (d.line, d.host.as_deref(), d.key.as_deref()),
            (Some(4), Some("10.0.0.1"), Some("pg_role"))
        );
        assert!(d.message.contains("got `leader`"));
    }

    #[test]
    fn missing_pg_identity_is_named_per_key() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.0.0.1: { pg_seq: 1 }
        10.0.0.2: { pg_role: replica }
";
        let diags = err(text);
        let find = |host: &str, key: &str| {
            diags
                .iter()
                .any(|d| d.host.as_deref() == Some(host) && d.key.as_deref() == Some(key))
        };
        assert!(
            find("10.0.0.1", "pg_cluster") && find("10.0.0.1", "pg_role"),
            "{diags:#?}"
        );
        assert!(
            find("10.0.0.2", "pg_cluster") && find("10.0.0.2", "pg_seq"),
            "{diags:#?}"
        );
        let d = diags
            .iter()
            .find(|d| d.key.as_deref() == Some("pg_cluster"))
            .expect("pg_cluster");
        assert_eq!(d.line, Some(6));
        assert_eq!(
            d.hint.as_deref(),
            Some("set `pg_cluster: pg-test` in the vars of group `pg-test`")
        );
    }

    #[test]
    fn a_host_key_that_is_not_an_address_is_refused() {
        let text = "all:\n  children:\n    g:\n      hosts:\n        no-such-host.invalid: {}\n";
        let d = one(text, "neither an IP address");
        assert_eq!(
            (d.line, d.host.as_deref()),
            (Some(5), Some("no-such-host.invalid"))
        );
        let text = "all:\n  children:\n    g:\n      hosts:\n        localhost: {}\n        10.0.0.1: {}\n";
        assert!(Inventory::from_str("pigsty.yml", text, &[]).is_ok());
    }

    #[test]
    fn an_even_etcd_cluster_is_refused() {
        let text = "
all:
  children:
    etcd:
      hosts:
        10.0.0.1: { etcd_seq: 1 }
        10.0.0.2: { etcd_seq: 2 }
      vars: { etcd_cluster: etcd }
";
        let d = one(text, "etcd has 2 members");
        assert_eq!(d.line, Some(5));
    }

    #[test]
    fn duplicate_etcd_seq_and_missing_infra_seq_are_refused() {
        let text = "
all:
  children:
    infra: { hosts: { 10.0.0.1: {} } }
    etcd:
      hosts:
        10.0.0.1: { etcd_seq: 1 }
        10.0.0.2: { etcd_seq: 1 }
        10.0.0.3: { etcd_seq: 3 }
";
        let d = one(text, "duplicate etcd_seq 1");
        assert_eq!((d.line, d.host.as_deref()), (Some(8), Some("10.0.0.2")));
        let d = one(text, "without `infra_seq`");
        assert_eq!(
            (d.line, d.host.as_deref(), d.key.as_deref()),
            (Some(4), Some("10.0.0.1"), Some("infra_seq"))
        );
    }

    #[test]
    fn two_services_on_one_port_are_refused() {
        let text = "
all:
  children:
    pg-test:
      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
      vars: { pg_cluster: pg-test }
    redis-test:
      hosts: { 10.0.0.1: { redis_node: 1, redis_instances: { 6379: {}, 5432: {} } } }
      vars: { redis_cluster: redis-test, redis_password: x.Strong.1 }
";
        let d = one(text, "port 5432");
        assert!(
            d.message
                .contains("postgres (`pg_port`) and redis `redis-test-1-5432`"),
            "{}",
            d.message
        );
        assert_eq!(
            (d.line, d.host.as_deref(), d.key.as_deref()),
            (Some(8), Some("10.0.0.1"), Some("redis_instances.5432"))
        );
    }

    #[test]
    fn a_pg_service_on_a_taken_port_is_refused_on_every_member() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.0.0.1: { pg_seq: 1, pg_role: primary }
        10.0.0.2: { pg_seq: 2, pg_role: replica }
      vars:
        pg_cluster: pg-test
        pg_services:
          - { name: standby, port: 9100, dest: default, selector: '[]' }
";
        let diags = err(text);
        let clashes: Vec<&Diag> = diags
            .iter()
            .filter(|d| d.message.contains("port 9100"))
            .collect();
        assert_eq!(clashes.len(), 2, "{diags:#?}");
        assert_eq!(clashes[0].line, Some(11));
        assert_eq!(clashes[0].key.as_deref(), Some("pg_services[0].port"));
    }

    #[test]
    fn the_same_host_in_two_pg_clusters_is_refused() {
        let text = "
all:
  children:
    pg-a: { hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }, vars: { pg_cluster: pg-a } }
    pg-b: { hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }, vars: { pg_cluster: pg-b } }
";
        let d = one(text, "two clusters");
        assert_eq!((d.line, d.key.as_deref()), (Some(5), Some("pg_cluster")));
    }

    #[test]
    fn a_backup_method_without_a_repository_is_refused() {
        let text = "all:\n  vars: { pgbackrest_method: s3 }\n  children:\n    pg-a: { hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }, vars: { pg_cluster: pg-a } }\n";
        let d = one(text, "no repository `s3`");
        assert_eq!(d.line, Some(2));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "
all:
  children:
    etcd: { hosts: { 10.0.0.1: { etcd_seq: 1 }, 10.0.0.2: { etcd_seq: 2 } } }
    pg-test:
      hosts:
        10.0.0.1: { pg_seq: 1, pg_role: primary }
        10.0.0.2: { pg_seq: 1, pg_role: primary }
      vars: { pg_cluster: pg-test, pg_port: yes }
";
        let diags = err(text);
        for needle in [
            "etcd has 2",
            "duplicate pg_seq",
            "second primary",
            "expected a port",
        ] {
            assert!(
                diags.iter().any(|d| d.message.contains(needle)),
                "{needle} missing from {diags:#?}"
            );
        }
    }

    const SECRETS_BASE: &str = "
all:
  children:
    infra: { hosts: { 10.0.0.1: { infra_seq: 1 } } }
    etcd: { hosts: { 10.0.0.1: { etcd_seq: 1 } } }
    pg-meta:
      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
      vars: { pg_cluster: pg-meta }
";

    #[test]
    fn missing_credentials_are_named_per_module() {
        let inv = Inventory::from_str("pigsty.yml", SECRETS_BASE, &[])
            .expect("loads without credentials");
        let diags = inv.check_secrets();
        let keys: Vec<&str> = diags.iter().filter_map(|d| d.key.as_deref()).collect();
        for k in [
            "pg_admin_password",
            "pg_monitor_password",
            "pg_replication_password",
            "patroni_password",
            "haproxy_admin_password",
            "grafana_admin_password",
            "etcd_root_password",
        ] {
            assert!(keys.contains(&k), "{k} not reported: {keys:?}");
        }
        assert!(
            !keys.contains(&"minio_secret_key") && !keys.contains(&"redis_password"),
            "{keys:?}"
        );
        let d = diags
            .iter()
            .find(|d| d.key.as_deref() == Some("pg_admin_password"))
            .expect("reported");
        assert!(d.message.contains("PGSQL needs it on `10.0.0.1`"), "{d}");
    }

    #[test]
    fn credentials_switched_off_with_their_feature_are_not_required() {
        let extra = [
            "haproxy_enabled=false".to_string(),
            "grafana_enabled=false".to_string(),
            "patroni_enabled=false".to_string(),
        ];
        let inv = Inventory::from_str("pigsty.yml", SECRETS_BASE, &extra).expect("loads");
        let keys: Vec<String> = inv
            .check_secrets()
            .into_iter()
            .filter_map(|d| d.key)
            .collect();
        for k in [
            "haproxy_admin_password",
            "grafana_admin_password",
            "patroni_password",
        ] {
            assert!(!keys.iter().any(|x| x == k), "{k} reported: {keys:?}");
        }
    }

    #[test]
    fn encrypted_s3_backups_need_their_secrets() {
        let inv = Inventory::from_str(
            "pigsty.yml",
            SECRETS_BASE,
            &["pgbackrest_method=minio".to_string()],
        )
        .expect("loads");
        let keys: Vec<String> = inv
            .check_secrets()
            .into_iter()
            .filter_map(|d| d.key)
            .collect();
        assert!(
            keys.contains(&"pgbackrest_repo.minio.s3_key_secret".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"pgbackrest_repo.minio.cipher_pass".to_string()),
            "{keys:?}"
        );
    }

    #[test]
    fn minio_users_need_secret_keys() {
        let text = "all:\n  children:\n    minio: { hosts: { 10.0.0.1: { minio_seq: 1 } }, vars: { minio_cluster: minio, minio_secret_key: A.Fresh.One } }\n";
        let inv = Inventory::from_str("pigsty.yml", text, &[]).expect("loads");
        let keys: Vec<String> = inv
            .check_secrets()
            .into_iter()
            .filter_map(|d| d.key)
            .collect();
        assert!(
            keys.contains(&"minio_users[0].secret_key".to_string()),
            "{keys:?}"
        );
        assert!(!keys.contains(&"minio_secret_key".to_string()), "{keys:?}");
    }
}
