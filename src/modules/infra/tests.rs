use super::*;
use crate::facts::Facts;
use crate::inventory::Inventory;
use crate::modules::Ctx;
use serde_json::json;

fn facts() -> Facts {
    Facts::test_meta()
}

fn secrets() -> Value {
    let mut m = Map::new();
    for k in [
        "dbuser_meta",
        "dbuser_view",
        "s3_key_secret",
        "pgbackrest_cipher_pass",
        "grafana_admin_password",
        "grafana_view_password",
        "pg_admin_password",
        "pg_monitor_password",
        "pg_replication_password",
        "patroni_password",
        "haproxy_admin_password",
        "minio_secret_key",
        "etcd_root_password",
    ] {
        m.insert(k.into(), json!(format!("Fake.{k}")));
    }
    Value::Object(m)
}

/// The embedded meta profile for 10.10.10.10 with fixed fake secrets.
fn meta() -> Inventory {
    let text = crate::template::render_str(
        crate::assets::profile("meta").expect("meta profile"),
        &json!({ "admin_ip": "10.10.10.10", "node_tune": "oltp", "pg_conf": "oltp", "secrets": secrets() }),
    )
    .unwrap();
    Inventory::from_str("meta.yml", &text, &[]).unwrap()
}

/// Four nodes: infra+etcd on .10, a three-member pg-test on .11-.13.
const FOUR: &str = r#"
all:
  children:
    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
    etcd: { hosts: { 10.10.10.10: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary }
        10.10.10.12: { pg_seq: 2, pg_role: replica }
        10.10.10.13: { pg_seq: 3, pg_role: replica }
      vars: { pg_cluster: pg-test, pg_databases: [ { name: test } ], pg_users: [ { name: test, password: Secret.Not.Shown } ] }
  vars:
    admin_ip: 10.10.10.10
    grafana_admin_password: Fake.grafana
    infra_portal:
      home: { domain: i.pigsty }
      grafana: { domain: g.pigsty, endpoint: "${admin_ip}:3000", websocket: true }
"#;

fn four() -> Inventory {
    Inventory::from_str("four.yml", FOUR, &[]).unwrap()
}

/// `four()` plus a redis node on .14: every module, so every rule file.
fn every_module() -> Inventory {
    let redis = "    redis-ms:\n      hosts: { 10.10.10.14: { redis_node: 1, redis_instances: { 6379: { }, 6380: { replica_of: '10.10.10.14 6379' } } } }\n      vars: { redis_cluster: redis-ms, redis_password: fake.ms }\n    pg-test:\n";
    let text = FOUR.replacen("    pg-test:\n", redis, 1);
    assert_ne!(text, FOUR);
    Inventory::from_str("five.yml", &text, &[]).unwrap()
}

fn meta_vars(inv: &Inventory) -> (Value, Map<String, Value>) {
    let h = inv.host("10.10.10.10").unwrap();
    let f = facts();
    let ctx = Ctx::new(inv, h, &f);
    let v = ctx.vars();
    let m = v.as_object().cloned().unwrap();
    (v, m)
}

#[test]
fn infra_plan_for_meta_lists_every_step_in_order() {
    let inv = meta();
    let h = inv.host("10.10.10.10").unwrap();
    let f = facts();
    let plan = plan(&Ctx::new(&inv, h, &f)).unwrap();
    let steps: Vec<String> = plan
        .steps()
        .map(|s| format!("{} {}", s.res.kind(), s.res.name()))
        .collect();
    insta::assert_snapshot!(steps.join("\n"));
}

#[test]
fn prometheus_config_for_meta() {
    let inv = meta();
    let h = inv.host("10.10.10.10").unwrap();
    let (v, _) = meta_vars(&inv);
    let conf = template::render(
        "infra/prometheus.yml.j2",
        &prom::config_context(&inv, h, &v).unwrap(),
    )
    .unwrap();
    let y: Value = serde_yaml::from_str(&conf).unwrap();
    assert_eq!(
        y["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"],
        json!(["10.10.10.10:9059"])
    );
    assert_eq!(y["global"]["scrape_interval"], "10s");
    assert_eq!(y["global"]["scrape_timeout"], "8s");
    let jobs: Vec<&str> = y["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    for j in [
        "infra",
        "ping",
        "node",
        "haproxy",
        "etcd",
        "pgsql",
        "pgbouncer",
        "patroni",
    ] {
        assert!(jobs.contains(&j), "job {j} in {jobs:?}");
    }
    insta::assert_snapshot!(conf);
}

#[test]
fn alertmanager_config_for_meta() {
    let inv = meta();
    let (v, _) = meta_vars(&inv);
    insta::assert_snapshot!(template::render("infra/alertmanager.yml.j2", &v).unwrap());
}

#[test]
fn etc_default_files_carry_ports_and_options() {
    let a = etc_default(
        "prometheus",
        &[
            "--web.listen-address=:9090".into(),
            "--storage.tsdb.retention.time=15d".into(),
        ],
    )
    .unwrap();
    insta::assert_snapshot!(a);
}

#[test]
fn options_with_quotes_or_dollars_are_refused_naming_the_key() {
    let mut m = Map::new();
    m.insert("prometheus_options".into(), json!("--web.page-title=\"x\""));
    let e = P {
        host: "10.10.10.10",
        v: &m,
    }
    .options("prometheus_options")
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`prometheus_options`") && e.contains("10.10.10.10"),
        "{e}"
    );
    m.insert(
        "prometheus_options".into(),
        json!("--storage.tsdb.retention.time=15d  --web.enable-admin-api"),
    );
    assert_eq!(
        P { host: "h", v: &m }
            .options("prometheus_options")
            .unwrap(),
        vec![
            "--storage.tsdb.retention.time=15d".to_string(),
            "--web.enable-admin-api".to_string()
        ]
    );
}

