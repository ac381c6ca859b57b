//! Redis clusters: `replica_of`, modes, native cluster size, Sentinel monitors.
use super::*;

/// Redis: `replica_of` names an instance the inventory defines (not itself), only in
/// standalone mode; one `redis_mode` per cluster; a native cluster has at least 3
/// primaries; Sentinel monitor entries have a name, host and port.
pub(super) fn redis_clusters(inv: &Inventory, out: &mut Vec<Diag>) {
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
        let Some(first) = members.first() else {
            continue;
        };
        let m0 = mode(first);
        for h in &members {
            if mode(h) != m0 {
                out.push(error(
                    inv,
                    h,
                    "redis_mode",
                    format!(
                        "redis cluster `{c}` mixes `redis_mode` {} and {m0} (on `{}`)",
                        mode(h),
                        first.addr
                    ),
                    Some("set `redis_mode` once, in the cluster's group vars"),
                ));
            }
            let Some(inst) = h.dict("redis_instances") else {
                continue;
            };
            for (port, def) in inst {
                let Some(r) = def.get("replica_of").filter(|v| !v.is_null()) else {
                    continue;
                };
                let sub = [port.as_str(), "replica_of"];
                let bad = |msg: String, hint: &str| {
                    at(
                        inv,
                        Severity::Error,
                        h,
                        "redis_instances",
                        &sub,
                        msg,
                        Some(hint),
                    )
                };
                if m0 != "standalone" {
                    out.push(bad(
                        format!(
                            "`replica_of` is for `redis_mode: standalone`; cluster `{c}` is `{m0}`"
                        ),
                        if m0 == "cluster" {
                            "a native cluster assigns replicas itself (`redis_cluster_replicas`)"
                        } else {
                            "sentinels do not replicate"
                        },
                    ));
                    continue;
                }
                let Some((rh, rp)) = r.as_str().and_then(parse_replica_of) else {
                    out.push(bad(
                        format!("`{}` is not `<ip> <port>`", show(r)),
                        "write it as `replica_of: '10.10.10.10 6379'`",
                    ));
                    continue;
                };
                if rh == h.addr && port == &rp.to_string() {
                    out.push(bad(
                        format!("instance `{rh} {rp}` is a replica of itself"),
                        "point `replica_of` at its primary",
                    ));
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
                for (i, m) in h
                    .list("redis_sentinel_monitor")
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
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
