//! MINIO module: S3 object storage for backups, on the hosts of a `minio_cluster`
//! (`minio_seq` numbers the members), with Pigsty's parameters and an engine choice
//! (`minio_engine`):
//!
//! - `garage` (default): Garage, a maintained S3 server (crates.io `garage`). Upstream
//!   MinIO's repository was archived and its binaries are hard to get; Garage installs
//!   anywhere. Its single binary comes from the infra node's local repository
//!   (`<repo_endpoint>/<repo_name>/garage`, checked against `SHA256SUMS`; a user puts it
//!   there with `pigsty repo add FILE`).
//! - `minio`: accepted by the parameter model; planning it fails with a clear error (its
//!   provisioning is not built).
//!
//! Layout on a member (garage):
//! - user `minio_user`, data in `minio_data` (`meta/`, `data/`), settings in
//!   `/etc/garage/garage.toml` (root:minio 0640, holds the secrets), unit `garage.service`;
//! - the S3 API listens on `127.0.0.1:3900`; HAProxy serves it on `minio_port` (9000)
//!   over HTTPS (`minio_https`) with a certificate the INFRA CA signed for
//!   `minio_domain`, the member's name (`minio_node`) and address;
//! - the admin API (health, `/metrics` for Prometheus, bearer-token admin calls) on
//!   `<ip>:minio_admin_port` (9001); the admin token is `minio_secret_key`, the RPC
//!   secret between members is derived from it and the cluster name;
//! - RPC between members on `<ip>:3901`; replication factor min(members, 3), one zone
//!   per member.
//!
//! The first member (lowest `minio_seq`) connects the members, applies the layout, and
//! provisions `minio_buckets` and `minio_users` (`access_key`/`secret_key` imported as
//! they are). A user's `policy` names its bucket (Pigsty's convention: policy `pgsql` is
//! read/write on bucket `pgsql`); `readwrite`/`readonly`/`consoleAdmin` span every bucket.
//! Every other permission of the key is revoked: a key works only for its buckets.
use super::{Ctx, ScrapeTarget};
use crate::engine::{Handler, ModulePlan};
use crate::inventory::{Host, Inventory};
use crate::resources::garage::{
    GarageApi, GarageBucket, GarageGrants, GarageKey, GarageLayout, GarageMember, Perm,
};
use crate::resources::repo_binary::RepoBinary;
use crate::resources::{Absent, Dir, File, Fresh, Service, Wait};
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

pub const UNIT: &str = "garage.service";
pub const CONF: &str = "/etc/garage/garage.toml";
pub const HEADER: &str = "/etc/garage/admin.header";
pub const S3_PORT: u16 = 3900;
pub const RPC_PORT: u16 = 3901;
/// Capacity announced per member (Garage uses it only as a relative weight).
const CAPACITY: u64 = 1_000_000_000_000;

/// One member's settings.
#[derive(Debug, Clone)]
pub struct Minio {
    pub cluster: String,
    pub seq: u32,
    pub ip: String,
    pub name: String,
    pub node: String,
    pub engine: String,
    pub user: String,
    pub data: String,
    pub port: u16,
    pub admin_port: u16,
    pub domain: String,
    pub https: bool,
    pub secret: String,
}

pub fn cluster_of(h: &Host) -> Option<String> {
    h.id.minio_cluster
        .clone()
        .or_else(|| h.str("minio_cluster").map(String::from))
}

impl Minio {
    pub fn new(h: &Host) -> Result<Minio> {
        let cluster = cluster_of(h)
            .with_context(|| format!("host `{}`: MINIO needs `minio_cluster`", h.addr))?;
        let seq = h.id.minio_seq.with_context(|| {
            format!("host `{}` is in minio cluster `{cluster}` without `minio_seq`\nhint: add `minio_seq: N` to its entry", h.addr)
        })?;
        let engine = h.var_str("minio_engine").to_string();
        if !["garage", "minio"].contains(&engine.as_str()) {
            bail!(
                "host `{}`: `minio_engine: {engine}`: expected garage or minio",
                h.addr
            );
        }
        let data = h.var_str("minio_data").to_string();
        if data.contains('{') || !data.starts_with('/') || data == "/" {
            bail!("host `{}`: `minio_data: {data}`: the {engine} engine takes one absolute directory (multi-drive patterns like `/data{{1...4}}` are MinIO's)", h.addr);
        }
        let secret = h
            .str("minio_secret_key")
            .filter(|s| !s.is_empty())
            .with_context(|| format!("host `{}`: required variable `minio_secret_key` is not set\nhint: set it in the inventory (`pigsty configure` generates credentials)", h.addr))?
            .to_string();
        if secret.len() < 16
            || !secret
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        {
            bail!("host `{}`: `minio_secret_key` must be at least 16 printable characters without quotes or backslashes (it is the admin token)", h.addr);
        }
        let name = format!("{cluster}-{seq}");
        let node = h.expand(h.var_str("minio_node"));
        Ok(Minio {
            seq,
            ip: h.addr.clone(),
            node,
            engine,
            user: h.var_str("minio_user").to_string(),
            data,
            port: h.var_port("minio_port"),
            admin_port: h.var_port("minio_admin_port"),
            domain: h.var_str("minio_domain").to_string(),
            https: h.var_bool("minio_https"),
            secret,
            name,
            cluster,
        })
    }

