//! PGSQL module: a Postgres cluster member run by Patroni (etcd as DCS), with
//! pgBouncer, HAProxy services, pgBackRest and exporters, in Pigsty's `/pg` layout.
//!
//! Order on a host: dbsu user → `createcluster.conf` (no distro cluster) → packages →
//! directories and links → configs (HBA, pgBackRest, patroni.yml, unit) → Patroni
//! running → ready (a running leader) → queued reloads → parameters applied, DCS
//! config, pending restarts → roles, schemas, extensions, privileges, databases (on
//! the primary) → pgBouncer → HAProxy services → stanza and first backup (primary)
//! → exporters.
//!
//! A replica gets the same plan: Patroni clones it from the leader, and every
//! catalog/backup step skips itself there (`pg_is_in_recovery()`).
use super::{Ctx, ScrapeTarget};
use crate::engine::ModulePlan;
use crate::inventory::{Host, Inventory};
use crate::resources::{Dir, Exec, File, Package, Service, Symlink};
use crate::sys::Cmd;
use anyhow::Result;

pub mod backup;
pub mod exporter;
pub mod ext;
pub mod hba;
pub mod params;
pub mod patroni;
pub mod pgbouncer;
pub mod remove;
pub mod roles;
pub mod selector;
pub mod services;
pub mod tls;
pub mod tune;
pub mod version;
pub mod vip;

use params::Pg;

pub const PATRONI_UNIT: &str = "patroni.service";
pub const PGBOUNCER_UNIT: &str = "pgbouncer.service";
pub const HAPROXY_UNIT: &str = "haproxy.service";
pub const PATRONI_YML: &str = "/etc/patroni/patroni.yml";
/// Postgres reads its HBA from here (`hba_file`), outside PGDATA: initdb wants an
/// empty data directory, and pg_basebackup/pg_rewind would overwrite a file inside.
pub const HBA_FILE: &str = "/pg/conf/pg_hba.conf";

/// The member as this run sees it: its version decided from facts, the run's options.
fn member(ctx: &Ctx) -> Result<Pg> {
    let version = version::resolve(ctx.host, ctx.facts)?;
    let mut pg = Pg::new(ctx.inv, ctx.host, ctx.facts, version)?;
    pg.opts = ctx.opts.clone();
    Ok(pg)
}

pub fn plan(ctx: &Ctx) -> Result<ModulePlan> {
    plan_for(&member(ctx)?)
}

/// The plan that removes this member (`pigsty pgsql rm`); `gone` are the hosts whose
/// PGSQL membership goes in this run.
pub fn plan_remove(ctx: &Ctx, gone: &[String]) -> Result<ModulePlan> {
    let pg = member(ctx)?;
    let cluster = ctx.inv.cluster_members(&pg.cluster);
    let whole = cluster.iter().all(|h| gone.contains(&h.addr));
    let last = ctx.host.id.pg_role == Some(crate::inventory::PgRole::Primary);
    remove::plan(&pg, remove::Removal::new(&ctx.host.vars, whole, last))
}

/// The plan for a resolved host (tests build `Pg` directly).
pub fn plan_for(pg: &Pg) -> Result<ModulePlan> {
    let mut p = ModulePlan::new("pgsql");
    let peers: Vec<String> = pg
        .members
        .iter()
        .filter(|m| m.ip != pg.ip)
        .map(|m| crate::resources::patroni::base_url(&m.ip, pg.patroni_port, pg.patroni_ssl))
        .collect();
    if !peers.is_empty() {
        p.add(crate::resources::patroni::ClusterMajor {
            cluster: pg.cluster.clone(),
            major: pg.version,
            release: format!(
                "{} {} ({})",
                pg.facts.os_id, pg.facts.os_version_id, pg.facts.os_codename
            ),
            peers,
        });
    }
    install_steps(&mut p, pg);
    ext::package_steps(&mut p, pg, &[])?;
    layout_steps(&mut p, pg);
    crate::modules::pki::trust_steps(&mut p, &pg.opts.pki);
    tls::steps(&mut p, pg)?;
    backup::config_steps(&mut p, pg)?;
    patroni::config_steps(&mut p, pg)?;
    if pg.patroni_enabled {
        patroni::run_steps(&mut p, pg)?;
        roles::steps(&mut p, pg)?;
    }
    pgbouncer::steps(&mut p, pg)?;
    services::steps(&mut p, pg)?;
    vip::steps(&mut p, pg)?;
    if pg.patroni_enabled {
        backup::run_steps(&mut p, pg)?;
    }
    exporter::steps(&mut p, pg)?;
    Ok(p)
}

