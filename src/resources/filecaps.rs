//! `FileCaps`: file capabilities on a program (`setcap cap_net_raw=ep`), and `Debconf`:
//! a package's debconf answer, so its maintainer scripts keep our choice on upgrade.
//! Used by INFRA for the blackbox exporter's ICMP probes, which need a raw socket:
//! Debian sets the capability only when `want_cap_net_raw` is true.
use super::{ResResult, Resource, State};
use crate::sys::Cmd;
use std::path::PathBuf;

pub struct FileCaps {
    pub path: PathBuf,
    /// As `setcap` takes and `getcap` prints them, e.g. `cap_net_raw=ep`.
    pub caps: String,
}

impl FileCaps {
    pub fn new(path: &str, caps: &str) -> Self {
        FileCaps {
            path: path.into(),
            caps: caps.into(),
        }
    }
}

/// The capabilities `getcap` prints for a file (`/usr/bin/x cap_net_raw=ep` -> `cap_net_raw=ep`).
pub fn getcap_caps(out: &str) -> String {
    out.lines()
        .next()
        .and_then(|l| l.split_once(' '))
        .map(|(_, c)| c.trim().trim_start_matches('=').trim().to_string())
        .unwrap_or_default()
}

impl Resource for FileCaps {
    fn kind(&self) -> &'static str {
        "caps"
    }
    fn name(&self) -> String {
        format!("{} {}", self.path.display(), self.caps)
    }
    fn check(&self) -> ResResult<State> {
        if !self.path.exists() {
            return Ok(State::create());
        }
        let out = Cmd::new("getcap")
            .arg(self.path.display().to_string())
            .run()?;
        let cur = getcap_caps(&out.stdout);
        if cur == self.caps {
            Ok(State::InSync)
        } else {
            Ok(State::drift(format!(
                "caps `{}` -> `{}`",
                if cur.is_empty() { "none" } else { &cur },
                self.caps
            )))
        }
    }
    fn apply(&self) -> ResResult<()> {
        Cmd::new("setcap")
            .args([self.caps.clone(), self.path.display().to_string()])
            .ok()?;
        Ok(())
    }
}

pub struct Debconf {
    pub package: String,
    pub question: String,
    /// `boolean`, `string`, `select`...
    pub kind: String,
    pub value: String,
}

impl Debconf {
    pub fn new(package: &str, question: &str, kind: &str, value: &str) -> Self {
        Debconf {
            package: package.into(),
            question: question.into(),
            kind: kind.into(),
            value: value.into(),
        }
    }
}

/// The value of `question` in `debconf-show PACKAGE` output (`* q: v` or `  q: v`).
pub fn debconf_value(out: &str, question: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let l = l.trim_start_matches(['*', ' ']);
        l.strip_prefix(question)?
            .strip_prefix(':')
            .map(|v| v.trim().to_string())
    })
}

impl Resource for Debconf {
    fn kind(&self) -> &'static str {
        "debconf"
    }
    fn name(&self) -> String {
        format!("{} {}", self.question, self.value)
    }
    fn check(&self) -> ResResult<State> {
        let out = Cmd::new("debconf-show").arg(&self.package).run()?;
        match debconf_value(&out.stdout, &self.question) {
            Some(v) if v == self.value => Ok(State::InSync),
            Some(v) => Ok(State::drift(format!("`{v}` -> `{}`", self.value))),
            None => Ok(State::drift(format!("unset -> `{}`", self.value))),
        }
    }
    fn apply(&self) -> ResResult<()> {
        let line = format!(
            "{} {} {} {}\n",
            self.package, self.question, self.kind, self.value
        );
        Cmd::new("debconf-set-selections").stdin(line).ok()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getcap_output_is_parsed_old_and_new_formats() {
        assert_eq!(getcap_caps("/usr/bin/x cap_net_raw=ep\n"), "cap_net_raw=ep");
        assert_eq!(
            getcap_caps("/usr/bin/x = cap_net_raw+ep\n"),
            "cap_net_raw+ep"
        );
        assert_eq!(getcap_caps("/usr/bin/x =\n"), "");
        assert_eq!(getcap_caps(""), "");
    }

    #[test]
    fn debconf_show_values_are_found_seen_or_not() {
        let out = "  prometheus-blackbox-exporter/want_cap_net_raw: false\n* other/q: x y\n";
        assert_eq!(
            debconf_value(out, "prometheus-blackbox-exporter/want_cap_net_raw").as_deref(),
            Some("false")
        );
        assert_eq!(debconf_value(out, "other/q").as_deref(), Some("x y"));
        assert_eq!(debconf_value(out, "missing/q"), None);
    }
}
