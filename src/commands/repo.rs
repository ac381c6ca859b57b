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
    let manifest = crate::assets::REPO_MIRROR
        .get_file("debian-12.yml")
        .and_then(|f| f.contents_utf8())
        .context("embedded manifest repo-mirror/debian-12.yml is missing")?;
    let m: serde_yaml::Value = serde_yaml::from_str(manifest)?;
    println!("upstream repositories (repo-mirror/debian-12.yml):");
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
    let dir = PathBuf::from(me.str("repo_home").unwrap_or("/www"))
        .join(me.str("repo_name").unwrap_or("pigsty"));
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
    repo::index(&dir)?;
    let url = format!(
        "{}/{}/",
        me.expand(me.str("repo_endpoint").unwrap_or("http://${admin_ip}:80"))
            .trim_end_matches('/'),
        me.str("repo_name").unwrap_or("pigsty")
    );
    println!(
        "repository {} ready in {:.0}s: {} packages, {:.1} MiB, served at {url}\nnodes with `node_repo_modules: local` use it from their next deploy{}",
        dir.display(),
        t0.elapsed().as_secs_f64(),
        files.len(),
        total as f64 / 1048576.0,
        if me.bool("node_repo_remove").unwrap_or(true) { " as their only source (node_repo_remove)" } else { "" }
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
            if let Some(s) = crate::remote::ssh::file_sha256(&e.path()) {
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
