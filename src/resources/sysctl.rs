//! Live kernel parameters (`/proc/sys`): the values a node should run with now. The
//! file in `/etc/sysctl.d/` that keeps them across reboots is a plain `File`.
//!
//! Containers and some virtual machines expose parts of `/proc/sys` read-only (in a
//! systemd-nspawn container everything outside `net.*` is). Keys that cannot be set
//! here are reported (the step is `skipped` with the list) instead of failing the
//! whole node; keys this kernel does not know are reported the same way.
//!
//! The same resource sets sysfs selector files (root `/sys/kernel/mm/transparent_hugepage`,
//! key `enabled`), whose current value is the bracketed word: `always madvise [never]`.
use super::{ResError, ResResult, Resource, State};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Sysctl {
    /// What the step is called (`kernel parameters`, `transparent huge pages`).
    pub label: String,
    /// `(key, value)`, e.g. `("vm.swappiness", "10")`, `("net.ipv4.ip_local_port_range", "10000 65535")`.
    pub params: Vec<(String, String)>,
    /// Where the keys live; `/proc/sys` except in tests.
    pub root: PathBuf,
    /// What keeps the values for the next boot (said when some cannot be set now).
    pub persisted_by: String,
    /// Keys the kernel refused in this run (EPERM/EACCES/EROFS on write): the
    /// re-check reports them instead of calling them drift.
    refused: Mutex<Vec<String>>,
}

/// What a key looks like right now.
#[derive(Debug, PartialEq, Eq)]
enum KeyState {
    Same,
    Differs { current: String },
    ReadOnly { current: String },
    Unknown,
}

/// Whitespace-insensitive form of a value (`4096\t87380` == `4096 87380`).
fn norm(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The value a file holds: the bracketed choice of a sysfs selector, else the text.
fn current_value(text: &str) -> String {
    let t = norm(text);
    match (t.find('['), t.find(']')) {
        (Some(a), Some(b)) if a < b => t[a + 1..b].to_string(),
        _ => t,
    }
}

fn writable(p: &Path) -> bool {
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
}

impl Sysctl {
    pub fn new(params: Vec<(String, String)>) -> Self {
        Sysctl {
            label: "kernel parameters".into(),
            params,
            root: PathBuf::from("/proc/sys"),
            persisted_by: "the file in /etc/sysctl.d".into(),
            refused: Mutex::new(vec![]),
        }
    }
    pub fn persisted_by(mut self, what: &str) -> Self {
        self.persisted_by = what.into();
        self
    }
    pub fn label(mut self, l: &str) -> Self {
        self.label = l.into();
        self
    }
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key.replace('.', "/"))
    }
    fn refused(&self) -> Vec<String> {
        self.refused.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn state(&self, key: &str, want: &str) -> KeyState {
        let p = self.path(key);
        let Ok(cur) = std::fs::read_to_string(&p) else {
            return KeyState::Unknown;
        };
        let current = current_value(&cur);
        if current == norm(want) {
            KeyState::Same
        } else if !writable(&p) || self.refused().iter().any(|k| k == key) {
            KeyState::ReadOnly { current }
        } else {
            KeyState::Differs { current }
        }
    }
}

impl Resource for Sysctl {
    fn kind(&self) -> &'static str {
        "sysctl"
    }
    fn name(&self) -> String {
        format!("{} ({})", self.label, self.params.len())
    }
    fn check(&self) -> ResResult<State> {
        let (mut drift, mut ro, mut unknown) = (vec![], vec![], vec![]);
        for (k, v) in &self.params {
            match self.state(k, v) {
                KeyState::Same => {}
                KeyState::Differs { current } => {
                    drift.push(super::Delta::field(k.clone(), current, norm(v)))
                }
                KeyState::ReadOnly { current } => {
                    ro.push(format!("{k} (is {current}, want {})", norm(v)))
                }
                KeyState::Unknown => unknown.push(k.clone()),
            }
        }
        if !drift.is_empty() {
            return Ok(State::Drift(drift));
        }
        if ro.is_empty() && unknown.is_empty() {
            return Ok(State::InSync);
        }
        let mut why = vec![];
        if !ro.is_empty() {
            why.push(format!(
                "read-only here (a container?), not applied: {}",
                ro.join(", ")
            ));
        }
        if !unknown.is_empty() {
            why.push(format!("unknown to this kernel: {}", unknown.join(", ")));
        }
        Ok(State::Skip(format!(
            "{}; {} keeps them for a host that allows them",
            why.join("; "),
            self.persisted_by
        )))
    }
    fn apply(&self) -> ResResult<()> {
        let mut failed = vec![];
        for (k, v) in &self.params {
            if !matches!(self.state(k, v), KeyState::Differs { .. }) {
                continue;
            }
            let p = self.path(k);
            if let Err(e) = std::fs::write(&p, format!("{}\n", norm(v))) {
                use std::io::ErrorKind::*;
                match e.kind() {
                    PermissionDenied | ReadOnlyFilesystem => {
                        if let Ok(mut r) = self.refused.lock() {
                            r.push(k.clone());
                        }
                    }
                    _ => failed.push(format!("`{k}` = `{}`: {e}", norm(v))),
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ResError::msg(format!(
                "kernel refused {}\nhint: check the value in `node_sysctl_params`",
                failed.join(", ")
            )))
        }
    }
}

