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

/// Debian 12 packages among Pigsty's node package names (checked with `apt-cache
/// policy` on bookworm): installed in one `apt-get` call. Other names go through
/// `OptionalPackage` one by one (skipped with a reason when no source has them).
const DEBIAN12: &[&str] = &[
    "acl",
    "bash",
    "bzip2",
    "ca-certificates",
    "chrony",
    "dnsutils",
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
    let wanted = h.var_str("node_repo_modules")
        .split(',')
        .any(|m| m.trim() == "local");
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
    packages(h, &mut p);
    timezone(h, &mut p)?;
    p.add(Dir::new(h.var_str("node_data")));
    admin(h, &mut p)?;
    tune(ctx, &mut p)?;
    ntp(h, ctx.facts, &mut p)?;
    haproxy(ctx, &mut p)?;
    node_exporter(h, &mut p)?;
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

//--------------------------------------------------------------------------
// identity
//--------------------------------------------------------------------------

fn valid_hostname(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The name to give this host, when NODE renames it.
fn new_hostname(h: &Host) -> Option<&str> {
    h.id.nodename
        .as_deref()
        .filter(|_| h.var_bool("nodename_overwrite"))
}

/// Lines of our block in `/etc/hosts`: Pigsty's static records, then this host's
/// own name when NODE renames it (sudo and many tools resolve their own hostname).
pub fn etc_hosts_lines(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = vec![];
    let mut push = |l: String| {
        let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
        if !l.is_empty() && !v.contains(&l) {
            v.push(l);
        }
    };
    for l in strings(h, "node_default_etc_hosts")
        .into_iter()
        .chain(strings(h, "node_etc_hosts"))
    {
        push(l);
    }
    if let Some(n) = new_hostname(h) {
        if h.addr.parse::<std::net::IpAddr>().is_ok() {
            push(format!("{} {n}", h.addr));
        }
    }
    v
}

fn identity(h: &Host, p: &mut ModulePlan) -> Result<()> {
    if let Some(n) = new_hostname(h) {
        if !valid_hostname(n) {
            bail!("host `{}`: `nodename` `{n}` is not a valid host name\nhint: letters, digits and `-`, in dot-separated labels", h.addr);
        }
        p.add(Hostname::new(n));
    }
    if h.var_bool("node_write_etc_hosts") {
        p.add(BlockInFile::new("/etc/hosts", "pigsty", etc_hosts_lines(h)));
    }
    Ok(())
}

//--------------------------------------------------------------------------
// packages
//--------------------------------------------------------------------------

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
        if DEBIAN12.contains(&n.as_str()) {
            if !out.debian.contains(&n) {
                out.debian.push(n);
            }
        } else if !out.other.contains(&n) {
            out.other.push(n);
        }
    }
    out
}

fn packages(h: &Host, p: &mut ModulePlan) {
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

//--------------------------------------------------------------------------
// time zone
//--------------------------------------------------------------------------

fn timezone(h: &Host, p: &mut ModulePlan) -> Result<()> {
    let tz = h.var_str("node_timezone");
    if tz.is_empty() {
        return Ok(());
    }
    let ok_chars = tz
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c));
    if !ok_chars || tz.contains("..") || tz.starts_with('/') {
        bail!("host `{}`: `node_timezone` `{tz}` is not a time zone name\nhint: e.g. `UTC`, `Asia/Hong_Kong`", h.addr);
    }
    let zone = format!("/usr/share/zoneinfo/{tz}");
    // the zone's existence is the machine's to tell: the link's check fails first
    let unknown = format!("host `{}`: `node_timezone` `{tz}` is not a known time zone (no `{zone}`)\nhint: see `timedatectl list-timezones`", h.addr);
    p.add(Symlink::new("/etc/localtime", zone).target_must_exist(unknown));
    p.add(File::new("/etc/timezone", format!("{tz}\n")));
    Ok(())
}

//--------------------------------------------------------------------------
// admin user
//--------------------------------------------------------------------------

