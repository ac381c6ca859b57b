//! Patroni, through its REST API (on `patroni_port`, https with `patroni_ssl_enabled`): wait until the
//! cluster has a running leader, keep the cluster-wide (DCS) configuration in line
//! with the inventory, apply restarts that parameters are waiting for, and wait until
//! Patroni has rewritten `postgresql.conf` after a reload.
//!
//! Requests go through the one HTTP client, `sys::http`.
use super::{scram::b64_encode, ResError, ResResult, Resource, State};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The base URL of the Patroni REST API at `ip:port`: `https://` when it serves TLS
/// (`patroni_ssl_enabled`; the client then verifies it against the INFRA CA).
pub fn base_url(ip: &str, port: u16, tls: bool) -> String {
    format!("{}://{ip}:{port}", if tls { "https" } else { "http" })
}

/// Where Patroni's REST API answers and how to authenticate unsafe requests.
#[derive(Clone)]
pub struct PatroniApi {
    /// [`base_url`]: `http://ip:port` or `https://ip:port`
    pub url: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for PatroniApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PatroniApi({})", self.url)
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

impl PatroniApi {
    pub fn new(url: impl Into<String>, username: &str, password: &str) -> Self {
        PatroniApi {
            url: url.into(),
            username: username.into(),
            password: password.into(),
        }
    }

    /// `ip:port`, without the scheme (for names and messages).
    pub fn addr(&self) -> &str {
        self.url.split_once("://").map_or(&self.url, |(_, a)| a)
    }

    /// The same API over the other scheme: what Patroni still serves between a change of
    /// `patroni_ssl_enabled` in `patroni.yml` and its reload.
    pub fn other_scheme(&self) -> PatroniApi {
        let url = match self.url.strip_prefix("https://") {
            Some(a) => format!("http://{a}"),
            None => format!("https://{}", self.addr()),
        };
        PatroniApi {
            url,
            ..self.clone()
        }
    }

    /// One request; the credentials go in a header, never in a message.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        auth: bool,
    ) -> ResResult<HttpResponse> {
        let err =
            |e: String| ResError::msg(format!("patroni api `{}` {method} {path}: {e}", self.url));
        let token = auth.then(|| {
            format!(
                "Basic {}",
                b64_encode(format!("{}:{}", self.username, self.password).as_bytes())
            )
        });
        let mut headers = vec![("Accept", "application/json")];
        if let Some(t) = &token {
            headers.push(("Authorization", t.as_str()));
        }
        let payload = body.map(|b| b.to_string());
        if payload.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let r = crate::sys::http::request(
            method,
            &format!("{}{path}", self.url),
            &headers,
            payload.as_deref().map(str::as_bytes),
            Duration::from_secs(120),
        )
        .map_err(err)?;
        Ok(HttpResponse {
            status: r.status,
            body: r.body,
        })
    }

    pub fn get(&self, path: &str) -> ResResult<HttpResponse> {
        self.request("GET", path, None, false)
    }
}

/// Refuses a member whose Postgres major version differs from the one the cluster's
/// running leader serves: a replica streams only from the same major, so members on
/// different releases (Debian 12 offers 15, Debian 13 offers 17) must agree on
/// `pg_version`. Asks the other members' Patroni `/patroni` (2 s each); with no
/// leader answering (a new cluster, this node its first member) it passes. Changes
/// nothing: the plan puts it before any package.
pub struct ClusterMajor {
    pub cluster: String,
    /// The major this host would run, and why (`pg_version`, or the newest offered).
    pub major: u32,
    /// This host's release, e.g. `debian 13 (trixie)`.
    pub release: String,
    /// The other members' Patroni REST API ([`base_url`]).
    pub peers: Vec<String>,
}

