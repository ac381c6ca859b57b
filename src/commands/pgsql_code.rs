//! `pigsty pgsql user|db|hba|svc|ext CLUSTER ...`: database as code. The inventory
//! says what a user, database, HBA rule set, service or extension should be; these
//! verbs apply just that part to the cluster: SQL on the primary (the catalog steps
//! skip themselves on replicas), pgBouncer and HAProxy files on every member, each
//! followed by a reload, never a restart. Idempotent: a second run changes nothing.
//!
//! `user`, `db` and `svc` also converge the INFRA module on the infra nodes, whose
//! home page lists every cluster's users, databases and service ports.
//!
//! A database marked `state: absent` (or `recreate`) is dropped only after its name is
//! typed back (or `--yes`), and never while `pg_safeguard` is on.
use super::confirm;
use crate::cli::Global;
use crate::controller::{self, Options};
use crate::engine::Mode;
use crate::facts::Facts;
use crate::inventory::{Host, Inventory, Module};
use crate::modules::pgsql::Scope;
use crate::report::Reporter;
use anyhow::{bail, Result};
use serde_json::Value;
use std::sync::Mutex;

/// Which part of the cluster a verb applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    User(String),
    Db(String),
    Hba,
    Svc,
    Ext(Vec<String>),
}

impl Part {
    fn scope(&self) -> Scope {
        let (part, names) = match self {
            Part::User(u) => ("user", vec![u.clone()]),
            Part::Db(d) => ("db", vec![d.clone()]),
            Part::Hba => ("hba", vec![]),
            Part::Svc => ("svc", vec![]),
            Part::Ext(e) => ("ext", e.clone()),
        };
        Scope {
            part: part.into(),
            names,
            allow_drop: false,
        }
    }
}

fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

fn state_of(v: &Value) -> &str {
    v.get("state").and_then(Value::as_str).unwrap_or("create")
}

/// The definition of `name` in `key` (a list of objects) on `host`, if any.
fn definition<'a>(host: &'a Host, key: &str, name: &str) -> Option<&'a Value> {
    host.list(key)
        .into_iter()
        .flatten()
        .rfind(|v| name_of(v) == Some(name))
}

