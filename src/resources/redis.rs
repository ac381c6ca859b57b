//! REDIS resources: a small RESP client (no redis-cli in the data path, so passwords
//! never reach a process's arguments), and the domain resources built on it:
//!
//! - [`RedisConf`]: an instance's config file. Written whole when it does not exist;
//!   after that Redis owns it (`CONFIG REWRITE`, Sentinel failovers rewrite it), so only
//!   the directives that need a restart (`bind`, `port`, `dir`, `cluster-enabled`) are
//!   compared and fixed in place, which notifies a restart.
//! - [`RedisLive`]: the settings Redis takes at run time (`maxmemory`,
//!   `maxmemory-policy`, `save`, `appendonly`, passwords) through `CONFIG SET` then
//!   `CONFIG REWRITE`, without a restart; the replication role (`REPLICAOF`) where no
//!   Sentinel or native cluster owns it; a Sentinel's monitored masters.
//! - [`RedisPing`]: an instance answers `PING` (with its password).
//! - [`RedisCluster`]: a native cluster created once with `redis-cli --cluster create`
//!   (the password in `REDISCLI_AUTH`), instances missing from it added with
//!   `--cluster add-node`.
use super::{ResError, ResResult, Resource, State};
use crate::sys::Cmd;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// A reply of the RESP2 protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a simple or bulk string (empty otherwise).
    pub fn text(&self) -> String {
        match self {
            Reply::Simple(s) | Reply::Bulk(Some(s)) => s.clone(),
            Reply::Int(i) => i.to_string(),
            _ => String::new(),
        }
    }
    pub fn items(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(v)) => v.clone(),
            _ => vec![],
        }
    }
    /// A flat `[k, v, k, v...]` array as a map (`CONFIG GET`, `SENTINEL MASTER`).
    pub fn pairs(&self) -> BTreeMap<String, String> {
        let v = self.items();
        v.chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[0].text(), c[1].text()))
            .collect()
    }
}

/// One connection to a Redis server or Sentinel.
pub struct Conn {
    addr: String,
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    pub fn open(addr: &str, timeout: Duration) -> Result<Conn, String> {
        let sa = addr
            .to_socket_addrs()
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr}: no address"))?;
        let s = TcpStream::connect_timeout(&sa, timeout).map_err(|e| format!("{addr}: {e}"))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
        let w = s.try_clone().map_err(|e| format!("{addr}: {e}"))?;
        Ok(Conn {
            addr: addr.into(),
            r: BufReader::new(s),
            w,
        })
    }

    /// Connect and authenticate with the first password of `passwords` that works (an
    /// instance without a password accepts any).
    pub fn login(addr: &str, passwords: &[&str]) -> Result<Conn, String> {
        let mut c = Conn::open(addr, Duration::from_secs(3))?;
        let mut last = String::from("no password to try");
        for pw in passwords.iter().filter(|p| !p.is_empty()) {
            match c.cmd(&["AUTH", pw])? {
                Reply::Error(e)
                    if e.contains("without any password configured")
                        || e.contains("no password is set") =>
                {
                    return Ok(c)
                }
                Reply::Error(e) => last = e,
                _ => return Ok(c),
            }
        }
        if passwords.iter().all(|p| p.is_empty()) {
            return Ok(c);
        }
        Err(format!("{addr}: authentication failed ({last})"))
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Send a command; an `-ERR` reply is returned as `Reply::Error`, I/O problems as Err.
    pub fn cmd(&mut self, args: &[&str]) -> Result<Reply, String> {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            b.extend_from_slice(a.as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        self.w
            .write_all(&b)
            .map_err(|e| format!("{}: {e}", self.addr))?;
        read_reply(&mut self.r).map_err(|e| format!("{}: {e}", self.addr))
    }

    /// A command whose error reply is an error. Only `args[0..shown]` appear in messages.
    pub fn ok(&mut self, args: &[&str], shown: usize) -> Result<Reply, String> {
        match self.cmd(args)? {
            Reply::Error(e) => Err(format!(
                "{}: `{}` failed: {e}",
                self.addr,
                args[..shown.min(args.len())].join(" ")
            )),
            r => Ok(r),
        }
    }

    /// `INFO section` as a map.
    pub fn info(&mut self, section: &str) -> Result<BTreeMap<String, String>, String> {
        let r = self.ok(&["INFO", section], 2)?;
        Ok(parse_info(&r.text()))
    }
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut l = String::new();
    if r.read_line(&mut l)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(l.trim_end_matches(['\r', '\n']).to_string())
}

fn bad(s: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad reply `{s}`"))
}

/// Redis's own limit on a bulk string (`proto-max-bulk-len`, 512 MB): a longer
/// announced length is a broken or hostile reply, not something to allocate.
const MAX_BULK: i64 = 512 * 1024 * 1024;

pub fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let l = read_line(r)?;
    let (t, rest) = match l.chars().next() {
        Some(c) => l.split_at(c.len_utf8()),
        None => return Err(bad(&l)),
    };
    Ok(match t {
        "+" => Reply::Simple(rest.into()),
        "-" => Reply::Error(rest.into()),
        ":" => Reply::Int(rest.parse().map_err(|_| bad(&l))?),
        "$" => {
            let n: i64 = rest.parse().map_err(|_| bad(&l))?;
            if n < 0 {
                Reply::Bulk(None)
            } else if n > MAX_BULK {
                return Err(bad(&l));
            } else {
                // read what arrives instead of allocating the announced length up front
                let want = n as u64 + 2;
                let mut b = Vec::new();
                r.by_ref().take(want).read_to_end(&mut b)?;
                if b.len() as u64 != want {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "reply ended early",
                    ));
                }
                b.truncate(n as usize);
                Reply::Bulk(Some(String::from_utf8_lossy(&b).into_owned()))
            }
        }
        "*" => {
            let n: i64 = rest.parse().map_err(|_| bad(&l))?;
            if n < 0 {
                Reply::Array(None)
            } else {
                // the count is the server's word: grow as elements arrive
                let mut v = Vec::with_capacity((n as usize).min(1024));
                for _ in 0..n {
                    v.push(read_reply(r)?);
                }
                Reply::Array(Some(v))
            }
        }
        _ => return Err(bad(&l)),
    })
}

