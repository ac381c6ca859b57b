//! Backup actions on a pgsql member: take a pgBackRest backup, read the catalog, read
//! the WAL archiver. pgBackRest and psql run as the database superuser through
//! `runuser` with argv; root runs nothing the dbsu can write.
use crate::sys::Cmd;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// `pgbackrest` as `dbsu` with `args`, from `/` (the dbsu may not enter root's cwd).
fn pgbackrest(stanza: &str, dbsu: &str, args: &[&str], timeout: Duration) -> Cmd {
    Cmd::new("pgbackrest")
        .arg(format!("--stanza={stanza}"))
        .args(args.iter().copied())
        .as_user(dbsu)
        .cwd("/")
        .timeout(timeout)
}

/// `pgbackrest info --output=json` of `stanza` (a JSON array, one entry per stanza).
pub fn info(stanza: &str, dbsu: &str) -> Result<Value> {
    let out = pgbackrest(
        stanza,
        dbsu,
        &["--output=json", "--log-level-console=off", "info"],
        Duration::from_secs(120),
    )
    .run()
    .with_context(|| format!("running `pgbackrest info` for `{stanza}`"))?;
    // info answers in JSON even when the stanza is missing (its status says so)
    serde_json::from_str(out.stdout.trim()).map_err(|_| {
        anyhow!(
            "`pgbackrest info` of `{stanza}` did not answer in JSON (exit {}): {}",
            out.code,
            crate::sys::cmd::tail(&out.stderr, &out.stdout)
        )
    })
}

/// The status code pgBackRest gives `stanza` in an info answer (0 ok, 1 missing
/// stanza path, 2 no valid backups, 3 missing stanza data, ...); None: not listed.
pub fn stanza_code(info: &Value, stanza: &str) -> Option<i64> {
    info.as_array()?.iter().find(|s| s["name"] == stanza)?["status"]["code"].as_i64()
}

/// Take a `kind` backup of `stanza` (creating the stanza when the repository lacks
/// it), then refresh the backup metrics. Returns the catalog afterwards.
pub fn take(stanza: &str, dbsu: &str, kind: &str) -> Result<Value> {
    if !matches!(kind, "full" | "diff" | "incr") {
        bail!("backup type `{kind}`: full, diff or incr");
    }
    let before = info(stanza, dbsu)?;
    if matches!(stanza_code(&before, stanza), None | Some(1) | Some(3)) {
        pgbackrest(stanza, dbsu, &["stanza-create"], Duration::from_secs(600))
            .ok()
            .with_context(|| format!("creating stanza `{stanza}`"))?;
    }
    pgbackrest(
        stanza,
        dbsu,
        &[&format!("--type={kind}"), "backup"],
        Duration::from_secs(6 * 3600),
    )
    .ok()
    .with_context(|| format!("{kind} backup of `{stanza}`"))?;
    // freshness for Prometheus right away (the timer would take up to 5 minutes)
    if let Err(e) = Cmd::new("systemctl")
        .args(["start", crate::modules::pgsql::backup::METRICS_UNIT])
        .timeout(Duration::from_secs(120))
        .ok()
    {
        tracing::warn!("refreshing the backup metrics: {e}");
    }
    info(stanza, dbsu)
}

/// The catalog and the archiver of the local Postgres: `{info, archiver}`, where
/// `archiver` has `last_archived_wal`, `last_archived_time`, `last_failed_wal`,
/// `last_failed_time` (epoch seconds, 0 when never).
pub fn archive_state(
    stanza: &str,
    dbsu: &str,
    psql: &str,
    socket: &str,
    port: u16,
) -> Result<Value> {
    let info = info(stanza, dbsu).unwrap_or(Value::Null);
    let sql = "select coalesce(last_archived_wal, '-') || '|' || coalesce(extract(epoch from last_archived_time)::bigint, 0) || '|' || coalesce(last_failed_wal, '-') || '|' || coalesce(extract(epoch from last_failed_time)::bigint, 0) from pg_stat_archiver";
    let out = Cmd::new(psql)
        .args([
            "-X",
            "-A",
            "-t",
            "-h",
            socket,
            "-p",
            &port.to_string(),
            "-d",
            "postgres",
            "-c",
            sql,
        ])
        .as_user(dbsu)
        .cwd("/")
        .timeout(Duration::from_secs(20))
        .ok()
        .context("reading pg_stat_archiver")?;
    Ok(json!({ "info": info, "archiver": parse_archiver(&out.stdout) }))
}

/// `wal|epoch|wal|epoch` as psql prints the archiver row.
fn parse_archiver(line: &str) -> Value {
    let f: Vec<&str> = line.trim().split('|').collect();
    if f.len() != 4 {
        return Value::Null;
    }
    let n = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
    json!({
        "last_archived_wal": f[0], "last_archived_time": n(f[1]),
        "last_failed_wal": f[2], "last_failed_time": n(f[3]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_codes_come_from_the_named_stanza() {
        let v = json!([{"name": "other", "status": {"code": 0}}, {"name": "pg-test", "status": {"code": 3}}]);
        assert_eq!(stanza_code(&v, "pg-test"), Some(3));
        assert_eq!(stanza_code(&v, "pg-x"), None);
    }

    #[test]
    fn the_archiver_row_is_read_into_fields() {
        let v = parse_archiver("000000010000000000000003|1767225600|-|0\n");
        assert_eq!(v["last_archived_wal"], "000000010000000000000003");
        assert_eq!(v["last_archived_time"], 1767225600);
        assert_eq!(v["last_failed_time"], 0);
        assert!(parse_archiver("garbage").is_null());
    }

    #[test]
    fn an_unknown_backup_type_is_refused_before_anything_runs() {
        let e = crate::sys::cmd::without_commands(|| take("pg-x", "postgres", "weekly"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("full, diff or incr"), "{e}");
    }
}
