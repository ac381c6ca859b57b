//! `pigsty logs TARGET [SERVICE] [--since WHEN]`: the journal of the units pigsty runs
//! on a node, an instance or a whole cluster, plus Postgres's and Patroni's own log
//! files, read by the `logs` node-mode action on every host in parallel (over SSH;
//! this machine directly) and merged here by time.
//!
//! TARGET is an address, an instance (`pg-test-1`), a cluster or group (`pg-test`,
//! `etcd`, `infra`) or `all`. SERVICE narrows to one unit (`patroni`, `etcd`, ...) or
//! `postgres` for the database log alone.
use crate::actions::logs::Line as LogLine;
use crate::actions::Action;
use crate::cli::{Global, LogsArgs};
use crate::inventory::{Host, Inventory, Module};
use anyhow::{bail, Result};

/// One log line from some host.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Microseconds since the epoch.
    pub t: i64,
    pub host: String,
    pub source: String,
    pub msg: String,
}

/// Units pigsty runs on a host, by module.
pub fn units(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "haproxy.service".into(),
        "prometheus-node-exporter.service".into(),
        "chrony.service".into(),
    ];
    for m in h.modules() {
        match m {
            Module::Infra => v.extend(
                [
                    "prometheus",
                    "prometheus-alertmanager",
                    "prometheus-pushgateway",
                    "prometheus-blackbox-exporter",
                    "nginx",
                    "grafana-server",
                ]
                .iter()
                .map(|u| format!("{u}.service")),
            ),
            Module::Etcd => v.push("etcd.service".into()),
            Module::Pgsql => v.extend(
                [
                    "patroni",
                    "pgbouncer",
                    "prometheus-postgres-exporter",
                    "pgbouncer_exporter",
                ]
                .iter()
                .map(|u| format!("{u}.service")),
            ),
            Module::Redis => v.push("redis-*".into()),
            Module::Minio => v.push("garage*".into()),
            Module::Node => {}
        }
    }
    v
}

fn pick<'a>(inv: &'a Inventory, target: &str) -> Vec<&'a Host> {
    if target == "all" {
        return inv.hosts.iter().collect();
    }
    inv.hosts
        .iter()
        .filter(|h| {
            h.addr == target
                || h.id.pg_instance.as_deref() == Some(target)
                || h.id.pg_cluster.as_deref() == Some(target)
                || h.id.redis_cluster.as_deref() == Some(target)
                || h.id.minio_cluster.as_deref() == Some(target)
                || h.groups.iter().any(|g| g == target)
        })
        .collect()
}

pub use crate::clock::{fmt_utc, parse_utc};

/// `--since` as journalctl and find take it. A short relative time (`10m`, `2h`,
/// `30s`, `1d`, `-30min`, `1 hour ago`) becomes an absolute UTC time computed here,
/// with the microseconds since the epoch for filtering file logs; anything else
/// (`2026-11-25 18:00`, `today`) goes through as it is.
pub fn normalize_since(since: &str, now_us: i64) -> (String, Option<i64>) {
    let s = since.trim();
    let body = s.strip_prefix('-').unwrap_or(s);
    let body = body.strip_suffix(" ago").unwrap_or(body).trim();
    let digits: String = body.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = body[digits.len()..].trim();
    let mul: Option<i64> = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => Some(1),
        "m" | "min" | "mins" | "minute" | "minutes" => Some(60),
        "h" | "hour" | "hours" => Some(3600),
        "d" | "day" | "days" => Some(86400),
        _ => None,
    };
    if let (Ok(n), Some(mul)) = (digits.parse::<i64>(), mul) {
        // beyond the epoch (or past i64) means "everything": the epoch itself
        let back = n
            .checked_mul(mul)
            .and_then(|s| s.checked_mul(1_000_000))
            .unwrap_or(i64::MAX);
        let t = now_us.saturating_sub(back).max(0);
        return (format!("{} UTC", fmt_utc(t.div_euclid(1_000_000))), Some(t));
    }
    let abs = parse_utc(s).or_else(|| parse_utc(&format!("{s}:00")));
    (s.to_string(), abs)
}

