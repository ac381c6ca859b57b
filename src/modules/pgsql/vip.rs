//! The cluster's L2 VIP (`pg_vip_enabled`, `pg_vip_address`, `pg_vip_interface`):
//! keepalived on every member holds the address on the member whose Patroni answers
//! `/primary`, so `VIP:5432` always reaches the primary.
//!
//! Pigsty does this with vip-manager watching the leader key. Debian 12's vip-manager
//! (1.0.2) reads etcd through the v2 API, which cannot see Patroni's etcd3 keys, so
//! pigsty uses keepalived (also a Debian package): VRRP unicast between the members,
//! with Patroni's own leader check as the only way to hold the address.
use super::params::Pg;
use crate::engine::{Handler, ModulePlan};
use crate::resources::{Absent, File, Service};
use anyhow::{bail, Result};
use serde_json::json;
use std::net::Ipv4Addr;

use crate::modules::node::vip::{KEEPALIVED_CONF_D as CONF_D, KEEPALIVED_UNIT as UNIT};

/// The file of `cluster`'s VIP.
pub fn conf_path(cluster: &str) -> String {
    format!("{CONF_D}/{cluster}.conf")
}

/// A VRRP router id (1..=255) from the cluster name, stable across runs and nodes.
pub fn vrid(cluster: &str) -> u8 {
    (crate::sys::fnv1a(cluster) % 255) as u8 + 1
}

/// `10.10.10.3/24` → (address, prefix).
fn parse_vip(pg: &Pg) -> Result<(Ipv4Addr, u8)> {
    let text = pg.vip_address.trim();
    let parsed = text.split_once('/').and_then(|(a, p)| {
        Some((
            a.parse::<Ipv4Addr>().ok()?,
            p.parse::<u8>().ok().filter(|p| (1..=32).contains(p))?,
        ))
    });
    match parsed {
        Some(v) if !v.0.is_loopback() && !v.0.is_unspecified() => Ok(v),
        _ => bail!(
            "host `{}`: `pg_vip_address: {text}` is not an IPv4 address with a prefix on the members' network\nhint: for example `pg_vip_address: 10.10.10.3/24`",
            pg.ip
        ),
    }
}

/// The keepalived file of the cluster's VIP on this member.
pub fn render(pg: &Pg) -> Result<String> {
    let (vip, prefix) = parse_vip(pg)?;
    if pg.members.iter().any(|m| m.ip == vip.to_string()) {
        bail!("host `{}`: `pg_vip_address: {}` is the address of a member; the VIP needs an address of its own", pg.ip, pg.vip_address);
    }
    let iface = if pg.vip_interface.is_empty() || pg.vip_interface == "auto" {
        crate::modules::node::vip::vip_iface(&pg.facts, &pg.ip, "auto", "pg_vip_interface")?
    } else {
        pg.vip_interface.clone()
    };
    let peers: Vec<&str> = pg
        .members
        .iter()
        .map(|m| m.ip.as_str())
        .filter(|ip| *ip != pg.ip)
        .collect();
    let ctx = json!({
        "cluster": pg.cluster, "vip": vip.to_string(), "prefix": prefix, "iface": iface,
        "ip": pg.ip, "peers": peers,
        // with patroni_ssl_enabled, curl verifies this member's Patroni against the CA
        "patroni_url": crate::resources::patroni::base_url(&pg.ip, pg.patroni_port, pg.patroni_ssl),
        "cacert": pg.patroni_ssl.then_some(crate::modules::pki::CA_CRT), "vrid": vrid(&pg.cluster),
    });
    crate::template::render("pgsql/keepalived-vip.conf.j2", &ctx)
}

