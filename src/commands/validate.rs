//! `pigsty validate`: load and check an inventory (types, identities, clusters, ports,
//! credentials), then print its clusters and each host's modules. Exit 0 when valid,
//! 1 with every problem listed when not. Warnings go to stderr, the summary to stdout;
//! `--json` prints one JSON object instead.
use crate::cli::Global;
use crate::inventory::{Diag, Host, Inventory, InventoryError, Module, Severity};
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeSet;

pub fn run(g: &Global) -> Result<u8> {
    let path = g.inventory_path();
    let file = path.display().to_string();
    let (inv, diags) = match Inventory::load(&path, &g.extra_vars) {
        Ok(inv) => {
            let mut d = inv.check_secrets();
            d.extend(inv.check_unsupported());
            d.extend(inv.warnings.iter().cloned());
            (Some(inv), d)
        }
        Err(InventoryError::Invalid(d)) => (None, d),
        Err(InventoryError::Yaml {
            file,
            line,
            col,
            msg,
        }) => (
            None,
            vec![Diag {
                severity: Severity::Error,
                file,
                line: Some(line),
                host: None,
                key: None,
                message: format!("invalid YAML (column {col}): {msg}"),
                hint: None,
            }],
        ),
        Err(e) => return Err(e.into()),
    };
    let (errors, warnings): (Vec<Diag>, Vec<Diag>) = diags.into_iter().partition(Diag::is_error);
    let valid = errors.is_empty();

    if g.json {
        let mut out =
            json!({ "file": file, "valid": valid, "errors": errors, "warnings": warnings });
        if let (Some(inv), true) = (&inv, valid) {
            out["clusters"] = clusters_json(inv);
            out["hosts"] = inv.hosts.iter().map(host_json).collect();
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(if valid { 0 } else { 1 });
    }

    let mut hints = BTreeSet::new();
    for w in &warnings {
        eprintln!("warning: {}", with_hint_once(w, &mut hints));
    }
    if !valid {
        let n = errors.len();
        eprintln!(
            "error: inventory `{file}` is invalid: {n} problem{}",
            if n == 1 { "" } else { "s" }
        );
        for e in &errors {
            eprintln!("{}", with_hint_once(e, &mut hints));
        }
        eprintln!("nothing was changed");
        return Ok(1);
    }
    if let Some(inv) = &inv {
        print!("{}", summary(inv));
    }
    Ok(0)
}

/// A diagnostic with its hint, unless the same hint was already printed.
fn with_hint_once(d: &Diag, seen: &mut BTreeSet<String>) -> String {
    let mut d = d.clone();
    if let Some(h) = &d.hint {
        if !seen.insert(h.clone()) {
            d.hint = None;
        }
    }
    d.to_string()
}

/// One row of the cluster table.
struct Row {
    module: &'static str,
    cluster: String,
    seq: String,
    role: String,
    host: String,
    name: String,
}

fn seq(s: Option<u32>) -> String {
    s.map(|s| s.to_string()).unwrap_or_default()
}

fn rows(inv: &Inventory) -> Vec<Row> {
    let mut v = Vec::new();
    for c in inv.pg_clusters() {
        for h in inv.cluster_members(c) {
            let mut role = h.id.pg_role.map(|r| r.to_string()).unwrap_or_default();
            if let Some(up) = &h.id.pg_upstream {
                role.push_str(&format!(" (upstream {up})"));
            }
            v.push(Row {
                module: "pgsql",
                cluster: c.to_string(),
                seq: seq(h.id.pg_seq),
                role,
                host: h.addr.clone(),
                name: h.id.pg_instance.clone().unwrap_or_default(),
            });
        }
    }
    for h in inv.etcd_members() {
        v.push(Row {
            module: "etcd",
            cluster: h.id.etcd_cluster.clone().unwrap_or_default(),
            seq: seq(h.id.etcd_seq),
            role: String::new(),
            host: h.addr.clone(),
            name: String::new(),
        });
    }
    for h in inv.infra_hosts() {
        v.push(Row {
            module: "infra",
            cluster: "infra".into(),
            seq: seq(h.id.infra_seq),
            role: String::new(),
            host: h.addr.clone(),
            name: String::new(),
        });
    }
    for c in inv.minio_clusters() {
        for h in inv.minio_members(c) {
            v.push(Row {
                module: "minio",
                cluster: c.to_string(),
                seq: seq(h.id.minio_seq),
                role: String::new(),
                host: h.addr.clone(),
                name: String::new(),
            });
        }
    }
    for c in inv.redis_clusters() {
        for h in inv.redis_members(c) {
            let ports: Vec<String> = h.id.redis_ports.iter().map(u16::to_string).collect();
            v.push(Row {
                module: "redis",
                cluster: c.to_string(),
                seq: seq(h.id.redis_node),
                role: h.str("redis_mode").unwrap_or_default().to_string(),
                host: h.addr.clone(),
                name: format!("ports {}", ports.join(",")),
            });
        }
    }
    v
}

/// Left-aligned columns separated by two spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn modules(h: &Host) -> String {
    h.modules()
        .iter()
        .map(Module::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The human summary: clusters, then hosts.
fn summary(inv: &Inventory) -> String {
    let cl: Vec<Vec<String>> = rows(inv)
        .into_iter()
        .map(|r| vec![r.module.into(), r.cluster, r.seq, r.role, r.host, r.name])
        .collect();
    let hosts: Vec<Vec<String>> = inv
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.addr.clone(),
                h.id.nodename.clone().unwrap_or_else(|| "-".into()),
                modules(h),
                h.groups.join(","),
            ]
        })
        .collect();
    let mut out = String::new();
    if !cl.is_empty() {
        out.push_str(&table(
            &["MODULE", "CLUSTER", "SEQ", "ROLE", "HOST", "NAME"],
            &cl,
        ));
        out.push('\n');
    }
    out.push_str(&table(&["HOST", "NODENAME", "MODULES", "GROUPS"], &hosts));
    let n = inv.hosts.len();
    out.push_str(&format!(
        "\ninventory `{}` is valid: {n} host{}, {} pgsql cluster{}\n",
        inv.file(),
        if n == 1 { "" } else { "s" },
        inv.pg_clusters().len(),
        if inv.pg_clusters().len() == 1 {
            ""
        } else {
            "s"
        }
    ));
    out
}

