//! What the user sees: progress on stderr (on a terminal, one line per host with its
//! module, step count and current step, above the lines of what changed; elsewhere
//! only those lines), JSON lines on stdout with `--json`, and a recap table at the end.
//! Nothing is coloured, so `NO_COLOR` holds by construction.
use crate::engine::{Event, Status, Tally};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

pub struct Reporter {
    json: bool,
    check: bool,
    /// The progress lines, on a terminal only.
    multi: Option<MultiProgress>,
    /// One progress line per host.
    bars: BTreeMap<String, ProgressBar>,
    /// Per host: module, steps done, steps in the module.
    at: BTreeMap<String, (String, usize, usize)>,
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
        let multi = (!json && std::io::stderr().is_terminal()).then(MultiProgress::new);
        Reporter {
            json,
            check,
            multi,
            bars: BTreeMap::new(),
            at: BTreeMap::new(),
            hosts: BTreeMap::new(),
        }
    }

    fn line(&self, s: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(s);
            }
            None => eprintln!("{s}"),
        }
    }

    /// Show `msg` on the host's progress line (made on first use; terminals only).
    fn show(&mut self, host: &str, msg: String) {
        let Some(m) = &self.multi else { return };
        let b = self.bars.entry(host.to_string()).or_insert_with(|| {
            let b = m.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix:<16} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(host.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        b.set_message(msg);
    }

    pub fn event(&mut self, ev: &Event) {
        if self.json {
            if let Ok(s) = serde_json::to_string(ev) {
                println!("{s}");
            }
        }
        // `-v`: modules as they start and end; `-vv`: every step
        match ev {
            Event::ModuleStart {
                host,
                module,
                steps,
            } => {
                tracing::info!(host = %host, module = %module, steps, "module starts");
                self.at.insert(host.clone(), (module.clone(), 0, *steps));
                if self.multi.is_some() {
                    self.show(host, format!("{module} 0/{steps}"));
                } else if !self.json {
                    eprintln!("{host} {module}: {steps} steps");
                }
            }
            Event::Step {
                host,
                module,
                kind,
                name,
                status,
                diffs,
                error,
                ms,
                ..
            } => {
                tracing::debug!(host = %host, module = %module, step = %format!("{kind} {name}"), status = ?status, ms, "step");
                let r = self.hosts.entry(host.clone()).or_default();
                let what = format!("{module}: {kind} {name}");
                match status {
                    Status::Changed | Status::WouldChange => {
                        r.changes.push(format!("{what}: {}", diffs.join(", ")))
                    }
                    Status::Skipped => r.skipped.push(format!("{what}: {}", diffs.join(", "))),
                    Status::Failed => r
                        .failed
                        .push(format!("{what}: {}", error.clone().unwrap_or_default())),
                    Status::Ok => {}
                }
                if self.json {
                    return;
                }
                if let Some((m, done, total)) = self.at.get_mut(host) {
                    *done += 1;
                    let msg = format!("{m} {done}/{total} {kind} {name}");
                    self.show(host, msg);
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
                let time = if *ms >= 1000 {
                    format!(" ({:.1}s)", *ms as f64 / 1000.0)
                } else {
                    String::new()
                };
                self.line(&format!("  {mark:>7} {host} {what}: {detail}{time}"));
            }
            Event::Handler {
                host,
                module,
                action,
                status,
                error,
                ..
            } => {
                tracing::debug!(host = %host, module = %module, action = %action, status = ?status, "handler");
                if self.json {
                    return;
                }
                let mark = match status {
                    Status::Failed => "FAILED",
                    Status::WouldChange => "~",
                    _ => "handler",
                };
                let e = error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                self.line(&format!("  {mark:>7} {host} {module}: {action}{e}"));
            }
            Event::ModuleEnd {
                host,
                module,
                ok,
                changed,
                failed,
                skipped,
                ms,
            } => {
                tracing::info!(host = %host, module = %module, ok, changed, failed, ms, "module ends");
                let r = self.hosts.entry(host.clone()).or_default();
                r.tally.add(Tally {
                    ok: *ok,
                    changed: *changed,
                    failed: *failed,
                    skipped: *skipped,
                });
                if !self.json {
                    let verb = if self.check {
                        "would change"
                    } else {
                        "changed"
                    };
                    self.show(
                        host,
                        format!("{module} done: {ok} ok, {changed} {verb}, {failed} failed"),
                    );
                    self.line(&format!(
                        "{host} {module}: {ok} ok, {changed} {verb}{}{} in {:.1}s",
                        if *skipped > 0 {
                            format!(", {skipped} skipped")
                        } else {
                            String::new()
                        },
                        if *failed > 0 {
                            format!(", {failed} failed")
                        } else {
                            String::new()
                        },
                        *ms as f64 / 1000.0
                    ));
                }
            }
        }
    }

    /// A host failed outside a step (unreachable, ssh, node mode could not start).
    pub fn host_failed(&mut self, host: &str, why: &str) {
        let r = self.hosts.entry(host.to_string()).or_default();
        if !r
            .failed
            .iter()
            .any(|f| why.contains(f.as_str()) || f.contains(why))
            && !why.is_empty()
            && r.failed.is_empty()
        {
            r.tally.failed += 1;
            r.failed.push(why.to_string());
        }
        if !self.json {
            self.show(host, "FAILED".into());
            self.line(&format!(
                "   FAILED {host}: {}",
                why.lines().next().unwrap_or("")
            ));
        }
    }

    pub fn finish(&self) {
        for b in self.bars.values() {
            b.finish_and_clear();
        }
        if let Some(m) = &self.multi {
            let _ = m.clear();
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
        let changed = if self.check {
            "would change"
        } else {
            "changed"
        };
        eprintln!();
        eprintln!(
            "{:<18} {:>6} {:>13} {:>8} {:>7}",
            "HOST",
            "OK",
            changed.to_uppercase(),
            "SKIPPED",
            "FAILED"
        );
        for (h, r) in &self.hosts {
            eprintln!(
                "{:<18} {:>6} {:>13} {:>8} {:>7}",
                h, r.tally.ok, r.tally.changed, r.tally.skipped, r.tally.failed
            );
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

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn each_host_gets_its_own_progress_line_with_its_step_count() {
        let mut r = Reporter::new(false, false);
        r.multi = Some(MultiProgress::with_draw_target(
            indicatif::ProgressDrawTarget::hidden(),
        ));
        for h in ["10.0.0.1", "10.0.0.2"] {
            r.event(&Event::ModuleStart {
                host: h.into(),
                module: "node".into(),
                steps: 3,
            });
        }
        r.event(&Event::Step {
            host: "10.0.0.2".into(),
            module: "node".into(),
            kind: "file".into(),
            name: "/etc/x".into(),
            status: Status::Ok,
            diffs: vec![],
            changes: vec![],
            error: None,
            ms: 1,
        });
        assert_eq!(r.bars.len(), 2, "one line per host");
        assert_eq!(r.bars["10.0.0.2"].message(), "node 1/3 file /etc/x");
        assert_eq!(r.bars["10.0.0.1"].message(), "node 0/3");
        r.finish();
    }
}
