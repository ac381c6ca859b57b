//! `pigsty repo list` and `pigsty repo build`: what each module installs, and the
//! local package repository on the infra node (see `crate::repo`).
use crate::cli::Global;
use crate::facts::Facts;
use crate::repo::{self, UpstreamApt};
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `pigsty repo list`: the manifest's repositories and, per module of this
/// inventory, the packages its plans install.
pub fn list(g: &Global) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let facts = Facts::gather();
    let name = repo::manifest_name(&facts);
    let manifest = crate::assets::REPO_MIRROR
        .get_file(&name)
        .and_then(|f| f.contents_utf8())
        .with_context(|| {
            format!("no embedded manifest repo-mirror/{name} for this machine's release")
        })?;
    let m: serde_yaml::Value = serde_yaml::from_str(manifest)?;
    println!("upstream repositories (repo-mirror/{name}):");
    if let Some(r) = m.get("repositories").and_then(|r| r.as_mapping()) {
        for (k, v) in r {
            println!(
                "  {:<16} {}",
                k.as_str().unwrap_or(""),
                v.get("uri").and_then(|u| u.as_str()).unwrap_or("")
            );
        }
    }
    let wanted = repo::wanted_packages(&inv, &facts)?;
    let mut by_module: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for (p, mods) in &wanted {
        for md in mods {
            by_module.entry(md.clone()).or_default().push(p);
        }
    }
    println!(
        "packages the inventory's modules install ({} in all):",
        wanted.len()
    );
    for (md, ps) in by_module {
        println!("  {md:<6} {}", ps.join(" "));
    }
    Ok(0)
}

