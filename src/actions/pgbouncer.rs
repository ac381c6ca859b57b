//! `pgbouncer_hold`: hold a switchover's writes in the old leader's pgBouncer instead
//! of failing them. `PAUSE` on its admin console (psql as the dbsu, which is the user
//! Debian's unit runs pgBouncer as, over the local socket with the user name
//! `pgbouncer`: pgBouncer admits that name without a password when the peer's uid is
//! its own; `postgres` itself is in no auth_file, so peer would refuse it) waits for the running
//! transactions, closes the server connections and queues every new query; clients
//! stay connected. The leader then moves, and each HAProxy routes to the new primary
//! the moment its `/primary` answers (`haproxy_follow`), closing the sessions it had to
//! the old one (`on-marked-down shutdown-sessions`): a waiting client sees one error and
//! its retry through the same address reaches the new primary. The hold ends `grace`
//! after a candidate answers `/primary`, or at `limit` whatever happens (the node
//! never stays paused when the controller goes away): `RESUME`.
//!
//! `pgbouncer_resume`: `RESUME` now (a refused switchover); "not paused" is no error.
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long `PAUSE` may wait for running transactions before the switchover goes on
/// without it (a long transaction, or `pool_mode: session` with idle clients).
pub const PAUSE_WAIT: Duration = Duration::from_secs(2);

/// The newest psql of the node's PostgreSQL packages (any speaks to the console).
fn psql() -> String {
    let mut found: Vec<(u32, String)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let p = e.path().join("bin/psql");
            p.exists().then(|| (v, p.display().to_string()))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).unwrap_or_else(|| "psql".into())
}

/// The console of the pgBouncer on `socket`:`port`, one command as `dbsu`.
pub struct Console {
    pub dbsu: String,
    pub socket: String,
    pub port: u16,
}

impl Console {
    fn cmd(&self, command: &str, timeout: Duration) -> Cmd {
        Cmd::new(psql())
            .args([
                "-X",
                "-A",
                "-t",
                "-h",
                &self.socket,
                "-p",
                &self.port.to_string(),
            ])
            .args(["-U", "pgbouncer", "-d", "pgbouncer", "-c", command])
            .as_user(&self.dbsu)
            .cwd("/")
            .timeout(timeout)
    }

    fn run(&self, command: &str, timeout: Duration) -> Result<()> {
        self.cmd(command, timeout)
            .ok()
            .with_context(|| format!("pgbouncer `{command}` on {}:{}", self.socket, self.port))?;
        Ok(())
    }

    /// `RESUME`; false when it was not paused.
    pub fn resume(&self) -> Result<bool> {
        let out = self
            .cmd("RESUME", Duration::from_secs(5))
            .run()
            .with_context(|| format!("pgbouncer RESUME on {}:{}", self.socket, self.port))?;
        if out.success() {
            return Ok(true);
        }
        if out.stderr.contains("not paused") {
            return Ok(false);
        }
        bail!(
            "pgbouncer RESUME on {}:{} failed: {}",
            self.socket,
            self.port,
            crate::sys::cmd::tail(&out.stderr, &out.stdout)
        )
    }
}

/// Pause, tell `paused()` so, hold until a candidate answers `/primary` (plus `grace`)
/// or `limit`, then resume. A pause that does not complete within [`PAUSE_WAIT`] is
/// undone and reported (`paused: false`, why): the switchover goes on without it.
pub fn hold(
    console: &Console,
    candidates: &[(String, String)],
    grace: Duration,
    limit: Duration,
    paused: &mut dyn FnMut(),
) -> Result<Value> {
    let t = Instant::now();
    if let Err(e) = console.run("PAUSE", PAUSE_WAIT) {
        // a pause still pending would queue everything: undo it either way
        console
            .resume()
            .context("undoing a PAUSE that did not complete")?;
        return Ok(json!({"paused": false, "why": format!("{e:#}")}));
    }
    let paused_ms = t.elapsed().as_millis() as u64;
    paused();
    let rest = limit.saturating_sub(t.elapsed());
    let new = super::haproxy::first_primary(candidates, rest);
    if new.is_some() {
        std::thread::sleep(grace);
    }
    console.resume()?;
    Ok(json!({
        "paused": true,
        "changed": true,
        "pause_ms": paused_ms,
        "held_ms": t.elapsed().as_millis() as u64,
        "new_primary": new,
        "diffs": [format!("paused and resumed pgbouncer on port {}", console.port)],
    }))
}
