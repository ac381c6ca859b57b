//! Reading an inventory: YAML to groups and host entries, extra vars, type checks of
//! every layer against the schema, and the merge into each host's variables. One file
//! per stage: `yaml.rs` (structure), `extra.rs` (`-e`), `check.rs` (types, published
//! passwords), `assemble.rs` (membership, merge, identities); here the raw model and
//! the diagnostic collector.
use super::schema::{Check, Schema};
use super::{
    locate, validate, Diag, ExtraLayer, Group, Host, Identity, Inventory, InventoryError,
    LoadOptions, PgRole, Severity, Source, PIGSTY_DEFAULT_PASSWORDS,
};
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::path::PathBuf;

mod assemble;
mod check;
mod extra;
mod yaml;
use assemble::*;
pub(super) use check::show;
use check::*;
use extra::*;
pub(super) use yaml::to_json;
use yaml::*;

/// A group as written, before membership is closed over nesting.
#[derive(Debug, Default)]
struct RawGroup {
    path: Vec<String>,
    depth: usize,
    vars: Map<String, Value>,
    hosts: Vec<String>,
    children: Vec<String>,
}

/// One `<addr>: {vars}` entry under some group's `hosts`.
#[derive(Debug)]
struct RawEntry {
    addr: String,
    group: String,
    vars: Map<String, Value>,
}

#[derive(Debug, Default)]
struct Raw {
    global: Map<String, Value>,
    /// Group names in file order.
    order: Vec<String>,
    groups: BTreeMap<String, RawGroup>,
    entries: Vec<RawEntry>,
}

/// Where a layer of variables is written.
#[derive(Debug, Clone)]
enum Place {
    /// In the inventory, under this YAML path.
    Inv(Vec<String>),
    /// In the n-th extra-vars layer.
    Extra(usize),
}

/// Collects diagnostics while loading.
struct Cx<'a> {
    file: String,
    text: &'a str,
    extra: Vec<ExtraLayer>,
    diags: Vec<Diag>,
}

