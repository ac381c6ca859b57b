//! The PGSQL view of one host: every variable the module uses, read once with
//! Pigsty's defaults (the inventory merges `assets/params.yml` already; the fallbacks
//! here only matter for a host built by hand), plus what is derived from them
//! (paths, instance name, cluster members, etcd endpoints).
use crate::facts::Facts;
use crate::inventory::{Host, Inventory};
use anyhow::{bail, Result};
use serde_json::{Map, Value};

/// One member of this host's cluster, as the services and HBA need it.
#[derive(Debug, Clone)]
pub struct Member {
    pub ip: String,
    pub seq: u32,
    pub instance: String,
    pub role: String,
    /// Variables of that host (for service selectors).
    pub vars: Map<String, Value>,
}

/// Everything the module reads, resolved.
#[derive(Debug, Clone)]
pub struct Pg {
    pub facts: Facts,
    /// The run's options: delivered certificates, files the inventory names.
    pub opts: crate::options::PlanOptions,
    pub ip: String,
    pub cluster: String,
    pub seq: u32,
    pub role: String,
    pub instance: String,
    pub offline_query: bool,
    pub version: u32,
    pub members: Vec<Member>,

    // os
    pub dbsu: String,
    pub dbsu_uid: i64,
    pub dbsu_home: String,
    pub bin_dir: String,

    // layout
    pub data: String,
    pub fs_main: String,
    pub fs_backup: String,
    pub cluster_dir: String,
    pub backup_dir: String,

    // postgres
    pub listen: String,
    pub port: u16,
    pub socket: String,
    pub log_dir: String,
    pub conf: String,
    pub max_conn: Value,
    pub shared_buffer_ratio: f64,
    pub storage_type: String,
    pub libs: String,
    pub checksum: bool,
    pub pwd_enc: String,
    pub encoding: String,
    pub locale: String,
    pub lc_collate: String,
    pub lc_ctype: String,
    pub parameters: Map<String, Value>,
    pub rto: Value,
    pub rto_plan: Map<String, Value>,
    pub rpo: i64,

    // credentials
    pub dbsu_password: String,
    pub replication_username: String,
    pub replication_password: String,
    pub admin_username: String,
    pub admin_password: String,
    pub monitor_username: String,
    pub monitor_password: String,

    // patroni
    pub patroni_enabled: bool,
    pub namespace: String,
    pub patroni_port: u16,
    pub patroni_log_dir: String,
    pub patroni_username: String,
    pub patroni_password: String,
    pub patroni_ssl: bool,
    pub watchdog_mode: String,
    pub etcd_hosts: Vec<String>,
    /// `Some((user, password))` when Patroni logs in to etcd.
    pub etcd_auth: Option<(String, String)>,

    // business
    pub users: Vec<Value>,
    pub databases: Vec<Value>,
    pub default_roles: Vec<Value>,
    pub default_privileges: Vec<String>,
    pub default_schemas: Vec<String>,
    pub default_extensions: Vec<Value>,
    pub hba_rules: Vec<Value>,
    pub default_hba_rules: Vec<Value>,
    pub pgb_hba_rules: Vec<Value>,
    pub pgb_default_hba_rules: Vec<Value>,
    pub services: Vec<Value>,
    pub default_services: Vec<Value>,
    pub default_service_dest: String,
    pub service_provider: String,
    pub weight: i64,
    pub crontab: Vec<String>,
    /// `pg_extensions`: extension (or package alias) names to install on every member.
    pub extensions: Vec<String>,
    /// `pg_safeguard`: refuse to drop databases (and clusters).
    pub safeguard: bool,
    pub provision: bool,
    pub admin_ip: String,
    pub infra_ips: Vec<String>,
    pub haproxy_enabled: bool,
    pub haproxy_client_timeout: String,
    pub haproxy_server_timeout: String,

    // pgbouncer
    pub pgbouncer_enabled: bool,
    pub pgbouncer_port: u16,
    pub pgbouncer_log_dir: String,
    pub pgbouncer_poolmode: String,
    pub pgbouncer_sslmode: String,
    pub pgbouncer_ignore_param: Vec<String>,
    pub pgbouncer_auth_query: bool,

    // backup
    pub pgbackrest_enabled: bool,
    pub pgbackrest_log_dir: String,
    pub pgbackrest_method: String,
    pub pgbackrest_init_backup: bool,
    pub pgbackrest_repo: Map<String, Value>,