/// `INFO` text as `key -> value`.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Split a config line as Redis does (`sdssplitargs`): words, "double quoted" with
/// backslash escapes, 'single quoted'.
pub fn split_args(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut it = line.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        let Some(&c0) = it.peek() else { break };
        let mut w = String::new();
        if c0 == '"' || c0 == '\'' {
            it.next();
            while let Some(c) = it.next() {
                if c == '\\' && c0 == '"' {
                    match it.next() {
                        Some('n') => w.push('\n'),
                        Some('r') => w.push('\r'),
                        Some('t') => w.push('\t'),
                        Some('x') => {
                            let h: String = [it.next(), it.next()].iter().flatten().collect();
                            if let Ok(b) = u8::from_str_radix(&h, 16) {
                                w.push(b as char);
                            }
                        }
                        Some(o) => w.push(o),
                        None => {}
                    }
                } else if c == '\\' && c0 == '\'' && it.peek() == Some(&'\'') {
                    w.push('\'');
                    it.next();
                } else if c == c0 {
                    break;
                } else {
                    w.push(c);
                }
            }
        } else {
            while let Some(&c) = it.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                it.next();
            }
        }
        out.push(w);
    }
    out
}

/// A value for a config file: double-quoted, `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Directives of a config text: lowercase name -> arguments of each occurrence.
pub fn parse_conf(text: &str) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut m: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for l in text.lines() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut a = split_args(t);
        if a.is_empty() {
            continue;
        }
        let k = a.remove(0).to_ascii_lowercase();
        m.entry(k).or_default().push(a);
    }
    m
}

/// A size as Redis reads it: `1k` = 1000, `1kb` = 1024 (and m, mb, g, gb); Pigsty's
/// `64MB`/`64MiB` both mean 64 * 1024 * 1024.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let i = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..i].parse().ok()?;
    let mul: u64 = match s[i..].trim() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" | "kib" => 1024,
        "m" => 1000 * 1000,
        "mb" | "mib" => 1 << 20,
        "g" => 1000 * 1000 * 1000,
        "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mul)
}

//------------------------------------------------------------------------------

