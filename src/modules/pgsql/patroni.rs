//! Patroni: `patroni.yml`, our unit, the HBA file Postgres reads, and the steps that
//! follow a start or a reload (ready, parameters applied, DCS config, restarts).
//!
//! Reload path: a parameter change is a `patroni.yml` change, so Patroni is sent
//! SIGHUP (systemd reload), rewrites `postgresql.conf` and reloads Postgres; we wait
//! until the file holds the new values. Parameters Patroni only takes from the DCS
//! (max_connections, ...) are PATCHed into `/config`. Anything that then waits for a
//! restart is restarted through Patroni's REST API (`POST /restart`), never systemd.
use super::params::Pg;
use super::tune;
use super::{HBA_FILE, PATRONI_UNIT, PATRONI_YML};
use crate::engine::{Handler, ModulePlan};
use crate::resources::patroni::{
    PatroniDcsConfig, PatroniPendingRestart, PatroniReady, PgConfApplied,
};
use crate::resources::File;
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The standby cluster block of `bootstrap.dcs` (`pg_upstream`), `null` for a normal
/// cluster. The primary's deploy keeps the DCS in line with it (a new upstream, port
/// or delay); `pigsty pgsql promote` removes it there, and a deploy never puts it back
/// (see `PatroniDcsConfig::standby`).
fn standby(pg: &Pg) -> Value {
    match &pg.upstream {
        Some(host) => json!({
            "host": host, "port": pg.port, "create_replica_methods": ["basebackup"],
            "recovery_min_apply_delay": (pg.delay_ms > 0).then(|| format!("{}ms", pg.delay_ms)),
        }),
        None => Value::Null,
    }
}

/// [`standby`] as the DCS holds it: the keys that are set (the template leaves out an
/// unset delay).
fn standby_dcs(pg: &Pg) -> Option<Value> {
    match standby(pg) {
        Value::Object(m) => Some(Value::Object(
            m.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        )),
        _ => None,
    }
}

pub fn render(pg: &Pg) -> Result<String> {
    let t = tune::timings(pg).map_err(|e| anyhow!("host `{}`: {e}", pg.ip))?;
    let (mut local, dcs) = tune::parameters(pg).map_err(|e| anyhow!("host `{}`: {e}", pg.ip))?;
    if pg.delay_ms > 0 && pg.is_primary() && pg.upstream.is_none() {
        anyhow::bail!(
            "host `{}`: `pg_delay` on the primary of `{}` delays nothing\nhint: set it on a replica (a delayed replica), or with `pg_upstream` on a standby cluster's leader",
            pg.ip, pg.cluster
        );
    }
    // a delayed replica: replays WAL `pg_delay` late, never promoted, no read traffic
    if pg.delayed() {
        local.insert(
            "recovery_min_apply_delay".into(),
            format!("{}ms", pg.delay_ms),
        );
    }
    let rto_name = match &pg.rto {
        Value::String(s) => s.clone(),
        other => format!("{other}s"),
    };
    let ctx = json!({
        "instance": pg.instance, "cluster": pg.cluster, "ip": pg.ip, "conf": pg.conf, "rto_name": rto_name,
        "facts": {"cpus": pg.facts.cpus, "mem_mb": pg.facts.mem_mb},
        "namespace": pg.namespace,
        "patroni_log_dir": pg.patroni_log_dir, "patroni_port": pg.patroni_port, "allowlist": allowlist(pg),
        "patroni_username": pg.patroni_username, "patroni_password": pg.patroni_password,
        "tls": pg.patroni_ssl.then(|| json!({
            "crt": super::tls::SERVER_CRT, "key": super::tls::SERVER_KEY, "ca": super::tls::CA_CRT,
        })),
        "etcd_hosts": pg.etcd_hosts, "etcd_cacert": crate::modules::etcd::CA_CRT,
        "etcd_auth": pg.etcd_auth.as_ref().map(|(u, p)| json!({"username": u, "password": p})),
        "timings": {"ttl": t.ttl, "loop_wait": t.loop_wait, "retry_timeout": t.retry_timeout,
                     "primary_start_timeout": t.primary_start_timeout, "safety_margin": t.safety_margin},
        "rpo": pg.rpo,
        "synchronous_mode": pg.conf == "crit",
        "dcs_parameters": dcs, "local_parameters": local,
        "encoding": pg.encoding, "locale": pg.locale, "lc_collate": pg.lc_collate, "lc_ctype": pg.lc_ctype,
        "checksum": pg.checksum,
        "listen": pg.listen, "port": pg.port, "data": pg.data, "bin_dir": pg.bin_dir, "dbsu": pg.dbsu,
        "replication_username": pg.replication_username, "replication_password": pg.replication_password,
        "admin_username": pg.admin_username, "admin_password": pg.admin_password,
        "watchdog_mode": pg.watchdog_mode,
        "standby": standby(pg),
        "delayed": pg.delayed(),
        "role_change": pg.pgbackrest_enabled.then_some(super::backup::ROLE_CHANGE),
    });
    crate::template::render("pgsql/patroni.yml.j2", &ctx)
}