/// The sudoers rule for the admin user (`node_admin_sudo`: `nopass` or `all`).
pub fn sudoers(h: &Host) -> Result<String> {
    let user = h.var_str("node_admin_username");
    let rule = match h.var_str("node_admin_sudo") {
        "nopass" => "ALL=(ALL) NOPASSWD: ALL",
        "all" => "ALL=(ALL) ALL",
        other => bail!(
            "host `{}`: `node_admin_sudo` `{other}` is not one of nopass, all",
            h.addr
        ),
    };
    Ok(format!(
        "# written by pigsty (NODE): admin user `{user}`, node_admin_sudo = {}\n{user} {rule}\n",
        h.var_str("node_admin_sudo")
    ))
}

fn admin(h: &Host, p: &mut ModulePlan) -> Result<()> {
    if !h.var_bool("node_admin_enabled") {
        return Ok(());
    }
    let user = h.var_str("node_admin_username");
    let valid = !user.is_empty()
        && user.len() <= 32
        && user
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        bail!("host `{}`: `node_admin_username` `{user}` is not a valid user name\nhint: lowercase letters, digits, `_` and `-`", h.addr);
    }
    let uid = h.var_int("node_admin_uid");
    if !(1..=60000).contains(&uid) {
        bail!(
            "host `{}`: `node_admin_uid` {uid} is out of range 1..60000",
            h.addr
        );
    }
    let uid = uid.to_string();
    p.add(
        Exec::new(
            &format!("group {user} (gid {uid})"),
            Cmd::new("groupadd").args(["--gid", &uid, user]),
        )
        .unless(Cmd::new("getent").args(["group", user]))
        .why("absent"),
    );
    p.add(
        Exec::new(
            &format!("user {user} (uid {uid})"),
            Cmd::new("useradd").args([
                "--uid",
                &uid,
                "--gid",
                user,
                "--create-home",
                "--shell",
                "/bin/bash",
                "--comment",
                "pigsty admin user",
                user,
            ]),
        )
        .unless(Cmd::new("getent").args(["passwd", user]))
        .why("absent"),
    );
    p.add(File::new(format!("/etc/sudoers.d/{user}"), sudoers(h)?).mode(0o440));
    p.add(SshKey::new(user, strings(h, "node_admin_pk_list")));
    Ok(())
}

//--------------------------------------------------------------------------
// kernel tuning
//--------------------------------------------------------------------------

const TUNES: &[&str] = &["none", "oltp", "olap", "crit", "tiny"];