fn names(host: &Host, keys: &[&str]) -> String {
    let v: Vec<&str> = keys
        .iter()
        .flat_map(|k| host.list(k).into_iter().flatten().filter_map(name_of))
        .collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// Checks before anything runs: the cluster exists, the user/database is defined,
/// a drop is allowed and confirmed. Returns the scope to send.
pub fn prepare(
    inv: &Inventory,
    cluster: &str,
    part: &Part,
    yes: bool,
    ask: &mut dyn FnMut(&str, &str) -> Result<()>,
) -> Result<Scope> {
    let members = inv.cluster_members(cluster);
    let Some(first) = inv.primary(cluster).or_else(|| members.first().copied()) else {
        bail!(
            "no pgsql cluster `{cluster}` in `{}`; nothing was changed\nhint: clusters: {}",
            inv.path.display(),
            inv.pg_clusters().join(", ")
        );
    };
    let mut scope = part.scope();
    match part {
        Part::User(u) => {
            if definition(first, "pg_users", u).is_none()
                && definition(first, "pg_default_roles", u).is_none()
            {
                bail!(
                    "user `{u}` is not defined in `pg_users` (or `pg_default_roles`) of cluster `{cluster}`; nothing was changed\nhint: defined: {}",
                    names(first, &["pg_default_roles", "pg_users"])
                );
            }
        }
        Part::Db(d) => {
            let Some(def) = definition(first, "pg_databases", d) else {
                bail!(
                    "database `{d}` is not defined in `pg_databases` of cluster `{cluster}`; nothing was changed\nhint: defined: {}",
                    names(first, &["pg_databases"])
                );
            };
            let state = state_of(def);
            if state == "absent" || state == "recreate" {
                if first.var_bool("pg_safeguard") {
                    bail!(
                        "database `{d}` of `{cluster}` is marked `state: {state}`, but `pg_safeguard` is on; nothing was changed\nhint: set `pg_safeguard: false` for `{cluster}` to allow dropping it"
                    );
                }
                if !yes {
                    let verb = if state == "absent" {
                        "drop"
                    } else {
                        "drop and create again"
                    };
                    ask(d, &format!("database `{d}` of `{cluster}` is marked `state: {state}`: {verb} it, with all its data"))?;
                }
                scope.allow_drop = true;
            }
        }
        Part::Hba | Part::Svc | Part::Ext(_) => {}
    }
    Ok(scope)
}

pub fn run(g: &Global, cluster: &str, part: Part, yes: bool) -> Result<u8> {
    let inv = super::deploy::load_inventory(g)?;
    let scope = prepare(&inv, cluster, &part, yes, &mut |n, w| confirm(n, w))?;
    let selected = inv.cluster_members(cluster);
    let facts = Facts::gather();
    if selected
        .iter()
        .any(|h| controller::is_local(&h.addr, &facts))
    {
        crate::runner::preflight(&facts, "pgsql")?;
    }
    super::deploy::require_secrets(&inv)?;
    let opts = |m: Module| -> Result<Options> {
        Ok(Options {
            mode: Mode::Apply,
            forks: 16,
            accept_new_host_keys: false,
            modules: Some([m].into()),
            extra_vars: controller::inline_extra_vars(&g.extra_vars)?,
            forget: Default::default(),
        })
    };
    let rep = Mutex::new(Reporter::new(g.json, false));
    let mut failed =
        controller::run_scoped(&inv, &selected, &opts(Module::Pgsql)?, Some(&scope), &rep).failed;
    // The INFRA home page lists every cluster's users, databases and service ports:
    // bring it along.
    if matches!(part, Part::User(_) | Part::Db(_) | Part::Svc) && failed.is_empty() {
        let infra = inv.infra_hosts();
        if !infra.is_empty() {
            failed = controller::run_scoped(&inv, &infra, &opts(Module::Infra)?, None, &rep).failed;
        }
    }
    let rep = rep.into_inner().unwrap_or_else(|p| p.into_inner());
    rep.recap();
    Ok(super::deploy::report_failed(&failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(extra: &str) -> Inventory {
        let text = format!(
            "all:\n  children:\n    pg-x:\n      hosts:\n        10.0.0.1: {{ pg_seq: 1, pg_role: primary }}\n        10.0.0.2: {{ pg_seq: 2, pg_role: replica }}\n      vars:\n        pg_cluster: pg-x\n{extra}"
        );
        Inventory::unresolved("t.yml", &text)
    }

    fn never(_: &str, _: &str) -> Result<()> {
        panic!("asked")
    }

    #[test]
    fn an_undefined_user_or_database_is_refused_naming_what_is_defined() {
        let i = inv(
            "        pg_users: [{ name: dbuser_app }]\n        pg_databases: [{ name: app }]\n",
        );
        let e = prepare(&i, "pg-x", &Part::User("nobody".into()), false, &mut never)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("user `nobody`") && e.contains("dbuser_app"),
            "{e}"
        );
        let e = prepare(&i, "pg-x", &Part::Db("nodb".into()), false, &mut never)
            .unwrap_err()
            .to_string();
        assert!(e.contains("database `nodb`") && e.contains("app"), "{e}");
        assert!(prepare(&i, "pg-nope", &Part::Hba, false, &mut never)
            .unwrap_err()
            .to_string()
            .contains("no pgsql cluster `pg-nope`"));
        let s = prepare(
            &i,
            "pg-x",
            &Part::User("dbuser_app".into()),
            false,
            &mut never,
        )
        .unwrap();
        assert_eq!(
            (s.part.as_str(), s.names.clone(), s.allow_drop),
            ("user", vec!["dbuser_app".to_string()], false)
        );
    }

    #[test]
    fn dropping_a_database_needs_the_name_typed_back_or_yes() {
        let i = inv("        pg_databases: [{ name: old, state: absent }]\n");
        let e = prepare(&i, "pg-x", &Part::Db("old".into()), false, &mut |n, _| {
            bail!("confirmation `` does not match `{n}`")
        })
        .unwrap_err();
        assert!(e.to_string().contains("does not match `old`"), "{e}");
        let mut asked = false;
        let s = prepare(&i, "pg-x", &Part::Db("old".into()), false, &mut |_, _| {
            asked = true;
            Ok(())
        })
        .unwrap();
        assert!(asked && s.allow_drop);
        assert!(
            prepare(&i, "pg-x", &Part::Db("old".into()), true, &mut never)
                .unwrap()
                .allow_drop
        );
    }

    #[test]
    fn pg_safeguard_refuses_a_drop_even_with_yes() {
        let i = inv(
            "        pg_safeguard: true\n        pg_databases: [{ name: old, state: absent }]\n",
        );
        let e = prepare(&i, "pg-x", &Part::Db("old".into()), true, &mut never)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pg_safeguard"), "{e}");
    }
}
