//! Each node's request carries only the secrets its own modules need: the controller
//! sends every node the inventory, and before it does, removes the credentials the
//! node has no use for (`for_host`). A secret stays only where the node sees it (all
//! vars, the vars of its own groups, its own host vars) and when one of the node's
//! modules reads it (`NEEDS`); everything else (other clusters' users, Grafana's and
//! MinIO's keys on a database node, ...) is dropped from the text the node receives.
//! Non-secret settings of other groups stay: Prometheus targets, HAProxy services and
//! standby clusters are planned from them.
use crate::inventory::{Inventory, Module};
use serde_yaml::{Mapping, Value};

/// Which modules read each secret parameter. Every `secret: true` parameter of the
/// schema is listed (a unit test checks it); a module not listed never receives it.
pub const NEEDS: &[(&str, &[Module])] = &[
    ("nginx_users", &[Module::Infra]),
    ("grafana_admin_password", &[Module::Infra]),
    ("grafana_view_password", &[Module::Infra]),
    ("vip_auth_pass", &[Module::Node]),
    ("haproxy_admin_password", &[Module::Node]),
    // a PGSQL-only node gets its cluster's `pg_etcd_password` instead (the controller
    // derives it and makes the etcd user on an etcd member)
    ("etcd_root_password", &[Module::Etcd, Module::Infra]),
    ("minio_secret_key", &[Module::Minio]),
    ("redis_password", &[Module::Redis]),
    ("pg_dbsu_password", &[Module::Pgsql]),
    ("pg_replication_password", &[Module::Pgsql]),
    ("pg_admin_password", &[Module::Pgsql]),
    ("pg_monitor_password", &[Module::Pgsql, Module::Infra]),
    ("patroni_password", &[Module::Pgsql]),
    ("pg_etcd_password", &[Module::Pgsql]),
    ("pgsodium_key", &[Module::Pgsql]),
    // the controller's own (and refused): no node needs them
    ("ansible_password", &[]),
    ("ansible_become_password", &[]),
];

/// Secret fields inside list or dict parameters: (parameter, field, modules).
/// `pgbackrest_repo` is a dict of repositories, the others lists of entries.
pub const NESTED: &[(&str, &str, &[Module])] = &[
    ("pg_users", "password", &[Module::Pgsql]),
    ("minio_users", "secret_key", &[Module::Minio]),
    ("redis_sentinel_monitor", "password", &[Module::Redis]),
    ("pgbackrest_repo", "s3_key_secret", &[Module::Pgsql]),
    ("pgbackrest_repo", "cipher_pass", &[Module::Pgsql]),
];

/// What one node may see: its groups and modules.
struct Viewer<'a> {
    addr: &'a str,
    groups: Vec<String>,
    modules: std::collections::BTreeSet<Module>,
}

impl Viewer<'_> {
    fn needs(&self, modules: &[Module]) -> bool {
        modules.iter().any(|m| self.modules.contains(m))
    }
}

/// Strip from `vars` (one level: all vars, a group's, a host's) what `v` may not see;
/// `sees` says whether that level applies to the node at all. Returns how many values
/// were removed.
fn strip(vars: &mut Mapping, v: &Viewer, sees: bool) -> usize {
    let mut n = 0;
    for (key, modules) in NEEDS {
        if (!sees || !v.needs(modules)) && vars.remove(*key).is_some() {
            n += 1;
        }
    }
    for (key, field, modules) in NESTED {
        if sees && v.needs(modules) {
            continue;
        }
        let Some(val) = vars.get_mut(*key) else {
            continue;
        };
        let entries: Vec<&mut Value> = match val {
            Value::Sequence(items) => items.iter_mut().collect(),
            Value::Mapping(m) if *key == "pgbackrest_repo" => {
                m.iter_mut().map(|(_, r)| r).collect()
            }
            _ => vec![],
        };
        for e in entries {
            if let Value::Mapping(m) = e {
                if m.remove(*field).is_some() {
                    n += 1;
                }
            }
        }
    }
    n
}

/// Walk a group (`all` or a child): its vars, its hosts' vars, its children.
fn walk(group: &mut Mapping, name: &str, v: &Viewer, removed: &mut usize) {
    let sees_group = name == "all" || v.groups.iter().any(|g| g == name);
    if let Some(Value::Mapping(vars)) = group.get_mut("vars") {
        *removed += strip(vars, v, sees_group);
    }
    if let Some(Value::Mapping(hosts)) = group.get_mut("hosts") {
        for (h, hv) in hosts.iter_mut() {
            if let Value::Mapping(hv) = hv {
                let own = h.as_str() == Some(v.addr);
                *removed += strip(hv, v, own);
            }
        }
    }
    if let Some(Value::Mapping(children)) = group.get_mut("children") {
        for (cname, c) in children.iter_mut() {
            if let (Some(cname), Value::Mapping(c)) = (cname.as_str().map(str::to_string), c) {
                walk(c, &cname, v, removed);
            }
        }
    }
}

