//! The engine: runs a module's plan on this host. For each step: check; if it
//! drifted, apply and re-check (still drifting is a bug and fails). Handlers
//! (restart/reload/commands) queue up and run once at the end of the module or at
//! an explicit flush, and never for a unit this run has just started.
use crate::resources::{Delta, Resource, State, UnitAction};
use crate::sys::{systemd, Cmd};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What to do when a step changed something.
#[derive(Debug, Clone)]
pub enum Handler {
    /// `systemctl daemon-reload`, right away (unit files).
    DaemonReload,
    /// Restart the unit once at the next flush.
    Restart(String),
    /// Reload the unit once at the next flush (a restart of the same unit wins).
    Reload(String),
    /// Run a command once at the next flush (deduplicated by label).
    Run(String, Cmd),
}

impl Handler {
    fn label(&self) -> String {
        match self {
            Handler::DaemonReload => "daemon-reload".into(),
            Handler::Restart(u) => format!("restart {u}"),
            Handler::Reload(u) => format!("reload {u}"),
            Handler::Run(l, _) => l.clone(),
        }
    }
}

pub struct Step {
    pub res: Box<dyn Resource>,
    pub notify: Vec<Handler>,
}

pub enum Item {
    Step(Step),
    /// Run queued handlers now (a later step needs the restarted service).
    Flush,
}

/// The ordered steps of one module on one host.
pub struct ModulePlan {
    pub module: String,
    pub items: Vec<Item>,
}

