//! Command-line surface: clap types only. Dispatch lives in `commands/`.
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default inventory path; `-i FILE` or `PIGSTY_INVENTORY` override it.
pub const DEFAULT_INVENTORY: &str = "/etc/pigsty/pigsty.yml";

#[derive(Parser, Debug)]
#[command(
    name = "pigsty",
    version = crate::version::SHORT,
    long_version = crate::version::LONG,
    about = "Turn plain Linux machines into a production PostgreSQL platform",
    long_about = "pigsty turns plain Linux machines into a production PostgreSQL platform: \
HA Postgres run by Patroni, pgBouncer and HAProxy services, pgBackRest backups, etcd, \
and the observability stack, all described in one declarative inventory (Pigsty's \
pigsty.yml format) and applied idempotently.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Inventory file (Pigsty's pigsty.yml format)
    #[arg(
        short = 'i',
        long = "inventory",
        global = true,
        env = "PIGSTY_INVENTORY",
        value_name = "FILE"
    )]
    pub inventory: Option<PathBuf>,
    /// Extra variables, highest precedence: `-e key=value` or `-e @file.yml`
    #[arg(
        short = 'e',
        long = "extra-vars",
        global = true,
        value_name = "KEY=VALUE"
    )]
    pub extra_vars: Vec<String>,
    /// Print machine-readable JSON on stdout instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging on stderr (-v, -vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Global {
    pub fn inventory_path(&self) -> PathBuf {
        self.inventory
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_INVENTORY))
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct Target {
    /// Limit to hosts matching a cluster name, group name or IP (comma separated)
    #[arg(short = 'l', long = "limit", value_name = "SELECTOR")]
    pub limit: Option<String>,
    /// Limit to modules (comma separated: node,infra,etcd,minio,pgsql,redis)
    #[arg(short = 'm', long = "modules", value_name = "MODULES")]
    pub modules: Option<String>,
    /// Parallel hosts at most
    #[arg(long, default_value_t = 16)]
    pub forks: usize,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Confirm {
    /// Do not ask to type the name back; proceed
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Install a singleton meta node on this host (configure if needed, then deploy locally)
    Install(InstallArgs),
    /// Write an inventory for this host from the embedded `meta` profile with fresh secrets
    Configure(ConfigureArgs),
    /// Load and check an inventory; print clusters, hosts and modules per host
    Validate,
    /// Show what would change on each host, without changing anything
    Plan(PlanArgs),
    /// Converge every host in the inventory (Pigsty's install.yml order)
    Deploy(DeployArgs),
    /// Bring new machines under management over SSH and converge them
    Join(JoinArgs),
    /// Clusters, members, roles, lag, services and backups at a glance
    Status(StatusArgs),
    /// Journal and Postgres logs of a node, instance or cluster, merged by time
    Logs(LogsArgs),
    /// Manage PostgreSQL clusters
    #[command(subcommand)]
    Pgsql(PgsqlCmd),
    /// Manage nodes (and node mode, used by the controller)
    #[command(subcommand)]
    Node(NodeCmd),
    /// Manage the etcd cluster (the DCS)
    #[command(subcommand)]
    Etcd(EtcdCmd),
    /// Manage Redis clusters
    #[command(subcommand)]
    Redis(RedisCmd),
    /// Manage S3 object storage (MinIO or Garage engine)
    #[command(subcommand)]
    Minio(MinioCmd),
    /// Local package repository and offline bundles
    #[command(subcommand)]
    Repo(RepoCmd),
    /// Print shell completions
    Completion(CompletionArgs),
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Install from an offline bundle made by `pigsty repo pack`
    #[arg(long, value_name = "FILE")]
    pub pkg: Option<PathBuf>,
    /// Overwrite an existing inventory when configuring
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ConfigureArgs {
    /// Overwrite an existing inventory
    #[arg(long)]
    pub force: bool,
    /// Embedded profile to start from
    #[arg(long, default_value = "meta")]
    pub profile: String,
    /// An embedded profile by name, or an existing Pigsty configuration FILE to import:
    /// its values and text kept, unset credentials generated
    #[arg(short = 'c', long = "conf", value_name = "NAME|FILE")]
    pub conf: Option<String>,
    /// With -c FILE: replace passwords published in Pigsty's docs with fresh ones
    #[arg(short = 'g', long = "generate")]
    pub generate: bool,
    /// List the embedded profiles, one line each
    #[arg(long)]
    pub list: bool,
    /// IPv4 address of this host (default: the primary address)
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Write to this file instead of the inventory path
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Tuning template (default: tiny below 4 cores or 4 GiB, else oltp)
    #[arg(long, value_parser = ["oltp", "olap", "crit", "tiny"])]
    pub tune: Option<String>,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: Target,
    /// Exit 3 when anything would change
    #[arg(long)]
    pub check: bool,
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: Target,
    /// Accept unknown SSH host keys (first contact)
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

#[derive(Args, Debug)]
pub struct JoinArgs {
    /// Addresses of the machines to bring in
    #[arg(required = true, value_name = "IP")]
    pub hosts: Vec<String>,
    #[command(flatten)]
    pub target: Target,
    /// Accept unknown SSH host keys (first contact)
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// An address, an instance (pg-test-1), a cluster or group (pg-test, etcd), or `all`
    pub target: String,
    /// Only this service: a unit (patroni, etcd, haproxy, ...) or `postgres` (its csv log)
    pub service: Option<String>,
    /// From when (journalctl's syntax: "1 hour ago", "-10min", "2026-11-25 18:00")
    #[arg(long, default_value = "1 hour ago", allow_hyphen_values = true)]
    pub since: String,
    /// Only the last N lines
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Only this cluster
    pub cluster: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum PgsqlCmd {
    /// Create a cluster or add replicas to it
    Add {
        cluster: String,
        hosts: Vec<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Remove replicas or a whole cluster
    Rm {
        cluster: String,
        hosts: Vec<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Create or update a user of a cluster from the inventory
    User { cluster: String, user: String },
    /// Create or update a database of a cluster from the inventory
    Db {
        cluster: String,
        db: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Render and reload HBA rules (Postgres and pgBouncer)
    Hba { cluster: String },
    /// Render and reload HAProxy services of a cluster
    Svc { cluster: String },
    /// Install extensions and create them in the databases that list them
    Ext {
        cluster: String,
        extensions: Vec<String>,
    },
    /// Switch the leader to another member with Patroni
    Switchover {
        cluster: String,
        /// Target instance (default: the healthiest replica)
        #[arg(long, value_name = "INSTANCE")]
        to: Option<String>,
        /// PAUSE the old leader's pgBouncer first (transaction pooling): running
        /// transactions finish instead of being cut off by the shutdown and new ones wait
        /// for the new primary; clients wait a little longer (Patroni's steps before it
        /// stops the old leader)
        #[arg(long)]
        hold_writes: bool,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Force a failover with Patroni
    Failover {
        cluster: String,
        /// Instance to promote (default: the running replica with the least lag)
        #[arg(long, value_name = "INSTANCE")]
        to: Option<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Turn a standby cluster (pg_upstream) into a normal one: its leader accepts writes
    Promote {
        cluster: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Maintenance mode: Patroni stops failing over and restarting Postgres
    Pause { cluster: String },
    /// Leave maintenance mode: automatic failover again
    Resume { cluster: String },
    /// Rolling restart of Postgres through Patroni, replicas first
    Restart {
        cluster: String,
        instance: Option<String>,
    },
    /// Reload Postgres configuration through Patroni
    Reload {
        cluster: String,
        instance: Option<String>,
    },
    /// Take a pgBackRest backup on the cluster primary
    Backup {
        cluster: String,
        #[arg(value_enum, default_value_t = BackupType::Full)]
        kind: BackupType,
    },
    /// Point-in-time recovery of a cluster from its backups
    Pitr(PitrArgs),
    /// Monitor a Postgres that pigsty does not manage (an exporter on this infra node)
    Monitor {
        #[command(subcommand)]
        cmd: MonitorCmd,
    },
}

#[derive(Subcommand, Debug)]
pub enum MonitorCmd {
    /// Register a remote Postgres by URL: postgres://[USER[:PASSWORD]@]HOST[:PORT][/DB]
    /// (password also from $PGPASSWORD, else the inventory's pg_monitor_password)
    Add {
        name: String,
        url: String,
        /// Exporter port on this node (default: the first free from 20001)
        #[arg(long)]
        port: Option<u16>,
    },
    /// Stop monitoring it: its exporter and Prometheus target go
    Rm { name: String },
    /// The registered remote Postgres instances
    List,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupType {
    Full,
    Diff,
    Incr,
}

#[derive(Args, Debug)]
pub struct PitrArgs {
    pub cluster: String,
    /// Recover to this timestamp (e.g. "2026-11-25 18:00:00+00")
    #[arg(long, group = "target")]
    pub time: Option<String>,
    /// Recover to this LSN
    #[arg(long, group = "target")]
    pub lsn: Option<String>,
    /// Recover to this transaction id
    #[arg(long, group = "target")]
    pub xid: Option<String>,
    /// Recover to this named restore point
    #[arg(long, group = "target")]
    pub name: Option<String>,
    /// Recover to the end of the archived WAL
    #[arg(long, group = "target")]
    pub latest: bool,
    /// Recover to the end of the backup, as soon as consistent
    #[arg(long, group = "target")]
    pub immediate: bool,
    /// Restore from this backup set
    #[arg(long, value_name = "BACKUP")]
    pub set: Option<String>,
    /// What to do when the target is reached
    #[arg(long, value_parser = ["promote", "pause"], default_value = "promote")]
    pub action: String,
    /// Restore another cluster's backups into this one (a fork)
    #[arg(long, value_name = "CLUSTER")]
    pub from: Option<String>,
    #[command(flatten)]
    pub confirm: Confirm,
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// Bring nodes under management (NODE module)
    Add {
        hosts: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Remove nodes from management
    Rm {
        hosts: Vec<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Node mode: read a request on stdin, converge this host, stream JSON events (used by the controller)
    #[command(hide = true)]
    Apply,
}

#[derive(Subcommand, Debug)]
pub enum EtcdCmd {
    /// Add etcd members (joined to the cluster before they start)
    Add { hosts: Vec<String> },
    /// Remove etcd members (honours etcd_safeguard)
    Rm {
        hosts: Vec<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
}

#[derive(Subcommand, Debug)]
pub enum RedisCmd {
    /// Create a Redis cluster, node or instance
    Add {
        cluster: String,
        host: Option<String>,
        port: Option<u16>,
    },
    /// Remove a Redis cluster, node or instance (honours redis_safeguard)
    Rm {
        cluster: String,
        host: Option<String>,
        port: Option<u16>,
        #[command(flatten)]
        confirm: Confirm,
    },
}

#[derive(Subcommand, Debug)]
pub enum MinioCmd {
    /// Create an object storage cluster or add nodes to it
    Add { cluster: String, hosts: Vec<String> },
    /// Remove an object storage cluster or nodes (honours minio_safeguard)
    Rm {
        cluster: String,
        hosts: Vec<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
}

#[derive(Subcommand, Debug)]
pub enum RepoCmd {
    /// What each module of the inventory installs, and the upstream repositories
    List,
    /// Put a program you built or downloaded (e.g. `garage`) into the local repository, checksum recorded
    Add { file: PathBuf },
    /// Download every package the inventory's modules need into the local repository
    Build,
    /// Write an offline bundle (local repository plus this binary)
    Pack {
        /// Output file
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// Shell to generate completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
