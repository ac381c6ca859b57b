//! Facts a node gathers about itself: OS, CPU, memory, addresses, the clock, and for
//! PGSQL the Postgres packages installed and offered and the data directory's version.
//! Gathering is the only place that looks at the machine; planning reads these.
use crate::sys::pkg::PackageManager;
use crate::sys::Cmd;
use serde::Serialize;
use std::collections::BTreeMap;

/// Debian releases pigsty converges (`VERSION_ID`).
pub const SUPPORTED_DEBIAN: &[&str] = &["12", "13"];

/// Postgres majors pigsty knows how to run, newest first.
pub const PG_MAJORS: &[u32] = &[18, 17, 16, 15, 14, 13];

/// What the package manager says about the packages planning decides on.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct PackageFacts {
    /// Installed packages among those asked about: name -> `true`.
    pub installed: BTreeMap<String, bool>,
    /// Versions the configured sources offer (installed or not): name -> version.
    pub candidates: BTreeMap<String, String>,
    /// Installed versions of the packages whose version decides a setting (`patroni`).
    pub versions: BTreeMap<String, String>,
    /// The repositories the candidates came from, `URI suite` each (`sys::pkg::apt_sources`).
    pub sources: Vec<String>,
}

impl PackageFacts {
    pub fn installed(&self, name: &str) -> bool {
        self.installed.get(name).copied().unwrap_or(false)
    }
    pub fn offered(&self, name: &str) -> bool {
        self.candidates.contains_key(name)
    }
    /// The version that runs: the installed one, else the one apt would install.
    pub fn version(&self, name: &str) -> Option<&str> {
        self.versions
            .get(name)
            .or_else(|| self.candidates.get(name))
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Facts {
    pub hostname: String,
    /// `/etc/os-release` ID, e.g. `debian`.
    pub os_id: String,
    /// e.g. `12`.
    pub os_version_id: String,
    /// e.g. `bookworm`.
    pub os_codename: String,
    pub arch: String,
    pub cpus: usize,
    pub mem_bytes: u64,
    pub mem_mb: u64,
    pub ipv4: Vec<String>,
    /// The interface of each of `ipv4` (`eth0`), for an L2 VIP on the node's own link.
    pub ipv4_ifaces: BTreeMap<String, String>,
    pub primary_ipv4: Option<String>,
    pub is_root: bool,
    pub has_systemd: bool,
    /// Services this host starts may set the clock (CAP_SYS_TIME in the bounding set,
    /// as systemd's ConditionCapability sees it; a container usually may not).
    pub can_set_clock: bool,
    /// Seconds since the epoch when the facts were gathered (role expiry dates).
    pub now: i64,
    /// `postgresql-NN` packages (see [`Facts::gather_postgres`]).
    pub packages: PackageFacts,
    /// `PG_VERSION` of the host's data directory, when it holds a cluster.
    pub pg_data_version: Option<u32>,
}

fn os_release() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

impl Facts {
    pub fn gather() -> Facts {
        let osr = os_release();
        let get = |k: &str| {
            osr.iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut sys = sysinfo::System::new();
        sys.refresh_memory();
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let ifaces = local_ipv4_ifaces();
        let ipv4: Vec<String> = ifaces.iter().map(|(ip, _)| ip.clone()).collect();
        let primary = primary_ipv4().or_else(|| ipv4.first().cloned());
        Facts {
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            os_id: get("ID"),
            os_version_id: get("VERSION_ID"),
            os_codename: get("VERSION_CODENAME"),
            arch: std::env::consts::ARCH.into(),
            cpus,
            mem_bytes: sys.total_memory(),
            mem_mb: sys.total_memory() / 1024 / 1024,
            ipv4,
            ipv4_ifaces: ifaces.into_iter().collect(),
            primary_ipv4: primary,
            is_root: nix::unistd::geteuid().is_root(),
            has_systemd: std::path::Path::new("/run/systemd/system").exists(),
            can_set_clock: crate::sys::caps::has_cap("CapBnd", crate::sys::caps::CAP_SYS_TIME),
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            packages: PackageFacts::default(),
            pg_data_version: None,
        }
    }

    /// Add what PGSQL decides its version from: the `postgresql-NN` packages installed
    /// and offered by the apt sources, and the version of the cluster in `pg_data`;
    /// and Patroni's version (installed, else offered), which bounds the `pg_rto` timings.
    pub fn gather_postgres(&mut self, pg_data: &str) {
        self.gather_postgres_with(&crate::sys::pkg::Apt, pg_data)
    }

    pub fn gather_postgres_with(&mut self, pm: &dyn PackageManager, pg_data: &str) {
        let names: Vec<String> = PG_MAJORS
            .iter()
            .map(|n| format!("postgresql-{n}"))
            .collect();
        let missing = pm.missing(&names).unwrap_or_else(|_| names.clone());
        for n in &names {
            self.packages
                .installed
                .insert(n.clone(), !missing.contains(n));
        }
        self.packages.candidates.extend(pm.candidates(&names));
        self.packages.sources = crate::sys::pkg::apt_sources(std::path::Path::new("/etc/apt"));
        self.gather_versions_with(pm, &["patroni"]);
        self.pg_data_version = std::fs::read_to_string(format!("{pg_data}/PG_VERSION"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
    }

    /// Record the version of each package whose version decides a setting (installed,
    /// else the one the sources offer): see `modules::versioned_packages`.
    pub fn gather_versions(&mut self, names: &[&str]) {
        self.gather_versions_with(&crate::sys::pkg::Apt, names)
    }

    pub fn gather_versions_with(&mut self, pm: &dyn PackageManager, names: &[&str]) {
        for n in names {
            if let Some(v) = pm.installed_version(n) {
                self.packages.versions.insert(n.to_string(), v);
            } else if let Some(v) = pm.candidate(n) {
                self.packages.candidates.insert(n.to_string(), v);
            }
        }
    }

    /// Facts of an imaginary 4-cpu, 8 GiB Debian 12 host at 10.10.10.10, for snapshot tests.
    #[cfg(test)]
    pub fn test_meta() -> Facts {
        Facts {
            hostname: "meta".into(),
            os_id: "debian".into(),
            os_version_id: "12".into(),
            os_codename: "bookworm".into(),
            arch: "x86_64".into(),
            cpus: 4,
            mem_bytes: 8 << 30,
            mem_mb: 8192,
            ipv4: vec!["10.10.10.10".into()],
            ipv4_ifaces: [("10.10.10.10".to_string(), "eth0".to_string())]
                .into_iter()
                .collect(),
            primary_ipv4: Some("10.10.10.10".into()),
            is_root: true,
            has_systemd: true,
            can_set_clock: true,
            now: 1_767_225_600, // 2026-01-01T00:00:00Z
            packages: PackageFacts {
                installed: BTreeMap::new(),
                candidates: [
                    ("postgresql-15", "15.14-0+deb12u1"),
                    ("patroni", "3.0.2-1"),
                    ("prometheus-nginx-exporter", "0.11.0-2"),
                ]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
                versions: BTreeMap::new(),
                sources: vec!["http://deb.debian.org/debian bookworm".into()],
            },
            pg_data_version: None,
        }
    }

    /// The release's key in the manifests (`debian-13`): `repo-mirror/<key>.yml`, the
    /// per-distro columns of `repo-mirror/extensions.yml`.
    pub fn distro_key(&self) -> String {
        let major = self.os_version_id.split('.').next().unwrap_or("");
        format!("{}-{major}", self.os_id)
    }

    /// The OSes pigsty converges: Debian 12 (bookworm) and 13 (trixie).
    pub fn supported(&self) -> bool {
        self.os_id == "debian" && SUPPORTED_DEBIAN.contains(&self.os_version_id.as_str())
    }
}

/// (major, minor) of a Debian package version: `1:2.3.3-1` -> (2, 3), `3.0.2-1` -> (3, 0).
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.split_once(':').map_or(version, |(_, rest)| rest); // a Debian epoch
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    Some((
        it.next()?.parse::<u32>().ok()?,
        it.next().and_then(|s| s.parse::<u32>().ok()).unwrap_or(0),
    ))
}

/// Non-loopback IPv4 addresses of this host.
pub fn local_ipv4s() -> Vec<String> {
    local_ipv4_ifaces().into_iter().map(|(ip, _)| ip).collect()
}

/// (address, interface) of each global IPv4 address, in `ip addr` order.
pub fn local_ipv4_ifaces() -> Vec<(String, String)> {
    let Ok(o) = Cmd::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .run()
    else {
        return vec![];
    };
    parse_ip_addr(&o.stdout)
}

/// `2: eth0@if7    inet 10.10.10.11/24 brd ...` → (`10.10.10.11`, `eth0`)
fn parse_ip_addr(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let dev = it.nth(1)?.split('@').next()?.to_string();
            it.position(|w| w == "inet")?;
            let ip = it.next()?.split('/').next()?.to_string();
            Some((ip, dev))
        })
        .collect()
}

/// The source address of the default route (no packet is sent).
fn primary_ipv4() -> Option<String> {
    let o = Cmd::new("ip")
        .args(["-4", "route", "show", "default"])
        .run()
        .ok()?;
    let dev = o
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)?
        .to_string();
    let a = Cmd::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &dev, "scope", "global"])
        .run()
        .ok()?;
    a.stdout
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)?
        .split('/')
        .next()
        .map(str::to_string)
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn major_minor_reads_debian_versions() {
        assert_eq!(major_minor("3.0.2-1"), Some((3, 0)));
        assert_eq!(major_minor("1:2.3.3-1"), Some((2, 3)));
        assert_eq!(major_minor("4.0.7-3~deb13u1"), Some((4, 0)));
        assert_eq!(major_minor("17"), Some((17, 0)));
        assert_eq!(major_minor("abc"), None);
    }

    #[test]
    fn debian_12_and_13_are_supported_and_nothing_else() {
        let mut f = Facts::test_meta();
        for (id, v, ok) in [
            ("debian", "12", true),
            ("debian", "13", true),
            ("debian", "11", false),
            ("ubuntu", "22.04", false),
        ] {
            f.os_id = id.into();
            f.os_version_id = v.into();
            assert_eq!(f.supported(), ok, "{id} {v}");
        }
    }
}
