//! One SSH connection per host through the system OpenSSH client: ControlMaster
//! multiplexing, BatchMode (never prompts), connect timeouts, and host keys verified
//! against known_hosts (accepting unknown keys is an explicit choice).
use crate::sys::{Cmd, Output};
use std::time::Duration;

/// Where the remote binary lives.
pub const REMOTE_BIN: &str = "/usr/local/bin/pigsty";

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("host `{host}` is unreachable: {detail}\nhint: check the address (or ansible_host), that sshd runs there and that its port (ansible_port, else ~/.ssh/config, else 22) is open")]
    Unreachable { host: String, detail: String },
    #[error("host `{host}`: ssh authentication failed: {detail}\nhint: put your public key in the login user's ~/.ssh/authorized_keys there (root, or ansible_user), load it in ssh-agent, or name it with ansible_ssh_private_key_file")]
    Auth { host: String, detail: String },
    #[error("host `{host}`: its ssh host key is not known: {detail}\nhint: verify it and add it to ~/.ssh/known_hosts, or pass --accept-new-host-keys on first contact")]
    UnknownHostKey { host: String, detail: String },
    #[error("host `{host}`: its ssh host key CHANGED since it was recorded; refusing to connect: {detail}\nhint: if the machine was reinstalled, remove the old key with `ssh-keygen -R {host}`")]
    HostKeyChanged { host: String, detail: String },
    #[error("host `{host}`: `{user}` has no password-less sudo to root: {detail}\nhint: pigsty runs `sudo -n` (ansible_become); allow it with `{user} ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/")]
    NoSudo {
        host: String,
        user: String,
        detail: String,
    },
    #[error("host `{host}`: `{cmd}` exited with code {code}: {tail}")]
    Failed {
        host: String,
        cmd: String,
        code: i32,
        tail: String,
    },
    #[error("host `{host}`: {source}")]
    Local {
        host: String,
        #[source]
        source: crate::sys::CmdError,
    },
}

/// Where ssh keeps its shared connections (`ControlPath`): a directory only this
/// user can enter, never in `/tmp` where another user could create it first
/// (`sys::fs::runtime_dir`).
pub fn control_dir_path() -> std::path::PathBuf {
    crate::sys::fs::runtime_dir("ssh")
}

/// The control directory once checked private (`sys::fs::ensure_private_dir`); when it
/// is not, connections are not shared (slower, never through a socket someone else
/// placed) and that is said once.
fn control_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = control_dir_path();
        match crate::sys::fs::ensure_private_dir(&d) {
            Ok(()) => Some(d),
            Err(e) => {
                eprintln!("warning: ssh connection sharing is off: {e}\nhint: remove it (pigsty creates it 0700 for its owner) to share connections again");
                None
            }
        }
    })
    .as_deref()
}

/// How to reach a host, from its Ansible connection variables: `ansible_host` (the
/// address to connect to; the inventory key stays the host's identity), `ansible_port`,
/// `ansible_user`, `ansible_ssh_private_key_file` and `ansible_become` (`sudo -n` to
/// root). Unset ones are left to `~/.ssh/config` (so `ProxyJump`, `Port`, `User` there
/// apply), then to ssh's defaults: root, port 22.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conn {
    pub address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub key: Option<String>,
    pub sudo: bool,
}

impl Conn {
    pub fn of(h: &crate::inventory::Host) -> Conn {
        let s = |k: &str| h.str(k).filter(|v| !v.is_empty()).map(str::to_string);
        let user = s("ansible_user");
        Conn {
            address: s("ansible_host").filter(|a| *a != h.addr),
            port: h
                .int("ansible_port")
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0),
            sudo: h.bool("ansible_become").unwrap_or(false)
                && user.as_deref().is_some_and(|u| u != "root"),
            user,
            key: s("ansible_ssh_private_key_file"),
        }
    }
}

static CONNS: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeMap<String, Conn>>> =
    std::sync::OnceLock::new();