pub use crate::options::Scope;
pub use params::{etcd_login, EtcdLogin};

/// The plan of one part of the module on this host.
pub fn plan_scoped(ctx: &Ctx, scope: &Scope) -> Result<ModulePlan> {
    let pg = member(ctx)?;
    plan_scope_for(&pg, scope)
}

pub fn plan_scope_for(pg: &Pg, scope: &Scope) -> Result<ModulePlan> {
    let mut p = ModulePlan::new("pgsql");
    let first = scope.names.first().cloned();
    match scope.part.as_str() {
        "user" => {
            roles::only_steps(
                &mut p,
                pg,
                &roles::Only {
                    user: first,
                    ..Default::default()
                },
            )?;
            if pg.pgbouncer_enabled {
                pgbouncer::lists_steps(&mut p, pg, true, false)?;
            }
        }
        "db" => {
            let db = first.unwrap_or_default();
            let exts: Vec<String> = roles::db_defs(pg)?
                .into_iter()
                .filter(|d| d.spec.name == db)
                .flat_map(|d| d.extensions.into_iter().map(|e| e.0))
                .collect();
            if !exts.is_empty() {
                ext::package_steps(&mut p, pg, &exts)?;
            }
            roles::only_steps(
                &mut p,
                pg,
                &roles::Only {
                    db: Some(db),
                    allow_drop: scope.allow_drop,
                    ..Default::default()
                },
            )?;
            if pg.pgbouncer_enabled {
                pgbouncer::lists_steps(&mut p, pg, false, true)?;
            }
        }
        "hba" => {
            patroni::hba_step(&mut p, pg)?;
            if pg.pgbouncer_enabled {
                pgbouncer::hba_step(&mut p, pg)?;
            }
        }
        "svc" => services::steps(&mut p, pg)?,
        "ext" => {
            ext::package_steps(&mut p, pg, &scope.names)?;
            ext::create_steps(&mut p, pg, &scope.names)?;
        }
        other => {
            anyhow::bail!("unknown part `{other}` of the pgsql module (user, db, hba, svc, ext)")
        }
    }
    Ok(p)
}

/// Packages of the module for Postgres `version`.
pub fn packages(pg: &Pg) -> Vec<String> {
    let v = pg.version;
    let mut names = vec![
        format!("postgresql-{v}"),
        format!("postgresql-client-{v}"),
        "patroni".into(),
        "python3-psycopg2".into(),
        // Patroni 3.0's `etcd3:` DCS talks to etcd's v3 JSON gateway through python-etcd's client.
        "python3-etcd".into(),
        "pgbouncer".into(),
        "pgbackrest".into(),
        "prometheus-postgres-exporter".into(),
        // our pgbouncer_exporter script runs on the python3 + psycopg2 Patroni brings
    ];
    if !pg.crontab.is_empty() {
        names.push("cron".into());
    }
    names
}

