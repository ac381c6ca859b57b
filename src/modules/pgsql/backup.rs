//! pgBackRest: the config (written before Patroni starts: `archive_command` uses
//! it), the stanza and a first full backup on the primary, `/pg/bin/pg-backup`,
//! and `pg_crontab` as `/etc/cron.d/pigsty-pgsql`.
//!
//! Backup freshness for Prometheus: `/usr/local/lib/pigsty/pgbackrest-metrics` (run by
//! `pigsty-backup-metrics.timer` every 5 minutes, and after `pigsty pgsql backup`)
//! writes `pgbackrest_*` metrics (backup count, newest backup of each type, stanza
//! status) for node_exporter's textfile collector, job `node`, label `stanza`.
use super::params::Pg;
use crate::engine::{Handler, ModulePlan};
use crate::resources::pgbackrest::{Pgbackrest, PgbackrestInitBackup, PgbackrestStanza};
use crate::resources::{Exec, File, Service};
use crate::sys::Cmd;
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

pub const CONF: &str = "/etc/pgbackrest/pgbackrest.conf";
pub const CRON: &str = "/etc/cron.d/pigsty-pgsql";
/// Run by root (the timer): in a directory only root can write, not in `/pg/bin`,
/// which is the dbsu's.
pub const METRICS_SCRIPT: &str = "/usr/local/lib/pigsty/pgbackrest-metrics";
/// Where earlier versions put it (removed).
const OLD_METRICS_SCRIPT: &str = "/pg/bin/pgbackrest-metrics";
pub const METRICS_UNIT: &str = "pigsty-backup-metrics.service";
pub const METRICS_TIMER: &str = "pigsty-backup-metrics.timer";
/// node_exporter's textfile directory (Debian's default `--collector.textfile.directory`)
pub const METRICS_FILE: &str = "/var/lib/prometheus/node-exporter/pgbackrest.prom";

/// The selected repository as `repo1-*` options (Pigsty's `snake_case` keys become
/// pgBackRest's `kebab-case`), and whether it holds secrets.
pub fn repo_options(pg: &Pg) -> Result<(Map<String, Value>, bool)> {
    let Some(repo) = pg
        .pgbackrest_repo
        .get(&pg.pgbackrest_method)
        .and_then(Value::as_object)
    else {
        bail!(
            "host `{}`: `pgbackrest_method: {}` has no entry in `pgbackrest_repo`\nhint: define pgbackrest_repo.{} or use `local`",
            pg.ip,
            pg.pgbackrest_method,
            pg.pgbackrest_method
        );
    };
    let mut out = Map::new();
    let mut secret = false;
    for (k, v) in repo {
        let key = k.replace('_', "-");
        if key == "block" {
            // Block incremental is GA only from pgBackRest 2.52; Debian 12's 2.45 refuses
            // `repo1-block` without `beta` (see the note in the rendered config).
            continue;
        }
        if key.contains("secret") || key.contains("pass") {
            secret = true;
        }
        let val = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => if *b { "y" } else { "n" }.into(),
            other => other.to_string(),
        };
        out.insert(key, Value::String(val));
    }
    Ok((out, secret))
}

pub fn render_conf(pg: &Pg) -> Result<String> {
    let (repo, _) = repo_options(pg)?;
    crate::template::render(
        "pgsql/pgbackrest.conf.j2",
        &json!({
            "cluster": pg.cluster, "method": pg.pgbackrest_method, "repo": repo, "log_dir": pg.pgbackrest_log_dir,
            "block": pg.pgbackrest_repo.get(&pg.pgbackrest_method).and_then(|r| r.get("block")).is_some(),
            "process_max": (pg.facts.cpus / 2).clamp(1, 8), "data": pg.data, "port": pg.port, "socket": pg.socket, "dbsu": pg.dbsu,
        }),
    )
}

/// Patroni's on_start/on_role_change callback: a new primary creates its stanza.
pub const ROLE_CHANGE: &str = "/pg/bin/pg-role-change";

/// A `/pg/bin` script of this cluster (`pg-backup`, `pgbackrest-metrics`): its
/// `__DBSU__`, `__STANZA__` and `__PSQL__` filled in.
pub fn render_script(pg: &Pg, asset: &str) -> String {
    crate::assets::asset(&format!("pgsql/{asset}"))
        .unwrap_or_default()
        .replace("__DBSU__", &pg.dbsu)
        .replace("__STANZA__", &pg.cluster)
        .replace("__PSQL__", &format!("{}/psql", pg.bin_dir))
}

