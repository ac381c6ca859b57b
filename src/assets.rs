//! Files embedded in the binary: templates and units (`assets/`), inventory profiles
//! (`profiles/`) and the offline package manifest (`repo-mirror/`). Nothing is read
//! from disk at run time except the inventory.
use include_dir::{include_dir, Dir};

pub static ASSETS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/assets");
pub static PROFILES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/profiles");
pub static REPO_MIRROR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/repo-mirror");

/// Text of an embedded asset, e.g. `asset("etcd/etcd.conf.j2")`.
pub fn asset(path: &str) -> Option<&'static str> {
    ASSETS.get_file(path).and_then(|f| f.contents_utf8())
}

/// Name and text of every file directly in an embedded asset directory, sorted by name,
/// e.g. `asset_dir("infra/dashboards")`.
pub fn asset_dir(dir: &str) -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = ASSETS
        .get_dir(dir)
        .map(|d| {
            d.files()
                .filter_map(|f| {
                    Some((
                        f.path().file_name()?.to_str()?.to_string(),
                        f.contents_utf8()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Text of an embedded profile, e.g. `profile("meta")`.
pub fn profile(name: &str) -> Option<&'static str> {
    PROFILES
        .get_file(format!("{name}.yml"))
        .and_then(|f| f.contents_utf8())
}

/// Names of the embedded inventory profiles (`meta`, `ha/full`, ...).
pub fn profile_names() -> Vec<String> {
    fn walk(d: &'static Dir<'static>, out: &mut Vec<String>) {
        out.extend(
            d.files()
                .filter_map(|f| f.path().to_str())
                .filter_map(|p| p.strip_suffix(".yml"))
                .map(str::to_string),
        );
        for sub in d.dirs() {
            walk(sub, out);
        }
    }
    let mut v = Vec::new();
    walk(&PROFILES, &mut v);
    v.sort();
    v
}

/// The one-line description of a profile (its `# desc:` line).
pub fn profile_desc(name: &str) -> String {
    profile(name)
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("# desc:")))
        .map(|d| d.trim().to_string())
        .unwrap_or_default()
}