/// Remember how to reach each host of the inventory (`Ssh::new` looks it up).
pub fn register(inv: &crate::inventory::Inventory) {
    let m = CONNS.get_or_init(Default::default);
    if let Ok(mut m) = m.lock() {
        for h in &inv.hosts {
            m.insert(h.addr.clone(), Conn::of(h));
        }
    }
}

fn conn_of(host: &str) -> Conn {
    CONNS
        .get()
        .and_then(|m| m.lock().ok().and_then(|m| m.get(host).cloned()))
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct Ssh {
    /// The inventory's name of the host (messages).
    pub host: String,
    pub conn: Conn,
    pub accept_new: bool,
    pub connect_timeout: u64,
}

impl Ssh {
    pub fn new(host: &str) -> Self {
        Ssh {
            host: host.into(),
            conn: conn_of(host),
            accept_new: false,
            connect_timeout: 10,
        }
    }

    /// A remote command line as root: through `sudo -n` when logging in as another user.
    fn as_root(&self, remote: &str) -> String {
        if self.conn.sudo {
            format!("sudo -n -- sh -c {}", crate::sys::cmd::sh_quote(remote))
        } else {
            remote.to_string()
        }
    }

    fn base(&self) -> Cmd {
        let mux: Vec<String> = match control_dir() {
            Some(d) => vec![
                "-o".into(),
                "ControlMaster=auto".into(),
                "-o".into(),
                // one shared connection per identity: a changed key is really tried
                match &self.conn.key {
                    Some(k) => format!(
                        "ControlPath={}/%C.{:08x}",
                        d.display(),
                        crate::sys::fnv1a(k)
                    ),
                    None => format!("ControlPath={}/%C", d.display()),
                },
                "-o".into(),
                "ControlPersist=120s".into(),
            ],
            None => vec![
                "-o".into(),
                "ControlMaster=no".into(),
                "-o".into(),
                "ControlPath=none".into(),
            ],
        };
        Cmd::new("ssh")
            .args([
                "-o".to_string(),
                "BatchMode=yes".into(),
                "-o".into(),
                format!("ConnectTimeout={}", self.connect_timeout),
                "-o".into(),
                format!(
                    "StrictHostKeyChecking={}",
                    if self.accept_new { "accept-new" } else { "yes" }
                ),
            ])
            .args(mux)
            .args([
                "-o".to_string(),
                "ServerAliveInterval=10".into(),
                "-o".into(),
                "ServerAliveCountMax=6".into(),
                "-o".into(),
                "LogLevel=ERROR".into(),
            ])
            .args(
                self.conn
                    .user
                    .iter()
                    .flat_map(|u| ["-l".to_string(), u.clone()]),
            )
            .args(
                self.conn
                    .port
                    .iter()
                    .flat_map(|p| ["-p".to_string(), p.to_string()]),
            )
            .args(self.conn.key.iter().flat_map(|k| {
                [
                    "-i".to_string(),
                    k.clone(),
                    "-o".into(),
                    "IdentitiesOnly=yes".into(),
                ]
            }))
            .args([
                self.conn
                    .address
                    .clone()
                    .unwrap_or_else(|| self.host.clone()),
                "--".into(),
            ])
    }

    /// Classify an ssh exit 255 (ssh's own failure) into a clear error.
    fn classify(&self, out: &Output, cmd: &str) -> SshError {
        let e = out.stderr.trim().to_string();
        let host = self.host.clone();
        let lower = e.to_lowercase();
        if self.conn.sudo
            && (lower.contains("sudo: a password is required")
                || lower.contains("not in the sudoers")
                || lower.contains("is not allowed to execute"))
        {
            return SshError::NoSudo {
                host,
                user: self.conn.user.clone().unwrap_or_default(),
                detail: first_line(&e),
            };
        }
        if out.code == 255 {
            if lower.contains("remote host identification has changed")
                || lower.contains("host key for") && lower.contains("has changed")
            {
                return SshError::HostKeyChanged {
                    host,
                    detail: first_line(&e),
                };
            }
            if lower.contains("host key verification failed")
                || lower.contains("no ") && lower.contains("host key is known")
            {
                return SshError::UnknownHostKey {
                    host,
                    detail: first_line(&e),
                };
            }
            if lower.contains("permission denied")
                || lower.contains("too many authentication failures")
            {
                return SshError::Auth {
                    host,
                    detail: first_line(&e),
                };
            }
            if lower.contains("connection refused")
                || lower.contains("timed out")
                || lower.contains("no route to host")
                || lower.contains("could not resolve")
                || lower.contains("network is unreachable")
                || lower.contains("connection closed")
                || lower.contains("broken pipe")
            {
                return SshError::Unreachable {
                    host,
                    detail: first_line(&e),
                };
            }
        }
        SshError::Failed {
            host,
            cmd: cmd.into(),
            code: out.code,
            tail: crate::sys::cmd::tail(&out.stderr, &out.stdout),
        }
    }

    /// Run a remote command line (already quoted for the remote shell); non-zero fails.
    pub fn run(
        &self,
        remote: &str,
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        self.run_shared(remote, stdin.map(Into::into), timeout)
    }

    /// `run` with an input shared with other hosts' commands (not copied per host).
    fn run_shared(
        &self,
        remote: &str,
        stdin: Option<std::sync::Arc<[u8]>>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        let mut c = self.base().arg(self.as_root(remote)).timeout(timeout);
        if let Some(d) = stdin {
            c = c.stdin_shared(d);
        }
        let out = c.run().map_err(|source| SshError::Local {
            host: self.host.clone(),
            source,
        })?;
        if out.success() {
            Ok(out)
        } else {
            Err(self.classify(&out, remote))
        }
    }

    /// Spawn a remote command with piped stdin/stdout for streaming (node mode).
    pub fn spawn(&self, remote: &str) -> std::io::Result<std::process::Child> {
        let c = self.base().arg(self.as_root(remote));
        let argv = c.argv();
        std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    }

    /// Check the host answers (and authenticate, and verify its key).
    pub fn probe(&self) -> Result<(), SshError> {
        self.run("true", None, Duration::from_secs(self.connect_timeout + 5))
            .map(|_| ())
    }

    /// Copy this executable to the host unless the remote one has the same sha256.
    /// Uploads to a temporary name and renames atomically. Returns true if it copied.
    pub fn copy_self(&self) -> Result<bool, SshError> {
        let exe = std::env::current_exe().map_err(|e| SshError::Failed {
            host: self.host.clone(),
            cmd: "current_exe".into(),
            code: -1,
            tail: e.to_string(),
        })?;
        // hashed once per process: a fan-out to dozens of hosts read and hashed the
        // whole binary in every host's thread (~6 MB of memory each at once)
        static LOCAL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let local = LOCAL
            .get_or_init(|| crate::sys::fs::file_sha256(&exe).unwrap_or_default())
            .clone();
        let remote = self
            .run(
                &format!("sha256sum {REMOTE_BIN} 2>/dev/null || true"),
                None,
                Duration::from_secs(30),
            )?
            .stdout
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        if !local.is_empty() && remote == local {
            return Ok(false);
        }
        // read once and shared by every host's upload: the controller's memory stays
        // flat however many hosts it copies to at once
        static BYTES: std::sync::Mutex<Option<std::sync::Arc<[u8]>>> = std::sync::Mutex::new(None);
        let bytes = {
            let mut b = BYTES.lock().unwrap_or_else(|e| e.into_inner());
            match &*b {
                Some(x) => x.clone(),
                None => {
                    let x: std::sync::Arc<[u8]> = std::fs::read(&exe)
                        .map_err(|e| SshError::Failed {
                            host: self.host.clone(),
                            cmd: format!("read {}", exe.display()),
                            code: -1,
                            tail: e.to_string(),
                        })?
                        .into();
                    *b = Some(x.clone());
                    x
                }
            }
        };
        let tmp = format!("{REMOTE_BIN}.tmp.{}", std::process::id());
        let script = format!(
            "set -e; mkdir -p /usr/local/bin; cat > {tmp}; chmod 755 {tmp}; \
             got=$(sha256sum {tmp} | cut -d' ' -f1); \
             if [ \"$got\" != \"{local}\" ]; then rm -f {tmp}; echo \"checksum mismatch after upload\" >&2; exit 1; fi; \
             mv -f {tmp} {REMOTE_BIN}"
        );
        self.run_shared(&script, Some(bytes), Duration::from_secs(300))?;
        Ok(true)
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: i32, stderr: &str) -> Output {
        Output {
            code,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn ssh_errors_are_classified_for_the_user() {
        let s = Ssh::new("10.0.0.9");
        assert!(matches!(
            s.classify(
                &out(
                    255,
                    "ssh: connect to host 10.0.0.9 port 22: Connection refused"
                ),
                "x"
            ),
            SshError::Unreachable { .. }
        ));
        assert!(matches!(
            s.classify(
                &out(255, "root@10.0.0.9: Permission denied (publickey)."),
                "x"
            ),
            SshError::Auth { .. }
        ));
        assert!(matches!(s.classify(&out(255, "No ED25519 host key is known for 10.0.0.9 and you have requested strict checking.\nHost key verification failed."), "x"), SshError::UnknownHostKey { .. }));
        assert!(matches!(
            s.classify(&out(255, "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed."), "x"),
            SshError::HostKeyChanged { .. }
        ));
        assert!(matches!(
            s.classify(&out(3, "boom"), "x"),
            SshError::Failed { code: 3, .. }
        ));
    }

    fn conns(text: &str) -> crate::inventory::Inventory {
        crate::inventory::Inventory::from_str("t.yml", text, &[]).unwrap()
    }

    #[test]
    fn ansible_connection_variables_shape_the_ssh_command() {
        let inv = conns("all:\n  children:\n    g:\n      hosts:\n        10.0.0.1: { ansible_host: 192.168.1.5, ansible_port: 2222, ansible_user: ops, ansible_become: true, ansible_ssh_private_key_file: /root/.ssh/ops }\n        10.0.0.2: {}\n");
        register(&inv);
        let s = Ssh::new("10.0.0.1");
        let argv = s.base().arg(s.as_root("pigsty node apply")).argv();
        let line = argv.join(" ");
        assert!(line.contains(" -l ops -p 2222 -i /root/.ssh/ops -o IdentitiesOnly=yes 192.168.1.5 -- sudo -n -- sh -c 'pigsty node apply'"), "{line}");
        // unset: nothing overrides ~/.ssh/config (ProxyJump, Port, User there apply)
        let plain = Ssh::new("10.0.0.2").base().argv().join(" ");
        assert!(
            plain.ends_with(" 10.0.0.2 --") && !plain.contains(" -l ") && !plain.contains(" -p "),
            "{plain}"
        );
        let e = s
            .classify(&out(1, "sudo: a password is required"), "x")
            .to_string();
        assert!(
            e.contains("`ops` has no password-less sudo to root") && e.contains("NOPASSWD"),
            "{e}"
        );
    }

    #[test]
    fn a_user_other_than_root_needs_become() {
        let e = crate::inventory::Inventory::from_str(
            "t.yml",
            "all:\n  children:\n    g: { hosts: { 10.0.0.1: { ansible_user: ops } } }\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("key `ansible_user`: pigsty manages a node as root: logging in as `ops` needs `ansible_become: true`"), "{e}");
        let ok =
            conns("all:\n  children:\n    g: { hosts: { 10.0.0.1: { ansible_user: root } } }\n");
        assert!(!Conn::of(&ok.hosts[0]).sudo);
    }

    #[test]
    fn changed_host_key_message_names_the_fix() {
        let e = Ssh::new("10.0.0.9")
            .classify(&out(255, "REMOTE HOST IDENTIFICATION HAS CHANGED"), "x")
            .to_string();
        assert!(e.contains("ssh-keygen -R 10.0.0.9"), "{e}");
    }
}
