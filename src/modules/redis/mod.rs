//! REDIS module: Redis instances on the hosts that set `redis_cluster`, Debian's
//! `redis-server` 7.0 run from our own units, and one redis_exporter per node.
//!
//! - A host is redis node `redis_node` of cluster `redis_cluster`; it runs one instance
//!   per port of `redis_instances` (`{6379: {}, 6380: {replica_of: '10.10.10.10 6379'}}`).
//!   Instance `<redis_cluster>-<redis_node>-<port>`: unit `<instance>.service` (prefixed
//!   with `redis-` when the cluster name is not), config `/etc/redis/<instance>.conf`,
//!   data `<redis_fs_main>/<instance>`, password `redis_password` (required: no default).
//! - `redis_mode`: `standalone` (primary/replica from `replica_of`), `sentinel` (the
//!   instances are Sentinels watching `redis_sentinel_monitor`, which then owns the
//!   roles of the instances it watches) or `cluster` (a native cluster created once by
//!   the first node, lowest `redis_node`, with `redis-cli --cluster create`).
//! - Config files are written whole only when the instance is created; then Redis owns
//!   them. Run-time settings (`redis_max_memory`, `redis_mem_policy`, `redis_rdb_save`,
//!   `redis_aof_enabled`, `redis_password`) are applied with `CONFIG SET` +
//!   `CONFIG REWRITE`, without a restart; bind/port/dir/cluster-enabled need one.
//!   `redis_rename_commands` only apply at creation.
//! - Debian's `redis-server.service` (a default instance on 6379) is masked before the
//!   package is installed, so it never starts.
//! - Exporter: Debian's `prometheus-redis-exporter` on `redis_exporter_port`, scraping
//!   each instance through `/scrape?target=redis://ip:port` (job `redis`), with the
//!   passwords in a JSON file readable by `prometheus` only.
//! - `pigsty redis rm` passes `redis_remove: {ip: [ports]}` (empty list: every instance
//!   of the host) as an extra var: the plan then removes those instances instead, and
//!   their scrape targets are dropped.
use super::{Ctx, ScrapeTarget};
use crate::engine::{Handler, ModulePlan};
use crate::inventory::{Host, Inventory};
use crate::resources::listen::Listening;
use crate::resources::redis::{
    parse_size, quote, Monitor, RedisCluster, RedisConf, RedisLive, RedisPing,
};
use crate::resources::{Absent, Dir, Exec, File, Package, Service, Symlink};
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub const EXPORTER_UNIT: &str = "prometheus-redis-exporter.service";
pub const EXPORTER_DEFAULT: &str = "/etc/default/prometheus-redis-exporter";
pub const EXPORTER_DIR: &str = "/etc/prometheus-redis-exporter";
pub const EXPORTER_PASSWORDS: &str = "/etc/prometheus-redis-exporter/passwords.json";
/// Debian's default instance, masked: it would take 6379.
pub const DEBIAN_UNIT: &str = "redis-server.service";
/// Sentinel defaults (Redis's own).
pub const DOWN_AFTER_MS: u64 = 30000;
pub const FAILOVER_TIMEOUT_MS: u64 = 180000;
/// Native cluster: how long a primary may be unreachable before its replica takes over.
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 15000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Standalone,
    Sentinel,
    Cluster,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Sentinel => "sentinel",
            Mode::Cluster => "cluster",
        }
    }
}

pub fn mode_of(h: &Host) -> Mode {
    match h.str("redis_mode") {
        Some("sentinel") => Mode::Sentinel,
        Some("cluster") => Mode::Cluster,
        _ => Mode::Standalone,
    }
}

pub use crate::inventory::parse_replica_of;

/// One instance of a redis node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub port: u16,
    /// `<cluster>-<node>-<port>`
    pub name: String,
    pub unit: String,
    pub conf: String,
    pub data: String,
    pub replica_of: Option<(String, u16)>,
}

