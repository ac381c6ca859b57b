//! `repo_upstream` + `node_repo_modules`: the upstream apt repositories a node uses.
//!
//! An entry is Pigsty's shape, with an optional signing key:
//! `{ name, description, module, releases: [12, 13], arch: [x86_64, aarch64],
//!    baseurl: { default: 'http://host/debian/ ${distro_codename} main', china: ... },
//!    key: "-----BEGIN PGP PUBLIC KEY BLOCK----- ..." }`.
//! A node uses the entries whose `module` is in its `node_repo_modules` (`local` is the
//! infra node's repository, see `local_repo`), whose `releases` hold its Debian major
//! version and whose `arch` holds its architecture; `baseurl` is taken for its `region`
//! (else `default`), with `${admin_ip}`, `${distro_codename}`, `${distro_name}` and any
//! other scalar parameter expanded. The files are written by `resources::apt_source`.
use super::Ctx;
use crate::engine::ModulePlan;
use crate::resources::apt_source::{AptSources, Source};
use crate::resources::Note;
use anyhow::{bail, Result};
use serde_json::Value;

/// `[12, 13]` or `["12"]` or a single value: does it hold `want`? (absent: every one)
fn holds(v: Option<&Value>, want: &str) -> bool {
    let one = |x: &Value| match x {
        Value::String(s) => s == want,
        Value::Number(n) => n.to_string() == want,
        _ => false,
    };
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.iter().any(one),
        Some(x) => one(x),
    }
}

/// The names in the host's `node_repo_modules` (`local,pgsql` -> `["local", "pgsql"]`).
pub fn repo_modules(h: &crate::inventory::Host) -> Vec<&str> {
    h.var_str("node_repo_modules")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect()
}

pub fn upstream_repos(ctx: &Ctx, p: &mut ModulePlan) -> Result<()> {
    let h = ctx.host;
    let f = ctx.facts;
    let mut modules = repo_modules(h);
    modules.retain(|m| *m != "local");
    let region = match h.var_str("region") {
        "" => "default",
        r => r,
    };
    let major = f.os_version_id.split('.').next().unwrap_or("").to_string();
    let entries = h.list("repo_upstream").cloned().unwrap_or_default();
    let mut picked = vec![];
    let mut offered: Vec<&str> = vec![];
    for (i, e) in entries.iter().enumerate() {
        let Some(m) = e.as_object() else {
            bail!(
                "host `{}`: repo_upstream entry {} is not a map of name, module, baseurl ...",
                h.addr,
                i + 1
            );
        };
        let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
        let name = text("name");
        let module = text("module");
        if module.is_empty() {
            bail!("host `{}`: repo_upstream entry `{name}` has no `module` (the name node_repo_modules picks it by)", h.addr);
        }
        if !modules.contains(&module) || module == "local" {
            continue;
        }
        offered.push(module);
        if !holds(m.get("releases"), &major) || !holds(m.get("arch"), &f.arch) {
            continue;
        }
        let Some(urls) = m.get("baseurl").and_then(Value::as_object) else {
            bail!("host `{}`: repo_upstream entry `{name}` has no `baseurl` map (`baseurl: {{ default: 'http://host/debian/ ${{distro_codename}} main' }}`)", h.addr);
        };
        let Some(url) = urls
            .get(region)
            .or_else(|| urls.get("default"))
            .and_then(Value::as_str)
        else {
            bail!("host `{}`: repo_upstream entry `{name}` has no baseurl for region `{region}` and no `default`", h.addr);
        };
        let url = h
            .expand(url)
            .replace("${distro_codename}", &f.os_codename)
            .replace("${distro_name}", &f.os_id);
        let key = match m.get("key") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => bail!(
                "host `{}`: repo_upstream entry `{name}`: `key` must be the armored key as text",
                h.addr
            ),
        };
        let src = Source::parse(name, text("description"), &url, key)
            .map_err(|e| anyhow::anyhow!("host `{}`: repo_upstream entry `{name}`: {e}", h.addr))?;
        if picked.iter().any(|s: &Source| s.name == src.name) {
            bail!(
                "host `{}`: two repo_upstream entries for this node are named `{name}`",
                h.addr
            );
        }
        picked.push(src);
    }
    for m in &modules {
        if !offered.contains(m) {
            p.add(Note::skip(
                "apt source",
                &format!("node_repo_modules `{m}`"),
                &format!("no repo_upstream entry has `module: {m}`, so the node gets no repository for it; add one (with its `key`) or take `{m}` out of node_repo_modules"),
            ));
        }
    }
    p.add(AptSources::new(picked, h.var_bool("node_repo_remove")));
    Ok(())
}
