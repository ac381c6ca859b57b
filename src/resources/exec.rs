//! Guarded commands: `Exec` runs a command unless a probe says it is done; `Wait`
//! polls a probe until it succeeds (a service answering, a cluster healthy).
use super::{ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use std::time::Duration;

pub struct Exec {
    pub label: String,
    /// Exit 0 means already done.
    pub unless: Option<Cmd>,
    /// Skip (in sync) when this path exists.
    pub creates: Option<String>,
    pub run: Vec<Cmd>,
    /// What drift to report when not done.
    pub why: String,
    pub recheck: bool,
}

impl Exec {
    pub fn new(label: &str, run: Cmd) -> Self {
        Exec {
            label: label.into(),
            unless: None,
            creates: None,
            run: vec![run],
            why: "run".into(),
            recheck: true,
        }
    }
    pub fn then(mut self, c: Cmd) -> Self {
        self.run.push(c);
        self
    }
    pub fn unless(mut self, probe: Cmd) -> Self {
        self.unless = Some(probe);
        self
    }
    pub fn creates(mut self, path: &str) -> Self {
        self.creates = Some(path.into());
        self
    }
    pub fn why(mut self, w: &str) -> Self {
        self.why = w.into();
        self
    }
    pub fn no_recheck(mut self) -> Self {
        self.recheck = false;
        self
    }
}

impl Resource for Exec {
    fn kind(&self) -> &'static str {
        "exec"
    }
    fn name(&self) -> String {
        self.label.clone()
    }
    fn check(&self) -> ResResult<State> {
        if let Some(p) = &self.creates {
            if std::path::Path::new(p).exists() {
                return Ok(State::InSync);
            }
            if self.unless.is_none() {
                return Ok(State::drift(self.why.clone()));
            }
        }
        match &self.unless {
            Some(probe) if probe.succeeds() => Ok(State::InSync),
            _ => Ok(State::drift(self.why.clone())),
        }
    }
    fn apply(&self) -> ResResult<()> {
        for c in &self.run {
            c.ok()?;
        }
        Ok(())
    }
    fn recheck(&self) -> bool {
        self.recheck && (self.unless.is_some() || self.creates.is_some())
    }
}

pub struct Wait {
    pub label: String,
    pub probe: Cmd,
    pub timeout: Duration,
}

impl Wait {
    pub fn new(label: &str, probe: Cmd, timeout: Duration) -> Self {
        Wait {
            label: label.into(),
            probe: probe.timeout(Duration::from_secs(10)),
            timeout,
        }
    }
}

impl Resource for Wait {
    fn kind(&self) -> &'static str {
        "wait"
    }
    fn name(&self) -> String {
        self.label.clone()
    }
    fn check(&self) -> ResResult<State> {
        if self.probe.succeeds() {
            Ok(State::InSync)
        } else {
            Ok(State::drift("not ready"))
        }
    }
    fn apply(&self) -> ResResult<()> {
        let probe = || match self.probe.run() {
            Ok(o) if o.success() => Ok(()),
            Ok(o) => Err(crate::sys::cmd::tail(&o.stderr, &o.stdout)),
            Err(e) => Err(e.to_string()),
        };
        super::poll(self.timeout, Duration::from_millis(500), probe).map_err(|detail| {
            ResError::msg(format!(
                "{} not ready after {}s: `{}`: {detail}",
                self.label,
                self.timeout.as_secs(),
                self.probe.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_in_sync_when_probe_succeeds() {
        let e = Exec::new("x", Cmd::new("false")).unless(Cmd::new("true"));
        assert!(e.check().unwrap().in_sync());
    }

    #[test]
    fn exec_creates_path_runs_then_in_sync() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("done");
        let e = Exec::new("touch", Cmd::new("touch").arg(p.to_str().unwrap()))
            .creates(p.to_str().unwrap());
        assert!(!e.check().unwrap().in_sync());
        e.apply().unwrap();
        assert!(e.check().unwrap().in_sync());
    }

    #[test]
    fn wait_times_out_with_probe_output() {
        let w = Wait::new(
            "thing",
            Cmd::new("sh").args(["-c", "echo nope >&2; exit 1"]),
            Duration::from_millis(100),
        );
        let e = w.apply().unwrap_err().to_string();
        assert!(e.contains("thing not ready") && e.contains("nope"), "{e}");
    }
}