    // monitor
    pub pg_exporter_enabled: bool,
    pub pg_exporter_port: u16,
    pub pg_exporter_params: String,
    pub pg_exporter_auto_discovery: bool,
    pub pg_exporter_exclude_database: String,
    pub pg_exporter_include_database: String,
    pub pgbouncer_exporter_enabled: bool,
    pub pgbouncer_exporter_port: u16,
}

/// Reads a host's variables with fallbacks (null counts as unset).
pub struct Vars<'a>(pub &'a Map<String, Value>);

impl<'a> Vars<'a> {
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }
    pub fn s(&self, k: &str, d: &str) -> String {
        match self.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => d.to_string(),
        }
    }
    pub fn i(&self, k: &str, d: i64) -> i64 {
        match self.get(k) {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(d),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(d),
            _ => d,
        }
    }
    pub fn port(&self, k: &str, d: u16) -> u16 {
        u16::try_from(self.i(k, d as i64)).ok().filter(|p| *p > 0).unwrap_or(d)
    }
    pub fn f(&self, k: &str, d: f64) -> f64 {
        match self.get(k) {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(d),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(d),
            _ => d,
        }
    }
    pub fn b(&self, k: &str, d: bool) -> bool {
        match self.get(k) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"),
            _ => d,
        }
    }
    pub fn list(&self, k: &str) -> Vec<Value> {
        self.get(k).and_then(Value::as_array).cloned().unwrap_or_default()
    }
    /// A list, or the default YAML when the variable is absent.
    pub fn list_or(&self, k: &str, default_yaml: &str) -> Vec<Value> {
        match self.get(k).and_then(Value::as_array) {
            Some(a) => a.clone(),
            None => serde_yaml::from_str::<Value>(default_yaml).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default(),
        }
    }
    pub fn strs(&self, k: &str) -> Vec<String> {
        self.list(k)
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect()
    }
    pub fn dict(&self, k: &str) -> Map<String, Value> {
        self.get(k).and_then(Value::as_object).cloned().unwrap_or_default()
    }
}

/// Pigsty's `pg_fs_main` used to be the mount point (`/data`) with the cluster under
/// `postgres/`; since v3 it is `/data/postgres` itself. Accept both.
fn cluster_dir(fs_main: &str, cluster: &str, version: u32) -> String {
    let base = fs_main.trim_end_matches('/');
    if base.rsplit('/').next() == Some("postgres") {
        format!("{base}/{cluster}-{version}")
    } else {
        format!("{base}/postgres/{cluster}-{version}")
    }
}

const DEFAULT_ROLES: &str = r#"
- { name: dbrole_readonly,  login: false, comment: role for global read-only access }
- { name: dbrole_offline,   login: false, comment: role for restricted read-only access }
- { name: dbrole_readwrite, login: false, roles: [dbrole_readonly], comment: role for global read-write access }
- { name: dbrole_admin,     login: false, roles: [pg_monitor, dbrole_readwrite], comment: role for object creation }
- { name: postgres,         superuser: true, comment: system superuser }
- { name: replicator,       replication: true, roles: [pg_monitor, dbrole_readonly], comment: system replicator }
- { name: dbuser_dba,       superuser: true, roles: [dbrole_admin], pgbouncer: true, pool_mode: session, pool_connlimit: 16, comment: pgsql admin user }
- { name: dbuser_monitor,   roles: [pg_monitor, dbrole_readonly], pgbouncer: true, parameters: { log_min_duration_statement: 1000 }, pool_mode: session, pool_connlimit: 8, comment: pgsql monitor user }
"#;

const DEFAULT_HBA: &str = r#"
- { user: "${dbsu}",          db: all,         addr: local,     auth: ident, title: dbsu access via local os user ident,   order: 100 }
- { user: "${dbsu}",          db: replication, addr: local,     auth: ident, title: dbsu replication from local os ident,  order: 150 }
- { user: "${repl}",          db: replication, addr: localhost, auth: pwd,   title: replicator replication from localhost, order: 200 }
- { user: "${repl}",          db: replication, addr: intra,     auth: pwd,   title: replicator replication from intranet,  order: 250 }
- { user: "${repl}",          db: postgres,    addr: intra,     auth: pwd,   title: replicator postgres db from intranet,  order: 300 }
- { user: "${monitor}",       db: all,         addr: localhost, auth: pwd,   title: monitor from localhost with password,  order: 350 }
- { user: "${monitor}",       db: all,         addr: infra,     auth: pwd,   title: monitor from infra host with password, order: 400 }
- { user: "${admin}",         db: all,         addr: intra,     auth: pwd,   title: admin @ intranet nodes with pwd,       order: 450 }
- { user: "${admin}",         db: all,         addr: world,     auth: ssl,   title: admin @ everywhere with ssl & pwd,     order: 500 }
- { user: "+dbrole_readonly", db: all,         addr: localhost, auth: pwd,   title: pgbouncer read/write via local socket, order: 550 }
- { user: "+dbrole_readonly", db: all,         addr: intra,     auth: pwd,   title: read/write biz user via password,      order: 600 }
- { user: "+dbrole_offline",  db: all,         addr: intra,     auth: pwd,   title: allow etl offline tasks from intranet, order: 650 }
"#;

