//! `pigsty node rm IP...`: take machines out of management. Refused while the
//! inventory still gives a host another module (remove that first: `pigsty pgsql rm`,
//! `pigsty etcd rm`, ... then take it out of those groups). Asks for the address typed
//! back (or `--yes`). Each host stops the services NODE runs for pigsty, and the
//! infra nodes drop its Prometheus targets.
use super::confirm;
use super::deploy;
use crate::cli::Global;
use crate::controller::Phase;
use crate::inventory::Module;
use anyhow::{bail, Result};
use std::collections::BTreeMap;

pub fn rm(g: &Global, hosts: &[String], yes: bool) -> Result<u8> {
    if hosts.is_empty() {
        bail!("name at least one address");
    }
    let inv = deploy::load_inventory(g)?;
    for a in hosts {
        let Some(h) = inv.host(a) else {
            bail!(
                "`{a}` is not in `{}`; nothing was changed",
                inv.path.display()
            );
        };
        let other: Vec<String> = h
            .modules()
            .into_iter()
            .filter(|m| *m != Module::Node)
            .map(|m| m.to_string())
            .collect();
        if !other.is_empty() {
            bail!(
                "`{a}` still carries {} in `{}`; nothing was changed\nhint: remove {} first (e.g. `pigsty pgsql rm CLUSTER {a}`), then take the host out of those groups",
                other.join(", "),
                inv.path.display(),
                if other.len() == 1 { "it" } else { "them" }
            );
        }
    }
    let what = format!(
        "take {} out of management: stop node_exporter and haproxy, drop the prometheus targets",
        hosts.join(", ")
    );
    if yes {
        eprintln!("{what}");
    } else {
        confirm(&hosts[0], &what)?;
    }
    let mut opts = deploy::options(g, 16, false)?;
    opts.forget = BTreeMap::from([(Module::Node.to_string(), hosts.to_vec())]);
    let mut phases = vec![Phase {
        module: Module::Node,
        hosts: hosts.to_vec(),
        remove: true,
    }];
    let infra: Vec<String> = inv
        .infra_hosts()
        .iter()
        .map(|h| h.addr.clone())
        .filter(|a| !hosts.contains(a))
        .collect();
    if !infra.is_empty() {
        phases.push(Phase {
            module: Module::Infra,
            hosts: infra,
            remove: false,
        });
    }
    Ok(deploy::run_phases(g, &inv, phases, &opts).0)
}
