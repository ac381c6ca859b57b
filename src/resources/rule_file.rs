//! A configuration file of rules (pg_hba.conf, pgBouncer's HBA) whose drift is told
//! rule by rule: `hba: + host all all 10.0.0.0/8 scram-sha-256`, `hba: - local ...`.
//! Comment and blank lines are left out of the words (they still count for "in sync").
//! Also used for HAProxy service files (`service pg-meta-ro: + maxconn 200`).
use super::{File, ResResult, Resource, State};

pub struct RuleFile {
    pub file: File,
    /// Prefix of each line of the drift, e.g. `hba` or `pgb_hba`.
    pub label: String,
}

impl RuleFile {
    pub fn new(file: File, label: &str) -> Self {
        RuleFile {
            file,
            label: label.into(),
        }
    }
}

/// The rule lines of a file, whitespace collapsed.
fn rules(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .collect()
}

/// `label: + rule` for added rules and `label: - rule` for removed ones, in file order.
pub fn rule_delta(label: &str, old: &str, new: &str) -> Vec<String> {
    let (o, n) = (rules(old), rules(new));
    let mut d = vec![];
    for l in &o {
        if !n.contains(l) {
            d.push(format!("{label}: - {l}"));
        }
    }
    for l in &n {
        if !o.contains(l) {
            d.push(format!("{label}: + {l}"));
        }
    }
    if d.is_empty() && o != n {
        d.push(format!("{label}: rules reordered"));
    }
    d
}

impl Resource for RuleFile {
    fn kind(&self) -> &'static str {
        "file"
    }
    fn name(&self) -> String {
        self.file.name()
    }
    fn check(&self) -> ResResult<State> {
        match self.file.check()? {
            State::Drift(d) => {
                let old = std::fs::read_to_string(&self.file.path).ok();
                let new = String::from_utf8_lossy(&self.file.content);
                let mut out = vec![];
                for x in d {
                    match (&old, x) {
                        (_, super::Delta::Create) => {
                            out.push(super::Delta::note(format!("{}: create", self.label)))
                        }
                        (Some(old), super::Delta::Content { .. }) => {
                            let words = rule_delta(&self.label, old, &new);
                            if words.is_empty() {
                                out.push(super::Delta::note(format!(
                                    "{}: comments changed",
                                    self.label
                                )));
                            } else {
                                out.extend(words.into_iter().map(super::Delta::from));
                            }
                        }
                        (_, x) => out.push(x),
                    }
                }
                Ok(State::Drift(out))
            }
            other => Ok(other),
        }
    }
    fn apply(&self) -> ResResult<()> {
        self.file.apply()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_delta_names_added_and_removed_rules_in_words() {
        let old = "# title [100]\nlocal   all   postgres   ident\nhost all all 10.0.0.0/8   scram-sha-256\n";
        let new =
            "# title [100]\nlocal all postgres ident\nhost all dbuser_x 10.10.10.10/32 reject\n";
        assert_eq!(
            rule_delta("hba", old, new),
            vec![
                "hba: - host all all 10.0.0.0/8 scram-sha-256".to_string(),
                "hba: + host all dbuser_x 10.10.10.10/32 reject".to_string()
            ]
        );
    }

    #[test]
    fn only_comments_changed_is_said_so() {
        let d = tempfile::tempdir().unwrap();
        let (_, u, g) = crate::sys::fs::stat(std::path::Path::new("/proc/self")).unwrap();
        let p = d.path().join("hba.conf");
        File::new(&p, "# a\nlocal all all peer\n")
            .owner(&u, &g)
            .apply()
            .unwrap();
        let r = RuleFile::new(
            File::new(&p, "# b\nlocal all all peer\n").owner(&u, &g),
            "hba",
        );
        assert_eq!(r.check().unwrap(), State::drift("hba: comments changed"));
        let r = RuleFile::new(
            File::new(
                &p,
                "# a\nlocal all all peer\nhost all all 10.0.0.0/8 reject\n",
            )
            .owner(&u, &g),
            "hba",
        );
        assert_eq!(
            r.check().unwrap(),
            State::drift("hba: + host all all 10.0.0.0/8 reject")
        );
    }
}
