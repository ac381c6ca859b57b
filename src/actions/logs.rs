//! The `logs` action: a node's journal for the given units since a time, Postgres's
//! csv logs and Patroni's own log files, parsed here into timed lines (the controller
//! merges the lines of every node). journalctl runs with argv; the log files are read
//! directly, newest-modified last.
use crate::sys::Cmd;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// One log line of this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Microseconds since the epoch.
    pub t: i64,
    /// The unit (without `.service`), `postgres` or `patroni`.
    pub source: String,
    pub msg: String,
}

/// What to read: journal units since `since` (as journalctl takes it), and the file
/// logs modified since `since_us` (all of them when the time is not known).
pub fn read(
    units: &[String],
    since: &str,
    since_us: Option<i64>,
    pg_log_dir: Option<&str>,
    patroni_log_dir: Option<&str>,
) -> Result<Vec<Line>> {
    let mut j = Cmd::new("journalctl")
        .args(["-o", "json", "--no-pager", "-q", "--since", since])
        .timeout(Duration::from_secs(60));
    for u in units {
        j = j.args(["-u", u]);
    }
    let out = j.run()?;
    if !out.success() {
        // a `--since` journalctl cannot read: say so rather than show an empty log
        bail!(
            "journalctl failed (exit {}): {}",
            out.code,
            crate::sys::cmd::tail(&out.stderr, &out.stdout)
        );
    }
    let mut lines = parse_journal(&out.stdout);
    let after = |l: &Line| since_us.map(|s| l.t >= s).unwrap_or(true);
    if let Some(d) = pg_log_dir {
        for f in files_since(Path::new(d), |n| n.ends_with(".csv"), since_us) {
            lines.extend(parse_csvlog(&f).into_iter().filter(after));
        }
    }
    if let Some(d) = patroni_log_dir {
        for f in files_since(Path::new(d), |n| n.starts_with("patroni.log"), since_us) {
            lines.extend(parse_patroni_log(&f).into_iter().filter(after));
        }
    }
    Ok(lines)
}

/// The contents of the files in `dir` whose name passes `want` and that were modified
/// at or after `since_us`, oldest-modified first.
fn files_since(dir: &Path, want: impl Fn(&str) -> bool, since_us: Option<i64>) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut found: Vec<(std::time::SystemTime, std::path::PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| want(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let m = e.metadata().ok().filter(|m| m.is_file())?;
            Some((m.modified().ok()?, e.path()))
        })
        .filter(|(t, _)| {
            let us = t
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            since_us.map(|s| us >= s).unwrap_or(true)
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
        .collect()
}

/// `journalctl -o json` lines -> Lines.
pub fn parse_journal(text: &str) -> Vec<Line> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|j| {
            let t = j["__REALTIME_TIMESTAMP"].as_str()?.parse().ok()?;
            let unit = j["_SYSTEMD_UNIT"]
                .as_str()
                .or(j["SYSLOG_IDENTIFIER"].as_str())
                .unwrap_or("journal");
            let msg = match &j["MESSAGE"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(b) => String::from_utf8_lossy(
                    &b.iter()
                        .filter_map(|x| x.as_u64().map(|x| x as u8))
                        .collect::<Vec<_>>(),
                )
                .to_string(),
                _ => return None,
            };
            Some(Line {
                t,
                source: unit.trim_end_matches(".service").into(),
                msg,
            })
        })
        .collect()
}

/// Postgres csvlog text -> Lines (time, severity and message), with the `csv` crate
/// (quoted fields span lines).
pub fn parse_csvlog(text: &str) -> Vec<Line> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    r.records()
        .filter_map(|rec| rec.ok())
        .filter(|f| f.len() >= 14)
        .filter_map(|f| {
            // "2026-11-25 23:00:00.123 UTC"
            let t = crate::clock::parse_utc(f[0].trim_end_matches(" UTC"))?;
            Some(Line {
                t,
                source: "postgres".into(),
                msg: format!("{}: {}", &f[11], &f[13]),
            })
        })
        .collect()
}

