//! A user's own SSH key pair (`~/.ssh/id_ed25519`, generated once, never replaced)
//! and the public keys that must be in its `~/.ssh/authorized_keys`: its own, so the
//! admin user can reach every node that carries the same key, plus any listed ones.
//! Lines already in `authorized_keys` are kept.
use super::{ResError, ResResult, Resource, State};
use crate::sys::{fs, Cmd};
use std::path::PathBuf;

pub struct SshKey {
    pub user: String,
    /// Public keys to authorize besides the user's own (`node_admin_pk_list`).
    pub extra: Vec<String>,
}

struct Paths {
    group: String,
    dir: PathBuf,
    key: PathBuf,
    pubkey: PathBuf,
    auth: PathBuf,
}

impl SshKey {
    pub fn new(user: &str, extra: Vec<String>) -> Self {
        SshKey {
            user: user.into(),
            extra: extra
                .into_iter()
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
        }
    }
    fn paths(&self) -> Option<Paths> {
        let u = nix::unistd::User::from_name(&self.user).ok().flatten()?;
        let dir = u.dir.join(".ssh");
        let group = fs::group_name(u.gid.as_raw());
        Some(Paths {
            group,
            key: dir.join("id_ed25519"),
            pubkey: dir.join("id_ed25519.pub"),
            auth: dir.join("authorized_keys"),
            dir,
        })
    }
    /// Keys that must be authorized (own public key when it exists, then the extra ones).
    fn wanted(&self, p: &Paths) -> Vec<String> {
        let mut v = vec![];
        if let Ok(k) = std::fs::read_to_string(&p.pubkey) {
            let k = k.trim().to_string();
            if !k.is_empty() {
                v.push(k);
            }
        }
        v.extend(self.extra.iter().cloned());
        v
    }
}

/// Two key lines name the same key when type and base64 body match (comments may differ).
fn same_key(a: &str, b: &str) -> bool {
    let f = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    f(a) == f(b)
}

impl Resource for SshKey {
    fn kind(&self) -> &'static str {
        "ssh key"
    }
    fn name(&self) -> String {
        format!("{} ~/.ssh/id_ed25519", self.user)
    }
    fn check(&self) -> ResResult<State> {
        let Some(p) = self.paths() else {
            return Ok(State::drift(format!("user {} absent", self.user)));
        };
        let mut d = vec![];
        if !p.key.exists() || !p.pubkey.exists() {
            d.push("generate ed25519 key".to_string());
        }
        let cur = std::fs::read_to_string(&p.auth).unwrap_or_default();
        let missing = self
            .wanted(&p)
            .iter()
            .filter(|k| !cur.lines().any(|l| same_key(l, k)))
            .count();
        if missing > 0 {
            d.push(format!("authorize {missing} key(s)"));
        }
        if d.is_empty() {
            for (path, mode) in [(&p.dir, 0o700), (&p.auth, 0o600), (&p.key, 0o600)] {
                if let Some((m, u, _)) = fs::stat(path) {
                    if m != mode || u != self.user {
                        d.push(format!(
                            "{} mode/owner {m:04o} {u} -> {mode:04o} {}",
                            path.display(),
                            self.user
                        ));
                    }
                }
            }
        }
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        let p = self.paths().ok_or_else(|| {
            ResError::msg(format!(
                "user `{}` does not exist; hint: the admin user step must run first",
                self.user
            ))
        })?;
        let io = |path: &PathBuf| {
            let path = path.display().to_string();
            move |source| fs::FsError::Io { path, source }
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&p.dir).map_err(io(&p.dir))?;
        std::fs::set_permissions(&p.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(&p.dir))?;
        fs::set_owner(&p.dir, Some(&self.user), Some(&p.group))?;
        if !p.key.exists() || !p.pubkey.exists() {
            let host = nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            // A half pair (one file lost) is regenerated: ssh-keygen refuses to overwrite.
            let _ = std::fs::remove_file(&p.key);
            let _ = std::fs::remove_file(&p.pubkey);
            Cmd::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(format!("{}@{host}", self.user))
                .arg("-f")
                .arg(p.key.display().to_string())
                .as_user(&self.user)
                .ok()?;
        }
        let cur = std::fs::read_to_string(&p.auth).unwrap_or_default();
        let mut text = cur.clone();
        for k in self.wanted(&p) {
            if !text.lines().any(|l| same_key(l, &k)) {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&k);
                text.push('\n');
            }
        }
        fs::write_atomic(
            &p.auth,
            text.as_bytes(),
            0o600,
            Some(&self.user),
            Some(&p.group),
        )?;
        std::fs::set_permissions(&p.key, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&p.key))?;
        fs::set_owner(&p.key, Some(&self.user), Some(&p.group))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_ignores_the_comment() {
        assert!(same_key("ssh-ed25519 AAAA dba@a", "ssh-ed25519 AAAA dba@b"));
        assert!(!same_key("ssh-ed25519 AAAA", "ssh-ed25519 BBBB"));
    }

    #[test]
    fn missing_user_is_drift_not_error() {
        let k = SshKey::new("no-such-user-pigsty", vec![]);
        assert_eq!(
            k.check().unwrap(),
            State::drift("user no-such-user-pigsty absent")
        );
    }
}
