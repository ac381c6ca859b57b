//! Every real Pigsty inventory in `../shared/pigsty-conf/` loads: no errors, no
//! unknown parameters, and the modules land where Pigsty puts them.
use pigsty::inventory::{Inventory, Module, PgRole};
use std::path::PathBuf;

/// The real Pigsty confs beside the repository; their absence fails the tests (a test
/// that skips itself proves nothing).
fn conf_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/pigsty-conf");
    assert!(
        dir.is_dir(),
        "{} is missing: these tests need the shared Pigsty confs beside the repository",
        dir.display()
    );
    dir
}

fn load(name: &str) -> Inventory {
    let path = conf_dir().join(name);
    Inventory::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_shared_pigsty_conf_loads() {
    let dir = conf_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read conf dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no confs in {}", dir.display());
    for path in files {
        let inv = Inventory::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!inv.hosts.is_empty(), "{}: no hosts", path.display());
        let unknown: Vec<String> = inv
            .warnings
            .iter()
            .filter(|w| w.message.contains("unknown parameter"))
            .map(|w| w.to_string())
            .collect();
        assert!(
            unknown.is_empty(),
            "{}: unknown parameters:\n{}",
            path.display(),
            unknown.join("\n")
        );
        let missing = inv.check_secrets();
        assert!(missing.is_empty(), "{}: {missing:#?}", path.display());
    }
}

#[test]
fn demo_debian_puts_modules_where_pigsty_does() {
    let inv = load("demo-debian.yml");
    let meta = inv.host("10.10.10.10").expect("meta node");
    assert_eq!(meta.modules(), Module::ALL.into_iter().collect());
    assert_eq!(meta.id.pg_instance.as_deref(), Some("pg-meta-1"));
    assert_eq!(meta.id.redis_ports, vec![6379, 6380]);

    let members = inv.cluster_members("pg-test");
    let roles: Vec<(u32, PgRole, &str)> = members
        .iter()
        .map(|h| {
            (
                h.id.pg_seq.unwrap_or(0),
                h.id.pg_role.unwrap_or(PgRole::Replica),
                h.addr.as_str(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            (1, PgRole::Primary, "10.10.10.11"),
            (2, PgRole::Replica, "10.10.10.12"),
            (3, PgRole::Replica, "10.10.10.13")
        ]
    );
    assert_eq!(members[2].bool("pg_offline_query"), Some(true));
    assert_eq!(
        members[0].str("pg_conf"),
        Some("tiny.yml"),
        "group vars override all.vars"
    );
    assert_eq!(inv.etcd_members().len(), 1);
    assert_eq!(inv.infra_hosts().len(), 1);
    assert_eq!(
        inv.redis_clusters(),
        vec!["redis-ms", "redis-meta", "redis-test"]
    );
    assert_eq!(
        inv.host("10.10.10.11").and_then(|h| h.str("redis_mode")),
        Some("sentinel")
    );
}

#[test]
fn published_passwords_in_shared_confs_are_warned_about() {
    let inv = load("demo-debian.yml");
    let w = inv
        .warnings
        .iter()
        .find(|w| w.key.as_deref() == Some("pg_admin_password"))
        .expect("pg_admin_password warned");
    let line = std::fs::read_to_string(&inv.path)
        .expect("read")
        .lines()
        .nth(w.line.expect("line") - 1)
        .map(str::to_string);
    assert!(
        line.is_some_and(|l| l.trim_start().starts_with("pg_admin_password:")),
        "{w}"
    );
}

#[test]
fn demo_minio_jinja_is_kept_as_text_with_a_warning() {
    let inv = load("demo-minio.yml");
    assert!(inv
        .warnings
        .iter()
        .any(|w| w.key.as_deref() == Some("repo_packages") && w.message.contains("Jinja")));
    assert_eq!(inv.minio_members("minio").len(), 4);
}

#[test]
fn select_picks_clusters_groups_instances_and_addresses() {
    let inv = load("demo-debian.yml");
    let addrs = |l: &str| -> Vec<String> {
        inv.select(Some(l))
            .expect("select")
            .iter()
            .map(|h| h.addr.clone())
            .collect()
    };
    assert_eq!(
        addrs("pg-test"),
        vec!["10.10.10.11", "10.10.10.12", "10.10.10.13"]
    );
    assert_eq!(
        addrs("infra,10.10.10.13"),
        vec!["10.10.10.10", "10.10.10.13"]
    );
    assert_eq!(addrs("pg-test-2"), vec!["10.10.10.12"]);
    assert_eq!(addrs("redis-test"), vec!["10.10.10.12", "10.10.10.13"]);
    assert_eq!(inv.select(None).expect("all").len(), 4);
    let err = inv.select(Some("pg-nope")).expect_err("no match");
    assert!(
        err.to_string().contains("`pg-nope` matches no host"),
        "{err}"
    );
}

/// `pigsty configure -c FILE -g` on every shared conf with its required credentials
/// removed (as the files that rely on Pigsty's published defaults are): the result
/// lacks no credential, holds no published password, and keeps every other line.
#[test]
fn configure_imports_every_shared_conf_with_its_credentials_left_out() {
    let dir = conf_dir();
    let tmp = std::env::temp_dir().join(format!("pigsty-import-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let required = [
        "pg_admin_password",
        "pg_monitor_password",
        "pg_replication_password",
        "patroni_password",
        "haproxy_admin_password",
        "grafana_admin_password",
        "etcd_root_password",
        "minio_secret_key",
    ];
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    names.sort();
    for src in names {
        let text = std::fs::read_to_string(&src).expect("read");
        let bare: String = text
            .split_inclusive('\n')
            .filter(|l| {
                !required
                    .iter()
                    .any(|k| l.trim_start().starts_with(&format!("{k}:")))
            })
            .collect();
        let name = src.file_name().unwrap().to_string_lossy().to_string();
        let input = tmp.join(format!("bare-{name}"));
        let output = tmp.join(format!("out-{name}"));
        std::fs::write(&input, &bare).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pigsty"))
            .args(["configure", "-c"])
            .arg(&input)
            .arg("-g")
            .arg("-o")
            .arg(&output)
            .env_remove("PIGSTY_INVENTORY")
            .output()
            .expect("run pigsty");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        assert!(stderr.contains("every value kept"), "{name}: {stderr}");
        let inv = Inventory::load(&output, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            inv.check_secrets().is_empty(),
            "{name}: {:?}",
            inv.check_secrets()
        );
        // nothing refused either: what validate would still reject is a real problem
        assert!(
            inv.check_unsupported().is_empty(),
            "{name}: {:?}",
            inv.check_unsupported()
        );
        let published: Vec<String> = inv
            .warnings
            .iter()
            .filter(|w| w.message.contains("published in Pigsty"))
            .map(|w| w.to_string())
            .collect();
        assert!(published.is_empty(), "{name}: {published:?}");
        let result = std::fs::read_to_string(&output).expect("read output");
        let plain = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| {
                    !["password", "secret", "nginx_users", "credentials generated"]
                        .iter()
                        .any(|k| l.contains(k))
                })
                .map(str::to_string)
                .collect()
        };
        let (a, b) = (plain(&bare), plain(&result));
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(
            a.len() == b.len() && first.is_none(),
            "{name}: a line other than a credential changed: {:?}",
            first.map(|i| (&a[i], &b[i]))
        );
    }
    std::fs::remove_dir_all(&tmp).ok();
}
