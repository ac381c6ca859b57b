//! Prometheus: scrape jobs, file_sd target files, alert rule files, Alertmanager peers.
//!
//! Target file layout (file_sd, YAML), one file per (job, host):
//!
//! ```text
//! <prometheus_sd_dir>/<job>/<ip>.yml        e.g. /etc/prometheus/targets/node/10.10.10.11.yml
//! - targets: [ "10.10.10.11:9100" ]
//!   labels: { cls: "pg-test", ins: "pg-test-1", ip: "10.10.10.11" }
//! ```
//!
//! The job is the directory; the scrape config of job `x` reads `x/*.yml`. Jobs (one per
//! kind of exporter, so `up{job="..."}` says exactly what is down):
//!
//! | job | what | written from |
//! | --- | --- | --- |
//! | `infra` | prometheus, alertmanager, pushgateway, blackbox, nginx exporter | `infra::targets` |
//! | `ping` | ICMP probe of every node through the blackbox exporter | derived from `node` |
//! | `node` | node_exporter | `node::targets` |
//! | `haproxy` | HAProxy's built-in exporter | `node::targets` |
//! | `etcd` | etcd `/metrics` | `etcd::targets` |
//! | `pgsql` | postgres exporter | `pgsql::targets` |
//! | `pgbouncer` | pgbouncer exporter | `pgsql::targets` |
//! | `patroni` | Patroni REST `/metrics` | `pgsql::targets` |
//!
//! Any other job name a module returns gets its own directory and a plain `/metrics`
//! scrape config. A target may set Prometheus's `__scheme__` / `__metrics_path__` labels
//! to override the job's. Files named `<ip>.yml` in these directories belong to pigsty
//! (stale ones are removed); any other file name there is the user's and is kept.
use super::P;
use crate::inventory::{Host, Inventory, Module};
use crate::modules::{scrape_targets, ScrapeTarget};
use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Alertmanager's gossip port when several infra nodes form a cluster.
pub const ALERTMANAGER_CLUSTER_PORT: u16 = 9094;
/// Prometheus job of the remote Postgres targets `pigsty pgsql monitor add` registers.
pub const REMOTE_PG_JOB: &str = "pgrds";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Job {
    pub name: String,
    pub desc: String,
    pub metrics_path: String,
    pub honor_labels: bool,
    /// Blackbox module, for probe jobs (`ping`).
    pub probe: Option<String>,
    /// HTTPS servers verified against this CA file (`etcd`, `patroni`).
    pub tls_ca: Option<String>,
    /// Every target over HTTPS (`etcd`); otherwise a target says so itself with the
    /// `__scheme__` label (Patroni with `patroni_ssl_enabled`).
    pub https: bool,
}

fn job(name: &str, desc: &str, path: &str) -> Job {
    Job {
        name: name.into(),
        desc: desc.into(),
        metrics_path: path.into(),
        honor_labels: false,
        probe: None,
        tls_ca: None,
        https: false,
    }
}

/// The scrape jobs of the Prometheus on an infra node whose merged params are `v`:
/// the known jobs (always, so prometheus.yml does not churn as hosts come and go), then
/// any other job a module returns.
pub fn jobs(inv: &Inventory, v: &Map<String, Value>) -> Vec<Job> {
    let p = P { host: "", v };
    let exporter_path = p
        .str("exporter_metrics_path")
        .unwrap_or_else(|_| "/metrics".into());
    let mut out = vec![Job {
        honor_labels: true, // pushed metrics keep their own job/instance labels
        ..job(
            "infra",
            "infra: prometheus, alertmanager, pushgateway, blackbox and nginx exporters",
            "/metrics",
        )
    }];
    if p.var_bool("blackbox_enabled") {
        out.push(Job {
            probe: Some("icmp".into()),
            ..job(
                "ping",
                "ping: ICMP probe of every node via the blackbox exporter",
                "/probe",
            )
        });
    }
    out.push(job(
        "node",
        "node: node_exporter on every node",
        &exporter_path,
    ));
    out.push(job(
        "haproxy",
        "haproxy: HAProxy's built-in prometheus exporter",
        "/metrics",
    ));
    // etcd serves only TLS (its /metrics needs no login)
    out.push(Job {
        tls_ca: Some(crate::modules::pki::CA_CRT.into()),
        https: true,
        ..job("etcd", "etcd: etcd server metrics over https", "/metrics")
    });
    out.push(job("pgsql", "pgsql: postgres exporter", &exporter_path));
    out.push(job(
        "pgbouncer",
        "pgbouncer: pgbouncer exporter",
        &exporter_path,
    ));
    // https for the members with patroni_ssl_enabled (their targets carry `__scheme__`)
    out.push(Job {
        tls_ca: Some(crate::modules::pki::CA_CRT.into()),
        ..job("patroni", "patroni: Patroni REST API metrics", "/metrics")
    });
    out.push(job(
        REMOTE_PG_JOB,
        "pgrds: remote postgres registered with `pigsty pgsql monitor add`",
        &exporter_path,
    ));
    let mut extra: Vec<String> = scrape_targets(inv).into_iter().map(|t| t.job).collect();
    extra.sort();
    extra.dedup();
    for name in extra {
        if !out.iter().any(|j| j.name == name) {
            out.push(job(
                &name,
                &format!("{name}: from the inventory"),
                "/metrics",
            ));
        }
    }
    out
}