pub fn run(g: &Global, a: &LogsArgs) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let hosts = pick(&inv, &a.target);
    if hosts.is_empty() {
        bail!("`{}` names no host, instance, cluster or group in `{}`\nhint: an address, `pg-test-1`, `pg-test`, `etcd` or `all`", a.target, inv.path.display());
    }
    let (since, since_us) = normalize_since(&a.since, crate::clock::now_micros());
    let results: Vec<(String, Result<Vec<LogLine>, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                let mut us = units(h);
                let postgres = h.has(Module::Pgsql)
                    && a.service
                        .as_deref()
                        .map(|x| x == "postgres")
                        .unwrap_or(true);
                if let Some(svc) = &a.service {
                    us.retain(|u| {
                        u.trim_end_matches(".service") == svc || u.starts_with(svc.as_str())
                    });
                    if us.is_empty() && svc != "postgres" {
                        us.push(svc.clone());
                    }
                }
                let patroni = h.has(Module::Pgsql)
                    && a.service.as_deref().map(|x| x == "patroni").unwrap_or(true);
                let action = Action::Logs {
                    units: us,
                    since: since.clone(),
                    since_us,
                    pg_log_dir: postgres
                        .then(|| h.str("pg_log_dir").unwrap_or_default().to_string()),
                    patroni_log_dir: patroni
                        .then(|| h.str("patroni_log_dir").unwrap_or_default().to_string()),
                };
                let addr = h.addr.clone();
                s.spawn(move || {
                    let r = crate::controller::act(&addr, action, &mut |_| {})
                        .and_then(|v| Ok(serde_json::from_value::<Vec<LogLine>>(v)?))
                        .map_err(|e| format!("{e:#}"));
                    (addr, r)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut lines = vec![];
    let mut failed = 0;
    for (host, r) in results {
        match r {
            Ok(ls) => lines.extend(ls.into_iter().map(|l| Line {
                t: l.t,
                host: host.clone(),
                source: l.source,
                msg: l.msg,
            })),
            Err(e) => {
                failed += 1;
                eprintln!("error: host `{host}`: {e}");
            }
        }
    }
    lines.sort_by(|a, b| (a.t, &a.host).cmp(&(b.t, &b.host)));
    if let Some(n) = a.lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out = std::io::stdout().lock();
    for l in &lines {
        use std::io::Write;
        let secs = l.t.div_euclid(1_000_000);
        let ms = l.t.rem_euclid(1_000_000) / 1000;
        let r = if g.json {
            writeln!(
                out,
                "{}",
                serde_json::json!({"t": l.t as f64 / 1e6, "host": l.host, "source": l.source, "msg": l.msg})
            )
        } else {
            writeln!(
                out,
                "{}.{ms:03} {} {}: {}",
                fmt_utc(secs),
                l.host,
                l.source,
                l.msg.trim_end()
            )
        };
        if r.is_err() {
            break; // a closed pipe (`| head`)
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_relative_times_become_absolute_utc() {
        let now = parse_utc("2026-11-26 05:00:00").unwrap();
        for (given, want) in [
            ("10m", "2026-11-26 04:50:00 UTC"),
            ("-30min", "2026-11-26 04:30:00 UTC"),
            ("2h", "2026-11-26 03:00:00 UTC"),
            ("1 hour ago", "2026-11-26 04:00:00 UTC"),
            ("1d", "2026-11-25 05:00:00 UTC"),
        ] {
            let (s, t) = normalize_since(given, now);
            assert_eq!(s, want, "{given}");
            assert_eq!(t, parse_utc(want.trim_end_matches(" UTC")), "{given}");
        }
        assert_eq!(
            normalize_since("2026-11-25 18:00", now),
            (
                "2026-11-25 18:00".to_string(),
                parse_utc("2026-11-25 18:00:00")
            )
        );
        assert_eq!(normalize_since("today", now).1, None);
        // odd input neither panics nor overflows
        assert_eq!(normalize_since("５m", now).1, None);
        assert_eq!(normalize_since("10é", now).1, None);
        assert_eq!(normalize_since("é", now).1, None);
        assert_eq!(normalize_since("99999999999999999d", now).1, Some(0));
        assert_eq!(
            normalize_since("9223372036854775807d", now).0,
            "1970-01-01 00:00:00 UTC"
        );
    }
}
