//! Installed packages, through the OS's package manager.
use super::{ResResult, Resource, State};
use crate::sys::pkg::{Apt, PackageManager};

pub struct Package {
    pub names: Vec<String>,
    pub label: String,
}

impl Package {
    pub fn new<I, S>(label: &str, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Package {
            names: names.into_iter().map(Into::into).collect(),
            label: label.into(),
        }
    }
    fn pm(&self) -> Apt {
        Apt
    }
}

impl Resource for Package {
    fn kind(&self) -> &'static str {
        "package"
    }
    fn name(&self) -> String {
        self.label.clone()
    }
    fn packages(&self) -> Vec<String> {
        self.names.clone()
    }
    fn check(&self) -> ResResult<State> {
        let missing = self.pm().missing(&self.names)?;
        if missing.is_empty() {
            Ok(State::InSync)
        } else {
            Ok(State::drift(format!("install {}", missing.join(" "))))
        }
    }
    fn apply(&self) -> ResResult<()> {
        let missing = self.pm().missing(&self.names)?;
        if !missing.is_empty() {
            self.pm().install(&missing)?;
        }
        Ok(())
    }
}

/// Packages that may be absent: when no configured source offers them, the step is
/// skipped with a reason naming each package, its module and the repository to add.
pub struct OptionalPackage {
    pub inner: Package,
    pub module: String,
    pub hint: String,
}

impl OptionalPackage {
    pub fn new(module: &str, label: &str, names: &[&str], hint: &str) -> Self {
        OptionalPackage {
            inner: Package::new(label, names.iter().copied()),
            module: module.into(),
            hint: hint.into(),
        }
    }
    fn unavailable(&self) -> ResResult<Vec<String>> {
        let missing = self.inner.pm().missing(&self.inner.names)?;
        Ok(missing
            .into_iter()
            .filter(|n| self.inner.pm().candidate(n).is_none())
            .collect())
    }
}

impl Resource for OptionalPackage {
    fn kind(&self) -> &'static str {
        "package"
    }
    fn name(&self) -> String {
        self.inner.label.clone()
    }
    fn packages(&self) -> Vec<String> {
        self.inner.names.clone()
    }
    fn check(&self) -> ResResult<State> {
        let gone = self.unavailable()?;
        if !gone.is_empty() {
            return Ok(State::Skip(format!(
                "module {}: package {} not available from any configured source; {}",
                self.module,
                gone.join(", "),
                self.hint
            )));
        }
        self.inner.check()
    }
    fn apply(&self) -> ResResult<()> {
        self.inner.apply()
    }
}
