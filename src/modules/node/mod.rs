//! NODE module: every host of the inventory. Pigsty's `node.yml` on Debian 12 with
//! Debian's own packages: identity (hostname, `/etc/hosts`), packages, time zone,
//! the admin user, kernel tuning (`node_tune`), time (chrony), HAProxy and
//! node_exporter. After the handlers ran it makes sure every daemon runs its current
//! settings (`Fresh`: a restart or reload lost to an earlier failed run is redone) and
//! that both exporters answer.
//!
//! # HAProxy: how other modules expose services
//!
//! HAProxy runs on every node (`haproxy_enabled`) from our own unit in directory mode,
//! `haproxy -Ws -f /etc/haproxy/`: every `/etc/haproxy/*.cfg` is loaded, in name order.
//! NODE owns `/etc/haproxy/haproxy.cfg` (global, defaults, and the admin page plus
//! Prometheus metrics on `haproxy_exporter_port`, 9101), so a node without services
//! still runs haproxy. A module that exposes a service:
//!
//! - writes `/etc/haproxy/<cluster>-<service>.cfg` ([`haproxy_service_path`]), e.g.
//!   `/etc/haproxy/pg-meta-primary.cfg`, mode 0644, root:root, holding one
//!   `listen <cluster>-<service>` section;
//! - starts the file with its own `defaults` section (`mode tcp`, `timeout client` /
//!   `timeout server` from `haproxy_client_timeout` / `haproxy_server_timeout`,
//!   `timeout connect`, `timeout check`): files load in name order, and a cluster
//!   called `app` sorts before `haproxy.cfg`, so a file must not lean on the defaults
//!   of another one;
//! - notifies [`haproxy_reload`] (`Handler::Reload("haproxy.service")`, only when
//!   `haproxy_reload` is true). The unit checks every file before the reload
//!   (`haproxy -c`); a broken file fails the reload and the running config stays;
//! - removes its file when the service goes away (`Absent`), then reloads.
//!
//! A reload lost to a failed run is not lost for good: NODE's `Fresh` step reloads
//! haproxy whenever anything in `/etc/haproxy/` is newer than the running worker
//! (`haproxy_process_start_time_seconds`, whole seconds).
//!
//! Names `haproxy.cfg` and anything starting with `pigsty-` are reserved for NODE.
//! Listener names must be unique across files (`<cluster>-<service>` is).
use super::{Ctx, ScrapeTarget};
use crate::engine::{Handler, ModulePlan};
use crate::inventory::{Host, Inventory};
use crate::resources::{
    BlockInFile, Dir, Exec, File, Fresh, Hostname, HttpCheck, Note, OptionalPackage, Package,
    Service, SshKey, Symlink, Sysctl,
};
use crate::sys::Cmd;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

mod admin;
pub mod cron;
mod exporter;
mod firewall;
mod haproxy;
mod identity;
mod packages;
mod time;
mod timezone;
mod tune;
pub mod upstream;
pub mod vip;
pub use admin::sudoers;
use admin::*;
pub use exporter::node_exporter_default;
use exporter::*;
use firewall::*;
pub use firewall::{firewall_nft, FIREWALL_UNIT};
pub use haproxy::haproxy_cfg;
use haproxy::*;
pub use identity::etc_hosts_lines;
use identity::*;
use packages::*;
pub use packages::{node_packages, NodePackages};
use time::*;
pub use time::{chrony_conf, chrony_default, chrony_override};
use timezone::*;
use tune::*;
pub use tune::{sysctl_file, tune_params};

pub const HAPROXY_UNIT: &str = "haproxy.service";
pub const HAPROXY_DIR: &str = "/etc/haproxy";
const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
const HAPROXY_UNIT_FILE: &str = "/etc/systemd/system/haproxy.service";
const NODE_EXPORTER_UNIT: &str = "prometheus-node-exporter.service";
const NODE_EXPORTER_DEFAULT: &str = "/etc/default/prometheus-node-exporter";
const CHRONY_UNIT: &str = "chrony.service";
const CHRONY_DROPIN: &str = "/etc/systemd/system/chrony.service.d/pigsty.conf";
const SYSCTL_FILE: &str = "/etc/sysctl.d/90-pigsty.conf";
const THP_DIR: &str = "/sys/kernel/mm/transparent_hugepage";

/// Where a module puts the HAProxy file of service `service` of cluster `cluster`.
pub fn haproxy_service_path(cluster: &str, service: &str) -> String {
    format!("{HAPROXY_DIR}/{cluster}-{service}.cfg")
}