pub fn steps(p: &mut ModulePlan, pg: &Pg) -> Result<()> {
    let path = conf_path(&pg.cluster);
    if !pg.vip_enabled {
        // turned off: the address is released where it was held
        p.add_notify(Absent::new(&path), vec![Handler::Reload(UNIT.into())]);
        return Ok(());
    }
    if pg.opts.packages_only {
        // `repo build`: the packages only (planned on the admin node, not the member)
        crate::modules::node::vip::keepalived_base(p, "pg_vip_enabled");
        return Ok(());
    }
    let conf = render(pg)?;
    crate::modules::node::vip::keepalived_base(p, "pg_vip_enabled");
    p.add_notify(
        File::new(&path, conf).mode(0o644),
        vec![Handler::Reload(UNIT.into())],
    );
    p.add(Service::running(UNIT));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    fn pg(vars: &str) -> Pg {
        let text = format!(
            "all:\n  children:\n    pg-test:\n      hosts:\n        10.10.10.10: {{ pg_seq: 1, pg_role: primary }}\n        10.10.10.12: {{ pg_seq: 2, pg_role: replica }}\n      vars: {{ pg_cluster: pg-test, {vars} }}\n  vars:\n    pg_admin_password: a\n    pg_monitor_password: m\n    pg_replication_password: r\n    patroni_password: p\n"
        );
        let inv = Inventory::unresolved("t.yml", &text);
        let facts = crate::facts::Facts::test_meta();
        let ctx = crate::modules::Ctx::new(&inv, &inv.hosts[0], &facts);
        super::super::member(&ctx).unwrap()
    }

    #[test]
    fn the_vip_follows_patronis_primary_check_over_unicast_vrrp() {
        let conf = render(&pg("pg_vip_enabled: true, pg_vip_address: 10.10.10.3/24")).unwrap();
        assert!(conf.contains("script \"/usr/bin/curl --silent --fail --max-time 1 --output /dev/null http://10.10.10.10:8008/primary\""), "{conf}");
        assert!(
            conf.contains("interface eth0"),
            "auto: the interface holding the member's address: {conf}"
        );
        assert!(
            conf.contains(
                "unicast_src_ip 10.10.10.10\n    unicast_peer {\n        10.10.10.12\n    }"
            ),
            "{conf}"
        );
        assert!(conf.contains("10.10.10.3/24 dev eth0"), "{conf}");
        assert!(conf.contains(&format!("virtual_router_id {}", vrid("pg-test"))));
        assert!(
            !conf.contains("weight"),
            "a failing check means FAULT, never a lower priority that could still win"
        );
    }

    #[test]
    fn bad_addresses_and_interfaces_are_errors() {
        let mut p = pg("pg_vip_enabled: true, pg_vip_address: 10.10.10.12/24");
        assert!(render(&p)
            .unwrap_err()
            .to_string()
            .contains("is the address of a member"));
        p.vip_address = "127.0.0.1/24".into(); // Pigsty's default: set pg_vip_enabled, forgot the address
        assert!(render(&p)
            .unwrap_err()
            .to_string()
            .contains("is not an IPv4 address with a prefix on the members' network"));
        p.vip_address = "10.10.10.3/24".into();
        p.facts.ipv4_ifaces.clear();
        let e = render(&p).unwrap_err().to_string();
        assert!(
            e.contains("`pg_vip_interface: auto` found no interface holding 10.10.10.10"),
            "{e}"
        );
        p.vip_interface = "ens3".into();
        assert!(render(&p).unwrap().contains("dev ens3"));
    }

    #[test]
    fn router_ids_are_stable_and_in_range() {
        assert_eq!(vrid("pg-test"), vrid("pg-test"));
        assert_ne!(vrid("pg-test"), vrid("pg-meta"));
        for c in ["a", "pg-meta", "pg-test", "zzzzzzzzzzzzzzzz"] {
            assert!(vrid(c) >= 1);
        }
    }

    #[test]
    fn packages_only_plans_need_no_interface() {
        let mut p = pg("pg_vip_enabled: true, pg_vip_address: 10.10.10.3/24");
        p.facts.ipv4_ifaces.clear();
        p.opts.packages_only = true;
        let mut plan = ModulePlan::new("pgsql");
        steps(&mut plan, &p).unwrap();
        assert!(plan.steps().any(|s| s.res.name().contains("keepalived")));
    }

    #[test]
    fn disabled_removes_the_file_only() {
        let mut plan = ModulePlan::new("pgsql");
        steps(&mut plan, &pg("pg_vip_enabled: false")).unwrap();
        let names: Vec<String> = plan
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(
            names[0].contains("/etc/keepalived/conf.d/pg-test.conf"),
            "{names:?}"
        );
    }
}
