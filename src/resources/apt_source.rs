//! Upstream apt repositories (`repo_upstream` entries picked by `node_repo_modules`):
//! each one a deb822 file `/etc/apt/sources.list.d/pigsty-<name>.sources`. An entry
//! with a `key` (an ASCII-armored OpenPGP public key) gets it inline as `Signed-By`, so
//! apt trusts that key alone for that repository; one without a key is checked against
//! the keys the node already trusts. Nothing is ever `trusted=yes` here.
//!
//! Before any file is written apt reads the new or changed repositories alone, into a
//! scratch lists directory: a repository apt cannot fetch or whose signature does not
//! verify fails the step with apt's own message, and the node's sources stay as they
//! were. `pigsty-*.sources` files of entries no longer picked are removed; with
//! `node_repo_remove` the node's other source files move to `/etc/apt/backup/`.
use super::apt_repo::{move_aside, BACKUP};
use super::{ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One repository: `baseurl` split as apt reads a one-line source.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub description: String,
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    pub key: Option<String>,
}

impl Source {
    /// `name`, `description`, `http://host/debian/ bookworm main contrib` (or a flat
    /// `http://host/repo ./`), and the armored key if any.
    pub fn parse(
        name: &str,
        description: &str,
        baseurl: &str,
        key: Option<&str>,
    ) -> Result<Source, String> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "`name: {name}` must be letters, digits, `-`, `_` or `.`"
            ));
        }
        let mut words = baseurl.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            return Err(format!(
                "baseurl `{baseurl}` needs a URL and a suite, as in a one-line apt source: `http://deb.debian.org/debian/ bookworm main` or `http://host/repo ./`"
            ));
        };
        if !["http://", "https://", "file:"]
            .iter()
            .any(|s| uri.starts_with(s))
        {
            return Err(format!(
                "baseurl `{baseurl}`: `{uri}` is not an http://, https:// or file: URL"
            ));
        }
        let components: Vec<String> = words.map(String::from).collect();
        if suite.ends_with('/') && !components.is_empty() {
            return Err(format!(
                "baseurl `{baseurl}`: a flat repository (suite `{suite}`) has no components"
            ));
        }
        if !suite.ends_with('/') && components.is_empty() {
            return Err(format!(
                "baseurl `{baseurl}`: suite `{suite}` needs at least one component (e.g. `main`)"
            ));
        }
        let key = match key.map(str::trim).filter(|k| !k.is_empty()) {
            None => None,
            Some(k) if k.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") && k.ends_with("-----END PGP PUBLIC KEY BLOCK-----") => Some(k.to_string()),
            Some(_) => {
                return Err("`key` must be an ASCII-armored OpenPGP public key (`-----BEGIN PGP PUBLIC KEY BLOCK-----` ... `-----END PGP PUBLIC KEY BLOCK-----`), as `gpg --armor --export` prints it".into())
            }
        };
        Ok(Source {
            name: name.into(),
            description: description.trim().into(),
            uri: uri.into(),
            suite: suite.into(),
            components,
            key,
        })
    }

    pub fn file_name(&self) -> String {
        format!("pigsty-{}.sources", self.name)
    }

    /// The deb822 text; the key's blank lines become ` .` as the format asks.
    pub fn render(&self) -> String {
        let mut s = format!("# written by pigsty from repo_upstream `{}`", self.name);
        if !self.description.is_empty() {
            s += &format!(" ({})", self.description.replace('\n', " "));
        }
        s += &format!("\nTypes: deb\nURIs: {}\nSuites: {}\n", self.uri, self.suite);
        if !self.components.is_empty() {
            s += &format!("Components: {}\n", self.components.join(" "));
        }
        if let Some(k) = &self.key {
            s += "Signed-By:\n";
            for l in k.lines() {
                let l = l.trim_end();
                s += &if l.is_empty() {
                    " .\n".to_string()
                } else {
                    format!(" {l}\n")
                };
            }
        }
        s
    }
}

pub struct AptSources {
    pub sources: Vec<Source>,
    /// `node_repo_remove`: the node's other source files move to `/etc/apt/backup/`.
    pub remove_others: bool,
    /// Where apt's sources live (tests point this elsewhere).
    pub etc_apt: PathBuf,
}

