//! Checks across hosts once variables are merged: addresses, identities, sequence
//! numbers, primaries, etcd size, port clashes; and the credential check. One file per
//! concern: `identity.rs`, `clusters.rs`, `ports.rs`, `redis.rs`, `secrets.rs`; the
//! helpers that place a diagnostic at its file and line are here.
use super::{Diag, Host, Inventory, LoadOptions, Module, PgRole, Severity, Source};
use crate::inventory::schema::Schema;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};

mod clusters;
mod connection;
mod identity;
mod names;
mod ports;
mod redis;
mod secrets;
use clusters::*;
use connection::*;
use identity::*;
use names::*;
use ports::*;
use redis::*;
pub(super) use secrets::check_secrets;

/// Every cross-host problem of a freshly assembled inventory.
pub(super) fn validate(inv: &Inventory, opts: &LoadOptions) -> Vec<Diag> {
    let mut v = Vec::new();
    addresses(inv, opts, &mut v);
    identities(inv, &mut v);
    names(inv, &mut v);
    cluster_conflicts(inv, &mut v);
    pg_clusters(inv, &mut v);
    seq_clusters(inv, &mut v);
    redis_clusters(inv, &mut v);
    backups(inv, &mut v);
    ports(inv, &mut v);
    connections(inv, &mut v);
    crate::inventory::business::check(inv, &mut v);
    v
}

/// A diagnostic at the line where `host` got `key` (then `sub`).
fn at(
    inv: &Inventory,
    sev: Severity,
    host: &Host,
    key: &str,
    sub: &[&str],
    message: String,
    hint: Option<&str>,
) -> Diag {
    let (file, line) = inv.locate(host, key, sub);
    let key = if sub.is_empty() {
        key.to_string()
    } else {
        format!("{key}.{}", sub.join(".")).replace(".[", "[")
    };
    Diag {
        severity: sev,
        file,
        line,
        host: Some(host.addr.clone()),
        key: Some(key),
        message,
        hint: hint.map(str::to_string),
    }
}

/// A diagnostic at the line of `host`'s entry in the inventory (under `group` if
/// it is written there).
fn at_host(
    inv: &Inventory,
    host: &str,
    group: Option<&str>,
    key: Option<&str>,
    message: String,
    hint: Option<String>,
) -> Diag {
    Diag {
        severity: Severity::Error,
        file: inv.file(),
        line: inv.host_line_in(host, group),
        host: Some(host.to_string()),
        key: key.map(str::to_string),
        message,
        hint,
    }
}

fn error(inv: &Inventory, host: &Host, key: &str, message: String, hint: Option<&str>) -> Diag {
    at(inv, Severity::Error, host, key, &[], message, hint)
}

