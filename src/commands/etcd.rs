//! `pigsty etcd add IP...` and `pigsty etcd rm IP...`: grow or shrink the DCS.
//!
//! add: the hosts must be in group `etcd` of the inventory. NODE, then ETCD with
//! `etcd_init=existing`: each new member is announced (`etcdctl member add`) before it
//! starts. Then the other members' bootstrap settings and the Prometheus targets are
//! refreshed. Patroni's list of etcd endpoints changes only with a PGSQL deploy.
//!
//! rm: asks for the etcd cluster name typed back (or `--yes`), honours
//! `etcd_safeguard`, never removes every member. Each host leaves the member list
//! (through the others), stops, and loses its etcd data and settings.
use super::confirm;
use super::deploy;
use crate::cli::Global;
use crate::controller::Phase;
use crate::inventory::{Host, Inventory, Module};
use anyhow::{bail, Result};
use std::collections::BTreeMap;

fn pick<'a>(inv: &'a Inventory, hosts: &[String]) -> Result<Vec<&'a Host>> {
    if hosts.is_empty() {
        bail!("name at least one address of group `etcd`");
    }
    let members = inv.etcd_members();
    let mut out = vec![];
    for a in hosts {
        match members.iter().find(|m| m.addr == *a) {
            Some(m) => out.push(*m),
            None => bail!(
                "`{a}` is not in group `etcd` of `{}`; nothing was changed\nhint: add it under `etcd.hosts` with an `etcd_seq` first (members: {})",
                inv.path.display(),
                members.iter().map(|m| m.addr.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(out)
}

fn addrs(hs: &[&Host]) -> Vec<String> {
    hs.iter().map(|h| h.addr.clone()).collect()
}

/// The rest of the DCS learns the change: ETCD on the remaining members (bootstrap
/// settings), INFRA on the infra nodes (targets).
fn refresh(
    g: &Global,
    inv: &Inventory,
    rest: Vec<String>,
    forget: BTreeMap<String, Vec<String>>,
) -> Result<u8> {
    let mut phases = vec![];
    if !rest.is_empty() {
        phases.push(Phase {
            module: Module::Etcd,
            hosts: rest,
            remove: false,
        });
    }
    let infra: Vec<String> = inv.infra_hosts().iter().map(|h| h.addr.clone()).collect();
    if !infra.is_empty() {
        phases.push(Phase {
            module: Module::Infra,
            hosts: infra,
            remove: false,
        });
    }
    if phases.is_empty() {
        return Ok(0);
    }
    let mut opts = deploy::options(g, 16, false)?;
    opts.forget = forget;
    Ok(deploy::run_phases(g, inv, phases, &opts).0)
}

pub fn add(g: &Global, hosts: &[String]) -> Result<u8> {
    let inv = deploy::load_inventory(g)?;
    let new = pick(&inv, hosts)?;
    let new_addrs = addrs(&new);
    let rest: Vec<String> = inv
        .etcd_members()
        .iter()
        .filter(|m| !new_addrs.contains(&m.addr))
        .map(|m| m.addr.clone())
        .collect();
    if rest.is_empty() {
        bail!("every member of group `etcd` is named: that is a new cluster, not members added to one; nothing was changed\nhint: `pigsty deploy -l etcd` creates it");
    }
    deploy::require_secrets(&inv)?;
    let mut opts = deploy::options(g, 16, false)?;
    let node = Phase {
        module: Module::Node,
        hosts: new_addrs.clone(),
        remove: false,
    };
    let (code, _) = deploy::run_phases(g, &inv, vec![node], &opts);
    if code != 0 {
        return Ok(code);
    }
    // One member at a time: etcd admits a member only while the cluster has quorum
    // without it, and the member's initial cluster must list exactly the members at
    // that moment (the ones already there, the earlier new ones, itself).
    opts.extra_vars.push("etcd_init=existing".into());
    for (i, a) in new_addrs.iter().enumerate() {
        opts.forget = BTreeMap::from([(Module::Etcd.to_string(), new_addrs[i + 1..].to_vec())]);
        let phase = Phase {
            module: Module::Etcd,
            hosts: vec![a.clone()],
            remove: false,
        };
        let (code, _) = deploy::run_phases(g, &inv, vec![phase], &opts);
        if code != 0 {
            return Ok(code);
        }
    }
    let code = refresh(g, &inv, rest, BTreeMap::new())?;
    eprintln!(
        "added {} to etcd; hint: `pigsty deploy -m pgsql` gives Patroni the new endpoint list",
        new_addrs.join(", ")
    );
    Ok(code)
}

pub fn rm(g: &Global, hosts: &[String], yes: bool) -> Result<u8> {
    let inv = deploy::load_inventory(g)?;
    let gone = pick(&inv, hosts)?;
    let gone_addrs = addrs(&gone);
    let members = inv.etcd_members();
    let rest: Vec<String> = members
        .iter()
        .filter(|m| !gone_addrs.contains(&m.addr))
        .map(|m| m.addr.clone())
        .collect();
    if rest.is_empty() {
        bail!("that is every etcd member: every pgsql cluster would lose its DCS; nothing was changed\nhint: remove the pgsql clusters first, or keep at least one member");
    }
    let guarded: Vec<&str> = gone
        .iter()
        .filter(|h| h.var_bool("etcd_safeguard"))
        .map(|h| h.addr.as_str())
        .collect();
    if !guarded.is_empty() {
        bail!(
            "etcd_safeguard is on for {}; refusing to remove; nothing was changed\nhint: set `etcd_safeguard: false` for it in the inventory (or pass -e etcd_safeguard=false) when you mean it",
            guarded.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
        );
    }
    let cluster = gone[0]
        .id
        .etcd_cluster
        .clone()
        .unwrap_or_else(|| "etcd".into());
    let mut what = format!(
        "remove {} member(s) of etcd cluster `{cluster}` ({} left):",
        gone.len(),
        rest.len()
    );
    for h in &gone {
        what.push_str(&format!(
            "\n  {}: leave the member list, stop etcd, delete its data ({})",
            h.addr,
            h.var_str("etcd_data")
        ));
    }
    if rest.len() % 2 == 0 {
        what.push_str(&format!(
            "\n  note: {} members left; an even count tolerates no more failures than one fewer",
            rest.len()
        ));
    }
    if yes {
        eprintln!("{what}");
    } else {
        confirm(&cluster, &what)?;
    }
    let forget = BTreeMap::from([(Module::Etcd.to_string(), gone_addrs.clone())]);
    let mut opts = deploy::options(g, 1, false)?; // one at a time: quorum stays
    opts.forget = forget.clone();
    let phases = vec![Phase {
        module: Module::Etcd,
        hosts: gone_addrs.clone(),
        remove: true,
    }];
    let (code, _) = deploy::run_phases(g, &inv, phases, &opts);
    if code != 0 {
        return Ok(code);
    }
    let code = refresh(g, &inv, rest, forget)?;
    eprintln!(
        "removed {} from etcd; hint: take {} out of group `etcd` in `{}` and run `pigsty deploy -m pgsql` so Patroni stops asking {}",
        gone_addrs.join(", "),
        if gone_addrs.len() == 1 { "it" } else { "them" },
        inv.path.display(),
        if gone_addrs.len() == 1 { "it" } else { "them" }
    );
    Ok(code)
}
