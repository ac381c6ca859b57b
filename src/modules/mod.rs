//! Modules turn a host's variables and facts into an ordered plan of resources.
//! A module never runs commands itself: it builds resources; the engine runs them.
//!
//! | module | file | templates |
//! | --- | --- | --- |
//! | NODE  | `node/`    | `assets/node/`  |
//! | INFRA | `infra/`   | `assets/infra/` |
//! | ETCD  | `etcd.rs`  | `assets/etcd/`  |
//! | MINIO | `minio.rs` | `assets/minio/` |
//! | PGSQL | `pgsql/`   | `assets/pgsql/` |
//! | REDIS | `redis/`   | `assets/redis/` |
//!
//! `pki.rs`: the CA steps (INFRA creates it; NODE, MINIO and PGSQL trust it).
use crate::engine::ModulePlan;
use crate::facts::Facts;
use crate::inventory::{Host, Inventory, Module};
use crate::options::PlanOptions;
use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub mod etcd;
pub mod infra;
pub mod minio;
pub mod node;
pub mod pgsql;
pub mod pki;
pub mod redis;

/// Everything a module may look at to plan one host. Planning reads nothing else: no
/// process globals, no files, no commands; a plan is a function of these four.
pub struct Ctx<'a> {
    pub inv: &'a Inventory,
    pub host: &'a Host,
    pub facts: &'a Facts,
    pub opts: &'a PlanOptions,
}

impl<'a> Ctx<'a> {
    /// A context with nothing delivered (tests, `plan` of a bare host).
    pub fn new(inv: &'a Inventory, host: &'a Host, facts: &'a Facts) -> Ctx<'a> {
        Ctx {
            inv,
            host,
            facts,
            opts: &crate::options::NO_OPTIONS,
        }
    }
    /// The same context with the run's options.
    pub fn with(self, opts: &'a PlanOptions) -> Ctx<'a> {
        Ctx { opts, ..self }
    }
    /// Template context: the host's merged variables, plus `facts`, `inventory_hostname`
    /// (the inventory key) and `host_ip` (same, Pigsty hosts are keyed by IP).
    pub fn vars(&self) -> Value {
        let mut m = self.host.vars.clone();
        m.insert("inventory_hostname".into(), json!(self.host.addr));
        m.insert("host_ip".into(), json!(self.host.addr));
        m.insert(
            "facts".into(),
            serde_json::to_value(self.facts).unwrap_or(Value::Null),
        );
        Value::Object(m)
    }
    /// A string variable that must be present (credentials, names).
    pub fn req_str(&self, key: &str) -> Result<String> {
        self.host.str(key).map(str::to_string).ok_or_else(|| {
            anyhow::anyhow!(
                "host `{}`: required variable `{key}` is not set\nhint: set it in the inventory (`pigsty configure` generates credentials)",
                self.host.addr
            )
        })
    }
}

/// A Prometheus scrape target: written by INFRA as file_sd target files.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScrapeTarget {
    /// Job / target-file directory, e.g. `node`, `pgsql`, `etcd`, `infra`.
    pub job: String,
    /// `ip:port`
    pub addr: String,
    /// Pigsty's labels: `cls`, `ins`, `ip` (and `job` is the directory).
    pub labels: BTreeMap<String, String>,
}

impl ScrapeTarget {
    pub fn new(job: &str, addr: String, cls: &str, ins: &str, ip: &str) -> Self {
        let mut labels = BTreeMap::new();
        labels.insert("cls".into(), cls.into());
        labels.insert("ins".into(), ins.into());
        labels.insert("ip".into(), ip.into());
        ScrapeTarget {
            job: job.into(),
            addr,
            labels,
        }
    }
}

/// Plan the removal of one module from one host; `gone` are the hosts leaving that
/// module in this run (a module may act differently when its whole cluster goes).
pub fn plan_remove(module: Module, ctx: &Ctx, gone: &[String]) -> Result<ModulePlan> {
    match module {
        Module::Pgsql => pgsql::plan_remove(ctx, gone),
        Module::Etcd => etcd::plan_remove(ctx),
        Module::Node => node::plan_remove(ctx),
        Module::Minio => minio::plan_remove(ctx),
        other => anyhow::bail!("removing module {other} is not built yet; nothing was changed"),
    }
}

/// Packages whose version (installed, else offered: `Facts::gather_versions`) decides
/// how a module configures them; node mode gathers these before planning the module.
pub fn versioned_packages(module: Module) -> &'static [&'static str] {
    match module {
        // flags of the exporter changed at 1.0 (trixie) from 0.11 (bookworm)
        Module::Infra => &["prometheus-nginx-exporter"],
        // Patroni's is gathered with the Postgres facts (`Facts::gather_postgres`)
        _ => &[],
    }
}