/// Present at all (a value of the wrong type was reported already; not "missing").
fn present(h: &Host, key: &str) -> bool {
    h.vars.get(key).is_some_and(|v| !v.is_null())
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn err(text: &str) -> Vec<Diag> {
        match Inventory::from_str("pigsty.yml", text, &[]) {
            Ok(_) => panic!("expected the inventory to be invalid"),
            Err(e) => e.diags().iter().filter(|d| d.is_error()).cloned().collect(),
        }
    }

    fn one(text: &str, needle: &str) -> Diag {
        let diags = err(text);
        diags
            .iter()
            .find(|d| d.message.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no `{needle}` in {diags:#?}"))
    }

    #[test]
    fn unsafe_cluster_user_and_ca_names_name_file_line_and_key() {
        let text = "
all:
  vars: { ca_cn: \"ca'; rm -rf /\" }
  children:
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12: { pg_seq: 2, pg_role: replica }
      vars: { pg_cluster: \"pg test\", pg_dbsu: \"Postgres\" }
";
        let d = one(text, "cluster name");
        assert_eq!(
            d.to_string().lines().next(),
            Some("`pigsty.yml:9`: host `10.10.10.11`, key `pg_cluster`: cluster name `pg test` has a space where only letters, digits, `_`, `-` and `.`, starting with a letter or digit, at most 63 are allowed")
        );
        let all = err(text);
        assert_eq!(
            all.iter()
                .filter(|d| d.message.contains("cluster name"))
                .count(),
            1,
            "once, not per host: {all:#?}"
        );
        assert_eq!(one(text, "user name `Postgres`").line, Some(9));
        assert_eq!(one(text, "CA common name").line, Some(3));
    }

    #[test]
    fn duplicate_pg_seq_names_line_and_host() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12: { pg_seq: 1, pg_role: replica }
      vars: { pg_cluster: pg-test }
";
        let d = one(text, "duplicate pg_seq");
        assert_eq!(
            d.to_string().lines().next(),
            Some("`pigsty.yml:7`: host `10.10.10.12`, key `pg_seq`: duplicate pg_seq 1 in cluster `pg-test` (also on `10.10.10.11`)")
        );
    }

    #[test]
    fn two_primaries_are_refused() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12:
          pg_seq: 2
          pg_role: primary
      vars: { pg_cluster: pg-test }
";
        let d = one(text, "second primary");
        assert_eq!(
            (d.line, d.host.as_deref(), d.key.as_deref()),
            (Some(9), Some("10.10.10.12"), Some("pg_role"))
        );
        assert!(d.message.contains("(also on `10.10.10.11`)"));
    }

    #[test]
    fn a_cluster_of_replicas_has_no_primary() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: replica }
        10.10.10.12: { pg_seq: 2, pg_role: offline }
      vars:
        pg_cluster: pg-test
";
        let d = one(text, "has no primary");
        assert_eq!((d.line, d.key.as_deref()), (Some(9), Some("pg_cluster")));
        assert!(
            d.message
                .contains("replica `10.10.10.11`, offline `10.10.10.12`"),
            "{}",
            d.message
        );
    }

    #[test]
    fn a_standby_cluster_with_its_leader_marked_primary_is_valid() {
        let text = "
all:
  children:
    pg-test:
      hosts: { 10.10.10.11: { pg_seq: 1, pg_role: primary } }
      vars: { pg_cluster: pg-test }
    pg-test2:
      hosts:
        10.10.10.12: { pg_seq: 1, pg_role: primary, pg_upstream: 10.10.10.11 }
        10.10.10.13: { pg_seq: 2, pg_role: replica }
      vars: { pg_cluster: pg-test2 }
";
        let inv = Inventory::from_str("pigsty.yml", text, &[]).expect("valid");
        assert_eq!(
            inv.primary("pg-test2")
                .and_then(|h| h.id.pg_upstream.as_deref()),
            Some("10.10.10.11")
        );
    }

    #[test]
    fn a_standby_cluster_without_a_primary_gets_pigstys_convention_as_hint() {
        let text = "
all:
  children:
    pg-test2:
      hosts:
        10.10.10.12: { pg_seq: 1, pg_role: replica, pg_upstream: 10.10.10.11 }
      vars: { pg_cluster: pg-test2 }
";
        let d = one(text, "has no primary");
        assert!(
            d.hint.as_deref().is_some_and(|h| h.contains("pg_upstream")),
            "{d}"
        );
    }

    #[test]
    fn an_unknown_pg_role_is_refused() {
        let text = "all:\n  children:\n    pg-test:\n      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: leader } }\n      vars: { pg_cluster: pg-test }\n";
        let d = one(text, "one of primary, replica, offline");
        assert_eq!(
            (d.line, d.host.as_deref(), d.key.as_deref()),
            (Some(4), Some("10.0.0.1"), Some("pg_role"))
        );
        assert!(d.message.contains("got `leader`"));
    }

    #[test]
    fn missing_pg_identity_is_named_per_key() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.0.0.1: { pg_seq: 1 }
        10.0.0.2: { pg_role: replica }
";
        let diags = err(text);
        let find = |host: &str, key: &str| {
            diags
                .iter()
                .any(|d| d.host.as_deref() == Some(host) && d.key.as_deref() == Some(key))
        };
        assert!(
            find("10.0.0.1", "pg_cluster") && find("10.0.0.1", "pg_role"),
            "{diags:#?}"
        );
        assert!(
            find("10.0.0.2", "pg_cluster") && find("10.0.0.2", "pg_seq"),
            "{diags:#?}"
        );
        let d = diags
            .iter()
            .find(|d| d.key.as_deref() == Some("pg_cluster"))
            .expect("pg_cluster");
        assert_eq!(d.line, Some(6));
        assert_eq!(
            d.hint.as_deref(),
            Some("set `pg_cluster: pg-test` in the vars of group `pg-test`")
        );
    }

    #[test]
    fn a_host_key_that_is_not_an_address_is_refused() {
        let text = "all:\n  children:\n    g:\n      hosts:\n        no-such-host.invalid: {}\n";
        let d = one(text, "neither an IP address");
        assert_eq!(
            (d.line, d.host.as_deref()),
            (Some(5), Some("no-such-host.invalid"))
        );
        let text = "all:\n  children:\n    g:\n      hosts:\n        localhost: {}\n        10.0.0.1: {}\n";
        assert!(Inventory::from_str("pigsty.yml", text, &[]).is_ok());
    }

    #[test]
    fn an_even_etcd_cluster_is_refused() {
        let text = "
all:
  children:
    etcd:
      hosts:
        10.0.0.1: { etcd_seq: 1 }
        10.0.0.2: { etcd_seq: 2 }
      vars: { etcd_cluster: etcd }
";
        let d = one(text, "etcd has 2 members");
        assert_eq!(d.line, Some(5));
    }

    #[test]
    fn duplicate_etcd_seq_and_missing_infra_seq_are_refused() {
        let text = "
all:
  children:
    infra: { hosts: { 10.0.0.1: {} } }
    etcd:
      hosts:
        10.0.0.1: { etcd_seq: 1 }
        10.0.0.2: { etcd_seq: 1 }
        10.0.0.3: { etcd_seq: 3 }
";
        let d = one(text, "duplicate etcd_seq 1");
        assert_eq!((d.line, d.host.as_deref()), (Some(8), Some("10.0.0.2")));
        let d = one(text, "without `infra_seq`");
        assert_eq!(
            (d.line, d.host.as_deref(), d.key.as_deref()),
            (Some(4), Some("10.0.0.1"), Some("infra_seq"))
        );
    }

    #[test]
    fn two_services_on_one_port_are_refused() {
        let text = "
all:
  children:
    pg-test:
      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
      vars: { pg_cluster: pg-test }
    redis-test:
      hosts: { 10.0.0.1: { redis_node: 1, redis_instances: { 6379: {}, 5432: {} } } }
      vars: { redis_cluster: redis-test, redis_password: x.Strong.1 }
";
        let d = one(text, "port 5432");
        assert!(
            d.message
                .contains("postgres (`pg_port`) and redis `redis-test-1-5432`"),
            "{}",
            d.message
        );
        assert_eq!(
            (d.line, d.host.as_deref(), d.key.as_deref()),
            (Some(8), Some("10.0.0.1"), Some("redis_instances.5432"))
        );
    }

    #[test]
    fn a_pg_service_on_a_taken_port_is_refused_on_every_member() {
        let text = "
all:
  children:
    pg-test:
      hosts:
        10.0.0.1: { pg_seq: 1, pg_role: primary }
        10.0.0.2: { pg_seq: 2, pg_role: replica }
      vars:
        pg_cluster: pg-test
        pg_services:
          - { name: standby, port: 9100, dest: default, selector: '[]' }
";
        let diags = err(text);
        let clashes: Vec<&Diag> = diags
            .iter()
            .filter(|d| d.message.contains("port 9100"))
            .collect();
        assert_eq!(clashes.len(), 2, "{diags:#?}");
        assert_eq!(clashes[0].line, Some(11));
        assert_eq!(clashes[0].key.as_deref(), Some("pg_services[0].port"));
    }

    #[test]
    fn the_same_host_in_two_pg_clusters_is_refused() {
        let text = "
all:
  children:
    pg-a: { hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }, vars: { pg_cluster: pg-a } }
    pg-b: { hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }, vars: { pg_cluster: pg-b } }
