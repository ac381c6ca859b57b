//! The inventory: Pigsty's `pigsty.yml`, loaded, merged, typed and validated.
//!
//! # Format
//! ```yaml
//! all:
//!   vars: { admin_ip: 10.10.10.10 }               # global variables
//!   children:
//!     pg-test:                                    # a group (here a pgsql cluster)
//!       hosts:
//!         10.10.10.11: { pg_seq: 1, pg_role: primary }   # host variables ({} or empty is fine)
//!         10.10.10.12: { pg_seq: 2, pg_role: replica }
//!       vars: { pg_cluster: pg-test }             # group variables
//! ```
//! Groups may nest (`children` inside a group, as in Ansible); a nested group's hosts
//! are members of its parents too. Hosts may also sit directly in `all.hosts`.
//!
//! # Precedence
//! Lowest first: built-in defaults (`assets/params.yml`) < `all.vars` < group vars <
//! host vars < extra vars (`-e key=value`, `-e @file.yml`, `-e '{...}'`, in order).
//! A host in several groups gets their vars merged by group depth, then group name
//! (alphabetical), later winning: Ansible's order. A host listed under several groups
//! gets its host vars merged in file order (a key set differently is warned about).
//! Values replace, they never deep-merge (Ansible's `hash_behaviour=replace`), so a
//! `pgbackrest_repo` in group vars replaces the whole default dict.
//!
//! # Modules
//! NODE on every host; INFRA on members of group `infra`; ETCD on members of group
//! `etcd`; PGSQL where `pg_cluster` is set; MINIO where `minio_cluster` is set; REDIS
//! where `redis_cluster` is set.
//!
//! # Problems
//! Loading collects every problem before failing: YAML syntax, wrong types, missing
//! identity, duplicate sequence numbers, primaries, etcd size, port clashes, bad host
//! addresses. Each [`Diag`] names file, line, host and key. Unknown parameters,
//! Jinja expressions and published default passwords are warnings
//! ([`Inventory::warnings`]). Missing credentials are checked separately by
//! [`Inventory::check_secrets`], since only commands that deploy need them.
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub mod business;
mod load;
pub mod locate;
pub mod schema;
pub mod unsupported;
mod validate;
pub mod vars;

pub use schema::Schema;
pub use vars::{default_of, default_str, Vars};

/// Passwords published in Pigsty's docs and configuration templates. A credential
/// equal to one of them is warned about: anyone can look it up.
pub const PIGSTY_DEFAULT_PASSWORDS: &[&str] = &[
    "DBUser.DBA",
    "DBUser.Monitor",
    "DBUser.Replicator",
    "DBUser.Meta",
    "DBUser.Viewer",
    "DBUser.View",
    "DBUser.Grafana",
    "DBUser.Bytebase",
    "DBUser.Gitea",
    "DBUser.Wiki",
    "DBUser.Kong",
    "DBUser.Noco",
    "DBUser.Odoo",
    "DBUser.Dify",
    "DBUser.Supa",
    "Patroni.API",
    "pigsty",
    "Etcd.Root",
    "S3User.MinIO",
    "S3User.Backup",
    "S3User.Meta",
    "S3User.Data",
    "S3User.DBA.Strong.Password",
    "Min10.bAckup",
    "minioadmin",
    "pgBackRest",
    "redis.ms",
    "redis.meta",
    "redis.test",
    "test",
    "Pleas3-ChangeThisPwd",
    "Make.3ure-Compl1ance",
    "You.Have2Use-A_VeryStrongPassword",
    "PessWorb.Should8eStrong-eNough",
    "MekeSuerYour.PassWordI5secured",
    "doNotUseThis-PasswordFor.AnythingElse",
    "don.t-forget-to-change-thEs3-password",
    "GneratePasswordWith-pwgen-s-16-1",
];

/// A loaded, merged and validated inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The file it was read from (for `from_str`, the name given).
    pub path: PathBuf,
    /// Its text, for locating lines.
    pub source: String,
    /// Every host, in order of first appearance in the file, each once.
    pub hosts: Vec<Host>,
    /// Every group by name (`all` excluded: see [`Inventory::vars`]).
    pub groups: BTreeMap<String, Group>,
    /// Global variables: defaults < `all.vars` < extra vars, what a host in no group sees.
    pub vars: Map<String, Value>,
    /// Problems that do not stop loading: unknown parameters, unevaluated Jinja,
    /// published default passwords, surprising but legal layouts.
    pub warnings: Vec<Diag>,
    /// YAML path of each group, for locating lines.
    group_paths: BTreeMap<String, Vec<String>>,
    /// The extra-vars layers, in order.
    extra: Vec<ExtraLayer>,
}

