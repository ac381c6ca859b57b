//! Kernel tuning (`node_tune`): sysctl values and transparent huge pages.
use super::*;

pub(super) const TUNES: &[&str] = &["none", "oltp", "olap", "crit", "tiny"];

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

pub(super) fn tune(ctx: &Ctx, p: &mut ModulePlan) -> Result<()> {
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
