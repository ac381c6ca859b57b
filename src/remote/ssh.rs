//! One SSH connection per host through the system OpenSSH client: ControlMaster
//! multiplexing, BatchMode (never prompts), connect timeouts, and host keys verified
//! against known_hosts (accepting unknown keys is an explicit choice).
use crate::sys::{Cmd, Output};
use std::time::Duration;

/// Where the remote binary lives.
pub const REMOTE_BIN: &str = "/usr/local/bin/pigsty";

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("host `{host}` is unreachable: {detail}\nhint: check the address, that sshd runs there and that port 22 is open")]
    Unreachable { host: String, detail: String },
    #[error("host `{host}`: ssh authentication failed: {detail}\nhint: put your public key in root's ~/.ssh/authorized_keys there, or load it in ssh-agent")]
    Auth { host: String, detail: String },
    #[error("host `{host}`: its ssh host key is not known: {detail}\nhint: verify it and add it to ~/.ssh/known_hosts, or pass --accept-new-host-keys on first contact")]
    UnknownHostKey { host: String, detail: String },
    #[error("host `{host}`: its ssh host key CHANGED since it was recorded; refusing to connect: {detail}\nhint: if the machine was reinstalled, remove the old key with `ssh-keygen -R {host}`")]
    HostKeyChanged { host: String, detail: String },
    #[error("host `{host}`: `{cmd}` exited with code {code}: {tail}")]
    Failed { host: String, cmd: String, code: i32, tail: String },
    #[error("host `{host}`: {source}")]
    Local { host: String, #[source] source: crate::sys::CmdError },
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

#[derive(Debug, Clone)]
pub struct Ssh {
    pub host: String,
    pub user: String,
    pub accept_new: bool,
    pub connect_timeout: u64,
}

impl Ssh {
    pub fn new(host: &str) -> Self {
        Ssh { host: host.into(), user: "root".into(), accept_new: false, connect_timeout: 10 }
    }

    fn base(&self) -> Cmd {
        let mux: Vec<String> = match control_dir() {
            Some(d) => vec![
                "-o".into(),
                "ControlMaster=auto".into(),
                "-o".into(),
                format!("ControlPath={}/%C", d.display()),
                "-o".into(),
                "ControlPersist=120s".into(),
            ],
            None => vec!["-o".into(), "ControlMaster=no".into(), "-o".into(), "ControlPath=none".into()],
        };
        Cmd::new("ssh").args([
            "-o".to_string(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("ConnectTimeout={}", self.connect_timeout),
            "-o".into(),
            format!("StrictHostKeyChecking={}", if self.accept_new { "accept-new" } else { "yes" }),
        ]).args(mux).args([
            "-o".to_string(),
            "ServerAliveInterval=10".into(),
            "-o".into(),
            "ServerAliveCountMax=6".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-l".into(),
            self.user.clone(),
            self.host.clone(),
            "--".into(),
        ])
    }

    /// Classify an ssh exit 255 (ssh's own failure) into a clear error.
    fn classify(&self, out: &Output, cmd: &str) -> SshError {
        let e = out.stderr.trim().to_string();
        let host = self.host.clone();
        let lower = e.to_lowercase();
        if out.code == 255 {
            if lower.contains("remote host identification has changed") || lower.contains("host key for") && lower.contains("has changed") {
                return SshError::HostKeyChanged { host, detail: first_line(&e) };
            }
            if lower.contains("host key verification failed") || lower.contains("no ") && lower.contains("host key is known") {
                return SshError::UnknownHostKey { host, detail: first_line(&e) };
            }
            if lower.contains("permission denied") || lower.contains("too many authentication failures") {
                return SshError::Auth { host, detail: first_line(&e) };
            }
            if lower.contains("connection refused")
                || lower.contains("timed out")
                || lower.contains("no route to host")
                || lower.contains("could not resolve")
                || lower.contains("network is unreachable")
                || lower.contains("connection closed")
                || lower.contains("broken pipe")
            {
                return SshError::Unreachable { host, detail: first_line(&e) };
            }
        }
        SshError::Failed { host, cmd: cmd.into(), code: out.code, tail: crate::sys::cmd::tail(&out.stderr, &out.stdout) }
    }

    /// Run a remote command line (already quoted for the remote shell); non-zero fails.
    pub fn run(&self, remote: &str, stdin: Option<Vec<u8>>, timeout: Duration) -> Result<Output, SshError> {
        let mut c = self.base().arg(remote).timeout(timeout);
        if let Some(d) = stdin {
            c = c.stdin(d);
        }
        let out = c.run().map_err(|source| SshError::Local { host: self.host.clone(), source })?;
        if out.success() {
            Ok(out)
        } else {
            Err(self.classify(&out, remote))
        }
    }

    /// Spawn a remote command with piped stdin/stdout for streaming (node mode).
    pub fn spawn(&self, remote: &str) -> std::io::Result<std::process::Child> {
        let c = self.base().arg(remote);
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
        self.run("true", None, Duration::from_secs(self.connect_timeout + 5)).map(|_| ())
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
        let local = crate::sys::fs::file_sha256(&exe).unwrap_or_default();
        let remote = self
            .run(&format!("sha256sum {REMOTE_BIN} 2>/dev/null || true"), None, Duration::from_secs(30))?
            .stdout
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        if !local.is_empty() && remote == local {
            return Ok(false);
        }
        let bytes = std::fs::read(&exe).map_err(|e| SshError::Failed {
            host: self.host.clone(),
            cmd: format!("read {}", exe.display()),
            code: -1,
            tail: e.to_string(),
        })?;
        let tmp = format!("{REMOTE_BIN}.tmp.{}", std::process::id());
        let script = format!(
            "set -e; mkdir -p /usr/local/bin; cat > {tmp}; chmod 755 {tmp}; \
             got=$(sha256sum {tmp} | cut -d' ' -f1); \
             if [ \"$got\" != \"{local}\" ]; then rm -f {tmp}; echo \"checksum mismatch after upload\" >&2; exit 1; fi; \
             mv -f {tmp} {REMOTE_BIN}"
        );
        self.run(&script, Some(bytes), Duration::from_secs(300))?;
        Ok(true)
    }
}

fn first_line(s: &str) -> String {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}


#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: i32, stderr: &str) -> Output {
        Output { code, stdout: String::new(), stderr: stderr.into() }
    }

    #[test]
    fn ssh_errors_are_classified_for_the_user() {
        let s = Ssh::new("10.0.0.9");
        assert!(matches!(s.classify(&out(255, "ssh: connect to host 10.0.0.9 port 22: Connection refused"), "x"), SshError::Unreachable { .. }));
        assert!(matches!(s.classify(&out(255, "root@10.0.0.9: Permission denied (publickey)."), "x"), SshError::Auth { .. }));
        assert!(matches!(s.classify(&out(255, "No ED25519 host key is known for 10.0.0.9 and you have requested strict checking.\nHost key verification failed."), "x"), SshError::UnknownHostKey { .. }));
        assert!(matches!(
            s.classify(&out(255, "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed."), "x"),
            SshError::HostKeyChanged { .. }
        ));
        assert!(matches!(s.classify(&out(3, "boom"), "x"), SshError::Failed { code: 3, .. }));
    }

    #[test]
    fn changed_host_key_message_names_the_fix() {
        let e = Ssh::new("10.0.0.9").classify(&out(255, "REMOTE HOST IDENTIFICATION HAS CHANGED"), "x").to_string();
        assert!(e.contains("ssh-keygen -R 10.0.0.9"), "{e}");
    }
}
