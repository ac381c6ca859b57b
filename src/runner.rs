//! Helpers shared by the commands that converge hosts: module selection, finding this
//! machine in the inventory, and the preflight refusals (not root, unsupported OS).
use crate::facts::Facts;
use crate::inventory::{Host, Inventory, Module};
use anyhow::{bail, Result};
use std::collections::BTreeSet;

/// Parse `-m node,pgsql` into modules.
pub fn parse_modules(s: Option<&str>) -> Result<Option<BTreeSet<Module>>> {
    let Some(s) = s else { return Ok(None) };
    let mut set = BTreeSet::new();
    for m in s.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let parsed: Module = m
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown module `{m}` in `-m`\nhint: modules are node, infra, etcd, minio, pgsql, redis"))?;
        set.insert(parsed);
    }
    Ok(Some(set))
}

/// The inventory host that is this machine (one of its IPv4 addresses, or a loopback name).
pub fn local_host<'a>(inv: &'a Inventory, facts: &Facts) -> Result<&'a Host> {
    let mine = |a: &str| {
        facts.ipv4.iter().any(|ip| ip == a)
            || a == "127.0.0.1"
            || a == "localhost"
            || a == facts.hostname
    };
    let found: Vec<&Host> = inv.hosts.iter().filter(|h| mine(&h.addr)).collect();
    match found.as_slice() {
        [h] => Ok(h),
        [] => bail!(
            "this machine ({}) is not a host in `{}`\nhint: hosts in the inventory: {}",
            if facts.ipv4.is_empty() {
                facts.hostname.clone()
            } else {
                facts.ipv4.join(", ")
            },
            inv.path.display(),
            inv.hosts
                .iter()
                .map(|h| h.addr.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        many => bail!(
            "this machine matches several inventory hosts: {}",
            many.iter()
                .map(|h| h.addr.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Refuse early on what cannot work: not root, unsupported OS, no systemd.
pub fn preflight(facts: &Facts, verb: &str) -> Result<()> {
    if !facts.is_root {
        bail!("`pigsty {verb}` must run as root: it installs packages, writes /etc and manages services\nhint: sudo pigsty {verb}");
    }
    if !facts.supported() {
        bail!(
            "unsupported OS `{} {}`: pigsty converges Debian 12 (bookworm) and 13 (trixie); nothing was changed",
            if facts.os_id.is_empty() { "unknown" } else { &facts.os_id },
            facts.os_version_id
        );
    }
    if !facts.has_systemd {
        bail!("systemd is not running on this machine (`/run/systemd/system` is missing); pigsty runs services under systemd");
    }
    Ok(())
}