impl Cx<'_> {
    /// File and line of `key` (then `sub`) inside the layer at `place`.
    fn line(&self, place: &Place, key: Option<&str>, sub: &[&str]) -> (String, Option<usize>) {
        match place {
            Place::Inv(p) => {
                let mut path: Vec<&str> = p.iter().map(String::as_str).collect();
                path.extend(key);
                path.extend_from_slice(sub);
                (self.file.clone(), locate::line_of(self.text, &path))
            }
            Place::Extra(i) => {
                let Some(layer) = self.extra.get(*i) else {
                    return ("-e".into(), None);
                };
                let mut path: Vec<&str> = key.into_iter().collect();
                path.extend_from_slice(sub);
                let line = layer.text.as_deref().and_then(|t| {
                    if path.is_empty() {
                        None
                    } else {
                        locate::line_of(t, &path)
                    }
                });
                (layer.file.clone(), line)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        severity: Severity,
        place: &Place,
        host: Option<&str>,
        key: Option<&str>,
        sub: &[&str],
        message: String,
        hint: Option<String>,
    ) {
        let (file, line) = self.line(place, key, sub);
        let key = key.map(|k| {
            if sub.is_empty() {
                k.to_string()
            } else {
                display_key(k, sub)
            }
        });
        self.diags.push(Diag {
            severity,
            file,
            line,
            host: host.map(str::to_string),
            key,
            message,
            hint,
        });
    }

    /// One error or warning at a place, about a host's key if given.
    fn say(
        &mut self,
        severity: Severity,
        place: &Place,
        host: Option<&str>,
        key: Option<&str>,
        message: String,
        hint: Option<String>,
    ) {
        self.push(severity, place, host, key, &[], message, hint);
    }
}

/// `pg_users` + `["[1]", "password"]` → `pg_users[1].password`
fn display_key(key: &str, sub: &[&str]) -> String {
    let mut s = key.to_string();
    for p in sub {
        if p.starts_with('[') {
            s.push_str(p);
        } else {
            s.push('.');
            s.push_str(p);
        }
    }
    s
}

fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

pub(super) fn build(
    path: PathBuf,
    text: String,
    extra_args: &[String],
    opts: &LoadOptions,
) -> Result<Inventory, InventoryError> {
    let file = path.display().to_string();
    let schema = Schema::builtin().map_err(InventoryError::Schema)?;
    let doc = parse_yaml(&file, &text)?;
    let extra = parse_extra(extra_args)?;
    let mut cx = Cx {
        file,
        text: &text,
        extra,
        diags: Vec::new(),
    };

    let mut raw = structure(&mut cx, &doc);

    // Type-check every layer where it is written, so errors point at the right line.
    check_layer(
        &mut cx,
        schema,
        &mut raw.global,
        &Place::Inv(p(&["all", "vars"])),
        None,
    );
    for name in raw.order.clone() {
        if let Some(g) = raw.groups.get_mut(&name) {
            let mut place = g.path.clone();
            place.push("vars".into());
            let mut vars = std::mem::take(&mut g.vars);
            check_layer(&mut cx, schema, &mut vars, &Place::Inv(place), None);
            if let Some(g) = raw.groups.get_mut(&name) {
                g.vars = vars;
            }
        }
    }
    for i in 0..raw.entries.len() {
        let (addr, group) = (raw.entries[i].addr.clone(), raw.entries[i].group.clone());
        let place = Place::Inv(entry_path(&raw, &group, &addr));
        let mut vars = std::mem::take(&mut raw.entries[i].vars);
        check_layer(&mut cx, schema, &mut vars, &place, Some(&addr));
        raw.entries[i].vars = vars;
    }
    for i in 0..cx.extra.len() {
        let mut vars = std::mem::take(&mut cx.extra[i].vars);
        check_layer(&mut cx, schema, &mut vars, &Place::Extra(i), None);
        cx.extra[i].vars = vars;
    }

    let inv = assemble(&mut cx, schema, raw, &path, &text);
    let mut diags = cx.diags;
    diags.extend(validate::validate(&inv, opts));
    // refusals are not load errors (real Pigsty files set them): see `unsupported`
    diags.extend(
        super::unsupported::findings(&inv)
            .into_iter()
            .filter(|f| !f.refuse)
            .map(|f| f.diag),
    );
    let (errors, warnings): (Vec<Diag>, Vec<Diag>) = diags.into_iter().partition(Diag::is_error);
    if !errors.is_empty() {
        return Err(InventoryError::Invalid(
            errors.into_iter().chain(warnings).collect(),
        ));
    }
    Ok(Inventory { warnings, ..inv })
}

fn entry_path(raw: &Raw, group: &str, addr: &str) -> Vec<String> {
    let mut path = raw
        .groups
        .get(group)
        .map(|g| g.path.clone())
        .unwrap_or_else(|| p(&["all"]));
    path.push("hosts".into());
    path.push(addr.into());
    path
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use serde_json::json;

    fn load(text: &str, extra: &[&str]) -> Inventory {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        match Inventory::from_str("pigsty.yml", text, &extra) {
            Ok(inv) => inv,
            Err(e) => panic!("{e}"),
        }
    }

    const BASE: &str = "
all:
  children:
    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
    etcd: { hosts: { 10.10.10.10: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary, pg_port: 5440 }
        10.10.10.12: { pg_seq: 2, pg_role: replica }
      vars:
        pg_cluster: pg-test
        pg_port: 5442
        node_tune: tiny
  vars:
    admin_ip: 10.10.10.10
    pg_port: 5444
    node_tune: oltp
    pg_version: 17
";

    #[test]
    fn defaults_fill_what_the_inventory_leaves_out() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.10").expect("host");
        assert_eq!(h.int("patroni_port"), Some(8008));
        assert_eq!(h.str("pg_conf"), Some("oltp.yml"));
        assert_eq!(h.source("patroni_port"), Some(&Source::Default));
    }

    #[test]
    fn group_vars_override_all_vars() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.12").expect("host");
        assert_eq!(h.int("pg_port"), Some(5442));
        assert_eq!(h.str("node_tune"), Some("tiny"));
        assert_eq!(h.int("pg_version"), Some(17));
        assert_eq!(h.source("pg_port"), Some(&Source::Group("pg-test".into())));
    }

    #[test]
    fn host_vars_override_group_vars() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.11").expect("host");
        assert_eq!(h.int("pg_port"), Some(5440));
        assert_eq!(h.source("pg_port"), Some(&Source::Host("pg-test".into())));
    }

    #[test]
    fn extra_vars_win() {
        let inv = load(BASE, &["pg_port=6000", "node_tune=crit pg_version=16"]);
        for h in &inv.hosts {
            assert_eq!(h.int("pg_port"), Some(6000), "{}", h.addr);
            assert_eq!(h.str("node_tune"), Some("crit"));
            assert_eq!(h.int("pg_version"), Some(16));
            assert_eq!(h.source("pg_port"), Some(&Source::Extra(0)));
        }
        assert_eq!(inv.vars["pg_port"], json!(6000));
    }

    #[test]
    fn extra_vars_parse_as_yaml_scalars_and_flow_collections() {
        let inv = load(
            BASE,
            &[
                "pg_checksum=false",
                "pg_extensions=[postgis, vector]",
                "pg_libs=a, b",
                "pg_dns_suffix=",
            ],
        );
        let h = inv.host("10.10.10.11").expect("host");
        assert_eq!(h.bool("pg_checksum"), Some(false));
        assert_eq!(h.get("pg_extensions"), Some(&json!(["postgis", "vector"])));
        assert_eq!(h.str("pg_libs"), Some("a, b"));
        assert_eq!(h.str("pg_dns_suffix"), Some(""));
    }

    #[test]
    fn extra_vars_from_a_file_and_inline_mapping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("extra.yml");
        std::fs::write(&f, "pg_port: 7000\npg_conf: olap.yml\n").expect("write");
        let at = format!("@{}", f.display());
        let inv = load(BASE, &[&at, "{pg_conf: crit.yml}"]);
        let h = inv.host("10.10.10.11").expect("host");
        assert_eq!(h.int("pg_port"), Some(7000));
        assert_eq!(h.str("pg_conf"), Some("crit.yml"));
    }

    #[test]
    fn extra_vars_file_errors_name_that_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("extra.yml");
        std::fs::write(&f, "pg_conf: olap.yml\npg_port: yes\n").expect("write");
        let at = format!("@{}", f.display());
        let err = Inventory::from_str("pigsty.yml", BASE, &[at]).expect_err("invalid");
        let d = &err.diags()[0];
        assert_eq!(d.file, f.display().to_string());
        assert_eq!(d.line, Some(2));
        assert_eq!(d.key.as_deref(), Some("pg_port"));
    }

    #[test]
    fn malformed_extra_vars_are_refused() {
        let err = Inventory::from_str("pigsty.yml", BASE, &["justaword".to_string()])
            .expect_err("invalid");
        assert!(err.to_string().contains("is not `key=value`"), "{err}");
    }

    #[test]
    fn a_host_in_several_groups_merges_group_vars_by_name() {
        let text = "
all:
  children:
    zeta: { hosts: { 10.0.0.1: {} }, vars: { node_tune: olap, node_timezone: UTC } }
    alpha: { hosts: { 10.0.0.1: {} }, vars: { node_tune: crit, node_admin_uid: 90 } }
";
        let inv = load(text, &[]);
        let h = inv.host("10.0.0.1").expect("host");
        assert_eq!(h.groups, vec!["alpha", "zeta"]);
        assert_eq!(
            h.str("node_tune"),
            Some("olap"),
            "zeta sorts after alpha, so it wins"
        );
        assert_eq!(h.int("node_admin_uid"), Some(90));
        assert_eq!(h.str("node_timezone"), Some("UTC"));
    }

    #[test]
    fn nested_groups_are_deeper_and_win() {
        let text = "
all:
  children:
    parent:
      vars: { node_tune: olap }
      children:
        child: { hosts: { 10.0.0.1: {} }, vars: { node_tune: crit } }
";
        let inv = load(text, &[]);
        let h = inv.host("10.0.0.1").expect("host");
        assert_eq!(h.groups, vec!["parent", "child"]);
        assert_eq!(h.str("node_tune"), Some("crit"));
        assert_eq!(inv.groups["parent"].hosts, vec!["10.0.0.1"]);
        assert_eq!(inv.groups["parent"].children, vec!["child"]);
    }

    #[test]
    fn hosts_keep_file_order_once_each() {
        let inv = load(BASE, &[]);
        let addrs: Vec<&str> = inv.hosts.iter().map(|h| h.addr.as_str()).collect();
        assert_eq!(addrs, vec!["10.10.10.10", "10.10.10.11", "10.10.10.12"]);
    }

    #[test]
    fn empty_and_null_hosts_are_fine() {
        let text =
            "all:\n  children:\n    app:\n      hosts:\n        10.0.0.1: {}\n        10.0.0.2:\n";
        let inv = load(text, &[]);
        assert_eq!(inv.hosts.len(), 2);
    }

    #[test]
    fn pg_identity_names_the_node_by_default() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.12").expect("host");
        assert_eq!(h.id.pg_instance.as_deref(), Some("pg-test-2"));
        assert_eq!(h.id.nodename.as_deref(), Some("pg-test-2"));
        assert_eq!(h.id.node_cluster.as_deref(), Some("pg-test"));
        assert_eq!(h.str("node_cluster"), Some("pg-test"));
        let infra = inv.host("10.10.10.10").expect("host");
        assert_eq!(infra.id.nodename, None);
        assert_eq!(infra.id.node_cluster.as_deref(), Some("nodes"));
        let inv = load(BASE, &["node_id_from_pg=false"]);
        assert_eq!(
            inv.host("10.10.10.12").and_then(|h| h.id.nodename.clone()),
            None
        );
    }

    #[test]
    fn integer_keys_become_strings() {
        let text = "all:\n  children:\n    r:\n      hosts: { 10.0.0.1: { redis_node: 1, redis_instances: { 6379: {}, 6380: { replica_of: '10.0.0.1 6379' } } } }\n      vars: { redis_cluster: r, redis_password: x.Strong }\n";
        let inv = load(text, &[]);
        let h = inv.host("10.0.0.1").expect("host");
        assert!(h
            .dict("redis_instances")
            .is_some_and(|m| m.contains_key("6379")));
        assert_eq!(h.id.redis_ports, vec![6379, 6380]);
    }

    #[test]
    fn yaml_errors_name_line_and_column() {
        let err = Inventory::from_str("bad.yml", "all:\n  vars: { a: [1, 2 }\n", &[])
            .expect_err("invalid");
        match err {
            InventoryError::Yaml {
                file, line, col, ..
            } => {
                assert_eq!(file, "bad.yml");
                assert_eq!(line, 2);
                assert!(col > 1);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn duplicate_hosts_in_a_group_point_at_the_second_one() {
        let text =
            "all:\n  children:\n    g:\n      hosts:\n        10.0.0.1: {}\n        10.0.0.1: {}\n";
        let err = Inventory::from_str("dup.yml", text, &[]).expect_err("invalid");
        assert!(matches!(err, InventoryError::Yaml { line: 6, .. }), "{err}");
        assert!(err.to_string().contains("`dup.yml:6:9`"), "{err}");
    }

    #[test]
    fn wrong_types_name_line_host_and_key() {
        let text = "all:\n  children:\n    pg-test:\n      hosts:\n        10.0.0.1: { pg_seq: one, pg_role: primary }\n      vars: { pg_cluster: pg-test, pg_port: yes }\n";
        let err = Inventory::from_str("pigsty.yml", text, &[]).expect_err("invalid");
        let msg = err.to_string();
        assert!(
            msg.contains("`pigsty.yml:5`: host `10.0.0.1`, key `pg_seq`: expected an integer"),
            "{msg}"
        );
        assert!(msg.contains("`pigsty.yml:6`: key `pg_port`: expected a port number (1-65535), got `yes` (a string)"), "{msg}");
        assert!(
            !msg.contains("missing `pg_seq`"),
            "a bad pg_seq is not also reported missing: {msg}"
        );
    }

    #[test]
    fn a_cluster_name_in_all_vars_makes_no_member() {
        // Pigsty's full.yml: `minio_cluster: minio` in all.vars, one MinIO node
        let text = "all:\n  vars:\n    minio_cluster: minio\n    redis_cluster: r\n    pg_cluster: p\n  children:\n    minio: { hosts: { 10.0.0.1: { minio_seq: 1 } } }\n    other: { hosts: { 10.0.0.2: {} } }\n    pg-x: { hosts: { 10.0.0.3: { pg_seq: 1, pg_role: primary } } }\n";
        let inv = load(text, &[]);
        let m = |a: &str| inv.host(a).expect("host").modules();
        assert!(m("10.0.0.1").contains(&Module::Minio));
        assert_eq!(m("10.0.0.2"), [Module::Node].into_iter().collect());
        assert!(
            m("10.0.0.3").contains(&Module::Pgsql),
            "pg_seq with the all.vars name makes a member"
        );
        assert_eq!(
            inv.host("10.0.0.3").unwrap().id.pg_instance.as_deref(),
            Some("p-1")
        );
    }

    #[test]
    fn unknown_parameters_are_warnings_with_a_suggestion() {
        let text =
            "all:\n  vars:\n    pg_prot: 5432\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n";
        let inv = load(text, &[]);
        let w = &inv.warnings[0];
        assert_eq!((w.line, w.key.as_deref()), (Some(3), Some("pg_prot")));
        assert_eq!(w.hint.as_deref(), Some("did you mean `pg_port`?"));
    }

    #[test]
    fn pigsty_v2_names_and_other_modules_say_what_they_are() {
        let text = "all:\n  vars:\n    etcd_clean: true\n    kafka_cluster: k\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n";
        let inv = load(text, &[]);
        let hint = |k: &str| {
            inv.warnings
                .iter()
                .find(|w| w.key.as_deref() == Some(k))
                .and_then(|w| w.hint.clone())
                .unwrap_or_default()
        };
        assert!(
            hint("etcd_clean").contains("write `etcd_safeguard` instead (the opposite sense"),
            "{}",
            hint("etcd_clean")
        );
        assert!(hint("kafka_cluster").contains("Pigsty's KAFKA module, which pigsty does not have"));
    }

    #[test]
    fn jinja_values_are_kept_with_a_warning() {
        let text = "all:\n  vars:\n    repo_packages: \"{{ x | list }}\"\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n";
        let inv = load(text, &[]);
        assert!(inv
            .warnings
            .iter()
            .any(|w| w.key.as_deref() == Some("repo_packages") && w.message.contains("Jinja")));
        assert_eq!(
            inv.host("10.0.0.1").and_then(|h| h.str("repo_packages")),
            Some("{{ x | list }}")
        );
    }

    #[test]
    fn published_default_passwords_are_warned_about_without_printing_them() {
        let text = "
all:
  vars:
    pg_admin_password: DBUser.DBA
  children:
    pg-meta:
      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
      vars:
        pg_cluster: pg-meta
        pg_users:
          - { name: a, password: Fresh.Secret.1 }
          - { name: dbuser_meta, password: DBUser.Meta }
";
        let inv = load(text, &[]);
        let admin = inv
            .warnings
            .iter()
            .find(|w| w.key.as_deref() == Some("pg_admin_password"))
            .expect("warned");
        assert_eq!(admin.line, Some(4));
        let user = inv
            .warnings
            .iter()
            .find(|w| w.key.as_deref() == Some("pg_users[1].password"))
            .expect("warned");
        assert_eq!(user.line, Some(12));
        for w in &inv.warnings {
            assert!(!w.to_string().contains("DBUser"), "{w}");
        }
    }

    #[test]
    fn secrets_are_not_echoed_in_type_errors() {
        let text = "all:\n  vars:\n    pg_admin_password: [Secret.One]\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n";
        let err = Inventory::from_str("pigsty.yml", text, &[]).expect_err("invalid");
        assert!(!err.to_string().contains("Secret.One"), "{err}");
    }

    #[test]
    fn conflicting_host_vars_across_groups_are_warned_about() {
        let text = "all:\n  children:\n    a: { hosts: { 10.0.0.1: { node_tune: olap } } }\n    b: { hosts: { 10.0.0.1: { node_tune: crit } } }\n";
        let inv = load(text, &[]);
        assert_eq!(
            inv.host("10.0.0.1").and_then(|h| h.str("node_tune")),
            Some("crit")
        );
        let w = inv
            .warnings
            .iter()
            .find(|w| w.key.as_deref() == Some("node_tune"))
            .expect("warned");
        assert_eq!(w.line, Some(4));
    }

    #[test]
    fn hosts_directly_under_all_and_top_level_groups_load() {
        let text = "all:\n  hosts:\n    10.0.0.1: { node_tune: olap }\nextra:\n  hosts: { 10.0.0.2: {} }\n  vars: { node_tune: crit }\n";
        let inv = load(text, &[]);
        assert_eq!(inv.hosts.len(), 2);
        assert_eq!(
            inv.host("10.0.0.1").and_then(|h| h.str("node_tune")),
            Some("olap")
        );
        assert!(inv.host("10.0.0.1").is_some_and(|h| h.groups.is_empty()));
        assert_eq!(
            inv.host("10.0.0.2").and_then(|h| h.str("node_tune")),
            Some("crit")
        );
        assert_eq!(inv.host_line("10.0.0.1"), Some(3));
    }

    #[test]
    fn expand_fills_pigsty_placeholders_from_host_vars() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.11").expect("host");
        assert_eq!(h.expand("http://${admin_ip}:80"), "http://10.10.10.10:80");
        assert_eq!(
            h.expand("${pg_cluster}-${pg_seq} ${nope}"),
            "pg-test-1 ${nope}"
        );
    }

    #[test]
    fn an_empty_file_is_invalid() {
        let err = Inventory::from_str("e.yml", "", &[]).expect_err("invalid");
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