impl ModulePlan {
    pub fn new(module: &str) -> Self {
        ModulePlan {
            module: module.into(),
            items: vec![],
        }
    }
    pub fn add(&mut self, r: impl Resource + 'static) -> &mut Self {
        self.items.push(Item::Step(Step {
            res: Box::new(r),
            notify: vec![],
        }));
        self
    }
    /// Add a step that triggers handlers when it changes something.
    pub fn add_notify(&mut self, r: impl Resource + 'static, notify: Vec<Handler>) -> &mut Self {
        self.items.push(Item::Step(Step {
            res: Box::new(r),
            notify,
        }));
        self
    }
    pub fn flush(&mut self) -> &mut Self {
        self.items.push(Item::Flush);
        self
    }
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.items.iter().filter_map(|i| match i {
            Item::Step(s) => Some(s),
            Item::Flush => None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Changed,
    WouldChange,
    /// Could not be had on this machine and the inventory allows it to be absent;
    /// the reason names the package, module and what to add. Never silent.
    Skipped,
    Failed,
}

/// Progress events, streamed as JSON lines in node mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    ModuleStart {
        host: String,
        module: String,
        steps: usize,
    },
    Step {
        host: String,
        module: String,
        kind: String,
        name: String,
        status: Status,
        /// The changes as users read them.
        diffs: Vec<String>,
        /// The same, typed.
        #[serde(default)]
        changes: Vec<Delta>,
        error: Option<String>,
        ms: u64,
    },
    Handler {
        host: String,
        module: String,
        action: String,
        status: Status,
        error: Option<String>,
        ms: u64,
    },
    ModuleEnd {
        host: String,
        module: String,
        ok: usize,
        changed: usize,
        failed: usize,
        skipped: usize,
        ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Check only: report what would change.
    Check,
    /// Check and converge.
    Apply,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Tally {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Tally {
    pub fn add(&mut self, o: Tally) {
        self.ok += o.ok;
        self.changed += o.changed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{module}: {kind} `{name}` failed: {error}")]
pub struct StepFailed {
    pub module: String,
    pub kind: String,
    pub name: String,
    pub error: String,
}

struct Queue {
    handlers: Vec<Handler>,
    started: Vec<String>,
    /// Where queued restarts/reloads are remembered until they ran (node mode, apply).
    pending: Option<std::path::PathBuf>,
    /// How many of `handlers` a failed run left owed (read in both modes: a check
    /// reports them as changes to come).
    owed: usize,
}

/// Node mode's state directory: pending restarts and reloads live under `pending/`.
pub const STATE_DIR_DEFAULT: &str = "/var/lib/pigsty";

/// How one module runs on this host.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The inventory host, for events.
    pub host: &'a str,
    pub mode: Mode,
    /// Where restarts and reloads that were queued but did not run (the run failed in
    /// between) are remembered for the next run; `None`: not remembered (tests, plan).
    pub state_dir: Option<&'a std::path::Path>,
}

impl<'a> Run<'a> {
    pub fn new(host: &'a str, mode: Mode) -> Run<'a> {
        Run {
            host,
            mode,
            state_dir: None,
        }
    }
}

fn pending_path(state_dir: Option<&std::path::Path>, module: &str) -> Option<std::path::PathBuf> {
    state_dir.map(|d| d.join("pending").join(format!("{module}.json")))
}

/// Handlers that survive a failed run: restarts and reloads of units.
#[derive(Serialize, Deserialize)]
struct Pending {
    restart: Vec<String>,
    reload: Vec<String>,
}

impl Queue {
    fn new(module: &str, run: &Run) -> Queue {
        let path = pending_path(run.state_dir, module);
        let mut q = Queue {
            handlers: vec![],
            started: vec![],
            pending: path.clone().filter(|_| run.mode == Mode::Apply),
            owed: 0,
        };
        if let Some(p) = &path {
            if let Some(saved) = std::fs::read(p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
            {
                for u in saved.restart {
                    q.handlers.push(Handler::Restart(u));
                }
                for u in saved.reload {
                    q.handlers.push(Handler::Reload(u));
                }
                q.owed = q.handlers.len();
            }
        }
        q
    }
    fn push(&mut self, h: &Handler) {
        let l = h.label();
        if !self.handlers.iter().any(|x| x.label() == l) {
            self.handlers.push(h.clone());
            self.save();
        }
    }
    fn save(&self) {
        let Some(p) = &self.pending else { return };
        let (mut restart, mut reload) = (vec![], vec![]);
        for h in &self.handlers {
            match h {
                Handler::Restart(u) => restart.push(u.clone()),
                Handler::Reload(u) => reload.push(u.clone()),
                _ => {}
            }
        }
        if restart.is_empty() && reload.is_empty() {
            let _ = std::fs::remove_file(p);
            return;
        }
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        if let Ok(b) = serde_json::to_vec(&Pending { restart, reload }) {
            let _ = crate::sys::fs::write_atomic(p, &b, 0o600, None, None);
        }
    }
}

pub fn run_module(
    run: &Run,
    plan: &ModulePlan,
    sink: &mut dyn FnMut(&Event),
) -> Result<Tally, StepFailed> {
    let (host, mode) = (run.host, run.mode);
    let t0 = Instant::now();
    let module = plan.module.clone();
    sink(&Event::ModuleStart {
        host: host.into(),
        module: module.clone(),
        steps: plan.steps().count(),
    });
    let mut tally = Tally::default();
    let mut q = Queue::new(&module, run);
    let mut result = Ok(());
    for item in &plan.items {
        match item {
            Item::Flush => {
                if mode == Mode::Apply {
                    if let Err(e) = flush(host, &module, &mut q, &mut tally, sink) {
                        result = Err(e);
                        break;
                    }
                }
            }
            Item::Step(step) => {
                if let Err(e) = run_step(host, &module, step, mode, &mut q, &mut tally, sink) {
                    result = Err(e);
                    break;
                }
            }
        }
    }
    if result.is_ok() {
        if mode == Mode::Apply {
            result = flush(host, &module, &mut q, &mut tally, sink);
        } else {
            // restarts a failed run left owed are changes the next apply makes
            tally.changed += q.owed;
            for h in q.handlers.drain(..) {
                sink(&Event::Handler {
                    host: host.into(),
                    module: module.clone(),
                    action: h.label(),
                    status: Status::WouldChange,
                    error: None,
                    ms: 0,
                });
            }
        }
    }
    sink(&Event::ModuleEnd {
        host: host.into(),
        module,
        ok: tally.ok,
        changed: tally.changed,
        failed: tally.failed,
        skipped: tally.skipped,
        ms: t0.elapsed().as_millis() as u64,
    });
    result.map(|_| tally)
}

fn run_step(
    host: &str,
    module: &str,
    step: &Step,
    mode: Mode,
    q: &mut Queue,
    tally: &mut Tally,
    sink: &mut dyn FnMut(&Event),
) -> Result<(), StepFailed> {
    let t = Instant::now();
    let r = &step.res;
    let ev = |status, changes: Vec<Delta>, error: Option<String>, t: Instant| Event::Step {
        host: host.into(),
        module: module.into(),
        kind: r.kind().into(),
        name: r.name(),
        status,
        diffs: changes.iter().map(ToString::to_string).collect(),
        changes,
        error,
        ms: t.elapsed().as_millis() as u64,
    };
    let fail = |e: String| StepFailed {
        module: module.into(),
        kind: r.kind().into(),
        name: r.name(),
        error: e,
    };
    let state = match r.check() {
        Ok(s) => s,
        Err(e) if mode == Mode::Check => State::Drift(vec![Delta::Unknown { why: e.to_string() }]),
        Err(e) => {
            tally.failed += 1;
            sink(&ev(Status::Failed, vec![], Some(e.to_string()), t));
            return Err(fail(e.to_string()));
        }
    };
    let diffs = match state {
        State::Skip(why) => {
            tally.skipped += 1;
            sink(&ev(Status::Skipped, vec![Delta::note(why)], None, t));
            return Ok(());
        }
        State::InSync => {
            tally.ok += 1;
            sink(&ev(Status::Ok, vec![], None, t));
            return Ok(());
        }
        State::Drift(d) => d,
    };
    if mode == Mode::Check {
        tally.changed += 1;
        for h in &step.notify {
            q.push(h);
        }
        sink(&ev(Status::WouldChange, diffs, None, t));
        return Ok(());
    }
    // a unit this step starts is not restarted by a handler of the same module
    let starting = diffs.contains(&Delta::Unit {
        action: UnitAction::Start,
    });
    let res = r.apply().map_err(|e| e.to_string()).and_then(|_| {
        if !r.recheck() {
            return Ok(());
        }
        match r.check() {
            Ok(State::InSync) | Ok(State::Skip(_)) => Ok(()),
            Ok(s @ State::Drift(_)) => Err(format!(
                "still out of sync after apply: {}",
                s.words().join(", ")
            )),
            Err(e) => Err(format!("re-check after apply failed: {e}")),
        }
    });
    match res {
        Ok(()) => {
            tally.changed += 1;
            if starting {
                q.started.push(r.name());
            }
            for h in &step.notify {
                if matches!(h, Handler::DaemonReload) {
                    let _ = systemd::systemctl(&["daemon-reload"]);
                } else {
                    q.push(h);
                }
            }
            sink(&ev(Status::Changed, diffs, None, t));
            Ok(())
        }
        Err(e) => {
            tally.failed += 1;
            sink(&ev(Status::Failed, diffs, Some(e.clone()), t));
            Err(fail(e))
        }
    }
}

fn flush(
    host: &str,
    module: &str,
    q: &mut Queue,
    tally: &mut Tally,
    sink: &mut dyn FnMut(&Event),
) -> Result<(), StepFailed> {
    let handlers: Vec<Handler> = q.handlers.clone();
    let restarted: Vec<String> = handlers
        .iter()
        .filter_map(|h| {
            if let Handler::Restart(u) = h {
                Some(u.clone())
            } else {
                None
            }
        })
        .collect();
    for h in handlers {
        let t = Instant::now();
        let res = match &h {
            Handler::DaemonReload => {
                systemd::systemctl(&["daemon-reload"]).map_err(|e| e.to_string())
            }
            Handler::Restart(u) | Handler::Reload(u) if q.started.contains(u) => continue,
            Handler::Reload(u) if restarted.contains(u) => continue,
            Handler::Restart(u) => {
                systemd::systemctl(&["restart", u]).map_err(|e| with_journal(e, u))
            }
            Handler::Reload(u) => {
                systemd::systemctl(&["reload", u]).map_err(|e| with_journal(e, u))
            }
            Handler::Run(_, c) => c.ok().map(|_| ()).map_err(|e| e.to_string()),
        };
        let ms = t.elapsed().as_millis() as u64;
        match res {
            Ok(()) => sink(&Event::Handler {
                host: host.into(),
                module: module.into(),
                action: h.label(),
                status: Status::Changed,
                error: None,
                ms,
            }),
            Err(e) => {
                tally.failed += 1;
                sink(&Event::Handler {
                    host: host.into(),
                    module: module.into(),
                    action: h.label(),
                    status: Status::Failed,
                    error: Some(e.clone()),
                    ms,
                });
                return Err(StepFailed {
                    module: module.into(),
                    kind: "handler".into(),
                    name: h.label(),
                    error: e,
                });
            }
        }
        let l = h.label();
        q.handlers.retain(|x| x.label() != l);
        q.save();
    }
    q.handlers.clear();
    q.save();
    Ok(())
}

/// A failed systemctl call, with the last lines of the unit's journal.
fn with_journal(e: crate::sys::CmdError, unit: &str) -> String {
    let journal = crate::sys::systemd::journal_tail(unit, 12);
    format!("{e}\njournal of `{unit}`:\n{}", journal.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Exec, File};

    use crate::sys::fs::my_owner as me;

    #[test]
    fn apply_changes_then_second_run_is_all_ok() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let marker = d.path().join("handler-ran");
        let mk = || {
            let mut p = ModulePlan::new("test");
            p.add_notify(
                File::new(d.path().join("a.conf"), "a=1\n").owner(&u, &g),
                vec![Handler::Run(
                    "touch marker".into(),
                    Cmd::new("touch").arg(marker.to_str().unwrap()),
                )],
            );
            p
        };
        let mut events = vec![];
        let t = run_module(&Run::new("h", Mode::Apply), &mk(), &mut |e| {
            events.push(e.clone())
        })
        .unwrap();
        assert_eq!((t.ok, t.changed, t.failed), (0, 1, 0));
        assert!(marker.exists(), "handler ran once");
        std::fs::remove_file(&marker).unwrap();
        let t = run_module(&Run::new("h", Mode::Apply), &mk(), &mut |_| {}).unwrap();
        assert_eq!((t.ok, t.changed), (1, 0));
        assert!(!marker.exists(), "no change, no handler");
    }

    #[test]
    fn check_mode_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let mut p = ModulePlan::new("test");
        p.add(File::new(d.path().join("a.conf"), "a=1\n").owner(&u, &g));
        let t = run_module(&Run::new("h", Mode::Check), &p, &mut |_| {}).unwrap();
        assert_eq!(t.changed, 1);
        assert!(!d.path().join("a.conf").exists());
    }

    #[test]
    fn failed_step_stops_the_module_and_names_the_command() {
        let mut p = ModulePlan::new("test");
        p.add(Exec::new(
            "boom",
            Cmd::new("sh").args(["-c", "echo broken >&2; exit 4"]),
        ));
        p.add(Exec::new("never", Cmd::new("true")));
        let mut n = 0;
        let e = run_module(&Run::new("h", Mode::Apply), &p, &mut |ev| {
            if matches!(ev, Event::Step { .. }) {
                n += 1
            }
        })
        .unwrap_err();
        assert_eq!(n, 1, "second step never ran");
        let s = e.to_string();
        assert!(
            s.contains("exec `boom`") && s.contains("code 4") && s.contains("broken"),
            "{s}"
        );
    }

    #[test]
    fn a_restart_lost_to_a_failed_run_is_done_by_the_next_run() {
        let d = tempfile::tempdir().unwrap();
        let run = Run {
            host: "h",
            mode: Mode::Apply,
            state_dir: Some(d.path()),
        };
        let p = pending_path(run.state_dir, "pending-test").unwrap();
        let (u, g) = me();
        let mut plan = ModulePlan::new("pending-test");
        plan.add_notify(
            File::new(d.path().join("x.conf"), "x\n").owner(&u, &g),
            vec![Handler::Restart("pigsty-no-such-unit.service".into())],
        );
        plan.add(Exec::new("boom", Cmd::new("false")));
        assert!(run_module(&run, &plan, &mut |_| {}).is_err());
        let saved = std::fs::read_to_string(&p).unwrap();
        assert!(saved.contains("pigsty-no-such-unit.service"), "{saved}");
        // the file is now in sync, but the restart is still owed: a check says so
        // (and leaves it owed), the next apply does it
        let mut again = ModulePlan::new("pending-test");
        again.add(File::new(d.path().join("x.conf"), "x\n").owner(&u, &g));
        let check = Run {
            mode: Mode::Check,
            ..run
        };
        let mut would = vec![];
        let t = run_module(&check, &again, &mut |e| {
            if let Event::Handler { action, status, .. } = e {
                would.push((action.clone(), *status))
            }
        })
        .unwrap();
        assert_eq!(t.changed, 1, "the owed restart is a change to come");
        assert_eq!(
            would,
            vec![(
                "restart pigsty-no-such-unit.service".to_string(),
                Status::WouldChange
            )]
        );
        assert!(p.exists(), "a check leaves the restart owed");
        let mut actions = vec![];
        let _ = run_module(&run, &again, &mut |e| {
            if let Event::Handler { action, .. } = e {
                actions.push(action.clone())
            }
        });
        assert_eq!(
            actions,
            vec!["restart pigsty-no-such-unit.service".to_string()]
        );
    }

    #[test]
    fn step_still_drifting_after_apply_is_a_failure() {
        let mut p = ModulePlan::new("test");
        p.add(Exec::new("liar", Cmd::new("true")).unless(Cmd::new("false")));
        let e = run_module(&Run::new("h", Mode::Apply), &p, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("still out of sync"), "{e}");
    }
}