/// Kernel parameters for `node_tune` (our own values, after what Pigsty's tuned
/// profiles aim at), then hugepages and overcommit, then `node_sysctl_params` last
/// (the user wins).
///
/// - all profiles: deep listen queues, a local port range above the service ports,
///   fast detection of dead peers (TCP keepalive after 60s), no autogroup scheduling,
///   no NUMA zone reclaim;
/// - `oltp`: latency first: little swapping, small dirty-page windows (steady
///   writeback instead of bursts), no automatic NUMA page migration;
/// - `olap`: throughput first: larger dirty-page windows for big sequential writes;
/// - `crit`: data first: swapping almost off, the smallest dirty windows and an
///   early flush, so less unwritten data sits in memory;
/// - `tiny`: small machines: moderate queues, swapping allowed (memory is scarce);
/// - `none`: only `node_sysctl_params`, hugepages and overcommit.
pub fn tune_params(h: &Host, mem_bytes: u64) -> Result<Vec<(String, String)>> {
    let tune = h.var_str("node_tune");
    if !TUNES.contains(&tune) {
        bail!(
            "host `{}`: `node_tune` `{tune}` is not one of {}",
            h.addr,
            TUNES.join(", ")
        );
    }
    let mut v: Vec<(String, String)> = vec![];
    let mut set = |k: &str, val: String| {
        if let Some(e) = v.iter_mut().find(|(x, _)| x == k) {
            e.1 = val;
        } else {
            v.push((k.to_string(), val));
        }
    };
    if tune != "none" {
        let tiny = tune == "tiny";
        set(
            "net.core.somaxconn",
            if tiny { "4096" } else { "65535" }.into(),
        );
        set(
            "net.core.netdev_max_backlog",
            if tiny { "2048" } else { "10000" }.into(),
        );
        set(
            "net.ipv4.tcp_max_syn_backlog",
            if tiny { "2048" } else { "8192" }.into(),
        );
        set("net.ipv4.ip_local_port_range", "10000 65535".into());
        set("net.ipv4.tcp_tw_reuse", "1".into());
        set("net.ipv4.tcp_fin_timeout", "15".into());
        set("net.ipv4.tcp_keepalive_time", "60".into());
        set("net.ipv4.tcp_keepalive_intvl", "10".into());
        set("net.ipv4.tcp_keepalive_probes", "6".into());
        set("net.ipv4.tcp_slow_start_after_idle", "0".into());
        set("kernel.sched_autogroup_enabled", "0".into());
        set("vm.zone_reclaim_mode", "0".into());
        let (swappiness, bg, dirty) = match tune {
            "oltp" => (10, 5, 10),
            "olap" => (10, 10, 40),
            "crit" => (1, 3, 10),
            _ => (30, 10, 20),
        };
        set("vm.swappiness", swappiness.to_string());
        set("vm.dirty_background_ratio", bg.to_string());
        set("vm.dirty_ratio", dirty.to_string());
        if tune == "crit" {
            set("vm.dirty_expire_centisecs", "500".into());
            set("vm.dirty_writeback_centisecs", "100".into());
        }
        if tune == "oltp" || tune == "crit" {
            set("kernel.numa_balancing", "0".into());
        }
        if !tiny {
            // 1% of memory kept free for atomic allocations, 64 MiB .. 1 GiB
            let kb = (mem_bytes / 1024 / 100).clamp(64 * 1024, 1024 * 1024);
            set("vm.min_free_kbytes", kb.to_string());
        }
    }
    let pages = h.var_int("node_hugepage_count");
    let ratio = crate::inventory::Vars(&h.vars).f("node_hugepage_ratio");
    if pages > 0 {
        set("vm.nr_hugepages", pages.to_string());
    } else if ratio > 0.0 {
        if ratio >= 0.9 {
            bail!("host `{}`: `node_hugepage_ratio` {ratio} leaves no memory for anything else\nhint: use a fraction such as 0.25", h.addr);
        }
        let n = ((mem_bytes as f64 * ratio) / (2.0 * 1024.0 * 1024.0)).floor() as u64;
        set("vm.nr_hugepages", n.to_string());
    }
    let oc = h.var_int("node_overcommit_ratio");
    if oc > 0 {
        set("vm.overcommit_memory", "2".into());
        set("vm.overcommit_ratio", oc.to_string());
    }
    if let Some(extra) = h.dict("node_sysctl_params") {
        for (k, val) in extra {
            let s = match val {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => u8::from(*b).to_string(),
                other => bail!(
                    "host `{}`: `node_sysctl_params.{k}` is {other}, not a string or number",
                    h.addr
                ),
            };
            if k.is_empty()
                || !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                bail!(
                    "host `{}`: `node_sysctl_params` key `{k}` is not a kernel parameter name",
                    h.addr
                );
            }
            set(k, s);
        }
    }
    Ok(v)
}

/// `/etc/sysctl.d/90-pigsty.conf`: the same values for the next boot.
pub fn sysctl_file(h: &Host, mem_bytes: u64) -> Result<String> {
    let header = format!(
        "{SYSCTL_FILE}: written by pigsty (NODE)\nnode_tune = {}, then hugepages, overcommit and node_sysctl_params.\nApplied now by pigsty and at boot by systemd-sysctl.",
        h.var_str("node_tune")
    );
    Ok(crate::resources::sysctl::sysctl_conf(
        &header,
        &tune_params(h, mem_bytes)?,
    ))
}

