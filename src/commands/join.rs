//! `pigsty join IP...` and `pigsty node add IP...`: bring machines that the inventory
//! describes under management over SSH: copy this binary there, then converge NODE
//! (`node add`) or NODE plus every module the inventory gives them (`join`).
use crate::cli::{Global, Target};
use crate::engine::Mode;
use anyhow::{bail, Result};

/// Converge `hosts` (which must be in the inventory) with `modules` (None: all theirs).
pub fn converge_hosts(
    g: &Global,
    hosts: &[String],
    target: &Target,
    modules: Option<&str>,
    accept_new: bool,
) -> Result<u8> {
    if hosts.is_empty() {
        bail!("name at least one address");
    }
    let inv = super::deploy::load_inventory(g)?;
    let missing: Vec<&str> = hosts
        .iter()
        .filter(|h| inv.host(h).is_none())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} not in `{}`; nothing was changed\nhint: describe each machine in the inventory first (for example under a cluster's `hosts:`), then run this again",
            missing.iter().map(|h| format!("`{h}` is")).collect::<Vec<_>>().join(", "),
            inv.path.display()
        );
    }
    let mut t = target.clone();
    t.limit = Some(hosts.join(","));
    if let Some(m) = modules {
        t.modules = Some(m.to_string());
    }
    let (code, _) = super::deploy::converge(g, &inv, &t, Mode::Apply, accept_new)?;
    if code != 0 {
        return Ok(code);
    }
    // Prometheus on the infra nodes learns the new hosts' targets.
    let joined_infra = inv.infra_hosts().iter().all(|h| hosts.contains(&h.addr));
    if joined_infra {
        return Ok(0);
    }
    super::pgsql_members::refresh_monitoring(g, &inv, target.forks)
}
