//! `Fresh`: a running service that has taken its current configuration.
//!
//! Shared by INFRA, NODE and ETCD (API: `restart`, `reload`, `reload_workers`).
//!
//! Restarts and reloads are handlers: they run once at the end of a module. When a run
//! fails in between (a later step, another handler), the files are written and the next
//! run sees nothing to change, so the daemon would keep the old settings. A `Fresh`
//! step converges on state instead: it compares the newest modification time of the
//! files (directories: everything under them) with when the daemon last took them:
//!
//! - [`Fresh::restart`]: the unit's start time (`ActiveEnterTimestamp`): files read only
//!   at start (`/etc/default/<unit>`);
//! - [`Fresh::reload`]: a metric the daemon exports with the time of its last successful
//!   reload (`prometheus_config_last_reload_success_timestamp_seconds`): the unit's
//!   `ExecReload` (SIGHUP), then wait until the metric has moved;
//! - [`Fresh::reload_workers`]: the start time of the unit's worker processes (nginx:
//!   a reload replaces the workers, the master keeps running).
use super::{ResError, ResResult, Resource, State};
use crate::sys::{systemd, Cmd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

enum How {
    Restart,
    Reload {
        addr: String,
        path: String,
        metric: String,
    },
    ReloadWorkers,
}

pub struct Fresh {
    pub unit: String,
    pub files: Vec<PathBuf>,
    how: How,
}

impl Fresh {
    /// Restart `unit` when one of `files` is newer than the running process.
    pub fn restart(unit: &str, files: &[&str]) -> Self {
        Fresh {
            unit: unit.into(),
            files: files.iter().map(PathBuf::from).collect(),
            how: How::Restart,
        }
    }
    /// Reload `unit` when one of `files` is newer than its last successful reload, read
    /// from `metric` at `http://addr{path}`.
    pub fn reload(unit: &str, files: &[&str], addr: &str, path: &str, metric: &str) -> Self {
        Fresh {
            unit: unit.into(),
            files: files.iter().map(PathBuf::from).collect(),
            how: How::Reload {
                addr: addr.into(),
                path: path.into(),
                metric: metric.into(),
            },
        }
    }
    /// Reload `unit` when one of `files` is newer than its oldest worker process.
    pub fn reload_workers(unit: &str, files: &[&str]) -> Self {
        Fresh {
            unit: unit.into(),
            files: files.iter().map(PathBuf::from).collect(),
            how: How::ReloadWorkers,
        }
    }

    fn verb(&self) -> &'static str {
        match self.how {
            How::Restart => "restart",
            _ => "reload",
        }
    }

    /// When the daemon last took its configuration (seconds since the epoch) and the
    /// resolution of that clock; `Ok(None)` when it is not running (left to `Service`).
    /// A reload metric that does not answer yet (the daemon is starting) is waited for
    /// a few seconds, so a fresh start is not followed by a needless reload.
    fn taken(&self) -> Result<Option<(f64, f64)>, String> {
        if !systemd::is_active(&self.unit) {
            return Ok(None);
        }
        match &self.how {
            How::Restart => Ok(unit_started(&self.unit).map(|t| (t, 1e-3))),
            How::Reload { addr, path, metric } => {
                let t0 = Instant::now();
                loop {
                    let r = super::http::get(addr, path, Duration::from_secs(3)).and_then(
                        |(code, body)| {
                            if !(200..300).contains(&code) {
                                return Err(format!("`http://{addr}{path}` answered HTTP {code}"));
                            }
                            metric_value(&body, metric)
                                .ok_or_else(|| format!("`http://{addr}{path}` has no `{metric}`"))
                        },
                    );
                    match r {
                        // whole seconds (haproxy's start time): a reload in the same second counts
                        Ok(t) => return Ok(Some((t, if t.fract() == 0.0 { 1.0 } else { 1e-3 }))),
                        Err(e) if t0.elapsed() > Duration::from_secs(15) => return Err(e),
                        Err(_) => std::thread::sleep(Duration::from_millis(300)),
                    }
                }
            }
            How::ReloadWorkers => Ok(workers_started(&self.unit)),
        }
    }

    /// The newest file and its modification time (seconds since the epoch).
    fn newest(&self) -> Option<(PathBuf, f64)> {
        let mut best: Option<(PathBuf, f64)> = None;
        for f in &self.files {
            newest_under(f, 0, &mut best);
        }
        best
    }
}

