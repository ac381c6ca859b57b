//! etcd authentication (RBAC): the `root` user with the inventory's password, and
//! auth enabled. Secrets go through the environment (`ETCDCTL_USER`) and stdin
//! (`--interactive=false`), never through argv.
//!
//! In a cluster one member (the first in `etcd_seq` order) creates the user and
//! turns auth on; the others only verify (`manage: false`), so members converging at
//! the same moment do not race.
use super::{ResError, ResResult, Resource, State};
use crate::sys::{cmd::tail, Cmd, Output};
use std::time::Duration;

pub struct EtcdAuth {
    /// Client URL(s), comma-separated: `https://10.10.10.10:2379`.
    pub endpoints: String,
    pub root_password: String,
    /// Create the user and enable auth (the first member), or only verify.
    pub manage: bool,
    /// Who manages it, for the message on the other members.
    pub manager: String,
}

/// What the cluster says about auth.
#[derive(Debug, PartialEq, Eq)]
enum AuthState {
    /// Auth is off; `root` exists or not.
    Disabled { root: bool },
    /// Auth is on and the inventory's root password works.
    Enabled,
}

/// The INFRA CA on every node (`modules::pki::CA_CRT`, written by NODE).
pub const CA_CRT: &str = "/etc/pki/ca.crt";

/// etcdctl v3 with the endpoints, short timeouts and (optionally) root credentials
/// in the environment.
pub fn etcdctl(endpoints: &str, root_password: Option<&str>) -> Cmd {
    let mut c = Cmd::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .env("ETCDCTL_ENDPOINTS", endpoints)
        // the members serve TLS from the INFRA CA, installed on every node by NODE
        .env("ETCDCTL_CACERT", CA_CRT)
        .env("ETCDCTL_DIAL_TIMEOUT", "3s")
        .env("ETCDCTL_COMMAND_TIMEOUT", "10s")
        .timeout(Duration::from_secs(20));
    if let Some(pw) = root_password {
        c = c.env("ETCDCTL_USER", format!("root:{pw}"));
    }
    c
}

fn says(o: &Output, words: &[&str]) -> bool {
    let t = format!("{}{}", o.stderr, o.stdout).to_lowercase();
    words.iter().any(|w| t.contains(w))
}

impl EtcdAuth {
    fn ctl(&self, creds: bool) -> Cmd {
        etcdctl(
            &self.endpoints,
            creds.then_some(self.root_password.as_str()),
        )
    }
    fn state(&self) -> ResResult<AuthState> {
        let open = self.ctl(false).args(["user", "list"]).run()?;
        if open.success() {
            let root = open.stdout.lines().any(|l| l.trim() == "root");
            return Ok(AuthState::Disabled { root });
        }
        if !says(
            &open,
            &[
                "user name is empty",
                "permission denied",
                "invalid auth token",
                "authentication",
            ],
        ) {
            return Err(ResError::msg(format!(
                "etcd at `{}` did not answer: {}",
                self.endpoints,
                tail(&open.stderr, &open.stdout)
            )));
        }
        let auth = self.ctl(true).args(["user", "get", "root"]).run()?;
        if auth.success() {
            return Ok(AuthState::Enabled);
        }
        if says(
            &auth,
            &["authentication failed", "invalid user id or password"],
        ) {
            return Err(ResError::msg(format!(
                "etcd at `{}` has auth enabled and `etcd_root_password` is not root's password\nhint: set the password the cluster was built with, or change it with `etcdctl user passwd root` first",
                self.endpoints
            )));
        }
        Err(ResError::msg(format!(
            "etcd at `{}`: `user get root` failed: {}",
            self.endpoints,
            tail(&auth.stderr, &auth.stdout)
        )))
    }
}

impl Resource for EtcdAuth {
    fn kind(&self) -> &'static str {
        "etcd auth"
    }
    fn name(&self) -> String {
        if self.manage {
            "root user, auth enabled".into()
        } else {
            format!("root user, auth enabled (set up by {})", self.manager)
        }
    }
    fn check(&self) -> ResResult<State> {
        match self.state()? {
            AuthState::Enabled => Ok(State::InSync),
            AuthState::Disabled { .. } if !self.manage => Ok(State::Skip(format!(
                "auth is still off; member `{}` creates the root user and turns it on",
                self.manager
            ))),
            AuthState::Disabled { root } => {
                let mut d = vec![];
                if !root {
                    d.push("add user root");
                }
                d.push("enable auth");
                Ok(State::from_diffs(d))
            }
        }
    }
    fn apply(&self) -> ResResult<()> {
        let AuthState::Disabled { root } = self.state()? else {
            return Ok(());
        };
        let pw = format!("{}\n", self.root_password);
        if self.root_password.chars().any(char::is_whitespace) {
            return Err(ResError::msg("`etcd_root_password` contains whitespace, which etcdctl cannot read from stdin\nhint: choose a password without spaces"));
        }
        if !root {
            let o = self
                .ctl(false)
                .args(["user", "add", "root", "--interactive=false"])
                .stdin(pw.clone())
                .run()?;
            if !o.success() && !says(&o, &["already exists"]) {
                return Err(ResError::msg(format!(
                    "etcdctl user add root: {}",
                    tail(&o.stderr, &o.stdout)
                )));
            }
        }
        // Set the password even when root already existed (left by an earlier run).
        self.ctl(false)
            .args(["user", "passwd", "root", "--interactive=false"])
            .stdin(pw)
            .ok()?;
        self.ctl(false).args(["auth", "enable"]).ok()?;
        Ok(())
    }
}

