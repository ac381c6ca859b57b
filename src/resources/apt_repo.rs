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
    /// This node's release (`trixie`): a repository of another release is not used.
    pub codename: String,
}

/// `Codename:` of a repository's `Release` file.
fn release_codename(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("Codename:"))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
}

impl LocalRepo {
    pub fn new(url: &str, local_dir: Option<PathBuf>, remove_others: bool, codename: &str) -> Self {
        LocalRepo {
            url: url.trim_end_matches('/').into(),
            local_dir,
            remove_others,
            etc_apt: "/etc/apt".into(),
            codename: codename.into(),
        }
    }

    /// The apt source line and the repository's release, or None when no repository
    /// is published. A repository indexed before pigsty recorded the release in its
    /// `Release` file was built on bookworm, the only release it served then.
    fn published(&self) -> Option<(String, String)> {
        let old = || "bookworm".to_string();
        if let Some(d) = &self.local_dir {
            if d.join("Packages").is_file() {
                let rel = std::fs::read_to_string(d.join("Release")).unwrap_or_default();
                return Some((
                    format!("deb [trusted=yes] file:{} ./", d.display()),
                    release_codename(&rel).unwrap_or_else(old),
                ));
            }
        }
        let rest = self.url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let addr = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        match super::http::get(&addr, &format!("/{path}/Release"), Duration::from_secs(3)) {
            Ok((200, rel)) => Some((
                format!("deb [trusted=yes] {}/ ./", self.url),
                release_codename(&rel).unwrap_or_else(old),
            )),
            _ => None,
        }
    }

    /// The source line when the repository is for this node's release; Err(why not).
    fn source(&self) -> Result<Option<String>, String> {
        match self.published() {
            None => Ok(None),
            Some((line, theirs)) if theirs == self.codename => Ok(Some(line)),
            Some((_, theirs)) => Err(format!(
                "the local repository {} holds packages for {theirs} and this node runs {}: it is not used, the node's own apt sources stay; hint: build the repository (`pigsty repo build`) on an infra node running {}, or give this node its release's sources",
                self.url, self.codename, self.codename
            )),
        }
    }

    fn list(&self) -> PathBuf {
        self.etc_apt.join("sources.list.d/pigsty-local.list")
    }

    /// Source files pigsty did not write (see [`foreign_sources`]).
    fn others(&self) -> Vec<PathBuf> {
        foreign_sources(&self.etc_apt)
    }
}

/// `apt-get update` after pigsty changed the node's sources.
pub(crate) fn refresh_lists() -> ResResult<()> {
    Cmd::new("apt-get")
        .args(["update", "-q"])
        .timeout(Duration::from_secs(600))
        .ok()?;
    Ok(())
}

/// Source files pigsty did not write: `sources.list` (when it has entries) and the
/// `.list`/`.sources` files in `sources.list.d` not named `pigsty-*`.
pub(crate) fn foreign_sources(etc_apt: &Path) -> Vec<PathBuf> {
    crate::sys::pkg::source_files(etc_apt)
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pigsty-"))
        })
        .collect()
}

pub(crate) fn move_aside(p: &Path, backup: &Path) -> ResResult<()> {
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
        let line = match self.source() {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(State::InSync),
            Err(why) => return Ok(State::Skip(why)),
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
        let Ok(Some(line)) = self.source() else {
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
            refresh_lists()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node running `codename` with one apt source file, and the directory its
    /// infra node publishes the repository in (nothing published yet): the
    /// temporary root, `etc/apt`, `www/pigsty` and the resource over them.
    fn fixture(codename: &str) -> (tempfile::TempDir, PathBuf, PathBuf, LocalRepo) {
        let d = tempfile::tempdir().unwrap();
        let etc = d.path().join("etc/apt");
        std::fs::create_dir_all(etc.join("sources.list.d")).unwrap();
        std::fs::write(etc.join("sources.list.d/debian.sources"), "Types: deb\n").unwrap();
        let www = d.path().join("www/pigsty");
        std::fs::create_dir_all(&www).unwrap();
        let mut r = LocalRepo::new(
            "http://127.0.0.1:9/pigsty",
            Some(www.clone()),
            true,
            codename,
        );
        r.etc_apt = etc.clone();
        (d, etc, www, r)
    }

    #[test]
    fn a_published_directory_becomes_the_only_source() {
        let (_d, etc, www, r) = fixture("bookworm");
        std::fs::write(etc.join("sources.list"), "# nothing here\n").unwrap();
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

    #[test]
    fn a_repository_of_another_release_is_not_used() {
        let (_d, etc, www, mut r) = fixture("trixie");
        std::fs::write(www.join("Packages"), "").unwrap();
        std::fs::write(www.join("Release"), "Origin: pigsty\nCodename: bookworm\n").unwrap();
        match r.check().unwrap() {
            State::Skip(why) => {
                assert!(
                    why.contains("holds packages for bookworm and this node runs trixie"),
                    "{why}"
                );
                assert!(why.contains("infra node running trixie"), "{why}");
            }
            s => panic!("{s:?}"),
        }
        r.apply().unwrap();
        assert!(
            etc.join("sources.list.d/debian.sources").is_file(),
            "its sources stay"
        );
        assert!(!etc.join("sources.list.d/pigsty-local.list").exists());
        // the same repository on a bookworm node is used; one without a Codename is
        // taken as bookworm (indexed before the release was recorded)
        r.codename = "bookworm".into();
        assert!(matches!(r.check().unwrap(), State::Drift(_)));
        std::fs::write(www.join("Release"), "Origin: pigsty\n").unwrap();
        assert!(matches!(r.check().unwrap(), State::Drift(_)));
    }
}
