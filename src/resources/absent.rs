//! A file or symlink that must not exist (a distro's default site we replace), or,
//! with [`Absent::tree`], a whole directory (a removed cluster's data).
use super::{ResResult, Resource, State};
use crate::sys::fs::FsError;
use std::path::PathBuf;

pub struct Absent {
    pub path: PathBuf,
    /// Directories are removed with everything in them.
    pub tree: bool,
}

/// Directories `Absent::tree` never removes, whatever the inventory says.
const PROTECTED: &[&str] = &[
    "/", "/bin", "/boot", "/data", "/dev", "/etc", "/home", "/lib", "/opt", "/proc", "/root",
    "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/www",
];

impl Absent {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Absent {
            path: path.into(),
            tree: false,
        }
    }
    /// A directory (or file) removed with its contents. Refuses top-level system
    /// directories and relative paths.
    pub fn tree(path: impl Into<PathBuf>) -> Self {
        Absent {
            path: path.into(),
            tree: true,
        }
    }
    fn protected(&self) -> bool {
        let p = self.path.to_string_lossy();
        let p = p.trim_end_matches('/');
        !self.path.is_absolute()
            || p.is_empty()
            || PROTECTED.contains(&p)
            || self.path.components().count() < 3
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
        // the way there is not through a link a service user placed (`sys::walk`)
        match crate::sys::walk::open_parent(&self.path, false) {
            Ok(_) => {}
            Err(crate::sys::walk::WalkError::Missing(_)) => return Ok(State::InSync),
            Err(e) => return Err(FsError::from(e).into()),
        }
        match std::fs::symlink_metadata(&self.path) {
            Err(_) => Ok(State::InSync),
            Ok(m) if m.is_dir() && self.tree && self.protected() => {
                Err(super::ResError::msg(format!(
                    "refusing to remove `{}`: too close to the root of the file system",
                    self.path.display()
                )))
            }
            Ok(m) if m.is_dir() && self.tree => Ok(State::drift("remove the directory")),
            Ok(m) if m.is_dir() => Err(super::ResError::msg(format!(
                "`{}` is a directory; refusing to remove it\nhint: move it aside",
                self.path.display()
            ))),
            Ok(_) => Ok(State::drift("remove")),
        }
    }
    fn apply(&self) -> ResResult<()> {
        let (dir, name) = match crate::sys::walk::open_parent(&self.path, false) {
            Ok(x) => x,
            Err(crate::sys::walk::WalkError::Missing(_)) => return Ok(()),
            Err(e) => return Err(FsError::from(e).into()),
        };
        let is_dir = std::fs::symlink_metadata(&self.path)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if is_dir && self.tree && !self.protected() {
            return std::fs::remove_dir_all(&self.path).map_err(|source| {
                FsError::Io {
                    path: self.path.display().to_string(),
                    source,
                }
                .into()
            });
        }
        match crate::sys::walk::unlink_in(std::os::fd::AsRawFd::as_raw_fd(&dir), &name) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FsError::Io {
                path: self.path.display().to_string(),
                source,
            }
            .into()),
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

    #[test]
    fn a_tree_goes_with_its_contents_but_never_near_the_root() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("pg-test-15");
        std::fs::create_dir_all(t.join("data/base")).unwrap();
        std::fs::write(t.join("data/base/1"), "x").unwrap();
        assert!(
            Absent::new(&t).check().is_err(),
            "a plain Absent refuses directories"
        );
        let a = Absent::tree(&t);
        assert_eq!(a.check().unwrap(), State::drift("remove the directory"));
        a.apply().unwrap();
        assert!(!t.exists());
        assert!(a.check().unwrap().in_sync());
        for p in ["/", "/data", "/var/", "/etc"] {
            assert!(Absent::tree(p).protected(), "{p}");
        }
        assert!(!Absent::tree("/data/postgres/pg-test-15").protected());
    }
}