fn install_steps(p: &mut ModulePlan, pg: &Pg) {
    let u = pg.dbsu.as_str();
    let id = pg.dbsu_uid.to_string();
    // Pigsty's dbsu with a fixed uid/gid, before the packages would create one.
    p.add(
        Exec::new(
            &format!("group {u} (gid {id})"),
            Cmd::new("groupadd").args(["--system", "--gid", &id, u]),
        )
        .unless(Cmd::new("getent").args(["group", u]))
        .why("create"),
    );
    p.add(
        Exec::new(
            &format!("user {u} (uid {id})"),
            Cmd::new("useradd").args([
                "--system",
                "--uid",
                &id,
                "--gid",
                u,
                "--home-dir",
                &pg.dbsu_home,
                "--create-home",
                "--shell",
                "/bin/bash",
                "--comment",
                "PostgreSQL database superuser",
                u,
            ]),
        )
        .unless(Cmd::new("getent").args(["passwd", u]))
        .why("create"),
    );
    p.add(File::new(
        "/etc/postgresql-common/createcluster.conf",
        crate::assets::asset("pgsql/createcluster.conf").unwrap_or_default(),
    ));
    p.add(Package::new(
        &format!("postgres {} stack", pg.version),
        packages(pg),
    ));
    // Debian's umbrella unit: Patroni runs Postgres, not the distro.
    p.add(Service::stopped("postgresql.service"));
    // Pigsty's `pg_bin_dir` habit: /usr/pgsql/bin.
    p.add(Symlink::new(
        "/usr/pgsql",
        format!("/usr/lib/postgresql/{}", pg.version),
    ));
}

fn layout_steps(p: &mut ModulePlan, pg: &Pg) {
    let (u, c) = (pg.dbsu.as_str(), pg.cluster_dir.as_str());
    p.add(Dir::new(&pg.fs_main).mode(0o755));
    p.add(Dir::new(c).mode(0o755).owner(u, u));
    for (sub, mode) in [
        ("bin", 0o755),
        ("conf", 0o700),
        ("log", 0o750),
        ("tmp", 0o700),
        ("spool", 0o750),
        ("data", 0o700),
    ] {
        p.add(Dir::new(format!("{c}/{sub}")).mode(mode).owner(u, u));
    }
    p.add(Dir::new(&pg.fs_backup).mode(0o755));
    p.add(Dir::new(format!("{}/postgres", pg.fs_backup.trim_end_matches('/'))).mode(0o755));
    p.add(Dir::new(&pg.backup_dir).mode(0o750).owner(u, u));
    p.add(Symlink::new("/pg", c));
    p.add(Symlink::new(format!("{c}/backup"), &pg.backup_dir));
    if pg.data != "/pg/data" {
        p.add(Dir::new(&pg.data).mode(0o700).owner(u, u));
    }
    for d in [
        &pg.log_dir,
        &pg.patroni_log_dir,
        &pg.pgbouncer_log_dir,
        &pg.pgbackrest_log_dir,
    ] {
        p.add(Dir::new(d).mode(0o750).owner(u, u));
    }
    for d in ["/etc/patroni", "/etc/pgbackrest"] {
        p.add(Dir::new(d).mode(0o750).owner(u, u));
    }
}

/// Every file the module renders from the inventory, for review and snapshots.
pub fn rendered_files(pg: &Pg) -> Result<Vec<(String, String)>> {
    let mut v = vec![
        (PATRONI_YML.to_string(), patroni::render(pg)?),
        (HBA_FILE.to_string(), patroni::render_hba(pg)?),
        (
            "/etc/pgbouncer/pgbouncer.ini".to_string(),
            pgbouncer::render_ini(pg)?,
        ),
        (
            "/etc/pgbouncer/database.txt".to_string(),
            pgbouncer::render_databases(pg)?,
        ),
        (
            "/etc/pgbouncer/useropts.txt".to_string(),
            pgbouncer::render_useropts(pg)?,
        ),
        (
            "/etc/pgbouncer/pgb_hba.conf".to_string(),
            pgbouncer::render_hba(pg)?,
        ),
        (backup::CONF.to_string(), backup::render_conf(pg)?),
        (
            "/pg/bin/pg-backup".to_string(),
            backup::render_script(pg, "pg-backup"),
        ),
        (
            backup::ROLE_CHANGE.to_string(),
            backup::render_script(pg, "pg-role-change"),
        ),
        (backup::CRON.to_string(), backup::render_cron(pg)?),
        (
            exporter::PG_EXPORTER_ENV.to_string(),
            exporter::render_pg_env(pg)?,
        ),
        (
            format!("/etc/systemd/system/{}", exporter::PGB_EXPORTER_UNIT),
            exporter::render_pgb_unit(pg)?,
        ),
        (
            exporter::PGB_EXPORTER_PGPASS.to_string(),
            exporter::render_pgb_pgpass(pg),
        ),
    ];
    v.extend(services::render(pg)?);
    Ok(v)
}

