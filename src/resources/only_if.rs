//! A resource that applies only when a path exists at check time (the program of an
//! optional upstream package is installed); otherwise the step is skipped with the
//! reason, never silently.
use super::{ResResult, Resource, State};
use std::path::PathBuf;

pub struct OnlyIf {
    pub path: PathBuf,
    pub reason: String,
    pub inner: Box<dyn Resource>,
}

impl OnlyIf {
    /// Run `inner` only when `path` exists; else skip with `reason`.
    pub fn exists(path: impl Into<PathBuf>, reason: &str, inner: impl Resource + 'static) -> Self {
        OnlyIf {
            path: path.into(),
            reason: reason.into(),
            inner: Box::new(inner),
        }
    }
}

impl Resource for OnlyIf {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn name(&self) -> String {
        self.inner.name()
    }
    fn check(&self) -> ResResult<State> {
        if !self.path.exists() {
            return Ok(State::Skip(self.reason.clone()));
        }
        self.inner.check()
    }
    fn apply(&self) -> ResResult<()> {
        self.inner.apply()
    }
    fn recheck(&self) -> bool {
        self.inner.recheck()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Exec;
    use crate::sys::Cmd;

    #[test]
    fn only_if_skips_with_reason_when_path_is_missing() {
        let r = OnlyIf::exists(
            "/nonexistent/grafana-server",
            "grafana is not installed",
            Exec::new("x", Cmd::new("false")),
        );
        assert_eq!(
            r.check().unwrap(),
            State::Skip("grafana is not installed".into())
        );
    }

    #[test]
    fn only_if_delegates_when_path_exists() {
        let r = OnlyIf::exists(
            "/",
            "never",
            Exec::new("x", Cmd::new("true")).unless(Cmd::new("true")),
        );
        assert!(r.check().unwrap().in_sync());
        assert_eq!(r.kind(), "exec");
    }
}
