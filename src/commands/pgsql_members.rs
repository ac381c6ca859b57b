//! `pigsty pgsql add CLUSTER [IP...]` and `pigsty pgsql rm CLUSTER [IP...]`: create a
//! cluster or add replicas (NODE then PGSQL on those hosts, Patroni clones replicas
//! from the leader), and remove replicas or a whole cluster. Both refresh what other
//! hosts know about the members afterwards: the HAProxy backends of the remaining
//! members and the Prometheus targets on the infra nodes.
//!
//! `rm` asks for the cluster name typed back (or `--yes`), refuses while `pg_safeguard`
//! is on for a host it would remove, and removes the current leader only together
//! with its whole cluster (switch over first to remove it alone).
use super::confirm;
use super::deploy;
use super::pgsql::{cluster_members_state, Member};
use crate::cli::{Global, Target};
use crate::controller::Phase;
use crate::inventory::{Host, Inventory, Module};
use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// The hosts of `cluster` named by `sel` (addresses or instance names; all when empty).
fn pick<'a>(inv: &'a Inventory, cluster: &str, sel: &[String]) -> Result<Vec<&'a Host>> {
    let members = inv.cluster_members(cluster);
    if members.is_empty() {
        let known = inv.pg_clusters();
        bail!(
            "no pgsql cluster `{cluster}` in `{}`; nothing was changed\nhint: {}",
            inv.path.display(),
            if known.is_empty() {
                "the inventory defines no pgsql cluster".to_string()
            } else {
                format!("clusters: {}", known.join(", "))
            }
        );
    }
    if sel.is_empty() {
        return Ok(members);
    }
    let mut out = vec![];
    for s in sel {
        let Some(h) = members
            .iter()
            .find(|h| h.addr == *s || h.id.pg_instance.as_deref() == Some(s.as_str()))
        else {
            bail!(
                "`{s}` is not a member of `{cluster}` in `{}`; nothing was changed\nhint: members: {}",
                inv.path.display(),
                members.iter().map(|h| format!("{} ({})", h.id.pg_instance.as_deref().unwrap_or("?"), h.addr)).collect::<Vec<_>>().join(", ")
            );
        };
        if !out.iter().any(|o: &&Host| o.addr == h.addr) {
            out.push(*h);
        }
    }
    Ok(out)
}

/// Prometheus on the infra nodes learns (or forgets) targets: INFRA converged there.
fn infra_phase(inv: &Inventory) -> Option<Phase> {
    let hosts: Vec<String> = inv.infra_hosts().iter().map(|h| h.addr.clone()).collect();
    (!hosts.is_empty()).then_some(Phase {
        module: Module::Infra,
        hosts,
        remove: false,
    })
}

/// Run INFRA on the infra nodes so their scrape targets match the inventory (after
/// `join`, `pgsql add`). A failure there is reported, and the exit code says so.
pub fn refresh_monitoring(g: &Global, inv: &Inventory, forks: usize) -> Result<u8> {
    let Some(phase) = infra_phase(inv) else {
        return Ok(0);
    };
    eprintln!(
        "refreshing prometheus targets on {}",
        phase.hosts.join(", ")
    );
    let opts = deploy::options(g, forks, false)?;
    Ok(deploy::run_phases(g, inv, vec![phase], &opts).0)
}

pub fn add(g: &Global, cluster: &str, hosts: &[String]) -> Result<u8> {
    let inv = deploy::load_inventory(g)?;
    let picked = pick(&inv, cluster, hosts)?;
    let t = Target {
        limit: Some(
            picked
                .iter()
                .map(|h| h.addr.clone())
                .collect::<Vec<_>>()
                .join(","),
        ),
        modules: Some("node,pgsql".into()),
        forks: 16,
    };
    let (code, _) = deploy::converge(g, &inv, &t, crate::engine::Mode::Apply, false)?;
    if code != 0 {
        return Ok(code);
    }
    refresh_monitoring(g, &inv, 16)
}

/// Which members may go, given the live state: the leader only with the whole cluster.
pub fn check_removal(
    cluster: &str,
    gone: &[&Host],
    whole: bool,
    live: Option<&[Member]>,
) -> Result<(), String> {
    if whole {
        return Ok(());
    }
    let Some(ms) = live else {
        return Err(format!(
            "cannot read the members of `{cluster}` from patroni, so cannot tell whether a host to remove is the leader; nothing was changed\nhint: `pigsty status {cluster}`; removing the whole cluster (`pigsty pgsql rm {cluster}`) needs no leader"
        ));
    };
    for m in ms
        .iter()
        .filter(|m| matches!(m.role.as_str(), "leader" | "master" | "standby_leader"))
    {
        if gone
            .iter()
            .any(|h| h.addr == m.host || h.id.pg_instance.as_deref() == Some(m.name.as_str()))
        {
            return Err(format!(
                "`{}` ({}) is the leader of `{cluster}`; removing it alone would force a failover; nothing was changed\nhint: `pigsty pgsql switchover {cluster}` first, then remove it",
                m.name, m.host
            ));
        }
    }
    Ok(())
}