impl ClusterMajor {
    /// The running leader's address and major, if one answers. A peer that answers
    /// over https with a certificate that does not verify is an error, not "no
    /// leader": the check must not pass because it could not look.
    fn leader(&self) -> Result<Option<(String, u32)>, String> {
        let mut unverified = None;
        for addr in &self.peers {
            let r =
                match crate::sys::http::get_url(&format!("{addr}/patroni"), Duration::from_secs(2))
                {
                    Ok(r) => r,
                    Err(e) => {
                        if e.to_lowercase().contains("certificate") {
                            unverified.get_or_insert(format!("{addr}: {e}"));
                        }
                        continue;
                    }
                };
            let Ok(v) = serde_json::from_str::<Value>(&r.body) else {
                continue;
            };
            let leader = matches!(
                v["role"].as_str(),
                Some("primary" | "master" | "standby_leader")
            ) && v["state"].as_str() == Some("running");
            if let (true, Some(n)) = (leader, v["server_version"].as_u64()) {
                return Ok(Some((addr.clone(), (n / 10000) as u32)));
            }
        }
        match unverified {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

impl Resource for ClusterMajor {
    fn kind(&self) -> &'static str {
        "pg"
    }
    fn name(&self) -> String {
        format!("{} major version {}", self.cluster, self.major)
    }
    fn check(&self) -> ResResult<State> {
        let leader = self.leader().map_err(|e| {
            ResError::msg(format!(
                "cluster `{}`: cannot check which PostgreSQL major its leader runs: Patroni's certificate does not verify ({e}); PGSQL installed nothing here\nhint: the member must trust the cluster's CA (/etc/pki/ca.crt, installed by NODE from the infra node's CA)",
                self.cluster
            ))
        })?;
        match leader {
            Some((addr, m)) if m != self.major => Err(ResError::msg(format!(
                "cluster `{}`: its leader (Patroni at {addr}) runs PostgreSQL {m} but this member, on {}, would run PostgreSQL {}; a replica streams only from the same major, so members on different releases must agree; PGSQL installed nothing here\nhint: set `pg_version: {m}` for the cluster (the PGDG repository offers every major on both releases), or run this member on the leader's release",
                self.cluster, self.release, self.major
            ))),
            _ => Ok(State::InSync),
        }
    }
    fn apply(&self) -> ResResult<()> {
        Ok(())
    }
}

/// Waits until the local Patroni answers `/health` (Postgres running) and the cluster
/// has a running leader: role-agnostic, so it holds for a fresh primary, a replica
/// that finished cloning, or a member of a cluster that failed over.
pub struct PatroniReady {
    pub api: PatroniApi,
    pub timeout: Duration,
    /// A replica gives up when the cluster has had no running leader this long: it has
    /// nothing to clone from, and the whole `timeout` (long, for big clones) would be
    /// spent waiting. `None` for the primary, which bootstraps the leader itself.
    pub no_leader: Option<Duration>,
    /// Before the reload of a changed `patroni.yml`: a Patroni that answers only over
    /// the other scheme (`patroni_ssl_enabled` just changed) counts. Only unauthenticated
    /// reads go there.
    pub either_scheme: bool,
}

/// Why a Patroni is not ready yet.
enum NotReady {
    /// This node is not healthy yet (starting, cloning, ...).
    Node(String),
    /// This node answers but the cluster has no running leader.
    NoLeader,
}

impl PatroniReady {
    fn probe(&self) -> Result<(), NotReady> {
        let other;
        let (h, api) = match self.api.get("/health") {
            Ok(h) => (h, &self.api),
            Err(e) => {
                other = self.api.other_scheme();
                match self.either_scheme.then(|| other.get("/health")) {
                    Some(Ok(h)) => (h, &other),
                    _ => return Err(NotReady::Node(e.to_string())),
                }
            }
        };
        let c = api.get("/cluster").ok().and_then(|c| c.json());
        let leader = c.as_ref().and_then(|j| j["members"].as_array()).map(|m| {
            m.iter().any(|x| {
                matches!(x["role"].as_str(), Some("leader" | "standby_leader"))
                    && x["state"] == "running"
            })
        });
        if h.status != 200 {
            let state = h
                .json()
                .and_then(|j| j["state"].as_str().map(str::to_string))
                .unwrap_or_default();
            if leader == Some(false) {
                return Err(NotReady::NoLeader);
            }
            return Err(NotReady::Node(format!(
                "/health answers {} (state {})",
                h.status,
                if state.is_empty() { "unknown" } else { &state }
            )));
        }
        match leader {
            Some(true) => Ok(()),
            Some(false) => Err(NotReady::NoLeader),
            None => Err(NotReady::Node("/cluster: no member list".into())),
        }
    }
}

const NO_LEADER_HINT: &str = "hint: `pigsty status` and `journalctl -u patroni`; \
if Patroni says it waits for a leader to bootstrap, the DCS may still hold an earlier \
cluster of that name (its `initialize` key): `pigsty pgsql rm` removes it with the cluster";

impl Resource for PatroniReady {
    fn kind(&self) -> &'static str {
        "wait"
    }
    fn name(&self) -> String {
        if self.either_scheme {
            format!("patroni ready on {}", self.api.addr())
        } else {
            format!("patroni ready on {} after its reload", self.api.url)
        }
    }
    fn check(&self) -> ResResult<State> {
        Ok(match self.probe() {
            Ok(()) => State::InSync,
            Err(NotReady::Node(e)) => State::drift(format!("not ready: {e}")),
            Err(NotReady::NoLeader) => {
                State::drift("not ready: the cluster has no running leader yet")
            }
        })
    }
    fn apply(&self) -> ResResult<()> {
        let t0 = Instant::now();
        let mut leader_seen = Instant::now();
        loop {
            let e = match self.probe() {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            match e {
                NotReady::NoLeader => {
                    if let Some(limit) = self.no_leader.filter(|l| leader_seen.elapsed() > *l) {
                        return Err(ResError::msg(format!(
                            "patroni on `{}`: the cluster has had no running leader for {}s, so there is nothing to clone from\n{NO_LEADER_HINT}",
                            self.api.addr(),
                            limit.as_secs()
                        )));
                    }
                    if t0.elapsed() > self.timeout {
                        return Err(ResError::msg(format!(
                            "patroni on `{}` not ready after {}s: the cluster has no running leader\n{NO_LEADER_HINT}",
                            self.api.addr(),
                            self.timeout.as_secs()
                        )));
                    }
                }
                NotReady::Node(e) => {
                    leader_seen = Instant::now();
                    if t0.elapsed() > self.timeout {
                        return Err(ResError::msg(format!(
                            "patroni on `{}` not ready after {}s: {e}\nhint: `journalctl -u patroni` and /pg/log/patroni, /pg/log/postgres",
                            self.api.addr(),
                            self.timeout.as_secs()
                        )));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1000));
        }
    }
}

/// The cluster-wide configuration Patroni keeps in the DCS (`GET/PATCH /config`):
/// timings, `maximum_lag_on_failover`, and the Postgres parameters Patroni only takes
/// from there (max_connections, max_wal_senders, ...). Bootstrap writes it once from
/// `bootstrap.dcs`; this keeps it in line afterwards. Only keys we manage are compared.
pub struct PatroniDcsConfig {
    pub api: PatroniApi,
    /// Top-level keys (ttl, loop_wait, ...), compared as JSON values.
    pub top: BTreeMap<String, Value>,
    /// `postgresql.parameters` entries, compared as strings.
    pub parameters: BTreeMap<String, String>,
    /// `postgresql.use_pg_rewind` etc.
    pub postgresql: BTreeMap<String, Value>,
    /// `standby_cluster` as the inventory wants it (`pg_upstream`), judged from the
    /// primary's plan only: `None` leaves it alone, `Some(None)` a normal cluster,
    /// `Some(Some(block))` a standby cluster with that block. A different upstream,
    /// port or delay is patched; standby-ness itself never changes in a deploy: a
    /// promoted cluster still carrying `pg_upstream`, or a standby without it, is an
    /// error naming the way (`pigsty pgsql promote`, or re-creating the cluster).
    pub standby: Option<Option<Value>>,
    /// The cluster's name, for those errors.
    pub cluster: String,
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => {
            if *b {
                "on".into()
            } else {
                "off".into()
            }
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl PatroniDcsConfig {
    /// The refusal when the DCS and the inventory disagree on standby-ness.
    fn standby_error(&self, cur: &Value) -> Option<String> {
        let have = cur.get("standby_cluster").filter(|v| !v.is_null());
        let c = &self.cluster;
        match (&self.standby, have) {
            (Some(None), Some(h)) => Some(format!(
                "`{c}` is a standby cluster in the DCS (replicating from {}), but `pg_upstream` is not set; nothing was changed\nhint: `pigsty pgsql promote {c}` makes it a normal cluster, or set `pg_upstream` back",
                h["host"].as_str().unwrap_or("?")
            )),
            (Some(Some(w)), None) => Some(format!(
                "`{c}` is a normal cluster in the DCS (promoted?), but `pg_upstream` makes it a standby of {}; nothing was changed\nhint: after `pigsty pgsql promote {c}`, remove `pg_upstream` from the inventory; a normal cluster becomes a standby only when re-created (`pigsty pgsql rm`, then deploy)",
                w["host"].as_str().unwrap_or("?")
            )),
            _ => None,
        }
    }

    fn diff(&self, cur: &Value) -> (Vec<String>, Value) {
        let mut words = vec![];
        let mut patch = serde_json::Map::new();
        if let (Some(Some(want)), Some(have)) = (
            &self.standby,
            cur.get("standby_cluster").filter(|v| v.is_object()),
        ) {
            if want != have {
                words.push(format!("dcs standby_cluster {have} -> {want}"));
                // PATCH merges: a key we no longer want is sent as null to remove it
                let mut block = want.as_object().cloned().unwrap_or_default();
                for k in have.as_object().into_iter().flat_map(|o| o.keys()) {
                    block.entry(k.clone()).or_insert(Value::Null);
                }
                patch.insert("standby_cluster".into(), Value::Object(block));
            }
        }
        for (k, want) in &self.top {
            let have = &cur[k];
            if have != want
                && !(have.is_number() && want.is_number() && have.as_f64() == want.as_f64())
            {
                words.push(format!("dcs {k} {} -> {}", show(have), show(want)));
                patch.insert(k.clone(), want.clone());
            }
        }
        let mut pg = serde_json::Map::new();
        for (k, want) in &self.postgresql {
            let have = &cur["postgresql"][k];
            if have != want {
                words.push(format!(
                    "dcs postgresql.{k} {} -> {}",
                    show(have),
                    show(want)
                ));
                pg.insert(k.clone(), want.clone());
            }
        }
        let mut params = serde_json::Map::new();
        for (k, want) in &self.parameters {
            let have = &cur["postgresql"]["parameters"][k];
            if scalar(have) != *want {
                words.push(format!("dcs parameter {k} {} -> {want}", show(have)));
                params.insert(k.clone(), Value::String(want.clone()));
            }
        }
        if !params.is_empty() {
            pg.insert("parameters".into(), Value::Object(params));
        }
        if !pg.is_empty() {
            patch.insert("postgresql".into(), Value::Object(pg));
        }
        (words, Value::Object(patch))
    }
    fn current(&self) -> ResResult<Value> {
        let r = self.api.get("/config")?;
        if r.status != 200 {
            return Err(ResError::msg(format!(
                "patroni `{}` GET /config answered {}",
                self.api.addr(),
                r.status
            )));
        }
        r.json()
            .ok_or_else(|| ResError::msg("patroni GET /config: not json"))
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(unset)".into(),
        other => scalar(other),
    }
}

impl Resource for PatroniDcsConfig {
    fn kind(&self) -> &'static str {
        "patroni"
    }
    fn name(&self) -> String {
        "cluster config in dcs".into()
    }
    fn check(&self) -> ResResult<State> {
        let cur = self.current()?;
        if let Some(e) = self.standby_error(&cur) {
            return Err(ResError::msg(e));
        }
        Ok(State::from_diffs(self.diff(&cur).0))
    }
    fn apply(&self) -> ResResult<()> {
        let cur = self.current()?;
        if let Some(e) = self.standby_error(&cur) {
            return Err(ResError::msg(e));
        }
        let (_, patch) = self.diff(&cur);
        let r = self.api.request("PATCH", "/config", Some(&patch), true)?;
        if r.status != 200 {
            return Err(ResError::msg(format!(
                "patroni `{}` PATCH /config answered {}: {}\nhint: check `patroni_username`/`patroni_password`",
                self.api.addr(),
                r.status,
                r.body.trim()
            )));
        }
        // GET /config answers from Patroni's view of the DCS, which follows the write
        // a moment later (its etcd3 watch): wait for it before the engine checks again
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if self.current().is_ok_and(|cur| self.diff(&cur).0.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        Ok(())
    }
}

/// Restarts Postgres through Patroni when parameters wait for one, and only then.
/// Patroni sets its `pending_restart` flag a second after it reloads Postgres and picks
/// up DCS changes only at its next cycle, so the check also asks Postgres itself
/// (`live`: `pg_settings.pending_restart`, and the live values of the DCS-only
/// parameters against what the inventory wants), in words.
pub struct PatroniPendingRestart {
    pub api: PatroniApi,
    pub live: Box<dyn Fn() -> ResResult<Vec<String>> + Send + Sync>,
    pub loop_wait: u64,
}

impl PatroniPendingRestart {
    fn pending(&self) -> ResResult<Vec<String>> {
        let r = self.api.get("/patroni")?;
        let j = r.json().unwrap_or(Value::Null);
        if j["state"] != "running" {
            return Ok(vec![]);
        }
        let mut why = (self.live)()?;
        if why.is_empty() && j["pending_restart"] == Value::Bool(true) {
            why.push("patroni reports pending_restart".to_string());
        }
        Ok(why)
    }
}

impl Resource for PatroniPendingRestart {
    fn kind(&self) -> &'static str {
        "patroni"
    }
    fn name(&self) -> String {
        "restart postgres for pending parameters".into()
    }
    fn check(&self) -> ResResult<State> {
        Ok(State::from_diffs(self.pending()?))
    }
    fn apply(&self) -> ResResult<()> {
        // Patroni may not have picked up a DCS change yet (it does once per loop_wait):
        // restart, re-check, and try again a few times before giving up.
        let settle = Duration::from_secs(self.loop_wait * 2 + 10);
        let mut last = String::new();
        for _ in 0..3 {
            let r = self
                .api
                .request("POST", "/restart", Some(&serde_json::json!({})), true)?;
            last = format!("{} {}", r.status, r.body.trim());
            if r.status == 401 || r.status == 403 {
                break;
            }
            let t1 = Instant::now();
            while t1.elapsed() < settle {
                std::thread::sleep(Duration::from_millis(1000));
                if let Ok(p) = self.api.get("/health") {
                    if p.status == 200 && self.pending().map(|w| w.is_empty()).unwrap_or(false) {
                        return Ok(());
                    }
                }
            }
        }
        Err(ResError::msg(format!(
            "restart through patroni `{}` did not clear the pending restart: last answer {last}\nhint: `patronictl -c /etc/patroni/patroni.yml list`",
            self.api.addr()
        )))
    }
}

/// After `patroni.yml` changed and Patroni was reloaded, waits until Patroni has
/// rewritten `postgresql.conf` with the parameters we asked for (it does so, then
/// reloads Postgres, at its next cycle). Compares only the names given.
pub struct PgConfApplied {
    pub path: String,
    pub want: BTreeMap<String, String>,
    pub timeout: Duration,
}

/// Parse Patroni's `postgresql.conf` (`name = 'value'` lines).
pub fn parse_pg_conf(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .unwrap_or(v);
            m.insert(
                k.trim().to_string(),
                v.replace("''", "'").replace("\\\\", "\\"),
            );
        }
    }
    m
}

/// Do two parameter values mean the same thing to Postgres? `2048MB` = `2GB`,
/// `60s` = `1min`, `on` = `true`; other strings must match exactly.
pub fn same_setting(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a == b {
        return true;
    }
    let boolean = |s: &str| match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    };
    if let (Some(x), Some(y)) = (quantity(a), quantity(b)) {
        return x.1 == y.1 && (x.0 - y.0).abs() < 1e-9 * x.0.abs().max(1.0);
    }
    matches!((boolean(a), boolean(b)), (Some(x), Some(y)) if x == y)
}

/// A number with an optional memory or time unit, in bytes / microseconds; the
/// second field is the unit class (0 none, 1 memory, 2 time).
fn quantity(s: &str) -> Option<(f64, u8)> {
    let i = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(s.len());
    let n: f64 = s[..i].parse().ok()?;
    let (mul, class) = match s[i..].trim() {
        "" => (1.0, 0),
        "B" => (1.0, 1),
        "kB" => (1024.0, 1),
        "MB" => (1024.0 * 1024.0, 1),
        "GB" => (1024.0 * 1024.0 * 1024.0, 1),
        "TB" => (1024.0f64.powi(4), 1),
        "us" => (1.0, 2),
        "ms" => (1e3, 2),
        "s" => (1e6, 2),
        "min" => (6e7, 2),
        "h" => (3.6e9, 2),
        "d" => (8.64e10, 2),
        _ => return None,
    };
    Some((n * mul, class))
}

impl PgConfApplied {
    fn diffs(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return vec![format!("{} not written yet", self.path)];
        };
        let have = parse_pg_conf(&text);
        self.want
            .iter()
            .filter(|(k, v)| have.get(*k).map(|h| !same_setting(h, v)).unwrap_or(true))
            .map(|(k, v)| {
                format!(
                    "{k}: {} -> {v}",
                    have.get(k).map(String::as_str).unwrap_or("(unset)")
                )
            })
            .collect()
    }
}