const DEFAULT_PGB_HBA: &str = r#"
- { user: "${dbsu}",    db: pgbouncer, addr: local,     auth: peer, title: dbsu local admin access with os ident, order: 100 }
- { user: all,          db: all,       addr: localhost, auth: pwd,  title: allow all user local access with pwd,  order: 150 }
- { user: "${monitor}", db: pgbouncer, addr: intra,     auth: pwd,  title: monitor access via intranet with pwd,  order: 200 }
- { user: "${monitor}", db: all,       addr: world,     auth: deny, title: reject all other monitor access addr,  order: 250 }
- { user: "${admin}",   db: all,       addr: intra,     auth: pwd,  title: admin access via intranet with pwd,    order: 300 }
- { user: "${admin}",   db: all,       addr: world,     auth: deny, title: reject all other admin access addr,    order: 350 }
- { user: all,          db: all,       addr: intra,     auth: pwd,  title: allow all user intra access with pwd,  order: 400 }
"#;

const DEFAULT_SERVICES: &str = r#"
- { name: primary, port: 5433, dest: default,  check: /primary,   selector: "[]" }
- { name: replica, port: 5434, dest: default,  check: /read-only, selector: "[]", backup: "[? pg_role == `primary` || pg_role == `offline` ]" }
- { name: default, port: 5436, dest: postgres, check: /primary,   selector: "[]" }
- { name: offline, port: 5438, dest: postgres, check: /replica,   selector: "[? pg_role == `offline` || pg_offline_query ]", backup: "[? pg_role == `replica` && !pg_offline_query]" }
"#;

const DEFAULT_EXTENSIONS: &str = r#"
- { name: pg_stat_statements, schema: monitor }
- { name: pgstattuple,        schema: monitor }
- { name: pg_buffercache,     schema: monitor }
- { name: pageinspect,        schema: monitor }
- { name: pg_prewarm,         schema: monitor }
- { name: pg_visibility,      schema: monitor }
- { name: pg_freespacemap,    schema: monitor }
- { name: postgres_fdw,       schema: public }
- { name: file_fdw,           schema: public }
- { name: btree_gist,         schema: public }
- { name: btree_gin,          schema: public }
- { name: pg_trgm,            schema: public }
- { name: intagg,             schema: public }
- { name: intarray,           schema: public }
- { name: pg_repack }
"#;

const DEFAULT_PRIVILEGES: &str = r#"
- GRANT USAGE      ON SCHEMAS    TO  dbrole_readonly
- GRANT SELECT     ON TABLES     TO  dbrole_readonly
- GRANT SELECT     ON SEQUENCES  TO  dbrole_readonly
- GRANT EXECUTE    ON FUNCTIONS  TO  dbrole_readonly
- GRANT USAGE      ON SCHEMAS    TO  dbrole_offline
- GRANT SELECT     ON TABLES     TO  dbrole_offline
- GRANT SELECT     ON SEQUENCES  TO  dbrole_offline
- GRANT EXECUTE    ON FUNCTIONS  TO  dbrole_offline
- GRANT INSERT     ON TABLES     TO  dbrole_readwrite
- GRANT UPDATE     ON TABLES     TO  dbrole_readwrite
- GRANT DELETE     ON TABLES     TO  dbrole_readwrite
- GRANT USAGE      ON SEQUENCES  TO  dbrole_readwrite
- GRANT UPDATE     ON SEQUENCES  TO  dbrole_readwrite
- GRANT TRUNCATE   ON TABLES     TO  dbrole_admin
- GRANT REFERENCES ON TABLES     TO  dbrole_admin
- GRANT TRIGGER    ON TABLES     TO  dbrole_admin
- GRANT CREATE     ON SCHEMAS    TO  dbrole_admin
"#;

