//! The controller: decides which hosts and modules a command touches and in what
//! order (Pigsty's: NODE, INFRA, ETCD, MINIO, PGSQL primaries then the rest, REDIS),
//! ships itself to remote hosts, runs node mode on each (the local host without SSH),
//! in parallel within a phase (bounded by `--forks`), and feeds their events to the
//! reporter. A host that fails drops out of later phases; the others go on.
use crate::engine::{Event, Mode, Status};
use crate::facts::Facts;
use crate::inventory::{Host, Inventory, Module, PgRole};
use crate::modules::ORDER;
use crate::remote::request::{NodeDone, NodeRequest};
use crate::remote::{Ssh, SshError};
use crate::report::Reporter;
use crate::sys::CmdError;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex, OnceLock};

/// The hosts reached in this run: each one's probe and self-copy, done once.
type Copied = Mutex<BTreeMap<String, Arc<OnceLock<Result<(), String>>>>>;

pub struct Options {
    pub mode: Mode,
    pub forks: usize,
    pub accept_new_host_keys: bool,
    pub modules: Option<BTreeSet<Module>>,
    /// `-e` extra vars, with `@file` arguments inlined (see [`inline_extra_vars`]).
    pub extra_vars: Vec<String>,
    /// Hosts leaving a module in this run (module name -> addresses), sent to every node.
    pub forget: BTreeMap<String, Vec<String>>,
}