impl Resource for PgConfApplied {
    fn kind(&self) -> &'static str {
        "wait"
    }
    fn name(&self) -> String {
        format!("patroni applied parameters to {}", self.path)
    }
    fn check(&self) -> ResResult<State> {
        Ok(State::from_diffs(self.diffs()))
    }
    fn apply(&self) -> ResResult<()> {
        let t0 = Instant::now();
        loop {
            let d = self.diffs();
            if d.is_empty() {
                // Patroni reloads Postgres right after writing the file, then takes a
                // second before it looks at pending_restart: let both happen.
                std::thread::sleep(Duration::from_millis(2500));
                return Ok(());
            }
            if t0.elapsed() > self.timeout {
                return Err(ResError::msg(format!(
                    "patroni did not apply parameters to `{}` within {}s: {}\nhint: a parameter Postgres rejects? see /pg/log/patroni",
                    self.path,
                    self.timeout.as_secs(),
                    d.join(", ")
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn serve_once(status: &str, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        crate::sys::http::testing::serve_once(format!(
            "HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{body}"
        ))
    }

    fn cluster_major(peers: Vec<String>) -> ClusterMajor {
        ClusterMajor {
            cluster: "pg-test".into(),
            major: 15,
            release: "debian 12 (bookworm)".into(),
            peers: peers.into_iter().map(|a| format!("http://{a}")).collect(),
        }
    }

    #[test]
    fn a_peer_whose_certificate_does_not_verify_is_an_error_not_no_leader() {
        // the test CA is not in the system trust store pigsty verifies against
        let d = tempfile::tempdir().unwrap();
        let (addr, _) = crate::sys::http::testing::tls_server(d.path());
        let mut c = cluster_major(vec![]);
        c.peers = vec![format!("https://{addr}")];
        let e = c.check().unwrap_err().to_string();
        assert!(
            e.contains("cannot check which PostgreSQL major its leader runs")
                && e.contains("certificate")
                && e.contains("PGSQL installed nothing here"),
            "{e}"
        );
        // nothing listening (a new cluster): passes
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = l.local_addr().unwrap().to_string();
        drop(l);
        assert!(matches!(
            cluster_major(vec![gone]).check(),
            Ok(State::InSync)
        ));
    }

    #[test]
    fn a_member_of_another_major_than_the_leader_is_refused() {
        let (addr, h) = serve_once(
            "200 OK",
            r#"{"state":"running","role":"primary","server_version":170012}"#,
        );
        let e = cluster_major(vec![addr]).check().unwrap_err().to_string();
        h.join().unwrap();
        assert!(e.contains("runs PostgreSQL 17 but this member, on debian 12 (bookworm), would run PostgreSQL 15"), "{e}");
        assert!(e.contains("set `pg_version: 17`"), "{e}");
    }

    #[test]
    fn the_same_major_a_replica_or_no_answer_passes() {
        let (same, h1) = serve_once(
            "200 OK",
            r#"{"state":"running","role":"master","server_version":150014}"#,
        );
        let (replica, h2) = serve_once(
            "200 OK",
            r#"{"state":"running","role":"replica","server_version":170012}"#,
        );
        // nothing listens there: a new cluster, or a member down
        let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone_addr = gone.local_addr().unwrap().to_string();
        drop(gone);
        assert_eq!(cluster_major(vec![same]).check().unwrap(), State::InSync);
        assert_eq!(
            cluster_major(vec![replica, gone_addr]).check().unwrap(),
            State::InSync
        );
        h1.join().unwrap();
        h2.join().unwrap();
    }

    #[test]
    fn http_get_reads_status_and_body() {
        let (addr, h) = serve_once("200 OK", r#"{"state":"running"}"#);
        let api = PatroniApi::new(format!("http://{addr}"), "postgres", "pw");
        let r = api.get("/health").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json().unwrap()["state"], "running");
        let req = h.join().unwrap();
        assert!(req.starts_with("GET /health HTTP/1.1\r\n"), "{req}");
        assert!(!req.contains("Authorization"), "{req}");
    }

    #[test]
    fn unsafe_request_carries_basic_auth_and_json() {
        let (addr, h) = serve_once("200 OK", "{}");
        let api = PatroniApi::new(format!("http://{addr}"), "postgres", "Pw:1");
        api.request("PATCH", "/config", Some(&json!({"ttl": 30})), true)
            .unwrap();
        let req = h.join().unwrap();
        assert!(
            req.contains(&format!(
                "Authorization: Basic {}",
                b64_encode(b"postgres:Pw:1")
            )),
            "{req}"
        );
        assert!(req.ends_with(r#"{"ttl":30}"#), "{req}");
    }

    #[test]
    fn unreachable_api_error_names_the_address() {
        let api = PatroniApi::new("http://127.0.0.1:1", "u", "p");
        let e = api.get("/health").unwrap_err().to_string();
        assert!(e.contains("127.0.0.1:1") && e.contains("/health"), "{e}");
        assert!(!e.contains('p') || !e.contains("u:p"));
    }

    #[test]
    fn dcs_diff_names_each_changed_key_and_builds_a_minimal_patch() {
        let r = PatroniDcsConfig {
            api: PatroniApi::new("http://127.0.0.1:1", "u", "p"),
            top: [
                ("ttl".to_string(), json!(30)),
                ("loop_wait".to_string(), json!(5)),
            ]
            .into(),
            parameters: [
                ("max_connections".to_string(), "500".to_string()),
                ("max_wal_senders".to_string(), "50".to_string()),
            ]
            .into(),
            postgresql: [("use_pg_rewind".to_string(), json!(true))].into(),
            standby: None,
            cluster: "pg-test".into(),
        };
        let cur = json!({"ttl": 30, "loop_wait": 10, "postgresql": {"use_pg_rewind": true, "parameters": {"max_connections": 100, "max_wal_senders": "50"}}});
        let (words, patch) = r.diff(&cur);
        assert_eq!(
            words,
            vec![
                "dcs loop_wait 10 -> 5".to_string(),
                "dcs parameter max_connections 100 -> 500".to_string()
            ]
        );
        assert_eq!(
            patch,
            json!({"loop_wait": 5, "postgresql": {"parameters": {"max_connections": "500"}}})
        );
    }

    #[test]
    fn standby_block_is_patched_but_standby_ness_never_changes_in_a_deploy() {
        let block =
            json!({"host": "10.10.10.10", "port": 5432, "create_replica_methods": ["basebackup"]});
        let mut r = PatroniDcsConfig {
            api: PatroniApi::new("http://127.0.0.1:1", "u", "p"),
            top: BTreeMap::new(),
            parameters: BTreeMap::new(),
            postgresql: BTreeMap::new(),
            standby: Some(Some(block.clone())),
            cluster: "pg-sby".into(),
        };
        let delayed = json!({"standby_cluster": {"host": "10.10.10.10", "port": 5432, "create_replica_methods": ["basebackup"], "recovery_min_apply_delay": "60000ms"}});
        assert!(r.standby_error(&delayed).is_none());
        let (words, patch) = r.diff(&delayed);
        assert_eq!(words.len(), 1, "{words:?}");
        assert_eq!(
            patch["standby_cluster"]["recovery_min_apply_delay"],
            Value::Null,
            "a merge PATCH removes a key only with null: {patch}"
        );
        assert_eq!(patch["standby_cluster"]["host"], "10.10.10.10");
        assert!(r.diff(&json!({"standby_cluster": block})).0.is_empty());
        let promoted = json!({"ttl": 30});
        let e = r.standby_error(&promoted).unwrap();
        assert!(
            e.contains("`pg-sby` is a normal cluster in the DCS")
                && e.contains("remove `pg_upstream`"),
            "{e}"
        );
        r.standby = Some(None);
        let e = r.standby_error(&delayed).unwrap();
        assert!(
            e.contains("is a standby cluster in the DCS (replicating from 10.10.10.10)")
                && e.contains("pigsty pgsql promote pg-sby"),
            "{e}"
        );
        assert!(r.standby_error(&promoted).is_none());
        r.standby = None;
        assert!(
            r.standby_error(&delayed).is_none(),
            "replicas' plans leave it to the primary's"
        );
    }

    #[test]
    fn pg_conf_parser_reads_patroni_quoting() {
        let m = parse_pg_conf("# Do not edit\ninclude 'postgresql.base.conf'\nwork_mem = '64MB'\narchive_command = 'a ''b'' c'\n");
        assert_eq!(m["work_mem"], "64MB");
        assert_eq!(m["archive_command"], "a 'b' c");
    }

    #[test]
    fn settings_compare_by_meaning() {
        assert!(same_setting("2048MB", "2GB"));
        assert!(same_setting("60s", "1min"));
        assert!(same_setting("on", "true"));
        assert!(!same_setting("64MB", "64kB"));
        assert!(!same_setting("1000", "1s"));
        assert!(!same_setting("pgbackrest a", "pgbackrest b"));
    }

    #[test]
    fn pg_conf_applied_reports_each_missing_value() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("postgresql.conf");
        std::fs::write(&p, "work_mem = '64MB'\n").unwrap();
        let r = PgConfApplied {
            path: p.display().to_string(),
            want: [
                ("work_mem".to_string(), "128MB".to_string()),
                ("port".to_string(), "5432".to_string()),
            ]
            .into(),
            timeout: Duration::from_millis(10),
        };
        assert_eq!(
            r.check().unwrap(),
            State::Drift(vec![
                "port: (unset) -> 5432".into(),
                "work_mem: 64MB -> 128MB".into()
            ])
        );
        assert!(r.apply().unwrap_err().to_string().contains("did not apply"));
    }
}