/// An instance's config file: created whole, then only its restart-only directives
/// are kept in line (Redis rewrites the rest itself).
pub struct RedisConf {
    pub path: PathBuf,
    pub content: String,
    /// Directives compared on an existing file (a difference needs a restart).
    pub fixed: Vec<&'static str>,
}

impl RedisConf {
    fn wanted(&self) -> BTreeMap<String, Vec<Vec<String>>> {
        parse_conf(&self.content)
    }
    fn drift(&self, cur: &str) -> Vec<(String, String)> {
        let have = parse_conf(cur);
        let want = self.wanted();
        let mut d = vec![];
        for k in &self.fixed {
            let w = want.get(*k).cloned().unwrap_or_default();
            let h = have.get(*k).cloned().unwrap_or_default();
            // Redis keeps the last occurrence.
            if w.last() != h.last() {
                let show = |v: &Vec<Vec<String>>| {
                    v.last()
                        .map(|a| a.join(" "))
                        .unwrap_or_else(|| "(unset)".into())
                };
                d.push((k.to_string(), format!("{k} {} -> {}", show(&h), show(&w))));
            }
        }
        d
    }
}

impl Resource for RedisConf {
    fn kind(&self) -> &'static str {
        "redis conf"
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn check(&self) -> ResResult<State> {
        let Ok(cur) = std::fs::read_to_string(&self.path) else {
            return Ok(State::create());
        };
        Ok(State::from_diffs(
            self.drift(&cur).into_iter().map(|(_, s)| s).collect(),
        ))
    }
    fn apply(&self) -> ResResult<()> {
        let text = match std::fs::read_to_string(&self.path) {
            Err(_) => self.content.clone(),
            Ok(cur) => {
                let keys: Vec<String> = self.drift(&cur).into_iter().map(|(k, _)| k).collect();
                let mut out: Vec<String> = vec![];
                let mut placed: Vec<String> = vec![];
                let wanted_lines = |k: &str| -> Vec<String> {
                    self.content
                        .lines()
                        .filter(|l| {
                            split_args(l.trim())
                                .first()
                                .is_some_and(|d| d.eq_ignore_ascii_case(k))
                                && !l.trim().starts_with('#')
                        })
                        .map(str::to_string)
                        .collect()
                };
                for l in cur.lines() {
                    let d = if l.trim().starts_with('#') {
                        None
                    } else {
                        split_args(l.trim()).first().map(|s| s.to_ascii_lowercase())
                    };
                    match d {
                        Some(d) if keys.contains(&d) => {
                            if !placed.contains(&d) {
                                out.extend(wanted_lines(&d));
                                placed.push(d);
                            }
                        }
                        _ => out.push(l.to_string()),
                    }
                }
                for k in keys.iter().filter(|k| !placed.contains(k)) {
                    out.extend(wanted_lines(k));
                }
                out.join("\n") + "\n"
            }
        };
        crate::sys::fs::write_atomic(
            &self.path,
            text.as_bytes(),
            0o600,
            Some("redis"),
            Some("redis"),
        )?;
        Ok(())
    }
}

//------------------------------------------------------------------------------

/// Passwords to log in with: the wanted one, then the one in the config file (the
/// instance still runs with it until we change it).
fn passwords(wanted: &str, conf: &PathBuf) -> Vec<String> {
    let mut v = vec![wanted.to_string()];
    if let Ok(t) = std::fs::read_to_string(conf) {
        if let Some(a) = parse_conf(&t)
            .get("requirepass")
            .and_then(|v| v.last().cloned())
        {
            if let Some(p) = a.first() {
                if p != wanted {
                    v.push(p.clone());
                }
            }
        }
    }
    v
}

fn login(addr: &str, wanted: &str, conf: &PathBuf) -> Result<Conn, String> {
    let pws = passwords(wanted, conf);
    let refs: Vec<&str> = pws.iter().map(String::as_str).collect();
    Conn::login(addr, &refs)
}

/// An instance answers PING with its password.
pub struct RedisPing {
    pub ins: String,
    pub addr: String,
    pub password: String,
    pub conf: PathBuf,
    pub timeout: Duration,
}

impl RedisPing {
    fn ping(&self) -> Result<(), String> {
        let mut c = login(&self.addr, &self.password, &self.conf)?;
        match c.cmd(&["PING"])? {
            Reply::Simple(s) if s == "PONG" => Ok(()),
            r => Err(format!("{}: PING answered {r:?}", self.addr)),
        }
    }
}