/// The handler a module notifies after changing a file in `/etc/haproxy/`, when the
/// host's `haproxy_reload` allows it (empty otherwise).
pub fn haproxy_reload(host: &Host) -> Vec<Handler> {
    if host.var_bool("haproxy_enabled") && host.var_bool("haproxy_reload") {
        vec![Handler::Reload(HAPROXY_UNIT.into())]
    } else {
        vec![]
    }
}

/// Debian packages among Pigsty's node package names (checked with `apt-cache
/// policy` on bookworm and trixie: every name here exists on both): installed in one
/// `apt-get` call. Other names go through
/// `OptionalPackage` one by one (skipped with a reason when no source has them).
const DEBIAN: &[&str] = &[
    "acl",
    "bash",
    "bind9-dnsutils",
    "bzip2",
    "ca-certificates",
    "chrony",
    "etcd-client",
    "git",
    "haproxy",
    "htop",
    "iotop",
    "ipvsadm",
    "jq",
    "keepalived",
    "libreadline-dev",
    "lrzsz",
    "lsof",
    "lz4",
    "make",
    "ncdu",
    "net-tools",
    "numactl",
    "nvme-cli",
    "openssh-client",
    "openssh-server",
    "openssl",
    "patch",
    "prometheus-node-exporter",
    "pv",
    "python3",
    "python3-pip",
    "rsync",
    "socat",
    "sudo",
    "sysstat",
    "tcpdump",
    "telnet",
    "tzdata",
    "unzip",
    "uuid",
    "vim-tiny",
    "wget",
    "zlib1g",
];

/// `node_repo_modules: local`: the infra node's repository (once `pigsty repo build`
/// published it) as the apt source, the only one with `node_repo_remove`.
fn local_repo(ctx: &Ctx, p: &mut ModulePlan) {
    let h = ctx.host;
    let wanted = upstream::repo_modules(h).contains(&"local");
    if !wanted || !h.var_bool("repo_enabled") {
        return;
    }
    let name = h.var_str("repo_name");
    let endpoint = h.expand(h.var_str("repo_endpoint"));
    let url = format!("{}/{name}", endpoint.trim_end_matches('/'));
    let serves = ctx.inv.infra_hosts().iter().any(|i| i.addr == h.addr);
    let dir = serves.then(|| std::path::Path::new(h.var_str("repo_home")).join(name));
    p.add(crate::resources::LocalRepo::new(
        &url,
        dir,
        h.var_bool("node_repo_remove"),
        &ctx.facts.os_codename,
    ));
}

