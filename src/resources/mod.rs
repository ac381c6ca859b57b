//! Resources: the idempotent primitives. Each answers `check` (in sync, or exactly
//! which fields differ) and `apply`; the engine re-checks after apply and treats a
//! resource still out of sync as a bug.
use std::fmt;

pub mod block;
pub mod dir;
pub mod exec;
pub mod file;
pub mod package;
pub mod service;
pub mod symlink;
pub mod user;
// INFRA: directory file sets, removals, conditional steps, HTTP readiness, vendor packages.
pub mod absent;
pub mod apt_repo;
pub mod dirfiles;
pub mod filecaps;
pub mod fresh;
pub mod http;
pub mod only_if;
pub mod upstream;
// NODE/ETCD: live kernel parameters, hostname, a user's ssh key, etcd auth, notes.
pub mod etcd_auth;
// MINIO: Garage's admin API, programs from the local repository.
pub mod garage;
pub mod hostname;
pub mod note;
pub mod repo_binary;
pub mod ssh_key;
pub mod sysctl;
// PGSQL: catalog objects through psql, Patroni's REST API, pgBackRest, TCP listeners, SCRAM.
pub mod listen;
pub mod patroni;
pub mod pgbackrest;
pub mod postgres;
pub mod scram;
// Database as code: rule files told rule by rule, files a module no longer wants.
pub mod rule_file;
pub mod stale;
// REDIS: a RESP client, instance config, live settings, sentinel monitors, native cluster.
pub mod redis;

pub use absent::Absent;
pub use apt_repo::LocalRepo;
pub use block::BlockInFile;
pub use dir::Dir;
pub use dirfiles::DirFiles;
pub use etcd_auth::EtcdAuth;
pub use exec::{Exec, Wait};
pub use file::File;
pub use filecaps::{Debconf, FileCaps};
pub use fresh::Fresh;
pub use hostname::Hostname;
pub use http::HttpCheck;
pub use note::Note;
pub use only_if::OnlyIf;
pub use package::{OptionalPackage, Package};
pub use service::Service;
pub use ssh_key::SshKey;
pub use symlink::Symlink;
pub use sysctl::Sysctl;
pub use upstream::UpstreamPackage;
pub use user::{Group, User};
pub use rule_file::RuleFile;
pub use stale::StaleFiles;

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    InSync,
    /// What differs, in words: `mode 0644 -> 0600`, `content: 3 lines changed`.
    Drift(Vec<String>),
    /// Cannot be had here and may be absent: the reason (package, module, what to add).
    Skip(String),
}

impl State {
    pub fn in_sync(&self) -> bool {
        matches!(self, State::InSync)
    }
    pub fn drift(d: impl Into<String>) -> State {
        State::Drift(vec![d.into()])
    }
    pub fn from_diffs(v: Vec<String>) -> State {
        if v.is_empty() {
            State::InSync
        } else {
            State::Drift(v)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResError {
    #[error(transparent)]
    Cmd(#[from] crate::sys::CmdError),
    #[error(transparent)]
    Fs(#[from] crate::sys::fs::FsError),
    #[error("{0}")]
    Msg(String),
}

impl ResError {
    pub fn msg(s: impl Into<String>) -> Self {
        ResError::Msg(s.into())
    }
}

pub type ResResult<T> = Result<T, ResError>;

/// Words for how a path's mode and owner differ from the wanted ones (empty: in sync).
pub fn mode_owner_drift(
    path: &std::path::Path,
    mode: u32,
    owner: &str,
    group: &str,
) -> Vec<String> {
    let mut d = vec![];
    if let Some((m, u, g)) = crate::sys::fs::stat(path) {
        if m != mode {
            d.push(format!("mode {m:04o} -> {mode:04o}"));
        }
        if u != owner || g != group {
            d.push(format!("owner {u}:{g} -> {owner}:{group}"));
        }
    }
    d
}

/// Run `probe` every `interval` until it succeeds or `timeout` has passed; on timeout,
/// the probe's last error. Shared by the resources that wait for a service to answer.
pub fn poll(
    timeout: std::time::Duration,
    interval: std::time::Duration,
    mut probe: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let t0 = std::time::Instant::now();
    loop {
        match probe() {
            Ok(()) => return Ok(()),
            Err(e) if t0.elapsed() > timeout => return Err(e),
            Err(_) => std::thread::sleep(interval),
        }
    }
}

/// An idempotent primitive on one host.
pub trait Resource: Send + Sync {
    /// Kind, e.g. `file`, `package`, `service`.
    fn kind(&self) -> &'static str;
    /// What it manages, e.g. `/etc/patroni/patroni.yml`.
    fn name(&self) -> String;
    /// In sync, or exactly which fields differ. Must not change anything.
    fn check(&self) -> ResResult<State>;
    /// Make it so.
    fn apply(&self) -> ResResult<()>;
    /// When false, the engine does not re-check after apply (actions like "take a
    /// backup" whose check is a precondition rather than a state).
    fn recheck(&self) -> bool {
        true
    }
    /// Packages this resource installs (`pigsty repo build` mirrors them).
    fn packages(&self) -> Vec<String> {
        vec![]
    }
}

impl fmt::Debug for dyn Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}