";
        let d = one(text, "two clusters");
        assert_eq!((d.line, d.key.as_deref()), (Some(5), Some("pg_cluster")));
    }

    #[test]
    fn a_backup_method_without_a_repository_is_refused() {
        let text = "all:\n  vars: { pgbackrest_method: s3 }\n  children:\n    pg-a: { hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }, vars: { pg_cluster: pg-a } }\n";
        let d = one(text, "no repository `s3`");
        assert_eq!(d.line, Some(2));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "
all:
  children:
    etcd: { hosts: { 10.0.0.1: { etcd_seq: 1 }, 10.0.0.2: { etcd_seq: 2 } } }
    pg-test:
      hosts:
        10.0.0.1: { pg_seq: 1, pg_role: primary }
        10.0.0.2: { pg_seq: 1, pg_role: primary }
      vars: { pg_cluster: pg-test, pg_port: yes }
";
        let diags = err(text);
        for needle in [
            "etcd has 2",
            "duplicate pg_seq",
            "second primary",
            "expected a port",
        ] {
            assert!(
                diags.iter().any(|d| d.message.contains(needle)),
                "{needle} missing from {diags:#?}"
            );
        }
    }

    const SECRETS_BASE: &str = "
all:
  children:
    infra: { hosts: { 10.0.0.1: { infra_seq: 1 } } }
    etcd: { hosts: { 10.0.0.1: { etcd_seq: 1 } } }
    pg-meta:
      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
      vars: { pg_cluster: pg-meta }
