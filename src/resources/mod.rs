//! Resources: the idempotent primitives. Each answers `check` (in sync, or exactly
//! which fields differ) and `apply`; the engine re-checks after apply and treats a
//! resource still out of sync as a bug.
use std::fmt;

/// The `mode(m)` and `owner(user, group)` builders of a resource that places a file
/// system object (fields `mode`, `owner`, `group`).
macro_rules! mode_owner_builders {
    ($t:ty) => {
        impl $t {
            pub fn mode(mut self, m: u32) -> Self {
                self.mode = m;
                self
            }
            pub fn owner(mut self, user: &str, group: &str) -> Self {
                self.owner = user.into();
                self.group = group.into();
                self
            }
        }
    };
}

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
pub mod apt_source;
pub mod ca;
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
pub mod repo_download;
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
pub use ca::Ca;
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
pub use rule_file::RuleFile;
pub use service::Service;
pub use ssh_key::SshKey;
pub use stale::StaleFiles;
pub use symlink::Symlink;
pub use sysctl::Sysctl;
pub use upstream::UpstreamPackage;
pub use user::{Group, User};

/// One way a resource differs from what the plan wants. `plan` prints it (its
/// `Display` is the wording users see) and the engine decides from the variant, never
/// from the words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Delta {
    /// It does not exist yet and will be created (`absent`).
    Create,
    /// A file's content differs: a summary such as `+3 -1 lines`, none for secrets.
    Content { summary: Option<String> },
    /// A field with the value it has and the value wanted (`mode 0644 -> 0600`).
    Field {
        field: String,
        before: String,
        after: String,
    },
    /// A systemd unit to enable, disable, start or stop.
    Unit { action: UnitAction },
    /// Not known before earlier steps run (`plan` of a fresh host), and why.
    Unknown { why: String },
    /// A difference told in words by a resource whose fields are not typed.
    Note { text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitAction {
    Enable,
    Disable,
    Start,
    Stop,
}

impl Delta {
    pub fn field(
        field: impl Into<String>,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> Delta {
        Delta::Field {
            field: field.into(),
            before: before.into(),
            after: after.into(),
        }
    }
    pub fn note(text: impl Into<String>) -> Delta {
        Delta::Note { text: text.into() }
    }
}

impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delta::Create => f.write_str("absent"),
            Delta::Content { summary: Some(s) } => write!(f, "content: {s}"),
            Delta::Content { summary: None } => f.write_str("content changed"),
            Delta::Field {
                field,
                before,
                after,
            } => write!(f, "{field} {before} -> {after}"),
            Delta::Unit { action } => f.write_str(match action {
                UnitAction::Enable => "enable",
                UnitAction::Disable => "disable",
                UnitAction::Start => "start",
                UnitAction::Stop => "stop",
            }),
            Delta::Unknown { why } => write!(f, "unknown until earlier steps run ({why})"),
            Delta::Note { text } => f.write_str(text),
        }
    }
}

impl From<String> for Delta {
    fn from(text: String) -> Delta {
        Delta::Note { text }
    }
}

impl From<&str> for Delta {
    fn from(text: &str) -> Delta {
        Delta::Note { text: text.into() }
    }
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    InSync,
    /// What differs, typed.
    Drift(Vec<Delta>),
    /// Cannot be had here and may be absent: the reason (package, module, what to add).
    Skip(String),
}

impl State {
    pub fn in_sync(&self) -> bool {
        matches!(self, State::InSync)
    }
    /// One difference told in words.
    pub fn drift(d: impl Into<String>) -> State {
        State::Drift(vec![Delta::note(d.into())])
    }
    /// It does not exist yet.
    pub fn create() -> State {
        State::Drift(vec![Delta::Create])
    }
    pub fn from_diffs<D: Into<Delta>>(v: Vec<D>) -> State {
        if v.is_empty() {
            State::InSync
        } else {
            State::Drift(v.into_iter().map(Into::into).collect())
        }
    }
    /// The differences as users read them.
    pub fn words(&self) -> Vec<String> {
        match self {
            State::Drift(d) => d.iter().map(ToString::to_string).collect(),
            State::Skip(why) => vec![why.clone()],
            State::InSync => vec![],
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

/// How a path's mode and owner differ from the wanted ones (empty: in sync).
pub fn mode_owner_drift(path: &std::path::Path, mode: u32, owner: &str, group: &str) -> Vec<Delta> {
    crate::sys::fs::stat(path)
        .map(|have| mode_owner_deltas(&have, mode, owner, group))
        .unwrap_or_default()
}

/// How (mode, owner, group) differ from the wanted ones.
pub fn mode_owner_deltas(
    have: &(u32, String, String),
    mode: u32,
    owner: &str,
    group: &str,
) -> Vec<Delta> {
    let (m, u, g) = have;
    let mut d = vec![];
    if *m != mode {
        d.push(Delta::field(
            "mode",
            format!("{m:04o}"),
            format!("{mode:04o}"),
        ));
    }
    if u != owner || g != group {
        d.push(Delta::field(
            "owner",
            format!("{u}:{g}"),
            format!("{owner}:{group}"),
        ));
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