/// One `-e` argument after parsing.
#[derive(Debug, Clone)]
struct ExtraLayer {
    /// `-e` for inline vars, or the path of `@file`.
    file: String,
    /// The file's text (for `@file`), to locate lines.
    text: Option<String>,
    vars: Map<String, Value>,
}

/// A group of the inventory (`all.children.<name>`).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    /// Member hosts in file order, including those of nested child groups.
    pub hosts: Vec<String>,
    /// The group's own `vars` (not merged with anything).
    pub vars: Map<String, Value>,
    /// Nested child groups, in file order.
    pub children: Vec<String>,
    /// 1 for `all.children.<name>`, 2 for a group nested in it, ...
    pub depth: usize,
}

/// One machine of the inventory with its fully merged variables.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// The inventory key: an IP address (Pigsty's convention) or a resolvable name.
    pub addr: String,
    /// Groups containing this host, in merge order (depth, then name).
    pub groups: Vec<String>,
    /// Fully merged variables, defaults included.
    pub vars: Map<String, Value>,
    /// Identity derived from the variables.
    pub id: Identity,
    /// Which layer each variable's value came from.
    #[serde(skip)]
    sources: BTreeMap<String, Source>,
    /// Groups under whose `hosts` this host is written, in file order (`all` for `all.hosts`).
    #[serde(skip)]
    entries: Vec<String>,
}

/// Where a host's value of a variable comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The built-in default (`assets/params.yml`).
    Default,
    /// `all.vars`
    Global,
    /// The `vars` of this group.
    Group(String),
    /// The host's own entry under this group's `hosts` (`all` for `all.hosts`).
    Host(String),
    /// The n-th `-e` argument.
    Extra(usize),
}

/// Identity parameters of a host, typed. `None` when not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `nodename`; or, with `node_id_from_pg`, the pg instance name; else `None`
    /// (the machine keeps its hostname).
    pub nodename: Option<String>,
    /// `node_cluster` when set explicitly; or, with `node_id_from_pg`, `pg_cluster`;
    /// else the default `nodes`.
    pub node_cluster: Option<String>,
    pub infra_seq: Option<u32>,
    /// `etcd_cluster` (default `etcd`) on every host: for members of group `etcd`
    /// their cluster, for the others the DCS their Patroni uses.
    pub etcd_cluster: Option<String>,
    pub etcd_seq: Option<u32>,
    pub pg_cluster: Option<String>,
    pub pg_seq: Option<u32>,
    pub pg_role: Option<PgRole>,
    /// `<pg_cluster>-<pg_seq>`
    pub pg_instance: Option<String>,
    /// `pg_upstream`: set on the leader of a standby cluster (with `pg_role: primary`)
    /// or on a cascading replica.
    pub pg_upstream: Option<String>,
    pub minio_cluster: Option<String>,
    pub minio_seq: Option<u32>,
    pub redis_cluster: Option<String>,
    pub redis_node: Option<u32>,
    /// Ports of `redis_instances`, sorted.
    pub redis_ports: Vec<u16>,
}

/// `pg_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PgRole {
    Primary,
    Replica,
    Offline,
}

impl fmt::Display for PgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PgRole::Primary => "primary",
            PgRole::Replica => "replica",
            PgRole::Offline => "offline",
        })
    }
}

impl FromStr for PgRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "primary" => Ok(PgRole::Primary),
            "replica" => Ok(PgRole::Replica),
            "offline" => Ok(PgRole::Offline),
            _ => Err(format!(
                "unknown pg_role `{s}`; expected primary, replica or offline"
            )),
        }
    }
}

/// A Pigsty module. Displays and parses lowercase (`pgsql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Module {
    Node,
    Infra,
    Etcd,
    Minio,
    Pgsql,
    Redis,
}

