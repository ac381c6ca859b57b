//! Each validation error, from a fixture file: the message names the line, the host
//! and the key.
use pigsty::inventory::{Diag, Inventory, InventoryError};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
}

fn errors(name: &str) -> Vec<Diag> {
    match Inventory::load(&fixture(name), &[]) {
        Ok(_) => panic!("{name} should be invalid"),
        Err(e) => e.diags().iter().filter(|d| d.is_error()).cloned().collect(),
    }
}

/// The error whose message contains `needle`, checked for line, host and key.
fn expect(name: &str, needle: &str, line: usize, host: Option<&str>, key: Option<&str>) -> Diag {
    let all = errors(name);
    let d = all
        .iter()
        .find(|d| d.message.contains(needle))
        .cloned()
        .unwrap_or_else(|| panic!("{name}: no error with `{needle}` in {all:#?}"));
    assert_eq!(d.line, Some(line), "{d}");
    assert_eq!(d.host.as_deref(), host, "{d}");
    assert_eq!(d.key.as_deref(), key, "{d}");
    let text = d.to_string();
    assert!(
        text.starts_with(&format!("`{}:{line}`: ", fixture(name).display())),
        "{text}"
    );
    if let Some(h) = host {
        assert!(text.contains(&format!("host `{h}`")), "{text}");
    }
    if let Some(k) = key {
        assert!(text.contains(&format!("key `{k}`")), "{text}");
    }
    d
}

#[test]
fn good_inventory_loads_clean() {
    let inv = Inventory::load(&fixture("good.yml"), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(inv.warnings.is_empty(), "{:#?}", inv.warnings);
    assert!(inv.check_secrets().is_empty(), "{:#?}", inv.check_secrets());
}

#[test]
fn invalid_yaml_names_line_and_column() {
    match Inventory::load(&fixture("bad-yaml.yml"), &[]) {
        Err(InventoryError::Yaml { line, col, .. }) => assert_eq!((line, col), (6, 11)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_types_name_line_host_and_key() {
    expect(
        "wrong-types.yml",
        "expected an integer, got `one`",
        5,
        Some("10.10.10.11"),
        Some("pg_seq"),
    );
    expect(
        "wrong-types.yml",
        "expected a port number (1-65535), got `yes` (a string)",
        8,
        None,
        Some("pg_port"),
    );
}

#[test]
fn missing_pg_cluster_names_each_host() {
    let d = expect(
        "missing-identity.yml",
        "without `pg_cluster`",
        5,
        Some("10.10.10.11"),
        Some("pg_cluster"),
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("set `pg_cluster: pg-test` in the vars of group `pg-test`")
    );
    expect(
        "missing-identity.yml",
        "without `pg_seq`",
        6,
        Some("10.10.10.12"),
        Some("pg_seq"),
    );
}

#[test]
fn duplicate_pg_seq_names_line_and_host() {
    let d = expect(
        "dup-seq.yml",
        "duplicate pg_seq 1 in cluster `pg-test`",
        6,
        Some("10.10.10.12"),
        Some("pg_seq"),
    );
    assert!(d.message.ends_with("(also on `10.10.10.11`)"), "{d}");
}

#[test]
fn two_primaries_name_the_second() {
    expect(
        "two-primaries.yml",
        "second primary in cluster `pg-test` (also on `10.10.10.11`)",
        6,
        Some("10.10.10.12"),
        Some("pg_role"),
    );
}

#[test]
fn a_cluster_without_primary_is_refused() {
    expect(
        "no-primary.yml",
        "cluster `pg-test` has no primary",
        8,
        None,
        Some("pg_cluster"),
    );
}

#[test]
fn a_standby_cluster_is_valid() {
    let inv = Inventory::load(&fixture("standby.yml"), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        inv.primary("pg-test2").map(|h| h.addr.as_str()),
        Some("10.10.10.12")
    );
}

#[test]
fn an_unknown_pg_role_is_refused() {
    expect(
        "bad-role.yml",
        "one of primary, replica, offline, got `leader`",
        5,
        Some("10.10.10.11"),
        Some("pg_role"),
    );
}

#[test]
fn a_host_that_is_no_address_is_refused() {
    expect(
        "bad-host.yml",
        "neither an IP address nor a name that resolves",
        6,
        Some("not-a-host.invalid"),
        None,
    );
}

#[test]
fn an_even_etcd_cluster_is_refused() {
    expect("even-etcd.yml", "etcd has 2 members", 4, None, None);
}

#[test]
fn two_services_on_one_port_are_refused() {
    let d = expect(
        "port-clash.yml",
        "port 6432 is taken by both pgbouncer (`pgbouncer_port`) and redis `redis-test-1-6432`",
        8,
        Some("10.10.10.11"),
        Some("redis_instances.6432"),
    );
    assert_eq!(d.hint.as_deref(), Some("give one of them another port"));
}

#[test]
fn missing_credentials_load_but_fail_the_secret_check() {
    let inv =
        Inventory::load(&fixture("missing-secrets.yml"), &[]).unwrap_or_else(|e| panic!("{e}"));
    let keys: Vec<String> = inv
        .check_secrets()
        .into_iter()
        .filter_map(|d| d.key)
        .collect();
    assert!(keys.contains(&"pg_admin_password".to_string()), "{keys:?}");
}

#[test]
fn unknown_parameters_are_warnings_naming_file_line_and_key() {
    let inv = Inventory::load(&fixture("unknown-param.yml"), &[]).unwrap_or_else(|e| panic!("{e}"));
    let w = &inv.warnings[0];
    assert_eq!((w.line, w.key.as_deref()), (Some(6), Some("node_tuen")));
    assert_eq!(w.hint.as_deref(), Some("did you mean `node_tune`?"));
}
