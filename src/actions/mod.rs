//! Node-mode actions: the admin verbs' work on a node (take a backup, read the backup
//! catalog, read the WAL archiver), sent by the controller in the same node request as
//! `deploy` and answered on the same event stream, with a typed result in the final
//! `done` line. No ad-hoc shell travels over SSH: an action is data, and the node runs
//! the programs itself with argv (never `sh -c`).
//!
//! | action | file | used by |
//! | --- | --- | --- |
//! | `backup`, `backup_info`, `archive_state` | `backup.rs` | `pgsql backup`, `pgsql pitr`, `status` |
//! | `logs` | `logs.rs` | `logs` |
//! | `haproxy_health`, `haproxy_follow` | `haproxy.rs` | `pgsql switchover|failover` |
//! | `pgbouncer_hold`, `pgbouncer_resume` | `pgbouncer.rs` | `pgsql switchover` |
//! | `etcd_users` | `etcd.rs` | `deploy` (before the PGSQL phases, on an etcd member) |
use crate::engine::{Event, Status};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Instant;

pub mod backup;
pub mod etcd;
pub mod haproxy;
pub mod logs;
pub mod pgbouncer;

/// One action, with everything the node needs to run it (no inventory; the one secret,
/// `etcd_users`' root password, goes only to an etcd member, which holds it anyway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A pgBackRest backup of `stanza` as `dbsu` on this node (the primary): the
    /// stanza is created first when the repository lacks it; then the backup metrics
    /// are refreshed. `kind`: `full`, `diff` or `incr`.
    Backup {
        stanza: String,
        dbsu: String,
        kind: String,
    },
    /// `pgbackrest info --output=json` of `stanza`, read as `dbsu`.
    BackupInfo { stanza: String, dbsu: String },
    /// The backup catalog and `pg_stat_archiver` of the local Postgres.
    ArchiveState {
        stanza: String,
        dbsu: String,
        psql: String,
        socket: String,
        port: u16,
    },
    /// The journal of `units` since `since`, and the Postgres and Patroni log files
    /// (when their directories are given) modified since `since_us`.
    Logs {
        units: Vec<String>,
        since: String,
        since_us: Option<i64>,
        pg_log_dir: Option<String>,
        patroni_log_dir: Option<String>,
    },
    /// Force the health of servers on this node's HAProxy (its admin `socket`); none:
    /// check that the socket answers.
    HaproxyHealth {
        socket: String,
        servers: Vec<haproxy::ServerHealth>,
    },
    /// Wait (at most `timeout_ms`) until one of `candidates` (member name, Patroni's
    /// base URL) answers `/primary`, then route `backends` of this node's HAProxy to
    /// it and away from `old`.
    HaproxyFollow {
        socket: String,
        backends: Vec<String>,
        candidates: Vec<(String, String)>,
        old: Option<String>,
        timeout_ms: u64,
    },
    /// PAUSE the pgBouncer of `console`, say so with a [`PAUSED`] step, and RESUME it
    /// `grace_ms` after one of `candidates` (member name, Patroni's base URL) is
    /// writable, or at `limit_ms`.
    PgbouncerHold {
        #[serde(flatten)]
        console: pgbouncer::Console,
        /// The local Postgres, checkpointed first (None: no checkpoint).
        #[serde(default)]
        pg_port: Option<u16>,
        candidates: Vec<(String, String)>,
        grace_ms: u64,
        limit_ms: u64,
    },
    /// RESUME the pgBouncer of `console` now.
    PgbouncerResume {
        #[serde(flatten)]
        console: pgbouncer::Console,
    },
    /// On an etcd member: the etcd users of Patroni clusters, each readwrite on its
    /// prefix, made with `root_password`.
    EtcdUsers {
        /// Client URLs, comma-separated (`https://10.10.10.10:2379`).
        endpoints: String,
        root_password: etcd::Secret,
        users: Vec<etcd::UserSpec>,
        /// Only say what is missing (`plan`): nothing is made.
        #[serde(default)]
        check: bool,
    },
}

