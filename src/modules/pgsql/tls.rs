//! TLS for Postgres and pgBouncer. The admin node issues each member a server
//! certificate from the INFRA CA (`crate::pki::for_host`), with the names clients
//! use: the member's address, its instance name, the cluster name, every member's
//! address (a client of a HAProxy service on any member may land on any member), the
//! VIP when there is one, and localhost. Here it is installed in `/pg/cert` for the
//! dbsu (`server.crt`, `server.key`, `ca.crt`); Postgres then serves `ssl = on`
//! (`tune::parameters`), `hostssl` HBA rules take effect (`hba.rs`) and pgBouncer
//! serves client TLS when `pgbouncer_sslmode` is not `disable`. A renewed
//! certificate reloads Postgres (and pgBouncer when it serves TLS).
use super::params::Pg;
use crate::engine::{Handler, ModulePlan};
use crate::inventory::{Host, Inventory};
use crate::resources::{Dir, File};
use crate::sys::Cmd;
use anyhow::{bail, Result};

/// The key of this certificate in what the controller delivers.
pub const PURPOSE: &str = "pgsql";
pub const CERT_DIR: &str = "/pg/cert";
pub const SERVER_CRT: &str = "/pg/cert/server.crt";
pub const SERVER_KEY: &str = "/pg/cert/server.key";
pub const CA_CRT: &str = "/pg/cert/ca.crt";

/// The names a member's certificate carries (the address first: the subject).
pub fn cert_names(inv: &Inventory, h: &Host) -> Vec<String> {
    let mut v = vec![h.addr.clone()];
    v.extend(h.id.pg_instance.clone());
    v.extend(h.id.pg_cluster.clone());
    v.extend(h.id.nodename.clone());
    if let Some(c) = &h.id.pg_cluster {
        v.extend(inv.cluster_members(c).iter().map(|m| m.addr.clone()));
    }
    if h.var_bool("pg_vip_enabled") {
        let vip = h.var_str("pg_vip_address");
        let ip = vip.split('/').next().unwrap_or_default();
        if ip.parse::<std::net::IpAddr>().is_ok() {
            v.push(ip.to_string());
        }
    }
    v.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|n| seen.insert(n.clone()));
    v
}

/// The certificate files in `/pg/cert`; nothing when only packages are listed.
pub fn steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    let Some(c) = crate::modules::pki::delivered(
        &pg.opts,
        PURPOSE,
        "server certificate for Postgres",
        &pg.ip,
    )?
    else {
        return Ok(());
    };
    let Some(ca) = pg.opts.pki.ca_crt.clone() else {
        bail!(
            "host `{}`: a server certificate for Postgres came without the CA that signed it",
            pg.ip
        );
    };
    let u = pg.dbsu.as_str();
    let mut reload = vec![Handler::Run(
        "reload postgres (tls)".into(),
        pg.psql().reload_cmd(),
    )];
    if pg.pgbouncer_enabled && pg.pgbouncer_sslmode != "disable" {
        // nothing to reload while pgBouncer is not running yet (first deploy)
        reload.push(Handler::Run(
            "reload pgbouncer (tls)".into(),
            Cmd::new("systemctl").args(["try-reload-or-restart", super::PGBOUNCER_UNIT]),
        ));
    }
    p.add(Dir::new(CERT_DIR).mode(0o700).owner(u, u));
    p.add_notify(
        File::new(CA_CRT, ca.clone()).mode(0o644).owner(u, u),
        reload.clone(),
    );
    p.add_notify(
        File::new(SERVER_CRT, c.crt.clone()).mode(0o644).owner(u, u),
        reload.clone(),
    );
    p.add_notify(
        File::new(SERVER_KEY, c.key.clone())
            .mode(0o600)
            .owner(u, u)
            .secret(),
        reload,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_certificate_names_what_clients_connect_to() {
        let inv = Inventory::from_str(
            "pigsty.yml",
            "all:\n  children:\n    pg-test:\n      hosts:\n        10.10.10.11: { pg_seq: 1, pg_role: primary }\n        10.10.10.12: { pg_seq: 2, pg_role: replica }\n      vars: { pg_cluster: pg-test, pg_vip_enabled: true, pg_vip_address: 10.10.10.3/24 }\n",
            &[],
        )
        .unwrap();
        let names = cert_names(&inv, inv.host("10.10.10.12").unwrap());
        assert_eq!(names[0], "10.10.10.12", "the address is the subject");
        for n in [
            "pg-test-2",
            "pg-test",
            "10.10.10.11",
            "10.10.10.3",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(names.contains(&n.to_string()), "{n} in {names:?}");
        }
        assert_eq!(names.iter().filter(|n| *n == "10.10.10.12").count(), 1);
    }

    #[test]
    fn without_a_delivered_certificate_the_plan_fails_unless_it_lists_packages() {
        let mut pg = super::super::tests::meta_pg();
        pg.opts = crate::options::PlanOptions::NONE;
        let e = steps(&mut ModulePlan::new("pgsql"), &pg)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no server certificate for Postgres came with the request"),
            "{e}"
        );
        pg.opts.packages_only = true;
        let mut p = ModulePlan::new("pgsql");
        steps(&mut p, &pg).unwrap();
        assert_eq!(p.steps().count(), 0);
    }
}