/// Patroni's own log file lines (`%Y-%m-%d %H:%M:%S %z LEVEL: message`) -> Lines.
pub fn parse_patroni_log(text: &str) -> Vec<Line> {
    let mut out: Vec<Line> = vec![];
    for l in text.lines() {
        let parts: Vec<&str> = l.splitn(4, ' ').collect();
        let t = (parts.len() == 4)
            .then(|| crate::clock::parse_utc(&format!("{} {}", parts[0], parts[1])))
            .flatten()
            .and_then(|t| {
                let z = parts[2];
                let (sign, hm) = match z.as_bytes().first() {
                    Some(b'+') => (1, &z[1..]),
                    Some(b'-') => (-1, &z[1..]),
                    _ => return None,
                };
                let off = hm.get(..2)?.parse::<i64>().ok()? * 3600
                    + hm.get(2..4)?.parse::<i64>().ok()? * 60;
                Some(t - sign * off * 1_000_000)
            });
        match t {
            Some(t) => out.push(Line {
                t,
                source: "patroni".into(),
                msg: parts[3].to_string(),
            }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_utc;

    #[test]
    fn journal_and_csvlog_lines_carry_their_times() {
        let j = r#"{"__REALTIME_TIMESTAMP":"1795647662000000","_SYSTEMD_UNIT":"patroni.service","MESSAGE":"no action. I am (pg-test-1), the leader"}
{"__REALTIME_TIMESTAMP":"1795647660000000","_SYSTEMD_UNIT":"etcd.service","MESSAGE":[104,105]}"#;
        let c = "2026-11-25 23:01:01.000 UTC,\"postgres\",\"postgres\",1,\"[local]\",x,1,\"idle\",2026-11-25 23:00:00 UTC,1/2,0,LOG,00000,\"connection authorized: user=postgres, \"\"quoted\"\"\nsecond line\",,,,,,,,,\"\",\"client backend\",,0\n";
        let mut v = parse_journal(j);
        v.extend(parse_csvlog(c));
        v.sort_by_key(|l| l.t);
        let s: Vec<String> = v
            .iter()
            .map(|l| format!("{} {}", l.source, l.msg))
            .collect();
        assert_eq!(s[0], "etcd hi");
        assert!(
            s[1].starts_with(
                "postgres LOG: connection authorized: user=postgres, \"quoted\"\nsecond line"
            ),
            "{}",
            s[1]
        );
        assert!(s[2].starts_with("patroni no action"));
        assert_eq!(
            crate::clock::fmt_utc(v[1].t / 1_000_000),
            "2026-11-25 23:01:01"
        );
    }

    #[test]
    fn patroni_log_lines_carry_their_offset_and_tracebacks() {
        let text = "2026-11-26 04:59:05 +0000 INFO: promoted self to leader by acquiring session lock\nTraceback (most recent call last):\n2026-11-26 06:00:00 +0100 INFO: no action\n";
        let v = parse_patroni_log(text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].t, parse_utc("2026-11-26 04:59:05").unwrap());
        assert!(
            v[0].msg.starts_with("INFO: promoted self")
                && v[0].msg.ends_with("Traceback (most recent call last):")
        );
        assert_eq!(v[1].t, parse_utc("2026-11-26 05:00:00").unwrap());
    }

    #[test]
    fn only_files_modified_since_are_read() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.csv"), "x").unwrap();
        std::fs::write(d.path().join("b.log"), "y").unwrap();
        assert_eq!(
            files_since(d.path(), |n| n.ends_with(".csv"), None),
            vec!["x".to_string()]
        );
        let later = crate::clock::now_micros() + 3_600_000_000;
        assert!(files_since(d.path(), |n| n.ends_with(".csv"), Some(later)).is_empty());
    }
}
