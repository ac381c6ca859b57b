//! `pigsty status [CLUSTER]`: clusters, members, roles, state, timeline, replication
//! lag and service ports (from Patroni's REST API on any member), the last backup and
//! archived WAL (`pgbackrest info` on the leader), etcd health, and Redis clusters:
//! each instance's role and replication state (from the instance).
use crate::cli::{Global, StatusArgs};
use crate::inventory::Inventory;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Patroni's `/cluster` from the first member that answers.
fn patroni_cluster(inv: &Inventory, cluster: &str) -> Result<Value, String> {
    let mut last = String::from("no members");
    for h in inv.cluster_members(cluster) {
        let base = crate::modules::pgsql::params::patroni_url(h);
        match crate::sys::http::get_url(&format!("{base}/cluster"), TIMEOUT) {
            Ok(r) if r.status == 200 => {
                return serde_json::from_str(&r.body).map_err(|e| e.to_string())
            }
            Ok(r) => last = format!("{}: HTTP {}", h.addr, r.status),
            Err(e) => last = format!("{}: {e}", h.addr),
        }
    }
    Err(last)
}

/// `pgbackrest info` of a cluster's stanza on its leader (a node-mode action),
/// reduced to the last backup and the archive.
fn backup_info(inv: &Inventory, cluster: &str, host: &str) -> Value {
    let info = inv
        .host(host)
        .ok_or_else(|| anyhow::anyhow!("`{host}` is not in the inventory"))
        .and_then(|h| super::backup::info_on(h, cluster));
    match info {
        Ok(v) => summarize_backup(&v),
        Err(_) => json!({"error": format!("pgbackrest info did not answer on {host}")}),
    }
}

/// The last backup (label, type, stop time) and the newest archived WAL of a stanza.
pub fn summarize_backup(info: &Value) -> Value {
    let st = info
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null);
    let last = st["backup"]
        .as_array()
        .and_then(|b| b.last())
        .cloned()
        .unwrap_or(Value::Null);
    let wal_max = st["archive"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(|a| a["max"].as_str())
        .map(String::from);
    json!({
        "status": st["status"]["message"].as_str().unwrap_or("unknown"),
        "backups": st["backup"].as_array().map(|b| b.len()).unwrap_or(0),
        "last": last["label"].as_str(),
        "type": last["type"].as_str(),
        "stop": last["timestamp"]["stop"].as_i64(),
        "wal_max": wal_max,
    })
}

fn service_ports(inv: &Inventory, cluster: &str) -> Vec<(String, i64)> {
    let Some(h) = inv.cluster_members(cluster).into_iter().next() else {
        return vec![];
    };
    let mut v = vec![];
    for key in ["pg_default_services", "pg_services"] {
        for s in h.list(key).cloned().unwrap_or_default() {
            if let (Some(n), Some(p)) = (
                s.get("name").and_then(|x| x.as_str()),
                s.get("port").and_then(|x| x.as_i64()),
            ) {
                v.push((format!("{cluster}-{n}"), p));
            }
        }
    }
    v
}