fn mtime(p: &Path) -> Option<f64> {
    let m = std::fs::symlink_metadata(p).ok()?.modified().ok()?;
    Some(m.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

fn newest_under(p: &Path, depth: usize, best: &mut Option<(PathBuf, f64)>) {
    let Some(t) = mtime(p) else { return };
    if best.as_ref().map(|(_, b)| t > *b).unwrap_or(true) {
        *best = Some((p.to_path_buf(), t));
    }
    if depth < 4 && p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                newest_under(&e.path(), depth + 1, best);
            }
        }
    }
}

/// `ActiveEnterTimestamp` of a unit in seconds since the epoch, to the microsecond.
fn unit_started(unit: &str) -> Option<f64> {
    let o = Cmd::new("systemctl")
        .args([
            "show",
            "-p",
            "ActiveEnterTimestamp",
            "--value",
            "--timestamp=us+utc",
            unit,
        ])
        .run()
        .ok()?;
    crate::clock::parse_systemd_utc(o.stdout.trim()).filter(|s| *s > 0.0)
}

/// Start time (seconds since the epoch) of the newest child of the unit's main process,
/// and the clock tick. A reload starts new workers while old ones may linger to finish
/// their requests: the newest one says whether the reload happened.
fn workers_started(unit: &str) -> Option<(f64, f64)> {
    let o = Cmd::new("systemctl")
        .args(["show", "-p", "MainPID", "--value", unit])
        .run()
        .ok()?;
    let pid: u32 = o.stdout.trim().parse().ok().filter(|p| *p > 0)?;
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    // Boot time to the centisecond: now - uptime (`/proc/stat`'s btime is truncated to
    // the second, which would make a worker look up to 1s older than it is).
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let btime = now - uptime;
    let tck = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    children
        .split_whitespace()
        .filter_map(|c| {
            let stat = std::fs::read_to_string(format!("/proc/{c}/stat")).ok()?;
            // fields after the `(comm)`: state is field 3, starttime field 22
            let rest = &stat[stat.rfind(')')? + 2..];
            let start: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
            Some(btime + start / tck)
        })
        .reduce(f64::max)
        .map(|t| (t, 2.0 / tck + 0.01))
}

/// Value of an unlabelled metric in Prometheus text format.
fn metric_value(body: &str, metric: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == metric)
            .then(|| it.next()?.parse::<f64>().ok())
            .flatten()
    })
}

impl Resource for Fresh {
    fn kind(&self) -> &'static str {
        "fresh"
    }
    fn name(&self) -> String {
        let files: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        format!("{} runs on {}", self.unit, files.join(", "))
    }
    fn check(&self) -> ResResult<State> {
        let Some((file, changed)) = self.newest() else {
            return Ok(State::InSync);
        };
        match self.taken() {
            Ok(None) => Ok(State::InSync),
            Ok(Some((t, resolution))) if t + resolution >= changed => Ok(State::InSync),
            Ok(Some(_)) => Ok(State::drift(format!(
                "{}: `{}` is newer than the running settings",
                self.verb(),
                file.display()
            ))),
            Err(e) => Ok(State::drift(format!(
                "{}: cannot tell what it runs ({e})",
                self.verb()
            ))),
        }
    }
    fn apply(&self) -> ResResult<()> {
        let res = match self.how {
            How::Restart => systemd::systemctl(&["restart", &self.unit]),
            _ => systemd::systemctl(&["reload", &self.unit]),
        };
        if let Err(e) = res {
            let journal = crate::sys::systemd::journal_tail(&self.unit, 15);
            return Err(ResError::msg(format!(
                "{e}\njournal of `{}`:\n{journal}",
                self.unit
            )));
        }
        // A reload is asynchronous: wait until the daemon says it took the files.
        if !matches!(self.how, How::Restart) {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(30) {
                if matches!(self.check(), Ok(State::InSync)) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            return Err(ResError::msg(format!(
                "`{}` did not take its new settings within 30s after `systemctl reload`\nhint: see `journalctl -u {}`",
                self.unit, self.unit
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_value_reads_scientific_notation_and_skips_comments() {
        let body = "# HELP x_ts the time\n# TYPE x_ts gauge\nx_ts 1.7956319e+09\nx_other 3\n";
        assert_eq!(metric_value(body, "x_ts"), Some(1.7956319e9));
        assert_eq!(metric_value(body, "x_missing"), None);
    }

    #[test]
    fn newest_looks_inside_directories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("rules")).unwrap();
        std::fs::write(d.path().join("rules/a.yml"), "a").unwrap();
        let f = Fresh::restart("x.service", &[d.path().join("rules").to_str().unwrap()]);
        assert!(f.newest().is_some());
    }

    #[test]
    fn a_unit_that_is_not_running_is_left_to_the_service_step() {
        let f = Fresh::restart("pigsty-no-such-unit.service", &["/etc/hostname"]);
        assert_eq!(f.check().unwrap(), State::InSync);
    }
}
