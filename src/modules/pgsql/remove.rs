//! Removing a PGSQL member (`pigsty pgsql rm`): the plan run on the host that leaves.
//!
//! Order: exporters, pgBouncer and Patroni stopped and disabled (Patroni stops
//! Postgres) → Postgres checked stopped → for the last member of a cluster removed
//! whole, its keys deleted from the DCS (`dcs-remove.py`, Patroni's own client) →
//! the cluster's HAProxy services on this host removed (haproxy reloaded) → configs,
//! cron and unit files removed → data (`pg_rm_data`), the local backup repository
//! (`pg_rm_backup`, only when the whole cluster goes) and packages (`pg_rm_pkg`).
//!
//! The controller removes replicas before the primary, and only removes a primary
//! together with its whole cluster.
use super::params::Pg;
use super::{backup, exporter, services, HAPROXY_UNIT, PATRONI_UNIT, PATRONI_YML, PGBOUNCER_UNIT};
use crate::engine::{Handler, ModulePlan};
use crate::resources::{Absent, Exec, Service};
use crate::sys::Cmd;
use anyhow::Result;

pub const DCS_REMOVE: &str = "/pg/bin/dcs-remove.py";

/// What goes with the member.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    /// Every member of the cluster is being removed in this run.
    pub whole: bool,
    /// This host is the last to go (the primary, removed after the replicas).
    pub last: bool,
    /// `pg_rm_data`, `pg_rm_backup`, `pg_rm_pkg`
    pub rm_data: bool,
    pub rm_backup: bool,
    pub rm_pkg: bool,
}

impl Removal {
    pub fn new(vars: &serde_json::Map<String, serde_json::Value>, whole: bool, last: bool) -> Self {
        let v = super::params::Vars(vars);
        Removal {
            whole,
            last,
            rm_data: v.b("pg_rm_data"),
            rm_backup: v.b("pg_rm_backup"),
            rm_pkg: v.b("pg_rm_pkg"),
        }
    }
}

