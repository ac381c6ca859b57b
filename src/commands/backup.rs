//! `pigsty pgsql backup CLUSTER [full|diff|incr]`: a pgBackRest backup on the cluster's
//! current leader (Patroni's view), through `/pg/bin/pg-backup`; the stanza is created
//! first when the repository lacks it (a new primary of a cluster on a local repository,
//! or a repository switched to S3). Then `pgbackrest info` of the stanza.
//!
//! Also the helpers the PITR command shares: running a script on a member (locally or
//! over SSH) and reading `pgbackrest info`.
use super::pgsql::Member;
use crate::actions::Action;
use crate::cli::{BackupType, Global};
use crate::inventory::{Host, Inventory};
use crate::sys::cmd::Output;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::time::Duration;

/// Run `script` with bash on `host`: locally when it is this machine, else over SSH.
/// Scripts carry no secrets (they read them on the host).
pub fn sh_on(host: &str, script: &str, timeout: Duration) -> Result<Output> {
    if crate::controller::is_local(host, crate::controller::local_facts()) {
        let out = crate::sys::Cmd::new("bash")
            .args(["-c", script])
            .cwd("/")
            .timeout(timeout)
            .run()
            .with_context(|| format!("running on `{host}`"))?;
        if !out.success() {
            bail!(
                "on `{host}`: exit {}: {}",
                out.code,
                crate::sys::cmd::tail(&out.stderr, &out.stdout)
            );
        }
        Ok(out)
    } else {
        crate::remote::Ssh::new(host)
            .run(script, None, timeout)
            .map_err(|e| anyhow!("{e}"))
    }
}

/// Single-quote a string for bash.
pub use crate::sys::cmd::sh_quote as q;

pub fn dbsu(h: &Host) -> String {
    h.var_str("pg_dbsu").to_string()
}

/// One backup as `pgbackrest info` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSet {
    pub label: String,
    pub kind: String,
    pub start: i64,
    pub stop: i64,
    pub lsn_stop: String,
}

/// The backups of `stanza` in a `pgbackrest info --output=json` answer, oldest first.
pub fn parse_sets(v: &Value, stanza: &str) -> Vec<BackupSet> {
    let Some(s) = v
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == stanza))
    else {
        return vec![];
    };
    let mut out: Vec<BackupSet> = s["backup"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| BackupSet {
            label: b["label"].as_str().unwrap_or("").to_string(),
            kind: b["type"].as_str().unwrap_or("").to_string(),
            start: b["timestamp"]["start"].as_i64().unwrap_or(0),
            stop: b["timestamp"]["stop"].as_i64().unwrap_or(0),
            lsn_stop: b["lsn"]["stop"].as_str().unwrap_or("").to_string(),
        })
        .collect();
    out.sort_by_key(|b| b.stop);
    out
}

/// `pgbackrest info` of `stanza`, read on `host` as the dbsu (a node-mode action).
pub fn info_on(host: &Host, stanza: &str) -> Result<Value> {
    let a = Action::BackupInfo {
        stanza: stanza.into(),
        dbsu: dbsu(host),
    };
    crate::controller::act(&host.addr, a, &mut |_| {})
        .with_context(|| format!("reading `pgbackrest info` of `{stanza}` on `{}`", host.addr))
}

/// UTC text of an epoch second.
pub fn utc(epoch: i64) -> String {
    format!("{}+00", crate::clock::fmt_utc(epoch))
}

pub fn is_leader(m: &Member) -> bool {
    matches!(m.role.as_str(), "leader" | "master" | "standby_leader")
}

/// The running leader of `cluster` (Patroni), as an inventory host.
pub fn leader_host<'a>(inv: &'a Inventory, cluster: &str) -> Result<(&'a Host, Vec<Member>)> {
    let hosts = super::pgsql::members_of(inv, cluster)?;
    let ms = super::pgsql::cluster_members_state(&hosts).with_context(|| {
        format!("reading the state of `{cluster}` from patroni\nhint: `pigsty status {cluster}`")
    })?;
    let l = ms
        .iter()
        .find(|m| is_leader(m) && m.state == "running")
        .ok_or_else(|| {
            anyhow!("`{cluster}` has no running leader\nhint: `pigsty status {cluster}`")
        })?;
    let h = hosts
        .iter()
        .find(|h| h.addr == l.host)
        .copied()
        .ok_or_else(|| {
            anyhow!(
                "the leader `{}` ({}) is not in the inventory",
                l.name,
                l.host
            )
        })?;
    Ok((h, ms))
}

fn kind_word(k: BackupType) -> &'static str {
    match k {
        BackupType::Full => "full",
        BackupType::Diff => "diff",
        BackupType::Incr => "incr",
    }
}

/// Take a backup on the leader of `cluster` (stanza created first when missing), as a
/// node-mode action whose progress goes to stderr; the catalog afterwards.
pub fn take(host: &Host, cluster: &str, kind: &str) -> Result<Value> {
    let a = Action::Backup {
        stanza: cluster.into(),
        dbsu: dbsu(host),
        kind: kind.into(),
    };
    let mut rep = crate::report::Reporter::new(false, false);
    crate::controller::act(&host.addr, a, &mut |e| rep.event(e))
        .with_context(|| format!("{kind} backup of `{cluster}` on `{}`", host.addr))
}

