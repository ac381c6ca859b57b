//! keepalived, for the two kinds of VIP pigsty binds:
//! - the node VIP (`vip_enabled`, `vip_address`, `vip_vrid`, `vip_role`, `vip_preempt`,
//!   `vip_interface`, `vip_auth_pass`): one address shared by the members of a node
//!   cluster (`node_cluster`) that enable it, held by the highest priority member that
//!   is up (`master` 150, `backup` 100), and with HAProxy on the node only where HAProxy
//!   runs; `vip_preempt` lets a returning master take it back;
//! - the PGSQL cluster VIP (`pg_vip_enabled`, see `modules::pgsql::vip`).
//!
//! One `/etc/keepalived/keepalived.conf` includes a file per VIP from
//! `/etc/keepalived/conf.d/`. VRRP goes unicast between the members.
use super::*;
use crate::facts::Facts;
use anyhow::anyhow;

pub const KEEPALIVED_UNIT: &str = "keepalived.service";
pub const KEEPALIVED_CONF_D: &str = "/etc/keepalived/conf.d";
pub const NODE_VIP_FILE: &str = "/etc/keepalived/conf.d/node-vip.conf";

/// keepalived installed, its main file (including conf.d) and the unit running: what
/// every VIP needs.
pub fn keepalived_base(p: &mut ModulePlan, why: &str) {
    p.add(Package::new(
        &format!("keepalived ({why})"),
        ["keepalived", "curl"],
    ));
    p.add(Dir::new(KEEPALIVED_CONF_D).mode(0o755));
    let main = crate::assets::asset("node/keepalived.conf").unwrap_or_default();
    p.add_notify(
        File::new("/etc/keepalived/keepalived.conf", main).mode(0o644),
        vec![Handler::Reload(KEEPALIVED_UNIT.into())],
    );
}

/// The interface holding `ip` on this node (`auto`), or the one named.
pub fn vip_iface(facts: &Facts, ip: &str, named: &str, key: &str) -> Result<String> {
    if !named.is_empty() && named != "auto" {
        return Ok(named.to_string());
    }
    facts.ipv4_ifaces.get(ip).cloned().ok_or_else(|| {
        anyhow!("host `{ip}`: `{key}: auto` found no interface holding {ip} on this node\nhint: set `{key}` to the interface of the node's network")
    })
}

/// `/etc/keepalived/conf.d/node-vip.conf` of this host.
pub fn node_vip_conf(ctx: &Ctx) -> Result<String> {
    let h = ctx.host;
    let cls = node_cluster(h);
    let Some(vip) = h
        .str("vip_address")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
    else {
        bail!("host `{}`: `vip_enabled: true` needs `vip_address`, the address the node cluster `{cls}` shares\nhint: for example `vip_address: 10.10.10.99`", h.addr);
    };
    if vip.parse::<std::net::Ipv4Addr>().is_err() {
        bail!(
            "host `{}`: `vip_address: {vip}` is not an IPv4 address",
            h.addr
        );
    }
    let Some(vrid) = h
        .var("vip_vrid")
        .and_then(Value::as_u64)
        .filter(|v| (1..=254).contains(v))
    else {
        bail!("host `{}`: `vip_enabled: true` needs `vip_vrid` (1-254), the VRRP router id, unique on the network\nhint: for example `vip_vrid: 128` in the vars of node cluster `{cls}`", h.addr);
    };
    let peers: Vec<String> = ctx
        .inv
        .hosts
        .iter()
        .filter(|o| o.addr != h.addr && node_cluster(o) == cls && o.var_bool("vip_enabled"))
        .map(|o| o.addr.clone())
        .collect();
    for o in ctx.inv.hosts.iter().filter(|o| peers.contains(&o.addr)) {
        if o.str("vip_address") != Some(vip.as_str())
            || o.var("vip_vrid").and_then(Value::as_u64) != Some(vrid)
        {
            bail!("host `{}`: node cluster `{cls}` has members with another `vip_address` or `vip_vrid` ({}); one node cluster shares one VIP", h.addr, o.addr);
        }
    }
    let role = h.var_str("vip_role");
    let preempt = h.var_bool("vip_preempt");
    let master = role == "master";
    let iface = vip_iface(
        ctx.facts,
        &h.addr,
        h.var_str("vip_interface"),
        "vip_interface",
    )?;
    crate::template::render(
        "node/keepalived-vip.conf.j2",
        &json!({
            "cls": cls, "vip": vip, "vrid": vrid, "role": role, "priority": if master { 150 } else { 100 },
            // nopreempt needs every member to start as BACKUP
            "state": if master && preempt { "MASTER" } else { "BACKUP" },
            "preempt": preempt, "iface": iface, "ip": h.addr, "peers": peers,
            "auth_pass": h.var_str("vip_auth_pass"), "check": h.var_bool("haproxy_enabled"),
        }),
    )
}

