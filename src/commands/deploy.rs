//! `pigsty deploy`: converge every selected host of the inventory. This build
//! converges the local host; remote hosts over SSH land with `pigsty join`.
use crate::cli::{DeployArgs, Global, Target};
use crate::engine::Mode;
use crate::facts::Facts;
use crate::inventory::Inventory;
use crate::report::Reporter;
use crate::runner;
use anyhow::{bail, Result};

/// Load the inventory named by the global flags, printing its warnings on stderr.
pub fn load_inventory(g: &Global) -> Result<Inventory> {
    let path = g.inventory_path();
    if !path.exists() {
        bail!(
            "inventory `{}` not found\nhint: `pigsty configure` writes one for this host, or pass -i FILE",
            path.display()
        );
    }
    let inv = Inventory::load(&path, &g.extra_vars)?;
    for w in &inv.warnings {
        tracing::warn!("{w}");
    }
    Ok(inv)
}

/// Check that the selection only names this machine (remote hosts are not built yet).
pub fn local_only(inv: &Inventory, t: &Target, facts: &Facts) -> Result<()> {
    let me = runner::local_host(inv, facts)?;
    let selected = inv.select(t.limit.as_deref())?;
    let remote: Vec<&str> = selected.iter().filter(|h| h.addr != me.addr).map(|h| h.addr.as_str()).collect();
    if !remote.is_empty() {
        bail!(
            "converging remote hosts ({}) over SSH is not built yet; nothing was changed\nhint: `-l {}` converges this machine",
            remote.join(", "),
            me.addr
        );
    }
    if !selected.iter().any(|h| h.addr == me.addr) {
        bail!("the selection `{}` does not include this machine (`{}`)", t.limit.as_deref().unwrap_or(""), me.addr);
    }
    Ok(())
}

/// Converge the local host; prints progress and the recap. Returns the exit code.
pub fn converge(g: &Global, inv: &Inventory, t: &Target, mode: Mode) -> Result<(u8, Reporter)> {
    let facts = Facts::gather();
    if mode == Mode::Apply {
        runner::preflight(&facts, "deploy")?;
    }
    local_only(inv, t, &facts)?;
    if mode == Mode::Apply {
        let missing = inv.check_secrets();
        if !missing.is_empty() {
            bail!(
                "the inventory lacks required credentials:\n{}",
                missing.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
            );
        }
    }
    let mods = runner::parse_modules(t.modules.as_deref())?;
    let mut rep = Reporter::new(g.json, mode == Mode::Check);
    let res = runner::converge_local(inv, mods.as_ref(), mode, &mut rep);
    rep.recap();
    match res {
        Ok(()) => Ok((0, rep)),
        Err(e) => {
            eprintln!("error: {e:#}");
            eprintln!("hint: fix the cause and run it again; steps already done are kept and skipped");
            Ok((1, rep))
        }
    }
}

pub fn run(g: &Global, a: &DeployArgs) -> Result<u8> {
    let inv = load_inventory(g)?;
    let (code, _) = converge(g, &inv, &a.target, Mode::Apply)?;
    Ok(code)
}
