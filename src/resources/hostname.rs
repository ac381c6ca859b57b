//! The host's name: `/etc/hostname` (next boot) and the running name (now).
//!
//! Inside a container the running name may not be ours to change (no
//! CAP_SYS_ADMIN): the file is still written and the step is reported as skipped
//! with the reason, instead of failing the node.
use super::{ResError, ResResult, Resource, State};
use crate::sys::fs;
use std::path::PathBuf;
use std::sync::Mutex;

pub use crate::sys::caps::{has_cap, CAP_SYS_ADMIN, CAP_SYS_TIME};

pub struct Hostname {
    pub name: String,
    pub file: PathBuf,
    refused: Mutex<Option<String>>,
}

impl Hostname {
    pub fn new(name: &str) -> Self {
        Hostname {
            name: name.into(),
            file: PathBuf::from("/etc/hostname"),
            refused: Mutex::new(None),
        }
    }
    fn live() -> String {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
    fn file_name(&self) -> String {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    /// Why the running name cannot be changed here, if it cannot.
    fn cannot_set(&self) -> Option<String> {
        if let Ok(r) = self.refused.lock() {
            if let Some(why) = r.as_ref() {
                return Some(why.clone());
            }
        }
        (!has_cap("CapEff", CAP_SYS_ADMIN)).then(|| "no CAP_SYS_ADMIN (a container?)".to_string())
    }
}

impl Resource for Hostname {
    fn kind(&self) -> &'static str {
        "hostname"
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        let mut d = vec![];
        let f = self.file_name();
        if f != self.name {
            d.push(format!("{} {f} -> {}", self.file.display(), self.name));
        }
        let live = Self::live();
        if live != self.name {
            match self.cannot_set() {
                Some(why) if d.is_empty() => {
                    return Ok(State::Skip(format!(
                        "running hostname stays `{live}`: {why}; `{}` has `{}` for the next boot",
                        self.file.display(),
                        self.name
                    )))
                }
                Some(_) => {}
                None => d.push(format!("hostname {live} -> {}", self.name)),
            }
        }
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        if self.file_name() != self.name {
            fs::write_atomic(
                &self.file,
                format!("{}\n", self.name).as_bytes(),
                0o644,
                Some("root"),
                Some("root"),
            )?;
        }
        if Self::live() != self.name && self.cannot_set().is_none() {
            if let Err(e) = nix::unistd::sethostname(&self.name) {
                if matches!(e, nix::errno::Errno::EPERM | nix::errno::Errno::EACCES) {
                    if let Ok(mut r) = self.refused.lock() {
                        *r = Some(format!("the kernel refused it ({e})"));
                    }
                } else {
                    return Err(ResError::msg(format!(
                        "setting hostname `{}`: {e}",
                        self.name
                    )));
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
    fn capability_sets_are_read_from_proc() {
        // Every process has a bounding set line; root in the test host has CAP_SYS_ADMIN there.
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(s.contains("CapBnd:"));
        if nix::unistd::geteuid().is_root() {
            assert!(has_cap("CapBnd", CAP_SYS_ADMIN) || !has_cap("CapEff", CAP_SYS_ADMIN));
        }
        assert!(!has_cap("NoSuchSet", CAP_SYS_ADMIN));
    }

    #[test]
    fn hostname_file_drift_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("hostname");
        std::fs::write(&f, "old\n").unwrap();
        let h = Hostname {
            file: f.clone(),
            ..Hostname::new(&Hostname::live())
        };
        let State::Drift(diffs) = h.check().unwrap() else {
            panic!()
        };
        let diffs: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert_eq!(
            diffs,
            vec![format!("{} old -> {}", f.display(), Hostname::live())]
        );
    }
}
