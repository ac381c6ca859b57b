//! `node_firewall_mode`, as Pigsty defines it, with nftables:
//! - `zone`: the intranet (`node_firewall_intranet`, addresses or CIDRs) reaches every
//!   port; everyone else only `node_firewall_public_port` (TCP). Loopback, replies to
//!   our own connections and ICMP pass. One table, `inet pigsty`, in
//!   `/etc/pigsty/firewall.nft`, loaded by `pigsty-firewall.service` (checked with
//!   `nft -c` first, replaced whole on every load, deleted when the unit stops).
//! - `off`: pigsty's table is removed and the unit disabled (no filtering by pigsty).
//! - `none`: pigsty leaves the firewall alone.
use super::*;

pub const FIREWALL_UNIT: &str = "pigsty-firewall.service";
pub const FIREWALL_UNIT_FILE: &str = "/etc/systemd/system/pigsty-firewall.service";
pub const FIREWALL_FILE: &str = "/etc/pigsty/firewall.nft";

/// `/etc/pigsty/firewall.nft` for `zone`.
pub fn firewall_nft(h: &Host) -> Result<String> {
    let (mut v4, mut v6) = (vec![], vec![]);
    let list = |k: &str| {
        h.var(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let intranet: Vec<String> = list("node_firewall_intranet")
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .collect();
    for (i, e) in intranet.iter().enumerate() {
        match crate::inventory::business::ip_or_cidr(e) {
            Some(std::net::IpAddr::V4(_)) => v4.push(e.clone()),
            Some(std::net::IpAddr::V6(_)) => v6.push(e.clone()),
            None => bail!("host `{}`: `node_firewall_intranet[{i}]` is `{e}`, not an IP address or CIDR\nhint: for example 10.0.0.0/8", h.addr),
        }
    }
    let mut ports = vec![];
    for (i, p) in list("node_firewall_public_port").iter().enumerate() {
        let n = p
            .as_u64()
            .or_else(|| p.as_str().and_then(|s| s.trim().parse().ok()));
        match n {
            Some(n) if (1..=65535).contains(&n) => ports.push(n),
            _ => bail!(
                "host `{}`: `node_firewall_public_port[{i}]` is `{p}`, not a port number",
                h.addr
            ),
        }
    }
    ports.sort_unstable();
    ports.dedup();
    crate::template::render(
        "node/firewall.nft.j2",
        &json!({ "intranet4": v4, "intranet6": v6, "public_ports": ports }),
    )
}

pub(super) fn firewall(h: &Host, p: &mut ModulePlan) -> Result<()> {
    match h.var_str("node_firewall_mode") {
        "none" => {}
        "off" => {
            p.add(Service::stopped(FIREWALL_UNIT));
            p.add_notify(
                crate::resources::Absent::new(FIREWALL_UNIT_FILE),
                vec![Handler::DaemonReload],
            );
            p.add(crate::resources::Absent::new(FIREWALL_FILE));
        }
        "zone" => {
            p.add(Package::new("nftables", ["nftables"]));
            let reload = vec![Handler::Reload(FIREWALL_UNIT.into())];
            p.add_notify(
                File::new(FIREWALL_FILE, firewall_nft(h)?).mode(0o600),
                reload.clone(),
            );
            // checked before the unit loads it (a broken file never replaces the table)
            p.add(crate::resources::Wait::new(
                "firewall rules are valid (nft -c)",
                Cmd::new("nft").args(["-c", "-f", FIREWALL_FILE]),
                Duration::from_secs(0),
            ));
            let unit = crate::assets::asset("node/pigsty-firewall.service").unwrap_or_default();
            p.add_notify(
                File::new(FIREWALL_UNIT_FILE, unit),
                vec![Handler::DaemonReload],
            );
            p.add(Service::running(FIREWALL_UNIT));
        }
        other => bail!(
            "host `{}`: `node_firewall_mode: {other}`: expected off, none or zone",
            h.addr
        ),
    }
    Ok(())
}