pub fn run(g: &Global, a: &StatusArgs) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let (clusters, redis_clusters): (Vec<String>, Vec<String>) = match &a.cluster {
        Some(c) if inv.redis_clusters().contains(&c.as_str()) => (vec![], vec![c.clone()]),
        Some(c) => {
            if !inv.pg_clusters().contains(&c.as_str()) {
                let mut all = inv.pg_clusters();
                all.extend(inv.redis_clusters());
                bail!(
                    "no cluster `{c}` in `{}`\nhint: clusters: {}",
                    inv.path.display(),
                    all.join(", ")
                );
            }
            (vec![c.clone()], vec![])
        }
        None => (
            inv.pg_clusters().iter().map(|s| s.to_string()).collect(),
            inv.redis_clusters().iter().map(|s| s.to_string()).collect(),
        ),
    };
    let mut out = json!({"clusters": [], "etcd": [], "redis": []});
    let mut healthy = true;
    for c in &clusters {
        let (paused, members): (bool, Vec<Value>) = match patroni_cluster(&inv, c) {
            // maintenance mode (`pigsty pgsql pause`): Patroni does not fail over
            Ok(v) => (
                v.get("pause").and_then(Value::as_bool).unwrap_or(false),
                v.get("members")
                    .cloned()
                    .and_then(|m| m.as_array().cloned())
                    .unwrap_or_default(),
            ),
            Err(e) => {
                healthy = false;
                if let Some(a) = out["clusters"].as_array_mut() {
                    a.push(json!({"cluster": c, "error": e}))
                }
                continue;
            }
        };
        let leaders = members
            .iter()
            .filter(|m| m.get("role").and_then(|r| r.as_str()) == Some("leader"))
            .count();
        healthy &= leaders == 1;
        let leader_host = members
            .iter()
            .find(|m| m.get("role").and_then(|r| r.as_str()) == Some("leader"))
            .and_then(|m| m["host"].as_str())
            .map(String::from);
        let backup = leader_host
            .map(|h| backup_info(&inv, c, &h))
            .unwrap_or(Value::Null);
        if let Some(a) = out["clusters"].as_array_mut() {
            a.push(json!({"cluster": c, "paused": paused, "members": members, "leaders": leaders, "backup": backup,
                "services": service_ports(&inv, c).into_iter().map(|(n, p)| json!({"name": n, "port": p})).collect::<Vec<_>>()}))
        }
    }
    for c in &redis_clusters {
        let r = redis_status(&inv, c);
        healthy &= r["healthy"] == true;
        if let Some(a) = out["redis"].as_array_mut() {
            a.push(r)
        }
    }
    for h in inv.etcd_members() {
        let port = h.var_int("etcd_port");
        // TLS only: etcdctl verifies the member against the CA; a quorum read as root
        // (etcd 3.4 counts an anonymous one as unhealthy once auth is on)
        let ok = crate::resources::etcd_auth::etcdctl(
            &format!("https://{}:{port}", h.addr),
            h.str("etcd_root_password"),
        )
        .args(["endpoint", "health"])
        .run()
        .is_ok_and(|o| o.success() && format!("{}{}", o.stdout, o.stderr).contains("is healthy"));
        healthy &= ok;
        let name = format!(
            "{}-{}",
            h.id.etcd_cluster.clone().unwrap_or_else(|| "etcd".into()),
            h.id.etcd_seq.unwrap_or(0)
        );
        if let Some(a) = out["etcd"].as_array_mut() {
            a.push(json!({"member": name, "host": h.addr, "healthy": ok}))
        }
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(if healthy { 0 } else { 1 });
    }
    for c in out["clusters"].as_array().cloned().unwrap_or_default() {
        let name = c["cluster"].as_str().unwrap_or("");
        if let Some(e) = c.get("error") {
            println!("{name}: unreachable ({})", e.as_str().unwrap_or(""));
            continue;
        }
        if c["paused"] == true {
            println!("{name} (paused: maintenance mode, no automatic failover; `pigsty pgsql resume {name}`)");
        } else {
            println!("{name}");
        }
        println!(
            "  {:<14} {:<15} {:<8} {:<10} {:>3} {:>10}",
            "MEMBER", "HOST", "ROLE", "STATE", "TL", "LAG(MB)"
        );
        for m in c["members"].as_array().cloned().unwrap_or_default() {
            let lag = match m.get("lag") {
                Some(Value::Number(n)) => format!("{:.1}", n.as_f64().unwrap_or(0.0) / 1048576.0),
                Some(v) if !v.is_null() => v.to_string(),
                _ => "-".into(),
            };
            println!(
                "  {:<14} {:<15} {:<8} {:<10} {:>3} {:>10}",
                m["name"].as_str().unwrap_or(""),
                m["host"].as_str().unwrap_or(""),
                m["role"].as_str().unwrap_or(""),
                m["state"].as_str().unwrap_or(""),
                m.get("timeline")
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "-".into()),
                lag
            );
        }
        let svcs: Vec<String> = c["services"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|s| format!("{}:{}", s["name"].as_str().unwrap_or(""), s["port"]))
            .collect();
        println!("  services: {}", svcs.join("  "));
        // the last backup and WAL archiving, read on the leader (text output only)
        if let Some(h) = c["members"].as_array().and_then(|ms| {
            ms.iter()
                .find(|m| m["role"] == "leader")
                .and_then(|m| m["host"].as_str())
                .and_then(|a| inv.host(a))
        }) {
            if let Some(line) = super::backup::status_line(h, name) {
                println!("  backup: {line}");
                continue;
            }
        }
        let b = &c["backup"];
        if let Some(e) = b.get("error").and_then(|e| e.as_str()) {
            println!("  backup: unknown ({e})");
        } else if b.is_object() {
            let when = b["stop"]
                .as_i64()
                .map(|t| format!("{}s ago", (now() - t).max(0)))
                .unwrap_or_else(|| "-".into());
            println!(
                "  backup: {} ({}, {} in the repo, last {} {}), wal archived up to {}",
                b["status"].as_str().unwrap_or("-"),
                b["type"].as_str().unwrap_or("none"),
                b["backups"],
                b["last"].as_str().unwrap_or("-"),
                when,
                b["wal_max"].as_str().unwrap_or("-")
            );
        }
    }
    let etcd: Vec<String> = out["etcd"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["member"].as_str().unwrap_or(""),
                e["host"].as_str().unwrap_or(""),
                if e["healthy"] == true {
                    "healthy"
                } else {
                    "UNHEALTHY"
                }
            )
        })
        .collect();
    if !etcd.is_empty() {
        println!("etcd: {}", etcd.join(", "));
    }
    for r in out["redis"].as_array().cloned().unwrap_or_default() {
        print_redis(&r);
    }
    Ok(if healthy { 0 } else { 1 })
}

