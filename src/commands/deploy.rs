//! `pigsty deploy`: converge every selected host of the inventory, in Pigsty's order,
//! parallel across hosts within a phase. The local host runs node mode directly;
//! remote hosts get this binary over SSH first.
use crate::cli::{DeployArgs, Global, Target};
use crate::controller::{self, Options};
use crate::engine::Mode;
use crate::facts::Facts;
use crate::inventory::Inventory;
use crate::report::Reporter;
use crate::runner;
use anyhow::{bail, Result};
use std::sync::Mutex;

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
    crate::remote::ssh::register(&inv);
    Ok(inv)
}

/// Converge (or check) the selected hosts; prints progress and the recap.
/// Returns the exit code and the reporter (for `plan`).
pub fn converge(
    g: &Global,
    inv: &Inventory,
    t: &Target,
    mode: Mode,
    accept_new_host_keys: bool,
) -> Result<(u8, Reporter)> {
    let facts = Facts::gather();
    let selected = inv.select(t.limit.as_deref())?;
    if selected.is_empty() {
        bail!("no host matches `-l {}`", t.limit.as_deref().unwrap_or(""));
    }
    if selected
        .iter()
        .any(|h| controller::is_local(&h.addr, &facts))
        && mode == Mode::Apply
    {
        runner::preflight(&facts, "deploy")?;
    }
    if mode == Mode::Apply {
        require_secrets(inv)?;
    }
    let addrs: Vec<&str> = selected.iter().map(|h| h.addr.as_str()).collect();
    if let Some(e) = crate::inventory::unsupported::refusal(inv, &addrs) {
        bail!("{e}");
    }
    let opts = Options {
        mode,
        forks: t.forks,
        accept_new_host_keys,
        modules: runner::parse_modules(t.modules.as_deref())?,
        extra_vars: controller::inline_extra_vars(&g.extra_vars)?,
        forget: Default::default(),
    };
    let phases = controller::phases(inv, &selected, opts.modules.as_ref());
    Ok(run_phases(g, inv, phases, &opts))
}

/// Run phases with progress and the recap; failures are printed per host.
pub fn run_phases(
    g: &Global,
    inv: &Inventory,
    phases: Vec<controller::Phase>,
    opts: &Options,
) -> (u8, Reporter) {
    let rep = Mutex::new(Reporter::new(g.json, opts.mode == Mode::Check));
    // changing a PGSQL cluster: hold its lock (a check changes nothing and takes none)
    let _lock = if opts.mode == Mode::Apply {
        let clusters = phases
            .iter()
            .filter(|p| p.module == crate::inventory::Module::Pgsql)
            .flat_map(|p| p.hosts.iter())
            .filter_map(|h| inv.host(h).and_then(|h| h.id.pg_cluster.clone()));
        match super::lock::wait().and_then(|w| super::lock::clusters(clusters, w)) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: {e:#}");
                return (1, rep.into_inner().unwrap_or_else(|p| p.into_inner()));
            }
        }
    } else {
        None
    };
    let outcome = controller::run_phases(inv, phases, opts, &rep);
    let rep = rep.into_inner().unwrap_or_else(|p| p.into_inner());
    rep.recap();
    (report_failed(&outcome.failed), rep)
}

/// The exit code of a run whose recap is printed: 0, or 1 after one error line per
/// failed host and the hint that a re-run keeps what is done.
pub fn report_failed(failed: &std::collections::BTreeMap<String, String>) -> u8 {
    if failed.is_empty() {
        return 0;
    }
    for (h, e) in failed {
        if e.starts_with(&format!("host `{h}`")) {
            eprintln!("error: {e}"); // ssh errors name the host already
        } else {
            eprintln!("error: host `{h}`: {e}");
        }
    }
    eprintln!("hint: fix the cause and run it again; steps already done are kept and skipped");
    1
}

/// Options for commands that build their own phases (join, pgsql add/rm).
pub fn options(g: &Global, forks: usize, accept_new_host_keys: bool) -> Result<Options> {
    Ok(Options {
        mode: Mode::Apply,
        forks,
        accept_new_host_keys,
        modules: None,
        extra_vars: controller::inline_extra_vars(&g.extra_vars)?,
        forget: Default::default(),
    })
}

pub fn run(g: &Global, a: &DeployArgs) -> Result<u8> {
    let inv = load_inventory(g)?;
    let (code, _) = converge(g, &inv, &a.target, Mode::Apply, a.accept_new_host_keys)?;
    Ok(code)
}

/// Refuse to apply when the inventory lacks a required credential (nothing changed).
pub fn require_secrets(inv: &Inventory) -> Result<()> {
    let missing = inv.check_secrets();
    if !missing.is_empty() {
        bail!(
            "the inventory lacks required credentials; nothing was changed:\n{}",
            indented(&missing)
        );
    }
    Ok(())
}

/// One line per item, indented by two spaces.
pub fn indented<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}
