//! `pigsty pgsql pitr CLUSTER --time T | --lsn L | --xid X | --name N | --latest |
//! --immediate [--set BACKUP] [--action promote|pause] [--from OTHER] [--yes]`.
//!
//! Before anything changes: the repository is read (`pgbackrest info` on the leader);
//! no backup, a target before the earliest restorable point (the end of the oldest
//! backup), a target in the future or an unknown `--set` fail naming the earliest point,
//! and the running cluster is left untouched. Then it prints the plan and asks for the
//! cluster name typed back (unless `--yes`), and:
//!
//! 1. stops Patroni on the replicas, then on the primary (no failover can happen; their
//!    Postgres stops with them);
//! 2. on the primary, moves the data directory aside (`<data>-pitr-<stamp>`: never
//!    deleted) and `pgbackrest restore`s into a fresh one with the target;
//! 3. starts Postgres there by hand (`pg_ctl`) until it reaches the target and promotes
//!    (a new timeline), removes pgBackRest's recovery settings, stops it;
//!    any failure up to here moves the restored directory to `<data>-failed-<stamp>`,
//!    puts the previous one back and starts Patroni again: the cluster is as before;
//! 4. clears the cluster's state in the DCS (`patronictl remove`) and starts Patroni on
//!    the primary, which takes the restored data as the new leader;
//! 5. moves each replica's data directory aside and starts its Patroni: it clones the
//!    new leader;
//! 6. waits for one leader and every replica streaming on the new timeline, converges
//!    PGSQL on the members again (the restored catalog's roles and password verifiers
//!    meet the inventory and pgBouncer's user list), and takes a full backup (the stanza keeps archiving: the new timeline's WAL lands next to the
//!    old one's).
//!
//! `--from OTHER` restores OTHER's backups (same repository) into this cluster, with
//! archiving off during recovery so nothing lands in OTHER's stanza; the stanza of this
//! cluster is then created or upgraded for the new system.
//! `--action pause` stops at the target with recovery paused and Patroni stopped, and
//! says how to go on.
use super::backup::{dbsu, info_on, leader_host, parse_sets, q, sh_on, utc, BackupSet};
use super::confirm;
use crate::cli::{Global, PitrArgs};
use crate::inventory::Host;
use anyhow::{anyhow, bail, Context, Result};
use std::time::{Duration, Instant};

/// The restore target as pgBackRest options.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub describe: String,
    pub opts: Vec<String>,
}

/// Parse an LSN `X/Y` into a number.
pub fn lsn(s: &str) -> Option<u64> {
    let (a, b) = s.split_once('/')?;
    Some((u64::from_str_radix(a, 16).ok()? << 32) | u64::from_str_radix(b, 16).ok()?)
}

/// Epoch seconds of a timestamp text (GNU date reads Postgres' formats).
pub fn epoch(t: &str) -> Option<i64> {
    let o = crate::sys::Cmd::new("date")
        .args(["-d", t, "+%s"])
        .run()
        .ok()?;
    if !o.success() {
        return None;
    }
    o.stdout.trim().parse().ok()
}

