//! `pigsty node apply` (hidden): node mode. Reads one JSON request on stdin, gathers
//! this machine's facts, converges the requested modules and streams JSON-lines
//! events on stdout, ending with a `done` line.
use crate::engine::{run_module, Event, Mode, Run};
use crate::facts::Facts;
use crate::inventory::{Inventory, Module};
use crate::modules::{self, Ctx};
use crate::options::PlanOptions;
use crate::remote::request::{NodeDone, NodeRequest};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};

pub fn apply() -> Result<u8> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the node request on stdin")?;
    let req: NodeRequest =
        serde_json::from_str(&input).context("the node request on stdin is not valid JSON")?;
    let res = apply_request(&req);
    let done = NodeDone {
        event: "done".into(),
        ok: res.is_ok(),
        error: res.as_ref().err().map(|e| format!("{e:#}")),
        result: res.as_ref().ok().cloned().flatten(),
    };
    println!("{}", serde_json::to_string(&done)?);
    let _ = std::io::stdout().flush();
    Ok(if res.is_ok() { 0 } else { 1 })
}

fn emit(e: &Event) {
    if let Ok(s) = serde_json::to_string(e) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{s}");
        let _ = out.flush();
    }
}

/// Converge the request's modules, or run its action (whose result comes back).
fn apply_request(req: &NodeRequest) -> Result<Option<serde_json::Value>> {
    if let Some(action) = &req.action {
        let facts = Facts::gather();
        crate::runner::preflight(&facts, "node apply")?;
        check_identity(req, &facts)?;
        return crate::actions::run(&req.host, action, &mut |e| emit(e)).map(Some);
    }
    let mode = match req.mode.as_str() {
        "apply" => Mode::Apply,
        "check" => Mode::Check,
        m => bail!("unknown mode `{m}` in the node request"),
    };
    let facts = Facts::gather();
    if mode == Mode::Apply {
        crate::runner::preflight(&facts, "node apply")?;
    }
    let state_dir = std::path::Path::new(crate::engine::STATE_DIR_DEFAULT);
    let opts = PlanOptions {
        pki: req.pki.clone(),
        files: req.files.clone(),
        packages_only: false,
    };
    let full = Inventory::from_str(&req.inventory_name, &req.inventory, &req.extra_vars)?;
    // Converging: the hosts leaving a module are forgotten. Removing: the full
    // inventory still describes what is being taken down.
    let mut inv = full.clone();
    for (m, hosts) in &req.forget {
        let m: Module = m
            .parse()
            .map_err(|_| anyhow!("unknown module `{m}` in the node request"))?;
        for h in hosts {
            inv.forget(h, m);
        }
    }
    let inv = if req.remove { full } else { inv };
    let host = inv.host(&req.host).ok_or_else(|| {
        anyhow!(
            "host `{}` is not in the inventory sent to this node",
            req.host
        )
    })?;
    check_identity(req, &facts)?;
    let one = |name: &str, sink: &mut dyn FnMut(&Event)| -> Result<()> {
        let m: Module = name
            .parse()
            .map_err(|_| anyhow!("unknown module `{name}` in the node request"))?;
        // gathered again per module: an earlier module may have installed packages
        let mut facts = Facts::gather();
        facts.gather_versions(modules::versioned_packages(m));
        if m == Module::Pgsql {
            facts.gather_postgres(host.str("pg_data").unwrap_or_default());
        }
        let ctx = Ctx::new(&inv, host, &facts).with(&opts);
        let plan = if req.remove {
            let gone = req.forget.get(m.as_str()).cloned().unwrap_or_default();
            modules::plan_remove(m, &ctx, &gone).with_context(|| {
                format!("planning the removal of module {m} from `{}`", host.addr)
            })?
        } else {
            match (&req.pgsql_scope, m) {
                (Some(scope), Module::Pgsql) => modules::pgsql::plan_scoped(&ctx, scope),
                _ => modules::plan(m, &ctx),
            }
            .with_context(|| format!("planning module {m} on `{}`", host.addr))?
        };
        let run = Run {
            host: &host.addr,
            mode,
            // a check reads the restarts a failed run left owed, and writes nothing
            state_dir: Some(state_dir),
        };
        run_module(&run, &plan, sink).map_err(|e| anyhow!("{e}"))?;
        Ok(())
    };
    if mode == Mode::Apply {
        for name in &req.modules {
            one(name, &mut |e| emit(e))?;
        }
        return Ok(None);
    }
    // A check changes nothing, so the modules are checked at once (each on its own
    // thread) and their events sent in the request's order, up to the first failure.
    let checked: Vec<(Vec<Event>, Result<()>)> = std::thread::scope(|s| {
        let handles: Vec<_> = req
            .modules
            .iter()
            .map(|name| {
                let one = &one;
                s.spawn(move || {
                    let mut evs = vec![];
                    let r = one(name, &mut |e| evs.push(e.clone()));
                    (evs, r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| (vec![], Err(anyhow!("a module check panicked"))))
            })
            .collect()
    });
    for (evs, r) in checked {
        evs.iter().for_each(emit);
        r?;
    }
    Ok(None)
}

/// Refuse a request meant for another machine.
fn check_identity(req: &NodeRequest, facts: &Facts) -> Result<()> {
    if req.host.parse::<std::net::IpAddr>().is_ok()
        && !facts.ipv4.contains(&req.host)
        && req.host != "127.0.0.1"
    {
        bail!(
            "the request is for `{}` but this machine has addresses {}; refusing to converge the wrong host",
            req.host,
            facts.ipv4.join(", ")
        );
    }
    Ok(())
}