/// The host a target belongs to: its `ip` label, else the host part of its address.
fn target_ip(t: &ScrapeTarget) -> String {
    t.labels.get("ip").cloned().unwrap_or_else(|| {
        t.addr
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| t.addr.clone())
    })
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// One target file: the targets of one job on one host, grouped by label set.
fn render_file(job: &str, ip: &str, targets: &[ScrapeTarget]) -> String {
    let mut groups: BTreeMap<&BTreeMap<String, String>, Vec<&str>> = BTreeMap::new();
    for t in targets {
        groups.entry(&t.labels).or_default().push(&t.addr);
    }
    let mut s = format!("# job `{job}` targets of {ip} (managed by pigsty, do not edit)\n");
    for (labels, mut addrs) in groups {
        addrs.sort();
        addrs.dedup();
        let a: Vec<String> = addrs.iter().map(|a| q(a)).collect();
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}: {}", q(v)))
            .collect();
        s.push_str(&format!(
            "- targets: [ {} ]\n  labels: {{ {} }}\n",
            a.join(", "),
            l.join(", ")
        ));
    }
    s
}

/// Every target file this infra node writes: job -> (file name -> content).
pub fn target_files(
    inv: &Inventory,
    v: &Map<String, Value>,
) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let p = P { host: "", v };
    let mut all = scrape_targets(inv);
    if p.var_bool("blackbox_enabled") {
        let pings: Vec<ScrapeTarget> = all
            .iter()
            .filter(|t| t.job == "node")
            .map(|t| ScrapeTarget {
                job: "ping".into(),
                addr: target_ip(t),
                labels: t.labels.clone(),
            })
            .collect();
        all.extend(pings);
    }
    let mut by: BTreeMap<(String, String), Vec<ScrapeTarget>> = BTreeMap::new();
    for t in all {
        by.entry((t.job.clone(), target_ip(&t)))
            .or_default()
            .push(t);
    }
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for ((job, ip), ts) in by {
        out.entry(job.clone()).or_default().insert(
            format!("{ip}.yml"),
            render_file(&job, &ip, &ts).into_bytes(),
        );
    }
    out
}

/// Target files pigsty owns: `<ip>.yml`.
pub fn is_target_file(name: &str) -> bool {
    name.strip_suffix(".yml")
        .map(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .unwrap_or(false)
}

/// Our alert rule files, by module.
const RULES: &[(&str, Option<Module>)] = &[
    ("infra.yml", None),
    ("node.yml", Some(Module::Node)),
    ("etcd.yml", Some(Module::Etcd)),
    ("pgsql.yml", Some(Module::Pgsql)),
    ("redis.yml", Some(Module::Redis)),
];

/// Rule files pigsty owns in `/etc/prometheus/rules` (others there are kept).
pub fn is_our_rule_file(name: &str) -> bool {
    RULES.iter().any(|(n, _)| *n == name)
}

/// Alert rule files for the modules present in the inventory.
pub fn rule_files(inv: &Inventory) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (name, module) in RULES {
        let present = match module {
            None => true,
            Some(m) => inv.hosts.iter().any(|h| h.modules().contains(m)),
        };
        if present {
            if let Some(text) = crate::assets::asset(&format!("infra/rules/{name}")) {
                out.insert(name.to_string(), text.as_bytes().to_vec());
            }
        }
    }
    out
}

fn alertmanager_hosts(inv: &Inventory) -> Vec<(&Host, u16)> {
    inv.infra_hosts()
        .into_iter()
        .filter_map(|h| {
            let p = P {
                host: &h.addr,
                v: &h.vars,
            };
            (p.var_bool("alertmanager_enabled"))
                .then(|| p.port("alertmanager_port").ok().map(|port| (h, port)))?
        })
        .collect()
}

/// `--cluster.*` flags: gossip with the other infra nodes' Alertmanagers, or none.
pub fn alertmanager_cluster_args(inv: &Inventory, host: &Host) -> Vec<String> {
    let peers: Vec<&Host> = alertmanager_hosts(inv)
        .into_iter()
        .map(|(h, _)| h)
        .filter(|h| h.addr != host.addr)
        .collect();
    if peers.is_empty() {
        return vec!["--cluster.listen-address=".into()];
    }
    let mut v = vec![
        format!("--cluster.listen-address=0.0.0.0:{ALERTMANAGER_CLUSTER_PORT}"),
        format!(
            "--cluster.advertise-address={}:{ALERTMANAGER_CLUSTER_PORT}",
            host.addr
        ),
    ];
    v.extend(
        peers
            .iter()
            .map(|h| format!("--cluster.peer={}:{ALERTMANAGER_CLUSTER_PORT}", h.addr)),
    );
    v
}

/// Template context of `prometheus.yml.j2`.
pub fn config_context(inv: &Inventory, host: &Host, vars: &Value) -> Result<Value> {
    let map = vars.as_object().cloned().unwrap_or_default();
    let p = P {
        host: &host.addr,
        v: &map,
    };
    let mut ctx = vars.clone();
    let alertmanagers: Vec<String> = alertmanager_hosts(inv)
        .iter()
        .map(|(h, port)| format!("{}:{port}", h.addr))
        .collect();
    if let Value::Object(m) = &mut ctx {
        m.insert(
            "ins".into(),
            json!(format!("infra-{}", host.id.infra_seq.unwrap_or(0))),
        );
        m.insert("jobs".into(), serde_json::to_value(jobs(inv, &map))?);
        m.insert("alertmanagers".into(), json!(alertmanagers));
        m.insert(
            "blackbox_addr".into(),
            json!(format!("127.0.0.1:{}", p.var_port("blackbox_port"))),
        );
    }
    Ok(ctx)
}