/// Turn `-e @file.yml` into `key=<json>` arguments so a remote node, which cannot read
/// the controller's files, gets the same values.
pub fn inline_extra_vars(args: &[String]) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let mut out = vec![];
    for a in args {
        if let Some(path) = a.strip_prefix('@') {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading extra vars file `{path}`"))?;
            let v: serde_yaml::Value = serde_yaml::from_str(&text)
                .with_context(|| format!("parsing extra vars file `{path}`"))?;
            let j: serde_json::Value = serde_json::to_value(v)?;
            let Some(m) = j.as_object() else {
                anyhow::bail!("extra vars file `{path}` must be a mapping of names to values");
            };
            for (k, v) in m {
                out.push(format!("{k}={}", serde_json::to_string(v)?));
            }
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// One phase: a module on a set of hosts that run in parallel.
#[derive(Debug, Clone)]
pub struct Phase {
    pub module: Module,
    pub hosts: Vec<String>,
    /// Take the module off these hosts instead of converging it.
    pub remove: bool,
}

/// Phases for the selected hosts, in Pigsty's order; PGSQL primaries before the rest.
pub fn phases(
    inv: &Inventory,
    selected: &[&Host],
    filter: Option<&BTreeSet<Module>>,
) -> Vec<Phase> {
    let mut out = vec![];
    for &m in ORDER {
        if filter.map(|f| !f.contains(&m)).unwrap_or(false) {
            continue;
        }
        let hosts: Vec<&&Host> = selected
            .iter()
            .filter(|h| h.modules().contains(&m))
            .collect();
        if hosts.is_empty() {
            continue;
        }
        if m == Module::Pgsql {
            let (p, r): (Vec<&&Host>, Vec<&&Host>) = hosts.iter().partition(|h| {
                h.id.pg_role == Some(PgRole::Primary) && h.get("pg_upstream").is_none()
            });
            for group in [p, r] {
                if !group.is_empty() {
                    out.push(Phase {
                        module: m,
                        hosts: group.iter().map(|h| h.addr.clone()).collect(),
                        remove: false,
                    });
                }
            }
        } else {
            out.push(Phase {
                module: m,
                hosts: hosts.iter().map(|h| h.addr.clone()).collect(),
                remove: false,
            });
        }
    }
    let _ = inv;
    out
}

/// This machine's facts, gathered once per process: commands that reach hosts one
/// action at a time (`logs`, `status`, `pgsql backup|pitr`) only need to know which
/// address is this machine.
pub fn local_facts() -> &'static Facts {
    static FACTS: std::sync::OnceLock<Facts> = std::sync::OnceLock::new();
    FACTS.get_or_init(Facts::gather)
}

/// Is `addr` this machine?
pub fn is_local(addr: &str, facts: &Facts) -> bool {
    facts.ipv4.iter().any(|ip| ip == addr)
        || addr == "127.0.0.1"
        || addr == "localhost"
        || addr == facts.hostname
}

pub struct Outcome {
    /// Hosts that failed, with the reason.
    pub failed: BTreeMap<String, String>,
}

/// Run all phases of the selected hosts. Events go to the reporter; returns which hosts failed.
pub fn run(inv: &Inventory, selected: &[&Host], opts: &Options, rep: &Mutex<Reporter>) -> Outcome {
    run_scoped(inv, selected, opts, None, rep)
}

/// Files the inventory names that node mode cannot read on a remote host: the
/// `baseline` SQL of the databases of the selected pgsql hosts, read next to the
/// inventory here (missing ones are reported by the database step that needs them).
fn inventory_files(inv: &Inventory, selected: &[&Host]) -> BTreeMap<String, String> {
    let dir = inv
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for h in selected {
        for d in h.list("pg_databases").into_iter().flatten() {
            let Some(name) = d
                .get("baseline")
                .and_then(|b| b.as_str())
                .filter(|b| !b.is_empty())
            else {
                continue;
            };
            if out.contains_key(name) {
                continue;
            }
            let found = crate::modules::pgsql::roles::baseline_paths(&dir, name)
                .into_iter()
                .find_map(|p| std::fs::read_to_string(p).ok());
            if let Some(text) = found {
                out.insert(name.to_string(), text);
            }
        }
    }
    out
}

/// Like [`run`], with the pgsql phases narrowed to one part of the module.
pub fn run_scoped(
    inv: &Inventory,
    selected: &[&Host],
    opts: &Options,
    scope: Option<&crate::modules::pgsql::Scope>,
    rep: &Mutex<Reporter>,
) -> Outcome {
    let extra = Extra {
        scope: scope.cloned(),
        files: inventory_files(inv, selected),
    };
    run_phases_with(
        inv,
        phases(inv, selected, opts.modules.as_ref()),
        opts,
        &extra,
        rep,
    )
}

/// Run the given phases in order; a host that fails drops out of later phases.
pub fn run_phases(
    inv: &Inventory,
    phases: Vec<Phase>,
    opts: &Options,
    rep: &Mutex<Reporter>,
) -> Outcome {
    let hosts: Vec<&Host> = inv
        .hosts
        .iter()
        .filter(|h| phases.iter().any(|p| p.hosts.contains(&h.addr)))
        .collect();
    let extra = Extra {
        scope: None,
        files: inventory_files(inv, &hosts),
    };
    run_phases_with(inv, phases, opts, &extra, rep)
}

fn run_phases_with(
    inv: &Inventory,
    phases: Vec<Phase>,
    opts: &Options,
    extra: &Extra,
    rep: &Mutex<Reporter>,
) -> Outcome {
    let facts = Facts::gather();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let copied = Copied::default();
    let pgsql_hosts: BTreeSet<String> = phases
        .iter()
        .filter(|p| p.module == Module::Pgsql && !p.remove)
        .flat_map(|p| p.hosts.iter().cloned())
        .collect();
    // a deploy first checks every host's modules at once: a host where nothing would
    // change is done (its check is its report), the phases run on the others
    let converged =
        if opts.mode == Mode::Apply && opts.forget.is_empty() && phases.iter().all(|p| !p.remove) {
            precheck(inv, &phases, opts, extra, &facts, &copied, rep, &mut failed)
        } else {
            BTreeSet::new()
        };
    // (the etcd users are made just before the first PGSQL phase, not beside the fast
    // path's check round: on a fresh node etcd is not installed before its ETCD phase)
    let mut users_made = false;
    for phase in phases {
        if phase.module == Module::Pgsql && !phase.remove {
            for (h, why) in primary_failed(inv, &phase.hosts, &failed) {
                if let Ok(mut r) = rep.lock() {
                    r.host_failed(&h, &why);
                }
                failed.insert(h, why);
            }
        }
        if phase.module == Module::Pgsql && !phase.remove && !users_made {
            users_made = true;
            // every cluster of this run's PGSQL phases, in one action (`plan`: checked)
            let live: Vec<String> = pgsql_hosts
                .iter()
                .filter(|h| !failed.contains_key(*h))
                .cloned()
                .collect();
            for (h, why) in etcd_users(inv, &live, opts, &facts, &copied, rep) {
                if let Ok(mut r) = rep.lock() {
                    r.host_failed(&h, &why);
                }
                failed.insert(h, why);
            }
        }
        let hosts: Vec<String> = phase
            .hosts
            .iter()
            .filter(|h| !failed.contains_key(*h) && !converged.contains(*h))
            .cloned()
            .collect();
        if hosts.is_empty() {
            continue;
        }
        let results = in_parallel(hosts, opts.forks, |h| {
            run_host(inv, h, &phase, opts, extra, &facts, &copied, rep)
        });
        for (h, r) in results {
            if let Err(e) = r {
                if let Ok(mut r) = rep.lock() {
                    r.host_failed(&h, &e);
                }
                failed.insert(h, e);
            }
        }
    }
    Outcome { failed }
}

/// The fast path of a deploy: every host of `phases` checks all its modules in one
/// request, in parallel. A host whose check finds nothing to change (no step or handler
/// to run, none owed by a failed run) is converged: its check's events go to the
/// reporter as its run and it takes no part in the phases. A host that cannot be
/// reached fails here, with the error its first phase would give. Any other answer
/// (drift, a check that cannot plan yet on a fresh node) leaves the host to the phases,
/// its check unreported.
#[allow(clippy::too_many_arguments)]
fn precheck(
    inv: &Inventory,
    phases: &[Phase],
    opts: &Options,
    extra: &Extra,
    facts: &Facts,
    copied: &Copied,
    rep: &Mutex<Reporter>,
    failed: &mut BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut modules: BTreeMap<String, Vec<Module>> = BTreeMap::new();
    for p in phases {
        for h in &p.hosts {
            let m = modules.entry(h.clone()).or_default();
            if !m.contains(&p.module) {
                m.push(p.module);
            }
        }
    }
    let results = in_parallel(modules.into_iter().collect(), opts.forks, |(h, mods)| {
        reach(h, opts.accept_new_host_keys, facts, copied).map(|_| {
            let Ok(req) = request_for(inv, h, mods, false, Mode::Check, opts, extra) else {
                return false;
            };
            let mut events = vec![];
            let answered = exchange(
                h,
                &req,
                opts.accept_new_host_keys,
                facts,
                copied,
                &mut |e| events.push(e.clone()),
            );
            let done = answered.is_ok() && nothing_to_do(&events, mods.len());
            if done {
                if let Ok(mut r) = rep.lock() {
                    for e in &events {
                        r.event(e);
                    }
                }
            }
            done
        })
    });
    let mut converged = BTreeSet::new();
    for ((h, _), r) in results {
        match r {
            Ok(true) => {
                converged.insert(h);
            }
            Ok(false) => {}
            Err(e) => {
                if let Ok(mut r) = rep.lock() {
                    r.host_failed(&h, &e);
                }
                failed.insert(h, e);
            }
        }
    }
    converged
}

/// `work` on each item, `forks` at a time (at least one, at most one per item): the
/// items with their results, in no particular order.
// `loop` + `let else`, not `while let`: the queue's lock must drop before the work runs
#[allow(clippy::while_let_loop)]
fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    forks: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<(T, R)> {
    let workers = forks.max(1).min(items.len().max(1));
    let queue = Mutex::new(items.into_iter().collect::<VecDeque<_>>());
    let results = Mutex::new(vec![]);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some(item) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    break;
                };
                let r = work(&item);
                if let Ok(mut v) = results.lock() {
                    v.push((item, r));
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

/// A check's events say there is nothing to do: each of the `modules` ended, with no
/// change, failure or handler to come.
fn nothing_to_do(events: &[Event], modules: usize) -> bool {
    let mut ended = 0;
    for e in events {
        match e {
            Event::Step { status, .. } if !matches!(status, Status::Ok | Status::Skipped) => {
                return false
            }
            Event::Handler { .. } => return false,
            Event::ModuleEnd {
                changed, failed, ..
            } => {
                if *changed > 0 || *failed > 0 {
                    return false;
                }
                ended += 1;
            }
            _ => {}
        }
    }
    ended == modules
}

/// Members of `hosts` whose cluster's primary failed earlier in this run: a replica has
/// nothing to clone from, so it is not started to wait for one.
fn primary_failed(
    inv: &Inventory,
    hosts: &[String],
    failed: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let dead: Vec<(&str, &str)> = failed
        .keys()
        .filter_map(|a| inv.host(a))
        .filter(|h| h.id.pg_role == Some(PgRole::Primary))
        .filter_map(|h| Some((h.id.pg_cluster.as_deref()?, h.addr.as_str())))
        .collect();
    hosts
        .iter()
        .filter(|a| !failed.contains_key(*a))
        .filter_map(|a| {
            let c = inv.host(a)?.id.pg_cluster.as_deref()?;
            let (_, p) = dead.iter().find(|(dc, _)| *dc == c)?;
            Some((
                a.clone(),
                format!(
                    "skipped: the primary `{p}` of `{c}` failed, so there is nothing to clone from"
                ),
            ))
        })
        .collect()
}

/// A probe that ran out of time means the host did not answer: say so. (ssh's own
/// connect timeout does not fire when a multiplexed master left by an earlier run
/// still holds the connection a cut host dropped: the probe waits on that master.)
fn probe_error(host: &str, e: SshError) -> String {
    match e {
        SshError::Local {
            source: CmdError::Timeout { secs, .. },
            ..
        } => SshError::Unreachable {
            host: host.into(),
            detail: format!("no answer to ssh within {secs}s"),
        }
        .to_string(),
        other => other.to_string(),
    }
}

/// Before the first PGSQL phase: each cluster's etcd user (`patroni-<cluster>`,
/// readwrite on its keys), made (`plan`: checked) in one action on the first etcd
/// member that answers,
/// with etcd's root (`actions::etcd`), so the
/// database nodes receive only their cluster's password (`pg_etcd_password`, see
/// [`request`]) and never root's. The hosts of a cluster whose user could not be made
/// fail with the reason; those of clusters with `etcd_auth: false` need none.
fn etcd_users(
    inv: &Inventory,
    hosts: &[String],
    opts: &Options,
    facts: &Facts,
    copied: &Copied,
    rep: &Mutex<Reporter>,
) -> Vec<(String, String)> {
    let mut clusters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in hosts.iter().filter_map(|a| inv.host(a)) {
        if let Some(c) = &h.id.pg_cluster {
            clusters.entry(c.clone()).or_default().push(h.addr.clone());
        }
    }
    let etcd: Vec<String> = inv.etcd_members().iter().map(|m| m.addr.clone()).collect();
    if etcd.is_empty() {
        return vec![];
    }
    let mut failed = vec![];
    let mut users = vec![];
    let mut batch: Vec<(String, Vec<String>)> = vec![];
    let mut root = None;
    for (cluster, members) in clusters {
        let Some(h) = inv.host(&members[0]) else {
            continue;
        };
        let Some(login) = crate::modules::pgsql::etcd_login(inv, h) else {
            continue; // etcd_auth: false
        };
        match (login, h.str("etcd_root_password")) {
            (Err(e), _) => failed.extend(members.into_iter().map(|m| (m, format!("{e:#}")))),
            (Ok(_), None) => {
                let why = format!(
                    "cluster `{cluster}`: required variable `etcd_root_password` is not set\nhint: set it in the inventory (`pigsty configure` generates credentials)"
                );
                failed.extend(members.into_iter().map(|m| (m, why.clone())));
            }
            (Ok(l), Some(r)) => {
                root.get_or_insert_with(|| r.to_string());
                users.push(crate::actions::etcd::UserSpec {
                    user: l.user,
                    password: crate::actions::etcd::Secret(l.password),
                    prefix: l.prefix,
                });
                batch.push((cluster, members));
            }
        }
    }
    let Some(root) = root else {
        return failed;
    };
    let check = opts.mode == Mode::Check;
    let action = crate::actions::Action::EtcdUsers {
        endpoints: crate::modules::etcd::endpoints(inv),
        root_password: crate::actions::etcd::Secret(root),
        users,
        check,
    };
    // the first member that answers makes (or checks) them (one may be down)
    let mut errors = vec![];
    for e in &etcd {
        let req = NodeRequest::action(e, action.clone());
        match exchange_reported(e, &req, opts, facts, copied, rep) {
            Ok(_) => {
                errors.clear();
                break;
            }
            Err(why) => errors.push(format!("on `{e}`: {why}")),
        }
    }
    if !errors.is_empty() {
        for (cluster, members) in batch {
            let why = format!(
                "cluster `{cluster}`: its etcd user could not be {}: {}",
                if check { "checked" } else { "made" },
                errors.join("; ")
            );
            failed.extend(members.into_iter().map(|m| (m, why.clone())));
        }
    }
    failed
}

/// What a request carries besides the inventory: a pgsql scope and inventory files.
struct Extra {
    scope: Option<crate::modules::pgsql::Scope>,
    files: BTreeMap<String, String>,
}

/// The request for `host`: the inventory with only the secrets its modules need
/// (`remote::redact`).
fn request(
    inv: &Inventory,
    host: &str,
    phase: &Phase,
    opts: &Options,
    extra: &Extra,
) -> Result<NodeRequest, String> {
    request_for(
        inv,
        host,
        &[phase.module],
        phase.remove,
        opts.mode,
        opts,
        extra,
    )
}

/// The request converging (`mode`) or removing `modules` on `host`, in that order.
fn request_for(
    inv: &Inventory,
    host: &str,
    modules: &[Module],
    remove: bool,
    mode: Mode,
    opts: &Options,
    extra: &Extra,
) -> Result<NodeRequest, String> {
    let pgsql = modules.contains(&Module::Pgsql);
    // a database node gets its cluster's etcd password instead of etcd's root one
    let mut inject = vec![];
    if let Some(h) = inv.host(host) {
        let mods = h.modules();
        if mods.contains(&Module::Pgsql)
            && !mods.contains(&Module::Etcd)
            && !mods.contains(&Module::Infra)
        {
            if let Some(Ok(l)) = crate::modules::pgsql::etcd_login(inv, h) {
                inject.push(("pg_etcd_password".to_string(), l.password));
            }
        }
    }
    let (text, _) = crate::remote::redact::for_host(inv, host, &inject)?;
    Ok(NodeRequest {
        inventory: text,
        inventory_name: inv.path.display().to_string(),
        extra_vars: crate::remote::redact::extra_vars_for(inv, host, &opts.extra_vars),
        host: host.into(),
        modules: modules.iter().map(|m| m.to_string()).collect(),
        mode: if mode == Mode::Apply {
            "apply".into()
        } else {
            "check".into()
        },
        remove,
        forget: opts.forget.clone(),
        pgsql_scope: if pgsql && !remove {
            extra.scope.clone()
        } else {
            None
        },
        files: if pgsql {
            extra.files.clone()
        } else {
            BTreeMap::new()
        },
        pki: modules.iter().fold(
            Default::default(),
            |mut d: crate::options::Delivered, &m| {
                let p = crate::pki::for_host(inv, host, m);
                d.ca_crt = d.ca_crt.or(p.ca_crt);
                d.certs.extend(p.certs);
                d
            },
        ),
        action: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn run_host(
    inv: &Inventory,
    host: &str,
    phase: &Phase,
    opts: &Options,
    extra: &Extra,
    facts: &Facts,
    copied: &Copied,
    rep: &Mutex<Reporter>,
) -> Result<(), String> {
    let req = request(inv, host, phase, opts, extra)?;
    exchange_reported(host, &req, opts, facts, copied, rep).map(|_| ())
}

/// `exchange` with the node's events going to the run's reporter.
fn exchange_reported(
    host: &str,
    req: &NodeRequest,
    opts: &Options,
    facts: &Facts,
    copied: &Copied,
    rep: &Mutex<Reporter>,
) -> Result<Option<serde_json::Value>, String> {
    exchange(
        host,
        req,
        opts.accept_new_host_keys,
        facts,
        copied,
        &mut |ev| {
            if let Ok(mut r) = rep.lock() {
                r.event(ev);
            }
        },
    )
}

/// Run an action on `host` through node mode (locally, or over SSH with the binary
/// copied first), its events to `sink`; its result.
pub fn act(
    host: &str,
    action: crate::actions::Action,
    sink: &mut dyn FnMut(&Event),
) -> anyhow::Result<serde_json::Value> {
    act_with(host, action, BTreeSet::new(), sink)
}

/// One action through node mode; hosts in `reached` skip the SSH probe and the binary check.
fn act_with(
    host: &str,
    action: crate::actions::Action,
    reached: BTreeSet<String>,
    sink: &mut dyn FnMut(&Event),
) -> anyhow::Result<serde_json::Value> {
    let req = NodeRequest::action(host, action);
    let copied: Copied = Mutex::new(
        reached
            .into_iter()
            .map(|h| (h, Arc::new(OnceLock::from(Ok(())))))
            .collect(),
    );
    exchange(host, &req, false, local_facts(), &copied, sink)
        .map_err(|e| anyhow::anyhow!("on `{host}`: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("on `{host}`: node mode gave the action no result"))
}

/// [`act`] on a host this run has already acted on: no SSH probe and no check of the
/// copied binary first (two round trips less), for actions where latency counts.
pub fn act_again(
    host: &str,
    action: crate::actions::Action,
    sink: &mut dyn FnMut(&Event),
) -> anyhow::Result<serde_json::Value> {
    act_with(host, action, BTreeSet::from([host.to_string()]), sink)
}

/// The first time this run reaches `host` over SSH: probe it (a clear error when it
/// cannot be reached or its host key changed) and copy this binary over; later calls
/// (and this machine) do nothing.
fn reach(
    host: &str,
    accept_new_host_keys: bool,
    facts: &Facts,
    copied: &Copied,
) -> Result<(), String> {
    if is_local(host, facts) {
        return Ok(());
    }
    // one probe and copy per host and run; a second thread for the same host waits
    // for the first's answer
    let cell = match copied.lock() {
        Ok(mut c) => c.entry(host.to_string()).or_default().clone(),
        Err(_) => Default::default(),
    };
    cell.get_or_init(|| {
        let mut ssh = Ssh::new(host);
        ssh.accept_new = accept_new_host_keys;
        ssh.probe().map_err(|e| probe_error(host, e))?;
        ssh.copy_self().map(|_| ()).map_err(|e| e.to_string())
    })
    .clone()?;
    Ok(())
}

/// Send one request to node mode on `host` (this machine: a child process; else over
/// SSH, the binary copied first once per run) and feed its events to `sink`. The
/// node's result when it succeeded.
fn exchange(
    host: &str,
    req: &NodeRequest,
    accept_new_host_keys: bool,
    facts: &Facts,
    copied: &Copied,
    sink: &mut dyn FnMut(&Event),
) -> Result<Option<serde_json::Value>, String> {
    let req = serde_json::to_vec(req).map_err(|e| e.to_string())?;
    reach(host, accept_new_host_keys, facts, copied)?;
    let mut child = if is_local(host, facts) {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
        std::process::Command::new(exe)
            .args(["node", "apply"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start node mode: {e}"))?
    } else {
        let mut ssh = Ssh::new(host);
        ssh.accept_new = accept_new_host_keys;
        ssh.spawn(&format!("{} node apply", crate::remote::ssh::REMOTE_BIN))
            .map_err(|e| format!("cannot start ssh: {e}"))?
    };
    if let Some(mut si) = child.stdin.take() {
        std::thread::spawn(move || {
            let _ = si.write_all(&req);
        });
    }
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    });
    let mut done: Option<NodeDone> = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(ev) = serde_json::from_str::<Event>(&line) {
                sink(&ev);
            } else if let Ok(d) = serde_json::from_str::<NodeDone>(&line) {
                done = Some(d);
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let stderr = err_thread.join().unwrap_or_default();
    match done {
        Some(d) if d.ok && status.success() => Ok(d.result),
        Some(d) => Err(d.error.unwrap_or_else(|| "node mode failed".into())),
        None => Err(format!(
            "node mode ended without a result (exit {}): {}",
            status.code().unwrap_or(-1),
            crate::sys::cmd::tail(&stderr, "")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An inventory from text, names not resolved.
    fn inventory(path: &str, text: &str) -> Inventory {
        Inventory::unresolved(path, text)
    }

    /// Options of a plain `deploy`.
    fn apply_opts() -> Options {
        Options {
            mode: Mode::Apply,
            forks: 1,
            accept_new_host_keys: false,
            modules: None,
            extra_vars: vec![],
            forget: Default::default(),
        }
    }

    #[test]
    fn only_a_check_with_every_module_ended_clean_has_nothing_to_do() {
        let step = |status| Event::Step {
            host: "h".into(),
            module: "node".into(),
            kind: "file".into(),
            name: "/etc/x".into(),
            status,
            diffs: vec![],
            changes: vec![],
            error: None,
            ms: 0,
        };
        let end = |module: &str, changed| Event::ModuleEnd {
            host: "h".into(),
            module: module.into(),
            ok: 1,
            changed,
            failed: 0,
            skipped: 0,
            ms: 0,
        };
        let clean = vec![
            step(Status::Ok),
            step(Status::Skipped),
            end("node", 0),
            end("pgsql", 0),
        ];
        assert!(nothing_to_do(&clean, 2));
        assert!(!nothing_to_do(&clean, 3), "a module that did not end");
        let drift = vec![step(Status::WouldChange), end("node", 1)];
        assert!(!nothing_to_do(&drift, 1));
        let owed = vec![
            Event::Handler {
                host: "h".into(),
                module: "node".into(),
                action: "restart x".into(),
                status: Status::WouldChange,
                error: None,
                ms: 0,
            },
            end("node", 1),
        ];
        assert!(
            !nothing_to_do(&owed, 1),
            "a restart owed is something to do"
        );
        assert!(!nothing_to_do(&[end("node", 0), step(Status::Failed)], 1));
    }

    #[test]
    fn a_probe_that_times_out_says_the_host_is_unreachable() {
        let e = SshError::Local {
            host: "10.0.0.9".into(),
            source: CmdError::Timeout {
                cmd: "ssh ... -- true".into(),
                secs: 15,
            },
        };
        let m = probe_error("10.0.0.9", e);
        assert!(
            m.starts_with("host `10.0.0.9` is unreachable: no answer to ssh within 15s"),
            "{m}"
        );
        assert!(!m.contains("BatchMode"), "{m}");
    }

    #[test]
    fn replicas_of_a_failed_primary_are_skipped_and_other_clusters_go_on() {
        let text = "all:\n  children:\n    pg-x:\n      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary }, 10.0.0.2: { pg_seq: 2, pg_role: replica } }\n      vars: { pg_cluster: pg-x }\n    pg-y:\n      hosts: { 10.0.0.3: { pg_seq: 1, pg_role: primary }, 10.0.0.4: { pg_seq: 2, pg_role: replica } }\n      vars: { pg_cluster: pg-y }\n";
        let inv = inventory("pigsty.yml", text);
        let mut failed = BTreeMap::new();
        failed.insert("10.0.0.1".to_string(), "patroni not ready".to_string());
        let hosts = vec!["10.0.0.2".to_string(), "10.0.0.4".to_string()];
        let skipped = primary_failed(&inv, &hosts, &failed);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].0, "10.0.0.2");
        assert!(
            skipped[0].1.contains("primary `10.0.0.1` of `pg-x` failed"),
            "{}",
            skipped[0].1
        );
    }

    #[test]
    fn a_database_node_gets_its_clusters_etcd_password_and_not_roots() {
        let text = "all:\n  vars: { etcd_root_password: ETCD-ROOT-PW }\n  children:\n    etcd: { hosts: { 10.0.0.9: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }\n    pg-x:\n      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary }, 10.0.0.9: { pg_seq: 2, pg_role: replica } }\n      vars: { pg_cluster: pg-x }\n";
        let inv = inventory("pigsty.yml", text);
        let extra = Extra {
            scope: None,
            files: BTreeMap::new(),
        };
        let opts = apply_opts();
        let phase = Phase {
            module: Module::Pgsql,
            hosts: vec!["10.0.0.1".into(), "10.0.0.9".into()],
            remove: false,
        };
        let derived = crate::modules::etcd::cluster_password("ETCD-ROOT-PW", "pg-x");
        let r = request(&inv, "10.0.0.1", &phase, &opts, &extra).unwrap();
        assert!(!r.inventory.contains("ETCD-ROOT-PW"), "{}", r.inventory);
        assert!(r.inventory.contains(&derived), "{}", r.inventory);
        let mine = Inventory::from_str(&r.inventory_name, &r.inventory, &[]).unwrap();
        let login = crate::modules::pgsql::etcd_login(&mine, mine.host("10.0.0.1").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(login.user, "patroni-pg-x");
        assert_eq!(
            login.password, derived,
            "the node logs in as the controller made it"
        );
        assert_eq!(login.prefix, "/pg/pg-x/");
        // the etcd member keeps root (its ETCD module reads it) and gets nothing added
        let r = request(&inv, "10.0.0.9", &phase, &opts, &extra).unwrap();
        assert!(r.inventory.contains("ETCD-ROOT-PW"));
        assert!(!r.inventory.contains("pg_etcd_password"), "{}", r.inventory);
    }

    #[test]
    fn baseline_files_are_read_next_to_the_inventory_and_sent_along() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("files")).unwrap();
        std::fs::write(d.path().join("files/cmdb.sql"), "CREATE TABLE t(id int);\n").unwrap();
        let text = "all:\n  children:\n    pg-x:\n      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }\n      vars:\n        pg_cluster: pg-x\n        pg_databases: [{ name: meta, baseline: cmdb.sql }, { name: other, baseline: missing.sql }]\n";
        let path = d.path().join("pigsty.yml");
        let inv = inventory(path.to_str().unwrap(), text);
        let hosts: Vec<&Host> = inv.hosts.iter().collect();
        let files = inventory_files(&inv, &hosts);
        assert_eq!(
            files.get("cmdb.sql").map(String::as_str),
            Some("CREATE TABLE t(id int);\n")
        );
        assert!(!files.contains_key("missing.sql"));
        let extra = Extra { scope: None, files };
        let opts = apply_opts();
        let phase = |m| Phase {
            module: m,
            hosts: vec!["10.0.0.1".into()],
            remove: false,
        };
        let r = request(&inv, "10.0.0.1", &phase(Module::Pgsql), &opts, &extra).unwrap();
        assert!(r.files.contains_key("cmdb.sql"));
        // no etcd in this inventory and no root password: nothing to derive
        assert!(!r.inventory.contains("pg_etcd_password"), "{}", r.inventory);
        assert!(
            request(&inv, "10.0.0.1", &phase(Module::Node), &opts, &extra)
                .unwrap()
                .files
                .is_empty(),
            "only pgsql needs them"
        );
    }
}
