//! Addresses and identities: unique hosts that resolve, identity parameters, one cluster of a kind per host.
use super::*;

pub(super) fn addresses(inv: &Inventory, opts: &LoadOptions, out: &mut Vec<Diag>) {
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

pub(super) fn identities(inv: &Inventory, out: &mut Vec<Diag>) {
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
        // A cluster name alone in all.vars makes no member (see `assemble::identity`).
        if h.id.pg_cluster.is_some() || ["pg_seq", "pg_role"].iter().any(|k| present(h, k)) {
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
        if h.id.minio_cluster.is_some() || present(h, "minio_seq") {
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
        if h.id.redis_cluster.is_some()
            || ["redis_node", "redis_instances"]
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
pub(super) fn cluster_conflicts(inv: &Inventory, out: &mut Vec<Diag>) {
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
                        (
                            inv.file(),
                            crate::inventory::locate::line_of(&inv.source, &p),
                        )
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