/// Who may call Patroni's unsafe REST endpoints (POST, PATCH, ...: restart,
/// switchover, config): the admin node, the infra nodes and the cluster's members
/// (those in the DCS too, `allowlist_include_members`). Reads are open to all.
pub fn allowlist(pg: &Pg) -> Vec<String> {
    let mut v: Vec<String> = std::iter::once(pg.admin_ip.clone())
        .chain(pg.infra_ips.iter().cloned())
        .chain(pg.members.iter().map(|m| m.ip.clone()))
        .filter(|s| !s.is_empty())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

pub fn render_hba(pg: &Pg) -> Result<String> {
    let rules = super::hba::render(
        &pg.default_hba_rules,
        &pg.hba_rules,
        pg,
        super::hba::Target::Postgres,
    )
    .map_err(|e| anyhow!("host `{}`: pg_hba_rules: {e}", pg.ip))?;
    crate::template::render(
        "pgsql/pg_hba.conf.j2",
        &json!({"path": HBA_FILE, "instance": pg.instance, "source": "pg_default_hba_rules + pg_hba_rules",
                "reload": "postgres", "rules": super::hba::to_ctx(&rules)}),
    )
}

/// The HBA file Postgres reads; a change reloads Postgres (`pg_reload_conf()`), never a restart.
pub fn hba_step(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    p.add_notify(
        crate::resources::RuleFile::new(
            File::new(HBA_FILE, render_hba(pg)?)
                .mode(0o640)
                .owner(&pg.dbsu, &pg.dbsu),
            "hba",
        ),
        vec![Handler::Run(
            "reload postgres (hba)".into(),
            pg.psql().reload_cmd(),
        )],
    );
    Ok(())
}

/// DCS keys pigsty keeps in line after bootstrap.
fn dcs_config(pg: &Pg) -> Result<PatroniDcsConfig> {
    let t = tune::timings(pg).map_err(|e| anyhow!("host `{}`: {e}", pg.ip))?;
    let (_, dcs) = tune::parameters(pg).map_err(|e| anyhow!("host `{}`: {e}", pg.ip))?;
    let mut top: BTreeMap<String, Value> = [
        ("ttl", json!(t.ttl)),
        ("loop_wait", json!(t.loop_wait)),
        ("retry_timeout", json!(t.retry_timeout)),
        ("primary_start_timeout", json!(t.primary_start_timeout)),
        ("maximum_lag_on_failover", json!(pg.rpo)),
        ("synchronous_mode", json!(pg.conf == "crit")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // patroni_mode: pause keeps the cluster in maintenance mode; `default` leaves the
    // mode alone (`pigsty pgsql pause|resume` decide it)
    if pg.patroni_mode == "pause" {
        top.insert("pause".into(), json!(true));
    }
    let postgresql: BTreeMap<String, Value> = [
        ("use_pg_rewind".to_string(), json!(true)),
        ("use_slots".to_string(), json!(true)),
    ]
    .into();
    Ok(PatroniDcsConfig {
        api: pg.patroni_api(),
        top,
        parameters: dcs,
        postgresql,
        standby: pg.is_primary().then(|| standby_dcs(pg)),
        cluster: pg.cluster.clone(),
    })
}

/// Steps before the service starts: the etcd user, HBA file, patroni.yml, unit.
pub fn config_steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    let t = tune::timings(pg).map_err(|e| anyhow!("host `{}`: {e}", pg.ip))?;
    let rto = match &pg.rto {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let (_, floor) = tune::patroni_min_ttl(pg.facts.packages.version("patroni"));
    p.add(crate::resources::Note::skip(
        "timings",
        "patroni",
        &format!(
            "pg_rto {rto}: ttl {}s, loop_wait {}s, retry_timeout {}s; haproxy inter {} fastinter {} downinter {} rise {} fall {} ({floor})",
            t.ttl, t.loop_wait, t.retry_timeout, t.inter, t.fastinter, t.downinter, t.rise, t.fall
        ),
    ));
    hba_step(p, pg)?;
    p.add_notify(
        File::new(PATRONI_YML, render(pg)?)
            .mode(0o600)
            .owner(&pg.dbsu, &pg.dbsu)
            .secret(),
        vec![Handler::Reload(PATRONI_UNIT.into())],
    );
    // A unit change takes effect at the next start: restarting Patroni would restart Postgres.
    p.add_notify(
        File::new(
            format!("/etc/systemd/system/{PATRONI_UNIT}"),
            crate::assets::asset("pgsql/patroni.service").unwrap_or_default(),
        ),
        vec![Handler::DaemonReload],
    );
    Ok(())
}

/// Start Patroni, wait for it, apply reloads, DCS config and pending restarts.
pub fn run_steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    p.add(crate::resources::Service::running(PATRONI_UNIT));
    let ready = |either_scheme| PatroniReady {
        api: pg.patroni_api(),
        timeout: Duration::from_secs(if pg.is_primary() { 300 } else { 3600 }),
        no_leader: (!pg.is_primary()).then(|| Duration::from_secs(180)),
        either_scheme,
    };
    // a reload queued by a change of patroni_ssl_enabled has not run yet
    p.add(ready(true));
    // Runs the queued Patroni reload and the HBA reload now that Postgres answers.
    p.flush();
    // After a reload Patroni may serve its API anew (https on or off): wait for it there.
    p.add(ready(false));
    let (local, dcs) = tune::parameters(pg).map_err(|e| anyhow!("host `{}`: {e}", pg.ip))?;
    p.add(PgConfApplied {
        path: format!("{}/postgresql.conf", pg.data),
        want: local,
        timeout: Duration::from_secs(60),
    });
    p.add(dcs_config(pg)?);
    let psql = pg.psql();
    let want: BTreeMap<String, String> = dcs
        .into_iter()
        .filter(|(k, _)| k != "wal_keep_size")
        .collect();
    let t = tune::timings(pg).map_err(|e| anyhow!("{e}"))?;
    p.add(PatroniPendingRestart {
        api: pg.patroni_api(),
        loop_wait: t.loop_wait,
        live: Box::new(move || {
            let mut why: Vec<String> = psql
                .pending_restart()?
                .into_iter()
                .map(|n| format!("{n} waits for a restart"))
                .collect();
            let names: Vec<String> = want.keys().cloned().collect();
            let live = psql.settings(&names)?;
            for (k, v) in &want {
                if let Some(have) = live.get(k) {
                    if !crate::resources::patroni::same_setting(have, v) {
                        why.push(format!("{k} {have} -> {v} (restart)"));
                    }
                }
            }
            Ok(why)
        }),
    });
    Ok(())
}

#[cfg(test)]
mod standby_tests {
    use super::*;

    #[test]
    fn patroni_mode_pause_keeps_the_cluster_paused_default_leaves_it_alone() {
        let mut pg = crate::modules::pgsql::tests::meta_pg();
        assert!(!dcs_config(&pg).unwrap().top.contains_key("pause"));
        pg.patroni_mode = "pause".into();
        assert_eq!(
            dcs_config(&pg).unwrap().top.get("pause"),
            Some(&json!(true))
        );
    }

    #[test]
    fn a_standby_cluster_bootstraps_from_its_upstream() {
        let mut pg = crate::modules::pgsql::tests::meta_pg();
        pg.upstream = Some("10.10.10.11".into());
        pg.delay_ms = 3_600_000;
        let y = render(&pg).unwrap();
        assert!(y.contains("    standby_cluster:\n      host: \"10.10.10.11\"\n      port: 5432\n      create_replica_methods: [\"basebackup\"]\n      recovery_min_apply_delay: \"3600000ms\""), "{y}");
        assert!(
            y.contains("nofailover: false"),
            "the standby leader may lead its cluster: {y}"
        );
    }

    #[test]
    fn a_standby_cluster_without_delay_renders_and_its_dcs_block_has_no_null() {
        let mut pg = crate::modules::pgsql::tests::meta_pg();
        pg.upstream = Some("10.10.10.10".into());
        let y = render(&pg).unwrap();
        assert!(
            y.contains("      create_replica_methods: [\"basebackup\"]\n")
                && !y.contains("recovery_min_apply_delay: \""),
            "{y}"
        );
        let want = dcs_config(&pg).unwrap().standby.unwrap().unwrap();
        assert_eq!(
            want,
            json!({"host": "10.10.10.10", "port": 5432, "create_replica_methods": ["basebackup"]})
        );
        pg.role = "replica".into();
        assert!(
            dcs_config(&pg).unwrap().standby.is_none(),
            "only the primary's plan judges standby-ness"
        );
    }

    #[test]
    fn a_delayed_replica_is_never_promoted_and_serves_no_reads() {
        let mut pg = crate::modules::pgsql::tests::meta_pg();
        pg.role = "replica".into();
        pg.delay_ms = 60_000;
        let y = render(&pg).unwrap();
        assert!(
            y.contains("\"recovery_min_apply_delay\": \"60000ms\""),
            "{y}"
        );
        assert!(
            y.contains("nofailover: true") && y.contains("noloadbalance: true"),
            "{y}"
        );
        assert!(!y.contains("standby_cluster"), "{y}");
        pg.role = "primary".into();
        let e = render(&pg).unwrap_err().to_string();
        assert!(
            e.contains("`pg_delay` on the primary of `pg-meta` delays nothing"),
            "{e}"
        );
    }
}
