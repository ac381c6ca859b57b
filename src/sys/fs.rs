//! Atomic file writes: temp file in the same directory, fsync, owner and mode, rename.
use nix::unistd::{chown, Gid, Group, Uid, User};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("`{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("unknown user `{0}`")]
    NoUser(String),
    #[error("unknown group `{0}`")]
    NoGroup(String),
    /// A path pigsty will not follow (`sys::walk`).
    #[error("{0}")]
    Refused(String),
}

impl From<super::walk::WalkError> for FsError {
    fn from(e: super::walk::WalkError) -> Self {
        use super::walk::WalkError;
        match e {
            WalkError::Untrusted(m) => FsError::Refused(m),
            WalkError::Missing(p) => FsError::Io {
                path: p.display().to_string(),
                source: std::io::ErrorKind::NotFound.into(),
            },
            WalkError::Io(p, source) => FsError::Io {
                path: p.display().to_string(),
                source,
            },
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FsError + '_ {
    move |source| FsError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub fn uid_of(user: &str) -> Result<u32, FsError> {
    if let Ok(n) = user.parse::<u32>() {
        return Ok(n);
    }
    User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
        .ok_or_else(|| FsError::NoUser(user.into()))
}

pub fn gid_of(group: &str) -> Result<u32, FsError> {
    if let Ok(n) = group.parse::<u32>() {
        return Ok(n);
    }
    Group::from_name(group)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
        .ok_or_else(|| FsError::NoGroup(group.into()))
}

pub fn user_name(uid: u32) -> String {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

pub fn group_name(gid: u32) -> String {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| gid.to_string())
}

/// Write `data` to `path` atomically with the given mode and owner (None keeps the
/// current process's). The parent directory must exist; it is opened without
/// following a link a service user could have placed (`sys::walk`), and the temp
/// file is made in it under an unpredictable name, exclusively, never through a
/// link, with owner and mode set on the open file before the rename. A link at
/// `path` itself is replaced, not followed.
pub fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<&str>,
    group: Option<&str>,
) -> Result<(), FsError> {
    use super::walk;
    use std::os::fd::AsRawFd;
    let (dir, name) = walk::open_parent(path, false)?;
    let tmp = std::ffi::OsString::from(format!(
        ".{}.pigsty-tmp.{}.{:016x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let tmp_path = path.with_file_name(&tmp);
    let uid = owner.map(uid_of).transpose()?;
    let gid = group.map(gid_of).transpose()?;
    let res = (|| {
        let fd = walk::open_at(
            dir.as_raw_fd(),
            &tmp,
            nix::libc::O_WRONLY | nix::libc::O_CREAT | nix::libc::O_EXCL | nix::libc::O_NOFOLLOW,
            0o600,
        )
        .map_err(io(&tmp_path))?;
        let mut f = std::fs::File::from(fd);
        walk::fchown_fchmod(f.as_raw_fd(), uid, gid, mode).map_err(io(&tmp_path))?;
        f.write_all(data).map_err(io(&tmp_path))?;
        f.sync_all().map_err(io(&tmp_path))?;
        walk::rename_in(dir.as_raw_fd(), &tmp, &name).map_err(io(path))?;
        let _ = nix::unistd::fsync(dir.as_raw_fd());
        Ok(())
    })();
    if res.is_err() {
        let _ = walk::unlink_in(dir.as_raw_fd(), &tmp);
    }
    res
}

pub fn set_owner(path: &Path, owner: Option<&str>, group: Option<&str>) -> Result<(), FsError> {
    let uid = owner.map(uid_of).transpose()?.map(Uid::from_raw);
    let gid = group.map(gid_of).transpose()?.map(Gid::from_raw);
    if uid.is_some() || gid.is_some() {
        chown(path, uid, gid).map_err(|e| FsError::Io {
            path: path.display().to_string(),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// Mode bits, owner name and group name of an existing path.
pub fn stat(path: &Path) -> Option<(u32, String, String)> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((
        m.permissions().mode() & 0o7777,
        user_name(m.uid()),
        group_name(m.gid()),
    ))
}

/// The sha256 of a file's content (hex), `None` when it cannot be read.
pub fn file_sha256(p: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let b = std::fs::read(p).ok()?;
    Some(hex::encode(Sha256::digest(&b)))
}

/// A per-user runtime directory of pigsty's (`name`: `ssh`, `locks`): root's is
/// `/run/pigsty/<name>`, another user's `$XDG_RUNTIME_DIR/pigsty-<name>`, else
/// `~/.cache/pigsty/<name>`. Made private with [`ensure_private_dir`] by its users.
pub fn runtime_dir(name: &str) -> std::path::PathBuf {
    if nix::unistd::getuid().is_root() {
        return Path::new("/run/pigsty").join(name);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => Path::new(&d).join(format!("pigsty-{name}")),
        None => Path::new(&std::env::var_os("HOME").unwrap_or_else(|| "/".into()))
            .join(".cache/pigsty")
            .join(name),
    }
}

/// Make `dir` (its parent created 0755 when missing) a private directory of this
/// user: created 0700, and then checked without following links: a directory, not a
/// symlink, owned by us, no access for group or others. One that exists otherwise is
/// not repaired (someone else may have put things in it): the answer says what is wrong.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if let Some(parent) = dir.parent() {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| format!("`{}`: {e}", parent.display()))?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("`{}`: {e}", dir.display())),
    }
    let m = std::fs::symlink_metadata(dir).map_err(|e| format!("`{}`: {e}", dir.display()))?;
    let me = nix::unistd::getuid().as_raw();
    if m.file_type().is_symlink() || !m.is_dir() {
        return Err(format!(
            "`{}` is not a directory (a link or a file)",
            dir.display()
        ));
    }
    if m.uid() != me {
        return Err(format!(
            "`{}` belongs to {}, not to {}",
            dir.display(),
            user_name(m.uid()),
            user_name(me)
        ));
    }
    if m.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "`{}` has mode {:o}; it must be 700",
            dir.display(),
            m.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

/// The user and group this process runs as (what tests' files are owned by).
#[cfg(test)]
pub fn my_owner() -> (String, String) {
    let (_, u, g) = stat(Path::new("/proc/self")).unwrap();
    (u, g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content_and_sets_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.conf");
        write_atomic(&p, b"one", 0o600, None, None).unwrap();
        write_atomic(&p, b"two", 0o640, None, None).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(stat(&p).unwrap().0, 0o640);
        let leftovers: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }
    #[test]
    fn a_private_dir_is_made_and_a_shared_or_linked_one_refused() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/ssh");
        ensure_private_dir(&d).unwrap();
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        ensure_private_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(ensure_private_dir(&d)
            .unwrap_err()
            .contains("has mode 1777; it must be 700"));
        let l = t.path().join("link");
        std::os::unix::fs::symlink(t.path().join("a"), &l).unwrap();
        assert!(ensure_private_dir(&l)
            .unwrap_err()
            .contains("not a directory"));
    }
}
