//! Names against their character sets (`crate::names`): cluster names, the database
//! superuser, `ca_cn`. Users, databases, schemas and `pg_default_privileges` are
//! checked per cluster with the other business objects (`inventory/business.rs`).
//! Each bad value is reported once, at the line that sets it.
use super::*;
use crate::names::{check, Kind};
use std::collections::BTreeSet;

const KEYS: &[(&str, Kind, &str)] = &[
    ("pg_cluster", Kind::Cluster, "cluster name"),
    ("redis_cluster", Kind::Cluster, "cluster name"),
    ("minio_cluster", Kind::Cluster, "cluster name"),
    ("etcd_cluster", Kind::Cluster, "cluster name"),
    ("node_cluster", Kind::Cluster, "cluster name"),
    ("pg_dbsu", Kind::OsUser, "user name"),
    ("ca_cn", Kind::CommonName, "CA common name"),
];

pub(super) fn names(inv: &Inventory, out: &mut Vec<Diag>) {
    let mut seen: BTreeSet<(String, String, Option<usize>)> = BTreeSet::new();
    for h in &inv.hosts {
        for &(key, kind, what) in KEYS {
            let Some(v) = h.vars.get(key).and_then(Value::as_str) else {
                continue;
            };
            let Err(why) = check(kind, v) else { continue };
            let d = error(inv, h, key, format!("{what} `{v}` {why}"), None);
            // set once in `all.vars` it would be reported for every host, and
            // `node_cluster` taken from `pg_cluster` would repeat it: once per line
            if seen.insert((v.to_string(), d.file.clone(), d.line)) {
                out.push(d);
            }
        }
    }
}
