//! ETCD module: the DCS that Patroni uses, on the hosts of group `etcd`. Debian's
//! `etcd-server` 3.4 and `etcd-client`, run from our own unit.
//!
//! - Member `<etcd_cluster>-<etcd_seq>`, data in `etcd_data` (kept forever: nothing
//!   here ever removes it), client `etcd_port`, peer `etcd_peer_port`, both HTTPS with
//!   the server certificate the admin node issued for the member (`crate::pki`,
//!   `/etc/etcd/server.{crt,key}`, CA `/etc/pki/ca.crt`); peers must present a
//!   certificate of the CA (`peer-client-cert-auth`). Clients verify the server
//!   against the CA and log in with a password.
//! - Settings are environment files: `/etc/etcd/etcd.env` (a change restarts the
//!   member) and `/etc/etcd/etcd-init.env` (bootstrap only: initial cluster, state
//!   and token, which etcd reads only with an empty data directory; adding a member to
//!   the inventory rewrites it on every member without restarting any).
//! - Our unit is written before the package is installed and starts only when
//!   `/etc/etcd/etcd.env` exists, so the package's postinst can never start a
//!   default-configured etcd.
//! - Members of a new cluster must start together (the runner converges the `etcd`
//!   group in parallel): a member is ready only once a quorum has started.
//! - Auth: the `root` user with `etcd_root_password`, auth enabled by the first member
//!   (lowest `etcd_seq`). Patroni logs in as its cluster's own user, limited to the
//!   cluster's key prefix (see [`patroni_etcd3`]; the controller makes the user on an
//!   etcd member before a PGSQL phase, `actions::etcd`); only pigsty
//!   on the admin and etcd nodes uses root.
use super::{Ctx, ScrapeTarget};
use crate::engine::{Handler, ModulePlan};
use crate::inventory::{Host, Inventory};
use crate::resources::etcd_auth::{etcdctl, EtcdMember, Membership};
use crate::resources::{Dir, EtcdAuth, File, Fresh, Package, Service, Wait};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::time::Duration;

pub const ETCD_UNIT: &str = "etcd.service";

fn cluster(h: &Host) -> String {
    h.id.etcd_cluster
        .clone()
        .unwrap_or_else(|| h.var_str("etcd_cluster").to_string())
}

fn client_port(h: &Host) -> u16 {
    h.var_port("etcd_port")
}

fn peer_port(h: &Host) -> u16 {
    h.var_port("etcd_peer_port")
}

/// Member name: `<etcd_cluster>-<etcd_seq>`.
pub fn member_name(h: &Host) -> Result<String> {
    let seq = h.id.etcd_seq.with_context(|| {
        format!(
            "host `{}` is in group `etcd` without `etcd_seq`\nhint: add `etcd_seq: N` to its entry",
            h.addr
        )
    })?;
    Ok(format!("{}-{seq}", cluster(h)))
}

/// `ip:port` of every member's client endpoint, in `etcd_seq` order: what clients
/// (Patroni's `etcd3.hosts`) connect to.
pub fn client_hosts(inv: &Inventory) -> Vec<String> {
    inv.etcd_members()
        .iter()
        .map(|m| format!("{}:{}", m.addr, client_port(m)))
        .collect()
}

