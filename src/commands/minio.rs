//! `pigsty minio add CLUSTER [IP...]` and `pigsty minio rm CLUSTER [IP...]`.
//!
//! add: NODE then MINIO on the cluster's members (or the named ones), then INFRA so
//! Prometheus scrapes them. rm: asks for the cluster name typed back (or `--yes`),
//! honours `minio_safeguard`, stops the members and deletes their data when
//! `minio_rm_data` (default true).
use super::confirm;
use super::deploy;
use crate::cli::Global;
use crate::controller::Phase;
use crate::inventory::{Host, Inventory, Module};
use anyhow::{bail, Result};
use std::collections::BTreeMap;

fn pick<'a>(inv: &'a Inventory, cluster: &str, hosts: &[String]) -> Result<Vec<&'a Host>> {
    let members = inv.minio_members(cluster);
    if members.is_empty() {
        bail!(
            "no minio cluster `{cluster}` in `{}`; nothing was changed\nhint: minio clusters: {}",
            inv.path.display(),
            inv.minio_clusters().join(", ")
        );
    }
    if hosts.is_empty() {
        return Ok(members);
    }
    let mut out = vec![];
    for a in hosts {
        match members.iter().find(|m| m.addr == *a) {
            Some(m) => out.push(*m),
            None => bail!(
                "`{a}` is not a member of minio cluster `{cluster}`; nothing was changed\nhint: members: {}",
                members.iter().map(|m| m.addr.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(out)
}

fn addrs(hs: &[&Host]) -> Vec<String> {
    hs.iter().map(|h| h.addr.clone()).collect()
}

pub fn add(g: &Global, cluster: &str, hosts: &[String]) -> Result<u8> {
    let inv = deploy::load_inventory(g)?;
    let picked = addrs(&pick(&inv, cluster, hosts)?);
    deploy::require_secrets(&inv)?;
    // The first member provisions the layout: with new members, it runs too.
    let mut minio_hosts = picked.clone();
    if let Some(first) = inv.minio_members(cluster).first() {
        if !minio_hosts.contains(&first.addr) {
            minio_hosts.push(first.addr.clone());
        }
    }
    let opts = deploy::options(g, 16, false)?;
    let phases = vec![
        Phase {
            module: Module::Node,
            hosts: picked.clone(),
            remove: false,
        },
        Phase {
            module: Module::Minio,
            hosts: minio_hosts,
            remove: false,
        },
    ];
    let (code, _) = deploy::run_phases(g, &inv, phases, &opts);
    if code != 0 {
        return Ok(code);
    }
    super::pgsql_members::refresh_monitoring(g, &inv, 16)
}

pub fn rm(g: &Global, cluster: &str, hosts: &[String], yes: bool) -> Result<u8> {
    let inv = deploy::load_inventory(g)?;
    let gone = pick(&inv, cluster, hosts)?;
    let guarded: Vec<&str> = gone
        .iter()
        .filter(|h| h.var_bool("minio_safeguard"))
        .map(|h| h.addr.as_str())
        .collect();
    if !guarded.is_empty() {
        bail!(
            "minio_safeguard is on for {}; refusing to remove; nothing was changed\nhint: set `minio_safeguard: false` (or pass -e minio_safeguard=false) when you mean it",
            guarded.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
        );
    }
    let whole = gone.len() == inv.minio_members(cluster).len();
    if !whole
        && gone.iter().any(|h| {
            inv.minio_members(cluster)
                .first()
                .map(|f| f.addr == h.addr)
                .unwrap_or(false)
        })
    {
        bail!("the first member of `{cluster}` manages its layout; remove it only with the whole cluster; nothing was changed");
    }
    let mut what = format!(
        "remove {} member(s) of minio cluster `{cluster}`{}:",
        gone.len(),
        if whole { " (the whole cluster)" } else { "" }
    );
    for h in &gone {
        what.push_str(&format!(
            "\n  {}: stop the S3 server{}",
            h.addr,
            if h.var_bool("minio_rm_data") {
                format!(", delete its data ({})", h.var_str("minio_data"))
            } else {
                ", keep its data (minio_rm_data: false)".into()
            }
        ));
    }
    if yes {
        eprintln!("{what}");
    } else {
        confirm(cluster, &what)?;
    }
    let gone_addrs = addrs(&gone);
    let forget = BTreeMap::from([(Module::Minio.to_string(), gone_addrs.clone())]);
    let mut opts = deploy::options(g, 16, false)?;
    opts.forget = forget.clone();
    let phases = vec![Phase {
        module: Module::Minio,
        hosts: gone_addrs.clone(),
        remove: true,
    }];
    let (code, _) = deploy::run_phases(g, &inv, phases, &opts);
    if code != 0 {
        return Ok(code);
    }
    let infra: Vec<String> = inv.infra_hosts().iter().map(|h| h.addr.clone()).collect();
    if !infra.is_empty() {
        let (c, _) = deploy::run_phases(
            g,
            &inv,
            vec![Phase {
                module: Module::Infra,
                hosts: infra,
                remove: false,
            }],
            &opts,
        );
        if c != 0 {
            return Ok(c);
        }
    }
    eprintln!(
        "removed {} from minio cluster `{cluster}`; hint: take {} out of the inventory",
        gone_addrs.join(", "),
        if gone_addrs.len() == 1 { "it" } else { "them" }
    );
    Ok(0)
}