/// Check the target against the backups; the pgBackRest options for it.
pub fn target(a: &PitrArgs, sets: &[BackupSet], src: &str, now: i64) -> Result<Target> {
    let Some(first) = sets.first() else {
        bail!("no backup of `{src}` in the repository: there is no earliest restorable point, nothing to restore from; nothing was changed\nhint: `pigsty pgsql backup {src} full` takes one");
    };
    let earliest = format!(
        "{} (end of backup {}, lsn {})",
        utc(first.stop),
        first.label,
        first.lsn_stop
    );
    let mut opts = vec![];
    if let Some(s) = &a.set {
        if !sets.iter().any(|b| &b.label == s) {
            bail!(
                "`--set {s}`: no such backup of `{src}`; nothing was changed\nhint: backups: {}",
                sets.iter()
                    .map(|b| b.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        opts.push(format!("--set={s}"));
    }
    let action = if a.action == "pause" {
        "pause"
    } else {
        "promote"
    };
    let describe;
    if let Some(t) = &a.time {
        let Some(e) = epoch(t) else {
            bail!("`--time {t}`: not a timestamp; nothing was changed\nhint: e.g. --time '2026-11-25 18:00:00+00'");
        };
        if e < first.stop {
            bail!("`--time {t}` is before the earliest restorable point of `{src}`: {earliest}; nothing was changed\nhint: pick a time after it");
        }
        if e > now {
            bail!("`--time {t}` is in the future; nothing was changed\nhint: `--latest` recovers everything archived; the earliest restorable point is {earliest}");
        }
        opts.extend([
            "--type=time".to_string(),
            format!("--target={t}"),
            format!("--target-action={action}"),
        ]);
        describe = format!("time {t}");
    } else if let Some(l) = &a.lsn {
        let Some(n) = lsn(l) else {
            bail!("`--lsn {l}`: not an LSN (`X/Y` in hex); nothing was changed");
        };
        if lsn(&first.lsn_stop).is_some_and(|f| n < f) {
            bail!("`--lsn {l}` is before the earliest restorable point of `{src}`: {earliest}; nothing was changed");
        }
        opts.extend([
            "--type=lsn".to_string(),
            format!("--target={l}"),
            format!("--target-action={action}"),
        ]);
        describe = format!("lsn {l}");
    } else if let Some(x) = &a.xid {
        if x.parse::<u64>().is_err() {
            bail!("`--xid {x}`: not a transaction id; nothing was changed");
        }
        opts.extend([
            "--type=xid".to_string(),
            format!("--target={x}"),
            format!("--target-action={action}"),
        ]);
        describe = format!("transaction {x}");
    } else if let Some(n) = &a.name {
        opts.extend([
            "--type=name".to_string(),
            format!("--target={n}"),
            format!("--target-action={action}"),
        ]);
        describe = format!("restore point `{n}`");
    } else if a.immediate {
        opts.extend([
            "--type=immediate".to_string(),
            format!("--target-action={action}"),
        ]);
        describe = "the end of the backup (immediate)".to_string();
    } else if a.latest {
        opts.push("--type=default".to_string());
        describe = "the end of the archived WAL (latest)".to_string();
    } else {
        bail!("name a target: --time T, --lsn L, --xid X, --name N, --latest or --immediate; nothing was changed");
    }
    Ok(Target { describe, opts })
}

fn data_dir(h: &Host) -> String {
    h.var_str("pg_data").trim_end_matches('/').to_string()
}

fn psql_cmd(h: &Host, sql: &str) -> String {
    format!(
        "runuser -u {} -- /usr/pgsql/bin/psql -X -A -t -h {} -p {} -d postgres -c {}",
        q(&dbsu(h)),
        q(h.var_str("pg_localhost")),
        h.var_port("pg_port"),
        q(sql)
    )
}

/// Stop Patroni (and with it Postgres) on `h`; then make sure Postgres is down.
fn stop_member(h: &Host) -> Result<()> {
    let d = q(&data_dir(h));
    let u = q(&dbsu(h));
    sh_on(
        &h.addr,
        &format!(
            "systemctl stop patroni; \
             if runuser -u {u} -- /usr/pgsql/bin/pg_ctl -D {d} status >/dev/null 2>&1; then \
               runuser -u {u} -- /usr/pgsql/bin/pg_ctl -D {d} stop -m fast -w -t 300; fi"
        ),
        Duration::from_secs(400),
    )
    .with_context(|| format!("stopping patroni and postgres on `{}`", h.addr))?;
    Ok(())
}

fn start_patroni(h: &Host) -> Result<()> {
    sh_on(&h.addr, "systemctl start patroni", Duration::from_secs(120))
        .with_context(|| format!("starting patroni on `{}`", h.addr))?;
    Ok(())
}

/// Restore into a fresh data dir on the primary and recover to the target. On error the
/// caller rolls back.
fn restore_and_recover(
    p: &Host,
    src: &str,
    t: &Target,
    stamp: &str,
    fork: bool,
    pause: bool,
) -> Result<String> {
    let d = data_dir(p);
    let u = q(&dbsu(p));
    let aside = format!("{d}-pitr-{stamp}");
    let mut opts: Vec<String> = t.opts.iter().map(|o| q(o)).collect();
    if fork {
        opts.push("--archive-mode=off".into());
    }
    let script = format!(
        "set -e; cd /; test ! -e {aside_q}; mv {d_q} {aside_q}; install -d -m 0700 -o {u} -g {u} {d_q}; \
         runuser -u {u} -- pgbackrest --stanza={s} --pg1-path={d_q} {opts} restore >&2",
        aside_q = q(&aside),
        d_q = q(&d),
        s = q(src),
        opts = opts.join(" ")
    );
    eprintln!(
        "  {}: data directory moved aside to `{aside}`; pgbackrest restore from `{src}`",
        p.addr
    );
    sh_on(&p.addr, &script, Duration::from_secs(6 * 3600)).context("pgbackrest restore")?;
    // Recover by hand until the target is reached.
    let log = format!("/pg/tmp/pitr-{stamp}.log");
    sh_on(
        &p.addr,
        &format!(
            "cd /; runuser -u {u} -- /usr/pgsql/bin/pg_ctl -D {} -l {} start -W",
            q(&d),
            q(&log)
        ),
        Duration::from_secs(120),
    )
    .context("starting postgres for recovery")?;
    let want = if pause { "paused" } else { "promoted" };
    let probe = if pause {
        psql_cmd(
            p,
            "select pg_is_in_recovery() and pg_get_wal_replay_pause_state() = 'paused'",
        )
    } else {
        psql_cmd(p, "select not pg_is_in_recovery()")
    };
    let alive = format!(
        "runuser -u {u} -- /usr/pgsql/bin/pg_ctl -D {} status >/dev/null",
        q(&d)
    );
    let t0 = Instant::now();
    loop {
        if let Ok(o) = sh_on(
            &p.addr,
            &format!("{probe} 2>/dev/null || true"),
            Duration::from_secs(30),
        ) {
            if o.stdout.trim() == "t" {
                break;
            }
        }
        if sh_on(&p.addr, &alive, Duration::from_secs(30)).is_err() {
            let tail = sh_on(
                &p.addr,
                &format!(
                    "tail -n 15 {}; f=$(ls -t {}/* 2>/dev/null | head -n1); [ -z \"$f\" ] || tail -n 15 \"$f\"",
                    q(&log),
                    q(p.var_str("pg_log_dir"))
                ),
                Duration::from_secs(30),
            )
            .map(|o| o.stdout)
            .unwrap_or_default();
            bail!("postgres stopped during recovery before it {want}:\n{tail}");
        }
        if t0.elapsed() > Duration::from_secs(6 * 3600) {
            bail!("recovery did not finish in 6 hours");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    if pause {
        return Ok(aside);
    }
    // pgBackRest's recovery settings out of postgresql.auto.conf, then a clean stop.
    let reset = [
        "restore_command",
        "recovery_target",
        "recovery_target_time",
        "recovery_target_lsn",
        "recovery_target_xid",
        "recovery_target_name",
        "recovery_target_action",
        "recovery_target_inclusive",
        "recovery_target_timeline",
        "archive_mode",
    ]
    .iter()
    .map(|k| psql_cmd(p, &format!("alter system reset {k}")))
    .collect::<Vec<_>>()
    .join(" && ");
    sh_on(
        &p.addr,
        &format!(
            "set -e; cd /; {reset}; {chk}; runuser -u {u} -- /usr/pgsql/bin/pg_ctl -D {} stop -m fast -w -t 300",
            q(&d),
            chk = psql_cmd(p, "checkpoint")
        ),
        Duration::from_secs(400),
    )
    .context("stopping the recovered postgres")?;
    Ok(aside)
}

/// Put the previous data directory back after a failed restore, and start the cluster.
fn roll_back(p: &Host, others: &[&Host], stamp: &str) -> Result<()> {
    let d = data_dir(p);
    let u = q(&dbsu(p));
    let aside = format!("{d}-pitr-{stamp}");
    let failed = format!("{d}-failed-{stamp}");
    sh_on(
        &p.addr,
        &format!(
            "cd /; runuser -u {u} -- /usr/pgsql/bin/pg_ctl -D {dq} stop -m immediate -w -t 60 >/dev/null 2>&1 || true; \
             test -d {aq} || exit 0; if [ -e {dq} ]; then mv {dq} {fq}; fi; mv {aq} {dq}",
            dq = q(&d),
            aq = q(&aside),
            fq = q(&failed)
        ),
        Duration::from_secs(120),
    )?;
    start_patroni(p)?;
    std::thread::sleep(Duration::from_secs(5));
    for h in others {
        start_patroni(h)?;
    }
    Ok(())
}

/// `patronictl remove`: the cluster name, the phrase, and the leader's name should a
/// leader key still be there.
fn wipe_dcs(p: &Host, cluster: &str, leader: &str) -> Result<()> {
    sh_on(
        &p.addr,
        &format!(
            "printf '%s\\nYes I am aware\\n%s\\n' {c} {l} | patronictl -c /etc/patroni/patroni.yml remove {c} >&2",
            c = q(cluster),
            l = q(leader)
        ),
        Duration::from_secs(60),
    )
    .context("clearing the cluster's state in the DCS (patronictl remove)")?;
    Ok(())
}

/// Wait for one running leader and `n - 1` streaming replicas on the leader's timeline.
fn wait_healthy(hosts: &[&Host], n: usize, timeout: Duration) -> Result<(String, u64)> {
    let t0 = Instant::now();
    let mut last;
    loop {
        match super::pgsql::cluster_members_state(hosts) {
            Ok(ms) => {
                let raw = serde_json::to_string(
                    &ms.iter()
                        .map(|m| (&m.name, &m.role, &m.state))
                        .collect::<Vec<_>>(),
                )
                .unwrap_or_default();
                last = raw;
                if let Some(l) = ms
                    .iter()
                    .find(|m| super::backup::is_leader(m) && m.state == "running")
                {
                    let ok = ms.len() == n
                        && ms
                            .iter()
                            .filter(|m| !super::backup::is_leader(m))
                            .all(|m| matches!(m.state.as_str(), "running" | "streaming"));
                    if ok {
                        // timeline from the leader's patroni
                        let tl = timeline_of(hosts, &l.host).unwrap_or(0);
                        return Ok((l.name.clone(), tl));
                    }
                }
            }
            Err(e) => last = e.to_string(),
        }
        if t0.elapsed() > timeout {
            bail!(
                "the cluster is not healthy after {}s: {last}\nhint: `pigsty status`",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn timeline_of(hosts: &[&Host], addr: &str) -> Option<u64> {
    let h = hosts.iter().find(|h| h.addr == addr)?;
    let api = crate::resources::patroni::PatroniApi::new(
        crate::modules::pgsql::params::patroni_url(h),
        h.var_str("patroni_username"),
        h.str("patroni_password").unwrap_or(""),
    );
    api.get("/patroni").ok()?.json()?["timeline"].as_u64()
}

pub fn run(g: &Global, a: &PitrArgs) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let cluster = a.cluster.as_str();
    let hosts = super::pgsql::members_of(&inv, cluster)?;
    // a restore replaces the data of every member: what pg_safeguard is there to stop
    let guarded = super::pgsql::safeguarded(&hosts);
    if !guarded.is_empty() {
        bail!(
            "pg_safeguard is on for `{cluster}` ({guarded}); refusing a point-in-time recovery, which replaces its data; nothing was changed\nhint: set `pg_safeguard: false` for it in the inventory (or pass -e pg_safeguard=false) when you mean it"
        );
    }
    // held through the restore and the re-deploy: no deploy, switchover or backup meanwhile
    let _lock = super::lock::clusters([cluster], super::lock::wait()?)?;
    let (primary, ms) = leader_host(&inv, cluster)?;
    let src = a.from.clone().unwrap_or_else(|| cluster.to_string());
    let fork = src != cluster;
    let sets = parse_sets(&info_on(primary, &src)?, &src);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let t = target(a, &sets, &src, now)?;
    let pause = a.action == "pause";
    let replicas: Vec<&Host> = hosts
        .iter()
        .filter(|h| h.addr != primary.addr)
        .copied()
        .collect();
    let stamp = crate::sys::Cmd::new("date")
        .args(["-u", "+%Y%m%dT%H%M%SZ"])
        .run()
        .map(|o| o.stdout.trim().to_string())
        .unwrap_or_else(|_| now.to_string());
    let d = data_dir(primary);
    let mut what = format!(
        "point-in-time recovery of `{cluster}` to {}{}:\n  backups of `{src}`: {} (earliest restorable point {})\n  1. stop patroni and postgres: {}then the primary {}\n  2. on {}: move `{d}` aside to `{d}-pitr-{stamp}` (kept), pgbackrest restore{}\n  3. recover to the target and {}",
        t.describe,
        if fork { format!(" from cluster `{src}` (a fork)") } else { String::new() },
        sets.len(),
        sets.first().map(|b| utc(b.stop)).unwrap_or_default(),
        replicas.iter().map(|h| format!("{} ", h.addr)).collect::<String>(),
        primary.addr,
        primary.addr,
        a.set.as_ref().map(|s| format!(" from backup {s}")).unwrap_or_default(),
        if pause { "pause there (patroni stays stopped)" } else { "promote on a new timeline" }
    );
    if !pause {
        what.push_str(&format!(
            "\n  4. clear `{cluster}` in the DCS, start patroni on {} (the new leader)\n  5. replicas {}: move their data aside, clone the new leader\n  6. wait until healthy, take a full backup",
            primary.addr,
            replicas.iter().map(|h| h.addr.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if a.confirm.yes {
        eprintln!("{what}");
    } else {
        confirm(cluster, &what)?;
    }
    let t0 = Instant::now();
    eprintln!("[1/6] stopping patroni on the replicas, then on the primary");
    for h in &replicas {
        stop_member(h)?;
    }
    stop_member(primary)?;
    eprintln!("[2/6] restoring on {}", primary.addr);
    let aside = match restore_and_recover(primary, &src, &t, &stamp, fork, pause) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("restore failed: {e:#}\nrolling back: the previous data directory goes back in place and patroni starts again");
            let rb = roll_back(primary, &replicas, &stamp);
            return Err(match rb {
                Ok(()) => anyhow!("point-in-time recovery of `{cluster}` failed; the cluster runs on its previous data again (the failed restore is kept in `{d}-failed-{stamp}`): {e:#}"),
                Err(r) => anyhow!("point-in-time recovery of `{cluster}` failed ({e:#}) and so did the roll back ({r:#})\nhint: the previous data directory is `{d}-pitr-{stamp}` on {}; move it back to `{d}` and `systemctl start patroni`", primary.addr),
            });
        }
    };
    if pause {
        println!(
            "{cluster}: recovery paused at {} on {}; postgres runs there outside patroni, patroni is stopped on every member\n  previous data directory: `{aside}` (kept)\n  inspect it (psql on the unix socket), then either\n    keep it:  `select pg_wal_replay_resume()` (it promotes), `pg_ctl -D {d} stop`, `patronictl remove {cluster}`, `systemctl start patroni` there, then move each replica's data aside and start its patroni\n    drop it:  `pg_ctl -D {d} stop -m fast`, move `{aside}` back to `{d}`, `systemctl start patroni` on every member",
            t.describe, primary.addr
        );
        return Ok(0);
    }
    eprintln!("[3/6] recovered and promoted; previous data kept in `{aside}`");
    eprintln!(
        "[4/6] new leader: clearing `{cluster}` in the DCS, starting patroni on {}",
        primary.addr
    );
    let leader_name = ms
        .iter()
        .find(|m| m.host == primary.addr)
        .map(|m| m.name.clone())
        .unwrap_or_default();
    wipe_dcs(primary, cluster, &leader_name)?;
    start_patroni(primary)?;
    wait_healthy(&[primary], 1, Duration::from_secs(300))
        .context("waiting for the restored primary to lead")?;
    eprintln!("[5/6] replicas clone the new leader");
    for h in &replicas {
        let rd = data_dir(h);
        sh_on(
            &h.addr,
            &format!(
                "set -e; cd /; if [ -e {dq} ]; then mv {dq} {aq}; fi; install -d -m 0700 -o {u} -g {u} {dq}; systemctl start patroni",
                dq = q(&rd),
                aq = q(&format!("{rd}-pitr-{stamp}")),
                u = q(&dbsu(h))
            ),
            Duration::from_secs(120),
        )
        .with_context(|| format!("re-creating replica `{}`", h.addr))?;
    }
    let (leader, tl) = wait_healthy(&hosts, hosts.len(), Duration::from_secs(1800))?;
    // The catalog is the one of the target time (roles, password verifiers): PGSQL
    // converges the members to the inventory again (pgBouncer's user list included).
    eprintln!("[6/6] healthy: leader {leader} on timeline {tl}; converging PGSQL to the inventory");
    let only = std::collections::BTreeSet::from([crate::inventory::Module::Pgsql]);
    let phases = crate::controller::phases(&inv, &hosts, Some(&only));
    let opts = super::deploy::options(g, 16, false)?;
    let (code, _) = super::deploy::run_phases(g, &inv, phases, &opts);
    if code != 0 {
        eprintln!("warning: converging PGSQL on `{cluster}` after the recovery failed (exit {code}); the data is restored\nhint: `pigsty deploy -l {cluster} -m pgsql`");
    }
    eprintln!("taking a full backup of `{cluster}`");
    if fork {
        // a new system for this cluster's stanza
        let u = q(&dbsu(primary));
        let s = q(cluster);
        sh_on(
            &primary.addr,
            &format!("cd /; runuser -u {u} -- pgbackrest --stanza={s} stanza-create >&2 || runuser -u {u} -- pgbackrest --stanza={s} stanza-upgrade >&2"),
            Duration::from_secs(600),
        )
        .context("creating this cluster's stanza for the forked system")?;
    }
    super::backup::take(primary, cluster, "full")?;
    println!(
        "{cluster}: recovered to {} in {:.1}s; leader {leader} on timeline {tl}, {} replica(s) streaming; previous data directories kept as `*-pitr-{stamp}`",
        t.describe,
        t0.elapsed().as_secs_f64(),
        replicas.len()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(time: Option<&str>) -> PitrArgs {
        PitrArgs {
            cluster: "pg-test".into(),
            time: time.map(String::from),
            lsn: None,
            xid: None,
            name: None,
            latest: false,
            immediate: false,
            set: None,
            action: "promote".into(),
            from: None,
            confirm: crate::cli::Confirm { yes: true },
        }
    }

    fn sets() -> Vec<BackupSet> {
        vec![BackupSet {
            label: "20261125-100000F".into(),
            kind: "full".into(),
            start: 1795600000,
            stop: 1795600100,
            lsn_stop: "0/3000100".into(),
        }]
    }

    #[test]
    fn no_backup_names_that_there_is_no_restorable_point() {
        let e = target(
            &args(Some("2026-11-25 18:00:00+00")),
            &[],
            "pg-test",
            1795700000,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no backup of `pg-test`") && e.contains("earliest restorable point"),
            "{e}"
        );
    }

    #[test]
    fn a_time_before_the_first_backup_names_the_earliest_point() {
        let e = target(
            &args(Some("2020-01-01 00:00:00+00")),
            &sets(),
            "pg-test",
            1795700000,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("earliest restorable point")
                && e.contains("20261125-100000F")
                && e.contains("nothing was changed"),
            "{e}"
        );
    }

    #[test]
    fn a_time_after_the_first_backup_is_a_time_target() {
        let t = target(
            &args(Some("2026-11-25 18:00:00+00")),
            &sets(),
            "pg-test",
            1795700000,
        )
        .unwrap();
        assert_eq!(
            t.opts,
            vec![
                "--type=time",
                "--target=2026-11-25 18:00:00+00",
                "--target-action=promote"
            ]
        );
    }

    #[test]
    fn lsns_compare_as_numbers() {
        assert!(lsn("0/3000100").unwrap() < lsn("1/0").unwrap());
        assert_eq!(lsn("x"), None);
    }
}
