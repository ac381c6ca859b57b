//! `pigsty pgsql switchover|failover CLUSTER [--to INSTANCE]`: move the leader of a
//! cluster with Patroni's REST API (`POST /switchover`, `POST /failover`, basic auth
//! with `patroni_username`/`patroni_password`), after the cluster name is typed back
//! (or `--yes`). Patroni does the work and answers once the new leader holds the
//! leader key; we then wait until it runs and print the members.
//!
//! Clients reach the primary through HAProxy, whose health checks need `rise`
//! successes (seconds) to route to a new primary and `fall` failures to stop routing
//! to the demoted one. So every HAProxy node is reached first (`haproxy_health` with
//! no server: SSH, binary, admin socket), then given `haproxy_follow` just before the
//! request: it asks the candidates' `/primary` every 30 ms and, the moment one
//! answers with Postgres out of recovery, marks it up and the old leader down in every
//! service checked against `/primary`, `/read-write` or `/leader` (HAProxy's runtime
//! API); the old leader's client sessions are closed (`on-marked-down
//! shutdown-sessions`), so a client sees one error and its retry reaches the new
//! primary. The checks go on and correct anything wrong. Meanwhile the old leader's
//! pgBouncer keeps its clients waiting (it cannot reach a Postgres that stops);
//! `switchover --hold-writes` pauses it before the request ([`Held`]) so running
//! transactions finish instead of being cut off.
use super::confirm;
use crate::cli::Global;
use crate::inventory::{Host, Inventory};
use crate::resources::patroni::PatroniApi;
use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `hold_writes`: the old leader's pgBouncer paused over it ([`Held`]).
    Switchover {
        hold_writes: bool,
    },
    Failover,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Switchover { .. } => "switchover",
            Action::Failover => "failover",
        }
    }
}

/// One member as Patroni's `/cluster` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub host: String,
    pub role: String,
    pub state: String,
    /// Bytes behind the leader; None when unknown (or for the leader).
    pub lag: Option<u64>,
    pub nofailover: bool,
}

