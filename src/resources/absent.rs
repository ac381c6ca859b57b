//! A file or symlink that must not exist (a distro's default site we replace).
use super::{ResResult, Resource, State};
use crate::sys::fs::FsError;
use std::path::PathBuf;

pub struct Absent {
    pub path: PathBuf,
}

impl Absent {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Absent { path: path.into() }
    }
}

impl Resource for Absent {
    fn kind(&self) -> &'static str {
        "absent"
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn check(&self) -> ResResult<State> {
        match std::fs::symlink_metadata(&self.path) {
            Err(_) => Ok(State::InSync),
            Ok(m) if m.is_dir() => Err(super::ResError::msg(format!(
                "`{}` is a directory; refusing to remove it\nhint: move it aside",
                self.path.display()
            ))),
            Ok(_) => Ok(State::drift("remove")),
        }
    }
    fn apply(&self) -> ResResult<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FsError::Io { path: self.path.display().to_string(), source }.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_removes_a_dangling_symlink() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("default");
        std::os::unix::fs::symlink("/nowhere", &l).unwrap();
        let a = Absent::new(&l);
        assert_eq!(a.check().unwrap(), State::drift("remove"));
        a.apply().unwrap();
        assert!(a.check().unwrap().in_sync());
    }
}
