//! What the user sees: progress on stderr (a spinner per host on a TTY, one line per
//! change otherwise), JSON lines on stdout with `--json`, and a recap table at the end.
use crate::engine::{Event, Status, Tally};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

pub struct Reporter {
    json: bool,
    check: bool,
    bar: Option<ProgressBar>,
    pub hosts: BTreeMap<String, HostRecap>,
}

#[derive(Debug, Default, Clone)]
pub struct HostRecap {
    pub tally: Tally,
    pub skipped: Vec<String>,
    pub failed: Vec<String>,
    pub changes: Vec<String>,
}

impl Reporter {
    pub fn new(json: bool, check: bool) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Reporter { json, check, bar, hosts: BTreeMap::new() }
    }

    fn line(&self, s: &str) {
        match &self.bar {
            Some(b) => b.println(s),
            None => eprintln!("{s}"),
        }
    }

    pub fn event(&mut self, ev: &Event) {
        if self.json {
            if let Ok(s) = serde_json::to_string(ev) {
                println!("{s}");
            }
        }
        match ev {
            Event::ModuleStart { host, module, steps } => {
                if let Some(b) = &self.bar {
                    b.set_message(format!("{host} {module}: {steps} steps"));
                } else if !self.json {
                    eprintln!("{host} {module}: {steps} steps");
                }
            }
            Event::Step { host, module, kind, name, status, diffs, error, ms, .. } => {
                let r = self.hosts.entry(host.clone()).or_default();
                let what = format!("{module}: {kind} {name}");
                match status {
                    Status::Changed | Status::WouldChange => r.changes.push(format!("{what}: {}", diffs.join(", "))),
                    Status::Skipped => r.skipped.push(format!("{what}: {}", diffs.join(", "))),
                    Status::Failed => r.failed.push(format!("{what}: {}", error.clone().unwrap_or_default())),
                    Status::Ok => {}
                }
                if self.json {
                    return;
                }
                if let Some(b) = &self.bar {
                    b.set_message(format!("{host} {what}"));
                }
                let mark = match status {
                    Status::Ok => return,
                    Status::Changed => "changed",
                    Status::WouldChange => "~",
                    Status::Skipped => "skipped",
                    Status::Failed => "FAILED",
                };
                let detail = if *status == Status::Failed {
                    error.clone().unwrap_or_default()
                } else {
                    diffs.join(", ")
                };
                let time = if *ms >= 1000 { format!(" ({:.1}s)", *ms as f64 / 1000.0) } else { String::new() };
                self.line(&format!("  {mark:>7} {host} {what}: {detail}{time}"));
            }
            Event::Handler { host, module, action, status, error, .. } => {
                if self.json {
                    return;
                }
                let mark = match status {
                    Status::Failed => "FAILED",
                    Status::WouldChange => "~",
                    _ => "handler",
                };
                let e = error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                self.line(&format!("  {mark:>7} {host} {module}: {action}{e}"));
            }
            Event::ModuleEnd { host, module, ok, changed, failed, skipped, ms } => {
                let r = self.hosts.entry(host.clone()).or_default();
                r.tally.add(Tally { ok: *ok, changed: *changed, failed: *failed, skipped: *skipped });
                if !self.json {
                    let verb = if self.check { "would change" } else { "changed" };
                    self.line(&format!(
                        "{host} {module}: {ok} ok, {changed} {verb}{}{} in {:.1}s",
                        if *skipped > 0 { format!(", {skipped} skipped") } else { String::new() },
                        if *failed > 0 { format!(", {failed} failed") } else { String::new() },
                        *ms as f64 / 1000.0
                    ));
                }
            }
        }
    }

    /// A host failed outside a step (unreachable, ssh, node mode could not start).
    pub fn host_failed(&mut self, host: &str, why: &str) {
        let r = self.hosts.entry(host.to_string()).or_default();
        if !r.failed.iter().any(|f| why.contains(f.as_str()) || f.contains(why)) && !why.is_empty() {
            if r.failed.is_empty() {
                r.tally.failed += 1;
                r.failed.push(why.to_string());
            }
        }
        if !self.json {
            self.line(&format!("   FAILED {host}: {}", why.lines().next().unwrap_or("")));
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    /// The recap table on stderr (or a JSON object on stdout with `--json`).
    pub fn recap(&self) {
        self.finish();
        if self.json {
            let v: BTreeMap<_, _> = self
                .hosts
                .iter()
                .map(|(h, r)| {
                    (
                        h.clone(),
                        serde_json::json!({"ok": r.tally.ok, "changed": r.tally.changed, "skipped": r.tally.skipped,
                            "failed": r.tally.failed, "skipped_reasons": r.skipped, "failures": r.failed}),
                    )
                })
                .collect();
            println!("{}", serde_json::json!({"event": "recap", "hosts": v}));
            return;
        }
        let changed = if self.check { "would change" } else { "changed" };
        eprintln!();
        eprintln!("{:<18} {:>6} {:>13} {:>8} {:>7}", "HOST", "OK", changed.to_uppercase(), "SKIPPED", "FAILED");
        for (h, r) in &self.hosts {
            eprintln!("{:<18} {:>6} {:>13} {:>8} {:>7}", h, r.tally.ok, r.tally.changed, r.tally.skipped, r.tally.failed);
        }
        for (h, r) in &self.hosts {
            for s in &r.skipped {
                eprintln!("skipped on {h}: {s}");
            }
            for f in &r.failed {
                eprintln!("failed on {h}: {f}");
            }
        }
    }

    pub fn total(&self) -> Tally {
        let mut t = Tally::default();
        for r in self.hosts.values() {
            t.add(r.tally);
        }
        t
    }
}
