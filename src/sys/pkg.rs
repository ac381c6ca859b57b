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
        Ok(names.iter().filter(|n| !installed.contains(n.as_str())).cloned().collect())
    }

    fn install(&self, names: &[String]) -> Result<(), CmdError> {
        let base = || {
            Cmd::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .timeout(Duration::from_secs(1800))
        };
        let first = base()
            .args(["install", "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold"])
            .args(names.iter().cloned())
            .ok();
        match first {
            Ok(_) => Ok(()),
            Err(_) => {
                // Stale package lists are the usual cause: refresh once and retry.
                base().args(["update", "-q"]).ok()?;
                base()
                    .args(["install", "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold"])
                    .args(names.iter().cloned())
                    .ok()
                    .map(|_| ())
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
}
