//! A file with exact content, mode and owner, written atomically.
use super::{Delta, ResResult, Resource, State};
use crate::sys::fs;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

pub struct File {
    pub path: PathBuf,
    pub content: Vec<u8>,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// Content holds secrets: never describe it beyond "changed".
    pub secret: bool,
}

impl File {
    pub fn new(path: impl Into<PathBuf>, content: impl Into<Vec<u8>>) -> Self {
        File {
            path: path.into(),
            content: content.into(),
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            secret: false,
        }
    }
    pub fn mode(mut self, m: u32) -> Self {
        self.mode = m;
        self
    }
    pub fn owner(mut self, user: &str, group: &str) -> Self {
        self.owner = user.into();
        self.group = group.into();
        self
    }
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

fn digest(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Lines added and removed between two texts (multiset comparison, cheap and good enough for a summary).
pub fn line_delta(old: &str, new: &str) -> (usize, usize) {
    use std::collections::HashMap;
    let mut m: HashMap<&str, i64> = HashMap::new();
    for l in old.lines() {
        *m.entry(l).or_default() -= 1;
    }
    for l in new.lines() {
        *m.entry(l).or_default() += 1;
    }
    let add = m.values().filter(|v| **v > 0).map(|v| *v as usize).sum();
    let del = m.values().filter(|v| **v < 0).map(|v| (-*v) as usize).sum();
    (add, del)
}

impl Resource for File {
    fn kind(&self) -> &'static str {
        "file"
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn check(&self) -> ResResult<State> {
        let Ok(cur) = std::fs::read(&self.path) else {
            return Ok(State::create());
        };
        let mut d = vec![];
        if digest(&cur) != digest(&self.content) {
            let summary = (!self.secret).then(|| {
                let (a, r) = line_delta(&String::from_utf8_lossy(&cur), &String::from_utf8_lossy(&self.content));
                format!("+{a} -{r} lines")
            });
            d.push(Delta::Content { summary });
        }
        d.extend(super::mode_owner_drift(&self.path, self.mode, &self.owner, &self.group));
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        if let Some(parent) = self.path.parent() {
            if !parent.exists() {
                std::fs::create_dir_all(parent).map_err(|source| fs::FsError::Io { path: parent.display().to_string(), source })?;
            }
        }
        fs::write_atomic(&self.path, &self.content, self.mode, Some(&self.owner), Some(&self.group))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> (String, String) {
        let (_, u, g) = fs::stat(std::path::Path::new("/proc/self")).unwrap();
        (u, g)
    }

    #[test]
    fn file_check_absent_then_in_sync_after_apply() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let f = File::new(d.path().join("a.conf"), "x = 1\n").mode(0o600).owner(&u, &g);
        assert_eq!(f.check().unwrap(), State::create());
        f.apply().unwrap();
        assert!(f.check().unwrap().in_sync());
    }

    #[test]
    fn file_check_names_changed_lines_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let p = d.path().join("a.conf");
        File::new(&p, "a\nb\n").mode(0o644).owner(&u, &g).apply().unwrap();
        let f = File::new(&p, "a\nc\n").mode(0o600).owner(&u, &g);
        let State::Drift(diffs) = f.check().unwrap() else { panic!() };
        let diffs: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert_eq!(diffs, vec!["content: +1 -1 lines".to_string(), "mode 0644 -> 0600".to_string()]);
    }

    #[test]
    fn secret_file_drift_does_not_describe_content() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let p = d.path().join("s");
        File::new(&p, "pw=a").owner(&u, &g).apply().unwrap();
        let f = File::new(&p, "pw=b").owner(&u, &g).secret();
        assert_eq!(f.check().unwrap(), State::Drift(vec![Delta::Content { summary: None }]));
    }
}