impl Resource for RedisPing {
    fn kind(&self) -> &'static str {
        "wait"
    }
    fn name(&self) -> String {
        format!("redis {} answers on {}", self.ins, self.addr)
    }
    fn check(&self) -> ResResult<State> {
        match self.ping() {
            Ok(()) => Ok(State::InSync),
            Err(e) => Ok(State::drift(format!("not answering yet: {e}"))),
        }
    }
    fn apply(&self) -> ResResult<()> {
        super::poll(self.timeout, Duration::from_millis(300), || self.ping()).map_err(|e| {
            ResError::msg(format!(
                "redis {} does not answer after {}s: {e}",
                self.ins,
                self.timeout.as_secs()
            ))
        })
    }
}

/// A master a Sentinel monitors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub quorum: u32,
    pub password: Option<String>,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
    pub parallel_syncs: u32,
}

/// Run-time state of an instance.
pub struct RedisLive {
    pub ins: String,
    pub addr: String,
    pub password: String,
    pub conf: PathBuf,
    /// `CONFIG SET` name -> wanted value (sizes in bytes).
    pub settings: Vec<(String, String)>,
    /// Replication role to hold: None when Sentinel or the native cluster owns it;
    /// `Some(None)` a primary, `Some(Some((host, port)))` a replica of that instance.
    pub role: Option<Option<(String, u16)>>,
    /// For a Sentinel: the masters it monitors (others are removed).
    pub monitors: Option<Vec<Monitor>>,
}

const SECRET_SETTINGS: &[&str] = &["requirepass", "masterauth"];

fn same_setting(k: &str, have: &str, want: &str) -> bool {
    match k {
        "maxmemory" => parse_size(have) == parse_size(want),
        "save" => have.split_whitespace().eq(want.split_whitespace()),
        _ => have == want,
    }
}

enum Fix {
    Set(String, String),
    Role(Option<(String, u16)>),
    Monitor(Monitor),
    SentinelSet(String, String, String),
    Remove(String),
}

impl RedisLive {
    fn diff(&self) -> Result<(Vec<String>, Vec<Fix>), String> {
        let mut c = login(&self.addr, &self.password, &self.conf)?;
        let mut words = vec![];
        let mut fixes = vec![];
        if let Some(mons) = &self.monitors {
            let masters = c.ok(&["SENTINEL", "MASTERS"], 2)?;
            let have: BTreeMap<String, BTreeMap<String, String>> = masters
                .items()
                .iter()
                .map(|m| m.pairs())
                .map(|p| (p.get("name").cloned().unwrap_or_default(), p))
                .collect();
            for m in mons {
                match have.get(&m.name) {
                    None => {
                        words.push(format!("monitor {} at {}:{}", m.name, m.host, m.port));
                        fixes.push(Fix::Monitor(m.clone()));
                    }
                    Some(h) => {
                        for (k, v) in [
                            ("quorum", m.quorum.to_string()),
                            ("down-after-milliseconds", m.down_after_ms.to_string()),
                            ("failover-timeout", m.failover_timeout_ms.to_string()),
                            ("parallel-syncs", m.parallel_syncs.to_string()),
                        ] {
                            let cur = h.get(k).cloned().unwrap_or_default();
                            if cur != v {
                                words.push(format!("{}: {k} {cur} -> {v}", m.name));
                                fixes.push(Fix::SentinelSet(m.name.clone(), k.into(), v));
                            }
                        }
                    }
                }
            }
            for name in have.keys().filter(|n| !mons.iter().any(|m| &m.name == *n)) {
                words.push(format!("stop monitoring {name}"));
                fixes.push(Fix::Remove(name.clone()));
            }
            return Ok((words, fixes));
        }
        for (k, want) in &self.settings {
            let got = c.ok(&["CONFIG", "GET", k], 3)?.pairs();
            let have = got.get(k).cloned().unwrap_or_default();
            if !same_setting(k, &have, want) {
                if SECRET_SETTINGS.contains(&k.as_str()) {
                    words.push(format!("{k} changed"));
                } else {
                    words.push(format!(
                        "{k} {} -> {want}",
                        if have.is_empty() { "\"\"" } else { &have }
                    ));
                }
                fixes.push(Fix::Set(k.clone(), want.clone()));
            }
        }
        if let Some(want) = &self.role {
            let i = c.info("replication")?;
            let role = i.get("role").cloned().unwrap_or_default();
            let have = if role == "slave" {
                Some((
                    i.get("master_host").cloned().unwrap_or_default(),
                    i.get("master_port")
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0),
                ))
            } else {
                None
            };
            if &have != want {
                let show = |r: &Option<(String, u16)>| {
                    r.as_ref()
                        .map(|(h, p)| format!("replica of {h}:{p}"))
                        .unwrap_or_else(|| "primary".into())
                };
                words.push(format!("role {} -> {}", show(&have), show(want)));
                fixes.push(Fix::Role(want.clone()));
            }
        }
        Ok((words, fixes))
    }
}

