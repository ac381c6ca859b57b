//! The package manager behind a trait, chosen from OS facts.
use super::cmd::{Cmd, CmdError};
use std::time::Duration;

pub trait PackageManager: Send + Sync {
    /// Names from `names` that are not installed.
    fn missing(&self, names: &[String]) -> Result<Vec<String>, CmdError>;
    /// Install the packages (non-interactive).
    fn install(&self, names: &[String]) -> Result<(), CmdError>;
    /// Candidate (installable) version of a package, if any source offers it.
    fn candidate(&self, name: &str) -> Option<String>;
    /// The installed version of a package, if it is installed.
    fn installed_version(&self, _name: &str) -> Option<String> {
        None
    }
    /// Candidate versions of several packages (those no source offers are left out).
    fn candidates(&self, names: &[String]) -> std::collections::BTreeMap<String, String> {
        names
            .iter()
            .filter_map(|n| self.candidate(n).map(|v| (n.clone(), v)))
            .collect()
    }
}

/// `apt-cache policy A B ...` output -> package -> candidate version (`(none)` left out).
pub fn parse_policy(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut current: Option<&str> = None;
    for l in text.lines() {
        if !l.starts_with(char::is_whitespace) {
            current = l.strip_suffix(':');
        } else if let (Some(p), Some(v)) = (current, l.trim().strip_prefix("Candidate:")) {
            let v = v.trim();
            if v != "(none)" {
                out.insert(p.to_string(), v.to_string());
            }
        }
    }
    out
}

/// apt's source files under `etc_apt` (`/etc/apt`), sorted: `sources.list` when it has
/// entries, and the `.list`/`.sources` files in `sources.list.d`.
pub fn source_files(etc_apt: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = vec![];
    let main = etc_apt.join("sources.list");
    if std::fs::read_to_string(&main)
        .map(|t| {
            t.lines()
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        })
        .unwrap_or(false)
    {
        v.push(main);
    }
    if let Ok(rd) = std::fs::read_dir(etc_apt.join("sources.list.d")) {
        for e in rd.flatten() {
            let p = e.path();
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if n.ends_with(".list") || n.ends_with(".sources") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// The repositories apt reads on this node, one `URI suite` each, from its source files
/// ([`source_files`]). Commented and `deb-src` entries are left out.
pub fn apt_sources(etc_apt: &std::path::Path) -> Vec<String> {
    let mut out = vec![];
    for f in source_files(etc_apt) {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if f.extension().is_some_and(|e| e == "sources") {
            out.extend(deb822_sources(&text));
        } else {
            out.extend(one_line_sources(&text));
        }
    }
    out.dedup();
    out
}

/// `deb [opts] URI suite comp...` lines -> `URI suite`.
fn one_line_sources(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("deb ")?;
            let l = match l.trim_start().strip_prefix('[') {
                Some(rest) => rest.split_once(']')?.1,
                None => l,
            };
            let mut w = l.split_whitespace();
            Some(format!("{} {}", w.next()?, w.next()?))
        })
        .collect()
}

/// deb822 stanzas (`Types: deb`, `URIs:`, `Suites:`, `Enabled: no`) -> `URI suite`.
fn deb822_sources(text: &str) -> Vec<String> {
    let mut out = vec![];
    for stanza in text.split("\n\n") {
        let field = |k: &str| {
            stanza
                .lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| {
                    let (a, b) = l.split_once(':')?;
                    a.trim()
                        .eq_ignore_ascii_case(k)
                        .then(|| b.trim().to_string())
                })
                .unwrap_or_default()
        };
        if !field("Types").split_whitespace().any(|t| t == "deb")
            || field("Enabled").eq_ignore_ascii_case("no")
        {
            continue;
        }
        for uri in field("URIs").split_whitespace() {
            for suite in field("Suites").split_whitespace() {
                out.push(format!("{uri} {suite}"));
            }
        }
    }
    out
}

pub struct Apt;

impl PackageManager for Apt {
    fn missing(&self, names: &[String]) -> Result<Vec<String>, CmdError> {
        let out = Cmd::new("dpkg-query")
            .args(["-W", "-f", "${Package} ${db:Status-Abbrev}\n"])
            .args(names.iter().cloned())
            .run()?;
        let installed: std::collections::HashSet<&str> = out
            .stdout
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let name = it.next()?;
                let st = it.next()?;
                (st == "ii").then_some(name)
            })
            .collect();
        Ok(names
            .iter()
            .filter(|n| !installed.contains(n.as_str()))
            .cloned()
            .collect())
    }

    fn install(&self, names: &[String]) -> Result<(), CmdError> {
        let base = || {
            Cmd::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .timeout(Duration::from_secs(1800))
        };
        let install = || {
            base()
                .args([
                    "install",
                    "-y",
                    "-q",
                    "--no-install-recommends",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                ])
                .args(names.iter().cloned())
                .ok()
        };
        match install() {
            Ok(_) => Ok(()),
            Err(_) => {
                // Stale package lists are the usual cause: refresh once and retry.
                base().args(["update", "-q"]).ok()?;
                install().map(|_| ())
            }
        }
    }

    fn candidate(&self, name: &str) -> Option<String> {
        let out = Cmd::new("apt-cache").args(["policy", name]).run().ok()?;
        out.stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("Candidate:"))
            .map(|v| v.trim().to_string())
            .filter(|v| v != "(none)")
    }

    fn installed_version(&self, name: &str) -> Option<String> {
        let out = Cmd::new("dpkg-query")
            .args(["-W", "-f", "${db:Status-Abbrev} ${Version}", name])
            .run()
            .ok()?;
        let (status, version) = out.stdout.trim().split_once(' ')?;
        (status.trim() == "ii").then(|| version.trim().to_string())
    }

    /// One `apt-cache policy` for all of them.
    fn candidates(&self, names: &[String]) -> std::collections::BTreeMap<String, String> {
        Cmd::new("apt-cache")
            .arg("policy")
            .args(names.iter().cloned())
            .run()
            .map(|o| parse_policy(&o.stdout))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_sources_reads_one_line_and_deb822_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("sources.list"),
            "# comment\ndeb http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian bookworm main\n",
        )
        .unwrap();
        std::fs::create_dir(d.path().join("sources.list.d")).unwrap();
        std::fs::write(
            d.path().join("sources.list.d/pigsty-local.list"),
            "deb [trusted=yes] http://10.10.10.10/pigsty ./\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://x/\nSuites: trixie\n\nTypes: deb\nEnabled: no\nURIs: http://off/\nSuites: trixie\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("sources.list.d/old.list.bak"),
            "deb http://no/ x main\n",
        )
        .unwrap();
        assert_eq!(
            apt_sources(d.path()),
            vec![
                "http://deb.debian.org/debian bookworm",
                "http://deb.debian.org/debian trixie",
                "http://deb.debian.org/debian trixie-updates",
                "http://10.10.10.10/pigsty ./",
            ]
        );
    }

    #[test]
    fn policy_output_gives_each_package_its_candidate() {
        let text = "postgresql-15:\n  Installed: (none)\n  Candidate: 15.14-0+deb12u1\n  Version table:\n     15.14-0+deb12u1 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\npostgresql-17:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n";
        let m = parse_policy(text);
        assert_eq!(
            m.get("postgresql-15").map(String::as_str),
            Some("15.14-0+deb12u1")
        );
        assert!(!m.contains_key("postgresql-17"), "(none) is not offered");
        assert_eq!(m.len(), 1);
    }
}