fn tune(ctx: &Ctx, p: &mut ModulePlan) -> Result<()> {
    let h = ctx.host;
    let params = tune_params(h, ctx.facts.mem_bytes)?;
    p.add(File::new(SYSCTL_FILE, sysctl_file(h, ctx.facts.mem_bytes)?));
    if !params.is_empty() {
        p.add(Sysctl::new(params));
    }
    if h.var_str("node_tune") != "none" {
        p.add_notify(
            File::new(
                "/etc/systemd/system/disable-thp.service",
                asset("node/disable-thp.service")?,
            ),
            vec![Handler::DaemonReload],
        );
        // A oneshot at boot: enabled, not running.
        p.add(Service {
            unit: "disable-thp.service".into(),
            enabled: true,
            active: false,
        });
        p.add(
            Sysctl::new(vec![
                ("enabled".into(), "never".into()),
                ("defrag".into(), "never".into()),
            ])
            .root(THP_DIR)
            .label("transparent huge pages")
            .persisted_by("disable-thp.service"),
        );
    }
    Ok(())
}

//--------------------------------------------------------------------------
// time
//--------------------------------------------------------------------------

fn asset(path: &str) -> Result<&'static str> {
    crate::assets::asset(path).ok_or_else(|| anyhow::anyhow!("embedded asset `{path}` is missing"))
}

pub fn chrony_conf(h: &Host) -> Result<String> {
    let servers = strings(h, "node_ntp_servers");
    if servers.is_empty() {
        bail!("host `{}`: `node_ntp_servers` is empty while `node_ntp_enabled` is true\nhint: e.g. [ 'pool pool.ntp.org iburst' ]", h.addr);
    }
    crate::template::render("node/chrony.conf.j2", &json!({ "servers": servers }))
}

pub fn chrony_default(can_set_clock: bool) -> Result<String> {
    crate::template::render(
        "node/chrony.default.j2",
        &json!({ "can_set_clock": can_set_clock }),
    )
}

pub fn chrony_override(can_set_clock: bool) -> Result<String> {
    crate::template::render(
        "node/chrony.override.conf.j2",
        &json!({ "can_set_clock": can_set_clock }),
    )
}

fn ntp(h: &Host, facts: &crate::facts::Facts, p: &mut ModulePlan) -> Result<()> {
    if !h.var_bool("node_ntp_enabled") {
        return Ok(());
    }
    let can = facts.can_set_clock;
    let restart = || vec![Handler::Restart(CHRONY_UNIT.into())];
    p.add_notify(
        File::new("/etc/chrony/chrony.conf", chrony_conf(h)?),
        restart(),
    );
    p.add_notify(
        File::new("/etc/default/chrony", chrony_default(can)?),
        restart(),
    );
    p.add_notify(
        File::new(CHRONY_DROPIN, chrony_override(can)?),
        vec![Handler::DaemonReload, Handler::Restart(CHRONY_UNIT.into())],
    );
    p.add(Service::running(CHRONY_UNIT));
    if !can {
        p.add(Note::skip(
            "time",
            "clock adjustment",
            "this host may not set the clock (no CAP_SYS_TIME: a container); chronyd runs with `-x`, tracking time without adjusting the clock: the host's clock rules",
        ));
    }
    Ok(())
}

//--------------------------------------------------------------------------
// haproxy
//--------------------------------------------------------------------------

pub fn haproxy_cfg(ctx: &Ctx) -> Result<String> {
    let h = ctx.host;
    let auth = h.var_bool("haproxy_auth_enabled");
    let user = h.var_str("haproxy_admin_username");
    let password = if auth {
        ctx.req_str("haproxy_admin_password")?
    } else {
        String::new()
    };
    let bad = |s: &str| {
        s.is_empty()
            || s.chars()
                .any(|c| c.is_whitespace() || "#\"'\\:".contains(c))
    };
    if auth && (bad(user) || bad(&password)) {
        bail!(
            "host `{}`: `haproxy_admin_username`/`haproxy_admin_password` must be non-empty without spaces, quotes, `#`, `\\` or `:`\nhint: `pigsty configure` generates a suitable password",
            h.addr
        );
    }
    let ctxv = json!({
        "host_ip": h.addr,
        "node_name": node_name(h),
        "haproxy_exporter_port": h.var_port("haproxy_exporter_port"),
        "haproxy_client_timeout": duration(h, "haproxy_client_timeout", "24h"),
        "haproxy_server_timeout": duration(h, "haproxy_server_timeout", "24h"),
        "haproxy_auth_enabled": auth,
        "haproxy_admin_username": user,
        "haproxy_admin_password": password,
        "admin_note": if auth { format!("user {user}") } else { "no password: haproxy_auth_enabled is false".into() },
    });
    crate::template::render("node/haproxy.cfg.j2", &ctxv)
}