#[test]
fn infra_targets_have_pigsty_labels_and_ports() {
    let inv = meta();
    let h = inv.host("10.10.10.10").unwrap();
    let t = targets(&inv, h);
    let addrs: Vec<&str> = t.iter().map(|t| t.addr.as_str()).collect();
    assert_eq!(
        addrs,
        vec![
            "10.10.10.10:9090",
            "10.10.10.10:9059",
            "10.10.10.10:9091",
            "10.10.10.10:9115",
            "10.10.10.10:9113"
        ]
    );
    for x in &t {
        assert_eq!(x.job, "infra");
        assert_eq!(x.labels.get("cls").map(String::as_str), Some("infra"));
        assert_eq!(x.labels.get("ins").map(String::as_str), Some("infra-1"));
        assert_eq!(x.labels.get("ip").map(String::as_str), Some("10.10.10.10"));
    }
}

#[test]
fn disabled_components_have_no_target() {
    let mut inv = meta();
    inv.hosts[0]
        .vars
        .insert("pushgateway_enabled".into(), json!(false));
    inv.hosts[0]
        .vars
        .insert("nginx_exporter_enabled".into(), json!(false));
    let h = &inv.hosts[0];
    let addrs: Vec<String> = targets(&inv, h).into_iter().map(|t| t.addr).collect();
    assert!(
        !addrs
            .iter()
            .any(|a| a.ends_with(":9091") || a.ends_with(":9113")),
        "{addrs:?}"
    );
}

#[test]
fn target_files_one_per_job_and_host_in_file_sd_format() {
    let inv = four();
    let h = inv.host("10.10.10.10").unwrap();
    let files = prom::target_files(&inv, &h.vars);
    let infra = &files["infra"]["10.10.10.10.yml"];
    let text = String::from_utf8(infra.clone()).unwrap();
    let y: Value = serde_yaml::from_str(&text).unwrap();
    let groups = y.as_array().unwrap();
    assert_eq!(groups.len(), 1, "one label set -> one group: {text}");
    assert_eq!(groups[0]["labels"]["ins"], "infra-1");
    assert_eq!(groups[0]["targets"].as_array().unwrap().len(), 5);
    // every file name is <ip>.yml, owned by pigsty
    for (job, set) in &files {
        for name in set.keys() {
            assert!(prom::is_target_file(name), "{job}/{name}");
        }
    }
    // ping follows node: one per host that has a node target
    let node_hosts: Vec<&String> = files
        .get("node")
        .map(|s| s.keys().collect())
        .unwrap_or_default();
    let ping_hosts: Vec<&String> = files
        .get("ping")
        .map(|s| s.keys().collect())
        .unwrap_or_default();
    assert_eq!(node_hosts, ping_hosts);
    insta::assert_snapshot!(text);
}

#[test]
fn target_file_names_pigsty_owns_are_ip_names_only() {
    assert!(prom::is_target_file("10.10.10.11.yml"));
    assert!(!prom::is_target_file("custom.yml"));
    assert!(!prom::is_target_file("10.10.10.11.yaml"));
    assert!(!prom::is_target_file(".10.10.10.11.yml.pigsty-tmp.42"));
}

