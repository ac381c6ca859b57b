//! pgBouncer on `pgbouncer_port`: Debian's unit (`pgbouncer.service`, runs as
//! postgres, Type=notify) with our files. Every file change is a reload (SIGHUP);
//! only a listen address change needs a restart, which the `Listening` step does.
//! The userlist holds the SCRAM verifiers Postgres has (read from the catalog).
use super::params::Pg;
use super::roles::{db_defs, role_defs};
use super::PGBOUNCER_UNIT;
use crate::engine::{Handler, ModulePlan};
use crate::resources::listen::Listening;
use crate::resources::postgres::PgbouncerUserlist;
use crate::resources::{File, Service};
use anyhow::{anyhow, Result};
use serde_json::json;

pub const PGBOUNCER_DROPIN: &str = "/etc/systemd/system/pgbouncer.service.d/pigsty.conf";

pub fn render_ini(pg: &Pg) -> Result<String> {
    crate::template::render(
        "pgsql/pgbouncer.ini.j2",
        &json!({
            "instance": pg.instance, "listen": pg.listen, "port": pg.pgbouncer_port, "socket": pg.socket,
            "log_dir": pg.pgbouncer_log_dir, "dbsu": pg.dbsu, "monitor_username": pg.monitor_username,
            "sslmode": pg.pgbouncer_sslmode, "pool_mode": pg.pgbouncer_poolmode, "ignore_param": pg.pgbouncer_ignore_param,
        }),
    )
}

pub fn render_databases(pg: &Pg) -> Result<String> {
    let mut dbs = vec![];
    for d in db_defs(pg)?
        .into_iter()
        .filter(|d| d.pgbouncer && d.state != super::roles::DbState::Absent)
    {
        let mut conn = format!("host={} port={} dbname={}", pg.socket, pg.port, d.spec.name);
        if let Some(m) = &d.pool_mode {
            conn.push_str(&format!(" pool_mode={m}"));
        }
        conn.push_str(&format!(
            " pool_size={} reserve_pool={} min_pool_size={} max_db_connections={}",
            d.pool_size, d.pool_reserve, d.pool_size_min, d.pool_connlimit
        ));
        if let Some(u) = &d.pool_auth_user {
            conn.push_str(&format!(" auth_user={u}"));
        }
        dbs.push(json!({"name": d.spec.name, "conn": conn}));
    }
    crate::template::render("pgsql/database.txt.j2", &json!({ "databases": dbs }))
}

pub fn render_useropts(pg: &Pg) -> Result<String> {
    let mut users = vec![];
    for r in role_defs(pg)?
        .into_iter()
        .filter(|r| r.pgbouncer && !r.absent)
    {
        let mut o = vec![];
        if let Some(m) = &r.pool_mode {
            o.push(format!("pool_mode={m}"));
        }
        if let Some(c) = r.pool_connlimit.filter(|c| *c >= 0) {
            o.push(format!("max_user_connections={c}"));
        }
        if !o.is_empty() {
            users.push(json!({"name": r.spec.name, "opts": o.join(" ")}));
        }
    }
    crate::template::render("pgsql/useropts.txt.j2", &json!({ "users": users }))
}

pub fn render_hba(pg: &Pg) -> Result<String> {
    let rules = super::hba::render(
        &pg.pgb_default_hba_rules,
        &pg.pgb_hba_rules,
        pg,
        super::hba::Target::Pgbouncer,
    )
    .map_err(|e| anyhow!("host `{}`: pgb_hba_rules: {e}", pg.ip))?;
    crate::template::render(
        "pgsql/pg_hba.conf.j2",
        &json!({"path": "/etc/pgbouncer/pgb_hba.conf", "instance": pg.instance, "source": "pgb_default_hba_rules + pgb_hba_rules",
                "reload": "pgbouncer", "rules": super::hba::to_ctx(&rules)}),
    )
}

/// Users in the userlist: every role with `pgbouncer: true` (and not `state: absent`).
pub fn userlist_users(pg: &Pg) -> Result<Vec<String>> {
    Ok(role_defs(pg)?
        .into_iter()
        .filter(|r| r.pgbouncer && !r.absent)
        .map(|r| r.spec.name)
        .collect())
}

/// pgBouncer's HBA file; a change reloads pgBouncer.
pub fn hba_step(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    let u = pg.dbsu.as_str();
    p.add_notify(
        crate::resources::RuleFile::new(
            File::new("/etc/pgbouncer/pgb_hba.conf", render_hba(pg)?)
                .mode(0o640)
                .owner(u, u),
            "pgb_hba",
        ),
        vec![Handler::Reload(PGBOUNCER_UNIT.into())],
    );
    Ok(())
}

/// The users and databases pgBouncer knows: userlist (from the catalog), per-user
/// options, databases. Each change reloads pgBouncer.
pub fn lists_steps(p: &mut ModulePlan, pg: &Pg, users: bool, dbs: bool) -> Result<()> {
    let reload = || vec![Handler::Reload(PGBOUNCER_UNIT.into())];
    let u = pg.dbsu.as_str();
    if dbs {
        p.add_notify(
            File::new("/etc/pgbouncer/database.txt", render_databases(pg)?)
                .mode(0o640)
                .owner(u, u),
            reload(),
        );
    }
    if users {
        p.add_notify(
            File::new("/etc/pgbouncer/useropts.txt", render_useropts(pg)?)
                .mode(0o640)
                .owner(u, u),
            reload(),
        );
        p.add_notify(
            PgbouncerUserlist {
                psql: pg.psql(),
                path: "/etc/pgbouncer/userlist.txt".into(),
                users: userlist_users(pg)?,
                owner: pg.dbsu.clone(),
            },
            reload(),
        );
    }
    Ok(())
}

pub fn steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    if !pg.pgbouncer_enabled {
        return Ok(());
    }
    let reload = || vec![Handler::Reload(PGBOUNCER_UNIT.into())];
    let (u, g) = (pg.dbsu.as_str(), pg.dbsu.as_str());
    p.add_notify(
        File::new("/etc/pgbouncer/pgbouncer.ini", render_ini(pg)?)
            .mode(0o640)
            .owner(u, g),
        reload(),
    );
    hba_step(p, pg)?;
    lists_steps(p, pg, true, true)?;
    // Debian's unit keeps systemd's 1024 open files: too few for max_client_conn.
    p.add_notify(
        File::new(
            PGBOUNCER_DROPIN,
            "# written by pigsty: room for max_client_conn = 10000\n[Service]\nLimitNOFILE=16384\n",
        ),
        vec![
            Handler::DaemonReload,
            Handler::Restart(PGBOUNCER_UNIT.into()),
        ],
    );
    p.add(Service::running(PGBOUNCER_UNIT));
    p.flush();
    p.add(Listening::new(
        pg.probe_addr(pg.pgbouncer_port),
        PGBOUNCER_UNIT,
    ));
    Ok(())
}
