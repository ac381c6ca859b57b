//! Exporters: Debian's `prometheus-postgres-exporter` on `pg_exporter_port` (as
//! `pg_monitor_username` over the Unix socket; the DSN with its password lives in the
//! unit's environment file, 0640 root:prometheus), and our `pgbouncer_exporter` on
//! `pgbouncer_exporter_port` (a small script: Debian's prometheus-pgbouncer-exporter
//! 1.7 crashes on pgBouncer 1.18's SHOW STATS), reading pgBouncer's admin console as
//! the monitor user (a `stats_users` member) with its password in a pgpass file.
//! Both read their settings only at start: a change restarts them (cheap, no data path).
use super::params::Pg;
use crate::engine::{Handler, ModulePlan};
use crate::resources::listen::Listening;
use crate::resources::{File, Service};
use anyhow::Result;
use serde_json::json;

pub const PG_EXPORTER_UNIT: &str = "prometheus-postgres-exporter.service";
pub const PG_EXPORTER_ENV: &str = "/etc/default/prometheus-postgres-exporter";
pub const PGB_EXPORTER_UNIT: &str = "pgbouncer_exporter.service";
/// Debian's, replaced by ours: kept stopped if it is installed.
pub const DEBIAN_PGB_EXPORTER_UNIT: &str = "prometheus-pgbouncer-exporter.service";
pub const PGB_EXPORTER_BIN: &str = "/pg/bin/pgbouncer_exporter";
pub const PGB_EXPORTER_PGPASS: &str = "/pg/conf/pgbouncer_exporter.pgpass";

/// A `.pgpass` field (`:` and `\\` escaped).
fn pgpass_field(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

pub fn render_pgb_pgpass(pg: &Pg) -> String {
    format!(
        "*:{}:pgbouncer:{}:{}\n",
        pg.pgbouncer_port,
        pgpass_field(&pg.monitor_username),
        pgpass_field(&pg.monitor_password)
    )
}

pub fn render_pgb_unit(pg: &Pg) -> Result<String> {
    crate::template::render(
        "pgsql/pgbouncer_exporter.service.j2",
        &json!({"port": pg.pgbouncer_exporter_port, "user": pg.monitor_username, "dbsu": pg.dbsu, "pgpass": PGB_EXPORTER_PGPASS,
                "listen": "0.0.0.0", "socket": pg.socket, "pgbouncer_port": pg.pgbouncer_port}),
    )
}

/// Percent-encode for the userinfo/query parts of a URL.
pub fn pct(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

pub fn dsn(pg: &Pg) -> String {
    let mut q = format!("host={}", pct(&pg.socket));
    for kv in pg
        .pg_exporter_params
        .split('&')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        q.push('&');
        q.push_str(kv);
    }
    format!(
        "postgresql://{}:{}@:{}/postgres?{q}",
        pct(&pg.monitor_username),
        pct(&pg.monitor_password),
        pg.port
    )
}

pub fn render_pg_env(pg: &Pg) -> Result<String> {
    let mut args = vec![format!("--web.listen-address=:{}", pg.pg_exporter_port)];
    if pg.pg_exporter_auto_discovery {
        args.push("--auto-discover-databases".into());
        if !pg.pg_exporter_exclude_database.is_empty() {
            args.push(format!(
                "--exclude-databases={}",
                pg.pg_exporter_exclude_database
            ));
        }
        if !pg.pg_exporter_include_database.is_empty() {
            args.push(format!(
                "--include-databases={}",
                pg.pg_exporter_include_database
            ));
        }
    }
    crate::template::render(
        "pgsql/postgres-exporter.default.j2",
        &json!({"instance": pg.instance, "port": pg.pg_exporter_port, "monitor_username": pg.monitor_username,
                "dsn": dsn(pg), "args": args.join(" ")}),
    )
}

pub fn steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    let mut listen = vec![];
    if pg.pg_exporter_enabled {
        p.add_notify(
            File::new(PG_EXPORTER_ENV, render_pg_env(pg)?)
                .mode(0o640)
                .owner("root", "prometheus")
                .secret(),
            vec![Handler::Restart(PG_EXPORTER_UNIT.into())],
        );
        p.add(Service::running(PG_EXPORTER_UNIT));
        listen.push(Listening::new(
            format!("{}:{}", pg.ip, pg.pg_exporter_port),
            PG_EXPORTER_UNIT,
        ));
    }
    if pg.pgbouncer_exporter_enabled && pg.pgbouncer_enabled {
        let restart = || vec![Handler::Restart(PGB_EXPORTER_UNIT.into())];
        p.add(Service::stopped(DEBIAN_PGB_EXPORTER_UNIT));
        p.add_notify(
            File::new(
                PGB_EXPORTER_BIN,
                crate::assets::asset("pgsql/pgbouncer_exporter").unwrap_or_default(),
            )
            .mode(0o755)
            .owner(&pg.dbsu, &pg.dbsu),
            restart(),
        );
        p.add_notify(
            File::new(PGB_EXPORTER_PGPASS, render_pgb_pgpass(pg))
                .mode(0o600)
                .owner(&pg.dbsu, &pg.dbsu)
                .secret(),
            restart(),
        );
        p.add_notify(
            File::new(
                format!("/etc/systemd/system/{PGB_EXPORTER_UNIT}"),
                render_pgb_unit(pg)?,
            ),
            vec![
                Handler::DaemonReload,
                Handler::Restart(PGB_EXPORTER_UNIT.into()),
            ],
        );
        p.add(Service::running(PGB_EXPORTER_UNIT));
        listen.push(Listening::new(
            format!("{}:{}", pg.ip, pg.pgbouncer_exporter_port),
            PGB_EXPORTER_UNIT,
        ));
    }
    if !listen.is_empty() {
        p.flush();
        for l in listen {
            p.add(l);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_escapes_colons_and_backslashes() {
        let mut pg = super::super::tests::meta_pg();
        pg.monitor_password = r"a:b\c".into();
        assert_eq!(
            render_pgb_pgpass(&pg),
            "*:6432:pgbouncer:dbuser_monitor:a\\:b\\\\c\n"
        );
    }

    #[test]
    fn dsn_encodes_the_password_and_uses_the_socket() {
        let mut pg = super::super::tests::meta_pg();
        pg.monitor_password = "p@ss w/rd'%".into();
        assert_eq!(
            dsn(&pg),
            "postgresql://dbuser_monitor:p%40ss%20w%2Frd%27%25@:5432/postgres?host=%2Fvar%2Frun%2Fpostgresql&sslmode=disable"
        );
    }
}