/// Set `vars` in every entry of `host` under `group` (an address may appear in several
/// groups); false when there is none.
fn add_host_vars(group: &mut Mapping, host: &str, vars: &[(String, String)]) -> bool {
    let mut found = false;
    if let Some(Value::Mapping(hosts)) = group.get_mut("hosts") {
        for (h, hv) in hosts.iter_mut() {
            if h.as_str() != Some(host) {
                continue;
            }
            if !matches!(hv, Value::Mapping(_)) {
                *hv = Value::Mapping(Mapping::new());
            }
            if let Value::Mapping(m) = hv {
                for (k, val) in vars {
                    m.insert(Value::from(k.as_str()), Value::from(val.as_str()));
                }
            }
            found = true;
        }
    }
    if let Some(Value::Mapping(children)) = group.get_mut("children") {
        for (_, c) in children.iter_mut() {
            if let Value::Mapping(c) = c {
                found |= add_host_vars(c, host, vars);
            }
        }
    }
    found
}

/// The inventory text `host` receives, and how many secret values were left out.
/// When the text cannot be re-read (it was loaded, so this does not happen), nothing
/// is sent rather than everything: the error names the host.
///
/// `inject` are host variables the controller adds to the node's own entry (its
/// cluster's etcd password, derived where the node may not see the root one).
pub fn for_host(
    inv: &Inventory,
    host: &str,
    inject: &[(String, String)],
) -> Result<(String, usize), String> {
    let Some(h) = inv.host(host) else {
        return Err(format!("host `{host}` is not in the inventory"));
    };
    let v = Viewer {
        addr: host,
        groups: h.groups.clone(),
        modules: h.modules(),
    };
    let mut doc: Value = serde_yaml::from_str(&inv.source)
        .map_err(|e| format!("re-reading the inventory for `{host}`: {e}"))?;
    let mut removed = 0;
    if let Some(Value::Mapping(all)) = doc.get_mut("all") {
        walk(all, "all", &v, &mut removed);
        if !inject.is_empty() && !add_host_vars(all, host, inject) {
            return Err(format!(
                "host `{host}`: no entry of its own in the inventory text to add {} to",
                inject
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let text = serde_yaml::to_string(&doc)
        .map_err(|e| format!("writing the inventory for `{host}`: {e}"))?;
    Ok((text, removed))
}

/// The `-e KEY=VALUE` extra variables `host` receives: a secret its modules do not
/// read is left out like in the text.
pub fn extra_vars_for(inv: &Inventory, host: &str, extra: &[String]) -> Vec<String> {
    let modules = inv.host(host).map(|h| h.modules()).unwrap_or_default();
    extra
        .iter()
        .filter(|e| {
            let key = e.split(['=', ':']).next().unwrap_or_default().trim();
            NEEDS
                .iter()
                .find(|(k, _)| *k == key)
                .is_none_or(|(_, ms)| ms.iter().any(|m| modules.contains(m)))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = r#"
all:
  children:
    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
    etcd: { hosts: { 10.10.10.10: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }
    minio: { hosts: { 10.10.10.10: { minio_seq: 1 } }, vars: { minio_cluster: minio, minio_users: [{ access_key: pgbackrest, secret_key: S3-USER-SECRET, policy: readwrite }] } }
    pg-meta:
      hosts: { 10.10.10.10: { pg_seq: 1, pg_role: primary } }
      vars: { pg_cluster: pg-meta, pg_users: [{ name: dbuser_meta, password: META-USER-PW }] }
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12: { pg_seq: 2, pg_role: replica, pgsodium_key: HOST12-ONLY }
      vars: { pg_cluster: pg-test, pg_users: [{ name: test, password: TEST-USER-PW }] }
    redis-test:
      hosts: { 10.10.10.13: { redis_node: 1, redis_instances: { 6379: {} } } }
      vars: { redis_cluster: redis-test, redis_password: REDIS-PW }
  vars:
    admin_ip: 10.10.10.10
    grafana_admin_password: GRAFANA-PW
    haproxy_admin_password: HAPROXY-PW
    etcd_root_password: ETCD-ROOT-PW
    minio_secret_key: MINIO-ROOT-PW
    pg_admin_password: PG-ADMIN-PW
    pg_monitor_password: PG-MONITOR-PW
    pg_replication_password: PG-REPL-PW
    patroni_password: PATRONI-PW
    pgbackrest_method: minio
    pgbackrest_repo: { minio: { type: s3, s3_key_secret: S3-USER-SECRET, cipher_pass: CIPHER-PW } }
"#;

    fn inv() -> Inventory {
        Inventory::unresolved("t.yml", INV)
    }

    #[test]
    fn a_database_node_gets_its_cluster_and_no_other_secret() {
        let inv = inv();
        let inject = [(
            "pg_etcd_password".to_string(),
            "PG-TEST-ETCD-PW".to_string(),
        )];
        let (text, removed) = for_host(&inv, "10.10.10.11", &inject).unwrap();
        for kept in [
            "TEST-USER-PW",
            "PG-ADMIN-PW",
            "PG-MONITOR-PW",
            "PG-REPL-PW",
            "PATRONI-PW",
            "HAPROXY-PW",
            "CIPHER-PW",
            "PG-TEST-ETCD-PW",
        ] {
            assert!(
                text.contains(kept),
                "{kept} is needed on a pg-test member:\n{text}"
            );
        }
        for gone in [
            "META-USER-PW",
            "GRAFANA-PW",
            "MINIO-ROOT-PW",
            "REDIS-PW",
            "HOST12-ONLY",
            "ETCD-ROOT-PW",
        ] {
            assert!(
                !text.contains(gone),
                "{gone} must not reach a pg-test member:\n{text}"
            );
        }
        assert!(
            text.contains("dbuser_meta") && text.contains("pg-meta"),
            "other clusters stay, without secrets:\n{text}"
        );
        assert_eq!(removed, 7, "{text}");
        // the node still loads it, and sees its own settings unchanged but for the
        // secrets of modules it does not run
        let mine = Inventory::unresolved("t.yml", &text);
        let a = inv.host("10.10.10.11").unwrap();
        let b = mine.host("10.10.10.11").unwrap();
        let differ: Vec<&String> = a
            .vars
            .keys()
            .filter(|k| b.vars.get(k.as_str()) != a.vars.get(k.as_str()))
            .collect();
        assert_eq!(
            differ,
            vec![
                "etcd_root_password",
                "grafana_admin_password",
                "minio_secret_key",
                "pg_etcd_password"
            ],
            "a node's own view is untouched otherwise"
        );
        assert_eq!(b.str("pg_etcd_password"), Some("PG-TEST-ETCD-PW"));
    }

    #[test]
    fn a_redis_node_gets_no_database_or_object_store_secret() {
        let (text, _) = for_host(&inv(), "10.10.10.13", &[]).unwrap();
        assert!(
            text.contains("REDIS-PW") && text.contains("HAPROXY-PW"),
            "{text}"
        );
        for gone in [
            "TEST-USER-PW",
            "META-USER-PW",
            "PG-ADMIN-PW",
            "PATRONI-PW",
            "ETCD-ROOT-PW",
            "GRAFANA-PW",
            "MINIO-ROOT-PW",
            "S3-USER-SECRET",
            "CIPHER-PW",
        ] {
            assert!(
                !text.contains(gone),
                "{gone} must not reach a redis node:\n{text}"
            );
        }
    }

    #[test]
    fn the_admin_node_keeps_what_its_modules_read() {
        let (text, _) = for_host(&inv(), "10.10.10.10", &[]).unwrap();
        for kept in [
            "META-USER-PW",
            "GRAFANA-PW",
            "MINIO-ROOT-PW",
            "ETCD-ROOT-PW",
            "S3-USER-SECRET",
        ] {
            assert!(text.contains(kept), "{kept}:\n{text}");
        }
        for gone in ["TEST-USER-PW", "REDIS-PW", "HOST12-ONLY"] {
            assert!(!text.contains(gone), "{gone}:\n{text}");
        }
    }

    #[test]
    fn extra_vars_follow_the_same_rule() {
        let e = vec![
            "grafana_admin_password=X".to_string(),
            "pg_rto=10".to_string(),
            "patroni_password=Y".to_string(),
        ];
        assert_eq!(
            extra_vars_for(&inv(), "10.10.10.11", &e),
            vec!["pg_rto=10", "patroni_password=Y"]
        );
        assert_eq!(extra_vars_for(&inv(), "10.10.10.13", &e), vec!["pg_rto=10"]);
    }

    #[test]
    fn every_secret_parameter_of_the_schema_is_classified() {
        let schema = crate::inventory::schema::Schema::builtin().unwrap();
        for (name, spec) in &schema.params {
            if spec.secret {
                assert!(
                    NEEDS.iter().any(|(k, _)| *k == name.as_str())
                        || NESTED.iter().any(|(k, _, _)| *k == name.as_str()),
                    "secret parameter `{name}` is in neither NEEDS nor NESTED"
                );
            }
        }
    }
}