pub fn rm(g: &Global, cluster: &str, hosts: &[String], yes: bool) -> Result<u8> {
    let inv = deploy::load_inventory(g)?;
    let members = inv.cluster_members(cluster);
    let gone = pick(&inv, cluster, hosts)?;
    let whole = members
        .iter()
        .all(|m| gone.iter().any(|h| h.addr == m.addr));
    let guarded = super::pgsql::safeguarded(&gone);
    if !guarded.is_empty() {
        bail!(
            "pg_safeguard is on for {guarded}; refusing to remove; nothing was changed\nhint: set `pg_safeguard: false` for it in the inventory (or pass -e pg_safeguard=false) when you mean it"
        );
    }
    let live = cluster_members_state(&members).ok();
    check_removal(cluster, &gone, whole, live.as_deref()).map_err(anyhow::Error::msg)?;

    let v = |h: &Host, k: &str| h.bool(k).unwrap_or(true);
    let mut what = if whole {
        format!(
            "remove the whole cluster `{cluster}` ({} members) and its keys in the DCS:",
            gone.len()
        )
    } else {
        format!("remove {} member(s) of `{cluster}`:", gone.len())
    };
    for h in &gone {
        let mut parts = vec!["stop patroni, postgres, pgbouncer and the exporters".to_string()];
        if v(h, "pg_rm_data") {
            parts.push("delete the data directory (pg_rm_data)".into());
        }
        if whole && v(h, "pg_rm_backup") {
            parts.push("delete local backups (pg_rm_backup)".into());
        }
        if v(h, "pg_rm_pkg") {
            parts.push("remove the postgres packages (pg_rm_pkg)".into());
        }
        what.push_str(&format!(
            "\n  {} ({}): {}",
            h.id.pg_instance.as_deref().unwrap_or("?"),
            h.addr,
            parts.join("; ")
        ));
    }
    if yes {
        eprintln!("{what}");
    } else {
        confirm(cluster, &what)?;
    }

    let gone_addrs: Vec<String> = gone.iter().map(|h| h.addr.clone()).collect();
    let mut opts = deploy::options(g, 16, false)?;
    opts.forget = BTreeMap::from([(Module::Pgsql.to_string(), gone_addrs.clone())]);
    // replicas first; the primary (only with its whole cluster) last
    let is_primary = |h: &&&Host| h.id.pg_role == Some(crate::inventory::PgRole::Primary);
    let (primary, replicas): (Vec<&&Host>, Vec<&&Host>) = gone.iter().partition(is_primary);
    let mut phases = vec![];
    for group in [replicas, primary] {
        if !group.is_empty() {
            phases.push(Phase {
                module: Module::Pgsql,
                hosts: group.iter().map(|h| h.addr.clone()).collect(),
                remove: true,
            });
        }
    }
    let rest: Vec<String> = members
        .iter()
        .filter(|m| !gone_addrs.contains(&m.addr))
        .map(|m| m.addr.clone())
        .collect();
    if !rest.is_empty() {
        phases.push(Phase {
            module: Module::Pgsql,
            hosts: rest,
            remove: false,
        });
    }
    phases.extend(infra_phase(&inv));
    let (code, _) = deploy::run_phases(g, &inv, phases, &opts);
    if code == 0 {
        eprintln!(
            "removed {}; hint: take {} out of `{cluster}` in `{}`, or the next `pigsty deploy` installs {} again",
            gone_addrs.join(", "),
            if gone_addrs.len() == 1 { "it" } else { "them" },
            inv.path.display(),
            if gone_addrs.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let text = r#"
all:
  children:
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12: { pg_seq: 2, pg_role: replica }
        10.10.10.13: { pg_seq: 3, pg_role: replica, pg_offline_query: true }
      vars: { pg_cluster: pg-test }
"#;
        Inventory::unresolved("t.yml", text)
    }

    fn m(name: &str, host: &str, role: &str) -> Member {
        Member {
            name: name.into(),
            host: host.into(),
            role: role.into(),
            state: "running".into(),
            lag: Some(0),
            nofailover: false,
        }
    }

    #[test]
    fn members_are_picked_by_address_or_instance_and_strangers_refused() {
        let inv = inv();
        let p = pick(&inv, "pg-test", &["pg-test-3".into(), "10.10.10.12".into()]).unwrap();
        assert_eq!(
            p.iter().map(|h| h.addr.as_str()).collect::<Vec<_>>(),
            vec!["10.10.10.13", "10.10.10.12"]
        );
        assert_eq!(pick(&inv, "pg-test", &[]).unwrap().len(), 3);
        let e = pick(&inv, "pg-test", &["10.10.10.99".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`10.10.10.99` is not a member of `pg-test`")
                && e.contains("pg-test-1 (10.10.10.11)"),
            "{e}"
        );
        let e = pick(&inv, "pg-nope", &[]).unwrap_err().to_string();
        assert!(
            e.contains("no pgsql cluster `pg-nope`") && e.contains("clusters: pg-test"),
            "{e}"
        );
    }

    #[test]
    fn the_leader_goes_only_with_its_whole_cluster() {
        let inv = inv();
        let live = vec![
            m("pg-test-2", "10.10.10.12", "leader"),
            m("pg-test-1", "10.10.10.11", "replica"),
            m("pg-test-3", "10.10.10.13", "replica"),
        ];
        let h = |a: &str| inv.host(a).unwrap();
        assert!(check_removal("pg-test", &[h("10.10.10.13")], false, Some(&live)).is_ok());
        assert!(
            check_removal("pg-test", &[h("10.10.10.11")], false, Some(&live)).is_ok(),
            "pg_role says primary but it is a replica now"
        );
        let e = check_removal("pg-test", &[h("10.10.10.12")], false, Some(&live)).unwrap_err();
        assert!(
            e.contains("is the leader") && e.contains("switchover"),
            "{e}"
        );
        assert!(check_removal("pg-test", &[h("10.10.10.13")], false, None)
            .unwrap_err()
            .contains("cannot read"));
        let all: Vec<&Host> = inv.cluster_members("pg-test");
        assert!(check_removal("pg-test", &all, true, None).is_ok());
    }
}
