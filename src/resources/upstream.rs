//! `UpstreamPackage`: a package that must come from one vendor's repository (Grafana's
//! `grafana` and `loki` from apt.grafana.com). When no configured source offers it, or
//! the only offer is from elsewhere (Debian's `loki` is an unrelated program), the step
//! is skipped with a reason naming the package, the module and the repository to add.
use super::{ResResult, Resource, State};
use crate::sys::pkg::{Apt, PackageManager};
use crate::sys::Cmd;

pub struct UpstreamPackage {
    pub module: String,
    pub name: String,
    /// A string the offering source's line must contain, e.g. `apt.grafana.com`.
    pub origin: String,
    /// What to add, e.g. "add `deb https://apt.grafana.com stable main`".
    pub hint: String,
}

impl UpstreamPackage {
    pub fn new(module: &str, name: &str, origin: &str, hint: &str) -> Self {
        UpstreamPackage {
            module: module.into(),
            name: name.into(),
            origin: origin.into(),
            hint: hint.into(),
        }
    }
}

/// From `apt-cache policy NAME`: the candidate version and the sources offering it.
pub fn candidate_sources(policy: &str) -> Option<(String, Vec<String>)> {
    let cand = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(|v| v.trim().to_string())
        .filter(|v| v != "(none)")?;
    let mut sources = vec![];
    let mut in_table = false;
    let mut in_cand = false;
    for l in policy.lines() {
        if l.trim() == "Version table:" {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let t = l.trim_start().trim_start_matches("***").trim();
        let mut it = t.split_whitespace();
        let first = it.next().unwrap_or("");
        // Version lines are indented 5, source lines 8: a source starts with a priority.
        let is_version_line = l.len() - l.trim_start().len() <= 5;
        if is_version_line {
            in_cand = first == cand;
        } else if in_cand {
            sources.push(t.to_string());
        }
    }
    Some((cand, sources))
}

impl UpstreamPackage {
    fn offer(&self) -> ResResult<Result<(), String>> {
        let out = Cmd::new("apt-cache").args(["policy", &self.name]).run()?;
        Ok(match candidate_sources(&out.stdout) {
            None => Err(format!(
                "module {}: package `{}` is not available from any configured source; {}",
                self.module, self.name, self.hint
            )),
            Some((ver, src)) if !src.iter().any(|s| s.contains(&self.origin)) => Err(format!(
                "module {}: package `{}` {ver} is offered only by {} and is not the one from `{}`; {}",
                self.module,
                self.name,
                if src.is_empty() { "an unknown source".to_string() } else { format!("`{}`", src.join("`, `")) },
                self.origin,
                self.hint
            )),
            Some(_) => Ok(()),
        })
    }
}

impl Resource for UpstreamPackage {
    fn kind(&self) -> &'static str {
        "package"
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        if Apt.missing(std::slice::from_ref(&self.name))?.is_empty() {
            return Ok(State::InSync);
        }
        match self.offer()? {
            Err(why) => Ok(State::Skip(why)),
            Ok(()) => Ok(State::drift(format!("install {}", self.name))),
        }
    }
    fn apply(&self) -> ResResult<()> {
        Ok(Apt.install(std::slice::from_ref(&self.name))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_LOKI: &str = "loki:
  Installed: (none)
  Candidate: 2.4.7.4-10
  Version table:
     2.4.7.4-10 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
";

    const GRAFANA_LOKI: &str = "loki:
  Installed: (none)
  Candidate: 3.4.2
  Version table:
     3.4.2 500
        500 https://apt.grafana.com stable/main amd64 Packages
     2.4.7.4-10 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
";

    #[test]
    fn candidate_sources_reads_the_sources_of_the_candidate_only() {
        let (v, s) = candidate_sources(GRAFANA_LOKI).unwrap();
        assert_eq!(v, "3.4.2");
        assert_eq!(
            s,
            vec!["500 https://apt.grafana.com stable/main amd64 Packages".to_string()]
        );
        let (v, s) = candidate_sources(DEBIAN_LOKI).unwrap();
        assert_eq!(v, "2.4.7.4-10");
        assert!(s[0].contains("deb.debian.org"));
    }

    #[test]
    fn candidate_sources_none_when_nothing_offers_it() {
        let p = "grafana:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n";
        assert!(candidate_sources(p).is_none());
        assert!(candidate_sources("").is_none());
    }
}