pub fn targets(_inv: &Inventory, host: &Host) -> Vec<ScrapeTarget> {
    let (Some(cls), Some(ins)) = (
        host.id.pg_cluster.as_deref(),
        host.id.pg_instance.as_deref(),
    ) else {
        return vec![];
    };
    let v = params::Vars(&host.vars);
    let ip = host.addr.as_str();
    // (job, port parameter, enabled)
    let jobs = [
        ("pgsql", "pg_exporter_port", v.b("pg_exporter_enabled")),
        (
            "pgbouncer",
            "pgbouncer_exporter_port",
            v.b("pgbouncer_enabled") && v.b("pgbouncer_exporter_enabled"),
        ),
        ("patroni", "patroni_port", v.b("patroni_enabled")),
    ];
    jobs.iter()
        .filter(|j| j.2)
        .map(|(job, port, _)| {
            let mut t = ScrapeTarget::new(job, format!("{ip}:{}", v.port(port)), cls, ins, ip);
            if *job == "patroni" && v.b("patroni_ssl_enabled") {
                // Prometheus' own label for the scheme: the job verifies with the CA
                t.labels.insert("__scheme__".into(), "https".into());
            }
            t
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::facts::Facts;
    use serde_json::json;

    pub fn fake_facts() -> Facts {
        Facts::test_meta()
    }

    /// The meta profile rendered for 10.10.10.10 with fixed fake secrets.
    pub fn meta_inventory() -> Inventory {
        let secrets = json!({
            "dbuser_meta": "test-meta-pw", "dbuser_view": "test-view-pw",
            "grafana_admin_password": "test-grafana-pw", "grafana_view_password": "test-grafana-view-pw",
            "pg_admin_password": "test-admin-pw", "pg_monitor_password": "test-monitor-pw",
            "pg_replication_password": "test-repl-pw", "patroni_password": "test-patroni-pw",
            "haproxy_admin_password": "test-haproxy-pw", "minio_secret_key": "test-minio-pw",
            "etcd_root_password": "test-etcd-pw", "s3_key_secret": "test-s3-pw", "pgbackrest_cipher_pass": "test-cipher-pw",
        });
        let text = crate::template::render_str(
            crate::assets::profile("meta").unwrap(),
            &json!({"admin_ip": "10.10.10.10", "node_tune": "oltp", "pg_conf": "oltp.yml", "secrets": secrets}),
        )
        .unwrap();
        Inventory::unresolved("meta.yml", &text)
    }

    /// The meta member as a deploy plans it: with the CA and its server certificate.
    pub fn meta_pg() -> Pg {
        let inv = meta_inventory();
        let host = inv.host("10.10.10.10").unwrap();
        let mut pg = Pg::new(&inv, host, &fake_facts(), 15).unwrap();
        pg.opts = test_options();
        pg
    }

    pub fn test_options() -> crate::options::PlanOptions {
        let cert = crate::options::CertPair {
            crt: "-----BEGIN CERTIFICATE-----\n".into(),
            key: "-----BEGIN PRIVATE KEY-----\n".into(),
        };
        crate::options::PlanOptions {
            pki: crate::options::Delivered {
                ca_crt: Some(cert.crt.clone()),
                certs: [(tls::PURPOSE.to_string(), cert)].into_iter().collect(),
            },
            ..crate::options::PlanOptions::NONE
        }
    }

    #[test]
    fn every_rendered_file_of_the_meta_profile_matches_its_snapshot() {
        for (path, content) in rendered_files(&meta_pg()).unwrap() {
            let name = path.trim_start_matches('/').replace('/', "__");
            insta::assert_snapshot!(name, content);
        }
    }

    #[test]
    fn meta_plan_orders_install_before_patroni_before_roles() {
        let plan = plan_for(&meta_pg()).unwrap();
        let names: Vec<String> = plan
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect();
        let pos = |needle: &str| {
            names
                .iter()
                .position(|n| n.contains(needle))
                .unwrap_or_else(|| panic!("{needle} not in {names:#?}"))
        };
        assert!(pos("createcluster.conf") < pos("package postgres 15 stack"));
        assert!(pos("package postgres 15") < pos("/etc/patroni/patroni.yml"));
        assert!(pos("/etc/pgbackrest/pgbackrest.conf") < pos("service patroni.service"));
        assert!(pos("service patroni.service") < pos("patroni ready"));
        assert!(pos("patroni ready") < pos("pg role dbrole_readonly"));
        assert!(pos("pg role dbuser_meta") < pos("pg database meta"));
        assert!(pos("pg database meta") < pos("/etc/pgbouncer/userlist.txt"));
        assert!(pos("/etc/haproxy/pg-meta-primary.cfg") < pos("stanza pg-meta"));
        assert!(pos("first full backup") < pos("/etc/default/prometheus-postgres-exporter"));
    }

    #[test]
    fn meta_targets_are_pgsql_pgbouncer_and_patroni() {
        let inv = meta_inventory();
        let t = targets(&inv, inv.host("10.10.10.10").unwrap());
        let jobs: Vec<(&str, &str)> = t
            .iter()
            .map(|x| (x.job.as_str(), x.addr.as_str()))
            .collect();
        assert_eq!(
            jobs,
            vec![
                ("pgsql", "10.10.10.10:9630"),
                ("pgbouncer", "10.10.10.10:9631"),
                ("patroni", "10.10.10.10:8008")
            ]
        );
        assert_eq!(t[0].labels["cls"], "pg-meta");
        assert_eq!(t[0].labels["ins"], "pg-meta-1");
    }

    #[test]
    fn secrets_stay_out_of_non_secret_files() {
        for (path, content) in rendered_files(&meta_pg()).unwrap() {
            if path == PATRONI_YML
                || path == exporter::PG_EXPORTER_ENV
                || path == exporter::PGB_EXPORTER_PGPASS
            {
                continue;
            }
            for s in [
                "test-admin-pw",
                "test-monitor-pw",
                "test-repl-pw",
                "test-patroni-pw",
                "test-etcd-pw",
            ] {
                assert!(!content.contains(s), "{s} in {path}");
            }
        }
    }

    #[test]
    fn a_replica_gets_replica_rules_and_the_same_services() {
        let mut pg = meta_pg();
        pg.role = "replica".into();
        let files = rendered_files(&pg).unwrap();
        assert!(files
            .iter()
            .any(|(p, _)| p == "/etc/haproxy/pg-meta-replica.cfg"));
        let plan = plan_for(&pg).unwrap();
        assert!(
            plan.steps().any(|s| s.res.name() == "dbuser_meta"),
            "catalog steps stay; they skip on replicas at run time"
        );
    }

    fn scoped(part: &str, names: &[&str]) -> Vec<String> {
        let mut pg = meta_pg();
        pg.databases.push(
            json!({"name": "appdb", "owner": "dbuser_meta", "extensions": [{"name": "postgis"}]}),
        );
        let scope = Scope {
            part: part.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
            allow_drop: false,
        };
        plan_scope_for(&pg, &scope)
            .unwrap()
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect()
    }

    #[test]
    fn a_scoped_plan_holds_just_that_part() {
        assert_eq!(
            scoped("user", &["dbuser_meta"]),
            vec![
                "pg role dbuser_meta",
                "file /etc/pgbouncer/useropts.txt",
                "file /etc/pgbouncer/userlist.txt"
            ]
        );
        assert_eq!(
            scoped("db", &["appdb"]),
            vec![
                "package extension postgis",
                "pg database appdb",
                "pg privileges default privileges in appdb",
                "pg extension postgis in appdb",
                "file /etc/pgbouncer/database.txt"
            ]
        );
        assert_eq!(
            scoped("hba", &[]),
            vec![
                "file /pg/conf/pg_hba.conf",
                "file /etc/pgbouncer/pgb_hba.conf"
            ]
        );
        let svc = scoped("svc", &[]);
        assert_eq!(svc.len(), 5, "{svc:?}");
        assert!(svc.iter().all(|s| s.contains("/etc/haproxy/pg-meta-") || s == "stale files pg-meta services"), "{svc:?}");
        assert_eq!(
            scoped("ext", &["postgis"]),
            vec!["package extension postgis", "pg extension postgis in appdb"]
        );
        assert_eq!(scoped("ext", &["vector"]), Vec::<String>::new());
    }

    #[test]
    fn patroni_ssl_enabled_reaches_every_client_of_the_rest_api() {
        let text = "all:\n  children:\n    pg-test:\n      hosts:\n        10.10.10.10: { pg_seq: 1, pg_role: primary }\n        10.10.10.12: { pg_seq: 2, pg_role: replica }\n      vars: { pg_cluster: pg-test, patroni_ssl_enabled: true, pg_vip_enabled: true, pg_vip_address: 10.10.10.3/24 }\n  vars:\n    pg_admin_password: a\n    pg_monitor_password: m\n    pg_replication_password: r\n    patroni_password: p\n";
        let inv = Inventory::unresolved("t.yml", text);
        let facts = fake_facts();
        let ctx = crate::modules::Ctx::new(&inv, &inv.hosts[0], &facts);
        let pg = member(&ctx).unwrap();
        // Patroni serves https with the member's certificate and calls its peers verified
        let y = patroni::render(&pg).unwrap();
        assert!(
            y.contains("  certfile: \"/pg/cert/server.crt\"\n  keyfile: \"/pg/cert/server.key\""),
            "{y}"
        );
        assert!(
            y.contains("ctl:\n  insecure: false\n  cacert: \"/pg/cert/ca.crt\""),
            "{y}"
        );
        // pigsty's own calls
        assert_eq!(pg.patroni_api().url, "https://10.10.10.10:8008");
        // HAProxy's health checks
        let cfgs = services::render(&pg).unwrap();
        let (_, primary) = cfgs
            .iter()
            .find(|(p, _)| p.ends_with("pg-test-primary.cfg"))
            .unwrap();
        assert!(primary.contains("server pg-test-2 10.10.10.12:6432 check port 8008 check-ssl verify required ca-file /etc/pki/ca.crt weight 100"), "{primary}");
        // keepalived's check of the VIP
        let k = vip::render(&pg).unwrap();
        assert!(
            k.contains("--cacert /etc/pki/ca.crt https://10.10.10.10:8008/primary\""),
            "{k}"
        );
        // Prometheus: the patroni target says https, the job verifies with the CA
        let t = targets(&inv, &inv.hosts[0]);
        let p = t.iter().find(|t| t.job == "patroni").unwrap();
        assert_eq!(
            p.labels.get("__scheme__").map(String::as_str),
            Some("https")
        );
        assert!(t
            .iter()
            .filter(|t| t.job != "patroni")
            .all(|t| !t.labels.contains_key("__scheme__")));
        // off (the default): plain http everywhere
        let plain = meta_pg();
        assert!(!patroni::render(&plain).unwrap().contains("certfile"));
        assert!(plain.patroni_api().url.starts_with("http://"));
    }
}
