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
    /// `patroni_ssl_enabled`: the REST API serves https with the member's certificate
    /// (`/pg/cert`), and every client (members, HAProxy checks, keepalived, Prometheus,
    /// pigsty) verifies it against the INFRA CA.
    pub patroni_ssl: bool,
    /// `patroni_mode`: `default`, or `pause` (the cluster kept in maintenance mode).
    pub patroni_mode: String,
    /// A standby cluster: the upstream primary's address (`pg_upstream` on the
    /// cluster's leader), replicated from at `pg_port`.
    pub upstream: Option<String>,
    /// `pg_delay` in milliseconds (0: none): a delayed replica, or the standby
    /// cluster leader's apply delay.
    pub delay_ms: u64,
    /// `pg_vip_enabled`, `pg_vip_address` (`10.10.10.3/24`), `pg_vip_interface`.
    pub vip_enabled: bool,
    pub vip_address: String,
    pub vip_interface: String,
    pub patroni_log_dir: String,
    pub patroni_username: String,
    pub patroni_password: String,
    pub watchdog_mode: String,
    pub etcd_hosts: Vec<String>,
    /// `Some((user, password))` when Patroni logs in to etcd.
    pub etcd_auth: Option<(String, String)>,

    // business
    pub users: Vec<Value>,
    pub databases: Vec<Value>,
    pub default_roles: Vec<Value>,
    /// `pg_default_privileges`, parsed (`validate` refused any entry that does not parse).
    pub default_privileges: Vec<crate::names::DefaultGrant>,
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

pub use crate::inventory::Vars;

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

/// Whether Patroni logs in to etcd, and as whom: what the ETCD module says clients
/// use (`etcd::patroni_etcd3`: the cluster's own user, auth always on there).
/// `etcd_auth: false` (a host variable) turns the login off here, for an etcd run
/// without RBAC. Logging in to an etcd without auth is harmless anyway (Patroni notes
/// "authentication is not enabled" and goes on).
/// The base URL of `host`'s Patroni REST API as the inventory sets it (`patroni_port`,
/// `patroni_ssl_enabled`), for those that reach a member outside its own plan.
pub fn patroni_url(host: &Host) -> String {
    crate::resources::patroni::base_url(
        &host.addr,
        host.var_port("patroni_port"),
        host.var_bool("patroni_ssl_enabled"),
    )
}

pub fn etcd_auth(inv: &Inventory, host: &Host) -> Option<(String, String)> {
    let l = etcd_login(inv, host)?.ok()?;
    Some((l.user, l.password))
}

/// A cluster's etcd login: the user, its password and the keys it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdLogin {
    pub user: String,
    pub password: String,
    /// `<pg_namespace>/<pg_cluster>/`
    pub prefix: String,
}

/// The etcd login of `host`'s cluster, for the controller (which makes the user on an
/// etcd member, and sends the password to the cluster's nodes as `pg_etcd_password`);
/// None with `etcd_auth: false`; an error when no password can be had.
pub fn etcd_login(inv: &Inventory, host: &Host) -> Option<Result<EtcdLogin>> {
    let v = Vars(&host.vars);
    if !v.b_or("etcd_auth", true) {
        return None;
    }
    Some(
        crate::modules::etcd::patroni_etcd3(inv, host).map(|j| EtcdLogin {
            user: j["username"].as_str().unwrap_or_default().to_string(),
            password: j["password"].as_str().unwrap_or_default().to_string(),
            prefix: format!(
                "{}/{}/",
                v.s("pg_namespace").trim_end_matches('/'),
                host.id.pg_cluster.clone().unwrap_or_default()
            ),
        }),
    )
}

