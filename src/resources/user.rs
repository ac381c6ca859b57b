//! Users and groups (via useradd/usermod/groupadd).
use super::{ResResult, Resource, State};
use crate::sys::Cmd;

pub struct Group {
    pub name: String,
    pub system: bool,
}

impl Resource for Group {
    fn kind(&self) -> &'static str {
        "group"
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        if Cmd::new("getent").args(["group", &self.name]).succeeds() {
            Ok(State::InSync)
        } else {
            Ok(State::create())
        }
    }
    fn apply(&self) -> ResResult<()> {
        let mut c = Cmd::new("groupadd");
        if self.system {
            c = c.arg("--system");
        }
        c.arg(&self.name).ok()?;
        Ok(())
    }
}

pub struct User {
    pub name: String,
    pub home: Option<String>,
    pub shell: Option<String>,
    pub system: bool,
    /// Supplementary groups that must include the user.
    pub groups: Vec<String>,
    pub comment: Option<String>,
}

impl User {
    pub fn new(name: &str) -> Self {
        User {
            name: name.into(),
            home: None,
            shell: None,
            system: false,
            groups: vec![],
            comment: None,
        }
    }
    fn passwd(&self) -> Option<Vec<String>> {
        let o = Cmd::new("getent").args(["passwd", &self.name]).run().ok()?;
        o.success()
            .then(|| o.stdout.trim().split(':').map(str::to_string).collect())
    }
    fn current_groups(&self) -> Vec<String> {
        Cmd::new("id")
            .args(["-nG", &self.name])
            .run()
            .map(|o| o.stdout.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

impl Resource for User {
    fn kind(&self) -> &'static str {
        "user"
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn check(&self) -> ResResult<State> {
        let Some(pw) = self.passwd() else {
            return Ok(State::create());
        };
        let mut d = vec![];
        if let Some(h) = &self.home {
            if pw.get(5) != Some(h) {
                d.push(format!(
                    "home {} -> {h}",
                    pw.get(5).cloned().unwrap_or_default()
                ));
            }
        }
        if let Some(s) = &self.shell {
            if pw.get(6) != Some(s) {
                d.push(format!(
                    "shell {} -> {s}",
                    pw.get(6).cloned().unwrap_or_default()
                ));
            }
        }
        let cur = self.current_groups();
        for g in &self.groups {
            if !cur.contains(g) {
                d.push(format!("+ group {g}"));
            }
        }
        Ok(State::from_diffs(d))
    }
    fn apply(&self) -> ResResult<()> {
        if self.passwd().is_none() {
            let mut c = Cmd::new("useradd");
            if self.system {
                c = c.arg("--system");
            }
            c = c.arg("--create-home");
            if let Some(h) = &self.home {
                c = c.args(["--home-dir", h]);
            }
            if let Some(s) = &self.shell {
                c = c.args(["--shell", s]);
            }
            if let Some(cm) = &self.comment {
                c = c.args(["--comment", cm]);
            }
            c.arg(&self.name).ok()?;
        } else {
            let pw = self.passwd().unwrap_or_default();
            if let Some(s) = &self.shell {
                if pw.get(6) != Some(s) {
                    Cmd::new("usermod").args(["--shell", s, &self.name]).ok()?;
                }
            }
            if let Some(h) = &self.home {
                if pw.get(5) != Some(h) {
                    Cmd::new("usermod").args(["--home", h, &self.name]).ok()?;
                }
            }
        }
        let cur = self.current_groups();
        for g in &self.groups {
            if !cur.contains(g) {
                Cmd::new("usermod").args(["-aG", g, &self.name]).ok()?;
            }
        }
        Ok(())
    }
}