    /// Names the server certificate covers.
    pub fn cert_names(&self) -> Vec<String> {
        let mut v = vec![
            self.domain.clone(),
            self.node.clone(),
            self.ip.clone(),
            "localhost".into(),
            "127.0.0.1".into(),
        ];
        v.dedup();
        v
    }

    pub fn admin_api(&self) -> GarageApi {
        GarageApi::new(format!("http://{}:{}", self.ip, self.admin_port), HEADER)
    }

    /// Shared by every member: derived from the admin secret and the cluster name.
    pub fn rpc_secret(&self) -> String {
        hex::encode(Sha256::digest(format!(
            "pigsty-garage-rpc:{}:{}",
            self.cluster, self.secret
        )))
    }
}

/// Repository URL nodes install single-file programs from.
pub fn repo_url(h: &Host) -> String {
    let ep = h.expand(h.var_str("repo_endpoint"));
    let name = h.var_str("repo_name");
    format!("{}/{name}", ep.trim_end_matches('/'))
}

pub fn render_conf(m: &Minio, members: usize) -> Result<String> {
    crate::template::render(
        "minio/garage.toml.j2",
        &serde_json::json!({
            "m": {
                "cluster": m.cluster, "name": m.name, "ip": m.ip, "data": m.data,
                "admin_port": m.admin_port, "s3_port": S3_PORT, "rpc_port": RPC_PORT,
            },
            "replication_factor": members.clamp(1, 3),
            "rpc_secret": m.rpc_secret(),
            "admin_token": m.secret,
        }),
    )
}

pub fn render_haproxy(m: &Minio) -> Result<String> {
    crate::template::render(
        "minio/haproxy-s3.cfg.j2",
        &serde_json::json!({
            "cluster": m.cluster, "name": m.name, "port": m.port, "https": m.https,
            "pem": format!("{}/minio.pem", super::pki::CA_DIR), "s3_port": S3_PORT,
        }),
    )
}

pub fn render_unit(m: &Minio) -> Result<String> {
    crate::template::render(
        "minio/garage.service.j2",
        &serde_json::json!({"user": m.user, "conf": CONF, "cluster": m.cluster}),
    )
}

/// What a user's `policy` grants: bucket -> (read, write, owner).
pub fn grants(policy: &str, buckets: &[String]) -> Result<BTreeMap<String, Perm>, String> {
    let all = |p: Perm| buckets.iter().map(|b| (b.clone(), p)).collect();
    match policy {
        "readwrite" => Ok(all((true, true, false))),
        "readonly" => Ok(all((true, false, false))),
        "consoleAdmin" => Ok(all((true, true, true))),
        b if buckets.iter().any(|x| x == b) => Ok([(b.to_string(), (true, true, false))].into()),
        other => Err(format!(
            "policy `{other}` is neither a bucket of `minio_buckets` ({}) nor readwrite, readonly or consoleAdmin",
            buckets.join(", ")
        )),
    }
}

fn buckets(h: &Host) -> Result<Vec<String>> {
    let mut v = vec![];
    for (i, b) in h.list("minio_buckets").into_iter().flatten().enumerate() {
        let Some(n) = b.get("name").and_then(|n| n.as_str()) else {
            bail!("host `{}`: `minio_buckets[{i}]` has no `name`", h.addr);
        };
        let ok = n.len() >= 3
            && n.len() <= 63
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !ok {
            bail!("host `{}`: `minio_buckets[{i}].name` `{n}` is not a valid S3 bucket name (3-63 of a-z 0-9 - .)", h.addr);
        }
        v.push(n.to_string());
    }
    Ok(v)
}