const DEFAULT_RTO_PLAN: &str = r#"
fast: [20, 5, 5, 15, 5, "1s", "0.5s", "1s", 3, 3]
norm: [30, 5, 10, 25, 5, "2s", "1s", "2s", 3, 3]
safe: [60, 10, 20, 45, 10, "3s", "1.5s", "3s", 3, 3]
wide: [120, 20, 30, 95, 15, "4s", "2s", "4s", 3, 3]
"#;

/// Whether Patroni logs in to etcd, and as whom: what the ETCD module says clients
/// use (`etcd::patroni_etcd3`: `root` / `etcd_root_password`, auth always on there).
/// `etcd_auth: false` (a host variable) turns the login off here, for an etcd run
/// without RBAC. Logging in to an etcd without auth is harmless anyway (Patroni notes
/// "authentication is not enabled" and goes on).
pub fn etcd_auth(inv: &Inventory, host: &Host) -> Option<(String, String)> {
    if !Vars(&host.vars).b("etcd_auth", true) {
        return None;
    }
    let j = crate::modules::etcd::patroni_etcd3(inv, host).ok()?;
    Some((j["username"].as_str()?.to_string(), j["password"].as_str()?.to_string()))
}

impl Pg {
    /// Resolve everything for `host`, with Postgres major `version` already chosen.
    pub fn new(inv: &Inventory, host: &Host, facts: &Facts, version: u32) -> Result<Pg> {
        let v = Vars(&host.vars);
        let Some(cluster) = host.id.pg_cluster.clone() else {
            bail!("host `{}`: `pg_cluster` is not set; the pgsql module needs it", host.addr);
        };
        let Some(seq) = host.id.pg_seq else {
            bail!("host `{}`: `pg_seq` is not set; the pgsql module needs it", host.addr);
        };
        let role = host.id.pg_role.map(|r| r.to_string()).unwrap_or_else(|| "replica".into());
        let req = |k: &str| -> Result<String> {
            match host.str(k) {
                Some(s) if !s.is_empty() => Ok(s.to_string()),
                _ => bail!(
                    "host `{}`: required variable `{k}` is not set\nhint: set it in the inventory (`pigsty configure` generates credentials)",
                    host.addr
                ),
            }
        };
        let fs_main = v.s("pg_fs_main", "/data/postgres");
        let fs_backup = v.s("pg_fs_backup", &v.s("pg_fs_bkup", "/data/backups"));
        let members = inv
            .cluster_members(&cluster)
            .into_iter()
            .map(|h| Member {
                ip: h.addr.clone(),
                seq: h.id.pg_seq.unwrap_or(0),
                instance: h.id.pg_instance.clone().unwrap_or_else(|| format!("{cluster}-{}", h.id.pg_seq.unwrap_or(0))),
                role: h.id.pg_role.map(|r| r.to_string()).unwrap_or_else(|| "replica".into()),
                vars: h.vars.clone(),
            })
            .collect();
        let etcd_hosts = crate::modules::etcd::client_hosts(inv);
        let mut infra_ips: Vec<String> = inv.infra_hosts().into_iter().map(|h| h.addr.clone()).collect();
        let admin_ip = v.s("admin_ip", "");
        if infra_ips.is_empty() && !admin_ip.is_empty() {
            infra_ips.push(admin_ip.clone());
        }
        let pg_conf = v.s("pg_conf", "oltp.yml");
        let conf = pg_conf.trim_end_matches(".yml").trim_end_matches(".yaml").rsplit('/').next().unwrap_or("oltp").to_string();
        if !["oltp", "olap", "crit", "tiny"].contains(&conf.as_str()) {
            bail!("host `{}`: `pg_conf: {pg_conf}` is not a known template\nhint: use one of oltp.yml, olap.yml, crit.yml, tiny.yml", host.addr);
        }
        let pwd_enc = v.s("pg_pwd_enc", "scram-sha-256");
        if pwd_enc != "scram-sha-256" {
            bail!("host `{}`: `pg_pwd_enc: {pwd_enc}` is not supported; pigsty stores SCRAM verifiers\nhint: use scram-sha-256", host.addr);
        }
        if v.s("pgbouncer_sslmode", "disable") != "disable" {
            bail!("host `{}`: `pgbouncer_sslmode` other than disable is not supported yet (no certificates)\nhint: set it to disable", host.addr);
        }
        if v.b("patroni_ssl_enabled", false) {
            bail!("host `{}`: `patroni_ssl_enabled: true` is not supported yet\nhint: set it to false", host.addr);
        }
        let crontab = v.strs("pg_crontab");
        Ok(Pg {
            facts: facts.clone(),
            opts: crate::options::PlanOptions::NONE,
            ip: host.addr.clone(),
            instance: host.id.pg_instance.clone().unwrap_or_else(|| format!("{cluster}-{seq}")),
            cluster_dir: cluster_dir(&fs_main, &cluster, version),
            backup_dir: format!("{}/postgres/{cluster}-{version}", fs_backup.trim_end_matches('/')),
            cluster,
            seq,
            role,
            offline_query: v.b("pg_offline_query", false),
            version,
            members,
            dbsu: v.s("pg_dbsu", "postgres"),
            dbsu_uid: v.i("pg_dbsu_uid", 543),
            dbsu_home: v.s("pg_dbsu_home", "/var/lib/pgsql"),
            bin_dir: format!("/usr/lib/postgresql/{version}/bin"),
            data: v.s("pg_data", "/pg/data"),
            fs_main,
            fs_backup,
            listen: v.s("pg_listen", "0.0.0.0"),
            port: v.port("pg_port", 5432),
            socket: v.s("pg_localhost", "/var/run/postgresql"),
            log_dir: v.s("pg_log_dir", "/pg/log/postgres"),
            conf,
            max_conn: v.get("pg_max_conn").cloned().unwrap_or(Value::String("auto".into())),
            shared_buffer_ratio: v.f("pg_shared_buffer_ratio", 0.25).clamp(0.1, 0.4),
            storage_type: v.s("pg_storage_type", "SSD"),
            libs: v.s("pg_libs", "pg_stat_statements, auto_explain"),
            checksum: v.b("pg_checksum", true),
            pwd_enc,
            encoding: v.s("pg_encoding", "UTF8"),
            locale: v.s("pg_locale", "C"),
            lc_collate: v.s("pg_lc_collate", "C"),
            lc_ctype: v.s("pg_lc_ctype", "C"),
            parameters: v.dict("pg_parameters"),
            rto: v.get("pg_rto").cloned().unwrap_or(Value::String("norm".into())),
            rto_plan: match v.get("pg_rto_plan").and_then(Value::as_object) {
                Some(m) => m.clone(),
                None => serde_yaml::from_str::<Value>(DEFAULT_RTO_PLAN).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default(),
            },
            rpo: v.i("pg_rpo", 1048576),
            dbsu_password: v.s("pg_dbsu_password", ""),
            replication_username: v.s("pg_replication_username", "replicator"),
            replication_password: req("pg_replication_password")?,
            admin_username: v.s("pg_admin_username", "dbuser_dba"),
            admin_password: req("pg_admin_password")?,
            monitor_username: v.s("pg_monitor_username", "dbuser_monitor"),
            monitor_password: req("pg_monitor_password")?,
            patroni_enabled: v.b("patroni_enabled", true),
            namespace: v.s("pg_namespace", "/pg"),
            patroni_port: v.port("patroni_port", 8008),
            patroni_log_dir: v.s("patroni_log_dir", "/pg/log/patroni"),
            patroni_username: v.s("patroni_username", "postgres"),
            patroni_password: req("patroni_password")?,
            patroni_ssl: false,
            watchdog_mode: v.s("patroni_watchdog_mode", "off"),
            etcd_hosts,
            etcd_auth: etcd_auth(inv, host),
            users: v.list("pg_users"),
            databases: v.list("pg_databases"),
            default_roles: v.list_or("pg_default_roles", DEFAULT_ROLES),
            default_privileges: {
                let l = v.list_or("pg_default_privileges", DEFAULT_PRIVILEGES);
                l.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()
            },
            default_schemas: match v.get("pg_default_schemas") {
                Some(_) => v.strs("pg_default_schemas"),
                None => vec!["monitor".into()],
            },
            default_extensions: v.list_or("pg_default_extensions", DEFAULT_EXTENSIONS),
            hba_rules: v.list("pg_hba_rules"),
            default_hba_rules: v.list_or("pg_default_hba_rules", DEFAULT_HBA),
            pgb_hba_rules: v.list("pgb_hba_rules"),
            pgb_default_hba_rules: v.list_or("pgb_default_hba_rules", DEFAULT_PGB_HBA),
            services: v.list("pg_services"),
            default_services: v.list_or("pg_default_services", DEFAULT_SERVICES),
            default_service_dest: v.s("pg_default_service_dest", "pgbouncer"),
            service_provider: v.s("pg_service_provider", ""),
            weight: v.i("pg_weight", 100),
            crontab,
            extensions: v.strs("pg_extensions"),
            safeguard: v.b("pg_safeguard", false),
            provision: v.b("pg_provision", true),
            admin_ip,
            infra_ips,
            haproxy_enabled: v.b("haproxy_enabled", true),
            haproxy_client_timeout: v.s("haproxy_client_timeout", "24h"),
            haproxy_server_timeout: v.s("haproxy_server_timeout", "24h"),
            pgbouncer_enabled: v.b("pgbouncer_enabled", true),
            pgbouncer_port: v.port("pgbouncer_port", 6432),
            pgbouncer_log_dir: v.s("pgbouncer_log_dir", "/pg/log/pgbouncer"),
            pgbouncer_poolmode: v.s("pgbouncer_poolmode", "transaction"),
            pgbouncer_sslmode: v.s("pgbouncer_sslmode", "disable"),
            pgbouncer_ignore_param: match v.get("pgbouncer_ignore_param") {
                Some(_) => v.strs("pgbouncer_ignore_param"),
                None => ["extra_float_digits", "application_name", "TimeZone", "DateStyle", "IntervalStyle", "search_path"]
                    .map(String::from)
                    .to_vec(),
            },
            pgbouncer_auth_query: v.b("pgbouncer_auth_query", false),
            pgbackrest_enabled: v.b("pgbackrest_enabled", true),
            pgbackrest_log_dir: v.s("pgbackrest_log_dir", "/pg/log/pgbackrest"),
            pgbackrest_method: v.s("pgbackrest_method", "local"),
            pgbackrest_init_backup: v.b("pgbackrest_init_backup", true),
            pgbackrest_repo: match v.get("pgbackrest_repo").and_then(Value::as_object) {
                Some(m) => m.clone(),
                None => serde_yaml::from_str::<Value>("local: { path: /pg/backup, retention_full_type: count, retention_full: 2 }")
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default(),
            },
            pg_exporter_enabled: v.b("pg_exporter_enabled", true),
            pg_exporter_port: v.port("pg_exporter_port", 9630),
            pg_exporter_params: v.s("pg_exporter_params", "sslmode=disable"),
            pg_exporter_auto_discovery: v.b("pg_exporter_auto_discovery", true),
            pg_exporter_exclude_database: v.s("pg_exporter_exclude_database", "template0,template1,postgres"),
            pg_exporter_include_database: v.s("pg_exporter_include_database", ""),
            pgbouncer_exporter_enabled: v.b("pgbouncer_exporter_enabled", true),
            pgbouncer_exporter_port: v.port("pgbouncer_exporter_port", 9631),
        })
    }