/// The etcd user and role of one Patroni cluster: `readwrite` on its key prefix
/// (`/pg/pg-meta/`) and nothing else, so one cluster's Patroni cannot read or change
/// another's keys. Made with root's credentials, which stay in etcdctl's environment
/// (never in a file, never in argv); the user's password goes through stdin.
pub struct EtcdClusterUser {
    pub endpoints: String,
    pub root_password: String,
    /// User and role name (`patroni-<cluster>`).
    pub user: String,
    pub password: String,
    /// The cluster's keys: `<namespace>/<cluster>/`.
    pub prefix: String,
}

impl EtcdClusterUser {
    fn root(&self) -> Cmd {
        etcdctl(&self.endpoints, Some(&self.root_password))
    }
    /// What is missing: the role's permission, the user, its role, its password.
    fn missing(&self) -> ResResult<Vec<String>> {
        let mut d = vec![];
        // the two questions are independent (each costs a TLS handshake and root's
        // password check): asked at once
        let (role, user) = std::thread::scope(|s| {
            let u = s.spawn(|| self.root().args(["user", "get", &self.user]).run());
            let r = self.root().args(["role", "get", &self.user]).run();
            (r, u.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        });
        let (role, user) = (role?, user?);
        let granted = role.success()
            && role.stdout.contains(&format!("[{}, ", self.prefix))
            && role.stdout.contains("KV Read:")
            && role.stdout.contains("KV Write:");
        if !role.success() && !says(&role, &["role name not found", "not found"]) {
            return Err(ResError::msg(format!(
                "etcd at `{}`: `role get {}` failed: {}",
                self.endpoints,
                self.user,
                tail(&role.stderr, &role.stdout)
            )));
        }
        if !granted {
            d.push(format!("role {}: readwrite on {}", self.user, self.prefix));
        }
        if !user.success() {
            d.push(format!("add user {}", self.user));
        } else if !user
            .stdout
            .lines()
            .any(|l| l.contains("Roles:") && l.split_whitespace().any(|w| w == self.user))
        {
            d.push(format!("user {}: grant role {}", self.user, self.user));
        }
        if d.is_empty() {
            // the password works: a read inside its prefix as that user
            let me = etcdctl(&self.endpoints, None)
                .env("ETCDCTL_USER", format!("{}:{}", self.user, self.password))
                .args(["get", "--prefix", "--keys-only", "--limit=1", &self.prefix])
                .run()?;
            if !me.success() {
                d.push(format!("user {}: set its password", self.user));
            }
        }
        Ok(d)
    }
}

impl Resource for EtcdClusterUser {
    fn kind(&self) -> &'static str {
        "etcd user"
    }
    fn name(&self) -> String {
        format!("{} (readwrite {})", self.user, self.prefix)
    }
    fn check(&self) -> ResResult<State> {
        Ok(State::from_diffs(self.missing()?))
    }
    fn apply(&self) -> ResResult<()> {
        if self.password.chars().any(char::is_whitespace) {
            return Err(ResError::msg(
                "the etcd user's password contains whitespace",
            ));
        }
        let ok_or_exists = |o: Output, what: &str| -> ResResult<()> {
            if o.success() || says(&o, &["already exists"]) {
                Ok(())
            } else {
                Err(ResError::msg(format!(
                    "etcdctl {what}: {}",
                    tail(&o.stderr, &o.stdout)
                )))
            }
        };
        ok_or_exists(
            self.root().args(["role", "add", &self.user]).run()?,
            "role add",
        )?;
        self.root()
            .args([
                "role",
                "grant-permission",
                "--prefix=true",
                &self.user,
                "readwrite",
                &self.prefix,
            ])
            .ok()?;
        let pw = format!("{}\n", self.password);
        ok_or_exists(
            self.root()
                .args(["user", "add", &self.user, "--interactive=false"])
                .stdin(pw.clone())
                .run()?,
            "user add",
        )?;
        self.root()
            .args(["user", "passwd", &self.user, "--interactive=false"])
            .stdin(pw)
            .ok()?;
        self.root()
            .args(["user", "grant-role", &self.user, &self.user])
            .ok()?;
        Ok(())
    }
}