/// One `minio_users` entry: access key, secret key, what its policy grants.
type S3User = (String, String, BTreeMap<String, Perm>);

/// Every `minio_users` entry, checked.
fn users(h: &Host, bks: &[String]) -> Result<Vec<S3User>> {
    let mut v = vec![];
    for (i, u) in h.list("minio_users").into_iter().flatten().enumerate() {
        let s = |k: &str| u.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let (id, secret, policy) = (s("access_key"), s("secret_key"), s("policy"));
        if id.len() < 8
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            bail!(
                "host `{}`: `minio_users[{i}].access_key` `{id}`: at least 8 of A-Z a-z 0-9 - _ .",
                h.addr
            );
        }
        if secret.len() < 16 || !secret.chars().all(|c| c.is_ascii_graphic()) {
            bail!("host `{}`: `minio_users[{i}].secret_key` (of `{id}`) must be at least 16 printable characters\nhint: `pigsty configure` generates credentials", h.addr);
        }
        let g = grants(&policy, bks).map_err(|e| {
            anyhow::anyhow!(
                "host `{}`: `minio_users[{i}].policy` of `{id}`: {e}",
                h.addr
            )
        })?;
        v.push((id, secret, g));
    }
    Ok(v)
}

pub fn plan(ctx: &Ctx) -> Result<ModulePlan> {
    let h = ctx.host;
    let m = Minio::new(h)?;
    if m.engine == "minio" {
        bail!("host `{}`: `minio_engine: minio` is not built: upstream MinIO is archived and its binaries are not installable here; nothing was changed\nhint: use `minio_engine: garage` (the default), same buckets, users and endpoint", h.addr);
    }
    let members = ctx.inv.minio_members(&m.cluster);
    let bks = buckets(h)?;
    let usrs = users(h, &bks)?;
    let restart = || vec![Handler::Restart(UNIT.into())];
    let mut p = ModulePlan::new("minio");
    super::pki::trust_steps(&mut p, &ctx.opts.pki);
    // curl talks to the local repository and garage's admin api
    p.add(crate::resources::Package::new(
        "minio tools",
        ["curl", "ca-certificates"],
    ));
    let mut u = crate::resources::User::new(&m.user);
    u.system = true;
    u.home = Some(m.data.clone());
    u.shell = Some("/usr/sbin/nologin".into());
    u.comment = Some("pigsty object storage".into());
    p.add(u);
    p.add(Dir::new(&m.data).owner(&m.user, &m.user).mode(0o750));
    for sub in ["meta", "data"] {
        p.add(
            Dir::new(format!("{}/{sub}", m.data))
                .owner(&m.user, &m.user)
                .mode(0o750),
        );
    }
    p.add(Dir::new("/etc/garage").owner("root", &m.user).mode(0o750));
    p.add_notify(
        RepoBinary {
            file: "garage".into(),
            repo: repo_url(h),
            dest: "/usr/local/bin/garage".into(),
            module: "MINIO".into(),
        },
        restart(),
    );
    p.add_notify(
        File::new(CONF, render_conf(&m, members.len())?)
            .mode(0o640)
            .owner("root", &m.user)
            .secret(),
        restart(),
    );
    p.add(
        File::new(HEADER, format!("Authorization: Bearer {}\n", m.secret))
            .mode(0o600)
            .secret(),
    );
    p.add_notify(
        File::new(format!("/etc/systemd/system/{UNIT}"), render_unit(&m)?),
        vec![Handler::DaemonReload, Handler::Restart(UNIT.into())],
    );
    // HTTPS in front of the S3 API: HAProxy (NODE) with the CA-signed certificate.
    if !h.var_bool("haproxy_enabled") {
        bail!("host `{}`: MINIO serves S3 through HAProxy, but `haproxy_enabled` is false\nhint: enable haproxy on minio nodes", h.addr);
    }
    let reload = crate::modules::node::haproxy_reload(h);
    if m.https {
        super::pki::server_cert_steps(&mut p, ctx.opts, "minio", &h.addr, reload.clone())?;
    }
    p.add_notify(
        File::new(
            crate::modules::node::haproxy_service_path(&m.cluster, "s3"),
            render_haproxy(&m)?,
        ),
        reload,
    );
    p.add(Service::running(UNIT));
    p.flush();
    p.add(Fresh::restart(
        UNIT,
        &[CONF, "/etc/systemd/system/garage.service"],
    ));
    let api = m.admin_api();
    p.add(Wait::new(
        &format!("garage {} admin api answers", m.name),
        Cmd::new("curl")
            .args(["-sf", "-o", "/dev/null", "-H", &format!("@{HEADER}")])
            .arg(format!("{}/v2/GetClusterStatus", api.base)),
        Duration::from_secs(120),
    ));
    let first = members.first().map(|x| x.addr.clone()).unwrap_or_default();
    if first == h.addr {
        let gm: Vec<GarageMember> = members
            .iter()
            .map(|x| {
                let mm = Minio::new(x)?;
                Ok(GarageMember {
                    name: mm.name.clone(),
                    ip: mm.ip.clone(),
                    rpc_port: RPC_PORT,
                    api: mm.admin_api(),
                    capacity: CAPACITY,
                })
            })
            .collect::<Result<_>>()?;
        p.add(GarageLayout {
            cluster: m.cluster.clone(),
            api: api.clone(),
            members: gm,
        });
        p.add(Wait::new(
            &format!("garage cluster {} healthy", m.cluster),
            Cmd::new("curl")
                .args(["-sf", "-o", "/dev/null"])
                .arg(format!("{}/health", api.base)),
            Duration::from_secs(120),
        ));
        if h.var_bool("minio_provision") {
            for b in &bks {
                p.add(GarageBucket {
                    api: api.clone(),
                    name: b.clone(),
                });
            }
            for (id, secret, want) in usrs {
                p.add(GarageKey {
                    api: api.clone(),
                    id: id.clone(),
                    secret,
                });
                p.add(GarageGrants {
                    api: api.clone(),
                    id,
                    want,
                });
            }
        }
    }
    let scheme = if m.https { "https" } else { "http" };
    let mut probe = Cmd::new("curl").args(["-s", "-o", "/dev/null", "-m", "5"]);
    if m.https {
        probe = probe.args(["--cacert", super::pki::CA_CRT]);
    }
    p.add(Wait::new(
        &format!("s3 endpoint {scheme}://{}:{} answers", m.ip, m.port),
        probe.arg(format!("{scheme}://{}:{}/", m.ip, m.port)),
        Duration::from_secs(60),
    ));
    Ok(p)
}