";

    #[test]
    fn missing_credentials_are_named_per_module() {
        let inv = Inventory::from_str("pigsty.yml", SECRETS_BASE, &[])
            .expect("loads without credentials");
        let diags = inv.check_secrets();
        let keys: Vec<&str> = diags.iter().filter_map(|d| d.key.as_deref()).collect();
        for k in [
            "pg_admin_password",
            "pg_monitor_password",
            "pg_replication_password",
            "patroni_password",
            "haproxy_admin_password",
            "grafana_admin_password",
            "etcd_root_password",
        ] {
            assert!(keys.contains(&k), "{k} not reported: {keys:?}");
        }
        assert!(
            !keys.contains(&"minio_secret_key") && !keys.contains(&"redis_password"),
            "{keys:?}"
        );
        let d = diags
            .iter()
            .find(|d| d.key.as_deref() == Some("pg_admin_password"))
            .expect("reported");
        assert!(d.message.contains("PGSQL needs it on `10.0.0.1`"), "{d}");
    }

    #[test]
    fn credentials_switched_off_with_their_feature_are_not_required() {
        let extra = [
            "haproxy_enabled=false".to_string(),
            "grafana_enabled=false".to_string(),
            "patroni_enabled=false".to_string(),
        ];
        let inv = Inventory::from_str("pigsty.yml", SECRETS_BASE, &extra).expect("loads");
        let keys: Vec<String> = inv
            .check_secrets()
            .into_iter()
            .filter_map(|d| d.key)
            .collect();
        for k in [
            "haproxy_admin_password",
            "grafana_admin_password",
            "patroni_password",
        ] {
            assert!(!keys.iter().any(|x| x == k), "{k} reported: {keys:?}");
        }
    }

    #[test]
    fn encrypted_s3_backups_need_their_secrets() {
        let inv = Inventory::from_str(
            "pigsty.yml",
            SECRETS_BASE,
            &["pgbackrest_method=minio".to_string()],
        )
        .expect("loads");
        let keys: Vec<String> = inv
            .check_secrets()
            .into_iter()
            .filter_map(|d| d.key)
            .collect();
        assert!(
            keys.contains(&"pgbackrest_repo.minio.s3_key_secret".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"pgbackrest_repo.minio.cipher_pass".to_string()),
            "{keys:?}"
        );
    }

    #[test]
    fn minio_users_need_secret_keys() {
        let text = "all:\n  children:\n    minio: { hosts: { 10.0.0.1: { minio_seq: 1 } }, vars: { minio_cluster: minio, minio_secret_key: A.Fresh.One } }\n";
        let inv = Inventory::from_str("pigsty.yml", text, &[]).expect("loads");
        let keys: Vec<String> = inv
            .check_secrets()
            .into_iter()
            .filter_map(|d| d.key)
            .collect();
        assert!(
            keys.contains(&"minio_users[0].secret_key".to_string()),
            "{keys:?}"
        );
        assert!(!keys.contains(&"minio_secret_key".to_string()), "{keys:?}");
    }
}