/// `pg_crontab` lines run as the dbsu (a user field is added when missing).
pub fn render_cron(pg: &Pg) -> Result<String> {
    let mut entries = vec![];
    for e in &pg.crontab {
        let f: Vec<&str> = e.split_whitespace().collect();
        if f.len() < 6 && !e.trim_start().starts_with('@') {
            bail!("host `{}`: pg_crontab entry `{e}`: expected `<min> <hour> <dom> <mon> <dow> <command>`", pg.ip);
        }
        let (sched, rest) = if e.trim_start().starts_with('@') {
            (f[..1].join(" "), f[1..].join(" "))
        } else {
            (f[..5].join(" "), f[5..].join(" "))
        };
        entries.push(format!("{sched} {} {rest}", pg.dbsu));
    }
    crate::template::render(
        "pgsql/pgsql-cron.j2",
        &json!({"cluster": pg.cluster, "dbsu": pg.dbsu, "entries": entries}),
    )
}

/// Before Patroni starts.
pub fn config_steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    if !pg.pgbackrest_enabled {
        return Ok(());
    }
    let (_, secret) = repo_options(pg)?;
    let f = File::new(CONF, render_conf(pg)?)
        .mode(0o640)
        .owner(&pg.dbsu, &pg.dbsu);
    p.add(if secret { f.secret() } else { f });
    p.add(
        File::new("/pg/bin/pg-backup", render_script(pg, "pg-backup"))
            .mode(0o755)
            .owner(&pg.dbsu, &pg.dbsu),
    );
    // run by Patroni (the dbsu), written by root: the dbsu cannot change what it runs
    p.add(File::new(ROLE_CHANGE, render_script(pg, "pg-role-change")).mode(0o755));
    if !pg.crontab.is_empty() {
        p.add(File::new(CRON, render_cron(pg)?).mode(0o644));
    }
    p.add(File::new(METRICS_SCRIPT, render_script(pg, "pgbackrest-metrics")).mode(0o755));
    p.add(crate::resources::Absent::new(OLD_METRICS_SCRIPT));
    for unit in [METRICS_UNIT, METRICS_TIMER] {
        let text = crate::assets::asset(&format!("pgsql/{unit}")).unwrap_or_default();
        p.add_notify(
            File::new(format!("/etc/systemd/system/{unit}"), text),
            vec![Handler::DaemonReload],
        );
    }
    p.add(Service::running(METRICS_TIMER));
    Ok(())
}

/// After Postgres runs: stanza, first backup (both skip themselves on replicas).
pub fn run_steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    if !pg.pgbackrest_enabled {
        return Ok(());
    }
    let b = Pgbackrest {
        stanza: pg.cluster.clone(),
        user: pg.dbsu.clone(),
        psql: pg.psql(),
    };
    p.add(PgbackrestStanza(b.clone()));
    if pg.pgbackrest_init_backup {
        p.add(PgbackrestInitBackup(b));
    }
    // the first metrics now, not at the timer's first tick
    p.add(
        Exec::new(
            "backup metrics for node_exporter",
            Cmd::new("systemctl").args(["start", METRICS_UNIT]),
        )
        .creates(METRICS_FILE)
        .why("first run"),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minio_repository_is_s3_over_https_without_block_incremental() {
        let mut pg = crate::modules::pgsql::tests::meta_pg();
        pg.pgbackrest_method = "minio".into();
        let conf = render_conf(&pg).unwrap();
        for want in [
            "repo1-type=s3",
            "repo1-s3-endpoint=sss.pigsty",
            "repo1-storage-port=9000",
            "repo1-storage-ca-file=/etc/pki/ca.crt",
            "repo1-s3-uri-style=path",
            "repo1-cipher-type=aes-256-cbc",
            "repo1-s3-key-secret=test-s3-pw",
            "compress-type=zst",
            "archive-async=y",
        ] {
            assert!(conf.contains(want), "{want} missing:\n{conf}");
        }
        assert!(!conf.contains("repo1-block="), "{conf}");
        assert!(conf.contains("needs pgBackRest 2.52+"));
    }
}
