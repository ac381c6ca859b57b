//! Paths opened as root without following a link a service user could have placed.
//!
//! Pigsty runs as root and manages directories that belong to service users
//! (`/pg/bin` is the database superuser's). Opening such a path the usual way follows
//! any symbolic link on the way: the dbsu replaces `/pg/bin` with a link to a
//! root-only directory, and root's next chmod or write lands there. Here a path is
//! resolved one component at a time from `/` with `O_NOFOLLOW`; a link is followed
//! only when it sits in a directory that only root can write (owned by root, not
//! writable by group or others): such a link is root's own (`/pg` in `/`). Any other
//! link is refused, naming it. The caller then acts on the open descriptor (fchmod,
//! fchown, openat, renameat), so nothing is looked up by name twice.
use nix::libc;
use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A component does not exist (and was not to be created).
    #[error("`{0}` does not exist")]
    Missing(PathBuf),
    /// A link in a directory someone other than root can write.
    #[error("{0}")]
    Untrusted(String),
    #[error("`{0}`: {1}")]
    Io(PathBuf, std::io::Error),
}

fn cstr(s: &OsStr) -> CString {
    // names come from Path components: no interior NUL
    CString::new(s.as_bytes()).unwrap_or_default()
}

fn last_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// `openat(dir, name, flags)` as an owned descriptor.
pub fn open_at(dir: RawFd, name: &OsStr, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    let n = cstr(name);
    let fd = unsafe {
        libc::openat(
            dir,
            n.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(last_err());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstat` of an open descriptor.
pub fn fstat(fd: RawFd) -> std::io::Result<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(last_err());
    }
    Ok(st)
}

fn lstat_at(dir: RawFd, name: &OsStr) -> std::io::Result<libc::stat> {
    let n = cstr(name);
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatat(dir, n.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(last_err());
    }
    Ok(st)
}

fn readlink_at(dir: RawFd, name: &OsStr) -> std::io::Result<PathBuf> {
    let n = cstr(name);
    let mut buf = vec![0u8; 4096];
    let len = unsafe { libc::readlinkat(dir, n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return Err(last_err());
    }
    buf.truncate(len as usize);
    Ok(PathBuf::from(OsString::from_vec(buf)))
}

/// Only root can change what is in this directory.
fn root_only(dir: RawFd) -> std::io::Result<(bool, u32)> {
    let st = fstat(dir)?;
    Ok((st.st_uid == 0 && st.st_mode & 0o022 == 0, st.st_uid))
}

fn is_link(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// Open the directory `path` (absolute), following only root's own links; with
/// `create`, missing directories are made (mode 0755, owned by the caller: the
/// resource then sets mode and owner on the descriptor).
pub fn open_dir(path: &Path, create: bool) -> Result<OwnedFd, WalkError> {
    let io = |p: &Path, e| WalkError::Io(p.to_path_buf(), e);
    if !path.is_absolute() {
        return Err(io(path, std::io::Error::other("not an absolute path")));
    }
    let root = || {
        open_at(
            libc::AT_FDCWD,
            OsStr::new("/"),
            libc::O_DIRECTORY | libc::O_RDONLY,
            0,
        )
    };
    let mut fd = root().map_err(|e| io(Path::new("/"), e))?;
    // `at`: where we are, for messages (links followed are resolved in it)
    let mut at = PathBuf::from("/");
    let mut queue: VecDeque<OsString> = path.components().filter_map(part).collect();
    let mut hops = 0;
    while let Some(name) = queue.pop_front() {
        if name == ".." {
            fd = open_at(
                fd.as_raw_fd(),
                &name,
                libc::O_DIRECTORY | libc::O_RDONLY | libc::O_NOFOLLOW,
                0,
            )
            .map_err(|e| io(&at, e))?;
            at.pop();
            continue;
        }
        let here = at.join(&name);
        match open_at(
            fd.as_raw_fd(),
            &name,
            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_NOFOLLOW,
            0,
        ) {
            Ok(next) => {
                fd = next;
                at = here;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if !create {
                    return Err(WalkError::Missing(here));
                }
                let n = cstr(&name);
                if unsafe { libc::mkdirat(fd.as_raw_fd(), n.as_ptr(), 0o755) } < 0 {
                    let e = last_err();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(io(&here, e));
                    }
                }
                queue.push_front(name);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                let st = lstat_at(fd.as_raw_fd(), &name).map_err(|e| io(&here, e))?;
                if !is_link(&st) {
                    return Err(io(&here, std::io::Error::other("not a directory")));
                }
                let target = readlink_at(fd.as_raw_fd(), &name).map_err(|e| io(&here, e))?;
                let (trusted, owner) = root_only(fd.as_raw_fd()).map_err(|e| io(&at, e))?;
                if !trusted {
                    return Err(WalkError::Untrusted(format!(
                        "`{}` is a symbolic link to `{}` in `{}`, which {} can change; pigsty does not follow it (it could point root's change anywhere){}\nhint: if that link is not yours, someone with that user's rights made it: remove it (`rm {}`) and run again, and pigsty makes the directory",
                        here.display(),
                        target.display(),
                        at.display(),
                        if owner == 0 { "a user other than root".to_string() } else { format!("user `{}`", super::fs::user_name(owner)) },
                        if here != path { format!(" on the way to `{}`", path.display()) } else { String::new() },
                        here.display()
                    )));
                }
                hops += 1;
                if hops > 40 {
                    return Err(io(path, std::io::Error::from_raw_os_error(libc::ELOOP)));
                }
                if target.is_absolute() {
                    fd = root().map_err(|e| io(Path::new("/"), e))?;
                    at = PathBuf::from("/");
                }
                for c in target
                    .components()
                    .filter_map(part)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    queue.push_front(c);
                }
            }
            Err(e) => return Err(io(&here, e)),
        }
    }
    Ok(fd)
}

fn part(c: Component) -> Option<OsString> {
    match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    }
}

/// The parent directory of `path`, opened as `open_dir` does, and the last name.
pub fn open_parent(path: &Path, create: bool) -> Result<(OwnedFd, OsString), WalkError> {
    let name = path
        .file_name()
        .ok_or_else(|| WalkError::Io(path.to_path_buf(), std::io::Error::other("no file name")))?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    Ok((open_dir(parent, create)?, name.to_os_string()))
}

/// Set owner (when given) then mode on an open descriptor.
pub fn fchown_fchmod(
    fd: RawFd,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: u32,
) -> std::io::Result<()> {
    if uid.is_some() || gid.is_some() {
        let u = uid
            .map(|u| u as libc::uid_t)
            .unwrap_or(u32::MAX as libc::uid_t);
        let g = gid
            .map(|g| g as libc::gid_t)
            .unwrap_or(u32::MAX as libc::gid_t);
        if unsafe { libc::fchown(fd, u, g) } < 0 {
            return Err(last_err());
        }
    }
    if unsafe { libc::fchmod(fd, mode as libc::mode_t) } < 0 {
        return Err(last_err());
    }
    Ok(())
}

/// `renameat` within one directory.
pub fn rename_in(dir: RawFd, from: &OsStr, to: &OsStr) -> std::io::Result<()> {
    let (f, t) = (cstr(from), cstr(to));
    if unsafe { libc::renameat(dir, f.as_ptr(), dir, t.as_ptr()) } < 0 {
        return Err(last_err());
    }
    Ok(())
}

/// `unlinkat` of a file (or link) in a directory.
pub fn unlink_in(dir: RawFd, name: &OsStr) -> std::io::Result<()> {
    let n = cstr(name);
    if unsafe { libc::unlinkat(dir, n.as_ptr(), 0) } < 0 {
        return Err(last_err());
    }
    Ok(())
}

/// Mode bits (with the setuid/setgid/sticky bits), owner and group names of an open file.
pub fn mode_owner(fd: RawFd) -> std::io::Result<(u32, String, String)> {
    let st = fstat(fd)?;
    Ok((
        st.st_mode & 0o7777,
        super::fs::user_name(st.st_uid),
        super::fs::group_name(st.st_gid),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn plain_directories_open_and_missing_ones_are_made_on_request() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a/b/c");
        assert!(
            matches!(open_dir(&p, false), Err(WalkError::Missing(m)) if m == t.path().join("a"))
        );
        let fd = open_dir(&p, true).unwrap();
        assert!(p.is_dir());
        assert_eq!(
            fstat(fd.as_raw_fd()).unwrap().st_ino,
            std::fs::metadata(&p)
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .unwrap()
        );
    }

    #[test]
    fn links_in_a_directory_others_can_write_are_refused_and_root_only_ones_followed() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        std::fs::create_dir(&target).unwrap();
        let shared = t.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        symlink(&target, shared.join("bin")).unwrap();
        let e = open_dir(&shared.join("bin/x"), true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "`{}/bin` is a symbolic link to `{}`",
                shared.display(),
                target.display()
            )),
            "{e}"
        );
        assert!(e.contains("on the way to"), "{e}");
        assert!(!target.join("x").exists(), "nothing made through the link");
        // the same link in a directory only its owner writes: trusted when that owner
        // is root (the tests run as root in CI), refused otherwise
        let own = t.path().join("own");
        std::fs::create_dir(&own).unwrap();
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o755)).unwrap();
        symlink("../target", own.join("bin")).unwrap();
        let r = open_dir(&own.join("bin"), false);
        if nix::unistd::getuid().is_root() {
            let fd = r.unwrap();
            let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&target).unwrap());
            assert_eq!(fstat(fd.as_raw_fd()).unwrap().st_ino, ino);
        } else {
            assert!(matches!(r, Err(WalkError::Untrusted(_))));
        }
    }
}