pub fn instance_name(cluster: &str, node: u32, port: u16) -> String {
    format!("{cluster}-{node}-{port}")
}

pub fn unit_name(ins: &str) -> String {
    if ins.starts_with("redis-") {
        format!("{ins}.service")
    } else {
        format!("redis-{ins}.service")
    }
}

/// The instances a host defines (every port of `redis_instances`), by port.
pub fn instances(h: &Host) -> Vec<Instance> {
    let cluster = h.id.redis_cluster.clone().unwrap_or_else(|| "redis".into());
    let node = h.id.redis_node.unwrap_or(0);
    let fs = Some(h.var_str("redis_fs_main"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| crate::inventory::default_str("redis_fs_main"))
        .trim_end_matches('/')
        .to_string();
    let defs = h.dict("redis_instances").cloned().unwrap_or_default();
    let mut v: Vec<Instance> =
        h.id.redis_ports
            .iter()
            .map(|&port| {
                let name = instance_name(&cluster, node, port);
                let replica_of = defs
                    .get(&port.to_string())
                    .and_then(|d| d.get("replica_of"))
                    .and_then(Value::as_str)
                    .and_then(parse_replica_of);
                Instance {
                    port,
                    unit: unit_name(&name),
                    conf: format!("/etc/redis/{name}.conf"),
                    data: format!("{fs}/{name}"),
                    name,
                    replica_of,
                }
            })
            .collect();
    v.sort_by_key(|i| i.port);
    v
}

/// The address clients of this host's instances connect to: the bind address when it
/// is one specific address, else the host's.
pub fn client_ip(h: &Host) -> String {
    let bind = h.var_str("redis_bind_address").trim();
    match bind.split_whitespace().next() {
        None | Some("0.0.0.0") | Some("*") | Some("::") => h.addr.clone(),
        Some(b) => b.to_string(),
    }
}

/// `redis_sentinel_monitor` entries, checked.
pub fn monitors(h: &Host) -> Result<Vec<Monitor>> {
    let mut out = vec![];
    for (i, m) in h
        .list("redis_sentinel_monitor")
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let key = format!("redis_sentinel_monitor[{i}]");
        let s = |k: &str| {
            m.get(k).and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_i64().map(|n| n.to_string()))
            })
        };
        let n = |k: &str| {
            m.get(k).and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
        };
        let name =
            s("name").with_context(|| format!("host `{}`: `{key}` has no `name`", h.addr))?;
        let host =
            s("host").with_context(|| format!("host `{}`: `{key}` has no `host`", h.addr))?;
        let port = n("port")
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .with_context(|| format!("host `{}`: `{key}` has no valid `port`", h.addr))?;
        if name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
            bail!("host `{}`: `{key}.name` `{name}` must be one word", h.addr);
        }
        out.push(Monitor {
            name,
            host,
            port,
            quorum: n("quorum").unwrap_or(1) as u32,
            password: s("password").filter(|p| !p.is_empty()),
            down_after_ms: n("down_after_milliseconds").unwrap_or(DOWN_AFTER_MS),
            failover_timeout_ms: n("failover_timeout").unwrap_or(FAILOVER_TIMEOUT_MS),
            parallel_syncs: n("parallel_syncs").unwrap_or(1) as u32,
        });
    }
    Ok(out)
}

/// Masters (`ip:port`) some Sentinel of the inventory watches: their role, and that of
/// their replicas, belongs to Sentinel.
pub fn watched_masters(inv: &Inventory) -> Vec<(String, u16)> {
    let mut v = vec![];
    for h in inv
        .hosts
        .iter()
        .filter(|h| h.id.redis_cluster.is_some() && mode_of(h) == Mode::Sentinel)
    {
        for m in monitors(h).unwrap_or_default() {
            v.push((m.host, m.port));
        }
    }
    v
}