/// The `/etc/sysctl.d/` file for the same parameters (`key = value` lines).
pub fn sysctl_conf(header: &str, params: &[(String, String)]) -> String {
    let mut s = String::new();
    for l in header.lines() {
        if l.is_empty() {
            s.push_str("#\n");
        } else {
            s.push_str(&format!("# {l}\n"));
        }
    }
    for (k, v) in params {
        s.push_str(&format!("{k} = {}\n", norm(v)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake_proc() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("vm")).unwrap();
        std::fs::create_dir_all(d.path().join("net/ipv4")).unwrap();
        std::fs::write(d.path().join("vm/swappiness"), "60\n").unwrap();
        std::fs::write(
            d.path().join("net/ipv4/ip_local_port_range"),
            "32768\t60999\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn sysctl_drift_names_key_and_values_then_in_sync_after_apply() {
        let d = fake_proc();
        let s = Sysctl::new(vec![
            ("vm.swappiness".into(), "10".into()),
            ("net.ipv4.ip_local_port_range".into(), "10000  65535".into()),
        ])
        .root(d.path());
        let State::Drift(diffs) = s.check().unwrap() else {
            panic!()
        };
        let diffs: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert_eq!(
            diffs,
            vec![
                "vm.swappiness 60 -> 10",
                "net.ipv4.ip_local_port_range 32768 60999 -> 10000 65535"
            ]
        );
        s.apply().unwrap();
        assert_eq!(s.check().unwrap(), State::InSync);
    }

    #[test]
    fn sysctl_whitespace_in_values_is_not_drift() {
        let d = fake_proc();
        let s = Sysctl::new(vec![(
            "net.ipv4.ip_local_port_range".into(),
            "32768 60999".into(),
        )])
        .root(d.path());
        assert_eq!(s.check().unwrap(), State::InSync);
    }

    #[test]
    fn sysctl_unknown_key_is_reported_not_failed() {
        let d = fake_proc();
        let s = Sysctl::new(vec![("kernel.no_such_key".into(), "1".into())]).root(d.path());
        let State::Skip(why) = s.check().unwrap() else {
            panic!()
        };
        assert!(
            why.contains("unknown to this kernel: kernel.no_such_key"),
            "{why}"
        );
    }

    #[test]
    fn sysctl_read_only_key_is_skipped_with_its_values() {
        if nix::unistd::geteuid().is_root() {
            return; // root writes through 0444; the lab covers the read-only mount case
        }
        let d = fake_proc();
        let p = d.path().join("vm/swappiness");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
        let s = Sysctl::new(vec![("vm.swappiness".into(), "10".into())]).root(d.path());
        let State::Skip(why) = s.check().unwrap() else {
            panic!()
        };
        assert!(why.contains("vm.swappiness (is 60, want 10)"), "{why}");
    }

    #[test]
    fn sysfs_selector_compares_the_bracketed_choice() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("enabled"), "always [madvise] never\n").unwrap();
        let s = Sysctl::new(vec![("enabled".into(), "never".into())])
            .root(d.path())
            .label("transparent huge pages");
        assert_eq!(
            s.check().unwrap().words(),
            vec!["enabled madvise -> never".to_string()]
        );
        std::fs::write(d.path().join("enabled"), "always madvise [never]\n").unwrap();
        assert_eq!(s.check().unwrap(), State::InSync);
        assert_eq!(s.name(), "transparent huge pages (1)");
    }

    #[test]
    fn sysctl_conf_lists_keys_in_order() {
        let t = sysctl_conf(
            "a\n\nb",
            &[
                ("vm.swappiness".into(), "10".into()),
                ("fs.nr_open".into(), "8388608".into()),
            ],
        );
        assert_eq!(t, "# a\n#\n# b\nvm.swappiness = 10\nfs.nr_open = 8388608\n");
    }
}