impl Pg {
    /// Resolve everything for `host`, with Postgres major `version` already chosen.
    pub fn new(inv: &Inventory, host: &Host, facts: &Facts, version: u32) -> Result<Pg> {
        let v = Vars(&host.vars);
        let Some(cluster) = host.id.pg_cluster.clone() else {
            bail!(
                "host `{}`: `pg_cluster` is not set; the pgsql module needs it",
                host.addr
            );
        };
        let Some(seq) = host.id.pg_seq else {
            bail!(
                "host `{}`: `pg_seq` is not set; the pgsql module needs it",
                host.addr
            );
        };
        let role = host
            .id
            .pg_role
            .map(|r| r.to_string())
            .unwrap_or_else(|| "replica".into());
        let req = |k: &str| -> Result<String> {
            match host.str(k) {
                Some(s) if !s.is_empty() => Ok(s.to_string()),
                _ => bail!(
                    "host `{}`: required variable `{k}` is not set\nhint: set it in the inventory (`pigsty configure` generates credentials)",
                    host.addr
                ),
            }
        };
        let fs_main = v.s("pg_fs_main");
        let fs_backup = v.s("pg_fs_backup");
        let members = inv
            .cluster_members(&cluster)
            .into_iter()
            .map(|h| Member {
                ip: h.addr.clone(),
                seq: h.id.pg_seq.unwrap_or(0),
                instance: h
                    .id
                    .pg_instance
                    .clone()
                    .unwrap_or_else(|| format!("{cluster}-{}", h.id.pg_seq.unwrap_or(0))),
                role: h
                    .id
                    .pg_role
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "replica".into()),
                vars: h.vars.clone(),
            })
            .collect();
        let etcd_hosts = crate::modules::etcd::client_hosts(inv);
        let mut infra_ips: Vec<String> = inv
            .infra_hosts()
            .into_iter()
            .map(|h| h.addr.clone())
            .collect();
        let admin_ip = v.s("admin_ip");
        if infra_ips.is_empty() && !admin_ip.is_empty() {
            infra_ips.push(admin_ip.clone());
        }
        let pg_conf = v.s("pg_conf");
        let conf = pg_conf
            .trim_end_matches(".yml")
            .trim_end_matches(".yaml")
            .rsplit('/')
            .next()
            .unwrap_or("oltp")
            .to_string();
        if !["oltp", "olap", "crit", "tiny"].contains(&conf.as_str()) {
            bail!("host `{}`: `pg_conf: {pg_conf}` is not a known template\nhint: use one of oltp.yml, olap.yml, crit.yml, tiny.yml", host.addr);
        }
        let pwd_enc = v.s("pg_pwd_enc");
        if pwd_enc != "scram-sha-256" {
            bail!("host `{}`: `pg_pwd_enc: {pwd_enc}` is not supported; pigsty stores SCRAM verifiers\nhint: use scram-sha-256", host.addr);
        }
        let sslmode = v.s("pgbouncer_sslmode");
        if ![
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ]
        .contains(&sslmode.as_str())
        {
            bail!("host `{}`: `pgbouncer_sslmode: {sslmode}` is not a pgBouncer client_tls_sslmode\nhint: disable, allow, prefer, require, verify-ca or verify-full", host.addr);
        }
        let crontab = v.strs("pg_crontab");
        let patroni_mode = v.s("patroni_mode");
        if !["default", "pause"].contains(&patroni_mode.as_str()) {
            bail!(
                "host `{}`: `patroni_mode: {patroni_mode}` is not supported: pigsty runs Postgres under Patroni\nhint: `default`, or `pause` to keep the cluster in maintenance mode",
                host.addr
            );
        }
        let upstream = inv
            .cluster_members(&cluster)
            .iter()
            .find(|h| h.id.pg_role == Some(crate::inventory::PgRole::Primary))
            .and_then(|h| h.id.pg_upstream.clone());
        Ok(Pg {
            facts: facts.clone(),
            opts: crate::options::PlanOptions::NONE,
            ip: host.addr.clone(),
            instance: host
                .id
                .pg_instance
                .clone()
                .unwrap_or_else(|| format!("{cluster}-{seq}")),
            cluster_dir: cluster_dir(&fs_main, &cluster, version),
            backup_dir: format!(
                "{}/postgres/{cluster}-{version}",
                fs_backup.trim_end_matches('/')
            ),
            cluster,
            seq,
            role,
            offline_query: v.b("pg_offline_query"),
            version,
            members,
            dbsu: v.s("pg_dbsu"),
            dbsu_uid: v.i("pg_dbsu_uid"),
            dbsu_home: v.s("pg_dbsu_home"),
            bin_dir: format!("/usr/lib/postgresql/{version}/bin"),
            data: v.s("pg_data"),
            fs_main,
            fs_backup,
            listen: v.s("pg_listen"),
            port: v.port("pg_port"),
            socket: v.s("pg_localhost"),
            log_dir: v.s("pg_log_dir"),
            conf,
            max_conn: v.get("pg_max_conn").cloned().unwrap_or_default(),
            shared_buffer_ratio: v.f("pg_shared_buffer_ratio").clamp(0.1, 0.4),
            storage_type: v.s("pg_storage_type"),
            libs: v.s("pg_libs"),
            checksum: v.b("pg_checksum"),
            pwd_enc,
            encoding: v.s("pg_encoding"),
            locale: v.s("pg_locale"),
            lc_collate: v.s("pg_lc_collate"),
            lc_ctype: v.s("pg_lc_ctype"),
            parameters: v.dict("pg_parameters"),
            rto: v.get("pg_rto").cloned().unwrap_or_default(),
            rto_plan: v.dict("pg_rto_plan"),
            rpo: v.i("pg_rpo"),
            dbsu_password: v.s("pg_dbsu_password"),
            replication_username: v.s("pg_replication_username"),
            replication_password: req("pg_replication_password")?,
            admin_username: v.s("pg_admin_username"),
            admin_password: req("pg_admin_password")?,
            monitor_username: v.s("pg_monitor_username"),
            monitor_password: req("pg_monitor_password")?,
            patroni_enabled: v.b("patroni_enabled"),
            namespace: v.s("pg_namespace"),
            patroni_port: v.port("patroni_port"),
            patroni_ssl: v.b("patroni_ssl_enabled"),
            upstream,
            patroni_mode,
            delay_ms: delay_ms(host, v.get("pg_delay"))?,
            vip_enabled: v.b("pg_vip_enabled"),
            vip_address: v.s("pg_vip_address"),
            vip_interface: v.s("pg_vip_interface"),
            patroni_log_dir: v.s("patroni_log_dir"),
            patroni_username: v.s("patroni_username"),
            patroni_password: req("patroni_password")?,
            watchdog_mode: v.s("patroni_watchdog_mode"),
            etcd_hosts,
            etcd_auth: etcd_auth(inv, host),
            users: v.list("pg_users"),
            databases: v.list("pg_databases"),
            default_roles: v.list("pg_default_roles"),
            default_privileges: {
                let l = v.list("pg_default_privileges");
                l.iter()
                    .filter_map(|x| x.as_str())
                    .filter_map(|x| crate::names::DefaultGrant::parse(x).ok())
                    .collect()
            },
            default_schemas: match v.get("pg_default_schemas") {
                Some(_) => v.strs("pg_default_schemas"),
                None => vec!["monitor".into()],
            },
            default_extensions: v.list("pg_default_extensions"),
            hba_rules: v.list("pg_hba_rules"),
            default_hba_rules: v.list("pg_default_hba_rules"),
            pgb_hba_rules: v.list("pgb_hba_rules"),
            pgb_default_hba_rules: v.list("pgb_default_hba_rules"),
            services: v.list("pg_services"),
            default_services: v.list("pg_default_services"),
            default_service_dest: v.s("pg_default_service_dest"),
            service_provider: v.s("pg_service_provider"),
            weight: v.i("pg_weight"),
            crontab,
            extensions: v.strs("pg_extensions"),
            safeguard: v.b("pg_safeguard"),
            provision: v.b("pg_provision"),
            admin_ip,
            infra_ips,
            haproxy_enabled: v.b("haproxy_enabled"),
            haproxy_client_timeout: v.s("haproxy_client_timeout"),
            haproxy_server_timeout: v.s("haproxy_server_timeout"),
            pgbouncer_enabled: v.b("pgbouncer_enabled"),
            pgbouncer_port: v.port("pgbouncer_port"),
            pgbouncer_log_dir: v.s("pgbouncer_log_dir"),
            pgbouncer_poolmode: v.s("pgbouncer_poolmode"),
            pgbouncer_sslmode: v.s("pgbouncer_sslmode"),
            pgbouncer_ignore_param: match v.get("pgbouncer_ignore_param") {
                Some(_) => v.strs("pgbouncer_ignore_param"),
                None => [
                    "extra_float_digits",
                    "application_name",
                    "TimeZone",
                    "DateStyle",
                    "IntervalStyle",
                    "search_path",
                ]
                .map(String::from)
                .to_vec(),
            },
            pgbouncer_auth_query: v.b("pgbouncer_auth_query"),
            pgbackrest_enabled: v.b("pgbackrest_enabled"),
            pgbackrest_log_dir: v.s("pgbackrest_log_dir"),
            pgbackrest_method: v.s("pgbackrest_method"),
            pgbackrest_init_backup: v.b("pgbackrest_init_backup"),
            pgbackrest_repo: match v.get("pgbackrest_repo").and_then(Value::as_object) {
                Some(m) => m.clone(),
                None => serde_yaml::from_str::<Value>(
                    "local: { path: /pg/backup, retention_full_type: count, retention_full: 2 }",
                )
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default(),
            },
            pg_exporter_enabled: v.b("pg_exporter_enabled"),
            pg_exporter_port: v.port("pg_exporter_port"),
            pg_exporter_params: v.s("pg_exporter_params"),
            pg_exporter_auto_discovery: v.b("pg_exporter_auto_discovery"),
            pg_exporter_exclude_database: v.s("pg_exporter_exclude_database"),
            pg_exporter_include_database: v.s("pg_exporter_include_database"),
            pgbouncer_exporter_enabled: v.b("pgbouncer_exporter_enabled"),
            pgbouncer_exporter_port: v.port("pgbouncer_exporter_port"),
        })
    }

    /// `/usr/lib/postgresql/NN/bin/psql`
    /// Postgres serves TLS: a server certificate came with the request (`tls.rs`).
    pub fn tls(&self) -> bool {
        self.opts.pki.certs.contains_key(super::tls::PURPOSE)
    }

    pub fn psql(&self) -> crate::resources::postgres::Psql {
        crate::resources::postgres::Psql {
            bin: format!("{}/psql", self.bin_dir),
            dbsu: self.dbsu.clone(),
            socket: self.socket.clone(),
            port: self.port,
        }
    }

    /// Where to probe a port this host listens on with `pg_listen`.
    pub fn probe_addr(&self, port: u16) -> String {
        let first = self
            .listen
            .split(',')
            .map(str::trim)
            .find(|a| !a.is_empty())
            .unwrap_or("*");
        let host = if matches!(first, "*" | "0.0.0.0" | "::") {
            self.ip.as_str()
        } else {
            first
        };
        format!("{host}:{port}")
    }

    /// This member is a delayed replica (`pg_delay` on a replica).
    pub fn delayed(&self) -> bool {
        self.delay_ms > 0 && !self.is_primary()
    }

    pub fn is_primary(&self) -> bool {
        self.role == "primary"
    }

    /// Patroni's REST API on this host.
    pub fn patroni_api(&self) -> crate::resources::patroni::PatroniApi {
        crate::resources::patroni::PatroniApi::new(
            crate::resources::patroni::base_url(&self.ip, self.patroni_port, self.patroni_ssl),
            &self.patroni_username,
            &self.patroni_password,
        )
    }

    /// True when the host also runs haproxy (NODE) and services are local.
    pub fn local_services(&self) -> bool {
        self.haproxy_enabled && self.service_provider.is_empty()
    }
}

