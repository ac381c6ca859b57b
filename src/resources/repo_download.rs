//! A single-file program fetched from its publisher into the infra node's local
//! repository (`<repo_home>/<repo_name>/<name>`, e.g. `/www/pigsty/garage`), where
//! nodes install it from (`RepoBinary`). Where it comes from is the offline manifest's
//! `binaries:` entry (`repo-mirror/debian-NN.yml`: `url`, and the publisher's
//! `sha256_url` or a pinned `sha256`); `PIGSTY_BINARY_URL` in the environment of the
//! command on the infra node replaces the publisher as `install.sh`'s
//! `PIGSTY_DOWNLOAD_URL` does: `<base>/<name>` with its checksum in `<base>/<name>.sha256`.
//!
//! In sync when the file is there and matches its line in `SHA256SUMS` (so a program
//! put there with `pigsty repo add` is kept). A download whose checksum differs from
//! the published one is thrown away: the repository keeps what it had.
use super::repo_binary::{sum_of, SUMS};
use super::{ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use std::path::PathBuf;
use std::time::Duration;

/// The environment variable that points every download at another base URL.
pub const BASE_ENV: &str = "PIGSTY_BINARY_URL";

#[derive(Debug, Clone, Default)]
pub struct RepoDownload {
    /// File name in the repository, e.g. `garage`.
    pub name: String,
    pub version: String,
    pub url: String,
    pub sha256_url: Option<String>,
    pub sha256: Option<String>,
    /// The repository directory (`/www/pigsty`).
    pub dir: PathBuf,
    /// The override base URL (`PIGSTY_BINARY_URL`), read where the resource runs;
    /// tests set it here.
    pub base: Option<String>,
}

impl RepoDownload {
    /// The entry `name` of the manifest text's `binaries:` (None: no such entry).
    pub fn from_manifest(manifest: &str, name: &str, dir: PathBuf) -> Option<RepoDownload> {
        let doc: serde_yaml::Value = serde_yaml::from_str(manifest).ok()?;
        let e = doc.get("binaries")?.get(name)?;
        let s = |k: &str| {
            e.get(k).and_then(|v| match v {
                serde_yaml::Value::String(s) => Some(s.clone()),
                serde_yaml::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        Some(RepoDownload {
            name: name.into(),
            version: s("version").unwrap_or_default(),
            url: s("url")?,
            sha256_url: s("sha256_url"),
            sha256: s("sha256").map(|x| x.to_lowercase()),
            dir,
            base: None,
        })
    }

    fn base(&self) -> Option<String> {
        self.base
            .clone()
            .or_else(|| std::env::var(BASE_ENV).ok())
            .map(|b| b.trim().trim_end_matches('/').to_string())
            .filter(|b| !b.is_empty())
    }

    /// (file URL, checksum URL, pinned checksum).
    fn source(&self) -> (String, Option<String>, Option<String>) {
        match self.base() {
            Some(b) => (
                format!("{b}/{}", self.name),
                Some(format!("{b}/{}.sha256", self.name)),
                None,
            ),
            None => (
                self.url.clone(),
                self.sha256_url.clone(),
                self.sha256.clone(),
            ),
        }
    }

    fn in_repo(&self) -> bool {
        let sums = std::fs::read_to_string(self.dir.join(SUMS)).unwrap_or_default();
        match (
            sum_of(&sums, &self.name),
            crate::sys::fs::file_sha256(&self.dir.join(&self.name)),
        ) {
            (Some(want), Some(have)) => want == have,
            _ => false,
        }
    }

    fn fetch(url: &str, out: Option<&std::path::Path>) -> ResResult<String> {
        let mut c = Cmd::new("curl").args([
            "-fsSL",
            "--retry",
            "2",
            "--connect-timeout",
            "10",
            "-m",
            "900",
        ]);
        if let Some(o) = out {
            c = c.arg("-o").arg(o.display().to_string());
        }
        let r = c.arg(url).timeout(Duration::from_secs(960)).run()?;
        if !r.success() {
            return Err(ResError::msg(format!(
                "downloading `{url}`: {}\nhint: check the infra node's network access, or set {BASE_ENV} to a server holding the file and its `.sha256` (or put a copy there with `pigsty repo add FILE`)",
                r.stderr.trim()
            )));
        }
        Ok(r.stdout)
    }
}

/// The first 64-hex word of a `.sha256` file (`<sha>  <name>` or the bare sum).
pub fn published_sum(text: &str) -> Option<String> {
    text.split_whitespace()
        .next()
        .filter(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_lowercase)
}

impl Resource for RepoDownload {
    fn kind(&self) -> &'static str {
        "download"
    }
    fn name(&self) -> String {
        format!("{} {} into {}", self.name, self.version, self.dir.display())
    }
    fn check(&self) -> ResResult<State> {
        if self.in_repo() {
            return Ok(State::InSync);
        }
        let (url, sha_url, pinned) = self.source();
        let from = match (pinned, sha_url) {
            (Some(_), _) => "its pinned sha256".to_string(),
            (None, Some(u)) => u,
            (None, None) => "nowhere".into(),
        };
        Ok(State::drift(format!(
            "download {url} (checksum from {from})"
        )))
    }
    fn apply(&self) -> ResResult<()> {
        let (url, sha_url, pinned) = self.source();
        let want = match (pinned, sha_url) {
            (Some(s), _) => s,
            (None, Some(u)) => published_sum(&Self::fetch(&u, None)?).ok_or_else(|| {
                ResError::msg(format!("`{u}` holds no sha256 (64 hex digits first)"))
            })?,
            (None, None) => {
                return Err(ResError::msg(format!(
                    "the manifest gives `{}` no sha256 and no sha256_url: it is not downloaded unchecked",
                    self.name
                )))
            }
        };
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| ResError::msg(format!("creating {}: {e}", self.dir.display())))?;
        let part = self.dir.join(format!(".{}.part", self.name));
        let done = Self::fetch(&url, Some(&part)).and_then(|_| {
            let have = crate::sys::fs::file_sha256(&part).unwrap_or_default();
            if have != want {
                return Err(ResError::msg(format!(
                    "`{url}` has sha256 {have}, but the published one is {want}: not kept, the repository is as it was"
                )));
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&part, std::fs::Permissions::from_mode(0o755))
                .and_then(|_| std::fs::rename(&part, self.dir.join(&self.name)))
                .map_err(|e| ResError::msg(format!("placing {}: {e}", self.name)))
        });
        if done.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        done?;
        let sums = self.dir.join(SUMS);
        let old = std::fs::read_to_string(&sums).unwrap_or_default();
        crate::sys::fs::write_atomic(
            &sums,
            super::repo_binary::update_sums(&old, &self.name, &want).as_bytes(),
            0o644,
            None,
            None,
        )
        .map_err(|e| ResError::msg(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const MANIFEST: &str = "binaries:\n  garage:\n    version: 2.5.0\n    url: https://example.invalid/garage\n    sha256_url: https://example.invalid/garage.sha256\n  pinned:\n    version: 1\n    url: https://example.invalid/p\n    sha256: ABC\n";

    #[test]
    fn entries_come_from_the_manifest_and_the_base_replaces_the_publisher() {
        let d = RepoDownload::from_manifest(MANIFEST, "garage", "/www/pigsty".into()).unwrap();
        assert_eq!(
            (d.version.as_str(), d.url.as_str()),
            ("2.5.0", "https://example.invalid/garage")
        );
        assert_eq!(
            d.source().1.as_deref(),
            Some("https://example.invalid/garage.sha256")
        );
        let p = RepoDownload::from_manifest(MANIFEST, "pinned", "/x".into()).unwrap();
        assert_eq!(p.source().2.as_deref(), Some("abc"));
        let mut b = p.clone();
        b.base = Some("http://127.0.0.1:8000/dl/".into());
        assert_eq!(
            b.source(),
            (
                "http://127.0.0.1:8000/dl/pinned".into(),
                Some("http://127.0.0.1:8000/dl/pinned.sha256".into()),
                None
            )
        );
        assert!(RepoDownload::from_manifest(MANIFEST, "nope", "/x".into()).is_none());
        assert_eq!(
            published_sum(&format!("{}  garage\n", "A".repeat(64))),
            Some("a".repeat(64))
        );
        assert_eq!(published_sum("404 not found"), None);
    }

    /// A one-shot HTTP server on loopback: each connection gets the next body.
    fn serve(bodies: Vec<Vec<u8>>) -> String {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for (c, body) in l.incoming().zip(bodies) {
                let mut c = c.unwrap();
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(&body);
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn a_download_is_kept_only_with_the_published_checksum() {
        if !Cmd::new("curl").arg("--version").succeeds() {
            return; // no curl on this machine
        }
        let d = tempfile::tempdir().unwrap();
        let bin = b"#!/bin/sh\necho garage\n".to_vec();
        let sum = hex::encode(Sha256::digest(&bin));
        // the checksum first, then the file
        let base = serve(vec![format!("{sum}  garage\n").into_bytes(), bin.clone()]);
        let r = RepoDownload {
            name: "garage".into(),
            version: "2.5.0".into(),
            dir: d.path().to_path_buf(),
            base: Some(base),
            ..Default::default()
        };
        assert!(matches!(r.check().unwrap(), State::Drift(_)));
        r.apply().unwrap();
        assert_eq!(std::fs::read(d.path().join("garage")).unwrap(), bin);
        assert_eq!(
            std::fs::read_to_string(d.path().join(SUMS)).unwrap(),
            format!("{sum}  garage\n")
        );
        assert_eq!(r.check().unwrap(), State::InSync);

        // a file that is not what the checksum says: refused, the repository unchanged
        let bad = RepoDownload {
            base: Some(serve(vec![
                format!("{}  garage\n", "0".repeat(64)).into_bytes(),
                b"evil".to_vec(),
            ])),
            ..r.clone()
        };
        std::fs::remove_file(d.path().join(SUMS)).unwrap();
        let e = bad.apply().unwrap_err().to_string();
        assert!(e.contains("not kept, the repository is as it was"), "{e}");
        assert_eq!(std::fs::read(d.path().join("garage")).unwrap(), bin);
        assert!(!d.path().join(".garage.part").exists());
        assert!(!d.path().join(SUMS).exists());
    }
}
