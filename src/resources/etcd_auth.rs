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
    /// Client URL(s), comma-separated: `http://10.10.10.10:2379`.
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

/// etcdctl v3 with the endpoints, short timeouts and (optionally) root credentials
/// in the environment.
pub fn etcdctl(endpoints: &str, root_password: Option<&str>) -> Cmd {
    let mut c = Cmd::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .env("ETCDCTL_ENDPOINTS", endpoints)
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
        etcdctl(&self.endpoints, creds.then_some(self.root_password.as_str()))
    }
    fn state(&self) -> ResResult<AuthState> {
        let open = self.ctl(false).args(["user", "list"]).run()?;
        if open.success() {
            let root = open.stdout.lines().any(|l| l.trim() == "root");
            return Ok(AuthState::Disabled { root });
        }
        if !says(&open, &["user name is empty", "permission denied", "invalid auth token", "authentication"]) {
            return Err(ResError::msg(format!("etcd at `{}` did not answer: {}", self.endpoints, tail(&open.stderr, &open.stdout))));
        }
        let auth = self.ctl(true).args(["user", "get", "root"]).run()?;
        if auth.success() {
            return Ok(AuthState::Enabled);
        }
        if says(&auth, &["authentication failed", "invalid user id or password"]) {
            return Err(ResError::msg(format!(
                "etcd at `{}` has auth enabled and `etcd_root_password` is not root's password\nhint: set the password the cluster was built with, or change it with `etcdctl user passwd root` first",
                self.endpoints
            )));
        }
        Err(ResError::msg(format!("etcd at `{}`: `user get root` failed: {}", self.endpoints, tail(&auth.stderr, &auth.stdout))))
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
            AuthState::Disabled { .. } if !self.manage => {
                Ok(State::Skip(format!("auth is still off; member `{}` creates the root user and turns it on", self.manager)))
            }
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
            let o = self.ctl(false).args(["user", "add", "root", "--interactive=false"]).stdin(pw.clone()).run()?;
            if !o.success() && !says(&o, &["already exists"]) {
                return Err(ResError::msg(format!("etcdctl user add root: {}", tail(&o.stderr, &o.stdout))));
            }
        }
        // Set the password even when root already existed (left by an earlier run).
        self.ctl(false).args(["user", "passwd", "root", "--interactive=false"]).stdin(pw).ok()?;
        self.ctl(false).args(["auth", "enable"]).ok()?;
        Ok(())
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
    fn unreachable_etcd_is_an_error_naming_the_endpoint() {
        if !Cmd::new("etcdctl").arg("version").succeeds() {
            return; // etcdctl is not on the build host; the lab covers it
        }
        let a = EtcdAuth { endpoints: "http://127.0.0.1:1".into(), root_password: "x".into(), manage: true, manager: "a".into() };
        let e = a.check().unwrap_err().to_string();
        assert!(e.contains("http://127.0.0.1:1"), "{e}");
    }
}
