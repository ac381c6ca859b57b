//! The local package repository (`pigsty repo build`): every package the inventory's
//! modules install, with its full dependency closure for this distro, downloaded into
//! `<repo_home>/<repo_name>` (`/www/pigsty`) on the infra node and indexed as a flat
//! apt repository (`Packages`, `Packages.gz`, `Release`) that nginx serves and nodes
//! trust (`[trusted=yes]`: the repository is the admin's own, on the admin network).
//!
//! The package list comes from the modules' own plans (each `Package` resource), so
//! it is exactly what a deploy installs. Downloads use the upstream sources: the
//! node's apt sources, or the ones `node_repo_remove` moved to `/etc/apt/backup`,
//! through a private apt state (`/var/lib/pigsty/repo-apt`), so the node's own apt
//! setup is never touched. Re-running downloads only files that are missing or whose
//! checksum differs.
use crate::facts::Facts;
use crate::inventory::Inventory;
use crate::modules::{self, Ctx};
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const STATE: &str = "/var/lib/pigsty/repo-apt";

/// The offline manifest of a release (`repo-mirror/debian-13.yml`), by the facts of
/// the machine whose packages it lists.
pub fn manifest_name(facts: &Facts) -> String {
    format!("{}.yml", facts.distro_key())
}

/// Every package the modules of every host would install: name -> modules asking.
pub fn wanted_packages(
    inv: &Inventory,
    facts: &Facts,
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for h in &inv.hosts {
        let mut facts = facts.clone();
        if h.modules().contains(&crate::inventory::Module::Pgsql) {
            facts.gather_postgres(h.str("pg_data").unwrap_or_default());
        }
        for m in h.modules() {
            let mut facts = facts.clone();
            facts.gather_versions(modules::versioned_packages(m));
            let ctx = Ctx::new(inv, h, &facts).with(&crate::options::PACKAGES_ONLY);
            let plan = match modules::plan(m, &ctx) {
                Ok(p) => p,
                Err(e) if format!("{e:#}").contains("not built yet") => continue,
                Err(e) => return Err(e.context(format!("planning module {m} on `{}`", h.addr))),
            };
            for s in plan.steps() {
                for p in s.res.packages() {
                    out.entry(p).or_default().insert(m.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// A private apt configuration over the upstream sources.
pub struct UpstreamApt {
    pub state: PathBuf,
}

impl UpstreamApt {
    /// Copy the upstream source files (current ones, or those moved to the backup
    /// directory; never our local repository), and the `repo_upstream` entries this node
    /// uses (`pigsty-*.sources`), into a private sources directory.
    pub fn prepare(state: &Path) -> Result<Self> {
        let parts = state.join("sources.list.d");
        let _ = std::fs::remove_dir_all(&parts);
        std::fs::create_dir_all(&parts)?;
        std::fs::create_dir_all(state.join("lists/partial"))?;
        std::fs::create_dir_all(state.join("cache/archives/partial"))?;
        let mut n = 0;
        for dir in [
            crate::resources::apt_repo::BACKUP,
            "/etc/apt/sources.list.d",
        ] {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let name = p
                    .file_name()
                    .and_then(|x| x.to_str())
                    .unwrap_or("")
                    .to_string();
                if name == "pigsty-local.list"
                    || !(name.ends_with(".list") || name.ends_with(".sources"))
                {
                    continue;
                }
                let body = std::fs::read_to_string(&p).unwrap_or_default();
                if body.contains("[trusted=yes] file:") || body.contains("/pigsty/ ./") {
                    continue;
                }
                std::fs::write(parts.join(&name), body)?;
                n += 1;
            }
            if n > 0 {
                break; // the backup holds the originals: do not mix in a second set
            }
        }
        // the repo_upstream entries this node uses (node_repo_modules) are sources too
        if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with("pigsty-")
                    && name.ends_with(".sources")
                    && !parts.join(&name).exists()
                {
                    std::fs::write(parts.join(&name), std::fs::read_to_string(e.path())?)?;
                }
            }
        }
        for main in [
            format!("{}/sources.list", crate::resources::apt_repo::BACKUP),
            "/etc/apt/sources.list".to_string(),
        ] {
            let body = std::fs::read_to_string(&main).unwrap_or_default();
            if body.lines().any(|l| l.trim_start().starts_with("deb"))
                && !body.contains("/pigsty/ ./")
            {
                std::fs::write(parts.join("upstream-main.list"), body)?;
                n += 1;
                break;
            }
        }
        if n == 0 {
            bail!("no upstream apt source on this machine (in /etc/apt or {}); nothing to download from\nhint: an offline machine installs from a bundle (`pigsty install --pkg FILE`)", crate::resources::apt_repo::BACKUP);
        }
        Ok(UpstreamApt {
            state: state.to_path_buf(),
        })
    }

    fn opts(&self) -> Vec<String> {
        let s = self.state.display();
        vec![
            "-o".into(),
            "Dir::Etc::SourceList=/dev/null".into(),
            "-o".into(),
            format!("Dir::Etc::SourceParts={s}/sources.list.d"),
            "-o".into(),
            format!("Dir::State::Lists={s}/lists"),
            "-o".into(),
            format!("Dir::Cache={s}/cache"),
            "-o".into(),
            "Debug::NoLocking=1".into(),
        ]
    }

    pub fn cmd(&self, tool: &str) -> Cmd {
        Cmd::new(tool)
            .args(self.opts())
            .env("DEBIAN_FRONTEND", "noninteractive")
            .timeout(Duration::from_secs(1800))
    }

    pub fn update(&self) -> Result<()> {
        self.cmd("apt-get")
            .args(["update", "-q"])
            .ok()
            .context("apt-get update over the upstream sources")?;
        Ok(())
    }

    /// Names that some upstream source offers, and those none does.
    pub fn available(&self, names: &[String]) -> Result<(Vec<String>, Vec<String>)> {
        let out = self
            .cmd("apt-cache")
            .arg("policy")
            .args(names.iter().cloned())
            .run()?;
        let mut have = BTreeSet::new();
        let mut cur: Option<String> = None;
        for l in out.stdout.lines() {
            if !l.starts_with(' ') && l.ends_with(':') {
                cur = Some(l.trim_end_matches(':').to_string());
            } else if let (Some(c), Some(v)) = (&cur, l.trim().strip_prefix("Candidate:")) {
                if v.trim() != "(none)" {
                    have.insert(c.clone());
                }
            }
        }
        Ok(names.iter().cloned().partition(|n| have.contains(n)))
    }

    /// The dependency closure of `names` (Depends and PreDepends, every alternative),
    /// real packages only.
    pub fn closure(&self, names: &[String]) -> Result<Vec<String>> {
        let out = self
            .cmd("apt-cache")
            .args([
                "depends",
                "--recurse",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
            ])
            .args(names.iter().cloned())
            .ok()
            .context("apt-cache depends over the upstream sources")?;
        Ok(parse_closure(&out.stdout))
    }

    /// (package, file name, sha256, size) of the candidate of each name.
    pub fn files(&self, names: &[String]) -> Result<Vec<DebFile>> {
        let out = self
            .cmd("apt-cache")
            .args(["show", "--no-all-versions"])
            .args(names.iter().cloned())
            .ok()?;
        Ok(parse_show(&out.stdout))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DebFile {
    pub package: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

/// Top-level lines of `apt-cache depends --recurse`: real package names (virtual
/// ones come as `<name>`; other architectures as `name:arch`).
pub fn parse_closure(text: &str) -> Vec<String> {
    let mut v: BTreeSet<String> = BTreeSet::new();
    for l in text.lines() {
        if l.starts_with(' ') || l.starts_with('<') || l.trim().is_empty() || l.contains(':') {
            continue;
        }
        v.insert(l.trim().to_string());
    }
    v.into_iter().collect()
}

pub fn parse_show(text: &str) -> Vec<DebFile> {
    let mut out = vec![];
    for para in text.split("\n\n") {
        let field = |k: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .map(str::trim)
                .map(String::from)
        };
        if let (Some(package), Some(file), Some(sha256)) =
            (field("Package"), field("Filename"), field("SHA256"))
        {
            let file = file.rsplit('/').next().unwrap_or(&file).to_string();
            let size = field("Size").and_then(|s| s.parse().ok()).unwrap_or(0);
            if !out.iter().any(|d: &DebFile| d.package == package) {
                out.push(DebFile {
                    package,
                    file,
                    sha256,
                    size,
                });
            }
        }
    }
    out
}

/// Files of `want` that are not in `dir` with the right checksum.
pub fn missing_files(dir: &Path, want: &[DebFile]) -> Vec<DebFile> {
    want.iter()
        .filter(|d| {
            crate::sys::fs::file_sha256(&dir.join(&d.file)).as_deref() != Some(d.sha256.as_str())
        })
        .cloned()
        .collect()
}

/// `Packages`, `Packages.gz` and `Release` for the flat repository in `dir`.
///
/// `codename` (the release the packages are for, `trixie`) goes into `Release` as
/// `Codename:`: a node of another release refuses the repository (`LocalRepo`).
pub fn index(dir: &Path, codename: &str) -> Result<()> {
    if codename.is_empty() || !codename.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("indexing the repository: `{codename}` is not a release codename");
    }
    let d = dir.display().to_string();
    let sh = format!(
        "cd '{d}' && apt-ftparchive packages . > Packages.tmp && mv Packages.tmp Packages && gzip -9nc Packages > Packages.gz && apt-ftparchive -o APT::FTPArchive::Release::Origin=pigsty -o APT::FTPArchive::Release::Label=pigsty -o APT::FTPArchive::Release::Codename={codename} -o APT::FTPArchive::Release::Suite={codename} release . > Release.tmp && mv Release.tmp Release"
    );
    Cmd::new("sh")
        .args(["-c", &sh])
        .timeout(Duration::from_secs(600))
        .ok()
        .context("indexing the repository (apt-ftparchive)")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closure_keeps_real_packages_only() {
        let text = "patroni\n  Depends: python3\n |Depends: python3-psycopg2\n  Depends: <python3:any>\npython3\n<python3:any>\nlibc6:i386\npython3-psycopg2\n";
        assert_eq!(
            parse_closure(text),
            vec!["patroni", "python3", "python3-psycopg2"]
        );
    }

    #[test]
    fn show_gives_the_file_and_checksum_of_each_candidate() {
        let text = "Package: patroni\nVersion: 3.0.2-1\nFilename: pool/main/p/patroni/patroni_3.0.2-1_all.deb\nSize: 1234\nSHA256: abc\n\nPackage: patroni\nVersion: 3.0.1-1\nFilename: pool/main/p/patroni/patroni_3.0.1-1_all.deb\nSHA256: old\n";
        let f = parse_show(text);
        assert_eq!(
            f,
            vec![DebFile {
                package: "patroni".into(),
                file: "patroni_3.0.2-1_all.deb".into(),
                sha256: "abc".into(),
                size: 1234
            }]
        );
        let d = tempfile::tempdir().unwrap();
        assert_eq!(missing_files(d.path(), &f).len(), 1);
    }

    #[test]
    fn the_meta_inventory_wants_the_stack_of_every_module() {
        let inv = crate::modules::pgsql::tests::meta_inventory();
        let facts = crate::facts::Facts::test_meta();
        let w = match wanted_packages(&inv, &facts) {
            Ok(w) => w,
            Err(e) if format!("{e:#}").contains("postgresql") => return, // no apt candidates on this machine
            Err(e) => panic!("{e:#}"),
        };
        for p in ["haproxy", "etcd-server", "patroni", "prometheus", "nginx"] {
            assert!(
                w.contains_key(p),
                "{p} not in {:?}",
                w.keys().collect::<Vec<_>>()
            );
        }
        assert!(w["patroni"].contains("pgsql"));
    }
}

#[cfg(test)]
mod manifest_tests {
    use super::*;

    #[test]
    fn every_supported_release_has_a_manifest_of_its_own() {
        for v in crate::facts::SUPPORTED_DEBIAN {
            let mut f = Facts::test_meta();
            f.os_version_id = v.to_string();
            let name = manifest_name(&f);
            let text = crate::assets::REPO_MIRROR
                .get_file(&name)
                .and_then(|f| f.contents_utf8())
                .unwrap_or_else(|| panic!("repo-mirror/{name} is missing"));
            let m: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
            assert_eq!(m["release"].as_str(), Some(*v), "{name}");
            assert_eq!(m["distro"].as_str(), Some("debian"), "{name}");
        }
    }
}