/// A duration parameter in HAProxy's syntax (`24h`, `30s`, `500ms`; a bare number is ms).
fn duration(h: &Host, key: &str, default: &str) -> String {
    match h.get(key) {
        Some(Value::Number(n)) => format!("{n}ms"),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => default.into(),
    }
}

fn haproxy(ctx: &Ctx, p: &mut ModulePlan) -> Result<()> {
    let h = ctx.host;
    if !h.var_bool("haproxy_enabled") {
        p.add(Service::stopped(HAPROXY_UNIT));
        return Ok(());
    }
    let cfg = haproxy_cfg(ctx)?;
    p.add(Package::new("haproxy", ["haproxy"]));
    p.add(Dir::new(HAPROXY_DIR));
    let mut f = File::new(HAPROXY_CFG, cfg)
        .mode(0o640)
        .owner("root", "haproxy");
    if h.var_bool("haproxy_auth_enabled") {
        f = f.secret();
    }
    p.add_notify(f, haproxy_reload(h));
    p.add_notify(
        File::new(HAPROXY_UNIT_FILE, asset("node/haproxy.service")?),
        vec![Handler::DaemonReload, Handler::Restart(HAPROXY_UNIT.into())],
    );
    p.add(Service::running(HAPROXY_UNIT));
    Ok(())
}

//--------------------------------------------------------------------------
// node_exporter
//--------------------------------------------------------------------------

pub fn node_exporter_default(h: &Host) -> Result<String> {
    let opts = h.var_str("node_exporter_options").trim();
    if opts.contains('"') || opts.contains('\\') || opts.contains('$') || opts.contains('`') {
        bail!(
            "host `{}`: `node_exporter_options` must not contain quotes, `\\`, `$` or backticks",
            h.addr
        );
    }
    crate::template::render(
        "node/node-exporter.default.j2",
        &json!({ "node_exporter_port": h.var_port("node_exporter_port"), "node_exporter_options": opts }),
    )
}

fn node_exporter(h: &Host, p: &mut ModulePlan) -> Result<()> {
    if !h.var_bool("node_exporter_enabled") {
        p.add(Service::stopped(NODE_EXPORTER_UNIT));
        return Ok(());
    }
    p.add(Package::new("node_exporter", ["prometheus-node-exporter"]));
    p.add_notify(
        File::new(NODE_EXPORTER_DEFAULT, node_exporter_default(h)?),
        vec![Handler::Restart(NODE_EXPORTER_UNIT.into())],
    );
    p.add(Service::running(NODE_EXPORTER_UNIT));
    Ok(())
}

/// The plan that takes a node out of management (`pigsty node rm`): the services the
/// NODE module runs for pigsty (HAProxy, node_exporter) stopped and disabled, our
/// HAProxy unit removed. Users, packages, tuning and chrony stay: the machine keeps
/// working as a plain server.
pub fn plan_remove(_ctx: &Ctx) -> Result<ModulePlan> {
    let mut p = ModulePlan::new("node");
    p.add(Service::stopped(NODE_EXPORTER_UNIT));
    p.add(Service::stopped(HAPROXY_UNIT));
    p.add_notify(
        crate::resources::Absent::new(HAPROXY_UNIT_FILE),
        vec![Handler::DaemonReload],
    );
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