/// A list parameter as strings, `${admin_ip}` placeholders expanded.
fn strings(h: &Host, key: &str) -> Vec<String> {
    h.list(key)
        .map(|l| {
            l.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(h.expand(s)),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The node's name for labels and pages: `nodename` (or the pg instance with
/// `node_id_from_pg`), else its address.
pub fn node_name(h: &Host) -> String {
    h.id.nodename.clone().unwrap_or_else(|| h.addr.clone())
}

/// The node's cluster (`node_cluster`, or `pg_cluster` with `node_id_from_pg`).
pub fn node_cluster(h: &Host) -> String {
    h.id.node_cluster.clone().unwrap_or_else(|| "nodes".into())
}

pub fn plan(ctx: &Ctx) -> Result<ModulePlan> {
    let h = ctx.host;
    let mut p = ModulePlan::new("node");
    identity(h, &mut p)?;
    local_repo(ctx, &mut p);
    upstream::upstream_repos(ctx, &mut p)?;
    packages(h, &mut p);
    timezone(h, &mut p)?;
    p.add(Dir::new(h.var_str("node_data")));
    admin(h, &mut p)?;
    tune(ctx, &mut p)?;
    ntp(h, ctx.facts, &mut p)?;
    haproxy(ctx, &mut p)?;
    node_exporter(h, &mut p)?;
    firewall(h, &mut p)?;
    vip::node_vip(ctx, &mut p)?;
    cron::crontab(h, &mut p)?;
    super::pki::trust_steps(&mut p, &ctx.opts.pki);
    // Restarts and reloads happen now, so the checks below see the new processes.
    p.flush();
    // Daemons older than their settings (a restart lost to an earlier failed run).
    if h.var_bool("node_ntp_enabled") {
        p.add(Fresh::restart(
            CHRONY_UNIT,
            &[
                "/etc/chrony/chrony.conf",
                "/etc/default/chrony",
                CHRONY_DROPIN,
            ],
        ));
    }
    if h.var_bool("node_exporter_enabled") {
        p.add(Fresh::restart(NODE_EXPORTER_UNIT, &[NODE_EXPORTER_DEFAULT]));
    }
    if h.var_bool("haproxy_enabled") {
        let addr = format!("{}:{}", h.addr, h.var_port("haproxy_exporter_port"));
        p.add(Fresh::restart(HAPROXY_UNIT, &[HAPROXY_UNIT_FILE]));
        if h.var_bool("haproxy_reload") {
            // A reload starts a new worker, which serves the metrics: its start time
            // tells whether it has read every file in /etc/haproxy.
            p.add(Fresh::reload(
                HAPROXY_UNIT,
                &[HAPROXY_DIR],
                &addr,
                "/metrics",
                "haproxy_process_start_time_seconds",
            ));
        }
        p.add(
            HttpCheck::new(
                "haproxy metrics",
                &addr,
                "/metrics",
                Duration::from_secs(30),
            )
            .expect("haproxy_process_"),
        );
    }
    if h.var_bool("node_exporter_enabled") {
        let addr = format!("{}:{}", h.addr, h.var_port("node_exporter_port"));
        p.add(
            HttpCheck::new(
                "node_exporter metrics",
                &addr,
                "/metrics",
                Duration::from_secs(30),
            )
            .expect("node_exporter_build_info"),
        );
    }
    Ok(p)
}

pub fn targets(_inv: &Inventory, h: &Host) -> Vec<ScrapeTarget> {
    let (cls, ins) = (node_cluster(h), node_name(h));
    let mut v = vec![];
    if h.var_bool("node_exporter_enabled") {
        v.push(ScrapeTarget::new(
            "node",
            format!("{}:{}", h.addr, h.var_port("node_exporter_port")),
            &cls,
            &ins,
            &h.addr,
        ));
    }
    if h.var_bool("haproxy_enabled") {
        v.push(ScrapeTarget::new(
            "haproxy",
            format!("{}:{}", h.addr, h.var_port("haproxy_exporter_port")),
            &cls,
            &ins,
            &h.addr,
        ));
    }
    v
}

/// The plan that takes a node out of management (`pigsty node rm`): the services the
/// NODE module runs for pigsty (HAProxy, node_exporter) stopped and disabled, our
/// HAProxy unit removed. Users, packages, tuning and chrony stay: the machine keeps
/// working as a plain server.
pub fn plan_remove(_ctx: &Ctx) -> Result<ModulePlan> {
    let mut p = ModulePlan::new("node");
    // the node VIP moves to the other members of the node cluster
    p.add_notify(
        crate::resources::Absent::new(vip::NODE_VIP_FILE),
        vec![Handler::Reload(vip::KEEPALIVED_UNIT.into())],
    );
    p.add(Service::stopped(NODE_EXPORTER_UNIT));
    p.add(Service::stopped(HAPROXY_UNIT));
    p.add_notify(
        crate::resources::Absent::new(HAPROXY_UNIT_FILE),
        vec![Handler::DaemonReload],
    );
    // the node leaves pigsty: so does pigsty's firewall table
    p.add(Service::stopped(FIREWALL_UNIT));
    p.add_notify(
        crate::resources::Absent::new(FIREWALL_UNIT_FILE),
        vec![Handler::DaemonReload],
    );
    p.add(crate::resources::Absent::new(FIREWALL_FILE));
    Ok(p)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::facts::Facts;

    /// The meta profile for 10.10.10.10 (tuning oltp) with fixed fake secrets, plus
    /// extra vars as `-e` takes them.
    pub fn meta_inventory(extra: &[&str]) -> Inventory {
        let secrets: serde_json::Map<String, Value> = crate::inventory::SECRETS
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    json!(format!("fake-{}", k.replace('_', "-"))),
                )
            })
            .collect();
        let text = crate::template::render_str(
            crate::assets::profile("meta").unwrap(),
            &json!({ "admin_ip": "10.10.10.10", "node_tune": "oltp", "pg_conf": "oltp.yml", "secrets": secrets }),
        )
        .unwrap();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Inventory::from_str("meta.yml", &text, &extra).unwrap()
    }

    pub fn fake_facts() -> Facts {
        Facts::test_meta()
    }

    fn with<T>(extra: &[&str], f: impl FnOnce(&Ctx) -> T) -> T {
        let inv = meta_inventory(extra);
        let facts = fake_facts();
        let ctx = Ctx::new(&inv, &inv.hosts[0], &facts);
        f(&ctx)
    }

    #[test]
    fn snapshot_haproxy_cfg() {
        let t = with(&[], |c| haproxy_cfg(c).unwrap());
        assert!(t.contains("stats       auth admin:fake-haproxy-admin-password"));
        insta::assert_snapshot!(t);
    }

    #[test]
    fn snapshot_haproxy_unit() {
        insta::assert_snapshot!(asset("node/haproxy.service").unwrap());
    }

    #[test]
    fn snapshot_chrony_files() {
        let t = with(&[], |c| chrony_conf(c.host).unwrap());
        insta::assert_snapshot!("chrony_conf", t);
        insta::assert_snapshot!(
            "chrony_default_can_set_clock",
            chrony_default(true).unwrap()
        );
        insta::assert_snapshot!("chrony_default_container", chrony_default(false).unwrap());
        insta::assert_snapshot!(
            "chrony_override_can_set_clock",
            chrony_override(true).unwrap()
        );
        insta::assert_snapshot!("chrony_override_container", chrony_override(false).unwrap());
    }

    #[test]
    fn snapshot_sysctl_conf_per_profile() {
        for tune in TUNES {
            let t = with(&[&format!("node_tune={tune}")], |c| {
                sysctl_file(c.host, c.facts.mem_bytes).unwrap()
            });
            insta::assert_snapshot!(format!("sysctl_{tune}"), t);
        }
    }

    #[test]
    fn snapshot_node_exporter_default_and_sudoers() {
        insta::assert_snapshot!(
            "node_exporter_default",
            with(&[], |c| node_exporter_default(c.host).unwrap())
        );
        insta::assert_snapshot!("sudoers", with(&[], |c| sudoers(c.host).unwrap()));
        insta::assert_snapshot!(
            "disable_thp_service",
            asset("node/disable-thp.service").unwrap()
        );
    }

    #[test]
    fn etc_hosts_expands_admin_ip_and_drops_duplicates() {
        let lines = with(&[], |c| etc_hosts_lines(c.host));
        assert_eq!(lines, vec!["10.10.10.10 i.pigsty"]);
    }

    #[test]
    fn etc_hosts_names_the_host_when_it_is_renamed() {
        let lines = with(&["nodename_overwrite=true"], |c| etc_hosts_lines(c.host));
        assert_eq!(lines, vec!["10.10.10.10 i.pigsty", "10.10.10.10 pg-meta-1"]);
    }

    #[test]
    fn meta_profile_keeps_the_hostname() {
        // nodename_overwrite: false in the meta profile: no hostname step.
        with(&[], |c| assert_eq!(new_hostname(c.host), None));
    }

    #[test]
    fn pigsty_package_names_map_to_debian_and_unknown_ones_are_optional() {
        let pk = with(&[], |c| node_packages(c.host));
        for n in [
            "prometheus-node-exporter",
            "etcd-client",
            "haproxy",
            "chrony",
            "sudo",
            "openssh-server",
        ] {
            assert!(pk.debian.contains(&n.to_string()), "{n} in {:?}", pk.debian);
        }
        assert_eq!(pk.other, vec!["pig", "vector"]);
        assert_eq!(pk.left_out.len(), 1);
        assert_eq!(pk.left_out[0].0, "tuned");
        assert!(!pk
            .debian
            .iter()
            .any(|n| n == "node-exporter" || n == "etcd" || n == "tuned"));
    }

    #[test]
    fn tune_rejects_an_unknown_profile() {
        let e = with(&["node_tune=fast"], |c| {
            tune_params(c.host, 1 << 30).unwrap_err().to_string()
        });
        assert!(
            e.contains("`node_tune` `fast` is not one of none, oltp, olap, crit, tiny"),
            "{e}"
        );
    }

    #[test]
    fn node_sysctl_params_win_over_the_profile() {
        let v = with(
            &["{node_sysctl_params: {vm.swappiness: 5, fs.nr_open: 8388608}}"],
            |c| tune_params(c.host, 8 << 30).unwrap(),
        );
        assert!(v.contains(&("vm.swappiness".into(), "5".into())), "{v:?}");
        assert_eq!(v.iter().filter(|(k, _)| k == "vm.swappiness").count(), 1);
    }

    #[test]
    fn hugepage_ratio_becomes_a_page_count() {
        let v = with(&["node_hugepage_ratio=0.25"], |c| {
            tune_params(c.host, 8 << 30).unwrap()
        });
        assert!(
            v.contains(&("vm.nr_hugepages".into(), "1024".into())),
            "{v:?}"
        );
    }

    #[test]
    fn firewall_zone_lets_the_intranet_in_and_the_world_to_public_ports_only() {
        let t = with(&["{node_firewall_intranet: [10.10.10.10/32, 10.10.10.11, 'fd00::/8'], node_firewall_public_port: [5432, 22, 22]}"], |c| firewall_nft(c.host)).unwrap();
        assert!(
            t.contains("elements = { 10.10.10.10/32, 10.10.10.11 }"),
            "{t}"
        );
        assert!(t.contains("elements = { fd00::/8 }"), "{t}");
        assert!(t.contains("policy drop;"), "{t}");
        assert!(t.contains("tcp dport { 22, 5432 } accept"), "{t}");
        let e = with(&["{node_firewall_intranet: [10.10.10.300/8]}"], |c| {
            firewall_nft(c.host)
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(
                "`node_firewall_intranet[0]` is `10.10.10.300/8`, not an IP address or CIDR"
            ),
            "{e}"
        );
        let e = with(&["{node_firewall_public_port: [http]}"], |c| {
            firewall_nft(c.host)
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("`node_firewall_public_port[0]`"), "{e}");
        // the default: Pigsty's private ranges, ports 22, 80, 443, 5432
        let t = with(&[], |c| firewall_nft(c.host)).unwrap();
        assert!(
            t.contains("10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12")
                && t.contains("{ 22, 80, 443, 5432 }"),
            "{t}"
        );
        assert!(!t.contains("intranet6"), "no empty IPv6 set: {t}");
    }

    #[test]
    fn firewall_off_removes_pigstys_table_and_none_leaves_it_alone() {
        let names = |extra: &str| -> Vec<String> {
            with(&[extra], plan)
                .unwrap()
                .steps()
                .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
                .filter(|n| n.contains("firewall"))
                .collect()
        };
        assert!(
            names("{node_firewall_mode: 'off'}")
                .iter()
                .any(|n| n.starts_with("service pigsty-firewall")),
            "{:?}",
            names("{node_firewall_mode: 'off'}")
        );
        assert!(names("{node_firewall_mode: none}").is_empty());
        assert!(names("{}").iter().any(|n| n.contains("firewall.nft")));
    }

    #[test]
    fn haproxy_auth_needs_a_password() {
        let e = with(&["{haproxy_admin_password: 'has space'}"], |c| {
            haproxy_cfg(c).unwrap_err().to_string()
        });
        assert!(e.contains("haproxy_admin_password"), "{e}");
    }

    #[test]
    fn haproxy_without_auth_has_no_credentials() {
        let t = with(&["haproxy_auth_enabled=false"], |c| haproxy_cfg(c).unwrap());
        assert!(
            !t.contains("stats       auth") && !t.contains("fake-haproxy"),
            "{t}"
        );
        assert!(t.contains("no password"), "{t}");
    }

    #[test]
    fn disabled_services_are_stopped_not_configured() {
        let p = with(
            &[
                "haproxy_enabled=false",
                "node_exporter_enabled=false",
                "node_ntp_enabled=false",
            ],
            |c| plan(c).unwrap(),
        );
        let names: Vec<String> = p
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect();
        assert!(
            !names.iter().any(|n| n.contains("haproxy.cfg")
                || n.contains("chrony")
                || n.starts_with("http")),
            "{names:?}"
        );
        assert!(
            names.contains(&"service haproxy.service".to_string()),
            "{names:?}"
        );
        let t = with(
            &["haproxy_enabled=false", "node_exporter_enabled=false"],
            |c| targets(c.inv, c.host),
        );
        assert!(t.is_empty(), "{t:?}");
    }

    #[test]
    fn targets_label_node_and_haproxy_with_node_identity() {
        let t = with(&[], |c| targets(c.inv, c.host));
        let got: Vec<(String, String, String, String)> = t
            .iter()
            .map(|t| {
                (
                    t.job.clone(),
                    t.addr.clone(),
                    t.labels["cls"].clone(),
                    t.labels["ins"].clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "node".into(),
                    "10.10.10.10:9100".into(),
                    "pg-meta".into(),
                    "pg-meta-1".into()
                ),
                (
                    "haproxy".into(),
                    "10.10.10.10:9101".into(),
                    "pg-meta".into(),
                    "pg-meta-1".into()
                ),
            ]
        );
    }

    #[test]
    fn plan_builds_for_the_meta_profile() {
        let p = with(&[], |c| plan(c).unwrap());
        let names: Vec<String> = p
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect();
        assert!(
            names.iter().any(|n| n == "file /etc/haproxy/haproxy.cfg"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n == "service haproxy.service"),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.starts_with("hostname")),
            "meta keeps its hostname: {names:?}"
        );
    }
}
