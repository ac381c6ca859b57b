//! `pigsty status [CLUSTER]`: clusters, members, roles, state, timeline, replication
//! lag and service ports (from Patroni's REST API on any member), and etcd health.
use crate::cli::{Global, StatusArgs};
use crate::inventory::Inventory;
use crate::resources::http;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Patroni's `/cluster` from the first member that answers.
fn patroni_cluster(inv: &Inventory, cluster: &str) -> Result<Value, String> {
    let mut last = String::from("no members");
    for h in inv.cluster_members(cluster) {
        let port = h.int("patroni_port").unwrap_or(8008);
        match http::get(&format!("{}:{port}", h.addr), "/cluster", TIMEOUT) {
            Ok((200, body)) => return serde_json::from_str(&body).map_err(|e| e.to_string()),
            Ok((code, _)) => last = format!("{}: HTTP {code}", h.addr),
            Err(e) => last = format!("{}: {e}", h.addr),
        }
    }
    Err(last)
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
    let clusters: Vec<String> = match &a.cluster {
        Some(c) => {
            if !inv.pg_clusters().contains(&c.as_str()) {
                bail!(
                    "no cluster `{c}` in `{}`\nhint: clusters: {}",
                    inv.path.display(),
                    inv.pg_clusters().join(", ")
                );
            }
            vec![c.clone()]
        }
        None => inv.pg_clusters().iter().map(|s| s.to_string()).collect(),
    };
    let mut out = json!({"clusters": [], "etcd": []});
    let mut healthy = true;
    for c in &clusters {
        let members: Vec<Value> = match patroni_cluster(&inv, c) {
            Ok(v) => v
                .get("members")
                .cloned()
                .and_then(|m| m.as_array().cloned())
                .unwrap_or_default(),
            Err(e) => {
                healthy = false;
                out["clusters"]
                    .as_array_mut()
                    .map(|a| a.push(json!({"cluster": c, "error": e})));
                continue;
            }
        };
        let leaders = members
            .iter()
            .filter(|m| m.get("role").and_then(|r| r.as_str()) == Some("leader"))
            .count();
        healthy &= leaders == 1;
        out["clusters"].as_array_mut().map(|a| {
            a.push(json!({"cluster": c, "members": members, "leaders": leaders,
                "services": service_ports(&inv, c).into_iter().map(|(n, p)| json!({"name": n, "port": p})).collect::<Vec<_>>()}))
        });
    }
    for h in inv.etcd_members() {
        let port = h.int("etcd_port").unwrap_or(2379);
        let ok = matches!(http::get(&format!("{}:{port}", h.addr), "/health", TIMEOUT), Ok((200, ref b)) if b.contains("true"));
        healthy &= ok;
        let name = format!(
            "{}-{}",
            h.id.etcd_cluster.clone().unwrap_or_else(|| "etcd".into()),
            h.id.etcd_seq.unwrap_or(0)
        );
        out["etcd"]
            .as_array_mut()
            .map(|a| a.push(json!({"member": name, "host": h.addr, "healthy": ok})));
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
        println!("{name}");
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
            }
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
    Ok(if healthy { 0 } else { 1 })
}
