//! `pigsty logs TARGET [SERVICE] [--since WHEN]`: the journal of the units pigsty runs
//! on a node, an instance or a whole cluster, plus Postgres's own csv logs, read over
//! SSH (this machine directly) from every host in parallel and merged by time.
//!
//! TARGET is an address, an instance (`pg-test-1`), a cluster or group (`pg-test`,
//! `etcd`, `infra`) or `all`. SERVICE narrows to one unit (`patroni`, `etcd`, ...) or
//! `postgres` for the database log alone.
use crate::cli::{Global, LogsArgs};
use crate::inventory::{Host, Inventory, Module};
use crate::sys::Cmd;
use anyhow::{bail, Result};
use std::time::Duration;

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
    let mut v: Vec<String> = vec!["haproxy.service".into(), "prometheus-node-exporter.service".into(), "chrony.service".into()];
    for m in h.modules() {
        match m {
            Module::Infra => v.extend(
                ["prometheus", "prometheus-alertmanager", "prometheus-pushgateway", "prometheus-blackbox-exporter", "nginx", "grafana-server"]
                    .iter()
                    .map(|u| format!("{u}.service")),
            ),
            Module::Etcd => v.push("etcd.service".into()),
            Module::Pgsql => v.extend(
                ["patroni", "pgbouncer", "prometheus-postgres-exporter", "pgbouncer_exporter"].iter().map(|u| format!("{u}.service")),
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

/// `journalctl -o json` lines -> Lines.
pub fn parse_journal(host: &str, text: &str) -> Vec<Line> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|j| {
            let t = j["__REALTIME_TIMESTAMP"].as_str()?.parse().ok()?;
            let unit = j["_SYSTEMD_UNIT"].as_str().or(j["SYSLOG_IDENTIFIER"].as_str()).unwrap_or("journal");
            let msg = match &j["MESSAGE"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(b) => String::from_utf8_lossy(&b.iter().filter_map(|x| x.as_u64().map(|x| x as u8)).collect::<Vec<_>>()).to_string(),
                _ => return None,
            };
            Some(Line { t, host: host.into(), source: unit.trim_end_matches(".service").into(), msg })
        })
        .collect()
}

/// Fields of one csv record starting at `s`; returns the fields and the rest.
fn csv_record(s: &str) -> Option<(Vec<String>, &str)> {
    let b = s.as_bytes();
    let (mut i, mut fields, mut cur, mut quoted) = (0, vec![], String::new(), false);
    if b.is_empty() {
        return None;
    }
    while i < b.len() {
        let c = b[i] as char;
        if quoted {
            if c == '"' && b.get(i + 1) == Some(&b'"') {
                cur.push('"');
                i += 1;
            } else if c == '"' {
                quoted = false;
            } else {
                let ch = s[i..].chars().next()?;
                cur.push(ch);
                i += ch.len_utf8() - 1;
            }
        } else if c == '"' {
            quoted = true;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
        } else if c == '\n' {
            fields.push(cur);
            return Some((fields, &s[i + 1..]));
        } else {
            let ch = s[i..].chars().next()?;
            cur.push(ch);
            i += ch.len_utf8() - 1;
        }
        i += 1;
    }
    fields.push(cur);
    Some((fields, ""))
}

/// Postgres csvlog text -> Lines (time, severity and message).
pub fn parse_csvlog(host: &str, text: &str) -> Vec<Line> {
    let mut out = vec![];
    let mut rest = text;
    while let Some((f, r)) = csv_record(rest) {
        rest = r;
        if f.len() < 14 {
            continue;
        }
        // "2026-11-25 23:00:00.123 UTC"
        let ts = f[0].trim_end_matches(" UTC");
        let Some(t) = parse_utc(ts) else { continue };
        out.push(Line { t, host: host.into(), source: "postgres".into(), msg: format!("{}: {}", f[11], f[13]) });
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` in UTC -> microseconds since the epoch.
pub fn parse_utc(s: &str) -> Option<i64> {
    let (d, t) = s.split_once(' ')?;
    let mut dp = d.split('-').map(|x| x.parse::<i64>());
    let (y, mo, da) = (dp.next()?.ok()?, dp.next()?.ok()?, dp.next()?.ok()?);
    let (hms, frac) = t.split_once('.').unwrap_or((t, "0"));
    let mut tp = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (tp.next()?.ok()?, tp.next()?.ok()?, tp.next()?.ok()?);
    let micros: i64 = format!("{frac:0<6}")[..6].parse().ok()?;
    // days from civil (Howard Hinnant)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(((days * 86400 + h * 3600 + mi * 60 + se) * 1_000_000) + micros)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

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
        let t = now_us - n * mul * 1_000_000;
        return (format!("{} UTC", fmt_utc(t.div_euclid(1_000_000))), Some(t));
    }
    let abs = parse_utc(s).or_else(|| parse_utc(&format!("{s}:00")));
    (s.to_string(), abs)
}

/// Patroni's own log file lines (`%Y-%m-%d %H:%M:%S %z LEVEL: message`) -> Lines.
pub fn parse_patroni_log(host: &str, text: &str) -> Vec<Line> {
    let mut out: Vec<Line> = vec![];
    for l in text.lines() {
        let parts: Vec<&str> = l.splitn(4, ' ').collect();
        let t = (parts.len() == 4)
            .then(|| parse_utc(&format!("{} {}", parts[0], parts[1])))
            .flatten()
            .and_then(|t| {
                let z = parts[2];
                let (sign, hm) = match z.as_bytes().first() {
                    Some(b'+') => (1, &z[1..]),
                    Some(b'-') => (-1, &z[1..]),
                    _ => return None,
                };
                let off = hm.get(..2)?.parse::<i64>().ok()? * 3600 + hm.get(2..4)?.parse::<i64>().ok()? * 60;
                Some(t - sign * off * 1_000_000)
            });
        match t {
            Some(t) => out.push(Line { t, host: host.into(), source: "patroni".into(), msg: parts[3].to_string() }),
            // a continuation line (a traceback) belongs to the line before
            None => {
                if let Some(last) = out.last_mut() {
                    last.msg.push('\n');
                    last.msg.push_str(l);
                }
            }
        }
    }
    out
}

/// The shell script run on a host: journal as JSON, a marker, the csv logs, a marker,
/// Patroni's own log files. A journalctl that fails (a `--since` it cannot read) fails
/// the script, so the error is reported rather than an empty log.
fn script(units: &[String], since: &str, postgres: bool, pg_log_dir: &str, patroni_log_dir: Option<&str>) -> String {
    let mut s = String::from("journalctl -o json --no-pager -q --since ");
    s.push_str(&shell_quote(since));
    for u in units {
        s.push_str(" -u ");
        s.push_str(&shell_quote(u));
    }
    s.push_str(" || exit 3; echo '@@pigsty-csvlog@@'");
    if postgres {
        s.push_str(&format!(
            "; find {} -maxdepth 1 -name '*.csv' -newermt {} -print0 2>/dev/null | xargs -0 -r cat",
            shell_quote(pg_log_dir),
            shell_quote(since)
        ));
    }
    s.push_str("; echo '@@pigsty-patroni@@'");
    if let Some(d) = patroni_log_dir {
        s.push_str(&format!(
            "; find {} -maxdepth 1 -name 'patroni.log*' -newermt {} -print0 2>/dev/null | xargs -0 -r ls -tr | xargs -r cat",
            shell_quote(d),
            shell_quote(since)
        ));
    }
    s
}

pub fn run(g: &Global, a: &LogsArgs) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let hosts = pick(&inv, &a.target);
    if hosts.is_empty() {
        bail!("`{}` names no host, instance, cluster or group in `{}`\nhint: an address, `pg-test-1`, `pg-test`, `etcd` or `all`", a.target, inv.path.display());
    }
    let facts = crate::facts::Facts::gather();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let (since, since_us) = normalize_since(&a.since, now_us);
    let results: Vec<(String, Result<String, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                let mut us = units(h);
                let postgres = h.has(Module::Pgsql) && a.service.as_deref().map(|x| x == "postgres").unwrap_or(true);
                if let Some(svc) = &a.service {
                    us.retain(|u| u.trim_end_matches(".service") == svc || u.starts_with(svc.as_str()));
                    if us.is_empty() && svc != "postgres" {
                        us.push(svc.clone());
                    }
                }
                let log_dir = h.str("pg_log_dir").unwrap_or("/pg/log/postgres").to_string();
                let patroni = h.has(Module::Pgsql) && a.service.as_deref().map(|x| x == "patroni").unwrap_or(true);
                let patroni_dir = h.str("patroni_log_dir").unwrap_or("/pg/log/patroni").to_string();
                let sc = script(&us, &since, postgres, &log_dir, patroni.then_some(patroni_dir.as_str()));
                let addr = h.addr.clone();
                let local = crate::controller::is_local(&addr, &facts);
                s.spawn(move || {
                    let r = if local {
                        Cmd::new("sh").args(["-c", &sc]).timeout(Duration::from_secs(60)).run().map(|o| o.stdout).map_err(|e| e.to_string())
                    } else {
                        crate::remote::Ssh::new(&addr).run(&sc, None, Duration::from_secs(60)).map(|o| o.stdout).map_err(|e| e.to_string())
                    };
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
            Ok(text) => {
                let (j, rest) = text.split_once("@@pigsty-csvlog@@\n").unwrap_or((&text, ""));
                let (c, p) = rest.split_once("@@pigsty-patroni@@\n").unwrap_or((rest, ""));
                lines.extend(parse_journal(&host, j));
                lines.extend(parse_csvlog(&host, c));
                lines.extend(parse_patroni_log(&host, p).into_iter().filter(|l| since_us.map(|s| l.t >= s).unwrap_or(true)));
            }
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
            writeln!(out, "{}", serde_json::json!({"t": l.t as f64 / 1e6, "host": l.host, "source": l.source, "msg": l.msg}))
        } else {
            writeln!(out, "{}.{ms:03} {} {}: {}", fmt_utc(secs), l.host, l.source, l.msg.trim_end())
        };
        if r.is_err() {
            break; // a closed pipe (`| head`)
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Seconds since the epoch -> `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn fmt_utc(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let t = parse_utc("2026-11-25 23:01:02.5").unwrap();
        assert_eq!(fmt_utc(t / 1_000_000), "2026-11-25 23:01:02");
        assert_eq!(t % 1_000_000, 500_000);
        assert_eq!(parse_utc("1970-01-01 00:00:00"), Some(0));
    }

    #[test]
    fn journal_and_csvlog_merge_by_time() {
        let j = r#"{"__REALTIME_TIMESTAMP":"1795647662000000","_SYSTEMD_UNIT":"patroni.service","MESSAGE":"no action. I am (pg-test-1), the leader"}
{"__REALTIME_TIMESTAMP":"1795647660000000","_SYSTEMD_UNIT":"etcd.service","MESSAGE":[104,105]}"#;
        let c = "2026-11-25 23:01:01.000 UTC,\"postgres\",\"postgres\",1,\"[local]\",x,1,\"idle\",2026-11-25 23:00:00 UTC,1/2,0,LOG,00000,\"connection authorized: user=postgres, \"\"quoted\"\"\nsecond line\",,,,,,,,,\"\",\"client backend\",,0\n";
        let mut v = parse_journal("10.10.10.11", j);
        v.extend(parse_csvlog("10.10.10.11", c));
        v.sort_by_key(|l| l.t);
        let s: Vec<String> = v.iter().map(|l| format!("{} {}", l.source, l.msg)).collect();
        assert_eq!(s[0], "etcd hi");
        assert!(s[1].starts_with("postgres LOG: connection authorized: user=postgres, \"quoted\"\nsecond line"), "{}", s[1]);
        assert!(s[2].starts_with("patroni no action"));
        assert_eq!(fmt_utc(v[1].t / 1_000_000), "2026-11-25 23:01:01");
    }

    #[test]
    fn the_script_quotes_what_it_is_given() {
        let s = script(&["patroni.service".into()], "1 hour ago", true, "/pg/log/postgres", Some("/pg/log/patroni"));
        assert!(s.starts_with("journalctl -o json --no-pager -q --since '1 hour ago' -u 'patroni.service' || exit 3"), "{s}");
        assert!(s.contains("-newermt '1 hour ago'"));
        assert!(s.contains("find '/pg/log/patroni' -maxdepth 1 -name 'patroni.log*'"), "{s}");
    }

    #[test]
    fn short_relative_times_become_absolute_utc() {
        let now = parse_utc("2026-11-26 05:00:00").unwrap();
        for (given, want) in [("10m", "2026-11-26 04:50:00 UTC"), ("-30min", "2026-11-26 04:30:00 UTC"), ("2h", "2026-11-26 03:00:00 UTC"), ("1 hour ago", "2026-11-26 04:00:00 UTC"), ("1d", "2026-11-25 05:00:00 UTC")] {
            let (s, t) = normalize_since(given, now);
            assert_eq!(s, want, "{given}");
            assert_eq!(t, parse_utc(want.trim_end_matches(" UTC")), "{given}");
        }
        assert_eq!(normalize_since("2026-11-25 18:00", now), ("2026-11-25 18:00".to_string(), parse_utc("2026-11-25 18:00:00")));
        assert_eq!(normalize_since("today", now).1, None);
    }

    #[test]
    fn patroni_log_lines_carry_their_offset_and_tracebacks() {
        let text = "2026-11-26 04:59:05 +0000 INFO: promoted self to leader by acquiring session lock\nTraceback (most recent call last):\n2026-11-26 06:00:00 +0100 INFO: no action\n";
        let v = parse_patroni_log("10.10.10.12", text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].t, parse_utc("2026-11-26 04:59:05").unwrap());
        assert!(v[0].msg.starts_with("INFO: promoted self") && v[0].msg.ends_with("Traceback (most recent call last):"));
        assert_eq!(v[1].t, parse_utc("2026-11-26 05:00:00").unwrap());
        assert_eq!(v[1].source, "patroni");
    }
}