pub fn members(cluster: &Value) -> Vec<Member> {
    cluster["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| Member {
                    name: m["name"].as_str().unwrap_or("").to_string(),
                    host: m["host"].as_str().unwrap_or("").to_string(),
                    role: m["role"].as_str().unwrap_or("").to_string(),
                    state: m["state"].as_str().unwrap_or("").to_string(),
                    lag: m["lag"].as_u64(),
                    nofailover: m["tags"]["nofailover"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_leader(m: &Member) -> bool {
    matches!(m.role.as_str(), "leader" | "master" | "standby_leader")
}

/// A replica that can take over: running (or streaming), failover allowed.
fn eligible(m: &Member) -> bool {
    !is_leader(m) && matches!(m.state.as_str(), "running" | "streaming") && !m.nofailover
}

/// The member `--to` names (instance name or address), or the eligible replica with
/// the least lag when `to` is None and a choice is needed (failover). In synchronous
/// mode (a member is `sync_standby`) Patroni promotes only a synchronous standby, so
/// only those are candidates.
pub fn pick_candidate(ms: &[Member], to: Option<&str>) -> Result<Option<String>, String> {
    let sync: Vec<&Member> = ms.iter().filter(|m| m.role == "sync_standby").collect();
    if let Some(t) = to {
        let Some(m) = ms.iter().find(|m| m.name == t || m.host == t) else {
            return Err(format!(
                "`{t}` is not a member of the cluster\nhint: members: {}",
                ms.iter()
                    .map(|m| format!("{} ({})", m.name, m.host))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if is_leader(m) {
            return Err(format!("`{}` is the leader already; nothing to do", m.name));
        }
        if !eligible(m) {
            return Err(format!(
                "`{}` cannot take over: state {}{}",
                m.name,
                if m.state.is_empty() {
                    "unknown"
                } else {
                    &m.state
                },
                if m.nofailover {
                    ", tagged nofailover"
                } else {
                    ""
                }
            ));
        }
        if !sync.is_empty() && m.role != "sync_standby" {
            return Err(format!(
                "`{}` is not a synchronous standby; in synchronous mode patroni promotes only {}",
                m.name,
                sync.iter()
                    .map(|s| format!("`{}`", s.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return Ok(Some(m.name.clone()));
    }
    ms.iter()
        .filter(|m| eligible(m) && (sync.is_empty() || m.role == "sync_standby"))
        .min_by_key(|m| m.lag.unwrap_or(u64::MAX))
        .map(|m| Some(m.name.clone()))
        .ok_or_else(|| "no running replica can take over".to_string())
}

fn api_of(h: &Host) -> Result<PatroniApi> {
    let user = h.var_str("patroni_username");
    let Some(pw) = h.str("patroni_password").filter(|p| !p.is_empty()) else {
        bail!("host `{}`: required variable `patroni_password` is not set\nhint: set it in the inventory", h.addr);
    };
    Ok(PatroniApi::new(
        crate::modules::pgsql::params::patroni_url(h),
        user,
        pw,
    ))
}

/// The hosts among `hosts` with `pg_safeguard` on, as `\`addr\`` names joined by commas
/// (empty when none).
pub fn safeguarded(hosts: &[&crate::inventory::Host]) -> String {
    hosts
        .iter()
        .filter(|h| h.var_bool("pg_safeguard"))
        .map(|h| format!("`{}`", h.addr))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The members of a pgsql cluster; an unknown cluster is an error naming the known ones.
pub fn members_of<'a>(
    inv: &'a Inventory,
    cluster: &str,
) -> Result<Vec<&'a crate::inventory::Host>> {
    let hosts = inv.cluster_members(cluster);
    if hosts.is_empty() {
        bail!(
            "no cluster `{cluster}` in `{}`\nhint: clusters: {}",
            inv.path.display(),
            inv.pg_clusters().join(", ")
        );
    }
    Ok(hosts)
}

/// The Patroni APIs of a cluster's members; an unknown cluster names the known ones.
fn cluster_apis(inv: &Inventory, cluster: &str) -> Result<Vec<PatroniApi>> {
    members_of(inv, cluster)?
        .iter()
        .map(|h| api_of(h))
        .collect()
}

/// HAProxy services routing to the primary: their `listen` names on each node that
/// serves them (the members, unless `pg_service_provider` or `haproxy_enabled: false`
/// puts them elsewhere: then none, and the health checks alone move the traffic).
fn primary_backends<'a>(inv: &'a Inventory, cluster: &str) -> Vec<(&'a Host, Vec<String>)> {
    let Ok(hosts) = members_of(inv, cluster) else {
        return vec![];
    };
    hosts
        .into_iter()
        .filter(|h| h.var_bool("haproxy_enabled") && h.var_str("pg_service_provider").is_empty())
        .map(|h| {
            let svcs = ["pg_default_services", "pg_services"]
                .iter()
                .filter_map(|k| h.var(k).and_then(Value::as_array))
                .flatten()
                .filter(|s| {
                    matches!(
                        s["check"].as_str(),
                        Some("/primary" | "/read-write" | "/leader")
                    )
                })
                .filter_map(|s| s["name"].as_str().map(|n| format!("{cluster}-{n}")))
                .collect();
            (h, svcs)
        })
        .filter(|(_, svcs): &(&Host, Vec<String>)| !svcs.is_empty())
        .collect()
}

const HAPROXY_SOCKET: &str = "/run/haproxy/admin.sock";

/// Reach every HAProxy node at once (SSH up, the binary there, the admin socket
/// answering: `haproxy_health` with no server); the addresses that answered. A node
/// that did not is named in a warning and left to its health checks.
fn haproxy_ready(nodes: &[&Host]) -> std::collections::BTreeSet<String> {
    std::thread::scope(|sc| {
        let jobs: Vec<_> = nodes
            .iter()
            .map(|h| {
                let a = crate::actions::Action::HaproxyHealth {
                    socket: HAPROXY_SOCKET.into(),
                    servers: vec![],
                };
                (
                    h.addr.clone(),
                    sc.spawn(move || crate::controller::act(&h.addr, a, &mut |_| {})),
                )
            })
            .collect();
        jobs.into_iter()
            .filter_map(|(addr, j)| {
                let why = match j.join() {
                    Ok(Ok(_)) => return Some(addr),
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(_) => "the worker panicked".to_string(),
                };
                eprintln!("warning: haproxy will follow by its health checks only: {addr}: {why}");
                None
            })
            .collect()
    })
}

/// The old leader's pgBouncer paused over a switchover (`pgbouncer_hold` on its node):
/// queries wait for the new primary instead of failing on a Postgres that shuts down.
/// The node resumes it by itself after the new primary answers (or its limit);
/// dropped before the request was accepted, it is resumed at once.
struct Held {
    addr: String,
    console: crate::actions::pgbouncer::Console,
    job: Option<std::thread::JoinHandle<Result<Value>>>,
    posted: bool,
}

/// How long after the new primary answers the old leader's pgBouncer stays paused
/// (every HAProxy has routed away from it by then), and the most it is paused at all.
const HOLD_GRACE_MS: u64 = 300;
const HOLD_LIMIT_MS: u64 = 20_000;

impl Held {
    /// Pause the pgBouncer of the leader at `host` (when it has one in transaction or
    /// statement mode) and wait until it is paused; None (with the reason on stderr)
    /// when the switchover goes on without it.
    fn start(
        inv: &Inventory,
        host: &str,
        candidates: &[(String, String)],
        reached: bool,
    ) -> Option<Held> {
        let h = inv.host(host)?;
        if !h.var_bool("pgbouncer_enabled") || h.var_str("pgbouncer_poolmode") == "session" {
            return None;
        }
        let console = crate::actions::pgbouncer::Console {
            psql: format!("{}/psql", h.var_str("pg_bin_dir")),
            dbsu: h.var_str("pg_dbsu").into(),
            socket: h.var_str("pg_localhost").into(),
            port: h.var_port("pgbouncer_port"),
        };
        let a = crate::actions::Action::PgbouncerHold {
            console: console.clone(),
            pg_port: Some(h.var_port("pg_port")),
            candidates: candidates.to_vec(),
            grace_ms: HOLD_GRACE_MS,
            limit_ms: HOLD_LIMIT_MS,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let addr = host.to_string();
        let job = std::thread::spawn(move || {
            let mut sink = |e: &crate::engine::Event| {
                if matches!(e, crate::engine::Event::Step { kind, .. } if kind == crate::actions::PAUSED)
                {
                    let _ = tx.send(());
                }
            };
            if reached {
                crate::controller::act_again(&addr, a, &mut sink)
            } else {
                crate::controller::act(&addr, a, &mut sink)
            }
        });
        let wait = crate::actions::pgbouncer::PAUSE_WAIT + Duration::from_secs(5);
        match rx.recv_timeout(wait) {
            Ok(()) => {
                eprintln!("pgbouncer on {host}: paused, queries wait for the new primary");
                Some(Held {
                    addr: host.to_string(),
                    console,
                    job: Some(job),
                    posted: false,
                })
            }
            Err(_) => {
                let why = if job.is_finished() {
                    match job.join() {
                        Ok(Ok(v)) => v["why"].as_str().unwrap_or("not paused").to_string(),
                        Ok(Err(e)) => format!("{e:#}"),
                        Err(_) => "the worker panicked".into(),
                    }
                } else {
                    format!("no answer in {}s", wait.as_secs())
                };
                eprintln!("warning: pgbouncer on {host} not paused, clients may see errors: {why}");
                None
            }
        }
    }

    /// Wait for the node's hold to end and say how long queries waited.
    fn report(mut self) {
        let Some(job) = self.job.take() else { return };
        match job.join() {
            Ok(Ok(v)) => eprintln!(
                "pgbouncer on {}: resumed, queries waited at most {:.2}s (a CHECKPOINT before the pause: {})",
                self.addr,
                v["held_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
                match &v["checkpoint_ms"] {
                    Value::Number(n) => format!("{n} ms"),
                    Value::String(e) => e.clone(),
                    _ => "none".into(),
                }
            ),
            Ok(Err(e)) => eprintln!("warning: pgbouncer on {}: {e:#}", self.addr),
            Err(_) => eprintln!("warning: pgbouncer on {}: the worker panicked", self.addr),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.posted || self.job.is_none() {
            return;
        }
        let a = crate::actions::Action::PgbouncerResume {
            console: self.console.clone(),
        };
        match crate::controller::act_again(&self.addr, a, &mut |_| {}) {
            Ok(_) => eprintln!("pgbouncer on {}: resumed", self.addr),
            Err(e) => eprintln!(
                "warning: pgbouncer on {} may stay paused for up to {}s: {e:#}",
                self.addr,
                HOLD_LIMIT_MS / 1000
            ),
        }
    }
}

/// `/cluster` from the first member that answers, with that member's API.
fn cluster_state(apis: &[PatroniApi]) -> Result<(Value, PatroniApi), String> {
    let mut last = "no members".to_string();
    for a in apis {
        match a.get("/cluster") {
            Ok(r) if r.status == 200 => match r.json() {
                Some(j) => return Ok((j, a.clone())),
                None => last = format!("{}: /cluster is not json", a.addr()),
            },
            Ok(r) => last = format!("{}: HTTP {}", a.addr(), r.status),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// The members of a cluster as Patroni sees them, from the first member that answers.
pub fn cluster_members_state(hosts: &[&Host]) -> Result<Vec<Member>> {
    let apis = hosts
        .iter()
        .map(|h| api_of(h))
        .collect::<Result<Vec<_>>>()?;
    let (state, _) = cluster_state(&apis).map_err(|e| anyhow!("{e}"))?;
    Ok(members(&state))
}

fn print_members(ms: &[Member]) {
    println!(
        "  {:<14} {:<15} {:<13} {:<10} {:>10}",
        "MEMBER", "HOST", "ROLE", "STATE", "LAG(MB)"
    );
    for m in ms {
        let lag = m
            .lag
            .map(|l| format!("{:.1}", l as f64 / 1048576.0))
            .unwrap_or_else(|| "-".into());
        println!(
            "  {:<14} {:<15} {:<13} {:<10} {:>10}",
            m.name, m.host, m.role, m.state, lag
        );
    }
}

pub fn run(g: &Global, action: Action, cluster: &str, to: Option<&str>, yes: bool) -> Result<u8> {
    let inv: Inventory = super::deploy::load_inventory(g)?;
    let apis = cluster_apis(&inv, cluster)?;
    let _lock = super::lock::clusters([cluster], super::lock::wait()?)?;
    let verb = action.verb();
    let (state, _) = cluster_state(&apis).map_err(|e| anyhow!("cannot read the state of `{cluster}` from patroni: {e}\nhint: `pigsty status {cluster}`"))?;
    let ms = members(&state);
    let leader = ms.iter().find(|m| is_leader(m)).cloned();
    if matches!(action, Action::Switchover { .. }) && leader.is_none() {
        bail!("`{cluster}` has no leader to switch over from; nothing was changed\nhint: `pigsty pgsql failover {cluster} --to INSTANCE` promotes a replica");
    }
    // A switchover without `--to` names the candidate too (the synchronous standby, or
    // the running replica with the least lag): Patroni then promotes it without first
    // asking every member for its position, and HAProxy watches that one alone.
    let candidate = pick_candidate(&ms, to).map_err(|e| anyhow!("{verb} of `{cluster}`: {e}"))?;
    let what = format!(
        "{verb} of `{cluster}`: leader {} -> {}",
        leader
            .as_ref()
            .map(|l| format!("{} ({})", l.name, l.host))
            .unwrap_or_else(|| "(none)".into()),
        candidate
            .clone()
            .unwrap_or_else(|| "the healthiest replica (patroni picks)".into())
    );
    if yes {
        eprintln!("{what}");
    } else {
        confirm(cluster, &what)?;
    }

    // SSH and the binary ready on every HAProxy node before the leader moves
    let backends = primary_backends(&inv, cluster);
    let ready = haproxy_ready(&backends.iter().map(|(h, _)| *h).collect::<Vec<_>>());

    let mut body = serde_json::Map::new();
    if let Some(l) = &leader {
        body.insert("leader".into(), json!(l.name));
    }
    if let Some(c) = &candidate {
        body.insert("candidate".into(), json!(c));
    }
    // The leader's API for a switchover; for a failover any member that answers.
    let leader_host = leader.as_ref().map(|l| l.host.as_str());
    let (mut order, rest): (Vec<&PatroniApi>, Vec<&PatroniApi>) = apis
        .iter()
        .partition(|a| a.addr().split(':').next() == leader_host);
    order.extend(rest);
    // Every HAProxy node watches the candidates' /primary itself (`haproxy_follow`,
    // started before the request) and routes to the first that answers: no round trip
    // after the promotion. A refused request leaves them to time out harmlessly.
    let old = leader.as_ref().map(|l| l.name.clone());
    let name_of: std::collections::BTreeMap<String, String> = ms
        .iter()
        .map(|m| (m.host.clone(), m.name.clone()))
        .collect();
    let watch: Vec<(String, String)> = apis
        .iter()
        .filter_map(|a| {
            let name = name_of.get(a.addr().split(':').next().unwrap_or_default())?;
            (Some(name) != old.as_ref() && candidate.as_ref().is_none_or(|c| c == name))
                .then(|| (name.clone(), a.url.clone()))
        })
        .collect();
    let followers: Vec<_> = backends
        .iter()
        .filter(|(h, _)| ready.contains(&h.addr))
        .map(|(h, svcs)| {
            let addr = h.addr.clone();
            let a = crate::actions::Action::HaproxyFollow {
                socket: HAPROXY_SOCKET.into(),
                backends: svcs.clone(),
                candidates: watch.clone(),
                old: old.clone(),
                timeout_ms: 60_000,
            };
            (
                h.addr.clone(),
                std::thread::spawn(move || crate::controller::act_again(&addr, a, &mut |_| {})),
            )
        })
        .collect();
    // A switchover's writes wait in the old leader's pgBouncer instead of failing.
    let mut held = match (action, &leader) {
        (Action::Switchover { hold_writes: true }, Some(l)) => {
            Held::start(&inv, &l.host, &watch, ready.contains(&l.host))
        }
        _ => None,
    };
    let t0 = Instant::now();
    let mut answer = None;
    let mut last = String::new();
    for a in &order {
        match a.request(
            "POST",
            &format!("/{verb}"),
            Some(&Value::Object(body.clone())),
            true,
        ) {
            Ok(r) => {
                answer = Some((a.addr().to_string(), r));
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let Some((addr, r)) = answer else {
        bail!("{verb} of `{cluster}`: no member's patroni api answered: {last}");
    };
    let text = r.body.trim().to_string();
    match r.status {
        200 => {}
        401 | 403 => bail!("{verb} of `{cluster}`: patroni `{addr}` refused the credentials ({}): {text}\nhint: check `patroni_username`/`patroni_password`", r.status),
        code => bail!("{verb} of `{cluster}`: patroni `{addr}` answered {code}: {text}\nhint: `pigsty status {cluster}` shows the members"),
    }
    eprintln!("patroni: {text}");
    if let Some(h) = held.as_mut() {
        h.posted = true; // it resumes by itself once the new primary answers
    }
    let n = followers.len();
    let mut routed = vec![];
    for (addr, j) in followers {
        match j.join() {
            Ok(Ok(v)) => routed.push((
                v["primary"].as_str().unwrap_or_default().to_string(),
                v["waited_ms"].as_u64().unwrap_or(0),
            )),
            Ok(Err(e)) => {
                eprintln!("warning: haproxy on {addr} follows by its health checks only: {e:#}")
            }
            Err(_) => eprintln!("warning: haproxy on {addr}: the worker panicked"),
        }
    }
    if let Some((new, _)) = routed.first() {
        let names: std::collections::BTreeSet<&str> = backends
            .iter()
            .flat_map(|(_, s)| s.iter().map(String::as_str))
            .collect();
        let waited = routed.iter().map(|(_, w)| *w).max().unwrap_or(0);
        eprintln!(
            "haproxy: {} route to {new} on {} of {} nodes, {:.2}s after the request",
            names.into_iter().collect::<Vec<_>>().join(", "),
            routed.len(),
            n.max(backends.len()),
            waited as f64 / 1000.0
        );
    }
    if let Some(h) = held.take() {
        h.report();
    }

    let deadline = Duration::from_secs(120);
    loop {
        if let Ok((s, _)) = cluster_state(&apis) {
            let ms = members(&s);
            if let Some(new) = ms.iter().find(|m| is_leader(m) && m.state == "running") {
                let moved = Some(&new.name) != old.as_ref()
                    && candidate.as_ref().map(|c| c == &new.name).unwrap_or(true);
                if moved {
                    println!(
                        "{cluster}: {verb} done in {:.1}s, leader is now {} ({})",
                        t0.elapsed().as_secs_f64(),
                        new.name,
                        new.host
                    );
                    print_members(&ms);
                    return Ok(0);
                }
            }
        }
        if t0.elapsed() > deadline {
            bail!("{verb} of `{cluster}`: patroni accepted it, but no new running leader after {}s\nhint: `pigsty status {cluster}`", deadline.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `pigsty pgsql pause|resume CLUSTER`: Patroni's maintenance mode (`PATCH /config`
/// with `pause`), cluster-wide; while paused Patroni neither fails over nor restarts
/// Postgres. Waits until `/cluster` reports the new mode.
pub fn pause(g: &Global, cluster: &str, on: bool) -> Result<u8> {
    let inv: Inventory = super::deploy::load_inventory(g)?;
    let apis = cluster_apis(&inv, cluster)?;
    let _lock = super::lock::clusters([cluster], super::lock::wait()?)?;
    let verb = if on { "pause" } else { "resume" };
    let (state, api) = cluster_state(&apis).map_err(|e| anyhow!("cannot read the state of `{cluster}` from patroni: {e}\nhint: `pigsty status {cluster}`"))?;
    let is_paused = |s: &Value| s["pause"].as_bool().unwrap_or(false);
    if is_paused(&state) == on {
        println!(
            "{cluster}: {}",
            if on { "already paused" } else { "not paused" }
        );
        return Ok(0);
    }
    let r = api.request("PATCH", "/config", Some(&json!({ "pause": on })), true)?;
    let text = r.body.trim().to_string();
    match r.status {
        200 => {}
        401 | 403 => bail!("{verb} of `{cluster}`: patroni `{}` refused the credentials ({}): {text}\nhint: check `patroni_username`/`patroni_password`", api.addr(), r.status),
        code => bail!("{verb} of `{cluster}`: patroni `{}` answered {code}: {text}", api.addr()),
    }
    let t0 = Instant::now();
    loop {
        if let Ok((s, _)) = cluster_state(&apis) {
            if is_paused(&s) == on {
                println!(
                    "{cluster}: {}",
                    if on {
                        "paused: Patroni will not fail over or restart Postgres until `pigsty pgsql resume`"
                    } else {
                        "resumed: automatic failover is on again"
                    }
                );
                print_members(&members(&s));
                return Ok(0);
            }
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("{verb} of `{cluster}`: patroni accepted it, but /cluster does not show it after 30s\nhint: `pigsty status {cluster}`");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `pigsty pgsql promote CLUSTER`: a standby cluster (`pg_upstream`) becomes a normal
/// one: `standby_cluster` removed from its DCS config, its standby leader promoted
/// (a new timeline), replication from the upstream ends. Confirmed by typing the name
/// back (or `--yes`).
pub fn promote(g: &Global, cluster: &str, yes: bool) -> Result<u8> {
    let inv: Inventory = super::deploy::load_inventory(g)?;
    let apis = cluster_apis(&inv, cluster)?;
    let _lock = super::lock::clusters([cluster], super::lock::wait()?)?;
    let (state, api) = cluster_state(&apis).map_err(|e| anyhow!("cannot read the state of `{cluster}` from patroni: {e}\nhint: `pigsty status {cluster}`"))?;
    let ms = members(&state);
    let Some(leader) = ms.iter().find(|m| m.role == "standby_leader").cloned() else {
        bail!("`{cluster}` is not a standby cluster (no standby leader); nothing was changed\nhint: `pigsty status {cluster}` shows its members");
    };
    let what = format!("promote standby cluster `{cluster}`: {} ({}) stops replicating from its upstream and accepts writes", leader.name, leader.host);
    if yes {
        eprintln!("{what}");
    } else {
        confirm(cluster, &what)?;
    }
    let r = api.request(
        "PATCH",
        "/config",
        Some(&json!({ "standby_cluster": null })),
        true,
    )?;
    match r.status {
        200 => {}
        401 | 403 => bail!("promote of `{cluster}`: patroni `{}` refused the credentials ({}): {}\nhint: check `patroni_username`/`patroni_password`", api.addr(), r.status, r.body.trim()),
        code => bail!("promote of `{cluster}`: patroni `{}` answered {code}: {}", api.addr(), r.body.trim()),
    }
    let t0 = Instant::now();
    loop {
        if let Ok((s, _)) = cluster_state(&apis) {
            let ms = members(&s);
            if let Some(l) = ms
                .iter()
                .find(|m| m.role == "leader" && m.state == "running")
            {
                println!(
                    "{cluster}: promoted in {:.1}s, {} ({}) is the leader",
                    t0.elapsed().as_secs_f64(),
                    l.name,
                    l.host
                );
                print_members(&ms);
                eprintln!("hint: remove `pg_upstream` from `{cluster}` in the inventory: it is a normal cluster now");
                return Ok(0);
            }
        }
        if t0.elapsed() > Duration::from_secs(120) {
            bail!("promote of `{cluster}`: patroni accepted it, but no running leader after 120s\nhint: `pigsty status {cluster}`");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Members in rolling order: replicas first (by name), the leader last; only
/// `instance` (a name or an address) when given.
pub fn rolling_order(ms: &[Member], instance: Option<&str>) -> Result<Vec<Member>, String> {
    if let Some(i) = instance {
        return ms
            .iter()
            .find(|m| m.name == i || m.host == i)
            .map(|m| vec![m.clone()])
            .ok_or_else(|| {
                format!(
                    "`{i}` is not a member of the cluster\nhint: members: {}",
                    ms.iter()
                        .map(|m| format!("{} ({})", m.name, m.host))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
    }
    let mut v: Vec<Member> = ms.to_vec();
    v.sort_by(|a, b| (is_leader(a), &a.name).cmp(&(is_leader(b), &b.name)));
    Ok(v)
}

/// `pigsty pgsql restart|reload CLUSTER [INSTANCE]`: through each member's Patroni,
/// replicas first, the leader last; a restart waits for the member to run again
/// before the next one.
pub fn restart(g: &Global, cluster: &str, instance: Option<&str>, reload: bool) -> Result<u8> {
    let inv: Inventory = super::deploy::load_inventory(g)?;
    let apis = cluster_apis(&inv, cluster)?;
    let verb = if reload { "reload" } else { "restart" };
    let (state, _) = cluster_state(&apis).map_err(|e| anyhow!("cannot read the state of `{cluster}` from patroni: {e}\nhint: `pigsty status {cluster}`"))?;
    let order = rolling_order(&members(&state), instance)
        .map_err(|e| anyhow!("{verb} of `{cluster}`: {e}"))?;
    let mut failed = 0;
    for m in &order {
        let Some(api) = apis
            .iter()
            .find(|a| a.addr().split(':').next() == Some(m.host.as_str()))
        else {
            eprintln!(
                "{verb}: {} ({}) is not in the inventory; skipped",
                m.name, m.host
            );
            continue;
        };
        let t0 = Instant::now();
        let r = api.request("POST", &format!("/{verb}"), Some(&json!({})), true);
        let ok = match &r {
            Ok(r) if r.status == 200 || r.status == 202 => true,
            Ok(r) => {
                eprintln!(
                    "error: {verb} of {} ({}): patroni answered {}: {}",
                    m.name,
                    m.host,
                    r.status,
                    r.body.trim()
                );
                false
            }
            Err(e) => {
                eprintln!("error: {verb} of {} ({}): {e}", m.name, m.host);
                false
            }
        };
        if !ok {
            failed += 1;
            if !reload {
                eprintln!(
                    "hint: the rolling restart stops here; the members after it were not touched"
                );
                break;
            }
            continue;
        }
        if !reload {
            // back to running before the next member goes down
            let running = crate::resources::poll(
                Duration::from_secs(120),
                Duration::from_millis(500),
                || {
                    let (s, _) = cluster_state(&apis)?;
                    let up = members(&s).iter().any(|x| {
                        x.name == m.name && matches!(x.state.as_str(), "running" | "streaming")
                    });
                    if up {
                        Ok(())
                    } else {
                        Err("not running yet".into())
                    }
                },
            );
            if running.is_err() {
                eprintln!("error: {} ({}) is not running 120s after its restart\nhint: `pigsty status {cluster}`", m.name, m.host);
                failed += 1;
                break;
            }
        }
        println!(
            "{cluster}: {verb}ed {} ({}, {}) in {:.1}s",
            m.name,
            m.host,
            m.role,
            t0.elapsed().as_secs_f64()
        );
    }
    if let Ok((s, _)) = cluster_state(&apis) {
        print_members(&members(&s));
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Member> {
        members(&json!({"members": [
            {"name": "pg-test-1", "host": "10.10.10.11", "role": "leader", "state": "running", "timeline": 1},
            {"name": "pg-test-2", "host": "10.10.10.12", "role": "replica", "state": "streaming", "lag": 4096},
            {"name": "pg-test-3", "host": "10.10.10.13", "role": "replica", "state": "running", "lag": 0},
            {"name": "pg-test-4", "host": "10.10.10.14", "role": "replica", "state": "running", "lag": 0, "tags": {"nofailover": true}},
            {"name": "pg-test-5", "host": "10.10.10.15", "role": "replica", "state": "stopped", "lag": "unknown"}
        ]}))
    }

    #[test]
    fn switchover_nudges_the_primary_services_on_the_members_only() {
        let text = "all:\n  children:\n    pg-test:\n      hosts:\n        10.10.10.11: { pg_seq: 1, pg_role: primary }\n        10.10.10.12: { pg_seq: 2, pg_role: replica }\n      vars:\n        pg_cluster: pg-test\n        pg_services: [{ name: standby, port: 5435, check: /sync, selector: '[]' }, { name: rw, port: 5439, check: /read-write }]\n    pg-far:\n      hosts:\n        10.10.10.13: { pg_seq: 1, pg_role: primary }\n      vars: { pg_cluster: pg-far, pg_service_provider: infra }\n";
        let inv = Inventory::from_str("t.yml", text, &[]).unwrap();
        let b = primary_backends(&inv, "pg-test");
        assert_eq!(
            b.iter().map(|(h, _)| h.addr.as_str()).collect::<Vec<_>>(),
            vec!["10.10.10.11", "10.10.10.12"]
        );
        assert_eq!(
            b[0].1,
            vec!["pg-test-primary", "pg-test-default", "pg-test-rw"],
            "the /primary, /read-write and /leader services, not /read-only or /sync"
        );
        assert!(
            primary_backends(&inv, "pg-far").is_empty(),
            "services on pg_service_provider's nodes: health checks only"
        );
    }

    #[test]
    fn a_rolling_restart_takes_the_replicas_first_and_the_leader_last() {
        let names = |v: Vec<Member>| v.into_iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(
            names(rolling_order(&sample(), None).unwrap()),
            vec![
                "pg-test-2",
                "pg-test-3",
                "pg-test-4",
                "pg-test-5",
                "pg-test-1"
            ]
        );
        assert_eq!(
            names(rolling_order(&sample(), Some("10.10.10.13")).unwrap()),
            vec!["pg-test-3"]
        );
        assert!(rolling_order(&sample(), Some("pg-test-9"))
            .unwrap_err()
            .contains("not a member"));
    }

    #[test]
    fn to_accepts_an_instance_name_or_an_address() {
        assert_eq!(
            pick_candidate(&sample(), Some("pg-test-2"))
                .unwrap()
                .as_deref(),
            Some("pg-test-2")
        );
        assert_eq!(
            pick_candidate(&sample(), Some("10.10.10.13"))
                .unwrap()
                .as_deref(),
            Some("pg-test-3")
        );
    }

    #[test]
    fn to_refuses_the_leader_a_stranger_a_stopped_member_and_nofailover() {
        assert!(pick_candidate(&sample(), Some("pg-test-1"))
            .unwrap_err()
            .contains("leader already"));
        assert!(pick_candidate(&sample(), Some("pg-x"))
            .unwrap_err()
            .contains("pg-test-2 (10.10.10.12)"));
        assert!(pick_candidate(&sample(), Some("pg-test-5"))
            .unwrap_err()
            .contains("state stopped"));
        assert!(pick_candidate(&sample(), Some("pg-test-4"))
            .unwrap_err()
            .contains("nofailover"));
    }

    #[test]
    fn in_synchronous_mode_only_a_sync_standby_can_take_over() {
        let ms = members(&json!({"members": [
            {"name": "a", "host": "10.0.0.1", "role": "leader", "state": "running"},
            {"name": "b", "host": "10.0.0.2", "role": "replica", "state": "running", "lag": 0},
            {"name": "c", "host": "10.0.0.3", "role": "sync_standby", "state": "running", "lag": 100}
        ]}));
        assert_eq!(pick_candidate(&ms, None).unwrap().as_deref(), Some("c"));
        assert_eq!(
            pick_candidate(&ms, Some("c")).unwrap().as_deref(),
            Some("c")
        );
        assert!(pick_candidate(&ms, Some("b"))
            .unwrap_err()
            .contains("promotes only `c`"));
    }

    #[test]
    fn without_to_the_replica_with_least_lag_is_picked() {
        assert_eq!(
            pick_candidate(&sample(), None).unwrap().as_deref(),
            Some("pg-test-3")
        );
        let only_leader =
            members(&json!({"members": [{"name": "a", "role": "leader", "state": "running"}]}));
        assert!(pick_candidate(&only_leader, None)
            .unwrap_err()
            .contains("no running replica"));
    }
}
