//! The per-cluster lock: `deploy`, `pgsql add|rm`, `switchover|failover`, `backup`
//! and `pitr` hold it for each PGSQL cluster they change, so a deploy cannot restart
//! Patroni on the replicas while a PITR restores the primary. It lives on the admin
//! node, where pigsty runs: one `flock(2)` file per cluster in the private runtime
//! directory (`/run/pigsty/locks` for root), released by the kernel when the holder
//! exits, however it exits. The holder writes who it is into the file; a second
//! command waits [`wait`] for it, then refuses naming the holder and since when.
//!
//! Within one process a cluster is locked once: commands that call each other
//! (`pitr` re-deploys) do not wait for themselves.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a second command waits for the holder before it refuses: 10 s, or
/// `PIGSTY_LOCK_WAIT` seconds (0 refuses at once; a value that is not a whole number of
/// seconds is refused rather than ignored).
pub fn wait() -> Result<Duration> {
    match std::env::var(crate::env::PIGSTY_LOCK_WAIT) {
        Err(_) => Ok(Duration::from_secs(10)),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| {
                anyhow::anyhow!(
                    "{}=`{v}` is not a whole number of seconds; nothing was changed",
                    crate::env::PIGSTY_LOCK_WAIT
                )
            }),
    }
}

static HELD: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Who holds a lock (written into the lock file).
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    command: String,
    since: i64,
}

/// Held locks; released when dropped (and by the kernel at exit).
pub struct Guard {
    files: Vec<(String, std::fs::File)>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        for (c, f) in self.files.drain(..) {
            let _ = f.set_len(0);
            held.remove(&c);
            drop(f); // closing the descriptor releases the flock
        }
    }
}

fn this_command() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut c = args.join(" ");
    if c.len() > 200 {
        c.truncate(
            c.char_indices()
                .take_while(|(i, _)| *i < 200)
                .last()
                .map(|(i, ch)| i + ch.len_utf8())
                .unwrap_or(0),
        );
        c.push_str(" ...");
    }
    c
}

/// Lock every cluster in `clusters` (sorted, so two commands never wait for each
/// other in a circle), waiting up to `wait` for each; else refuse naming the holder.
pub fn clusters<I, S>(clusters: I, wait: Duration) -> Result<Guard>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let wanted: BTreeSet<String> = clusters
        .into_iter()
        .map(|c| c.as_ref().to_string())
        .collect();
    let dir = crate::sys::fs::runtime_dir("locks");
    let mut guard = Guard { files: vec![] };
    for c in wanted {
        if HELD.lock().unwrap_or_else(|p| p.into_inner()).contains(&c) {
            continue;
        }
        crate::sys::fs::ensure_private_dir(&dir)
            .map_err(|e| anyhow::anyhow!("the lock directory: {e}"))?;
        let path = dir.join(format!("{c}.lock"));
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&path)
                .with_context(|| format!("opening the lock `{}`", path.display()))?
        };
        let t0 = Instant::now();
        let mut said = false;
        loop {
            let r =
                unsafe { nix::libc::flock(f.as_raw_fd(), nix::libc::LOCK_EX | nix::libc::LOCK_NB) };
            if r == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(nix::libc::EWOULDBLOCK) {
                return Err(e).with_context(|| format!("locking `{}`", path.display()));
            }
            let holder = read_holder(&mut f);
            if t0.elapsed() >= wait {
                bail!(
                    "cluster `{c}` is locked by {holder}; nothing was changed\nhint: wait for that command to finish and run this again (the lock is released when it exits)"
                );
            }
            if !said {
                eprintln!(
                    "waiting up to {} s for the lock of cluster `{c}`, held by {holder}",
                    wait.as_secs()
                );
                said = true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let me = Holder {
            pid: std::process::id(),
            command: this_command(),
            since: crate::clock::now_micros() / 1_000_000,
        };
        f.set_len(0)?;
        f.rewind()?;
        f.write_all(serde_json::to_string(&me)?.as_bytes())?;
        f.flush()?;
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.clone());
        guard.files.push((c, f));
    }
    Ok(guard)
}

fn read_holder(f: &mut std::fs::File) -> String {
    let mut s = String::new();
    let _ = f.rewind().and_then(|_| f.read_to_string(&mut s));
    match serde_json::from_str::<Holder>(&s) {
        Ok(h) => format!(
            "`{}` (pid {}, since {} UTC)",
            h.command,
            h.pid,
            crate::clock::fmt_utc(h.since)
        ),
        Err(_) => "another pigsty command (it has not said which yet)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_the_lock_frees_on_drop() {
        // the first holder is another process (flock is per open file): a child
        // shell takes the lock file the way a second pigsty would find it held
        let dir = crate::sys::fs::runtime_dir("locks");
        crate::sys::fs::ensure_private_dir(&dir).unwrap();
        let name = format!("test-{}", std::process::id());
        let path = dir.join(format!("{name}.lock"));
        std::fs::write(
            &path,
            r#"{"pid":1,"command":"pigsty pgsql pitr pg-x","since":0}"#,
        )
        .unwrap();
        let mut child = std::process::Command::new("flock")
            .args(["-x", "-o", path.to_str().unwrap(), "sleep", "10"])
            .spawn()
            .unwrap();
        // wait until the child holds it
        let t0 = Instant::now();
        while std::process::Command::new("flock")
            .args(["-n", path.to_str().unwrap(), "true"])
            .status()
            .unwrap()
            .success()
        {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "the child never took the lock"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let e = clusters([name.as_str()], Duration::from_millis(300))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(&format!("cluster `{name}` is locked by `pigsty pgsql pitr pg-x` (pid 1, since 1970-01-01 00:00:00 UTC); nothing was changed")), "{e}");
        let _ = child.kill();
        let _ = child.wait();
        {
            let g = clusters([name.as_str(), name.as_str()], Duration::ZERO).unwrap();
            assert_eq!(g.files.len(), 1);
            let again = clusters([name.as_str()], Duration::ZERO).unwrap();
            assert!(
                again.files.is_empty(),
                "held by this process already: not taken twice"
            );
            let s = std::fs::read_to_string(&path).unwrap();
            assert!(
                s.contains(&format!("\"pid\":{}", std::process::id())),
                "{s}"
            );
        }
        assert!(std::process::Command::new("flock")
            .args(["-n", path.to_str().unwrap(), "true"])
            .status()
            .unwrap()
            .success());
        let _ = std::fs::remove_file(&path);
    }
}
