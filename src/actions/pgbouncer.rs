//! `pgbouncer_hold`: hold a switchover's writes in the old leader's pgBouncer instead
//! of failing them. First a `CHECKPOINT` while writes still flow (Patroni checkpoints
//! again before it stops the old leader, with the clients waiting: that one then has
//! little to do). Then `PAUSE` on its admin console (psql as the dbsu, which is the user
//! Debian's unit runs pgBouncer as, over the local socket with the user name
//! `pgbouncer`: pgBouncer admits that name without a password when the peer's uid is
//! its own; `postgres` itself is in no auth_file, so peer would refuse it) waits for the running
//! transactions, closes the server connections and queues every new query; clients
//! stay connected. The leader then moves, and each HAProxy routes to the new primary
//! the moment it is writable (`haproxy_follow`), closing the sessions it had to the
//! old one (`on-marked-down shutdown-sessions`): a waiting client sees one error and
//! its retry through the same address reaches the new primary. The hold ends `grace`
//! after a candidate is writable, or at `limit` whatever happens (the node never stays
//! paused when the controller goes away): `RESUME`. Used by `switchover --hold-writes`.
//!
//! `pgbouncer_resume`: `RESUME` now (a refused switchover); "not paused" is no error.
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long `PAUSE` may wait for running transactions before the switchover goes on
/// without it (a long transaction, or `pool_mode: session` with idle clients).
pub const PAUSE_WAIT: Duration = Duration::from_secs(2);

/// The console of the pgBouncer on `socket`:`port`, one command at a time with `psql`
/// (any version speaks to it) as `dbsu`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Console {
    pub psql: String,
    pub dbsu: String,
    pub socket: String,
    pub port: u16,
}

impl Console {
    /// psql as the dbsu on the socket directory at `port` (pgBouncer's or Postgres'),
    /// unaligned, with a header line.
    fn local_psql(&self, port: u16) -> Cmd {
        Cmd::new(self.psql.clone())
            .args(["-X", "-A", "-h", &self.socket, "-p", &port.to_string()])
            .as_user(&self.dbsu)
            .cwd("/")
    }

    fn cmd(&self, command: &str, timeout: Duration) -> Cmd {
        self.local_psql(self.port)
            .args(["-U", "pgbouncer", "-d", "pgbouncer", "-c", command])
            .timeout(timeout)
    }

    fn run(&self, command: &str, timeout: Duration) -> Result<()> {
        self.cmd(command, timeout)
            .ok()
            .with_context(|| format!("pgbouncer `{command}` on {}:{}", self.socket, self.port))?;
        Ok(())
    }

    /// The rows of a `SHOW` command, each a map of column name to value.
    fn show(&self, what: &str) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
        let out = self
            .cmd(&format!("SHOW {what}"), Duration::from_secs(5))
            .arg("-P")
            .arg("footer=off")
            .ok()
            .with_context(|| format!("pgbouncer `SHOW {what}` on {}:{}", self.socket, self.port))?;
        Ok(rows(&out.stdout))
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

/// psql's unaligned output (a header line, then one line per row) as maps.
fn rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let Some(head) = lines.next() else {
        return vec![];
    };
    let cols: Vec<&str> = head.split('|').collect();
    lines
        .map(|l| {
            cols.iter()
                .zip(l.split('|'))
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The session-mode pools that have clients (`user@database (n)`): their clients hold
/// a server connection until they leave, so `PAUSE` would wait for them.
pub fn session_clients(pools: &[std::collections::BTreeMap<String, String>]) -> Vec<String> {
    let n = |r: &std::collections::BTreeMap<String, String>, k: &str| {
        r.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    pools
        .iter()
        .filter(|r| r.get("pool_mode").map(String::as_str) == Some("session"))
        .filter(|r| r.get("database").map(String::as_str) != Some("pgbouncer"))
        .filter(|r| n(r, "cl_active") + n(r, "cl_waiting") > 0)
        .map(|r| {
            format!(
                "{}@{} ({})",
                r.get("user").map(String::as_str).unwrap_or("?"),
                r.get("database").map(String::as_str).unwrap_or("?"),
                n(r, "cl_active") + n(r, "cl_waiting")
            )
        })
        .collect()
}

/// `CHECKPOINT` on the local Postgres at `port` (socket, as the dbsu) while writes still
/// flow: the checkpoint Patroni takes before it shuts the old leader down then has little
/// left to write, and that one runs while the clients wait.
fn checkpoint(console: &Console, port: u16) -> Result<u64> {
    let t = Instant::now();
    console
        .local_psql(port)
        .args(["-d", "postgres", "-c", "CHECKPOINT"])
        .timeout(Duration::from_secs(60))
        .ok()
        .context("CHECKPOINT before the pause")?;
    Ok(t.elapsed().as_millis() as u64)
}

/// Pause, tell `paused()` so, hold until a candidate is writable (plus `grace`)
/// or `limit`, then resume. Not paused (`paused: false`, why), and the switchover goes
/// on without it, when a session-mode pool has clients (the admin and monitor users
/// are in session mode by default: a pause would wait for them to leave), or when the
/// pause does not complete within [`PAUSE_WAIT`] (a long transaction): it is undone.
pub fn hold(
    console: &Console,
    pg_port: Option<u16>,
    candidates: &[(String, String)],
    grace: Duration,
    limit: Duration,
    paused: &mut dyn FnMut(),
) -> Result<Value> {
    let checkpoint_ms = match pg_port.map(|p| checkpoint(console, p)) {
        Some(Ok(ms)) => json!(ms),
        Some(Err(e)) => json!(format!("{e:#}")),
        None => Value::Null,
    };
    let t = Instant::now();
    let held = session_clients(&console.show("POOLS")?);
    if !held.is_empty() {
        return Ok(json!({"paused": false, "why": format!(
            "clients in session mode would hold the pause up: {}", held.join(", ")
        )}));
    }
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
        "checkpoint_ms": checkpoint_ms,
        "held_ms": t.elapsed().as_millis() as u64,
        "new_primary": new,
        "diffs": [format!("paused and resumed pgbouncer on port {}", console.port)],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_mode_pools_with_clients_are_named_and_others_are_not() {
        let text = "database|user|cl_active|cl_waiting|sv_active|pool_mode\n\
                    pgbouncer|pgbouncer|1|0|0|statement\n\
                    test|dbuser_dba|1|0|1|session\n\
                    test|dbuser_monitor|0|0|0|session\n\
                    test|test|5|2|1|transaction\n";
        let pools = rows(text);
        assert_eq!(pools.len(), 4);
        assert_eq!(pools[3]["cl_waiting"], "2");
        assert_eq!(session_clients(&pools), vec!["dbuser_dba@test (1)"]);
        assert!(session_clients(&rows("")).is_empty());
    }
}
