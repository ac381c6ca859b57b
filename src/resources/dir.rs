//! A directory with mode and owner, reached without following a link a service
//! user could have placed (`sys::walk`).
use super::{ResResult, Resource, State};
use crate::sys::fs;
use crate::sys::walk::{self, WalkError};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

pub struct Dir {
    pub path: PathBuf,
    pub mode: u32,
    pub owner: String,
    pub group: String,
}

impl Dir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Dir {
            path: path.into(),
            mode: 0o755,
            owner: "root".into(),
            group: "root".into(),
        }
    }
}

mode_owner_builders!(Dir);

impl Resource for Dir {
    fn kind(&self) -> &'static str {
        "dir"
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn check(&self) -> ResResult<State> {
        // opened without following a link a service user could have placed
        let fd = match walk::open_dir(&self.path, false) {
            Ok(fd) => fd,
            Err(WalkError::Missing(_)) => return Ok(State::create()),
            Err(e) => return Err(fs::FsError::from(e).into()),
        };
        let have = walk::mode_owner(fd.as_raw_fd()).map_err(|source| fs::FsError::Io {
            path: self.name(),
            source,
        })?;
        Ok(State::from_diffs(super::mode_owner_deltas(
            &have,
            self.mode,
            &self.owner,
            &self.group,
        )))
    }
    fn apply(&self) -> ResResult<()> {
        let fd = walk::open_dir(&self.path, true).map_err(fs::FsError::from)?;
        let (uid, gid) = (fs::uid_of(&self.owner)?, fs::gid_of(&self.group)?);
        // owner and mode on the open directory, not by name
        walk::fchown_fchmod(fd.as_raw_fd(), Some(uid), Some(gid), self.mode).map_err(|source| {
            fs::FsError::Io {
                path: self.name(),
                source,
            }
        })?;
        Ok(())
    }
}
