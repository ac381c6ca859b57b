//! The exact set of files a directory holds: `DirFiles` writes every expected file
//! (content, mode, owner) and removes the files it owns that are no longer expected
//! (Prometheus target files of hosts that left the inventory). Which unexpected files
//! it may remove is a rule given by the module, so files others put there are kept.
use super::{ResResult, Resource, State};
use crate::sys::fs;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which unexpected files in the directory belong to us (and so are removed).
pub type PruneRule = Box<dyn Fn(&str) -> bool + Send + Sync>;

pub struct DirFiles {
    pub dir: PathBuf,
    /// File name (no `/`) -> content.
    pub files: BTreeMap<String, Vec<u8>>,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub prune: PruneRule,
}

/// What differs, file by file.
#[derive(Debug, Default, PartialEq, Eq)]
struct Delta {
    add: Vec<String>,
    change: Vec<String>,
    remove: Vec<String>,
}

impl DirFiles {
    /// Owns every regular file in `dir` whose name matches `prune`.
    pub fn new(dir: impl Into<PathBuf>, files: BTreeMap<String, Vec<u8>>) -> Self {
        DirFiles {
            dir: dir.into(),
            files,
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            prune: Box::new(|n: &str| !n.starts_with('.')),
        }
    }
    /// Only unexpected files whose name satisfies `rule` are removed.
    pub fn prune(mut self, rule: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.prune = Box::new(rule);
        self
    }

    fn delta(&self) -> Delta {
        let mut d = Delta::default();
        for (name, content) in &self.files {
            let p = self.dir.join(name);
            match std::fs::read(&p) {
                Err(_) => d.add.push(name.clone()),
                Ok(cur) => {
                    let meta_ok = fs::stat(&p)
                        .map(|(m, u, g)| m == self.mode && u == self.owner && g == self.group)
                        .unwrap_or(false);
                    if &cur != content || !meta_ok {
                        d.change.push(name.clone());
                    }
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            let mut stale: Vec<String> = rd
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_type()
                        .map(|t| t.is_file() || t.is_symlink())
                        .unwrap_or(false)
                })
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !self.files.contains_key(n) && (self.prune)(n))
                .collect();
            stale.sort();
            d.remove = stale;
        }
        d
    }
}

fn list(sign: char, names: &[String], out: &mut Vec<String>) {
    const MAX: usize = 8;
    for n in names.iter().take(MAX) {
        out.push(format!("{sign}{n}"));
    }
    if names.len() > MAX {
        out.push(format!("{sign}{} more", names.len() - MAX));
    }
}

mode_owner_builders!(DirFiles);

impl Resource for DirFiles {
    fn kind(&self) -> &'static str {
        "files"
    }
    fn name(&self) -> String {
        format!("{}/", self.dir.display())
    }
    fn check(&self) -> ResResult<State> {
        let d = self.delta();
        let mut out = vec![];
        list('+', &d.add, &mut out);
        list('~', &d.change, &mut out);
        list('-', &d.remove, &mut out);
        Ok(State::from_diffs(out))
    }
    fn apply(&self) -> ResResult<()> {
        let io = |p: &std::path::Path| {
            let path = p.display().to_string();
            move |source| fs::FsError::Io { path, source }
        };
        // made if missing, and removals done in it, without following a link a
        // service user could have placed (`sys::walk`)
        let dir = crate::sys::walk::open_dir(&self.dir, true).map_err(fs::FsError::from)?;
        let d = self.delta();
        for name in d.add.iter().chain(d.change.iter()) {
            let content = &self.files[name];
            fs::write_atomic(
                &self.dir.join(name),
                content,
                self.mode,
                Some(&self.owner),
                Some(&self.group),
            )?;
        }
        for name in &d.remove {
            let p = self.dir.join(name);
            crate::sys::walk::unlink_in(
                std::os::fd::AsRawFd::as_raw_fd(&dir),
                std::ffi::OsStr::new(name),
            )
            .map_err(io(&p))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sys::fs::my_owner as me;

    fn set(items: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn dirfiles_writes_missing_then_is_in_sync() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let r = DirFiles::new(d.path().join("node"), set(&[("10.0.0.1.yml", "a\n")])).owner(&u, &g);
        assert_eq!(r.check().unwrap(), State::drift("+10.0.0.1.yml"));
        r.apply().unwrap();
        assert!(r.check().unwrap().in_sync());
    }

    #[test]
    fn dirfiles_removes_stale_owned_files_and_keeps_foreign_ones() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        std::fs::write(d.path().join("10.0.0.9.yml"), "old").unwrap();
        std::fs::write(d.path().join("custom.yml"), "mine").unwrap();
        std::fs::write(d.path().join("10.0.0.1.yml"), "stale content").unwrap();
        let r = DirFiles::new(d.path(), set(&[("10.0.0.1.yml", "a\n")]))
            .owner(&u, &g)
            .prune(|n| n.starts_with("10."));
        let State::Drift(diffs) = r.check().unwrap() else {
            panic!("expected drift")
        };
        let diffs: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert_eq!(
            diffs,
            vec!["~10.0.0.1.yml".to_string(), "-10.0.0.9.yml".to_string()]
        );
        r.apply().unwrap();
        assert!(r.check().unwrap().in_sync());
        assert!(
            d.path().join("custom.yml").exists(),
            "a file we do not own is kept"
        );
        assert!(!d.path().join("10.0.0.9.yml").exists());
        assert_eq!(
            std::fs::read_to_string(d.path().join("10.0.0.1.yml")).unwrap(),
            "a\n"
        );
    }

    #[test]
    fn dirfiles_mode_change_is_drift() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let r = DirFiles::new(d.path(), set(&[("a.yml", "x")])).owner(&u, &g);
        r.apply().unwrap();
        let r2 = DirFiles::new(d.path(), set(&[("a.yml", "x")]))
            .owner(&u, &g)
            .mode(0o600);
        assert_eq!(r2.check().unwrap(), State::drift("~a.yml"));
    }
}