impl Action {
    /// Its name in events (`action backup`).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Backup { .. } => "backup",
            Action::BackupInfo { .. } => "backup_info",
            Action::ArchiveState { .. } => "archive_state",
            Action::Logs { .. } => "logs",
            Action::HaproxyHealth { .. } => "haproxy_health",
            Action::HaproxyFollow { .. } => "haproxy_follow",
            Action::EtcdUsers { .. } => "etcd_users",
            Action::PgbouncerHold { .. } => "pgbouncer_hold",
            Action::PgbouncerResume { .. } => "pgbouncer_resume",
        }
    }
    /// What it works on, for events and errors.
    fn subject(&self) -> String {
        match self {
            Action::Backup { stanza, kind, .. } => format!("{kind} backup of `{stanza}`"),
            Action::BackupInfo { stanza, .. } => format!("backup catalog of `{stanza}`"),
            Action::ArchiveState { stanza, .. } => format!("backups and archiving of `{stanza}`"),
            Action::Logs { since, .. } => format!("logs since {since}"),
            Action::HaproxyHealth { servers, .. } => {
                format!("haproxy health of {} servers", servers.len())
            }
            Action::HaproxyFollow { backends, .. } => {
                format!("haproxy {} following the new primary", backends.join(", "))
            }
            Action::PgbouncerHold { console, .. } => {
                format!(
                    "pgbouncer on port {} held over the leader change",
                    console.port
                )
            }
            Action::PgbouncerResume { console } => {
                format!("pgbouncer on port {} resumed", console.port)
            }
            Action::EtcdUsers { users, .. } => format!(
                "etcd users {}",
                users
                    .iter()
                    .map(|u| u.user.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The kind of the step `pgbouncer_hold` sends the moment its pgBouncer is paused.
pub const PAUSED: &str = "paused";

/// Run `action` on this node: a step event when it ends (changed for actions that
/// change something, ok for reads, failed with the error), and its result.
pub fn run(host: &str, action: &Action, sink: &mut dyn FnMut(&Event)) -> anyhow::Result<Value> {
    let t = Instant::now();
    let module = format!("action {}", action.name());
    sink(&Event::ModuleStart {
        host: host.into(),
        module: module.clone(),
        steps: 1,
    });
    let res = match action {
        Action::Backup { stanza, dbsu, kind } => backup::take(stanza, dbsu, kind),
        Action::BackupInfo { stanza, dbsu } => backup::info(stanza, dbsu),
        Action::ArchiveState {
            stanza,
            dbsu,
            psql,
            socket,
            port,
        } => backup::archive_state(stanza, dbsu, psql, socket, *port),
        Action::Logs {
            units,
            since,
            since_us,
            pg_log_dir,
            patroni_log_dir,
        } => logs::read(
            units,
            since,
            *since_us,
            pg_log_dir.as_deref(),
            patroni_log_dir.as_deref(),
        )
        .and_then(|l| Ok(serde_json::to_value(l)?)),
        Action::HaproxyHealth { socket, servers } => haproxy::set(socket, servers),
        Action::HaproxyFollow {
            socket,
            backends,
            candidates,
            old,
            timeout_ms,
        } => haproxy::follow(
            socket,
            backends,
            candidates,
            old.as_deref(),
            std::time::Duration::from_millis(*timeout_ms),
        ),
        Action::EtcdUsers {
            endpoints,
            root_password,
            users,
            check,
        } => etcd::ensure_all(endpoints, &root_password.0, users, *check),
        Action::PgbouncerHold {
            console,
            pg_port,
            candidates,
            grace_ms,
            limit_ms,
        } => {
            let ms = |t: &Instant| t.elapsed().as_millis() as u64;
            pgbouncer::hold(
                console,
                *pg_port,
                candidates,
                std::time::Duration::from_millis(*grace_ms),
                std::time::Duration::from_millis(*limit_ms),
                &mut || {
                    sink(&Event::Step {
                        host: host.into(),
                        module: module.clone(),
                        kind: PAUSED.into(),
                        name: action.subject(),
                        status: Status::Changed,
                        diffs: vec!["PAUSE".into()],
                        changes: vec![],
                        error: None,
                        ms: ms(&t),
                    })
                },
            )
        }
        Action::PgbouncerResume { console } => console.resume().map(|r| json!({"changed": r})),
    };
    let changes = matches!(action, Action::Backup { .. })
        || matches!(action, Action::HaproxyHealth { servers, .. } if !servers.is_empty())
        || res.as_ref().is_ok_and(|v| v["changed"] == true);
    let check = matches!(action, Action::EtcdUsers { check: true, .. });
    // what an action made (or a check found missing), when its result says
    let diffs: Vec<String> = res
        .as_ref()
        .ok()
        .and_then(|v| v["diffs"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(String::from))
        .collect();
    let (status, error) = match &res {
        Ok(_) if changes && check => (Status::WouldChange, None),
        Ok(_) if changes => (Status::Changed, None),
        Ok(_) => (Status::Ok, None),
        Err(e) => (Status::Failed, Some(format!("{e:#}"))),
    };
    let ms = t.elapsed().as_millis() as u64;
    sink(&Event::Step {
        host: host.into(),
        module: module.clone(),
        kind: "action".into(),
        name: action.subject(),
        status,
        diffs,
        changes: vec![],
        error,
        ms,
    });
    let failed = usize::from(res.is_err());
    let changed = usize::from(res.is_ok() && changes);
    sink(&Event::ModuleEnd {
        host: host.into(),
        module,
        ok: 1 - failed - changed,
        changed,
        failed,
        skipped: 0,
        ms,
    });
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_travel_as_tagged_json() {
        let a = Action::Backup {
            stanza: "pg-test".into(),
            dbsu: "postgres".into(),
            kind: "incr".into(),
        };
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.contains(r#""action":"backup""#), "{j}");
        assert_eq!(serde_json::from_str::<Action>(&j).unwrap(), a);
    }

    #[test]
    fn the_pgbouncer_hold_travels_with_its_candidates_and_limits() {
        let a = Action::PgbouncerHold {
            console: pgbouncer::Console {
                psql: "/usr/lib/postgresql/16/bin/psql".into(),
                dbsu: "postgres".into(),
                socket: "/var/run/postgresql".into(),
                port: 6432,
            },
            pg_port: Some(5432),
            candidates: vec![("pg-test-2".into(), "https://10.10.10.12:8008".into())],
            grace_ms: 300,
            limit_ms: 20_000,
        };
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.contains(r#""action":"pgbouncer_hold""#), "{j}");
        assert_eq!(serde_json::from_str::<Action>(&j).unwrap(), a);
        assert_eq!(
            a.subject(),
            "pgbouncer on port 6432 held over the leader change"
        );
    }

    #[test]
    fn a_failed_action_is_a_failed_step_naming_it() {
        let a = Action::BackupInfo {
            stanza: "pg-x".into(),
            dbsu: "pigsty-no-such-user".into(),
        };
        let mut events = vec![];
        let r = run("h", &a, &mut |e| events.push(e.clone()));
        assert!(r.is_err());
        let failed = events.iter().any(|e| matches!(e, Event::Step { status: Status::Failed, name, .. } if name.contains("`pg-x`")));
        assert!(failed, "{events:?}");
    }
}
