//! `pigsty redis add CLUSTER [IP [PORT]]` and `pigsty redis rm CLUSTER [IP [PORT]]`
//! (Pigsty's `bin/redis-add` / `bin/redis-rm`).
//!
//! - `add` converges NODE and REDIS on the cluster's nodes (or the one named), then
//!   INFRA on the infra nodes so Prometheus scrapes the new instances. Existing
//!   instances are left as they are (a re-run changes nothing).
//! - `rm` asks for the cluster name to be typed back (or `--yes`), refuses when
//!   `redis_safeguard` is on, stops and removes the instances (and their data unless
//!   `redis_rm_data: false`), then drops their scrape targets. The inventory is not
//!   edited: remove the cluster from it too, or the next `deploy` creates it again.
use super::confirm;
use crate::cli::Global;
use crate::controller::{self, Options};
use crate::engine::Mode;
use crate::inventory::{Host, Inventory, Module};
use crate::report::Reporter;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The cluster's hosts that `host` (and `port`) select, with the ports named.
fn targets<'a>(
    inv: &'a Inventory,
    cluster: &str,
    host: Option<&str>,
    port: Option<u16>,
) -> Result<Vec<(&'a Host, Vec<u16>)>> {
    let members = inv.redis_members(cluster);
    if members.is_empty() {
        bail!(
            "no redis cluster `{cluster}` in `{}`\nhint: redis clusters: {}",
            inv.path.display(),
            if inv.redis_clusters().is_empty() {
                "(none)".to_string()
            } else {
                inv.redis_clusters().join(", ")
            }
        );
    }
    let Some(ip) = host else {
        return Ok(members.into_iter().map(|h| (h, vec![])).collect());
    };
    let Some(h) = members.iter().find(|h| h.addr == ip) else {
        bail!(
            "`{ip}` is not a node of redis cluster `{cluster}`\nhint: its nodes: {}",
            members
                .iter()
                .map(|h| h.addr.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    match port {
        None => Ok(vec![(h, vec![])]),
        Some(p) if h.id.redis_ports.contains(&p) => Ok(vec![(h, vec![p])]),
        Some(p) => bail!(
            "port {p} is not an instance of `{ip}` in redis cluster `{cluster}`\nhint: its ports: {}",
            h.id.redis_ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Run `modules` on `hosts`, then INFRA on the infra nodes (scrape targets).
fn converge(
    g: &Global,
    inv: &Inventory,
    hosts: &[&Host],
    modules: &[Module],
    extra: Vec<String>,
) -> Result<u8> {
    let mut extra_vars = controller::inline_extra_vars(&g.extra_vars)?;
    extra_vars.extend(extra);
    let rep = Mutex::new(Reporter::new(g.json, false));
    let opts = |m: &[Module]| Options {
        mode: Mode::Apply,
        forks: 16,
        accept_new_host_keys: false,
        modules: Some(m.iter().copied().collect::<BTreeSet<_>>()),
        extra_vars: extra_vars.clone(),
        forget: Default::default(),
    };
    let mut failed = controller::run(inv, hosts, &opts(modules), &rep).failed;
    if failed.is_empty() {
        let infra = inv.infra_hosts();
        if !infra.is_empty() {
            failed = controller::run(inv, &infra, &opts(&[Module::Infra]), &rep).failed;
        }
    }
    let rep = rep.into_inner().unwrap_or_else(|p| p.into_inner());
    rep.recap();
    Ok(super::deploy::report_failed(&failed))
}

fn need_secrets(inv: &Inventory) -> Result<()> {
    super::deploy::require_secrets(inv)?;
    Ok(())
}

pub fn add(g: &Global, cluster: &str, host: Option<&str>, port: Option<u16>) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let t = targets(&inv, cluster, host, port)?;
    need_secrets(&inv)?;
    let hosts: Vec<&Host> = t.iter().map(|(h, _)| *h).collect();
    converge(g, &inv, &hosts, &[Module::Node, Module::Redis], vec![])
}

pub fn rm(
    g: &Global,
    cluster: &str,
    host: Option<&str>,
    port: Option<u16>,
    yes: bool,
) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let t = targets(&inv, cluster, host, port)?;
    if let Some((h, _)) = t
        .iter()
        .find(|(h, _)| h.bool("redis_safeguard") == Some(true))
    {
        bail!(
            "`redis_safeguard` is on for redis cluster `{cluster}` (host `{}`); nothing was removed\nhint: set `redis_safeguard: false` in the inventory (or `-e redis_safeguard=false`) to allow it",
            h.addr
        );
    }
    let list: Vec<String> = t
        .iter()
        .flat_map(|(h, ports)| {
            let ports = if ports.is_empty() {
                h.id.redis_ports.clone()
            } else {
                ports.clone()
            };
            ports
                .into_iter()
                .map(|p| {
                    crate::modules::redis::instance_name(cluster, h.id.redis_node.unwrap_or(0), p)
                        + &format!(" ({}:{p})", h.addr)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let what = format!(
        "remove redis instances of `{cluster}`, with their data: {}",
        list.join(", ")
    );
    if yes {
        eprintln!("{what}");
    } else {
        confirm(cluster, &what)?;
    }
    let remove: BTreeMap<String, Vec<u16>> =
        t.iter().map(|(h, p)| (h.addr.clone(), p.clone())).collect();
    let extra = serde_json::json!({ "redis_remove": remove }).to_string();
    let hosts: Vec<&Host> = t.iter().map(|(h, _)| *h).collect();
    converge(g, &inv, &hosts, &[Module::Redis], vec![extra])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::redis::tests::DEMO;

    #[test]
    fn targets_name_unknown_clusters_hosts_and_ports() {
        let inv = Inventory::from_str("redis.yml", DEMO, &[]).unwrap();
        assert!(targets(&inv, "nope", None, None)
            .unwrap_err()
            .to_string()
            .contains("redis clusters: redis-ms, redis-meta, redis-test"));
        assert!(targets(&inv, "redis-ms", Some("10.10.10.99"), None)
            .unwrap_err()
            .to_string()
            .contains("its nodes: 10.10.10.10"));
        assert!(targets(&inv, "redis-ms", Some("10.10.10.10"), Some(7000))
            .unwrap_err()
            .to_string()
            .contains("its ports: 6379, 6380"));
        let t = targets(&inv, "redis-test", None, None).unwrap();
        assert_eq!(t.len(), 2);
        let t = targets(&inv, "redis-ms", Some("10.10.10.10"), Some(6380)).unwrap();
        assert_eq!(t[0].1, vec![6380]);
    }
}
