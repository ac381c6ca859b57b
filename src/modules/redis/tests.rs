use super::*;
use crate::modules::node::tests::fake_facts;

pub const DEMO: &str = r#"
all:
  children:
    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
    etcd: { hosts: { 10.10.10.10: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }
    redis-ms:
      hosts: { 10.10.10.10: { redis_node: 1 , redis_instances: { 6379: { }, 6380: { replica_of: '10.10.10.10 6379' } } } }
      vars: { redis_cluster: redis-ms ,redis_password: 'fake.ms' ,redis_max_memory: 64MB }
    redis-meta:
      hosts: { 10.10.10.11: { redis_node: 1 , redis_instances: { 26379: { } ,26380: { } ,26381: { } } } }
      vars:
        redis_cluster: redis-meta
        redis_password: 'fake.meta'
        redis_mode: sentinel
        redis_max_memory: 16MB
        redis_sentinel_monitor:
          - { name: redis-ms, host: 10.10.10.10, port: 6379 ,password: fake.ms, quorum: 2, down_after_milliseconds: 5000 }
    redis-test:
      hosts:
        10.10.10.12: { redis_node: 1 ,redis_instances: { 6379: { } ,6380: { } ,6381: { } } }
        10.10.10.13: { redis_node: 2 ,redis_instances: { 6379: { } ,6380: { } ,6381: { } } }
      vars: { redis_cluster: redis-test ,redis_password: 'fake.test' ,redis_mode: cluster, redis_max_memory: 32MB }
  vars:
    admin_ip: 10.10.10.10
    etcd_root_password: fake-root
    haproxy_admin_password: fake-haproxy
    grafana_admin_password: fake-grafana
"#;

pub fn demo() -> Inventory {
    Inventory::from_str("redis.yml", DEMO, &[]).unwrap()
}

fn plan_of(inv: &Inventory, addr: &str) -> ModulePlan {
    let facts = fake_facts();
    let ctx = Ctx::new(inv, inv.host(addr).unwrap(), &facts);
    plan(&ctx).unwrap()
}

fn params_of(inv: &Inventory, addr: &str) -> Params {
    let facts = fake_facts();
    let ctx = Ctx::new(inv, inv.host(addr).unwrap(), &facts);
    params(&ctx).unwrap()
}

#[test]
fn snapshot_standalone_replica_conf_unit_and_exporter() {
    let inv = demo();
    let p = params_of(&inv, "10.10.10.10");
    insta::assert_snapshot!(
        "redis_ms_1_6379_conf",
        render_conf(&p, &p.instances[0]).unwrap()
    );
    insta::assert_snapshot!(
        "redis_ms_1_6380_conf",
        render_conf(&p, &p.instances[1]).unwrap()
    );
    insta::assert_snapshot!(
        "redis_ms_1_6379_service",
        render_unit(&p, &p.instances[0]).unwrap()
    );
    insta::assert_snapshot!(
        "redis_exporter_default",
        render_exporter_default(&p).unwrap()
    );
}

#[test]
fn snapshot_sentinel_and_cluster_confs() {
    let inv = demo();
    let s = params_of(&inv, "10.10.10.11");
    insta::assert_snapshot!(
        "redis_meta_1_26379_conf",
        render_conf(&s, &s.instances[0]).unwrap()
    );
    insta::assert_snapshot!(
        "redis_meta_1_26379_service",
        render_unit(&s, &s.instances[0]).unwrap()
    );
    let c = params_of(&inv, "10.10.10.12");
    insta::assert_snapshot!(
        "redis_test_1_6379_conf",
        render_conf(&c, &c.instances[0]).unwrap()
    );
}

#[test]
fn instances_are_named_cluster_node_port_with_their_units_and_dirs() {
    let inv = demo();
    let v = instances(inv.host("10.10.10.10").unwrap());
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].name, "redis-ms-1-6380");
    assert_eq!(v[1].unit, "redis-ms-1-6380.service");
    assert_eq!(v[1].conf, "/etc/redis/redis-ms-1-6380.conf");
    assert_eq!(v[1].data, "/data/redis/redis-ms-1-6380");
    assert_eq!(v[1].replica_of, Some(("10.10.10.10".into(), 6379)));
    assert_eq!(unit_name("cache-1-6379"), "redis-cache-1-6379.service");
}

#[test]
fn replica_of_accepts_pigstys_form_and_host_port() {
    assert_eq!(
        parse_replica_of("10.10.10.10 6379"),
        Some(("10.10.10.10".into(), 6379))
    );
    assert_eq!(
        parse_replica_of("10.10.10.10:6380"),
        Some(("10.10.10.10".into(), 6380))
    );
    assert_eq!(parse_replica_of("10.10.10.10"), None);
    assert_eq!(parse_replica_of("10.10.10.10 0"), None);
}

