//! A single-file program installed from the infra node's local repository
//! (`<repo_endpoint>/<repo_name>/<file>`, e.g. `http://10.10.10.10/pigsty/garage`), checked
//! against the repository's `SHA256SUMS` (written by `pigsty repo add`/`repo build`).
use super::{ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use std::path::PathBuf;
use std::time::Duration;

pub const SUMS: &str = "SHA256SUMS";

pub struct RepoBinary {
    /// File name in the repository, e.g. `garage`.
    pub file: String,
    /// Repository URL, e.g. `http://10.10.10.10/pigsty`.
    pub repo: String,
    /// Where it goes, e.g. `/usr/local/bin/garage`.
    pub dest: PathBuf,
    /// The module asking for it (for the error's hint).
    pub module: String,
}

/// The sha256 of `file` in a `SHA256SUMS` text (`<sha>  <name>` lines).
/// `SHA256SUMS` text with `file`'s line replaced (or added), sorted by name.
pub fn update_sums(old: &str, file: &str, sha: &str) -> String {
    let mut lines: Vec<(String, String)> = old
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((
                it.next()?.to_string(),
                it.next()?.trim_start_matches('*').to_string(),
            ))
        })
        .filter(|(_, n)| n != file)
        .collect();
    lines.push((sha.to_string(), file.to_string()));
    lines.sort_by(|a, b| a.1.cmp(&b.1));
    lines.iter().map(|(s, n)| format!("{s}  {n}\n")).collect()
}

pub fn sum_of(sums: &str, file: &str) -> Option<String> {
    sums.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        let (sha, name) = (it.next()?, it.next()?);
        (name.trim_start_matches('*') == file && sha.len() == 64).then(|| sha.to_lowercase())
    })
}

impl RepoBinary {
    fn want_sum(&self) -> ResResult<String> {
        let url = format!("{}/{SUMS}", self.repo);
        let out = Cmd::new("curl")
            .args(["-fsSL", "-m", "30", &url])
            .timeout(Duration::from_secs(40))
            .run()?;
        if !out.success() {
            return Err(self.missing(&format!("cannot read `{url}`: {}", out.stderr.trim())));
        }
        sum_of(&out.stdout, &self.file)
            .ok_or_else(|| self.missing(&format!("`{url}` does not list `{}`", self.file)))
    }
    fn missing(&self, why: &str) -> ResError {
        ResError::msg(format!(
            "module {}: the program `{}` is not in the local repository `{}`: {why}\nhint: on the infra node, `pigsty repo add ./{}` (a binary you built or downloaded), or `pigsty repo build` with internet (see repo-mirror/)",
            self.module, self.file, self.repo, self.file
        ))
    }
}

impl Resource for RepoBinary {
    fn kind(&self) -> &'static str {
        "binary"
    }
    fn name(&self) -> String {
        self.dest.display().to_string()
    }
    fn check(&self) -> ResResult<State> {
        let have = crate::sys::fs::file_sha256(&self.dest);
        let Some(have) = have else {
            return Ok(State::drift(format!(
                "absent: install from {}/{}",
                self.repo, self.file
            )));
        };
        let want = self.want_sum()?;
        Ok(if have == want {
            State::InSync
        } else {
            State::drift(format!("sha256 {} -> {}", &have[..12], &want[..12]))
        })
    }
    fn apply(&self) -> ResResult<()> {
        let want = self.want_sum()?;
        let dir = self
            .dest
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| "/".into());
        std::fs::create_dir_all(&dir)
            .map_err(|e| ResError::msg(format!("creating `{}`: {e}", dir.display())))?;
        let tmp = dir.join(format!(".{}.download", self.file));
        let url = format!("{}/{}", self.repo, self.file);
        let out = Cmd::new("curl")
            .args(["-fsSL", "-m", "600", "-o", &tmp.display().to_string(), &url])
            .timeout(Duration::from_secs(620))
            .run()?;
        if !out.success() {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.missing(&format!("download failed: {}", out.stderr.trim())));
        }
        let got = crate::sys::fs::file_sha256(&tmp).unwrap_or_default();
        if got != want {
            let _ = std::fs::remove_file(&tmp);
            return Err(ResError::msg(format!(
                "`{url}`: sha256 {got} does not match {SUMS} ({want}); nothing installed"
            )));
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .and_then(|_| std::fs::rename(&tmp, &self.dest))
            .map_err(|e| ResError::msg(format!("installing `{}`: {e}", self.dest.display())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_checksum_replaces_the_old_line_of_that_file_only() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let c = "c".repeat(64);
        let old = format!("{a}  garage\n{b}  minio\n");
        let new = update_sums(&old, "garage", &c);
        assert_eq!(new, format!("{c}  garage\n{b}  minio\n"));
        assert_eq!(update_sums("", "x", &a), format!("{a}  x\n"));
    }

    #[test]
    fn sums_are_looked_up_by_file_name() {
        let s = format!("{}  garage\n{} *minio\n", "a".repeat(64), "B".repeat(64));
        assert_eq!(sum_of(&s, "garage"), Some("a".repeat(64)));
        assert_eq!(sum_of(&s, "minio"), Some("b".repeat(64)));
        assert_eq!(sum_of(&s, "mcli"), None);
    }
}