impl Module {
    /// Every module, in Pigsty's install order (the order they run in on a host).
    pub const ALL: [Module; 6] = [
        Module::Node,
        Module::Infra,
        Module::Etcd,
        Module::Minio,
        Module::Pgsql,
        Module::Redis,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Module::Node => "node",
            Module::Infra => "infra",
            Module::Etcd => "etcd",
            Module::Minio => "minio",
            Module::Pgsql => "pgsql",
            Module::Redis => "redis",
        }
    }

    /// The module a `params.yml` section belongs to (`DOCKER`, `APP`: none).
    pub fn from_section(section: &str) -> Option<Module> {
        Module::from_str(&section.to_ascii_lowercase()).ok()
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Module {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Module::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown module `{s}`; expected one of node, infra, etcd, minio, pgsql, redis"
                )
            })
    }
}

/// Severity of a [`Diag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located as precisely as known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diag {
    pub severity: Severity,
    /// The inventory (or `-e`, or an `@file` of extra vars).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub host: Option<String>,
    pub key: Option<String>,
    pub message: String,
    /// The obvious next step, when there is one.
    pub hint: Option<String>,
}

impl Diag {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// "`pigsty.yml:42`: host `10.10.10.11`, key `pg_seq`: duplicate pg_seq 1 in cluster `pg-test` (also on `10.10.10.12`)"
impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "`{}:{l}`: ", self.file)?,
            None => write!(f, "`{}`: ", self.file)?,
        }
        match (&self.host, &self.key) {
            (Some(h), Some(k)) => write!(f, "host `{h}`, key `{k}`: ")?,
            (Some(h), None) => write!(f, "host `{h}`: ")?,
            (None, Some(k)) => write!(f, "key `{k}`: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Why an inventory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read `{}`: {source}{}", path.display(), io_hint(source))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{file}:{line}:{col}`: invalid YAML: {msg}")]
    Yaml {
        file: String,
        line: usize,
        col: usize,
        msg: String,
    },
    /// Every problem found: errors first, then warnings (which explain some errors,
    /// e.g. a misspelt `pg_sqe` next to "missing `pg_seq`").
    #[error("{}", invalid(.0))]
    Invalid(Vec<Diag>),
    /// A `--limit` selector matched nothing.
    #[error("`{selector}` matches no host, group or cluster\nhint: known groups: {}", known.join(", "))]
    NoMatch {
        selector: String,
        known: Vec<String>,
    },
    /// The embedded schema is broken (a build defect).
    #[error("{0}")]
    Schema(String),
}

fn io_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::NotFound {
        "\nhint: pass `-i FILE` (or set PIGSTY_INVENTORY), or write one with `pigsty configure`"
    } else {
        ""
    }
}

fn invalid(diags: &[Diag]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let mut s = format!(
        "invalid inventory: {errors} problem{}",
        if errors == 1 { "" } else { "s" }
    );
    for d in diags.iter().filter(|d| d.is_error()) {
        s.push_str(&format!("\n{d}"));
    }
    for d in diags.iter().filter(|d| !d.is_error()) {
        s.push_str(&format!("\nwarning: {d}"));
    }
    s
}

impl InventoryError {
    /// The problems of an `Invalid` inventory (empty for other errors).
    pub fn diags(&self) -> &[Diag] {
        match self {
            InventoryError::Invalid(d) => d,
            _ => &[],
        }
    }
}

/// Knobs for loading; `Default` is what commands use.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Resolve host keys that are not IP addresses (`(name, 22).to_socket_addrs()`)
    /// and report those that do not resolve. Default true.
    pub resolve_names: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            resolve_names: true,
        }
    }
}

impl Inventory {
    /// Read, merge and validate the inventory at `path`, with `-e` extra vars.
    pub fn load(path: &Path, extra_vars: &[String]) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        load::build(
            path.to_path_buf(),
            text,
            extra_vars,
            &LoadOptions::default(),
        )
    }

    /// Same as [`Inventory::load`] from text; `name` stands for the file in messages.
    pub fn from_str(
        name: &str,
        text: &str,
        extra_vars: &[String],
    ) -> Result<Inventory, InventoryError> {
        Self::from_str_with(name, text, extra_vars, &LoadOptions::default())
    }

    /// [`Inventory::from_str`] with explicit options.
    pub fn from_str_with(
        name: &str,
        text: &str,
        extra_vars: &[String],
        opts: &LoadOptions,
    ) -> Result<Inventory, InventoryError> {
        load::build(PathBuf::from(name), text.to_string(), extra_vars, opts)
    }

    /// A test inventory from `text`, names not resolved (no DNS), that must load.
    #[cfg(test)]
    pub fn unresolved(name: &str, text: &str) -> Inventory {
        Self::from_str_with(
            name,
            text,
            &[],
            &LoadOptions {
                resolve_names: false,
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The file name used in messages.
    pub fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// The host with inventory key `addr`.
    pub fn host(&self, addr: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.addr == addr)
    }

    /// Names of the pgsql clusters, in order of first appearance.
    pub fn pg_clusters(&self) -> Vec<&str> {
        cluster_names(&self.hosts, |h| h.id.pg_cluster.as_deref())
    }

    /// Treat `module` as removed from host `addr` for the rest of this run: the host
    /// drops out of that module's clusters, groups and scrape targets (used while a
    /// member is being removed, before the user edits the inventory). `Node` drops
    /// the host altogether. Returns false when the host is not in the inventory.
    pub fn forget(&mut self, addr: &str, module: Module) -> bool {
        if module == Module::Node {
            let before = self.hosts.len();
            self.hosts.retain(|h| h.addr != addr);
            return self.hosts.len() != before;
        }
        let Some(h) = self.hosts.iter_mut().find(|h| h.addr == addr) else {
            return false;
        };
        match module {
            Module::Infra => h.groups.retain(|g| g != "infra"),
            Module::Etcd => h.groups.retain(|g| g != "etcd"),
            Module::Pgsql => {
                h.id.pg_cluster = None;
                h.id.pg_instance = None;
                h.id.pg_role = None;
            }
            Module::Minio => h.id.minio_cluster = None,
            Module::Redis => {
                h.id.redis_cluster = None;
                h.id.redis_ports.clear();
            }
            Module::Node => unreachable!(),
        }
        true
    }

    /// Members of pgsql cluster `pg_cluster`, by `pg_seq`.
    pub fn cluster_members(&self, pg_cluster: &str) -> Vec<&Host> {
        let mut v: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| h.id.pg_cluster.as_deref() == Some(pg_cluster))
            .collect();
        v.sort_by_key(|h| h.id.pg_seq);
        v
    }

    /// The member of `pg_cluster` marked `pg_role: primary` (for a standby cluster,
    /// its leader, which also has `pg_upstream`).
    pub fn primary(&self, pg_cluster: &str) -> Option<&Host> {
        self.cluster_members(pg_cluster)
            .into_iter()
            .find(|h| h.id.pg_role == Some(PgRole::Primary))
    }

    /// Members of group `etcd` (the DCS), by `etcd_seq`.
    pub fn etcd_members(&self) -> Vec<&Host> {
        let mut v: Vec<&Host> = self.hosts.iter().filter(|h| h.has(Module::Etcd)).collect();
        v.sort_by_key(|h| h.id.etcd_seq);
        v
    }

    /// Members of group `infra`, by `infra_seq`.
    pub fn infra_hosts(&self) -> Vec<&Host> {
        let mut v: Vec<&Host> = self.hosts.iter().filter(|h| h.has(Module::Infra)).collect();
        v.sort_by_key(|h| h.id.infra_seq);
        v
    }

    /// Names of the minio clusters, in order of first appearance.
    pub fn minio_clusters(&self) -> Vec<&str> {
        cluster_names(&self.hosts, |h| h.id.minio_cluster.as_deref())
    }

    /// Members of minio cluster `name`, by `minio_seq`.
    pub fn minio_members(&self, name: &str) -> Vec<&Host> {
        let mut v: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| h.id.minio_cluster.as_deref() == Some(name))
            .collect();
        v.sort_by_key(|h| h.id.minio_seq);
        v
    }

    /// Names of the redis clusters, in order of first appearance.
    pub fn redis_clusters(&self) -> Vec<&str> {
        cluster_names(&self.hosts, |h| h.id.redis_cluster.as_deref())
    }

    /// Nodes of redis cluster `name`, by `redis_node`.
    pub fn redis_members(&self, name: &str) -> Vec<&Host> {
        let mut v: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| h.id.redis_cluster.as_deref() == Some(name))
            .collect();
        v.sort_by_key(|h| h.id.redis_node);
        v
    }

    /// Hosts matching `limit`, in inventory order: comma-separated group names,
    /// cluster names (pgsql, etcd, minio, redis, node), pg instance names
    /// (`pg-test-1`), host keys, or `all`. `None` selects every host.
    pub fn select(&self, limit: Option<&str>) -> Result<Vec<&Host>, InventoryError> {
        let Some(limit) = limit else {
            return Ok(self.hosts.iter().collect());
        };
        let mut picked: BTreeSet<&str> = BTreeSet::new();
        for token in limit.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let before = picked.len();
            let mut matched = false;
            for h in &self.hosts {
                let id = &h.id;
                let hit = token == "all"
                    || h.addr == token
                    || h.groups.iter().any(|g| g == token)
                    || [
                        &id.pg_cluster,
                        &id.pg_instance,
                        &id.minio_cluster,
                        &id.redis_cluster,
                        &id.nodename,
                        &id.node_cluster,
                    ]
                    .iter()
                    .any(|v| v.as_deref() == Some(token))
                    || (h.has(Module::Etcd) && id.etcd_cluster.as_deref() == Some(token));
                if hit {
                    matched = true;
                    picked.insert(h.addr.as_str());
                }
            }
            if !matched && picked.len() == before {
                return Err(InventoryError::NoMatch {
                    selector: token.to_string(),
                    known: self.groups.keys().cloned().collect(),
                });
            }
        }
        Ok(self
            .hosts
            .iter()
            .filter(|h| picked.contains(h.addr.as_str()))
            .collect())
    }

    /// Problems with credentials: every required credential (see `params.yml`) that a
    /// host's modules need but that is unset or empty, and the secrets inside
    /// `pgbackrest_repo` and `minio_users`. Separate from loading: only commands that
    /// deploy need credentials, and `validate` reports them.
    pub fn check_secrets(&self) -> Vec<Diag> {
        validate::check_secrets(self)
    }

    /// Parameters set that pigsty does not implement and would mislead by ignoring:
    /// errors for `validate`; `plan` and `deploy` refuse the hosts they concern.
    pub fn check_unsupported(&self) -> Vec<Diag> {
        unsupported::findings(self)
            .into_iter()
            .filter(|f| f.refuse)
            .map(|f| f.diag)
            .collect()
    }

    /// File and line where `host` got its value of `key`, `sub` going deeper into it
    /// (e.g. `["[1]", "password"]`). Line is `None` for defaults.
    pub fn locate(&self, host: &Host, key: &str, sub: &[&str]) -> (String, Option<usize>) {
        match host.source(key) {
            Some(src) => self.locate_source(src, &host.addr, key, sub),
            None => (self.file(), self.host_line(&host.addr)),
        }
    }

    /// The line of `addr`'s first entry under some group's `hosts`.
    pub fn host_line(&self, addr: &str) -> Option<usize> {
        self.host_line_in(addr, None)
    }

    /// The line of `addr`'s entry under the `hosts` of `group`, or of its first entry
    /// when it is not written there.
    pub fn host_line_in(&self, addr: &str, group: Option<&str>) -> Option<usize> {
        let entries = self
            .host(addr)
            .map(|h| h.entries.as_slice())
            .unwrap_or_default();
        let g = group
            .filter(|g| entries.iter().any(|e| e == g))
            .or(entries.first().map(String::as_str));
        let mut path: Vec<String> = match g {
            Some(g) if g != "all" => self.group_paths.get(g).cloned().unwrap_or_default(),
            _ => vec!["all".into()],
        };
        path.push("hosts".into());
        path.push(addr.into());
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        locate::line_of(&self.source, &p)
    }

    fn locate_source(
        &self,
        src: &Source,
        addr: &str,
        key: &str,
        sub: &[&str],
    ) -> (String, Option<usize>) {
        let mut path: Vec<String> = match src {
            Source::Default => return (self.file(), None),
            Source::Global => vec!["all".into(), "vars".into()],
            Source::Group(g) => {
                let mut p = self.group_paths.get(g).cloned().unwrap_or_default();
                p.push("vars".into());
                p
            }
            Source::Host(g) => {
                let mut p = self
                    .group_paths
                    .get(g)
                    .cloned()
                    .unwrap_or_else(|| vec!["all".into()]);
                p.push("hosts".into());
                p.push(addr.into());
                p
            }
            Source::Extra(i) => {
                let Some(layer) = self.extra.get(*i) else {
                    return ("-e".into(), None);
                };
                let mut p = vec![key];
                p.extend_from_slice(sub);
                let line = layer.text.as_deref().and_then(|t| locate::line_of(t, &p));
                return (layer.file.clone(), line);
            }
        };
        path.push(key.into());
        path.extend(sub.iter().map(|s| s.to_string()));
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        (self.file(), locate::line_of(&self.source, &p))
    }
}

fn cluster_names<'a>(hosts: &'a [Host], f: impl Fn(&'a Host) -> Option<&'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for h in hosts {
        if let Some(c) = f(h) {
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }
    v
}

impl Host {
    /// Modules that land on this host (see the module docs for the rules).
    pub fn modules(&self) -> BTreeSet<Module> {
        let mut m = BTreeSet::from([Module::Node]);
        if self.groups.iter().any(|g| g == "infra") {
            m.insert(Module::Infra);
        }
        if self.groups.iter().any(|g| g == "etcd") {
            m.insert(Module::Etcd);
        }
        if self.id.pg_cluster.is_some() {
            m.insert(Module::Pgsql);
        }
        if self.id.minio_cluster.is_some() {
            m.insert(Module::Minio);
        }
        if self.id.redis_cluster.is_some() {
            m.insert(Module::Redis);
        }
        m
    }

    /// Whether `module` lands on this host.
    pub fn has(&self, module: Module) -> bool {
        self.modules().contains(&module)
    }

    /// Whether this host is in group `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.vars.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The parameter's value: the inventory's, else its `assets/params.yml` default.
    pub fn var(&self, key: &str) -> Option<&Value> {
        self.get(key).or_else(|| default_of(key))
    }

    /// A text parameter (`""` when neither the inventory nor the schema has it).
    pub fn var_str(&self, key: &str) -> &str {
        self.var(key).and_then(Value::as_str).unwrap_or("")
    }

    /// A bool parameter (false when neither has it).
    pub fn var_bool(&self, key: &str) -> bool {
        self.var(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// An integer parameter (0 when neither has it).
    pub fn var_int(&self, key: &str) -> i64 {
        self.var(key).and_then(Value::as_i64).unwrap_or(0)
    }

    /// A port parameter (0 when neither has one).
    pub fn var_port(&self, key: &str) -> u16 {
        self.var(key)
            .and_then(Value::as_i64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0)
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }

    pub fn float(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    /// A port parameter (an integer 1..=65535).
    pub fn port(&self, key: &str) -> Option<u16> {
        self.int(key)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
    }

    pub fn list(&self, key: &str) -> Option<&Vec<Value>> {
        self.get(key).and_then(Value::as_array)
    }

    pub fn dict(&self, key: &str) -> Option<&Map<String, Value>> {
        self.get(key).and_then(Value::as_object)
    }

    /// Which layer the value of `key` came from (`None`: not set at all).
    pub fn source(&self, key: &str) -> Option<&Source> {
        self.sources.get(key)
    }

    /// Whether `key` was set by the inventory or `-e` (not just a default).
    pub fn is_set(&self, key: &str) -> bool {
        self.get(key).is_some() && self.source(key).is_some_and(|s| *s != Source::Default)
    }

    /// Expand Pigsty's `${name}` placeholders (as in `http://${admin_ip}:80`) with
    /// this host's scalar variables; unknown names are left as they are.
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    let name = &after[..end];
                    match self.get(name) {
                        Some(Value::String(s)) => out.push_str(s),
                        Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                            out.push_str(&v.to_string())
                        }
                        _ => out.push_str(&rest[start..start + 2 + end + 1]),
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `'10.10.10.10 6379'` (Pigsty's form) or `10.10.10.10:6379`.
pub fn parse_replica_of(s: &str) -> Option<(String, u16)> {
    let s = s.trim();
    let (h, p) = s
        .split_once(char::is_whitespace)
        .or_else(|| s.rsplit_once(':'))?;
    let p: u16 = p.trim().parse().ok().filter(|p| *p > 0)?;
    let h = h.trim();
    (!h.is_empty()).then(|| (h.to_string(), p))
}

/// Every credential the profiles reference; each gets its own random value.
pub const SECRETS: &[&str] = &[
    "pg_admin_password",
    "pg_monitor_password",
    "pg_replication_password",
    "patroni_password",
    "haproxy_admin_password",
    "grafana_admin_password",
    "grafana_view_password",
    "etcd_root_password",
    "redis_password",
    "minio_secret_key",
    "s3_key_secret",
    "pgbackrest_cipher_pass",
    "dbuser_meta",
    "dbuser_view",
    "dbuser_test",
    "s3user_meta",
    "s3user_data",
];
