//! Packages: Debian's defaults and `node_packages`.
use super::*;

/// What NODE installs: Debian packages (one `apt-get` call), other names (one
/// optional step each) and names it deliberately leaves out, with the reason.
#[derive(Debug, Default, PartialEq)]
pub struct NodePackages {
    pub debian: Vec<String>,
    pub other: Vec<String>,
    pub left_out: Vec<(String, String)>,
}

pub fn node_packages(h: &Host) -> NodePackages {
    let mut names: Vec<String> = vec![];
    for item in strings(h, "node_default_packages")
        .into_iter()
        .chain(strings(h, "node_packages"))
    {
        names.extend(
            item.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
    }
    // What the steps below need, whatever the lists say.
    let mut need = vec![];
    if h.var_bool("haproxy_enabled") {
        need.push("haproxy");
    }
    if h.var_bool("node_ntp_enabled") {
        need.push("chrony");
    }
    if h.var_bool("node_exporter_enabled") {
        need.push("prometheus-node-exporter");
    }
    if h.var_bool("node_admin_enabled") {
        need.extend(["sudo", "openssh-client"]);
    }
    if !h.var_str("node_timezone").is_empty() {
        need.push("tzdata");
    }
    names.extend(need.into_iter().map(String::from));

    let mut out = NodePackages::default();
    for n in names {
        let n = match n.as_str() {
            // Pigsty's names for what Debian calls otherwise
            "node-exporter" | "node_exporter" => "prometheus-node-exporter".to_string(),
            // `dnsutils` is a transitional name on bookworm and gone on trixie
            "dnsutils" => "bind9-dnsutils".to_string(),
            // etcdctl on every node; the server comes with the ETCD module
            "etcd" => "etcd-client".to_string(),
            "tuned" => {
                let why = "pigsty applies `node_tune` itself (sysctl, transparent huge pages); tuned's daemon would apply its own profile over it";
                if !out.left_out.iter().any(|(x, _)| x == "tuned") {
                    out.left_out.push(("tuned".into(), why.into()));
                }
                continue;
            }
            _ => n,
        };
        if DEBIAN.contains(&n.as_str()) {
            if !out.debian.contains(&n) {
                out.debian.push(n);
            }
        } else if !out.other.contains(&n) {
            out.other.push(n);
        }
    }
    out
}

pub(super) fn packages(h: &Host, p: &mut ModulePlan) {
    let pk = node_packages(h);
    if !pk.debian.is_empty() {
        p.add(Package::new("node packages", pk.debian.clone()));
    }
    for n in &pk.other {
        p.add(OptionalPackage::new(
            "node",
            n,
            &[n.as_str()],
            "hint: add the repository that provides it, or remove it from `node_packages`/`node_default_packages`",
        ));
    }
    for (n, why) in &pk.left_out {
        p.add(Note::skip("package", n, why));
    }
}