/// Client URLs of every member, comma-separated (`ETCDCTL_ENDPOINTS`).
pub fn endpoints(inv: &Inventory) -> String {
    client_hosts(inv)
        .iter()
        .map(|a| format!("https://{a}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The key of the member certificate in what the controller delivers.
pub const CERT_PURPOSE: &str = "etcd";
pub const SERVER_CRT: &str = "/etc/etcd/server.crt";
pub const SERVER_KEY: &str = "/etc/etcd/server.key";
/// The CA clients and peers verify against (installed on every node by NODE).
pub const CA_CRT: &str = crate::modules::pki::CA_CRT;

/// The names a member certificate carries: its address (the subject), node name,
/// member name, and loopback (etcd also listens on 127.0.0.1).
pub fn cert_names(h: &Host) -> Vec<String> {
    let mut v = vec![h.addr.clone()];
    v.extend(h.id.nodename.clone());
    v.extend(member_name(h).ok());
    v.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|n| seen.insert(n.clone()));
    v
}

/// The etcd user of a Patroni cluster (`pg_cluster`): limited to its key prefix.
pub fn cluster_user(pg_cluster: &str) -> String {
    format!("patroni-{pg_cluster}")
}

/// That user's password: derived from `etcd_root_password` and the cluster name
/// (HMAC-SHA256), so it needs no inventory entry of its own and changes with root's.
pub fn cluster_password(root_password: &str, pg_cluster: &str) -> String {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(root_password.as_bytes())
        .expect("any key length");
    m.update(format!("pigsty-etcd-user:{pg_cluster}").as_bytes());
    hex::encode(&m.finalize().into_bytes()[..20])
}

/// The `etcd3` section Patroni needs to reach this DCS, as JSON (for a template):
/// `{ hosts: [ip:port, ...], protocol: https, cacert, username, password }`, the
/// user being the cluster's own ([`cluster_user`]), never root.
///
/// The password is `pg_etcd_password` when set (Pigsty's parameter; the controller
/// also sets it for database nodes, which never receive `etcd_root_password`), else
/// derived from `etcd_root_password` ([`cluster_password`]).
pub fn patroni_etcd3(inv: &Inventory, host: &Host) -> Result<serde_json::Value> {
    let cluster = host
        .id
        .pg_cluster
        .clone()
        .with_context(|| format!("host `{}` has no `pg_cluster`", host.addr))?;
    let password = match host.str("pg_etcd_password").filter(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => {
            let root = host.str("etcd_root_password").with_context(|| {
                format!("host `{}`: required variable `etcd_root_password` is not set (nor `pg_etcd_password`)\nhint: set it in the inventory (`pigsty configure` generates credentials)", host.addr)
            })?;
            cluster_password(root, &cluster)
        }
    };
    if password.chars().any(char::is_whitespace) {
        bail!(
            "host `{}`: the etcd password of cluster `{cluster}` (`pg_etcd_password`) must not contain whitespace",
            host.addr
        );
    }
    Ok(json!({
        "hosts": client_hosts(inv), "protocol": "https", "cacert": CA_CRT,
        "username": cluster_user(&cluster), "password": password,
    }))
}

/// `name=https://ip:peer,...` for every member of the inventory.
pub fn initial_cluster(inv: &Inventory) -> Result<String> {
    let mut v = vec![];
    for m in inv.etcd_members() {
        v.push(format!(
            "{}=https://{}:{}",
            member_name(m)?,
            m.addr,
            peer_port(m)
        ));
    }
    Ok(v.join(","))
}

fn render(ctx: &Ctx, tmpl: &str) -> Result<String> {
    let h = ctx.host;
    let data = h.var_str("etcd_data");
    if !data.starts_with('/') || data == "/" {
        bail!(
            "host `{}`: `etcd_data` `{data}` must be an absolute directory",
            h.addr
        );
    }
    let v = json!({
        "name": member_name(h)?,
        "ip": h.addr,
        "etcd_cluster": cluster(h),
        "etcd_data": data,
        "etcd_port": client_port(h),
        "etcd_peer_port": peer_port(h),
        "etcd_init": h.var_str("etcd_init"),
        "etcd_election_timeout": h.var_int("etcd_election_timeout"),
        "etcd_heartbeat_interval": h.var_int("etcd_heartbeat_interval"),
        "initial_cluster": initial_cluster(ctx.inv)?,
        "endpoints": endpoints(ctx.inv),
        "server_crt": SERVER_CRT, "server_key": SERVER_KEY, "ca_crt": CA_CRT,
    });
    crate::template::render(tmpl, &v)
}

pub fn etcd_env(ctx: &Ctx) -> Result<String> {
    render(ctx, "etcd/etcd.env.j2")
}

pub fn etcd_init_env(ctx: &Ctx) -> Result<String> {
    render(ctx, "etcd/etcd-init.env.j2")
}

pub fn etcdctl_profile(ctx: &Ctx) -> Result<String> {
    render(ctx, "etcd/etcdctl.sh.j2")
}

pub fn plan(ctx: &Ctx) -> Result<ModulePlan> {
    let h = ctx.host;
    let name = member_name(h)?;
    let password = ctx.req_str("etcd_root_password")?;
    if password.chars().any(char::is_whitespace) {
        bail!("host `{}`: `etcd_root_password` must not contain whitespace (etcdctl reads it from stdin)", h.addr);
    }
    let data = h.var_str("etcd_data").to_string();
    let unit = crate::assets::asset("etcd/etcd.service")
        .context("embedded asset `etcd/etcd.service` is missing")?;
    let restart = || vec![Handler::Restart(ETCD_UNIT.into())];
    let local = format!("https://{}:{}", h.addr, client_port(h));
    let first = ctx
        .inv
        .etcd_members()
        .first()
        .map(|m| m.addr.clone())
        .unwrap_or_default();

    let mut p = ModulePlan::new("etcd");
    // Unit first: Debian's postinst then enables ours, whose condition keeps it down
    // until the settings below exist.
    p.add_notify(
        File::new(format!("/etc/systemd/system/{ETCD_UNIT}"), unit),
        vec![Handler::DaemonReload, Handler::Restart(ETCD_UNIT.into())],
    );
    p.add(Package::new("etcd", ["etcd-server", "etcd-client"]));
    p.add(Dir::new("/etc/etcd"));
    p.add(Dir::new(&data).owner("etcd", "etcd").mode(0o700));
    // TLS: the CA and the member certificate the admin node issued
    super::pki::trust_steps(&mut p, &ctx.opts.pki);
    if let Some(c) = super::pki::delivered(ctx.opts, CERT_PURPOSE, "etcd certificate", &h.addr)? {
        p.add_notify(
            File::new(SERVER_CRT, c.crt.clone())
                .mode(0o644)
                .owner("etcd", "etcd"),
            restart(),
        );
        p.add_notify(
            File::new(SERVER_KEY, c.key.clone())
                .mode(0o600)
                .owner("etcd", "etcd")
                .secret(),
            restart(),
        );
    }
    p.add(File::new("/etc/etcd/etcd-init.env", etcd_init_env(ctx)?));
    p.add_notify(File::new("/etc/etcd/etcd.env", etcd_env(ctx)?), restart());
    p.add(File::new(
        "/etc/profile.d/etcdctl.sh",
        etcdctl_profile(ctx)?,
    ));
    if h.str("etcd_init") == Some("existing") {
        // Joining a running cluster: the member is announced to the others first
        // (`etcdctl member add`), then starts with an empty data directory.
        p.add(member_add(ctx, &data, &password)?);
    }
    p.add(Service::running(ETCD_UNIT));
    p.flush();
    // Older than its settings: a restart lost to an earlier failed run.
    p.add(Fresh::restart(
        ETCD_UNIT,
        &[
            "/etc/etcd/etcd.env",
            "/etc/systemd/system/etcd.service",
            SERVER_CRT,
            SERVER_KEY,
        ],
    ));
    // Healthy = this member serves a quorum read. Credentials are harmless while auth
    // is still off and needed once it is on.
    p.add(Wait::new(
        &format!("etcd member {name} healthy"),
        etcdctl(&local, Some(&password)).args(["endpoint", "health"]),
        Duration::from_secs(180),
    ));
    p.add(EtcdAuth {
        endpoints: local,
        root_password: password,
        manage: first == h.addr,
        manager: first,
    });
    Ok(p)
}

/// Client URLs of the members other than `h`.
fn other_endpoints(inv: &Inventory, h: &Host) -> String {
    inv.etcd_members()
        .iter()
        .filter(|m| m.addr != h.addr)
        .map(|m| format!("https://{}:{}", m.addr, client_port(m)))
        .collect::<Vec<_>>()
        .join(",")
}

fn peer_url(h: &Host) -> String {
    format!("https://{}:{}", h.addr, peer_port(h))
}

/// `etcdctl member add` on the other members, unless this member has data already
/// or the cluster lists its peer URL.
fn member_add(ctx: &Ctx, data: &str, password: &str) -> Result<EtcdMember> {
    let h = ctx.host;
    let others = other_endpoints(ctx.inv, h);
    if others.is_empty() {
        bail!(
            "host `{}`: `etcd_init: existing` but the inventory names no other etcd member to join
hint: `etcd_init: existing` is for a member added to a running cluster",
            h.addr
        );
    }
    Ok(EtcdMember {
        endpoints: others,
        root_password: password.to_string(),
        name: member_name(h)?,
        peer_url: peer_url(h),
        data_dir: data.to_string(),
        action: Membership::Add,
    })
}

/// The plan that takes this member out of its cluster (`pigsty etcd rm`): removed
/// from the member list by the others, stopped and disabled, its data and settings
/// deleted (the inventory's `etcd_data`).
pub fn plan_remove(ctx: &Ctx) -> Result<ModulePlan> {
    let h = ctx.host;
    let password = ctx.req_str("etcd_root_password")?;
    let data = h.var_str("etcd_data").to_string();
    let name = member_name(h)?;
    let peer = peer_url(h);
    let others = other_endpoints(ctx.inv, h);
    let mut p = ModulePlan::new("etcd");
    if !others.is_empty() {
        p.add(EtcdMember {
            endpoints: others,
            root_password: password.clone(),
            name: name.clone(),
            peer_url: peer.clone(),
            data_dir: data.clone(),
            action: Membership::Remove,
        });
    }
    p.add(Service::stopped(ETCD_UNIT));
    for f in [
        "/etc/etcd/etcd.env",
        "/etc/etcd/etcd-init.env",
        "/etc/profile.d/etcdctl.sh",
        SERVER_CRT,
        SERVER_KEY,
    ] {
        p.add(crate::resources::Absent::new(f));
    }
    p.add(crate::resources::Absent::tree(&data));
    Ok(p)
}

pub fn targets(_inv: &Inventory, h: &Host) -> Vec<ScrapeTarget> {
    let Ok(ins) = member_name(h) else {
        return vec![];
    };
    vec![ScrapeTarget::new(
        "etcd",
        format!("{}:{}", h.addr, client_port(h)),
        &cluster(h),
        &ins,
        &h.addr,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::node::tests::{fake_facts, meta_inventory};

    /// What a deploy delivers to an etcd member: the CA and its certificate.
    static OPTS: std::sync::LazyLock<crate::options::PlanOptions> =
        std::sync::LazyLock::new(|| {
            let cert = crate::options::CertPair {
                crt: "-----BEGIN CERTIFICATE-----\n".into(),
                key: "-----BEGIN PRIVATE KEY-----\n".into(),
            };
            crate::options::PlanOptions {
                pki: crate::options::Delivered {
                    ca_crt: Some(cert.crt.clone()),
                    certs: [(CERT_PURPOSE.to_string(), cert)].into_iter().collect(),
                },
                ..crate::options::PlanOptions::NONE
            }
        });

    fn with<T>(f: impl FnOnce(&Ctx) -> T) -> T {
        let inv = meta_inventory(&[]);
        let facts = fake_facts();
        let ctx = Ctx::new(&inv, &inv.hosts[0], &facts).with(&OPTS);
        f(&ctx)
    }

    const TRIO: &str = r#"
all:
  children:
    etcd:
      hosts:
        10.10.10.10: { etcd_seq: 1 }
        10.10.10.11: { etcd_seq: 2 }
        10.10.10.12: { etcd_seq: 3 }
      vars: { etcd_cluster: etcd }
  vars:
    etcd_root_password: fake-root
    haproxy_admin_password: fake-haproxy
"#;

    #[test]
    fn snapshot_etcd_env_files() {
        insta::assert_snapshot!("etcd_env", with(|c| etcd_env(c).unwrap()));
        insta::assert_snapshot!("etcd_init_env", with(|c| etcd_init_env(c).unwrap()));
        insta::assert_snapshot!("etcdctl_profile", with(|c| etcdctl_profile(c).unwrap()));
        insta::assert_snapshot!(
            "etcd_service",
            crate::assets::asset("etcd/etcd.service").unwrap()
        );
    }

    #[test]
    fn initial_cluster_lists_every_member_in_seq_order() {
        let inv = Inventory::from_str("trio.yml", TRIO, &[]).unwrap();
        assert_eq!(
            initial_cluster(&inv).unwrap(),
            "etcd-1=https://10.10.10.10:2380,etcd-2=https://10.10.10.11:2380,etcd-3=https://10.10.10.12:2380"
        );
        assert_eq!(
            endpoints(&inv),
            "https://10.10.10.10:2379,https://10.10.10.11:2379,https://10.10.10.12:2379"
        );
    }

    #[test]
    fn only_the_first_member_manages_auth() {
        let inv = Inventory::from_str("trio.yml", TRIO, &[]).unwrap();
        let facts = fake_facts();
        let names: Vec<String> = inv
            .hosts
            .iter()
            .map(|h| {
                let ctx = Ctx::new(&inv, h, &facts).with(&OPTS);
                let p = plan(&ctx).unwrap();
                let last = p.steps().last().unwrap();
                assert_eq!(last.res.kind(), "etcd auth");
                last.res.name()
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "root user, auth enabled",
                "root user, auth enabled (set up by 10.10.10.10)",
                "root user, auth enabled (set up by 10.10.10.10)"
            ]
        );
    }

    #[test]
    fn patroni_gets_hosts_tls_and_its_cluster_user_never_root() {
        let text = TRIO.replace("  vars:\n", "    pg-x:\n      hosts: { 10.10.10.13: { pg_seq: 1, pg_role: primary } }\n      vars: { pg_cluster: pg-x }\n  vars:\n");
        let inv = Inventory::from_str("trio.yml", &text, &[]).unwrap();
        let v = patroni_etcd3(&inv, inv.host("10.10.10.13").unwrap()).unwrap();
        assert_eq!(
            v["hosts"],
            json!(["10.10.10.10:2379", "10.10.10.11:2379", "10.10.10.12:2379"])
        );
        assert_eq!(v["protocol"], "https");
        assert_eq!(v["username"], "patroni-pg-x");
        assert_eq!(v["password"], json!(cluster_password("fake-root", "pg-x")));
        assert_ne!(
            cluster_password("fake-root", "pg-x"),
            cluster_password("fake-root", "pg-y")
        );
        assert_ne!(
            cluster_password("fake-root", "pg-x"),
            cluster_password("other-root", "pg-x")
        );
        assert!(
            !v.to_string().contains("fake-root"),
            "root's password never reaches Patroni"
        );
    }

    #[test]
    fn targets_name_the_member() {
        let t = with(|c| targets(c.inv, c.host));
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].job, "etcd");
        assert_eq!(t[0].addr, "10.10.10.10:2379");
        assert_eq!(t[0].labels["cls"], "etcd");
        assert_eq!(t[0].labels["ins"], "etcd-1");
    }

    #[test]
    fn root_password_with_whitespace_is_refused_naming_the_key() {
        let inv = meta_inventory(&["{etcd_root_password: 'two words'}"]);
        let facts = fake_facts();
        let Err(e) = plan(&Ctx::new(&inv, &inv.hosts[0], &facts).with(&OPTS)) else {
            panic!("plan accepted it")
        };
        let e = e.to_string();
        assert!(
            e.contains("`etcd_root_password`") && e.contains("10.10.10.10"),
            "{e}"
        );
    }

    #[test]
    fn password_stays_out_of_the_plan_commands() {
        let p = with(|c| plan(c).unwrap());
        for s in p.steps() {
            assert!(
                !s.res.name().contains("fake-etcd-root-password"),
                "{}",
                s.res.name()
            );
        }
    }
    fn step_names(p: &ModulePlan) -> Vec<String> {
        p.steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect()
    }

    #[test]
    fn a_member_joining_a_running_cluster_is_announced_before_it_starts() {
        let inv = Inventory::from_str("trio.yml", TRIO, &["etcd_init=existing".into()]).unwrap();
        let facts = fake_facts();
        let ctx = Ctx::new(&inv, inv.host("10.10.10.12").unwrap(), &facts).with(&OPTS);
        let n = step_names(&plan(&ctx).unwrap());
        let add = n
            .iter()
            .position(|x| x == "etcd member etcd-3 announced to the cluster")
            .expect("member add step");
        let start = n.iter().position(|x| x == "service etcd.service").unwrap();
        assert!(add < start, "{n:#?}");
        assert!(etcd_init_env(&ctx)
            .unwrap()
            .contains("ETCD_INITIAL_CLUSTER_STATE=existing"));
        let plain = Inventory::from_str("trio.yml", TRIO, &[]).unwrap();
        let ctx = Ctx::new(&plain, plain.host("10.10.10.12").unwrap(), &facts).with(&OPTS);
        assert!(!step_names(&plan(&ctx).unwrap())
            .iter()
            .any(|x| x.contains("announced")));
    }

    #[test]
    fn a_leaving_member_is_removed_by_the_others_then_stopped_and_wiped() {
        let inv = Inventory::from_str("trio.yml", TRIO, &[]).unwrap();
        let facts = fake_facts();
        let ctx = Ctx::new(&inv, inv.host("10.10.10.12").unwrap(), &facts).with(&OPTS);
        let n = step_names(&plan_remove(&ctx).unwrap());
        assert_eq!(n[0], "etcd member etcd-3 removed from the cluster");
        assert_eq!(n[1], "service etcd.service");
        assert_eq!(n.last().unwrap(), "absent /data/etcd");
    }
}
