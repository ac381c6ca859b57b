//! The local package repository as this node's apt source (`node_repo_modules:
//! local`): once `pigsty repo build` has published `<repo>/Packages` on the infra
//! node, nodes use it, and with `node_repo_remove` only it (the other source files
//! move to `/etc/apt/backup/`). Until a repository is published the node keeps its
//! sources and this step is in sync: the default install fetches from upstream.
//!
//! The repository host itself reads the directory (`file:`), so an offline install
//! works before nginx runs; other nodes read `http://<admin_ip>/<repo_name>/`.
use super::{ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const LIST: &str = "/etc/apt/sources.list.d/pigsty-local.list";
pub const BACKUP: &str = "/etc/apt/backup";

pub struct LocalRepo {
    /// `http://10.10.10.10/pigsty`
    pub url: String,
    /// The repository directory when this host serves it (`/www/pigsty`).
    pub local_dir: Option<PathBuf>,
    /// `node_repo_remove`: the local repository becomes the only source.
    pub remove_others: bool,
    /// Where apt's sources live (tests point this elsewhere).
    pub etc_apt: PathBuf,
}

impl LocalRepo {
    pub fn new(url: &str, local_dir: Option<PathBuf>, remove_others: bool) -> Self {
        LocalRepo {
            url: url.trim_end_matches('/').into(),
            local_dir,
            remove_others,
            etc_apt: "/etc/apt".into(),
        }
    }

    /// The apt source line, or None when no repository is published.
    fn source(&self) -> Option<String> {
        if let Some(d) = &self.local_dir {
            if d.join("Packages").is_file() {
                return Some(format!("deb [trusted=yes] file:{} ./", d.display()));
            }
        }
        let rest = self.url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let addr = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        match super::http::get(&addr, &format!("/{path}/Packages"), Duration::from_secs(3)) {
            Ok((200, _)) => Some(format!("deb [trusted=yes] {}/ ./", self.url)),
            _ => None,
        }
    }

    fn list(&self) -> PathBuf {
        self.etc_apt.join("sources.list.d/pigsty-local.list")
    }

    /// Source files other than ours: `sources.list` (when it has entries) and the
    /// `.list`/`.sources` files in `sources.list.d`.
    fn others(&self) -> Vec<PathBuf> {
        let mut v = vec![];
        let main = self.etc_apt.join("sources.list");
        if std::fs::read_to_string(&main)
            .map(|t| {
                t.lines()
                    .any(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            })
            .unwrap_or(false)
        {
            v.push(main);
        }
        if let Ok(rd) = std::fs::read_dir(self.etc_apt.join("sources.list.d")) {
            for e in rd.flatten() {
                let p = e.path();
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if (n.ends_with(".list") || n.ends_with(".sources")) && p != self.list() {
                    v.push(p);
                }
            }
        }
        v.sort();
        v
    }
}

fn move_aside(p: &Path, backup: &Path) -> ResResult<()> {
    std::fs::create_dir_all(backup)
        .map_err(|e| ResError::msg(format!("creating {}: {e}", backup.display())))?;
    let name = p.file_name().map(|n| n.to_owned()).unwrap_or_default();
    std::fs::rename(p, backup.join(name)).map_err(|e| {
        ResError::msg(format!(
            "moving {} to {}: {e}",
            p.display(),
            backup.display()
        ))
    })
}

impl Resource for LocalRepo {
    fn kind(&self) -> &'static str {
        "apt source"
    }
    fn name(&self) -> String {
        format!("local repository {}", self.url)
    }
    fn check(&self) -> ResResult<State> {
        let Some(line) = self.source() else {
            return Ok(State::InSync);
        };
        let mut d = vec![];
        if std::fs::read_to_string(self.list()).ok().as_deref() != Some(&format!("{line}\n")) {
            d.push(format!("use `{line}`"));
        }
        if self.remove_others {
            let o = self.others();
            if !o.is_empty() {
                d.push(format!("move {} other source file(s) to {BACKUP}", o.len()));
            }
        }
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        let Some(line) = self.source() else {
            return Ok(());
        };
        if self.remove_others {
            for p in self.others() {
                move_aside(&p, &self.etc_apt.join("backup"))?;
            }
        }
        crate::sys::fs::write_atomic(
            &self.list(),
            format!("{line}\n").as_bytes(),
            0o644,
            None,
            None,
        )
        .map_err(|e| ResError::msg(e.to_string()))?;
        if self.etc_apt == Path::new("/etc/apt") {
            Cmd::new("apt-get")
                .args(["update", "-q"])
                .timeout(Duration::from_secs(600))
                .ok()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_directory_becomes_the_only_source() {
        let d = tempfile::tempdir().unwrap();
        let etc = d.path().join("etc/apt");
        std::fs::create_dir_all(etc.join("sources.list.d")).unwrap();
        std::fs::write(etc.join("sources.list"), "# nothing here\n").unwrap();
        std::fs::write(etc.join("sources.list.d/debian.sources"), "Types: deb\n").unwrap();
        let www = d.path().join("www/pigsty");
        std::fs::create_dir_all(&www).unwrap();
        let mut r = LocalRepo::new("http://127.0.0.1:9/pigsty", Some(www.clone()), true);
        r.etc_apt = etc.clone();
        assert_eq!(
            r.check().unwrap(),
            State::InSync,
            "nothing published yet: keep the sources"
        );
        std::fs::write(www.join("Packages"), "").unwrap();
        match r.check().unwrap() {
            s @ State::Drift(_) => assert_eq!(
                s.words(),
                vec![
                    format!("use `deb [trusted=yes] file:{} ./`", www.display()),
                    format!("move 1 other source file(s) to {BACKUP}")
                ]
            ),
            s => panic!("{s:?}"),
        }
        r.apply().unwrap();
        assert!(etc.join("backup/debian.sources").is_file());
        assert!(
            etc.join("sources.list").is_file(),
            "a sources.list with only comments stays"
        );
        assert_eq!(r.check().unwrap(), State::InSync);
    }
}