#[test]
fn sentinel_owns_the_role_of_the_watched_master_and_its_replica() {
    let inv = demo();
    let p = plan_of(&inv, "10.10.10.10");
    let lives: Vec<String> = p
        .steps()
        .filter(|s| s.res.kind() == "redis config")
        .map(|s| s.res.name())
        .collect();
    assert_eq!(lives.len(), 2, "{lives:?}");
    assert_eq!(
        watched_masters(&inv),
        vec![("10.10.10.10".to_string(), 6379)]
    );
}

#[test]
fn the_first_cluster_node_creates_the_native_cluster_the_others_join() {
    let inv = demo();
    let first = plan_of(&inv, "10.10.10.12");
    let c: Vec<String> = first
        .steps()
        .filter(|s| s.res.kind() == "redis cluster")
        .map(|s| s.res.name())
        .collect();
    assert_eq!(
        c,
        vec!["redis-test (6 instances, 1 replica(s) per primary)"]
    );
    let second = plan_of(&inv, "10.10.10.13");
    let c: Vec<String> = second
        .steps()
        .filter(|s| s.res.kind() == "redis cluster")
        .map(|s| s.res.name())
        .collect();
    assert_eq!(
        c,
        vec!["redis-test: 10.10.10.13:6379 10.10.10.13:6380 10.10.10.13:6381 joined"],
        "the others join their own instances"
    );
}

#[test]
fn plan_masks_debians_unit_before_installing_and_never_shows_the_password() {
    let inv = demo();
    let p = plan_of(&inv, "10.10.10.10");
    let names: Vec<String> = p
        .steps()
        .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
        .collect();
    let mask = names
        .iter()
        .position(|n| n == "symlink /etc/systemd/system/redis-server.service")
        .unwrap();
    let pkg = names.iter().position(|n| n == "package redis").unwrap();
    assert!(mask < pkg, "{names:?}");
    for n in &names {
        assert!(!n.contains("fake.ms"), "{n}");
    }
}

#[test]
fn targets_scrape_each_instance_through_the_node_exporter() {
    let inv = demo();
    let t = targets(&inv, inv.host("10.10.10.10").unwrap());
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].job, "redis");
    assert_eq!(t[0].addr, "10.10.10.10:9121");
    assert_eq!(t[0].labels["ins"], "redis-ms-1-6379");
    assert_eq!(t[0].labels["instance"], "10.10.10.10:6379");
    assert_eq!(t[0].labels["__param_target"], "redis://10.10.10.10:6379");
    assert_eq!(t[0].labels["__metrics_path__"], "/scrape");
}

#[test]
fn removal_drops_targets_and_plans_stops() {
    let inv = Inventory::from_str(
        "redis.yml",
        DEMO,
        &[r#"{"redis_remove": {"10.10.10.10": [6380]}}"#.into()],
    )
    .unwrap();
    let t = targets(&inv, inv.host("10.10.10.10").unwrap());
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].labels["ins"], "redis-ms-1-6379");
    let p = plan_of(&inv, "10.10.10.10");
    let names: Vec<String> = p
        .steps()
        .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
        .collect();
    assert!(
        names.contains(&"service redis-ms-1-6380.service".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("6379.service")),
        "{names:?}"
    );
    let safe = Inventory::from_str(
        "redis.yml",
        DEMO,
        &[r#"{"redis_remove": {"10.10.10.10": []}, "redis_safeguard": true}"#.into()],
    )
    .unwrap();
    let facts = fake_facts();
    let Err(e) = plan(&Ctx::new(&safe, safe.host("10.10.10.10").unwrap(), &facts)) else {
        panic!("safeguard ignored")
    };
    assert!(e.to_string().contains("redis_safeguard"), "{e}");
}

#[test]
fn exporter_password_map_has_every_instance() {
    let inv = demo();
    let p = params_of(&inv, "10.10.10.10");
    let m: BTreeMap<String, String> =
        serde_json::from_str(&render_exporter_passwords(&p, &[6379, 6380])).unwrap();
    assert_eq!(
        m.get("redis://10.10.10.10:6380").map(String::as_str),
        Some("fake.ms")
    );
}

#[test]
fn missing_password_is_refused_naming_the_key() {
    let inv = Inventory::from_str(
        "redis.yml",
        &DEMO.replace("redis_password: 'fake.ms' ,", ""),
        &[],
    )
    .unwrap();
    let facts = fake_facts();
    let Err(e) = plan(&Ctx::new(&inv, inv.host("10.10.10.10").unwrap(), &facts)) else {
        panic!("no password accepted")
    };
    assert!(e.to_string().contains("`redis_password`"), "{e}");
    assert!(inv
        .check_secrets()
        .iter()
        .any(|d| d.key.as_deref() == Some("redis_password")));
}