impl Resource for RedisLive {
    fn kind(&self) -> &'static str {
        if self.monitors.is_some() {
            "redis sentinel"
        } else {
            "redis config"
        }
    }
    fn name(&self) -> String {
        format!("{} ({})", self.ins, self.addr)
    }
    fn check(&self) -> ResResult<State> {
        let (words, _) = self.diff().map_err(ResError::msg)?;
        Ok(State::from_diffs(words))
    }
    fn apply(&self) -> ResResult<()> {
        let (_, fixes) = self.diff().map_err(ResError::msg)?;
        let mut c = login(&self.addr, &self.password, &self.conf).map_err(ResError::msg)?;
        let mut rewrite = false;
        let mut new_password = None;
        for f in &fixes {
            match f {
                Fix::Set(k, v) => {
                    c.ok(&["CONFIG", "SET", k, v], 3).map_err(ResError::msg)?;
                    if k == "requirepass" {
                        new_password = Some(v.clone());
                    }
                    rewrite = true;
                }
                Fix::Role(None) => {
                    c.ok(&["REPLICAOF", "NO", "ONE"], 3)
                        .map_err(ResError::msg)?;
                    rewrite = true;
                }
                Fix::Role(Some((h, p))) => {
                    c.ok(&["REPLICAOF", h, &p.to_string()], 3)
                        .map_err(ResError::msg)?;
                    rewrite = true;
                }
                Fix::Monitor(m) => {
                    c.ok(
                        &[
                            "SENTINEL",
                            "MONITOR",
                            &m.name,
                            &m.host,
                            &m.port.to_string(),
                            &m.quorum.to_string(),
                        ],
                        6,
                    )
                    .map_err(ResError::msg)?;
                    if let Some(pw) = &m.password {
                        c.ok(&["SENTINEL", "SET", &m.name, "auth-pass", pw], 4)
                            .map_err(ResError::msg)?;
                    }
                    for (k, v) in [
                        ("down-after-milliseconds", m.down_after_ms.to_string()),
                        ("failover-timeout", m.failover_timeout_ms.to_string()),
                        ("parallel-syncs", m.parallel_syncs.to_string()),
                    ] {
                        c.ok(&["SENTINEL", "SET", &m.name, k, &v], 5)
                            .map_err(ResError::msg)?;
                    }
                }
                Fix::SentinelSet(n, k, v) => {
                    c.ok(&["SENTINEL", "SET", n, k, v], 5)
                        .map_err(ResError::msg)?;
                }
                Fix::Remove(n) => {
                    c.ok(&["SENTINEL", "REMOVE", n], 3).map_err(ResError::msg)?;
                }
            }
        }
        if rewrite {
            // A new requirepass does not log this connection out; rewrite on it.
            let _ = new_password;
            c.ok(&["CONFIG", "REWRITE"], 2).map_err(ResError::msg)?;
        }
        Ok(())
    }
}

//------------------------------------------------------------------------------

/// A native Redis cluster over `nodes` (`ip:port`, the first node's first instance
/// first), created once by the first node. Another node only joins its own instances
/// (`own`) once the cluster exists (a node added later: `--cluster add-node`).
pub struct RedisCluster {
    pub cluster: String,
    pub nodes: Vec<String>,
    pub replicas: u32,
    pub password: String,
    pub timeout: Duration,
    /// Some: this host's instances, joined to the cluster the first node created.
    pub own: Option<Vec<String>>,
}