/// `pigsty repo build`: on an infra node, mirror every package the inventory needs.
pub fn build(g: &Global) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let facts = Facts::gather();
    crate::runner::preflight(&facts, "repo build")?;
    let Some(me) = inv
        .infra_hosts()
        .into_iter()
        .find(|h| crate::controller::is_local(&h.addr, &facts))
    else {
        bail!(
            "this machine is not an infra node of `{}`; the repository lives on one\nhint: run it there (infra: {})",
            inv.path.display(),
            inv.infra_hosts().iter().map(|h| h.addr.as_str()).collect::<Vec<_>>().join(", ")
        );
    };
    let dir = PathBuf::from(me.var_str("repo_home")).join(me.var_str("repo_name"));
    let t0 = Instant::now();
    if !Cmd::new("sh")
        .args(["-c", "command -v apt-ftparchive"])
        .succeeds()
    {
        eprintln!("installing apt-utils (apt-ftparchive indexes the repository)");
        Cmd::new("apt-get")
            .args([
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "apt-utils",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .timeout(Duration::from_secs(600))
            .ok()
            .context("installing apt-utils")?;
    }
    let wanted = repo::wanted_packages(&inv, &facts)?;
    let names: Vec<String> = wanted.keys().cloned().collect();
    eprintln!(
        "{} packages named by the modules of {} hosts",
        names.len(),
        inv.hosts.len()
    );
    let apt = UpstreamApt::prepare(std::path::Path::new(repo::STATE))?;
    eprintln!("refreshing the upstream package lists");
    apt.update()?;
    let (have, none) = apt.available(&names)?;
    for n in &none {
        eprintln!(
            "skipped: `{n}` ({}) is not offered by any upstream source",
            wanted[n].iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let closure = apt.closure(&have)?;
    let files = apt.files(&closure)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let missing = repo::missing_files(&dir, &files);
    let total: u64 = files.iter().map(|f| f.size).sum();
    let need: u64 = missing.iter().map(|f| f.size).sum();
    eprintln!(
        "{} packages with their dependencies ({:.1} MiB); {} to download ({:.1} MiB)",
        files.len(),
        total as f64 / 1048576.0,
        missing.len(),
        need as f64 / 1048576.0
    );
    for chunk in missing.chunks(64) {
        let pkgs: Vec<String> = chunk.iter().map(|f| f.package.clone()).collect();
        apt.cmd("apt-get")
            .args(["download", "-q"])
            .args(pkgs)
            .cwd(dir.display().to_string())
            .ok()
            .context("apt-get download")?;
    }
    settle_names(&dir, &files)?;
    let still = repo::missing_files(&dir, &files);
    if !still.is_empty() {
        bail!(
            "{} package file(s) did not arrive with the right checksum: {}",
            still.len(),
            still
                .iter()
                .take(8)
                .map(|f| f.file.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    repo::index(&dir, &facts.os_codename)?;
    // single-file programs (Garage) come from their publishers, checksum checked
    for d in crate::modules::infra::downloads(&inv, me, &facts) {
        use crate::resources::{Resource, State};
        match d {
            Ok(d) if matches!(d.check(), Ok(State::InSync)) => {
                eprintln!("{} is in the repository (SHA256SUMS)", d.name)
            }
            Ok(d) => {
                eprintln!("download: {}", d.name());
                if let Err(e) = d.apply() {
                    eprintln!("warning: {} is not in the repository: {e}", d.name);
                }
            }
            Err(why) => eprintln!("skipped: {why}"),
        }
    }
    let url = format!(
        "{}/{}/",
        me.expand(me.var_str("repo_endpoint")).trim_end_matches('/'),
        me.var_str("repo_name")
    );
    println!(
        "repository {} ready in {:.0}s: {} packages, {:.1} MiB, served at {url}\nnodes with `node_repo_modules: local` use it from their next deploy{}",
        dir.display(),
        t0.elapsed().as_secs_f64(),
        files.len(),
        total as f64 / 1048576.0,
        if me.var_bool("node_repo_remove") { " as their only source (node_repo_remove)" } else { "" }
    );
    Ok(0)
}

/// `apt-get download` names files `name_version_arch.deb` with the epoch (`1%3a`);
/// the index and our checks use the pool names. Rename by checksum.
fn settle_names(dir: &std::path::Path, files: &[repo::DebFile]) -> Result<()> {
    let missing = repo::missing_files(dir, files);
    if missing.is_empty() {
        return Ok(());
    }
    let wanted: std::collections::BTreeSet<&str> = files.iter().map(|f| f.file.as_str()).collect();
    let mut by_sha = std::collections::HashMap::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n.ends_with(".deb") && !wanted.contains(n.as_str()) {
            if let Some(s) = crate::sys::fs::file_sha256(&e.path()) {
                by_sha.insert(s, e.path());
            }
        }
    }
    for f in missing {
        if let Some(p) = by_sha.get(&f.sha256) {
            std::fs::rename(p, dir.join(&f.file))?;
        }
    }
    Ok(())
}

/// What a bundle records about the machine it was built on.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct BundleManifest {
    pub os_id: String,
    pub version_id: String,
    pub codename: String,
    pub arch: String,
    pub pigsty: String,
    pub packages: usize,
    pub created: u64,
}

pub const BUNDLE_DIR: &str = "pigsty-bundle";

fn os_release() -> BTreeMapS {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}
type BTreeMapS = std::collections::BTreeMap<String, String>;

fn this_machine() -> BundleManifest {
    let os = os_release();
    let arch = Cmd::new("dpkg")
        .arg("--print-architecture")
        .run()
        .ok()
        .map(|o| o.stdout.trim().to_string())
        .unwrap_or_default();
    BundleManifest {
        os_id: os.get("ID").cloned().unwrap_or_default(),
        version_id: os.get("VERSION_ID").cloned().unwrap_or_default(),
        codename: os.get("VERSION_CODENAME").cloned().unwrap_or_default(),
        arch,
        pigsty: env!("CARGO_PKG_VERSION").into(),
        packages: 0,
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

/// Why a bundle cannot go on this machine, if it cannot.
pub fn bundle_mismatch(bundle: &BundleManifest, here: &BundleManifest) -> Option<String> {
    let b = format!(
        "{} {} ({}) {}",
        bundle.os_id, bundle.version_id, bundle.codename, bundle.arch
    );
    let h = format!(
        "{} {} ({}) {}",
        here.os_id, here.version_id, here.codename, here.arch
    );
    (bundle.os_id != here.os_id || bundle.version_id != here.version_id || bundle.arch != here.arch).then(|| {
        format!("the bundle was built on {b} but this machine is {h}; its packages would not fit this package database, so nothing was changed\nhint: build the bundle on a machine with the same OS release (`pigsty repo build && pigsty repo pack` there)")
    })
}

/// `pigsty repo pack [-o FILE]`: the local repository plus this binary in one tar,
/// with `FILE.sha256` next to it.
pub fn pack(g: &Global, output: Option<&std::path::Path>) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let facts = Facts::gather();
    let me = inv
        .infra_hosts()
        .into_iter()
        .find(|h| crate::controller::is_local(&h.addr, &facts));
    let home = me
        .map(|h| h.var_str("repo_home"))
        .unwrap_or_else(|| crate::inventory::default_str("repo_home"));
    let name = me
        .map(|h| h.var_str("repo_name"))
        .unwrap_or_else(|| crate::inventory::default_str("repo_name"));
    let dir = PathBuf::from(home).join(name);
    let index = std::fs::read_to_string(dir.join("Packages")).map_err(|_| {
        anyhow::anyhow!("no repository in `{}` (no Packages index); nothing was written\nhint: `pigsty repo build` first", dir.display())
    })?;
    let mut m = this_machine();
    m.packages = index.lines().filter(|l| l.starts_with("Package: ")).count();
    let out = output.map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(format!(
            "/tmp/pigsty-{}{}-{}.tar",
            m.os_id, m.version_id, m.arch
        ))
    });
    // staged in a fresh private directory (mkdtemp: a random name, 0700), never a
    // guessable path another user could have prepared
    let stage = nix::unistd::mkdtemp(&std::env::temp_dir().join("pigsty-pack-XXXXXX"))
        .context("a private staging directory for the bundle")?;
    let b = stage.join(BUNDLE_DIR);
    std::fs::create_dir_all(&b)?;
    std::fs::write(b.join("manifest.json"), serde_json::to_string_pretty(&m)?)?;
    std::fs::copy(std::env::current_exe()?, b.join("pigsty"))?;
    std::os::unix::fs::symlink(&dir, b.join("repo"))?;
    // tar writes into a file made here and now (create_new: never through a link or
    // into a file someone else placed), renamed over the bundle when complete
    let tmp = out.with_extension("tar.partial");
    let _ = std::fs::remove_file(&tmp);
    if let Err(e) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
    {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(e).with_context(|| format!("creating `{}`", tmp.display()));
    }
    let tmp_ok = Cmd::new("tar")
        .args([
            "-C",
            &stage.display().to_string(),
            "-chf",
            &tmp.display().to_string(),
            BUNDLE_DIR,
        ])
        .timeout(Duration::from_secs(1800))
        .ok()
        .context("writing the bundle with tar");
    let _ = std::fs::remove_dir_all(&stage);
    let _ = tmp_ok?;
    std::fs::rename(&tmp, &out)?;
    let sum = crate::sys::fs::file_sha256(&out).context("checksum of the bundle")?;
    let fname = out
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    std::fs::write(
        format!("{}.sha256", out.display()),
        format!("{sum}  {fname}\n"),
    )?;
    let size = std::fs::metadata(&out).map(|x| x.len()).unwrap_or(0);
    println!(
        "bundle {} ({:.1} MiB, {} packages, {} {} {}), checksum in {}.sha256\ninstall offline: pigsty install --pkg {}",
        out.display(),
        size as f64 / 1048576.0,
        m.packages,
        m.os_id,
        m.version_id,
        m.arch,
        out.display(),
        fname
    );
    Ok(0)
}

/// `pigsty install --pkg FILE`, first half: verify the bundle (checksum, OS release)
/// and unpack its repository into `/www/pigsty`. Nothing is changed on a mismatch.
pub fn unpack_bundle(file: &std::path::Path, repo_dir: &std::path::Path) -> Result<BundleManifest> {
    if !file.is_file() {
        bail!("bundle `{}` not found; nothing was changed", file.display());
    }
    let side = PathBuf::from(format!("{}.sha256", file.display()));
    match std::fs::read_to_string(&side) {
        Ok(t) => {
            let want = t.split_whitespace().next().unwrap_or("").to_string();
            let got = crate::sys::fs::file_sha256(file).unwrap_or_default();
            if want != got {
                bail!("bundle `{}` does not match its checksum in `{}` (got {got}); it is damaged or not the one the checksum is for; nothing was changed", file.display(), side.display());
            }
        }
        Err(_) => bail!("no checksum file `{}` next to the bundle; nothing was changed\nhint: copy the `.sha256` that `pigsty repo pack` wrote along with the bundle", side.display()),
    }
    let raw = Cmd::new("tar")
        .args([
            "-xOf",
            &file.display().to_string(),
            &format!("{BUNDLE_DIR}/manifest.json"),
        ])
        .ok()
        .with_context(|| {
            format!(
                "`{}` is not a pigsty bundle (no manifest.json)",
                file.display()
            )
        })?;
    let m: BundleManifest =
        serde_json::from_str(&raw.stdout).context("the bundle's manifest.json is not valid")?;
    if let Some(why) = bundle_mismatch(&m, &this_machine()) {
        bail!("{why}");
    }
    std::fs::create_dir_all(repo_dir)?;
    Cmd::new("tar")
        .args([
            "-xf",
            &file.display().to_string(),
            "-C",
            &repo_dir.display().to_string(),
            "--strip-components=2",
            &format!("{BUNDLE_DIR}/repo"),
        ])
        .timeout(Duration::from_secs(1800))
        .ok()
        .context("unpacking the bundle's repository")?;
    eprintln!(
        "unpacked {} packages into {} (bundle for {} {} {})",
        m.packages,
        repo_dir.display(),
        m.os_id,
        m.version_id,
        m.arch
    );
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, v: &str, arch: &str) -> BundleManifest {
        BundleManifest {
            os_id: id.into(),
            version_id: v.into(),
            codename: "bookworm".into(),
            arch: arch.into(),
            pigsty: "0".into(),
            packages: 1,
            created: 0,
        }
    }

    #[test]
    fn a_bundle_goes_only_on_the_release_it_was_built_on() {
        assert!(
            bundle_mismatch(&m("debian", "12", "amd64"), &m("debian", "12", "amd64")).is_none()
        );
        let e = bundle_mismatch(&m("debian", "12", "amd64"), &m("debian", "13", "amd64")).unwrap();
        assert!(
            e.contains("built on debian 12")
                && e.contains("this machine is debian 13")
                && e.contains("nothing was changed"),
            "{e}"
        );
        assert!(
            bundle_mismatch(&m("debian", "12", "amd64"), &m("ubuntu", "12", "amd64")).is_some()
        );
        assert!(
            bundle_mismatch(&m("debian", "12", "amd64"), &m("debian", "12", "arm64")).is_some()
        );
    }

    #[test]
    fn a_damaged_or_unchecked_bundle_is_refused_before_anything_changes() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("b.tar");
        std::fs::write(&f, "not a tar").unwrap();
        let repo = d.path().join("www/pigsty");
        let e = unpack_bundle(&f, &repo).unwrap_err().to_string();
        assert!(e.contains("no checksum file"), "{e}");
        std::fs::write(d.path().join("b.tar.sha256"), "0000  b.tar\n").unwrap();
        let e = unpack_bundle(&f, &repo).unwrap_err().to_string();
        assert!(e.contains("does not match its checksum"), "{e}");
        assert!(!repo.exists());
    }
}