/// Plan one module on one host.
pub fn plan(module: Module, ctx: &Ctx) -> Result<ModulePlan> {
    match module {
        Module::Node => node::plan(ctx),
        Module::Infra => infra::plan(ctx),
        Module::Etcd => etcd::plan(ctx),
        Module::Minio => minio::plan(ctx),
        Module::Pgsql => pgsql::plan(ctx),
        Module::Redis => redis::plan(ctx),
    }
}

/// Order modules run in on a host (Pigsty's install order: `Module::ALL`'s).
pub const ORDER: &[Module] = &Module::ALL;

/// Every scrape target the inventory implies, collected from each module.
pub fn scrape_targets(inv: &Inventory) -> Vec<ScrapeTarget> {
    let mut v = vec![];
    for h in &inv.hosts {
        let mods = h.modules();
        if mods.contains(&Module::Node) {
            v.extend(node::targets(inv, h));
        }
        if mods.contains(&Module::Infra) {
            v.extend(infra::targets(inv, h));
        }
        if mods.contains(&Module::Etcd) {
            v.extend(etcd::targets(inv, h));
        }
        if mods.contains(&Module::Minio) {
            v.extend(minio::targets(inv, h));
        }
        if mods.contains(&Module::Pgsql) {
            v.extend(pgsql::targets(inv, h));
        }
        if mods.contains(&Module::Redis) {
            v.extend(redis::targets(inv, h));
        }
    }
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{CertPair, Delivered};

    /// Every module of every host of the meta profile, a MinIO member and the Redis
    /// demo, planned from captured facts with every command refused.
    #[test]
    fn every_module_plans_from_captured_facts_without_running_a_command() {
        let facts = crate::facts::Facts::test_meta();
        let cert = CertPair {
            crt: "-----BEGIN CERTIFICATE-----\n".into(),
            key: "-----BEGIN PRIVATE KEY-----\n".into(),
        };
        let opts = PlanOptions {
            pki: Delivered {
                ca_crt: Some(cert.crt.clone()),
                certs: [
                    ("minio".to_string(), cert.clone()),
                    ("etcd".to_string(), cert.clone()),
                    ("pgsql".to_string(), cert),
                ]
                .into_iter()
                .collect(),
            },
            ..PlanOptions::NONE
        };
        let minio = Inventory::unresolved("m.yml", "all:\n  children:\n    minio: { hosts: { 10.10.10.10: { minio_seq: 1 } }, vars: { minio_cluster: minio, minio_users: [ { access_key: pgbackrest, secret_key: test-backup-secret-0001, policy: pgsql } ] } }\n  vars: { admin_ip: 10.10.10.10, minio_secret_key: test-minio-admin-secret, haproxy_admin_password: fake-haproxy }\n");
        let invs = [
            node::tests::meta_inventory(&[]),
            redis::tests::demo(),
            minio,
        ];
        let mut planned = std::collections::BTreeSet::new();
        crate::sys::cmd::without_commands(|| {
            for inv in &invs {
                for h in &inv.hosts {
                    for m in h.modules() {
                        let ctx = Ctx::new(inv, h, &facts).with(&opts);
                        let p =
                            plan(m, &ctx).unwrap_or_else(|e| panic!("{m} on {}: {e:#}", h.addr));
                        assert!(p.steps().count() > 0, "{m} on {} planned nothing", h.addr);
                        planned.insert(m);
                    }
                }
            }
        });
        assert_eq!(
            planned.len(),
            ORDER.len(),
            "every module was planned: {planned:?}"
        );
    }

    #[test]
    fn a_command_while_planning_is_caught() {
        let r = std::panic::catch_unwind(|| {
            crate::sys::cmd::without_commands(|| crate::sys::Cmd::new("true").run())
        });
        assert!(r.is_err());
        assert!(
            crate::sys::Cmd::new("true").run().is_ok(),
            "allowed again afterwards"
        );
    }
}