/// `pg_delay` (`1min`, `1h`, `30s`, a number of milliseconds) in milliseconds.
fn delay_ms(host: &crate::inventory::Host, v: Option<&serde_json::Value>) -> Result<u64> {
    let bad = || {
        anyhow::anyhow!(
            "host `{}`: `pg_delay` is not a delay like `1min`, `1h` or a number of milliseconds",
            host.addr
        )
    };
    let Some(v) = v else { return Ok(0) };
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    let s = v.as_str().ok_or_else(bad)?.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let n: f64 = s[..split].parse().map_err(|_| bad())?;
    let per = match s[split..].trim() {
        "" | "ms" => 1.0,
        "s" => 1e3,
        "m" | "min" => 6e4,
        "h" => 3.6e6,
        "d" => 8.64e7,
        _ => return Err(bad()),
    };
    Ok((n * per).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_dir_accepts_old_and_new_pg_fs_main() {
        assert_eq!(
            cluster_dir("/data/postgres", "pg-meta", 15),
            "/data/postgres/pg-meta-15"
        );
        assert_eq!(
            cluster_dir("/data", "pg-meta", 15),
            "/data/postgres/pg-meta-15"
        );
        assert_eq!(
            cluster_dir("/export/", "pg-test", 16),
            "/export/postgres/pg-test-16"
        );
    }
}