/// Joining or leaving: what [`EtcdMember`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// `member add`, unless this member has data already or the cluster lists it.
    Add,
    /// `member remove`, when the cluster lists it.
    Remove,
}

/// This member announced to (or taken out of) the cluster by the other members
/// (`endpoints`), as root. With its strict reconfiguration check, etcd refuses a change
/// ("unhealthy cluster", "not enough started members") until every member that stays
/// has been connected to the leader for 5 s: right after a member joined or restarted
/// that is not yet so, and only that answer is retried, for 60 s.
pub struct EtcdMember {
    pub endpoints: String,
    pub root_password: String,
    pub name: String,
    pub peer_url: String,
    pub data_dir: String,
    pub action: Membership,
}

impl EtcdMember {
    fn ctl(&self) -> Cmd {
        etcdctl(&self.endpoints, Some(&self.root_password))
    }
    /// The member's id (hex, as `member remove` takes it) when the cluster lists its peer URL.
    fn listed(&self) -> ResResult<Option<String>> {
        let o = self.ctl().args(["member", "list", "-w", "json"]).run()?;
        if !o.success() {
            return Err(ResError::msg(format!(
                "etcd at `{}`: member list: {}",
                self.endpoints,
                tail(&o.stderr, &o.stdout)
            )));
        }
        let v: serde_json::Value = serde_json::from_str(&o.stdout)
            .map_err(|e| ResError::msg(format!("member list: {e}")))?;
        Ok(v["members"].as_array().into_iter().flatten().find_map(|m| {
            let urls = m["peerURLs"].as_array()?;
            urls.iter()
                .any(|u| u.as_str() == Some(self.peer_url.as_str()))
                .then(|| format!("{:x}", m["ID"].as_u64().unwrap_or(0)))
        }))
    }
    fn while_unhealthy(&self, args: &[&str]) -> ResResult<()> {
        let t0 = std::time::Instant::now();
        loop {
            let o = self
                .ctl()
                .args(args.iter().copied())
                .timeout(Duration::from_secs(30))
                .run()?;
            if o.success() {
                return Ok(());
            }
            let busy = says(&o, &["unhealthy cluster", "not enough started members"]);
            if !busy || t0.elapsed() > Duration::from_secs(60) {
                return Err(ResError::msg(format!(
                    "etcdctl {}: {}",
                    args[..2].join(" "),
                    tail(&o.stderr, &o.stdout)
                )));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

impl Resource for EtcdMember {
    fn kind(&self) -> &'static str {
        "etcd member"
    }
    fn name(&self) -> String {
        match self.action {
            Membership::Add => format!("{} announced to the cluster", self.name),
            Membership::Remove => format!("{} removed from the cluster", self.name),
        }
    }
    fn check(&self) -> ResResult<State> {
        match self.action {
            Membership::Add if std::path::Path::new(&self.data_dir).join("member").is_dir() => {
                Ok(State::InSync)
            }
            Membership::Add => Ok(if self.listed()?.is_some() {
                State::InSync
            } else {
                State::drift(format!("member add {}", self.name))
            }),
            Membership::Remove => Ok(if self.listed()?.is_some() {
                State::drift(format!("member remove {}", self.name))
            } else {
                State::InSync
            }),
        }
    }
    fn apply(&self) -> ResResult<()> {
        match self.action {
            Membership::Add => {
                let peer = format!("--peer-urls={}", self.peer_url);
                self.while_unhealthy(&["member", "add", &self.name, &peer])
            }
            Membership::Remove => match self.listed()? {
                Some(id) => self.while_unhealthy(&["member", "remove", &id]),
                None => Ok(()),
            },
        }
    }
    /// Until a joining member starts, the cluster has no quorum to answer a re-check.
    fn recheck(&self) -> bool {
        self.action == Membership::Remove
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_password_goes_to_the_environment_not_argv() {
        let c = etcdctl("http://127.0.0.1:2379", Some("s3cret")).args(["user", "get", "root"]);
        assert!(!c.display().contains("s3cret"), "{}", c.display());
    }

    #[test]
    fn the_ca_is_where_node_puts_it() {
        assert_eq!(CA_CRT, crate::modules::pki::CA_CRT);
    }

    #[test]
    fn unreachable_etcd_is_an_error_naming_the_endpoint() {
        if !Cmd::new("etcdctl").arg("version").succeeds() {
            return; // etcdctl is not on the build host; the lab covers it
        }
        let a = EtcdAuth {
            endpoints: "http://127.0.0.1:1".into(),
            root_password: "x".into(),
            manage: true,
            manager: "a".into(),
        };
        let e = a.check().unwrap_err().to_string();
        assert!(e.contains("http://127.0.0.1:1"), "{e}");
    }
}
