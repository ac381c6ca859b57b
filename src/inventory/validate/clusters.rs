//! Clusters: pgsql primaries and replicas, sequence numbers and etcd size, backups.
use super::*;

pub(super) fn pg_clusters(inv: &Inventory, out: &mut Vec<Diag>) {
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
                    line: crate::inventory::locate::line_of(&inv.source, &p),
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
pub(super) fn seq_clusters(inv: &Inventory, out: &mut Vec<Diag>) {
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
            line: crate::inventory::locate::line_of(&inv.source, &p),
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
pub(super) fn backups(inv: &Inventory, out: &mut Vec<Diag>) {
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
