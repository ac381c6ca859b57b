//! A symbolic link pointing at a target.
use super::{ResResult, Resource, State};
use crate::sys::fs::FsError;
use std::path::PathBuf;

pub struct Symlink {
    pub path: PathBuf,
    pub target: PathBuf,
    /// The target must exist; otherwise the check fails with this message.
    pub missing_target: Option<String>,
}

impl Symlink {
    pub fn new(path: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        Symlink {
            path: path.into(),
            target: target.into(),
            missing_target: None,
        }
    }
    /// Fail with `msg` when the target does not exist (a time zone that is not known).
    pub fn target_must_exist(mut self, msg: impl Into<String>) -> Self {
        self.missing_target = Some(msg.into());
        self
    }
}

impl Resource for Symlink {
    fn kind(&self) -> &'static str {
        "symlink"
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn check(&self) -> ResResult<State> {
        if let Some(msg) = &self.missing_target {
            if !self.target.exists() {
                return Err(super::ResError::msg(msg.clone()));
            }
        }
        match std::fs::read_link(&self.path) {
            Ok(t) if t == self.target => Ok(State::InSync),
            Ok(t) => Ok(State::Drift(vec![super::Delta::field(
                "target",
                t.display().to_string(),
                self.target.display().to_string(),
            )])),
            Err(_) => Ok(State::create()),
        }
    }
    fn apply(&self) -> ResResult<()> {
        let io = |source| FsError::Io {
            path: self.path.display().to_string(),
            source,
        };
        if let Some(p) = self.path.parent() {
            std::fs::create_dir_all(p).map_err(io)?;
        }
        if std::fs::symlink_metadata(&self.path).is_ok() {
            let meta = std::fs::symlink_metadata(&self.path).map_err(io)?;
            if meta.is_dir() {
                return Err(super::ResError::msg(format!(
                    "`{}` is a directory, not a link; refusing to replace it\nhint: move it aside",
                    self.path.display()
                )));
            }
            std::fs::remove_file(&self.path).map_err(io)?;
        }
        std::os::unix::fs::symlink(&self.target, &self.path).map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_is_repointed() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("cur");
        Symlink::new(&l, "/a").apply().unwrap();
        let s = Symlink::new(&l, "/b");
        assert_eq!(
            s.check().unwrap(),
            State::Drift(vec![super::super::Delta::field("target", "/a", "/b")])
        );
        s.apply().unwrap();
        assert!(s.check().unwrap().in_sync());
    }

    #[test]
    fn a_missing_target_that_must_exist_fails_the_check() {
        let d = tempfile::tempdir().unwrap();
        let s = Symlink::new(d.path().join("l"), d.path().join("nope"))
            .target_must_exist("no such zone");
        assert_eq!(s.check().unwrap_err().to_string(), "no such zone");
    }
}
