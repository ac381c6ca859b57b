//! `pigsty repo add FILE`: put a program the user built or downloaded (e.g. `garage`)
//! into the infra node's local repository (`<repo_home>/<repo_name>`, `/www/pigsty`),
//! which nginx serves at `http://<infra>/pigsty/`, and record its sha256 in
//! `SHA256SUMS` there. Nodes install such programs from that URL and check them
//! against that file (see `resources::repo_binary`).
use crate::cli::Global;
use crate::resources::repo_binary::SUMS;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The local repository directory: from the inventory when there is one.
fn repo_dir(g: &Global) -> PathBuf {
    let (mut home, mut name) = ("/www".to_string(), "pigsty".to_string());
    if let Ok(inv) = crate::inventory::Inventory::load(&g.inventory_path(), &[]) {
        if let Some(h) = inv
            .infra_hosts()
            .first()
            .copied()
            .or_else(|| inv.hosts.first())
        {
            if let Some(v) = h.str("repo_home") {
                home = v.to_string();
            }
            if let Some(v) = h.str("repo_name") {
                name = v.to_string();
            }
        }
    }
    Path::new(&home).join(name)
}

pub fn add(g: &Global, file: &Path) -> Result<u8> {
    let meta = std::fs::metadata(file).with_context(|| format!("`{}`", file.display()))?;
    if !meta.is_file() {
        bail!("`{}` is not a regular file", file.display());
    }
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            !n.starts_with('.')
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
        })
        .with_context(|| {
            format!(
                "`{}`: the file name must be letters, digits, `-_.+`",
                file.display()
            )
        })?
        .to_string();
    if name == SUMS {
        bail!("`{SUMS}` is the repository's checksum list, not a program");
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading `{}`", file.display()))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let dir = repo_dir(g);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
    crate::sys::fs::write_atomic(&dir.join(&name), &bytes, 0o755, None, None)?;
    let sums_path = dir.join(SUMS);
    let old = std::fs::read_to_string(&sums_path).unwrap_or_default();
    crate::sys::fs::write_atomic(
        &sums_path,
        crate::resources::repo_binary::update_sums(&old, &name, &sha).as_bytes(),
        0o644,
        None,
        None,
    )?;
    println!("{sha}  {}", dir.join(&name).display());
    eprintln!(
        "added `{name}` ({} bytes) to the local repository `{}`; its sha256 is in `{}`",
        bytes.len(),
        dir.display(),
        sums_path.display()
    );
    Ok(0)
}
