//! `pigsty pgsql backup CLUSTER [full|diff|incr]`: a pgBackRest backup on the cluster's
//! current leader (Patroni's view), through `/pg/bin/pg-backup`; the stanza is created
//! first when the repository lacks it (a new primary of a cluster on a local repository,
//! or a repository switched to S3). Then `pgbackrest info` of the stanza.
//!
//! Also the helpers the PITR command shares: running a script on a member (locally or
//! over SSH) and reading `pgbackrest info`.
use super::pgsql::Member;
use crate::cli::{BackupType, Global};
use crate::inventory::{Host, Inventory};
use crate::sys::cmd::Output;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::time::Duration;

/// Run `script` with bash on `host`: locally when it is this machine, else over SSH.
/// Scripts carry no secrets (they read them on the host).
pub fn sh_on(host: &str, script: &str, timeout: Duration) -> Result<Output> {
    static FACTS: std::sync::OnceLock<crate::facts::Facts> = std::sync::OnceLock::new();
    let facts = FACTS.get_or_init(crate::facts::Facts::gather);
    if crate::controller::is_local(host, facts) {
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
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub fn dbsu(h: &Host) -> String {
    h.str("pg_dbsu").unwrap_or("postgres").to_string()
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

/// `pgbackrest info` of `stanza`, read on `host` as the dbsu.
pub fn info_on(host: &Host, stanza: &str) -> Result<Value> {
    let out = sh_on(
        &host.addr,
        &format!(
            "cd / && runuser -u {} -- pgbackrest --stanza={} --output=json info || true",
            q(&dbsu(host)),
            q(stanza)
        ),
        Duration::from_secs(120),
    )
    .with_context(|| format!("reading `pgbackrest info` of `{stanza}` on `{}`", host.addr))?;
    serde_json::from_str(out.stdout.trim())
        .map_err(|e| anyhow!("`pgbackrest info` on `{}` is not json: {e}", host.addr))
}

/// UTC text of an epoch second.
pub fn utc(epoch: i64) -> String {
    crate::sys::Cmd::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%d %H:%M:%S+00"])
        .run()
        .ok()
        .filter(|o| o.success())
        .map(|o| o.stdout.trim().to_string())
        .unwrap_or_else(|| format!("@{epoch}"))
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

/// Take a backup on the leader of `cluster` (stanza created first when missing).
pub fn take(host: &Host, cluster: &str, kind: &str) -> Result<()> {
    let u = q(&dbsu(host));
    let s = q(cluster);
    let script = format!(
        "set -o pipefail; cd /; \
         code=$(runuser -u {u} -- pgbackrest --stanza={s} --output=json info | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin) if x[\"name\"]==sys.argv[1]][0][\"status\"][\"code\"])' {s} 2>/dev/null || echo 1); \
         if [ \"$code\" = 1 ] || [ \"$code\" = 3 ]; then runuser -u {u} -- pgbackrest --stanza={s} stanza-create >&2 || exit 1; fi; \
         /pg/bin/pg-backup {kind} >&2 || exit 1; \
         systemctl start {unit} >&2 || true",
        unit = crate::modules::pgsql::backup::METRICS_UNIT
    );
    sh_on(&host.addr, &script, Duration::from_secs(6 * 3600))
        .with_context(|| format!("{kind} backup of `{cluster}` on `{}`", host.addr))?;
    Ok(())
}

pub fn run(g: &Global, cluster: &str, kind: BackupType) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let (leader, _) = leader_host(&inv, cluster)?;
    let kind = kind_word(kind);
    eprintln!("{kind} backup of `{cluster}` on its leader {}", leader.addr);
    let t0 = std::time::Instant::now();
    take(leader, cluster, kind)?;
    let sets = parse_sets(&info_on(leader, cluster)?, cluster);
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
/// its leader (`pgbackrest info`, `pg_stat_archiver`); None when the leader cannot tell.
pub fn status_line(h: &Host, cluster: &str) -> Option<String> {
    let sql = "select coalesce(last_archived_wal, '-') || '|' || coalesce(extract(epoch from last_archived_time)::bigint::text, '') || '|' || coalesce(last_failed_wal, '-') || '|' || coalesce(extract(epoch from last_failed_time)::bigint::text, '') from pg_stat_archiver";
    let script = format!(
        "cd /; runuser -u {u} -- pgbackrest --stanza={s} --output=json info 2>/dev/null | tr -d '\\n'; echo; runuser -u {u} -- /usr/pgsql/bin/psql -X -A -t -h {sock} -p {port} -d postgres -c {sql}",
        u = q(&dbsu(h)),
        s = q(cluster),
        sock = q(h.str("pg_localhost").unwrap_or("/var/run/postgresql")),
        port = h.port("pg_port").unwrap_or(5432),
        sql = q(sql)
    );
    let out = sh_on(&h.addr, &script, Duration::from_secs(20)).ok()?;
    let mut lines = out.stdout.lines();
    let info: Value = serde_json::from_str(lines.next()?.trim()).unwrap_or(Value::Null);
    let sets = parse_sets(&info, cluster);
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
    let f: Vec<&str> = lines.next().unwrap_or("").trim().split('|').collect();
    let archiving = if f.len() == 4 {
        let (ok_t, bad_t) = (
            f[1].parse::<i64>().unwrap_or(0),
            f[3].parse::<i64>().unwrap_or(0),
        );
        if bad_t > ok_t {
            format!("archiving FAILING (last failed {} at {})", f[2], utc(bad_t))
        } else if ok_t > 0 {
            format!("archiving ok (last {} at {})", f[0], utc(ok_t))
        } else {
            "archiving: nothing archived yet".to_string()
        }
    } else {
        "archiving: unknown".to_string()
    };
    Some(format!("{backup}; {archiving}"))
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
    fn quoting_survives_single_quotes() {
        assert_eq!(q("a'b"), "'a'\\''b'");
    }
}