pub fn plan(pg: &Pg, r: Removal) -> Result<ModulePlan> {
    let mut p = ModulePlan::new("pgsql");
    for unit in [
        exporter::PGB_EXPORTER_UNIT,
        exporter::PG_EXPORTER_UNIT,
        PGBOUNCER_UNIT,
        PATRONI_UNIT,
        backup::METRICS_TIMER,
    ] {
        p.add(Service::stopped(unit));
    }
    let data = pg.data.clone();
    let pid = format!("{data}/postmaster.pid");
    let pg_ctl = format!("{}/pg_ctl", pg.bin_dir.trim_end_matches('/'));
    p.add(
        Exec::new(
            "postgres stopped",
            Cmd::new(&pg_ctl)
                .args(["stop", "-D", &data, "-m", "fast", "-w"])
                .as_user(&pg.dbsu),
        )
        .unless(Cmd::new("test").args(["!", "-e", &pid]))
        .why("stop"),
    );
    if r.whole && r.last {
        // Patroni's config still names the DCS and its credentials at this point.
        let script = crate::assets::asset("pgsql/dcs-remove.py").unwrap_or_default();
        p.add(
            Exec::new(
                &format!("cluster {} removed from the DCS", pg.cluster),
                // -I: root's Python imports nothing from the working directory or PYTHON*
                Cmd::new("python3")
                    .args(["-I", "-", PATRONI_YML])
                    .stdin(script.as_bytes().to_vec()),
            )
            .unless(
                Cmd::new("sh")
                    .args([
                        "-c",
                        &format!("! test -e {PATRONI_YML} || python3 -I - {PATRONI_YML} --check"),
                    ])
                    .stdin(script.as_bytes().to_vec()),
            )
            .why("delete the cluster's keys"),
        );
    }
    for (path, _) in services::render(pg)? {
        p.add_notify(
            Absent::new(path),
            vec![Handler::Reload(HAPROXY_UNIT.into())],
        );
    }
    // the cluster's VIP (pg_vip_enabled), released on this member
    p.add_notify(
        Absent::new(super::vip::conf_path(&pg.cluster)),
        vec![Handler::Reload("keepalived.service".into())],
    );
    p.flush();
    for f in [
        PATRONI_YML.to_string(),
        backup::CONF.to_string(),
        backup::CRON.to_string(),
        exporter::PG_EXPORTER_ENV.to_string(),
        format!("/etc/systemd/system/{}", exporter::PGB_EXPORTER_UNIT),
        format!("/etc/systemd/system/{}", backup::METRICS_UNIT),
        format!("/etc/systemd/system/{}", backup::METRICS_TIMER),
        backup::METRICS_FILE.to_string(),
        backup::METRICS_SCRIPT.to_string(),
        format!("{}/pending/pgsql.json", crate::engine::STATE_DIR_DEFAULT),
    ] {
        p.add(Absent::new(f));
    }
    if r.rm_data {
        if pg.data != "/pg/data" {
            p.add(Absent::tree(&pg.data));
        }
        p.add(Absent::new("/pg"));
        p.add(Absent::tree(&pg.cluster_dir));
    }
    if r.whole && r.rm_backup {
        p.add(Absent::tree(&pg.backup_dir));
    }
    if r.rm_pkg {
        let pkgs = [
            format!("postgresql-{}", pg.version),
            "patroni".into(),
            "pgbouncer".into(),
            "pgbackrest".into(),
            "prometheus-postgres-exporter".into(),
        ];
        let mut probe = String::from("! dpkg-query -W -f '${db:Status-Abbrev}\\n'");
        for k in &pkgs {
            probe.push(' ');
            probe.push_str(k);
        }
        probe.push_str(" 2>/dev/null | grep -q '^ii'");
        p.add(
            Exec::new(
                &format!("packages {}", pkgs.join(" ")),
                Cmd::new("apt-get")
                    .args(["remove", "-y", "-q"])
                    .args(pkgs.iter().cloned())
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )
            .unless(Cmd::new("sh").args(["-c", &probe]))
            .why("remove (pg_rm_pkg)"),
        );
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::pgsql::tests::meta_pg;

    fn names(p: &ModulePlan) -> Vec<String> {
        p.steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect()
    }

    #[test]
    fn a_replica_leaves_its_data_but_not_the_backups_or_the_dcs() {
        let mut pg = meta_pg();
        pg.role = "replica".into();
        let n = names(
            &plan(
                &pg,
                Removal {
                    whole: false,
                    last: false,
                    rm_data: true,
                    rm_backup: true,
                    rm_pkg: true,
                },
            )
            .unwrap(),
        );
        let pos = |needle: &str| {
            n.iter()
                .position(|x| x.contains(needle))
                .unwrap_or_else(|| panic!("{needle} not in {n:#?}"))
        };
        assert!(pos("service patroni.service") < pos("postgres stopped"));
        assert!(pos("postgres stopped") < pos("absent /etc/haproxy/pg-meta-primary.cfg"));
        assert!(
            pos("absent /etc/haproxy/pg-meta-primary.cfg") < pos("absent /etc/patroni/patroni.yml")
        );
        assert!(
            pos("absent /etc/patroni/patroni.yml") < pos(&format!("absent {}", pg.cluster_dir))
        );
        assert!(!n.iter().any(|x| x.contains("from the DCS")), "{n:#?}");
        assert!(!n.iter().any(|x| x.ends_with(&pg.backup_dir)), "{n:#?}");
    }

    #[test]
    fn the_last_member_of_a_whole_cluster_takes_the_dcs_keys_and_the_backups() {
        let pg = meta_pg();
        let n = names(
            &plan(
                &pg,
                Removal {
                    whole: true,
                    last: true,
                    rm_data: true,
                    rm_backup: true,
                    rm_pkg: true,
                },
            )
            .unwrap(),
        );
        let pos = |needle: &str| {
            n.iter()
                .position(|x| x.contains(needle))
                .unwrap_or_else(|| panic!("{needle} not in {n:#?}"))
        };
        assert!(pos("postgres stopped") < pos("cluster pg-meta removed from the DCS"));
        assert!(
            pos("cluster pg-meta removed from the DCS") < pos("absent /etc/patroni/patroni.yml")
        );
        assert!(n.iter().any(|x| x.ends_with(&pg.backup_dir)), "{n:#?}");
    }

    #[test]
    fn pg_rm_data_false_keeps_the_data() {
        let pg = meta_pg();
        let mut vars = serde_json::Map::new();
        vars.insert("pg_rm_data".into(), serde_json::json!(false));
        vars.insert("pg_rm_pkg".into(), serde_json::json!(false));
        let n = names(&plan(&pg, Removal::new(&vars, false, false)).unwrap());
        assert!(!n.iter().any(|x| x.contains(&pg.cluster_dir)), "{n:#?}");
        assert!(!n.iter().any(|x| x.starts_with("exec packages")), "{n:#?}");
    }
}