fn invalid(text: &str) -> Vec<crate::inventory::Diag> {
    match Inventory::from_str("pigsty.yml", text, &[]) {
        Ok(_) => panic!("expected the inventory to be invalid"),
        Err(e) => e.diags().iter().filter(|d| d.is_error()).cloned().collect(),
    }
}

#[test]
fn demo_inventory_is_valid() {
    let inv = demo();
    assert_eq!(
        inv.redis_clusters(),
        vec!["redis-ms", "redis-meta", "redis-test"]
    );
}

#[test]
fn replica_of_an_undefined_instance_is_an_error_naming_the_key() {
    let d = invalid(&DEMO.replace(
        "replica_of: '10.10.10.10 6379'",
        "replica_of: '10.10.10.10 6390'",
    ));
    let d = d
        .iter()
        .find(|d| d.message.contains("not a redis instance defined"))
        .unwrap_or_else(|| panic!("{d:#?}"));
    assert_eq!(d.key.as_deref(), Some("redis_instances.6380.replica_of"));
    assert_eq!(d.host.as_deref(), Some("10.10.10.10"));
    assert!(d.line.is_some());
    assert!(
        d.to_string()
            .contains("key `redis_instances.6380.replica_of`"),
        "{d}"
    );
}

#[test]
fn cluster_mode_with_fewer_than_three_primaries_is_an_error_naming_the_key() {
    let text = DEMO.replace(
        "        10.10.10.13: { redis_node: 2 ,redis_instances: { 6379: { } ,6380: { } ,6381: { } } }\n",
        "",
    );
    let d = invalid(&text);
    let d = d
        .iter()
        .find(|d| d.message.contains("at least 3"))
        .unwrap_or_else(|| panic!("{d:#?}"));
    assert_eq!(d.key.as_deref(), Some("redis_instances"));
    assert!(
        d.message.contains("`redis_mode: cluster`") && d.message.contains("1 primaries"),
        "{}",
        d.message
    );
}

#[test]
fn replica_of_in_cluster_mode_and_a_monitor_without_host_are_errors() {
    let d = invalid(&DEMO.replace(
        "10.10.10.12: { redis_node: 1 ,redis_instances: { 6379: { }",
        "10.10.10.12: { redis_node: 1 ,redis_instances: { 6379: { replica_of: '10.10.10.13 6379' }",
    ));
    assert!(
        d.iter().any(
            |d| d.key.as_deref() == Some("redis_instances.6379.replica_of")
                && d.message.contains("standalone")
        ),
        "{d:#?}"
    );
    let d = invalid(&DEMO.replace(
        "host: 10.10.10.10, port: 6379 ,password",
        "port: 6379 ,password",
    ));
    assert!(
        d.iter()
            .any(|d| d.key.as_deref() == Some("redis_sentinel_monitor[0]")
                && d.message.contains("`host`")),
        "{d:#?}"
    );
}

#[test]
fn alert_rules_are_installed_with_redis_and_pass_promtool_when_it_is_installed() {
    let inv = demo();
    let files = crate::modules::infra::prom::rule_files(&inv);
    let text = String::from_utf8(
        files
            .get("redis.yml")
            .cloned()
            .expect("redis.yml installed with a redis cluster"),
    )
    .unwrap();
    for a in [
        "RedisDown",
        "RedisRejectConn",
        "RedisRTHigh",
        "RedisCPUHigh",
        "RedisMemHigh",
        "RedisQPSHigh",
        "RedisReplicationBroken",
        "RedisClusterDown",
    ] {
        assert!(text.contains(&format!("alert: {a}\n")), "no {a}");
    }
    if !crate::sys::Cmd::new("promtool").arg("--version").succeeds() {
        eprintln!(
            "skip: promtool is not installed here (the lab suite checks the rules on the node)"
        );
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("redis.yml"), &text).unwrap();
    std::fs::write(
        d.path().join("rules_test.yml"),
        include_str!("rules_test.yml"),
    )
    .unwrap();
    let out = crate::sys::Cmd::new("promtool")
        .args([
            "check",
            "rules",
            &d.path().join("redis.yml").display().to_string(),
        ])
        .run()
        .unwrap();
    assert!(
        out.success(),
        "promtool check rules:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    let out = crate::sys::Cmd::new("promtool")
        .args([
            "test",
            "rules",
            &d.path().join("rules_test.yml").display().to_string(),
        ])
        .run()
        .unwrap();
    assert!(
        out.success(),
        "promtool test rules:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn valkey_is_refused_naming_the_key() {
    let inv = Inventory::from_str("redis.yml", DEMO, &["redis_type=valkey".into()]).unwrap();
    let facts = fake_facts();
    let Err(e) = plan(&Ctx::new(&inv, inv.host("10.10.10.10").unwrap(), &facts)) else {
        panic!("valkey accepted")
    };
    assert!(e.to_string().contains("`redis_type`"), "{e}");
}