fn clusters_json(inv: &Inventory) -> Value {
    let pgsql: Vec<Value> = inv
        .pg_clusters()
        .into_iter()
        .map(|c| {
            let members: Vec<Value> = inv
                .cluster_members(c)
                .into_iter()
                .map(|h| {
                    json!({ "seq": h.id.pg_seq, "role": h.id.pg_role, "host": h.addr,
                            "instance": h.id.pg_instance, "upstream": h.id.pg_upstream })
                })
                .collect();
            json!({ "name": c, "members": members })
        })
        .collect();
    let etcd: Vec<Value> = inv
        .etcd_members()
        .into_iter()
        .map(|h| json!({ "seq": h.id.etcd_seq, "host": h.addr }))
        .collect();
    let infra: Vec<Value> = inv
        .infra_hosts()
        .into_iter()
        .map(|h| json!({ "seq": h.id.infra_seq, "host": h.addr }))
        .collect();
    let minio: Vec<Value> = inv
        .minio_clusters()
        .into_iter()
        .map(|c| {
            let m: Vec<Value> = inv
                .minio_members(c)
                .into_iter()
                .map(|h| json!({ "seq": h.id.minio_seq, "host": h.addr }))
                .collect();
            json!({ "name": c, "members": m })
        })
        .collect();
    let redis: Vec<Value> = inv
        .redis_clusters()
        .into_iter()
        .map(|c| {
            let members = inv.redis_members(c);
            let mode = members.first().and_then(|h| h.str("redis_mode"));
            let m: Vec<Value> = members
                .iter()
                .map(|h| json!({ "node": h.id.redis_node, "host": h.addr, "ports": h.id.redis_ports }))
                .collect();
            json!({ "name": c, "mode": mode, "members": m })
        })
        .collect();
    let etcd_name = inv
        .etcd_members()
        .first()
        .and_then(|h| h.id.etcd_cluster.clone());
    json!({
        "pgsql": pgsql,
        "etcd": if etcd.is_empty() { Value::Null } else { json!({ "name": etcd_name, "members": etcd }) },
        "infra": infra,
        "minio": minio,
        "redis": redis,
    })
}

fn host_json(h: &Host) -> Value {
    json!({
        "addr": h.addr,
        "nodename": h.id.nodename,
        "node_cluster": h.id.node_cluster,
        "modules": h.modules(),
        "groups": h.groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = "
all:
  children:
    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
    etcd: { hosts: { 10.10.10.10: { etcd_seq: 1 } } }
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12: { pg_seq: 2, pg_role: replica }
      vars: { pg_cluster: pg-test }
";

    #[test]
    fn summary_lists_clusters_then_hosts() {
        let inv = Inventory::from_str("pigsty.yml", INV, &[]).expect("valid");
        let s = summary(&inv);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[0].starts_with("MODULE  CLUSTER"), "{s}");
        assert!(
            lines[1].starts_with("pgsql   pg-test  1    primary  10.10.10.11  pg-test-1"),
            "{s}"
        );
        assert!(
            s.contains("etcd    etcd     1             10.10.10.10"),
            "{s}"
        );
        assert!(s.contains("10.10.10.10  -          node,infra,etcd"), "{s}");
        assert!(s.contains("10.10.10.12  pg-test-2  node,pgsql"), "{s}");
        assert!(s.ends_with("is valid: 3 hosts, 1 pgsql cluster\n"), "{s}");
    }

    #[test]
    fn json_shape_names_clusters_and_hosts() {
        let inv = Inventory::from_str("pigsty.yml", INV, &[]).expect("valid");
        let c = clusters_json(&inv);
        assert_eq!(c["pgsql"][0]["members"][1]["role"], json!("replica"));
        assert_eq!(c["etcd"]["name"], json!("etcd"));
        assert_eq!(
            host_json(&inv.hosts[0])["modules"],
            json!(["node", "infra", "etcd"])
        );
    }

    #[test]
    fn a_repeated_hint_is_printed_once() {
        let d = Diag {
            severity: Severity::Warning,
            file: "f".into(),
            line: Some(1),
            host: None,
            key: Some("k".into()),
            message: "m".into(),
            hint: Some("h".into()),
        };
        let mut seen = BTreeSet::new();
        assert!(with_hint_once(&d, &mut seen).contains("hint: h"));
        assert!(!with_hint_once(&d, &mut seen).contains("hint"));
    }
}