pub(super) fn node_vip(ctx: &Ctx, p: &mut ModulePlan) -> Result<()> {
    let h = ctx.host;
    if !h.var_bool("vip_enabled") {
        p.add_notify(
            crate::resources::Absent::new(NODE_VIP_FILE),
            vec![Handler::Reload(KEEPALIVED_UNIT.into())],
        );
        return Ok(());
    }
    if ctx.opts.packages_only {
        // what the node installs (`repo build` plans every host on the admin node,
        // whose interfaces are not the host's)
        keepalived_base(p, "vip_enabled");
        return Ok(());
    }
    let conf = node_vip_conf(ctx)?;
    keepalived_base(p, "vip_enabled");
    // 0600: it may hold vip_auth_pass
    p.add_notify(
        File::new(NODE_VIP_FILE, conf).mode(0o600),
        vec![Handler::Reload(KEEPALIVED_UNIT.into())],
    );
    p.add(Service::running(KEEPALIVED_UNIT));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(vars: &str, host: usize) -> Result<String> {
        let text = format!(
            "all:\n  children:\n    web:\n      hosts:\n        10.10.10.10: {{ vip_role: master }}\n        10.10.10.11: {{}}\n        10.10.10.12: {{ vip_enabled: false }}\n      vars: {{ node_cluster: web, vip_enabled: true, {vars} }}\n"
        );
        let inv = Inventory::unresolved("t.yml", &text);
        let mut facts = Facts::test_meta();
        facts
            .ipv4_ifaces
            .insert("10.10.10.11".into(), "ens3".into());
        let ctx = Ctx::new(&inv, &inv.hosts[host], &facts);
        node_vip_conf(&ctx)
    }

    #[test]
    fn the_master_preempts_only_with_vip_preempt() {
        let c = conf(
            "vip_address: 10.10.10.99, vip_vrid: 128, vip_preempt: true",
            0,
        )
        .unwrap();
        assert!(
            c.contains("state MASTER") && c.contains("priority 150") && !c.contains("nopreempt"),
            "{c}"
        );
        assert!(
            c.contains("unicast_peer {\n        10.10.10.11\n    }"),
            "members without vip_enabled are no peers: {c}"
        );
        assert!(
            c.contains("10.10.10.99/32 dev eth0") && c.contains("virtual_router_id 128"),
            "{c}"
        );
        assert!(
            c.contains("script \"/usr/bin/systemctl is-active --quiet haproxy.service\""),
            "{c}"
        );
        let c = conf("vip_address: 10.10.10.99, vip_vrid: 128", 0).unwrap();
        assert!(
            c.contains("state BACKUP") && c.contains("priority 150") && c.contains("nopreempt"),
            "{c}"
        );
        let c = conf(
            "vip_address: 10.10.10.99, vip_vrid: 128, vip_auth_pass: s3cret",
            1,
        )
        .unwrap();
        assert!(
            c.contains("priority 100") && c.contains("dev ens3") && c.contains("auth_pass s3cret"),
            "{c}"
        );
    }

    #[test]
    fn repo_build_plans_the_package_without_the_hosts_interface() {
        let text = "all:\n  children:\n    web:\n      hosts: { 10.9.9.9: {} }\n      vars: { node_cluster: web, vip_enabled: true, vip_address: 10.9.9.99, vip_vrid: 7 }\n";
        let inv = Inventory::unresolved("t.yml", text);
        let facts = Facts::test_meta(); // the admin node's: no 10.9.9.9 here
        let mut ctx = Ctx::new(&inv, &inv.hosts[0], &facts);
        assert!(
            node_vip_conf(&ctx).is_err(),
            "a real plan needs the interface"
        );
        ctx.opts = &crate::options::PACKAGES_ONLY;
        let mut p = ModulePlan::new("node");
        node_vip(&ctx, &mut p).unwrap();
        assert!(p.steps().any(|s| s.res.name().contains("keepalived")));
    }

    #[test]
    fn a_missing_address_or_router_id_is_an_error() {
        assert!(conf("vip_vrid: 128", 0)
            .unwrap_err()
            .to_string()
            .contains("needs `vip_address`"));
        assert!(conf("vip_address: 10.10.10.99", 0)
            .unwrap_err()
            .to_string()
            .contains("needs `vip_vrid` (1-254)"));
    }
}
