//! pgBackRest: the stanza of a cluster and its first full backup, on the primary.
//! Both read `pgbackrest info --output=json` (status 0 ok, 1 missing stanza path,
//! 2 no valid backups, 3 missing stanza data, ...) and are skipped on replicas.
use super::postgres::Psql;
use super::{ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Pgbackrest {
    pub stanza: String,
    /// OS user that runs pgbackrest (`pg_dbsu`).
    pub user: String,
    pub psql: Psql,
}

impl Pgbackrest {
    fn cmd(&self, args: &[&str], timeout: Duration) -> Cmd {
        Cmd::new("pgbackrest")
            .arg(format!("--stanza={}", self.stanza))
            .args(args.iter().copied())
            .cwd("/")
            .timeout(timeout)
            .as_user(&self.user)
    }

    fn info_json(&self) -> ResResult<Value> {
        let out = self
            .cmd(&["--output=json", "info"], Duration::from_secs(60))
            .ok()?;
        serde_json::from_str(out.stdout.trim()).map_err(|e| {
            ResError::msg(format!(
                "pgbackrest info for stanza `{}`: not json ({e})",
                self.stanza
            ))
        })
    }

    /// (status code, number of backups) from `pgbackrest info`.
    pub fn info(&self) -> ResResult<(i64, usize)> {
        parse_info(&self.info_json()?, &self.stanza)
    }

    /// The system id the repository's stanza holds now, and this cluster's, when they
    /// differ (the stanza is another cluster's: a cluster rebuilt on fresh nodes before
    /// its restore, or a fork).
    pub fn foreign_system(&self) -> ResResult<Option<(String, String)>> {
        let repo = stanza_system_id(&self.info_json()?, &self.stanza);
        let here = self
            .psql
            .exec(
                "postgres",
                "select system_identifier from pg_control_system()",
            )?
            .trim()
            .to_string();
        Ok(match repo {
            Some(r) if !here.is_empty() && r != here => Some((r, here)),
            _ => None,
        })
    }
}

/// The system id of the newest database entry of `stanza` in `pgbackrest info`.
pub fn stanza_system_id(v: &Value, stanza: &str) -> Option<String> {
    let s = v.as_array()?.iter().find(|s| s["name"] == stanza)?;
    s["db"]
        .as_array()?
        .iter()
        .max_by_key(|d| d["id"].as_i64().unwrap_or(0))
        .and_then(|d| d["system-id"].as_u64())
        .map(|n| n.to_string())
}

pub fn parse_info(v: &Value, stanza: &str) -> ResResult<(i64, usize)> {
    let s = v
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == stanza))
        .ok_or_else(|| ResError::msg(format!("pgbackrest info: stanza `{stanza}` not listed")))?;
    let code = s["status"]["code"].as_i64().unwrap_or(-1);
    let n = s["backup"].as_array().map(Vec::len).unwrap_or(0);
    Ok((code, n))
}

const REPLICA: &str = "replica (pg_is_in_recovery): backups are taken on the primary";

/// `stanza-create`, then `check` (archiving works), when the stanza does not exist.
pub struct PgbackrestStanza(pub Pgbackrest);

impl Resource for PgbackrestStanza {
    fn kind(&self) -> &'static str {
        "pgbackrest"
    }
    fn name(&self) -> String {
        format!("stanza {}", self.0.stanza)
    }
    fn check(&self) -> ResResult<State> {
        if self.0.psql.in_recovery()? {
            return Ok(State::Skip(REPLICA.into()));
        }
        let (code, _) = self.0.info()?;
        if matches!(code, 0 | 2) {
            if let Some((repo, here)) = self.0.foreign_system()? {
                return Ok(State::Skip(format!(
                    "the repository's stanza `{s}` holds another system's backups (system id {repo}, this cluster {here}): WAL archiving fails until it is restored here\nhint: `pigsty pgsql pitr {s} --latest` restores the repository's data into this cluster",
                    s = self.0.stanza
                )));
            }
        }
        Ok(match code {
            0 | 2 => State::InSync,
            1 | 3 => State::drift("stanza-create"),
            other => State::drift(format!("stanza status {other}: stanza-create")),
        })
    }
    fn apply(&self) -> ResResult<()> {
        if let Err(e) = self
            .0
            .cmd(&["stanza-create"], Duration::from_secs(300))
            .ok()
        {
            // Patroni's on_start callback (/pg/bin/pg-role-change) may be creating it
            // at this very moment and hold pgBackRest's lock: fine if it is there now
            std::thread::sleep(Duration::from_secs(2));
            if !matches!(self.0.info().map(|(c, _)| c), Ok(0 | 2)) {
                return Err(e.into());
            }
        }
        self.0.cmd(&["check"], Duration::from_secs(300)).ok()?;
        Ok(())
    }
}

/// A first full backup when the repository has none.
pub struct PgbackrestInitBackup(pub Pgbackrest);

impl Resource for PgbackrestInitBackup {
    fn kind(&self) -> &'static str {
        "pgbackrest"
    }
    fn name(&self) -> String {
        format!("first full backup of {}", self.0.stanza)
    }
    fn check(&self) -> ResResult<State> {
        if self.0.psql.in_recovery()? {
            return Ok(State::Skip(REPLICA.into()));
        }
        let (code, n) = self.0.info()?;
        if matches!(code, 0 | 2) && self.0.foreign_system()?.is_some() {
            return Ok(State::Skip(format!(
                "the repository's stanza `{}` holds another system's backups: no backup of this cluster into it\nhint: `pigsty pgsql pitr {} --latest` restores them here",
                self.0.stanza, self.0.stanza
            )));
        }
        Ok(if code == 0 && n > 0 {
            State::InSync
        } else {
            State::drift("no backup yet: full backup")
        })
    }
    fn apply(&self) -> ResResult<()> {
        self.0
            .cmd(&["--type=full", "backup"], Duration::from_secs(6 * 3600))
            .ok()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_newest_database_of_the_stanza_gives_its_system_id() {
        let v = json!([{"name": "pg-test", "db": [
            {"id": 1, "system-id": 7300000000000000001u64, "version": "15"},
            {"id": 2, "system-id": 7300000000000000002u64, "version": "15"}
        ]}]);
        assert_eq!(
            stanza_system_id(&v, "pg-test").as_deref(),
            Some("7300000000000000002")
        );
        assert_eq!(stanza_system_id(&v, "pg-x"), None);
    }

    #[test]
    fn info_reads_status_and_backups_of_our_stanza() {
        let v = json!([
            {"name": "other", "status": {"code": 0}, "backup": [{}, {}]},
            {"name": "pg-meta", "status": {"code": 2, "message": "no valid backups"}, "backup": []}
        ]);
        assert_eq!(parse_info(&v, "pg-meta").unwrap(), (2, 0));
        assert!(parse_info(&v, "pg-x").is_err());
    }
}
