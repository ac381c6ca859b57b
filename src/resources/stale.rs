//! Files a module wrote earlier and no longer wants (an HAProxy service removed from
//! the inventory): every file in `dir` that `ours` claims and `keep` does not list is
//! removed. Files others put there are never touched.
use super::{ResResult, Resource, State};
use crate::sys::fs::FsError;
use std::collections::BTreeSet;
use std::path::PathBuf;

pub type Claim = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

pub struct StaleFiles {
    pub dir: PathBuf,
    /// File names (no `/`) that stay.
    pub keep: BTreeSet<String>,
    /// (file name, content) -> is it ours?
    pub ours: Claim,
    pub label: String,
}

impl StaleFiles {
    pub fn new(
        label: &str,
        dir: impl Into<PathBuf>,
        keep: BTreeSet<String>,
        ours: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        StaleFiles {
            dir: dir.into(),
            keep,
            ours: Box::new(ours),
            label: label.into(),
        }
    }

    fn stale(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut v: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                if self.keep.contains(&name) {
                    return None;
                }
                let content = std::fs::read_to_string(e.path()).unwrap_or_default();
                (self.ours)(&name, &content).then(|| e.path())
            })
            .collect();
        v.sort();
        v
    }
}

impl Resource for StaleFiles {
    fn kind(&self) -> &'static str {
        "stale files"
    }
    fn name(&self) -> String {
        self.label.clone()
    }
    fn check(&self) -> ResResult<State> {
        Ok(State::from_diffs(
            self.stale()
                .into_iter()
                .map(|p| format!("remove {}", p.display()))
                .collect(),
        ))
    }
    fn apply(&self) -> ResResult<()> {
        for p in self.stale() {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(FsError::Io {
                        path: p.display().to_string(),
                        source,
                    }
                    .into())
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_claimed_files_not_kept_are_removed() {
        let d = tempfile::tempdir().unwrap();
        for (n, c) in [
            ("pg-a-primary.cfg", "# of cluster pg-a, written by pigsty"),
            ("pg-a-old.cfg", "# of cluster pg-a, written by pigsty"),
            ("pg-a-x-old.cfg", "# of cluster pg-a-x, written by pigsty"),
            ("mine.cfg", "user file"),
        ] {
            std::fs::write(d.path().join(n), c).unwrap();
        }
        let s = StaleFiles::new(
            "pg-a services",
            d.path(),
            ["pg-a-primary.cfg".to_string()].into(),
            |_, c| c.contains("of cluster pg-a, written by pigsty"),
        );
        let State::Drift(x) = s.check().unwrap() else {
            panic!()
        };
        let x: Vec<String> = x.iter().map(ToString::to_string).collect();
        assert_eq!(x.len(), 1);
        assert!(x[0].ends_with("pg-a-old.cfg"), "{x:?}");
        s.apply().unwrap();
        assert!(s.check().unwrap().in_sync());
        assert!(
            d.path().join("pg-a-x-old.cfg").exists()
                && d.path().join("mine.cfg").exists()
                && d.path().join("pg-a-primary.cfg").exists()
        );
    }
}