/// `pigsty minio rm`: stop the member, take its settings and HTTPS front away, and its
/// data when `minio_rm_data` (default true).
pub fn plan_remove(ctx: &Ctx) -> Result<ModulePlan> {
    let h = ctx.host;
    let m = Minio::new(h)?;
    let mut p = ModulePlan::new("minio");
    p.add_notify(
        Absent::new(crate::modules::node::haproxy_service_path(&m.cluster, "s3")),
        crate::modules::node::haproxy_reload(h),
    );
    p.flush();
    p.add(Service::stopped(UNIT));
    for f in [CONF, HEADER] {
        p.add(Absent::new(f));
    }
    p.add(Absent::new(format!("/etc/systemd/system/{UNIT}")));
    if h.var_bool("minio_rm_data") {
        p.add(Absent::tree(&m.data));
    }
    if h.var_bool("minio_rm_pkg") {
        p.add(Absent::new("/usr/local/bin/garage"));
    }
    Ok(p)
}

pub fn targets(_inv: &Inventory, h: &Host) -> Vec<ScrapeTarget> {
    let Ok(m) = Minio::new(h) else {
        return vec![];
    };
    vec![ScrapeTarget::new(
        "minio",
        format!("{}:{}", m.ip, m.admin_port),
        &m.cluster,
        &m.name,
        &m.ip,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let text = "all:\n  children:\n    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }\n    minio:\n      hosts: { 10.10.10.10: { minio_seq: 1 } }\n      vars:\n        minio_cluster: minio\n        minio_buckets: [ { name: pgsql }, { name: meta } ]\n        minio_users:\n          - { access_key: pgbackrest, secret_key: test-backup-secret-0001, policy: pgsql }\n          - { access_key: s3user_meta, secret_key: test-meta-secret-00001, policy: meta }\n  vars:\n    admin_ip: 10.10.10.10\n    minio_secret_key: test-minio-admin-secret\n";
        Inventory::unresolved("m.yml", text)
    }

    #[test]
    fn garage_config_and_haproxy_front_match_their_snapshots() {
        let inv = inv();
        let m = Minio::new(inv.host("10.10.10.10").unwrap()).unwrap();
        insta::assert_snapshot!("garage.toml", render_conf(&m, 1).unwrap());
        insta::assert_snapshot!("haproxy-minio-s3.cfg", render_haproxy(&m).unwrap());
        insta::assert_snapshot!("garage.service", render_unit(&m).unwrap());
        assert_eq!(
            m.cert_names(),
            vec![
                "sss.pigsty",
                "minio-1.pigsty",
                "10.10.10.10",
                "localhost",
                "127.0.0.1"
            ]
        );
    }

    #[test]
    fn a_policy_named_after_a_bucket_grants_only_that_bucket() {
        let b = vec!["pgsql".to_string(), "meta".to_string()];
        let g = grants("pgsql", &b).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g["pgsql"], (true, true, false));
        assert_eq!(grants("readonly", &b).unwrap().len(), 2);
        assert!(grants("nope", &b).unwrap_err().contains("`nope`"));
    }

    #[test]
    fn the_minio_engine_is_refused_with_a_hint() {
        let inv = Inventory::unresolved("m.yml", "all:\n  children:\n    minio: { hosts: { 10.0.0.1: { minio_seq: 1 } }, vars: { minio_cluster: minio, minio_engine: minio } }\n  vars: { minio_secret_key: test-minio-admin-secret }\n");
        let facts = crate::facts::Facts::test_meta();
        let ctx = Ctx::new(&inv, inv.host("10.0.0.1").unwrap(), &facts);
        let e = plan(&ctx).err().expect("refused").to_string();
        assert!(e.contains("minio_engine: garage"), "{e}");
    }

    #[test]
    fn without_a_ca_on_the_admin_node_https_is_refused_with_a_hint() {
        let inv = inv();
        let facts = crate::facts::Facts::test_meta();
        let ctx = Ctx::new(&inv, inv.host("10.10.10.10").unwrap(), &facts);
        let e = plan(&ctx).err().expect("refused").to_string();
        assert!(
            e.contains("no minio certificate") && e.contains("hint:"),
            "{e}"
        );
    }

    #[test]
    fn a_plain_http_member_plans_garage_then_provisioning() {
        let facts = crate::facts::Facts::test_meta();
        let text = "all:\n  children:\n    minio:\n      hosts: { 10.10.10.10: { minio_seq: 1 } }\n      vars: { minio_cluster: minio, minio_https: false, minio_buckets: [ { name: pgsql } ], minio_users: [ { access_key: pgbackrest, secret_key: test-backup-secret-0001, policy: pgsql } ] }\n  vars: { admin_ip: 10.10.10.10, minio_secret_key: test-minio-admin-secret }\n";
        let inv = Inventory::unresolved("m.yml", text);
        let ctx = Ctx::new(&inv, inv.host("10.10.10.10").unwrap(), &facts);
        let p = plan(&ctx).unwrap();
        let names: Vec<String> = p
            .steps()
            .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
            .collect();
        let pos = |n: &str| {
            names
                .iter()
                .position(|x| x.contains(n))
                .unwrap_or_else(|| panic!("{n} not in {names:#?}"))
        };
        assert!(pos("/usr/local/bin/garage") < pos("/etc/garage/garage.toml"));
        assert!(pos("/etc/haproxy/minio-s3.cfg") < pos("service garage.service"));
        assert!(pos("layout of minio") < pos("bucket pgsql"));
        assert!(pos("bucket pgsql") < pos("key pgbackrest"));
        assert!(pos("key pgbackrest") < pos("permissions of key pgbackrest"));
        assert!(names.iter().any(|n| n.contains("http://10.10.10.10:9000")));
    }

    #[test]
    fn the_target_is_the_admin_api() {
        let inv = inv();
        let t = targets(&inv, inv.host("10.10.10.10").unwrap());
        assert_eq!(t[0].job, "minio");
        assert_eq!(t[0].addr, "10.10.10.10:9001");
        assert_eq!(t[0].labels["ins"], "minio-1");
    }

    #[test]
    fn the_rpc_secret_is_32_bytes_of_hex_and_not_the_admin_secret() {
        let inv = inv();
        let m = Minio::new(inv.host("10.10.10.10").unwrap()).unwrap();
        let s = m.rpc_secret();
        assert_eq!(s.len(), 64);
        assert!(!s.contains("test-minio"));
    }
}