/// One redis instance: role and replication state, from the instance itself.
fn redis_instance(
    h: &crate::inventory::Host,
    i: &crate::modules::redis::Instance,
    mode: crate::modules::redis::Mode,
) -> Value {
    use crate::modules::redis::{client_ip, Mode};
    use crate::resources::redis::Conn;
    let addr = format!("{}:{}", client_ip(h), i.port);
    let pw = h.str("redis_password").unwrap_or("");
    let mut v = json!({"instance": i.name, "addr": addr, "up": false});
    let mut c = match Conn::login(&addr, &[pw]) {
        Ok(c) => c,
        Err(e) => {
            v["error"] = json!(e);
            return v;
        }
    };
    v["up"] = json!(true);
    if mode == Mode::Sentinel {
        v["role"] = json!("sentinel");
        let masters = c
            .ok(&["SENTINEL", "MASTERS"], 2)
            .map(|r| r.items())
            .unwrap_or_default();
        let ms: Vec<Value> = masters
            .iter()
            .map(|m| {
                let p = m.pairs();
                json!({"name": p.get("name"), "master": format!("{}:{}", p.get("ip").cloned().unwrap_or_default(), p.get("port").cloned().unwrap_or_default()),
                       "flags": p.get("flags"), "replicas": p.get("num-slaves").and_then(|x| x.parse::<u64>().ok()),
                       "sentinels": p.get("num-other-sentinels").and_then(|x| x.parse::<u64>().ok()).map(|n| n + 1), "quorum": p.get("quorum")})
            })
            .collect();
        v["monitors"] = json!(ms);
        return v;
    }
    let info = c.info("replication").unwrap_or_default();
    let role = info.get("role").cloned().unwrap_or_default();
    v["role"] = json!(if role == "slave" {
        "replica"
    } else {
        "primary"
    });
    if role == "slave" {
        v["master"] = json!(format!(
            "{}:{}",
            info.get("master_host").cloned().unwrap_or_default(),
            info.get("master_port").cloned().unwrap_or_default()
        ));
        v["link"] = json!(info.get("master_link_status").cloned().unwrap_or_default());
        v["offset"] = json!(info
            .get("slave_repl_offset")
            .and_then(|o| o.parse::<i64>().ok()));
    } else {
        let master_off: i64 = info
            .get("master_repl_offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let reps: Vec<Value> = info
            .iter()
            .filter(|(k, _)| k.starts_with("slave") && k[5..].chars().all(|c| c.is_ascii_digit()) && k.len() > 5)
            .map(|(_, val)| {
                let f: std::collections::BTreeMap<&str, &str> = val.split(',').filter_map(|kv| kv.split_once('=')).collect();
                let off: i64 = f.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
                json!({"addr": format!("{}:{}", f.get("ip").unwrap_or(&""), f.get("port").unwrap_or(&"")), "state": f.get("state"), "lag_bytes": master_off - off})
            })
            .collect();
        v["replicas"] = json!(reps);
    }
    if mode == Mode::Cluster {
        if let Ok(r) = c.ok(&["CLUSTER", "INFO"], 2) {
            let ci = crate::resources::redis::parse_info(&r.text());
            v["cluster_state"] = json!(ci.get("cluster_state"));
        }
    }
    v
}

/// A redis cluster's instances; healthy when every instance answers and every replica's
/// link is up (and a native cluster's state is ok).
fn redis_status(inv: &Inventory, cluster: &str) -> Value {
    let members = inv.redis_members(cluster);
    let mode = members
        .first()
        .map(|h| crate::modules::redis::mode_of(h))
        .unwrap_or(crate::modules::redis::Mode::Standalone);
    let mut instances = vec![];
    for h in &members {
        for i in crate::modules::redis::instances(h) {
            instances.push(redis_instance(h, &i, mode));
        }
    }
    let healthy = instances.iter().all(|i| {
        i["up"] == true
            && (i["role"] != "replica" || i["link"] == "up")
            && (i
                .get("cluster_state")
                .is_none_or(|s| s.is_null() || s == "ok"))
    });
    json!({"cluster": cluster, "mode": mode.as_str(), "instances": instances, "healthy": healthy})
}

fn print_redis(r: &Value) {
    println!(
        "{} (redis {})",
        r["cluster"].as_str().unwrap_or(""),
        r["mode"].as_str().unwrap_or("")
    );
    println!(
        "  {:<22} {:<21} {:<9} {:<5} REPLICATION",
        "INSTANCE", "ADDR", "ROLE", "STATE"
    );
    for i in r["instances"].as_array().cloned().unwrap_or_default() {
        let up = i["up"] == true;
        let repl = if !up {
            i["error"].as_str().unwrap_or("").to_string()
        } else if let Some(ms) = i["monitors"].as_array() {
            ms.iter()
                .map(|m| {
                    format!(
                        "{} -> {} ({} replicas, {} sentinels)",
                        m["name"].as_str().unwrap_or(""),
                        m["master"].as_str().unwrap_or(""),
                        m["replicas"],
                        m["sentinels"]
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        } else if i["role"] == "replica" {
            format!(
                "of {} link {}",
                i["master"].as_str().unwrap_or(""),
                i["link"].as_str().unwrap_or("")
            )
        } else {
            let reps = i["replicas"].as_array().cloned().unwrap_or_default();
            let list: Vec<String> = reps
                .iter()
                .map(|x| {
                    format!(
                        "{} lag {}B",
                        x["addr"].as_str().unwrap_or(""),
                        x["lag_bytes"]
                    )
                })
                .collect();
            format!(
                "{} replica(s){}{}",
                reps.len(),
                if list.is_empty() { "" } else { ": " },
                list.join(", ")
            )
        };
        let cs = i["cluster_state"]
            .as_str()
            .map(|s| format!(" [cluster {s}]"))
            .unwrap_or_default();
        println!(
            "  {:<22} {:<21} {:<9} {:<5} {}{}",
            i["instance"].as_str().unwrap_or(""),
            i["addr"].as_str().unwrap_or(""),
            i["role"].as_str().unwrap_or("-"),
            if up { "up" } else { "DOWN" },
            repl,
            cs
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_backup_and_the_newest_wal_come_out_of_pgbackrest_info() {
        let info = json!([{"name": "pg-test", "status": {"code": 0, "message": "ok"},
        "archive": [{"id": "15-1", "min": "000000010000000000000001", "max": "000000030000000000000009"}],
        "backup": [
            {"label": "20261125-100000F", "type": "full", "timestamp": {"start": 1, "stop": 2}},
            {"label": "20261125-100000F_20261125-110000I", "type": "incr", "timestamp": {"start": 3, "stop": 4}}
        ]}]);
        let s = summarize_backup(&info);
        assert_eq!(s["last"], "20261125-100000F_20261125-110000I");
        assert_eq!(s["type"], "incr");
        assert_eq!(s["stop"], 4);
        assert_eq!(s["backups"], 2);
        assert_eq!(s["wal_max"], "000000030000000000000009");
        assert_eq!(s["status"], "ok");
        assert_eq!(summarize_backup(&json!([]))["backups"], 0);
    }
}