/// The settled parameters of one redis node.
pub struct Params {
    pub cluster: String,
    pub node: u32,
    pub mode: Mode,
    pub ip: String,
    pub bind: String,
    pub password: String,
    pub max_memory: u64,
    pub policy: String,
    pub save: Vec<String>,
    pub aof: bool,
    pub rename: BTreeMap<String, String>,
    pub replicas: u32,
    pub monitors: Vec<Monitor>,
    pub fs_main: String,
    pub exporter: bool,
    pub exporter_port: u16,
    pub exporter_options: String,
    pub instances: Vec<Instance>,
}

const POLICIES: &[&str] = &[
    "volatile-lru",
    "allkeys-lru",
    "volatile-lfu",
    "allkeys-lfu",
    "volatile-random",
    "allkeys-random",
    "volatile-ttl",
    "noeviction",
];

pub fn params(ctx: &Ctx) -> Result<Params> {
    let h = ctx.host;
    let a = &h.addr;
    let cluster =
        h.id.redis_cluster
            .clone()
            .with_context(|| format!("host `{a}` has no `redis_cluster`"))?;
    let node = h.id.redis_node.with_context(|| format!("host `{a}`: redis node without `redis_node`\nhint: number redis nodes `redis_node: 1`, `2`, ..."))?;
    if h.str("redis_type").is_some_and(|t| t != "redis") {
        bail!("host `{a}`: `redis_type` `{}` is not supported: this module runs Debian's redis-server\nhint: remove `redis_type` or set it to `redis`", h.str("redis_type").unwrap_or_default());
    }
    let password = ctx.req_str("redis_password")?;
    if password.chars().any(|c| c.is_control()) {
        bail!("host `{a}`: `redis_password` must not contain control characters (newlines, tabs)");
    }
    let mm = h
        .get("redis_max_memory")
        .map(|v| {
            v.as_u64()
                .map(|n| n.to_string())
                .or_else(|| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "1GB".into());
    let max_memory = parse_size(&mm).with_context(|| {
        format!("host `{a}`: `redis_max_memory` `{mm}` is not a size like `64MB`")
    })?;
    let policy = h.var_str("redis_mem_policy").to_string();
    if !POLICIES.contains(&policy.as_str()) {
        bail!(
            "host `{a}`: `redis_mem_policy` `{policy}` is not an eviction policy\nhint: one of {}",
            POLICIES.join(", ")
        );
    }
    let mut save = vec![];
    for v in h.list("redis_rdb_save").cloned().unwrap_or_default() {
        let s = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        let ok = {
            let w: Vec<&str> = s.split_whitespace().collect();
            !w.is_empty() && w.len() % 2 == 0 && w.iter().all(|x| x.parse::<u64>().is_ok())
        };
        if !ok {
            bail!("host `{a}`: `redis_rdb_save` entry `{s}` is not `<seconds> <changes>`");
        }
        save.push(s.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    let mut rename = BTreeMap::new();
    for (k, v) in h.dict("redis_rename_commands").cloned().unwrap_or_default() {
        let to = v.as_str().unwrap_or_default().to_string();
        if k.is_empty() || k.chars().any(char::is_whitespace) || to.chars().any(char::is_whitespace)
        {
            bail!("host `{a}`: `redis_rename_commands.{k}` must map a command to one word (or '' to disable it)");
        }
        if k.eq_ignore_ascii_case("config") {
            bail!("host `{a}`: `redis_rename_commands` must not rename CONFIG: pigsty changes settings at run time with it");
        }
        rename.insert(
            k.to_ascii_uppercase(),
            if to.is_empty() { "\"\"".into() } else { to },
        );
    }
    let mode = mode_of(h);
    let monitors = if mode == Mode::Sentinel {
        monitors(h)?
    } else {
        vec![]
    };
    let fs_main = Some(h.var_str("redis_fs_main"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| crate::inventory::default_str("redis_fs_main"))
        .trim_end_matches('/')
        .to_string();
    if !fs_main.starts_with('/') || fs_main.is_empty() {
        bail!("host `{a}`: `redis_fs_main` `{fs_main}` must be an absolute directory");
    }
    let bind = h
        .str("redis_bind_address")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| a.clone());
    Ok(Params {
        ip: client_ip(h),
        bind,
        cluster,
        node,
        mode,
        password,
        max_memory,
        policy,
        save,
        aof: h.var_bool("redis_aof_enabled"),
        rename,
        replicas: h.var_int("redis_cluster_replicas").max(0) as u32,
        monitors,
        fs_main,
        exporter: h.var_bool("redis_exporter_enabled"),
        exporter_port: h.var_port("redis_exporter_port"),
        exporter_options: h.var_str("redis_exporter_options").to_string(),
        instances: instances(h),
    })
}

/// The config file of an instance, as written at creation.
pub fn render_conf(p: &Params, i: &Instance) -> Result<String> {
    let common = json!({
        "ins": i.name, "cluster": p.cluster, "node": p.node, "port": i.port, "mode": p.mode.as_str(),
        "bind": p.bind, "data": i.data, "password": quote(&p.password),
    });
    if p.mode == Mode::Sentinel {
        let mons: Vec<Value> = p
            .monitors
            .iter()
            .map(|m| {
                json!({"name": m.name, "host": m.host, "port": m.port, "quorum": m.quorum,
                       "password": m.password.as_deref().map(quote).unwrap_or_default(),
                       "down_after_ms": m.down_after_ms, "failover_timeout_ms": m.failover_timeout_ms, "parallel_syncs": m.parallel_syncs})
            })
            .collect();
        let mut v = common;
        v["monitors"] = json!(mons);
        return crate::template::render("redis/sentinel.conf.j2", &v);
    }
    let mut v = common;
    let extra = json!({
        "save": p.save, "aof": p.aof, "maxmemory": p.max_memory, "policy": p.policy, "rename": p.rename,
        "replica_of": if p.mode == Mode::Standalone { i.replica_of.as_ref().map(|(h, port)| format!("{h} {port}")) } else { None },
        "cluster_enabled": p.mode == Mode::Cluster, "cluster_node_timeout": CLUSTER_NODE_TIMEOUT_MS,
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    crate::template::render("redis/redis.conf.j2", &v)
}

pub fn render_unit(p: &Params, i: &Instance) -> Result<String> {
    crate::template::render(
        "redis/redis.service.j2",
        &json!({"unit": i.unit, "ins": i.name, "cluster": p.cluster, "port": i.port, "mode": p.mode.as_str(), "conf": i.conf, "sentinel": p.mode == Mode::Sentinel}),
    )
}

/// The exporter's password map: `redis://ip:port` -> password, for every instance on
/// this host.
pub fn render_exporter_passwords(p: &Params, ports: &[u16]) -> String {
    let m: BTreeMap<String, &str> = ports
        .iter()
        .map(|port| (format!("redis://{}:{port}", p.ip), p.password.as_str()))
        .collect();
    serde_json::to_string_pretty(&m).unwrap_or_default() + "\n"
}

pub fn render_exporter_default(p: &Params) -> Result<String> {
    crate::template::render(
        "redis/redis-exporter.default.j2",
        &json!({"password_file": EXPORTER_PASSWORDS, "listen": format!(":{}", p.exporter_port), "options": p.exporter_options}),
    )
}

/// Ports `pigsty redis rm` removes from this host (extra var `redis_remove`): None when
/// the host is not being removed from; an empty list means every instance.
pub fn removing(h: &Host) -> Option<Vec<u16>> {
    let r = h.dict("redis_remove")?.get(&h.addr)?;
    let ports: Vec<u16> = r
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_u64().and_then(|p| u16::try_from(p).ok()))
                .collect()
        })
        .unwrap_or_default();
    Some(if ports.is_empty() {
        h.id.redis_ports.clone()
    } else {
        ports
    })
}

pub fn plan(ctx: &Ctx) -> Result<ModulePlan> {
    if let Some(ports) = removing(ctx.host) {
        return remove_plan(ctx, &ports);
    }
    let p = params(ctx)?;
    let mut plan = ModulePlan::new("redis");
    // Masked before the package: its postinst must not start a default 6379.
    plan.add_notify(
        Symlink::new(format!("/etc/systemd/system/{DEBIAN_UNIT}"), "/dev/null"),
        vec![Handler::DaemonReload],
    );
    plan.add(Package::new("redis", ["redis-server", "redis-tools"]));
    plan.add(Dir::new(&p.fs_main).owner("redis", "redis").mode(0o700));
    for i in &p.instances {
        let restart = || vec![Handler::Restart(i.unit.clone())];
        plan.add(Dir::new(&i.data).owner("redis", "redis").mode(0o700));
        plan.add_notify(
            RedisConf {
                path: i.conf.clone().into(),
                content: render_conf(&p, i)?,
                fixed: vec!["bind", "port", "dir", "cluster-enabled"],
            },
            restart(),
        );
        plan.add_notify(
            File::new(
                format!("/etc/systemd/system/{}", i.unit),
                render_unit(&p, i)?,
            ),
            vec![Handler::DaemonReload, Handler::Restart(i.unit.clone())],
        );
        plan.add(Service::running(&i.unit));
    }
    plan.flush();
    let watched = watched_masters(ctx.inv);
    for i in &p.instances {
        let addr = format!("{}:{}", p.ip, i.port);
        plan.add(RedisPing {
            ins: i.name.clone(),
            addr: addr.clone(),
            password: p.password.clone(),
            conf: i.conf.clone().into(),
            timeout: Duration::from_secs(60),
        });
        let live = match p.mode {
            Mode::Sentinel => RedisLive {
                ins: i.name.clone(),
                addr,
                password: p.password.clone(),
                conf: i.conf.clone().into(),
                settings: vec![],
                role: None,
                monitors: Some(p.monitors.clone()),
            },
            _ => {
                let settings = vec![
                    ("maxmemory".to_string(), p.max_memory.to_string()),
                    ("maxmemory-policy".to_string(), p.policy.clone()),
                    ("save".to_string(), p.save.join(" ")),
                    (
                        "appendonly".to_string(),
                        if p.aof { "yes" } else { "no" }.to_string(),
                    ),
                    ("requirepass".to_string(), p.password.clone()),
                    ("masterauth".to_string(), p.password.clone()),
                ];
                let me = (p.ip.clone(), i.port);
                let me_host = (ctx.host.addr.clone(), i.port);
                let owned = p.mode == Mode::Cluster
                    || watched.contains(&me)
                    || watched.contains(&me_host)
                    || i.replica_of.as_ref().is_some_and(|r| watched.contains(r));
                RedisLive {
                    ins: i.name.clone(),
                    addr,
                    password: p.password.clone(),
                    conf: i.conf.clone().into(),
                    settings,
                    role: if owned {
                        None
                    } else {
                        Some(i.replica_of.clone())
                    },
                    monitors: None,
                }
            }
        };
        plan.add(live);
    }
    if p.mode == Mode::Cluster {
        // The first node (lowest redis_node) creates the cluster over every instance;
        // the others join theirs once it exists (a node added later).
        let members = ctx.inv.redis_members(&p.cluster);
        let nodes: Vec<String> = members
            .iter()
            .flat_map(|m| {
                let ip = client_ip(m);
                m.id.redis_ports
                    .iter()
                    .map(move |port| format!("{ip}:{port}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        let first = members.first().map(|m| m.addr.as_str()) == Some(ctx.host.addr.as_str());
        let own = (!first).then(|| {
            p.instances
                .iter()
                .map(|i| format!("{}:{}", p.ip, i.port))
                .collect()
        });
        plan.add(RedisCluster {
            cluster: p.cluster.clone(),
            nodes,
            replicas: p.replicas,
            password: p.password.clone(),
            timeout: Duration::from_secs(180),
            own,
        });
    }
    if p.exporter {
        exporter_steps(
            &mut plan,
            &p,
            &p.instances.iter().map(|i| i.port).collect::<Vec<_>>(),
        )?;
    }
    Ok(plan)
}

fn exporter_steps(plan: &mut ModulePlan, p: &Params, ports: &[u16]) -> Result<()> {
    let restart = || vec![Handler::Restart(EXPORTER_UNIT.into())];
    plan.add(Package::new(
        "redis exporter",
        ["prometheus-redis-exporter"],
    ));
    plan.add(
        Dir::new(EXPORTER_DIR)
            .owner("root", "prometheus")
            .mode(0o750),
    );
    plan.add_notify(
        File::new(EXPORTER_PASSWORDS, render_exporter_passwords(p, ports))
            .owner("root", "prometheus")
            .mode(0o640)
            .secret(),
        restart(),
    );
    plan.add_notify(
        File::new(EXPORTER_DEFAULT, render_exporter_default(p)?),
        restart(),
    );
    plan.add(Service::running(EXPORTER_UNIT));
    plan.flush();
    plan.add(Listening::new(
        format!("{}:{}", p.ip, p.exporter_port),
        EXPORTER_UNIT,
    ));
    Ok(())
}

/// `pigsty redis rm`: stop and remove the instances on `ports` (data too, unless
/// `redis_rm_data: false`); the exporter keeps the others, or goes with the last.
pub fn remove_plan(ctx: &Ctx, ports: &[u16]) -> Result<ModulePlan> {
    let h = ctx.host;
    if h.bool("redis_safeguard") == Some(true) {
        bail!("host `{}`: `redis_safeguard` is on; refusing to remove redis instances\nhint: set `redis_safeguard: false` for this cluster first", h.addr);
    }
    let rm_data = h.var_bool("redis_rm_data");
    let all = instances(h);
    let mut plan = ModulePlan::new("redis");
    for i in all.iter().filter(|i| ports.contains(&i.port)) {
        plan.add(Service::stopped(&i.unit));
        plan.add_notify(
            Absent::new(format!("/etc/systemd/system/{}", i.unit)),
            vec![Handler::DaemonReload],
        );
        plan.add(Absent::new(&i.conf));
        if rm_data {
            plan.add(
                Exec::new(
                    &format!("remove data of {}", i.name),
                    Cmd::new("rm").args(["-rf", "--one-file-system", &i.data]),
                )
                .unless(Cmd::new("test").args(["!", "-e", &i.data]))
                .why("remove"),
            );
        }
    }
    let left: Vec<u16> = all
        .iter()
        .map(|i| i.port)
        .filter(|p| !ports.contains(p))
        .collect();
    if h.var_bool("redis_exporter_enabled") {
        if left.is_empty() {
            plan.add(Service::stopped(EXPORTER_UNIT));
            plan.add(Absent::new(EXPORTER_PASSWORDS));
        } else if let Ok(p) = params(ctx) {
            exporter_steps(&mut plan, &p, &left)?;
        }
    }
    Ok(plan)
}

/// Scrape targets: one per instance through this node's exporter (job `redis`).
pub fn targets(_inv: &Inventory, h: &Host) -> Vec<ScrapeTarget> {
    if h.bool("redis_exporter_enabled") == Some(false) {
        return vec![];
    }
    let (Some(cls), Some(_)) = (h.id.redis_cluster.as_deref(), h.id.redis_node) else {
        return vec![];
    };
    let gone = removing(h).unwrap_or_default();
    let ip = client_ip(h);
    let port = h.var_port("redis_exporter_port");
    instances(h)
        .into_iter()
        .filter(|i| !gone.contains(&i.port))
        .map(|i| {
            let mut t = ScrapeTarget::new("redis", format!("{ip}:{port}"), cls, &i.name, &h.addr);
            t.labels
                .insert("instance".into(), format!("{ip}:{}", i.port));
            t.labels.insert("__metrics_path__".into(), "/scrape".into());
            t.labels
                .insert("__param_target".into(), format!("redis://{ip}:{}", i.port));
            t
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