pub fn run(g: &Global, cluster: &str, kind: BackupType) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    super::pgsql::members_of(&inv, cluster)?;
    let _lock = super::lock::clusters([cluster], super::lock::wait()?)?;
    let (leader, _) = leader_host(&inv, cluster)?;
    let kind = kind_word(kind);
    eprintln!("{kind} backup of `{cluster}` on its leader {}", leader.addr);
    let t0 = std::time::Instant::now();
    let sets = parse_sets(&take(leader, cluster, kind)?, cluster);
    println!(
        "{cluster}: {kind} backup done in {:.1}s; {} backup(s) in the repository:",
        t0.elapsed().as_secs_f64(),
        sets.len()
    );
    for b in &sets {
        println!(
            "  {:<34} {:<5} {} .. {}",
            b.label,
            b.kind,
            utc(b.start),
            utc(b.stop)
        );
    }
    Ok(0)
}

/// `pigsty status`: one line on the backups of `cluster` and its WAL archiving, read on
/// its leader (an action: `pgbackrest info`, `pg_stat_archiver`); None when it cannot tell.
pub fn status_line(h: &Host, cluster: &str) -> Option<String> {
    let a = Action::ArchiveState {
        stanza: cluster.into(),
        dbsu: dbsu(h),
        psql: format!("{}/psql", h.var_str("pg_bin_dir")),
        socket: h.var_str("pg_localhost").into(),
        port: h.var_port("pg_port"),
    };
    let v = crate::controller::act(&h.addr, a, &mut |_| {}).ok()?;
    Some(describe_state(&v, cluster))
}

/// The status line of an `archive_state` answer.
fn describe_state(v: &Value, cluster: &str) -> String {
    let sets = parse_sets(&v["info"], cluster);
    let backup = match sets.iter().rev().find(|b| b.kind == "full") {
        Some(f) => format!(
            "last {} {} at {}, last full {} ({} in the repository)",
            sets.last().map(|b| b.kind.as_str()).unwrap_or(""),
            sets.last().map(|b| b.label.as_str()).unwrap_or(""),
            sets.last().map(|b| utc(b.stop)).unwrap_or_default(),
            f.label,
            sets.len()
        ),
        None => "NO BACKUP".to_string(),
    };
    let a = &v["archiver"];
    let archiving = match (
        a["last_archived_time"].as_i64(),
        a["last_failed_time"].as_i64(),
    ) {
        (Some(ok_t), Some(bad_t)) if bad_t > ok_t => {
            format!(
                "archiving FAILING (last failed {} at {})",
                a["last_failed_wal"].as_str().unwrap_or("-"),
                utc(bad_t)
            )
        }
        (Some(ok_t), Some(_)) if ok_t > 0 => format!(
            "archiving ok (last {} at {})",
            a["last_archived_wal"].as_str().unwrap_or("-"),
            utc(ok_t)
        ),
        (Some(_), Some(_)) => "archiving: nothing archived yet".to_string(),
        _ => "archiving: unknown".to_string(),
    };
    format!("{backup}; {archiving}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_of_our_stanza_oldest_first() {
        let v = json!([
            {"name": "other", "backup": [{"label": "x", "type": "full", "timestamp": {"start": 1, "stop": 2}}]},
            {"name": "pg-test", "backup": [
                {"label": "b", "type": "incr", "timestamp": {"start": 30, "stop": 40}, "lsn": {"stop": "0/5000100"}},
                {"label": "a", "type": "full", "timestamp": {"start": 10, "stop": 20}, "lsn": {"stop": "0/3000100"}}
            ]}
        ]);
        let s = parse_sets(&v, "pg-test");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].label, "a");
        assert_eq!(s[0].stop, 20);
        assert_eq!(s[1].lsn_stop, "0/5000100");
        assert!(parse_sets(&v, "pg-x").is_empty());
    }

    #[test]
    fn the_status_line_tells_backups_and_archiving() {
        let v = json!({
            "info": [{"name": "pg-x", "backup": [{"label": "F1", "type": "full", "timestamp": {"start": 0, "stop": 60}}]}],
            "archiver": {"last_archived_wal": "0000000100000000000000A1", "last_archived_time": 120, "last_failed_wal": "-", "last_failed_time": 0}
        });
        let l = describe_state(&v, "pg-x");
        assert!(
            l.starts_with("last full F1 at ") && l.contains("last full F1 (1 in the repository)"),
            "{l}"
        );
        assert!(
            l.contains("archiving ok (last 0000000100000000000000A1"),
            "{l}"
        );
        let bad = json!({"info": null, "archiver": {"last_archived_time": 10, "last_failed_time": 20, "last_failed_wal": "X"}});
        assert!(
            describe_state(&bad, "pg-x").contains("NO BACKUP; archiving FAILING (last failed X"),
            "{}",
            describe_state(&bad, "pg-x")
        );
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(q("a'b"), "'a'\\''b'");
    }
}
