//! `haproxy_health`: force servers' health on this node's HAProxy through its admin
//! socket (`set server BACKEND/SERVER health up|down`, HAProxy's runtime API), so a
//! switchover's new primary takes connections at once instead of after `rise`
//! successful checks, and the demoted one stops taking them before `fall` failures.
//! The health checks go on and correct any state that is wrong.
//!
//! `haproxy_follow` does the same without a second round trip: sent before the leader
//! moves, the node asks the candidates' Patroni `/primary` every 30 ms and sets the
//! health the moment one answers 200.
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// One server's forced health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHealth {
    /// The `listen` section (`pg-test-primary`).
    pub backend: String,
    /// The server (the instance name, `pg-test-2`).
    pub server: String,
    pub up: bool,
}

impl ServerHealth {
    /// The runtime API command. Names are checked first: the command is one line.
    pub fn command(&self) -> Result<String> {
        for n in [&self.backend, &self.server] {
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                bail!("`{n}` is not a HAProxy backend or server name");
            }
        }
        Ok(format!(
            "set server {}/{} health {}",
            self.backend,
            self.server,
            if self.up { "up" } else { "down" }
        ))
    }
}

/// Send one command on a fresh connection and read the answer (empty: done).
fn send(socket: &str, cmd: &str) -> Result<String> {
    let mut s = UnixStream::connect(socket)
        .with_context(|| format!("connecting to HAProxy's admin socket {socket}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_string())
}

/// Apply every forced health; an empty list only checks that the socket answers.
pub fn set(socket: &str, servers: &[ServerHealth]) -> Result<Value> {
    if servers.is_empty() {
        let info = send(socket, "show info")?;
        if !info.contains("Name:") {
            bail!("HAProxy's admin socket {socket} answered `show info` with: {info}");
        }
        return Ok(json!({"socket": socket, "set": 0}));
    }
    let mut done = vec![];
    for s in servers {
        let cmd = s.command()?;
        let answer = send(socket, &cmd)?;
        if !answer.is_empty() {
            return Err(anyhow!("HAProxy refused `{cmd}`: {answer}"));
        }
        done.push(cmd);
    }
    Ok(json!({"socket": socket, "set": done.len(), "commands": done}))
}

/// Whether a Patroni status body says Postgres itself is out of recovery: `/primary`
/// answers 200 as soon as Patroni holds the leader key, while the promotion may still
/// run (writes then fail with "read-only transaction"); the body's `role` comes from
/// `pg_is_in_recovery()` at the time of the request.
pub fn writable(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .is_ok_and(|v| matches!(v["role"].as_str(), Some("master" | "primary")))
}

/// The first of `candidates` (member name, Patroni's base URL, `http(s)://ip:port`) whose Patroni answers 200
/// on `/primary` with Postgres out of recovery ([`writable`]), all asked at once every
/// 30 ms, for at most `limit`.
pub fn first_primary(candidates: &[(String, String)], limit: Duration) -> Option<String> {
    let t = std::time::Instant::now();
    while t.elapsed() < limit {
        let hit = std::thread::scope(|sc| {
            let jobs: Vec<_> = candidates
                .iter()
                .map(|(name, base)| {
                    sc.spawn(move || {
                        let url = format!("{base}/primary");
                        crate::sys::http::get_url(&url, Duration::from_millis(500))
                            .is_ok_and(|r| r.status == 200 && writable(&r.body))
                            .then(|| name.clone())
                    })
                })
                .collect();
            jobs.into_iter().find_map(|j| j.join().ok().flatten())
        });
        if hit.is_some() {
            return hit;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    None
}

/// Wait for a new primary among `candidates`, then route `backends` to it (and away
/// from `old`) on this node's HAProxy.
pub fn follow(
    socket: &str,
    backends: &[String],
    candidates: &[(String, String)],
    old: Option<&str>,
    limit: Duration,
) -> Result<Value> {
    let t = std::time::Instant::now();
    let Some(new) = first_primary(candidates, limit) else {
        bail!("no member answered /primary within {}s", limit.as_secs());
    };
    let waited = t.elapsed();
    let mut servers = vec![];
    for b in backends {
        servers.push(ServerHealth {
            backend: b.clone(),
            server: new.clone(),
            up: true,
        });
        if let Some(o) = old {
            servers.push(ServerHealth {
                backend: b.clone(),
                server: o.into(),
                up: false,
            });
        }
    }
    let mut out = set(socket, &servers)?;
    out["primary"] = json!(new);
    out["waited_ms"] = json!(waited.as_millis() as u64);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_still_promoting_is_not_writable_yet() {
        assert!(!writable(
            r#"{"state": "running", "role": "replica", "xlog": {"replayed_location": 1}}"#
        ));
        assert!(writable(
            r#"{"state": "running", "role": "master", "xlog": {"location": 2}}"#
        ));
        assert!(writable(r#"{"state": "running", "role": "primary"}"#));
        assert!(!writable("not json"));
    }

    #[test]
    fn commands_are_one_line_with_checked_names() {
        let s = ServerHealth {
            backend: "pg-test-primary".into(),
            server: "pg-test-2".into(),
            up: true,
        };
        assert_eq!(
            s.command().unwrap(),
            "set server pg-test-primary/pg-test-2 health up"
        );
        let bad = ServerHealth {
            backend: "pg-test-primary\nshutdown sessions".into(),
            server: "x".into(),
            up: false,
        };
        assert!(bad
            .command()
            .unwrap_err()
            .to_string()
            .contains("is not a HAProxy backend or server name"));
    }

    #[test]
    fn each_command_goes_to_the_socket_and_an_answer_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("admin.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let seen = std::thread::spawn(move || {
            let mut got = vec![];
            for (i, c) in l.incoming().take(2).enumerate() {
                let mut c = c.unwrap();
                let mut s = String::new();
                c.read_to_string(&mut s).unwrap();
                got.push(s);
                if i == 1 {
                    c.write_all(b"No such server.\n").unwrap();
                }
            }
            got
        });
        let p = path.to_str().unwrap();
        let up = ServerHealth {
            backend: "pg-test-primary".into(),
            server: "pg-test-2".into(),
            up: true,
        };
        let down = ServerHealth {
            backend: "pg-test-primary".into(),
            server: "pg-test-9".into(),
            up: false,
        };
        let e = set(p, &[up, down]).unwrap_err().to_string();
        assert!(
            e.contains(
                "refused `set server pg-test-primary/pg-test-9 health down`: No such server."
            ),
            "{e}"
        );
        assert_eq!(
            seen.join().unwrap(),
            vec![
                "set server pg-test-primary/pg-test-2 health up\n",
                "set server pg-test-primary/pg-test-9 health down\n"
            ]
        );
    }
}