impl AptSources {
    pub fn new(sources: Vec<Source>, remove_others: bool) -> Self {
        AptSources {
            sources,
            remove_others,
            etc_apt: "/etc/apt".into(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.etc_apt.join("sources.list.d")
    }

    /// The sources whose file is missing or different.
    fn changed(&self) -> Vec<&Source> {
        self.sources
            .iter()
            .filter(|s| {
                std::fs::read_to_string(self.dir().join(s.file_name()))
                    .ok()
                    .as_deref()
                    != Some(&s.render())
            })
            .collect()
    }

    /// `pigsty-*.sources` files of no picked entry.
    fn stale(&self) -> Vec<PathBuf> {
        let keep: Vec<String> = self.sources.iter().map(Source::file_name).collect();
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.starts_with("pigsty-") && n.ends_with(".sources") && !keep.iter().any(|k| k == n)
            })
            .collect();
        v.sort();
        v
    }

    /// Source files pigsty did not write, moved aside with `node_repo_remove`.
    fn others(&self) -> Vec<PathBuf> {
        if !self.remove_others || self.sources.is_empty() {
            return vec![];
        }
        super::apt_repo::foreign_sources(&self.etc_apt)
    }

    /// apt reads `sources` alone into a scratch directory; Err(apt's complaint).
    fn probe(&self, sources: &[&Source]) -> ResResult<()> {
        // root's own scratch directory, made afresh where only root can make it (never a
        // path in /tmp another user could have put there first)
        struct Scratch(PathBuf);
        impl Drop for Scratch {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let tmp = Scratch(Path::new(crate::engine::STATE_DIR_DEFAULT).join("apt-probe"));
        let t = tmp.0.as_path();
        let _ = std::fs::remove_dir_all(t);
        // 0755: apt downloads as its `_apt` user, which must reach lists/partial
        std::fs::create_dir_all(crate::engine::STATE_DIR_DEFAULT)
            .and_then(|_| {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new().mode(0o755).create(t)
            })
            .map_err(|e| ResError::msg(format!("creating {}: {e}", t.display())))?;
        for d in ["parts", "lists/partial"] {
            std::fs::create_dir_all(t.join(d)).map_err(|e| ResError::msg(e.to_string()))?;
        }
        for s in sources {
            std::fs::write(t.join("parts").join(s.file_name()), s.render())
                .map_err(|e| ResError::msg(e.to_string()))?;
        }
        let out = Cmd::new("apt-get")
            .args(["update", "-q"])
            .arg("-o")
            .arg("Dir::Etc::SourceList=/dev/null")
            .arg("-o")
            .arg(format!(
                "Dir::Etc::SourceParts={}",
                t.join("parts").display()
            ))
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", t.join("lists").display()))
            .args([
                "-o",
                "APT::Get::List-Cleanup=0",
                "-o",
                "APT::Update::Error-Mode=any",
            ])
            .timeout(Duration::from_secs(300))
            .run()
            .map_err(|e| ResError::msg(e.to_string()))?;
        let complaints: Vec<&str> = out
            .stderr
            .lines()
            .chain(out.stdout.lines())
            .map(str::trim)
            .filter(|l| l.starts_with("E:") || l.starts_with("W:") || l.starts_with("Err:"))
            .collect();
        if out.code != 0 || !complaints.is_empty() {
            let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
            return Err(ResError::msg(format!(
                "apt could not use repo_upstream {} (nothing on the node changed):\n  {}\nhint: check the entry's baseurl and that its `key` is the key the repository is signed with",
                names.join(", "),
                if complaints.is_empty() { out.stderr.trim().to_string() } else { complaints.join("\n  ") }
            )));
        }
        Ok(())
    }
}

impl Resource for AptSources {
    fn kind(&self) -> &'static str {
        "apt source"
    }
    fn name(&self) -> String {
        if self.sources.is_empty() {
            "upstream repositories (none picked)".into()
        } else {
            let n: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
            format!("upstream repositories {}", n.join(", "))
        }
    }
    fn check(&self) -> ResResult<State> {
        let mut d: Vec<String> = self
            .changed()
            .iter()
            .map(|s| {
                format!(
                    "write {}{}",
                    s.file_name(),
                    if s.key.is_some() {
                        " (Signed-By its key)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        for p in self.stale() {
            d.push(format!("remove {}", p.display()));
        }
        let o = self.others();
        if !o.is_empty() {
            d.push(format!("move {} other source file(s) to {BACKUP}", o.len()));
        }
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        let changed = self.changed();
        let real = self.etc_apt == Path::new("/etc/apt");
        if real && !changed.is_empty() {
            self.probe(&changed)?;
        }
        for p in self.others() {
            move_aside(&p, &self.etc_apt.join("backup"))?;
        }
        for s in &changed {
            crate::sys::fs::write_atomic(
                &self.dir().join(s.file_name()),
                s.render().as_bytes(),
                0o644,
                None,
                None,
            )
            .map_err(|e| ResError::msg(e.to_string()))?;
        }
        for p in self.stale() {
            std::fs::remove_file(&p)
                .map_err(|e| ResError::msg(format!("removing {}: {e}", p.display())))?;
        }
        if real {
            super::apt_repo::refresh_lists()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBGVx\nAbCd\n-----END PGP PUBLIC KEY BLOCK-----";

    #[test]
    fn a_base_url_splits_as_apt_reads_it_and_the_key_goes_inline() {
        let s = Source::parse(
            "pgdg",
            "PGDG",
            "http://apt.postgresql.org/pub/repos/apt/ bookworm-pgdg main",
            Some(KEY),
        )
        .unwrap();
        assert_eq!(
            s.render(),
            "# written by pigsty from repo_upstream `pgdg` (PGDG)\nTypes: deb\nURIs: http://apt.postgresql.org/pub/repos/apt/\nSuites: bookworm-pgdg\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQENBGVx\n AbCd\n -----END PGP PUBLIC KEY BLOCK-----\n"
        );
        let flat = Source::parse("probe", "", "http://10.10.10.10/probe ./", None).unwrap();
        assert_eq!(flat.render(), "# written by pigsty from repo_upstream `probe`\nTypes: deb\nURIs: http://10.10.10.10/probe\nSuites: ./\n");
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let e = |name: &str, url: &str, key: Option<&str>| {
            Source::parse(name, "", url, key).unwrap_err()
        };
        assert!(e("a b", "http://x/ y main", None).contains("`name: a b`"));
        assert!(e("x", "http://x/", None).contains("needs a URL and a suite"));
        assert!(e("x", "ftp://x/ y main", None).contains("not an http://"));
        assert!(e("x", "http://x/ ./ main", None).contains("flat repository"));
        assert!(e("x", "http://x/ bookworm", None).contains("at least one component"));
        assert!(e(
            "x",
            "http://x/ bookworm main",
            Some("/etc/apt/keyrings/x.gpg")
        )
        .contains("ASCII-armored"));
    }

    #[test]
    fn writes_removes_stale_and_moves_the_others_aside() {
        let d = tempfile::tempdir().unwrap();
        let etc = d.path().join("etc/apt");
        let dir = etc.join("sources.list.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("debian.sources"), "Types: deb\n").unwrap();
        std::fs::write(dir.join("pigsty-old.sources"), "Types: deb\n").unwrap();
        std::fs::write(
            dir.join("pigsty-local.list"),
            "deb [trusted=yes] http://x/pigsty ./\n",
        )
        .unwrap();
        let s = Source::parse("probe", "", "http://10.10.10.10/probe ./", Some(KEY)).unwrap();
        let mut r = AptSources::new(vec![s], true);
        r.etc_apt = etc.clone();
        match r.check().unwrap() {
            st @ State::Drift(_) => assert_eq!(
                st.words(),
                vec![
                    "write pigsty-probe.sources (Signed-By its key)".to_string(),
                    format!("remove {}", dir.join("pigsty-old.sources").display()),
                    format!("move 1 other source file(s) to {BACKUP}"),
                ]
            ),
            st => panic!("{st:?}"),
        }
        r.apply().unwrap();
        assert!(etc.join("backup/debian.sources").is_file());
        assert!(!dir.join("pigsty-old.sources").exists());
        assert!(
            dir.join("pigsty-local.list").is_file(),
            "the local repository's file is pigsty's"
        );
        assert_eq!(r.check().unwrap(), State::InSync);
        // none picked: pigsty's upstream files go, nothing else moves
        let mut none = AptSources::new(vec![], true);
        none.etc_apt = etc.clone();
        r.apply().unwrap();
        none.apply().unwrap();
        assert!(!dir.join("pigsty-probe.sources").exists());
        assert!(dir.join("pigsty-local.list").is_file());
        assert_eq!(none.check().unwrap(), State::InSync);
    }
}