#[test]
fn rule_files_follow_the_modules_present() {
    let inv = four();
    let names: Vec<String> = prom::rule_files(&inv).into_keys().collect();
    assert!(names.contains(&"infra.yml".to_string()) && names.contains(&"node.yml".to_string()));
    assert!(
        !names.contains(&"redis.yml".to_string()),
        "no redis node, no redis rules: {names:?}"
    );
    let all: Vec<String> = prom::rule_files(&every_module()).into_keys().collect();
    assert_eq!(
        all,
        [
            "etcd.yml",
            "infra.yml",
            "node.yml",
            "pgsql.yml",
            "redis.yml"
        ]
    );
    assert!(prom::is_our_rule_file("pgsql.yml") && !prom::is_our_rule_file("custom.yml"));
}

fn alert_names(file: &str) -> Vec<String> {
    let text = crate::assets::asset(&format!("infra/rules/{file}")).unwrap();
    let y: Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut out = vec![];
    for g in y["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            assert!(r["expr"].is_string(), "{file}: rule without expr: {r}");
            if let Some(a) = r["alert"].as_str() {
                assert!(
                    r["labels"]["severity"].is_string(),
                    "{file}: {a} has no severity"
                );
                assert!(
                    r["annotations"]["summary"].is_string(),
                    "{file}: {a} has no summary"
                );
                out.push(a.to_string());
            }
        }
    }
    out
}

#[test]
fn alert_rule_files_parse_and_carry_pigsty_alert_names() {
    let want: &[(&str, &[&str])] = &[
        ("infra.yml", &["InfraDown", "NodePingDown"]),
        (
            "node.yml",
            &[
                "NodeDown",
                "HaproxyDown",
                "NodeCpuHigh",
                "NodeLoadHigh",
                "NodeOutOfMem",
                "NodeFsSpaceFull",
                "NodeFsFilesFull",
                "NodeFdFull",
                "NodeTimeDrift",
            ],
        ),
        (
            "etcd.yml",
            &["EtcdServerDown", "EtcdNoLeader", "EtcdSyncCommitSlow"],
        ),
        (
            "pgsql.yml",
            &[
                "PostgresDown",
                "PgbouncerDown",
                "PatroniDown",
                "PgExporterDown",
                "PgbouncerExporterDown",
                "PostgresRestart",
                "PostgresPartition",
                "PostgresReplicationLag",
            ],
        ),
        (
            "redis.yml",
            &[
                "RedisDown",
                "RedisClusterDown",
                "RedisReplicationBroken",
                "RedisMemHigh",
            ],
        ),
    ];
    for (file, names) in want {
        let got = alert_names(file);
        for n in *names {
            assert!(
                got.iter().any(|g| g == n),
                "{file} lacks alert {n}: {got:?}"
            );
        }
    }
}

/// Every alert of the rule files we render (all modules present) is expected to fire
/// in some promtool unit test of `rules_test.yml`, and the tests load exactly those
/// files and name no alert that does not exist: a rule without a test fails here even
/// where promtool is not installed.
#[test]
fn every_alert_has_a_promtool_test_that_fires_it() {
    let files = prom::rule_files(&every_module());
    let mut alerts = std::collections::BTreeSet::new();
    for (name, text) in &files {
        let y: Value = serde_yaml::from_slice(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for g in y["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                if let Some(a) = r["alert"].as_str() {
                    assert!(
                        alerts.insert(a.to_string()),
                        "{name}: alert {a} defined twice"
                    );
                }
            }
        }
    }
    assert!(alerts.len() >= 37, "{alerts:?}");
    let t: Value = serde_yaml::from_str(include_str!("rules_test.yml")).unwrap();
    let mut loaded: Vec<&str> = t["rule_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    loaded.sort();
    assert_eq!(
        loaded,
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        "rules_test.yml rule_files"
    );
    let mut fired = std::collections::BTreeSet::new();
    for test in t["tests"].as_array().unwrap() {
        for a in test["alert_rule_test"].as_array().into_iter().flatten() {
            let name = a["alertname"].as_str().unwrap();
            assert!(
                alerts.contains(name),
                "rules_test.yml tests {name}, which no rule file defines"
            );
            if a["exp_alerts"].as_array().is_some_and(|v| !v.is_empty()) {
                fired.insert(name.to_string());
            }
        }
    }
    let untested: Vec<&String> = alerts.iter().filter(|a| !fired.contains(*a)).collect();
    assert!(
        untested.is_empty(),
        "alerts no test of rules_test.yml fires: {untested:?}"
    );
}

