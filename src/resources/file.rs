//! A file with exact content, mode and owner, written atomically; read and written
//! without following a link a service user could have placed (`sys::walk`).
use super::{Delta, ResError, ResResult, Resource, State};
use crate::sys::fs;
use crate::sys::walk::{self, WalkError};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::fd::AsRawFd;
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

mode_owner_builders!(File);

impl Resource for File {
    fn kind(&self) -> &'static str {
        "file"
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn check(&self) -> ResResult<State> {
        use nix::libc;
        let err = |e: WalkError| ResError::from(fs::FsError::from(e));
        let ioe = |source| {
            ResError::from(fs::FsError::Io {
                path: self.name(),
                source,
            })
        };
        let (dir, name) = match walk::open_parent(&self.path, false) {
            Ok(x) => x,
            Err(WalkError::Missing(_)) => return Ok(State::create()),
            Err(e) => return Err(err(e)),
        };
        // never through a link, never blocking on a FIFO put in its place
        let fd = match walk::open_at(
            dir.as_raw_fd(),
            &name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        ) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(State::create()),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Ok(State::Drift(vec![Delta::note(format!(
                    "{} is a symbolic link: replaced by the file, not followed",
                    self.name()
                ))]))
            }
            Err(e) => return Err(ioe(e)),
        };
        let st = walk::fstat(fd.as_raw_fd()).map_err(ioe)?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(ResError::msg(format!("`{}` is a directory where a file belongs; refusing to replace it\nhint: move it aside", self.name()))),
            _ => return Ok(State::Drift(vec![Delta::note(format!("{} is not a regular file: replaced", self.name()))])),
        }
        let mut cur = vec![];
        std::fs::File::from(fd).read_to_end(&mut cur).map_err(ioe)?;
        let mut d = vec![];
        if digest(&cur) != digest(&self.content) {
            let summary = (!self.secret).then(|| {
                let (a, r) = line_delta(
                    &String::from_utf8_lossy(&cur),
                    &String::from_utf8_lossy(&self.content),
                );
                format!("+{a} -{r} lines")
            });
            d.push(Delta::Content { summary });
        }
        let have = (
            st.st_mode & 0o7777,
            fs::user_name(st.st_uid),
            fs::group_name(st.st_gid),
        );
        d.extend(super::mode_owner_deltas(
            &have,
            self.mode,
            &self.owner,
            &self.group,
        ));
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        if let Some(parent) = self.path.parent() {
            // missing parents made the way `Dir` makes them (no link followed)
            walk::open_dir(parent, true).map_err(fs::FsError::from)?;
        }
        fs::write_atomic(
            &self.path,
            &self.content,
            self.mode,
            Some(&self.owner),
            Some(&self.group),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sys::fs::my_owner as me;

    #[test]
    fn file_check_absent_then_in_sync_after_apply() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let f = File::new(d.path().join("a.conf"), "x = 1\n")
            .mode(0o600)
            .owner(&u, &g);
        assert_eq!(f.check().unwrap(), State::create());
        f.apply().unwrap();
        assert!(f.check().unwrap().in_sync());
    }

    #[test]
    fn file_check_names_changed_lines_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let p = d.path().join("a.conf");
        File::new(&p, "a\nb\n")
            .mode(0o644)
            .owner(&u, &g)
            .apply()
            .unwrap();
        let f = File::new(&p, "a\nc\n").mode(0o600).owner(&u, &g);
        let State::Drift(diffs) = f.check().unwrap() else {
            panic!()
        };
        let diffs: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert_eq!(
            diffs,
            vec![
                "content: +1 -1 lines".to_string(),
                "mode 0644 -> 0600".to_string()
            ]
        );
    }

    #[test]
    fn a_link_or_fifo_in_place_of_the_file_is_replaced_never_followed() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "root's\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = d.path().join("a.conf");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let f = File::new(&p, "x\n").mode(0o644).owner(&u, &g);
        let State::Drift(diffs) = f.check().unwrap() else {
            panic!()
        };
        assert!(
            diffs[0]
                .to_string()
                .contains("is a symbolic link: replaced by the file, not followed"),
            "{diffs:?}"
        );
        f.apply().unwrap();
        assert!(f.check().unwrap().in_sync());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's\n");
        assert_eq!(fs::stat(&victim).unwrap().0, 0o600);
        let q = d.path().join("fifo");
        nix::unistd::mkfifo(&q, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let f = File::new(&q, "y\n").owner(&u, &g);
        assert!(
            matches!(f.check().unwrap(), State::Drift(_)),
            "a FIFO does not block the check"
        );
    }

    #[test]
    fn secret_file_drift_does_not_describe_content() {
        let d = tempfile::tempdir().unwrap();
        let (u, g) = me();
        let p = d.path().join("s");
        File::new(&p, "pw=a").owner(&u, &g).apply().unwrap();
        let f = File::new(&p, "pw=b").owner(&u, &g).secret();
        assert_eq!(
            f.check().unwrap(),
            State::Drift(vec![Delta::Content { summary: None }])
        );
    }
}
