//! The controller: decides which hosts and modules a command touches and in what
//! order (Pigsty's: NODE, INFRA, ETCD, MINIO, PGSQL primaries then the rest, REDIS),
//! ships itself to remote hosts, runs node mode on each (the local host without SSH),
//! in parallel within a phase (bounded by `--forks`), and feeds their events to the
//! reporter. A host that fails drops out of later phases; the others go on.
use crate::engine::{Event, Mode};
use crate::facts::Facts;
use crate::inventory::{Host, Inventory, Module, PgRole};
use crate::modules::ORDER;
use crate::remote::request::{NodeDone, NodeRequest};
use crate::remote::{Ssh, SshError};
use crate::report::Reporter;
use crate::sys::CmdError;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::sync::Mutex;

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
    run_phases(inv, phases(inv, selected, opts.modules.as_ref()), opts, rep)
}

/// Run the given phases in order; a host that fails drops out of later phases.
pub fn run_phases(
    inv: &Inventory,
    phases: Vec<Phase>,
    opts: &Options,
    rep: &Mutex<Reporter>,
) -> Outcome {
    let facts = Facts::gather();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let copied: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    for phase in phases {
        let hosts: Vec<String> = phase
            .hosts
            .iter()
            .filter(|h| !failed.contains_key(*h))
            .cloned()
            .collect();
        if hosts.is_empty() {
            continue;
        }
        let queue = Mutex::new(hosts.into_iter().collect::<VecDeque<_>>());
        let results: Mutex<Vec<(String, Result<(), String>)>> = Mutex::new(vec![]);
        let workers = opts
            .forks
            .max(1)
            .min(queue.lock().map(|q| q.len()).unwrap_or(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let Some(h) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                        break;
                    };
                    let r = run_host(inv, &h, &phase, opts, &facts, &copied, rep);
                    if let Ok(mut v) = results.lock() {
                        v.push((h, r));
                    }
                });
            }
        });
        for (h, r) in results.into_inner().unwrap_or_default() {
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

fn request(inv: &Inventory, host: &str, phase: &Phase, opts: &Options) -> NodeRequest {
    NodeRequest {
        inventory: inv.source.clone(),
        inventory_name: inv.path.display().to_string(),
        extra_vars: opts.extra_vars.clone(),
        host: host.into(),
        modules: vec![phase.module.to_string()],
        mode: if opts.mode == Mode::Apply {
            "apply".into()
        } else {
            "check".into()
        },
        remove: phase.remove,
        forget: opts.forget.clone(),
        pki: crate::pki::for_host(inv, host, phase.module),
    }
}

fn run_host(
    inv: &Inventory,
    host: &str,
    phase: &Phase,
    opts: &Options,
    facts: &Facts,
    copied: &Mutex<BTreeSet<String>>,
    rep: &Mutex<Reporter>,
) -> Result<(), String> {
    let req = serde_json::to_vec(&request(inv, host, phase, opts)).map_err(|e| e.to_string())?;
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
        ssh.accept_new = opts.accept_new_host_keys;
        let first = copied
            .lock()
            .map(|mut c| c.insert(host.to_string()))
            .unwrap_or(true);
        if first {
            ssh.probe().map_err(|e| probe_error(host, e))?;
            ssh.copy_self().map_err(|e| e.to_string())?;
        }
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
                if let Ok(mut r) = rep.lock() {
                    r.event(&ev);
                }
            } else if let Ok(d) = serde_json::from_str::<NodeDone>(&line) {
                done = Some(d);
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let stderr = err_thread.join().unwrap_or_default();
    match done {
        Some(d) if d.ok && status.success() => Ok(()),
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
}