    /// `/usr/lib/postgresql/NN/bin/psql`
    pub fn psql(&self) -> crate::resources::postgres::Psql {
        crate::resources::postgres::Psql { bin: format!("{}/psql", self.bin_dir), dbsu: self.dbsu.clone(), socket: self.socket.clone(), port: self.port }
    }

    /// Where to probe a port this host listens on with `pg_listen`.
    pub fn probe_addr(&self, port: u16) -> String {
        let first = self.listen.split(',').map(str::trim).find(|a| !a.is_empty()).unwrap_or("*");
        let host = if matches!(first, "*" | "0.0.0.0" | "::") { self.ip.as_str() } else { first };
        format!("{host}:{port}")
    }

    pub fn is_primary(&self) -> bool {
        self.role == "primary"
    }

    /// Patroni's REST API on this host.
    pub fn patroni_api(&self) -> crate::resources::patroni::PatroniApi {
        crate::resources::patroni::PatroniApi::new(format!("{}:{}", self.ip, self.patroni_port), &self.patroni_username, &self.patroni_password)
    }

    /// True when the host also runs haproxy (NODE) and services are local.
    pub fn local_services(&self) -> bool {
        self.haproxy_enabled && self.service_provider.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_dir_accepts_old_and_new_pg_fs_main() {
        assert_eq!(cluster_dir("/data/postgres", "pg-meta", 15), "/data/postgres/pg-meta-15");
        assert_eq!(cluster_dir("/data", "pg-meta", 15), "/data/postgres/pg-meta-15");
        assert_eq!(cluster_dir("/export/", "pg-test", 16), "/export/postgres/pg-test-16");
    }
}