impl RedisCluster {
    fn cluster_info(&self, addr: &str) -> Result<BTreeMap<String, String>, String> {
        let mut c = Conn::login(addr, &[&self.password])?;
        let r = c.ok(&["CLUSTER", "INFO"], 2)?;
        Ok(parse_info(&r.text()))
    }
    fn joined(&self, addr: &str) -> Result<bool, String> {
        let i = self.cluster_info(addr)?;
        let known: u32 = i
            .get("cluster_known_nodes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let slots: u32 = i
            .get("cluster_slots_assigned")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(known > 1 || slots > 0)
    }
    fn cli(&self, args: &[&str]) -> Cmd {
        Cmd::new("redis-cli")
            .args(args.iter().copied())
            .env("REDISCLI_AUTH", self.password.clone())
            .timeout(Duration::from_secs(180))
    }
    fn wait_all(&self) -> ResResult<()> {
        for n in &self.nodes {
            super::poll(self.timeout, Duration::from_millis(500), || {
                let mut c = Conn::login(n, &[&self.password])?;
                match c.cmd(&["PING"])? {
                    Reply::Simple(_) => Ok(()),
                    r => Err(format!("{n}: {r:?}")),
                }
            })
            .map_err(|e| {
                ResError::msg(format!(
                    "redis cluster `{}`: instance {n} does not answer after {}s: {e}\nhint: deploy every node of the cluster together (`pigsty deploy -l {}`)",
                    self.cluster,
                    self.timeout.as_secs(),
                    self.cluster
                ))
            })?;
        }
        Ok(())
    }
}

impl Resource for RedisCluster {
    fn kind(&self) -> &'static str {
        "redis cluster"
    }
    fn name(&self) -> String {
        match &self.own {
            Some(own) => format!("{}: {} joined", self.cluster, own.join(" ")),
            None => format!(
                "{} ({} instances, {} replica(s) per primary)",
                self.cluster,
                self.nodes.len(),
                self.replicas
            ),
        }
    }
    fn check(&self) -> ResResult<State> {
        let first = &self.nodes[0];
        if let Some(own) = &self.own {
            if !self.joined(first).unwrap_or(false) {
                return Ok(State::drift(format!(
                    "join {} once {first} has created the cluster",
                    own.join(" ")
                )));
            }
            let missing: Vec<String> = own
                .iter()
                .filter(|n| !self.joined(n).unwrap_or(true))
                .cloned()
                .collect();
            return Ok(if missing.is_empty() {
                State::InSync
            } else {
                State::drift(format!("add {} to the cluster", missing.join(" ")))
            });
        }
        if !self.joined(first).map_err(ResError::msg)? {
            return Ok(State::drift(format!(
                "create the cluster over {}",
                self.nodes.join(" ")
            )));
        }
        let mut missing = vec![];
        for n in &self.nodes[1..] {
            match self.joined(n) {
                Ok(true) => {}
                Ok(false) => missing.push(n.clone()),
                Err(_) => {} // down: it is a member or will be added by the next run
            }
        }
        if missing.is_empty() {
            Ok(State::InSync)
        } else {
            Ok(State::drift(format!(
                "add {} to the cluster",
                missing.join(" ")
            )))
        }
    }
    fn apply(&self) -> ResResult<()> {
        let first = &self.nodes[0];
        if let Some(own) = &self.own {
            super::poll(self.timeout, Duration::from_secs(1), || match self.joined(first) {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!("{first} has not created the cluster yet")),
                Err(e) => Err(e),
            })
            .map_err(|e| ResError::msg(format!("redis cluster `{}`: {e}\nhint: deploy the cluster's first node too (`pigsty deploy -l {}`)", self.cluster, self.cluster)))?;
            for n in own {
                if !self.joined(n).map_err(ResError::msg)? {
                    let mut args = vec!["--cluster", "add-node", n.as_str(), first.as_str()];
                    if self.replicas > 0 {
                        args.push("--cluster-slave");
                    }
                    self.cli(&args).ok()?;
                }
            }
            return Ok(());
        }
        self.wait_all()?;
        if !self.joined(first).map_err(ResError::msg)? {
            let mut args: Vec<&str> = vec!["--cluster", "create"];
            args.extend(self.nodes.iter().map(String::as_str));
            let r = self.replicas.to_string();
            args.extend(["--cluster-replicas", &r, "--cluster-yes"]);
            self.cli(&args).ok()?;
        } else {
            for n in &self.nodes[1..] {
                if !self.joined(n).map_err(ResError::msg)? {
                    let mut args = vec!["--cluster", "add-node", n.as_str(), first.as_str()];
                    if self.replicas > 0 {
                        args.push("--cluster-slave");
                    }
                    self.cli(&args).ok()?;
                }
            }
        }
        super::poll(Duration::from_secs(60), Duration::from_millis(500), || {
            let i = self.cluster_info(first)?;
            match i.get("cluster_state").map(String::as_str) {
                Some("ok") => Ok(()),
                s => Err(format!("cluster_state {}", s.unwrap_or("unknown"))),
            }
        })
        .map_err(|e| {
            ResError::msg(format!(
                "redis cluster `{}` not ok after 60s: {e}",
                self.cluster
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_bulk_arrays_and_errors() {
        let mut r = std::io::Cursor::new(
            b"*2\r\n$9\r\nmaxmemory\r\n$8\r\n67108864\r\n-ERR nope\r\n:5\r\n$-1\r\n".to_vec(),
        );
        let a = read_reply(&mut r).unwrap();
        assert_eq!(
            a.pairs().get("maxmemory").map(String::as_str),
            Some("67108864")
        );
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Error("ERR nope".into()));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Int(5));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Bulk(None));
        // a hostile or broken server: no panic, no huge allocation
        for bad in [
            "$99999999999999\r\nab\r\n",
            "$5\r\nab",
            "*99999999999\r\n",
            "é\r\n",
            "\r\n",
        ] {
            assert!(
                read_reply(&mut std::io::BufReader::new(bad.as_bytes())).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn config_lines_split_like_redis() {
        assert_eq!(
            split_args(r#"requirepass "a \"b\" c\\d""#),
            vec!["requirepass", r#"a "b" c\d"#]
        );
        assert_eq!(split_args("save 1200 1"), vec!["save", "1200", "1"]);
        assert_eq!(
            split_args("bind '0.0.0.0'  ::1"),
            vec!["bind", "0.0.0.0", "::1"]
        );
        assert_eq!(
            split_args(&format!("x {}", quote(r#"p"w\"#))),
            vec!["x", r#"p"w\"#]
        );
    }

    #[test]
    fn sizes_read_as_redis_reads_them() {
        assert_eq!(parse_size("64MB"), Some(64 << 20));
        assert_eq!(parse_size("64mb"), Some(64 << 20));
        assert_eq!(parse_size("1GB"), Some(1 << 30));
        assert_eq!(parse_size("1g"), Some(1_000_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn settings_compare_sizes_and_save_lists() {
        assert!(same_setting("maxmemory", "67108864", "64mb"));
        assert!(!same_setting("maxmemory", "67108864", "32mb"));
        assert!(same_setting("save", "1200 1", " 1200  1"));
        assert!(!same_setting("save", "", "1200 1"));
    }

    #[test]
    fn conf_on_disk_only_restart_directives_count_and_are_fixed_in_place() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.conf");
        let wanted = "bind 0.0.0.0\nport 6380\ndir /data/redis/x\nmaxmemory 64mb\n";
        // what Redis left after CONFIG REWRITE: other maxmemory, comments, generated lines
        std::fs::write(&p, "# kept\nbind 0.0.0.0\nport 6379\ndir /data/redis/x\nmaxmemory 32mb\n# Generated by CONFIG REWRITE\nreplicaof 10.0.0.1 6379\n").unwrap();
        let c = RedisConf {
            path: p.clone(),
            content: wanted.into(),
            fixed: vec!["bind", "port", "dir"],
        };
        assert_eq!(c.drift(&std::fs::read_to_string(&p).unwrap()).len(), 1);
        let d2 = c.drift(&std::fs::read_to_string(&p).unwrap());
        assert_eq!(d2[0].1, "port 6379 -> 6380");
        let fixed = c.drift("bind 0.0.0.0\nport 6380\ndir /data/redis/x\nmaxmemory 1gb\n");
        assert!(
            fixed.is_empty(),
            "maxmemory is not a restart directive: {fixed:?}"
        );
    }
}
