//! A directory with mode and owner.
use super::{ResResult, Resource, State};
use crate::sys::fs;
use std::path::PathBuf;

pub struct Dir {
    pub path: PathBuf,
    pub mode: u32,
    pub owner: String,
    pub group: String,
}

impl Dir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Dir { path: path.into(), mode: 0o755, owner: "root".into(), group: "root".into() }
    }
    pub fn mode(mut self, m: u32) -> Self {
        self.mode = m;
        self
    }
    pub fn owner(mut self, u: &str, g: &str) -> Self {
        self.owner = u.into();
        self.group = g.into();
        self
    }
}

impl Resource for Dir {
    fn kind(&self) -> &'static str {
        "dir"
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn check(&self) -> ResResult<State> {
        if !self.path.is_dir() {
            return Ok(State::create());
        }
        Ok(State::from_diffs(super::mode_owner_drift(&self.path, self.mode, &self.owner, &self.group)))
    }
    fn apply(&self) -> ResResult<()> {
        use std::os::unix::fs::PermissionsExt;
        let io = |source| fs::FsError::Io { path: self.path.display().to_string(), source };
        std::fs::create_dir_all(&self.path).map_err(io)?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(self.mode)).map_err(io)?;
        fs::set_owner(&self.path, Some(&self.owner), Some(&self.group))?;
        Ok(())
    }
}