fn promtool() -> bool {
    let there = crate::sys::Cmd::new("promtool").arg("--version").succeeds();
    if !there {
        eprintln!(
            "skip: promtool is not installed here (the lab suite checks the rules on the node)"
        );
    }
    there
}

/// Every rule file of an inventory with every module, in a temp dir.
fn rules_dir() -> (tempfile::TempDir, Vec<String>) {
    let d = tempfile::tempdir().unwrap();
    let mut paths = vec![];
    for (name, text) in prom::rule_files(&every_module()) {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        paths.push(p.display().to_string());
    }
    (d, paths)
}

#[test]
fn alert_rule_files_pass_promtool_check_when_it_is_installed() {
    if !promtool() {
        return;
    }
    let (_d, paths) = rules_dir();
    assert_eq!(
        paths.len(),
        5,
        "infra, node, etcd, pgsql and redis rules: {paths:?}"
    );
    let out = crate::sys::Cmd::new("promtool")
        .args(["check", "rules"])
        .args(paths)
        .run()
        .unwrap();
    assert!(
        out.success(),
        "promtool check rules:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn alerts_fire_on_the_series_that_should_trigger_them_promtool_test() {
    if !promtool() {
        return;
    }
    let (d, _) = rules_dir();
    // One file per test group, run by its own promtool at the same time, each evaluating
    // the rules at its series' interval: promtool evaluates every rule at every step, and
    // the backup group's 49 h at the file's 10 s took 46 s.
    let text = include_str!("rules_test.yml");
    let (head, groups) = text.split_once("\ntests:\n").expect("a tests: list");
    assert!(head.ends_with("\nevaluation_interval: 10s"));
    let groups: Vec<&str> = groups.split("\n  - interval:").skip(1).collect();
    assert!(groups.len() >= 6, "test groups: {}", groups.len());
    let runs: Vec<_> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let step = g.split_whitespace().next().unwrap_or("10s");
            let head = head.replace(
                "\nevaluation_interval: 10s",
                &format!("\nevaluation_interval: {step}"),
            );
            let t = d.path().join(format!("rules_test_{i}.yml"));
            std::fs::write(&t, format!("{head}\ntests:\n  - interval:{g}\n")).unwrap();
            let child = std::process::Command::new("promtool")
                .args(["test", "rules", &t.display().to_string()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (i, child)
        })
        .collect();
    for (i, child) in runs {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool test rules, group {i}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn home_page_for_meta_links_every_service() {
    let inv = meta();
    let h = inv.host("10.10.10.10").unwrap();
    let (_, m) = meta_vars(&inv);
    let page = home::render(&inv, h, &m).unwrap();
    for url in [
        "http://10.10.10.10:9090/",
        "http://10.10.10.10:9090/targets",
        "http://10.10.10.10:9059/",
        "http://10.10.10.10:9091/",
        "http://10.10.10.10:9115/",
        "http://10.10.10.10:3000/",
    ] {
        assert!(
            page.contains(&format!("href=\"{url}\"")),
            "home page lacks a link to {url}"
        );
    }
    assert!(page.contains("pg-meta") && page.contains("pg-meta-primary") && page.contains("5433"));
    assert!(
        page.contains("href=\"http://10.10.10.10:3000/d/pigsty-home\">Pigsty Home</a>"),
        "home page links the dashboards"
    );
    assert!(!page.contains("Fake."), "no secret on the home page");
    insta::assert_snapshot!(page);
}

#[test]
fn home_page_lists_cluster_members_and_hides_passwords() {
    let inv = four();
    let h = inv.host("10.10.10.10").unwrap();
    let page = home::render(&inv, h, &h.vars).unwrap();
    for s in [
        "pg-test-1",
        "pg-test-3",
        "10.10.10.12:5434",
        "replica",
        "http://10.10.10.11:8008/cluster",
        "g.pigsty",
    ] {
        assert!(page.contains(s), "home page lacks {s}");
    }
    assert!(!page.contains("Secret.Not.Shown"));
}

#[test]
fn nginx_site_for_portal_proxies_domains() {
    let inv = four();
    let h = inv.host("10.10.10.10").unwrap();
    let conf = home::nginx_conf(h, &h.vars).unwrap();
    assert!(
        conf.contains("server_name g.pigsty;")
            && conf.contains("proxy_pass http://10.10.10.10:3000;")
    );
    assert!(conf.contains("server_name i.pigsty _;"));
    insta::assert_snapshot!(conf);
}

#[test]
fn nginx_sslmode_disable_serves_http_only_and_enforce_redirects_but_the_repository() {
    let mut inv = four();
    inv.hosts[0]
        .vars
        .insert("nginx_sslmode".into(), json!("disable"));
    let h = &inv.hosts[0];
    let conf = home::nginx_conf(h, &h.vars).unwrap();
    assert!(!conf.contains("listen 443"), "{conf}");
    assert!(!conf.contains("/ca.crt"), "{conf}");
    inv.hosts[0]
        .vars
        .insert("nginx_sslmode".into(), json!("enforce"));
    let h = &inv.hosts[0];
    let conf = home::nginx_conf(h, &h.vars).unwrap();
    assert!(conf.contains("listen 443 ssl default_server;"), "{conf}");
    assert!(
        conf.contains("return 301 https://$host$request_uri;"),
        "{conf}"
    );
    let repo = &conf[conf.find("location /pigsty/").unwrap()..];
    let repo = &repo[..repo.find('}').unwrap()];
    assert!(
        !repo.contains("return 301"),
        "the local repository stays on plain HTTP: {repo}"
    );
    let plan = crate::modules::infra::plan(&crate::modules::Ctx::new(
        &inv,
        &inv.hosts[0],
        &crate::facts::Facts::test_meta(),
    ))
    .unwrap();
    assert!(plan.steps().any(|s| s.res.kind() == "certificate"
        && s.res.name().starts_with("nginx-10.10.10.10 (10.10.10.10")));
}

#[test]
fn portal_endpoint_that_would_break_nginx_is_refused() {
    let mut inv = four();
    inv.hosts[0].vars.insert(
        "infra_portal".into(),
        json!({ "x": { "domain": "x.pigsty; include /etc/passwd" } }),
    );
    let h = &inv.hosts[0];
    let e = home::nginx_conf(h, &h.vars).unwrap_err().to_string();
    assert!(e.contains("infra_portal.x.domain"), "{e}");
}

#[test]
fn grafana_datasources_point_at_local_prometheus_and_loki() {
    let ds = template::render(
        "infra/grafana-datasources.yml.j2",
        &json!({ "prometheus": "http://127.0.0.1:9090", "loki": "http://127.0.0.1:3100" }),
    )
    .unwrap();
    let y: Value = serde_yaml::from_str(&ds).unwrap();
    assert_eq!(y["datasources"][0]["url"], "http://127.0.0.1:9090");
    assert_eq!(y["datasources"][1]["type"], "loki");
}

#[test]
fn alertmanagers_of_several_infra_nodes_gossip() {
    let inv = Inventory::from_str(
        "two.yml",
        "all:\n  children:\n    infra: { hosts: { 10.0.0.1: { infra_seq: 1 }, 10.0.0.2: { infra_seq: 2 } } }\n  vars: { grafana_admin_password: x }\n",
        &[],
    )
    .unwrap();
    let a = prom::alertmanager_cluster_args(&inv, inv.host("10.0.0.1").unwrap());
    assert!(
        a.contains(&"--cluster.peer=10.0.0.2:9094".to_string()),
        "{a:?}"
    );
    let single = prom::alertmanager_cluster_args(&meta(), meta().host("10.10.10.10").unwrap());
    assert_eq!(single, vec!["--cluster.listen-address=".to_string()]);
}

/// Every panel of a dashboard, the ones nested in (collapsed) rows included.
fn all_panels(panels: &Value, out: &mut Vec<Value>) {
    for p in panels.as_array().into_iter().flatten() {
        if p["type"] == "row" {
            all_panels(&p["panels"], out);
        } else {
            out.push(p.clone());
        }
    }
}

/// `$name` / `${name}` references in a query.
fn variable_refs(expr: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let braced = rest.starts_with('{');
        let s = if braced { &rest[1..] } else { rest };
        let name: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[test]
fn dashboards_parse_have_unique_uids_and_titles_and_every_panel_queries_the_provisioned_datasource()
{
    let boards = dashboards();
    for want in [
        "pigsty-home",
        "pigsty-node",
        "pigsty-pgsql-cluster",
        "pigsty-pgsql-instance",
        "pigsty-pgbouncer",
        "pigsty-haproxy",
        "pigsty-etcd",
        "pigsty-redis",
        "pigsty-backup",
    ] {
        assert!(
            boards.contains_key(&format!("{want}.json")),
            "dashboard {want} is missing: {:?}",
            boards.keys()
        );
    }
    let ds = template::render(
        "infra/grafana-datasources.yml.j2",
        &json!({ "prometheus": "http://127.0.0.1:9090", "loki": null }),
    )
    .unwrap();
    let y: Value = serde_yaml::from_str(&ds).unwrap();
    assert_eq!(y["datasources"][0]["type"], "prometheus");
    assert_eq!(
        y["datasources"][0]["uid"], DATASOURCE_UID,
        "dashboards name the provisioned datasource by uid"
    );

    let ds_ok = |what: &str, d: &Value| {
        if !d.is_null() {
            assert_eq!(d["uid"], DATASOURCE_UID, "{what}: datasource {d}");
            assert_eq!(d["type"], "prometheus", "{what}: datasource {d}");
        }
    };
    let (mut uids, mut titles) = (
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    );
    for (name, text) in &boards {
        let d: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no uid"));
        assert_eq!(format!("{uid}.json"), *name, "uid is the file stem");
        assert!(
            uid.len() <= 40,
            "{name}: Grafana uids are at most 40 characters"
        );
        let title = d["title"]
            .as_str()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("{name}: no title"));
        assert!(uids.insert(uid.to_string()), "{name}: duplicate uid {uid}");
        assert!(
            titles.insert(title.to_string()),
            "{name}: duplicate title {title}"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{name}: no schemaVersion"
        );

        let mut vars: Vec<String> = ["__rate_interval", "__interval", "__range"]
            .map(String::from)
            .to_vec();
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let vname = v["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: variable without name"));
            ds_ok(&format!("{name} variable {vname}"), &v["datasource"]);
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or("");
            for r in variable_refs(q) {
                assert!(
                    vars.contains(&r),
                    "{name}: variable {vname} uses ${r} before it is defined"
                );
            }
            vars.push(vname.to_string());
        }

        let mut panels = vec![];
        all_panels(&d["panels"], &mut panels);
        assert!(
            (1..=12).contains(&panels.len()),
            "{name}: {} panels",
            panels.len()
        );
        let mut ids = std::collections::BTreeSet::new();
        for p in &panels {
            let pt = format!("{name} panel {:?}", p["title"].as_str().unwrap_or("?"));
            assert!(
                ids.insert(p["id"].as_u64().unwrap_or_else(|| panic!("{pt}: no id"))),
                "{pt}: duplicate id"
            );
            ds_ok(&pt, &p["datasource"]);
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{pt}: no targets"));
            let exprs: Vec<&str> = targets
                .iter()
                .filter_map(|t| t["expr"].as_str())
                .filter(|e| !e.trim().is_empty())
                .collect();
            assert!(!exprs.is_empty(), "{pt}: no target with a query");
            for t in targets {
                ds_ok(&pt, &t["datasource"]);
                assert!(t["refId"].is_string(), "{pt}: target without refId");
            }
            for e in exprs {
                for r in variable_refs(e) {
                    assert!(vars.contains(&r), "{pt}: query uses undefined ${r}: {e}");
                }
            }
        }
    }
}

#[test]
fn grafana_dashboard_provider_reads_the_dashboard_dir() {
    let y: Value = serde_yaml::from_str(
        &template::render(
            "infra/grafana-dashboards.yml.j2",
            &json!({ "dir": DASHBOARD_DIR }),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(y["apiVersion"], 1);
    let p = &y["providers"][0];
    assert_eq!(p["type"], "file");
    assert_eq!(p["folder"], "Pigsty");
    assert_eq!(p["options"]["path"], DASHBOARD_DIR);
    assert!(
        is_dashboard_file("pigsty-home.json")
            && !is_dashboard_file("custom.json")
            && !is_dashboard_file("pigsty-home.json.bak")
    );
}

#[test]
fn nginx_exporter_flags_follow_its_version() {
    assert_eq!(
        nginx_exporter_args(Some("0.11.0-2"), 80, 9113),
        vec![
            "-nginx.scrape-uri=http://127.0.0.1:80/nginx_status",
            "-web.listen-address=:9113",
            "-nginx.retries=10"
        ]
    );
    // trixie's 1.4: double dashes, no retry flag (1.x refuses it)
    for v in [Some("1.4.1-1+b5"), None] {
        assert_eq!(
            nginx_exporter_args(v, 80, 9113),
            vec![
                "--nginx.scrape-uri=http://127.0.0.1:80/nginx_status",
                "--web.listen-address=:9113"
            ]
        );
    }
}
