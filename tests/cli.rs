//! CLI tests: the built binary, as a user runs it.
use assert_cmd::Command;
use predicates::prelude::*;

fn pigsty() -> Command {
    let mut c = Command::cargo_bin("pigsty").unwrap();
    c.env_remove("PIGSTY_INVENTORY");
    c
}

#[test]
fn version_names_commit_and_assets_digest() {
    pigsty()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"^pigsty \d+\.\d+\.\d+ \(commit [0-9a-f]{7,}(-dirty)?|unknown, assets [0-9a-f]{16}\)\n$").unwrap());
}

#[test]
fn help_lists_every_top_level_verb() {
    let out = pigsty()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let s = String::from_utf8(out).unwrap();
    for v in [
        "install",
        "configure",
        "validate",
        "plan",
        "deploy",
        "join",
        "status",
        "pgsql",
        "node",
        "etcd",
        "redis",
        "minio",
        "repo",
        "completion",
    ] {
        assert!(s.contains(v), "help lacks {v}");
    }
    assert!(!s.contains("apply"), "node apply is hidden");
}

#[test]
fn pgsql_help_lists_its_verbs() {
    let out = pigsty()
        .args(["pgsql", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let s = String::from_utf8(out).unwrap();
    for v in [
        "add",
        "rm",
        "user",
        "db",
        "hba",
        "svc",
        "ext",
        "switchover",
        "failover",
        "restart",
        "reload",
        "backup",
        "pitr",
    ] {
        assert!(s.contains(v), "pgsql help lacks {v}");
    }
}

#[test]
fn redis_add_and_rm_name_an_unknown_cluster_and_change_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pigsty.yml");
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .success();
    for verb in ["add", "rm"] {
        pigsty()
            .args(["redis", verb, "redis-nope", "-i"])
            .arg(&p)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("no redis cluster `redis-nope`"));
    }
}

#[test]
fn backup_pitr_and_minio_name_an_unknown_cluster() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pigsty.yml");
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .success();
    for args in [
        vec!["pgsql", "backup", "pg-nope"],
        vec!["pgsql", "pitr", "pg-nope", "--latest", "--yes"],
        vec!["minio", "add", "minio-nope"],
    ] {
        pigsty()
            .arg("-i")
            .arg(&p)
            .args(&args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("no ").and(predicate::str::contains("nope")));
    }
}

#[test]
fn repo_add_records_the_checksum() {
    let d = tempfile::tempdir().unwrap();
    let inv = d.path().join("pigsty.yml");
    let home = d.path().join("www");
    std::fs::write(
        &inv,
        format!("all:\n  children:\n    infra: {{ hosts: {{ 10.9.8.7: {{ infra_seq: 1 }} }} }}\n  vars: {{ repo_home: {} }}\n", home.display()),
    )
    .unwrap();
    let bin = d.path().join("garage");
    std::fs::write(&bin, b"not really garage").unwrap();
    pigsty()
        .arg("-i")
        .arg(&inv)
        .args(["repo", "add"])
        .arg(&bin)
        .assert()
        .success();
    let sums = std::fs::read_to_string(home.join("pigsty/SHA256SUMS")).unwrap();
    assert!(sums.ends_with("  garage\n"), "{sums}");
    assert_eq!(
        std::fs::read(home.join("pigsty/garage")).unwrap(),
        b"not really garage"
    );
}

#[test]
fn switchover_names_an_unknown_cluster_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pigsty.yml");
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .success();
    for verb in ["switchover", "failover"] {
        pigsty()
            .args(["pgsql", verb, "pg-nope", "--yes", "-i"])
            .arg(&p)
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains("no cluster `pg-nope`")
                    .and(predicate::str::contains("pg-meta")),
            );
    }
}

#[test]
fn pgsql_rm_refuses_strangers_a_wrong_name_and_pg_safeguard_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pigsty.yml");
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .success();
    let before = std::fs::read_to_string(&p).unwrap();
    pigsty()
        .args(["pgsql", "rm", "pg-nope", "--yes", "-i"])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no pgsql cluster `pg-nope`")
                .and(predicate::str::contains("pg-meta")),
        );
    pigsty()
        .args(["pgsql", "rm", "pg-meta", "10.1.1.1", "--yes", "-i"])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`10.1.1.1` is not a member of `pg-meta`",
        ));
    // the whole cluster: no leader check, so the question comes; a wrong answer refuses
    pigsty()
        .args(["pgsql", "rm", "pg-meta", "-i"])
        .arg(&p)
        .write_stdin("pg-other\n")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("remove the whole cluster `pg-meta`")
                .and(predicate::str::contains("does not match `pg-meta`")),
        );
    pigsty()
        .args([
            "pgsql",
            "rm",
            "pg-meta",
            "--yes",
            "-e",
            "pg_safeguard=true",
            "-i",
        ])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "pg_safeguard is on for `10.9.8.7`",
        ));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), before);
}

#[test]
fn pitr_refuses_while_pg_safeguard_is_on_before_reaching_any_host() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pigsty.yml");
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .success();
    let before = std::fs::read_to_string(&p).unwrap();
    pigsty()
        .args(["pgsql", "pitr", "pg-meta", "--latest", "--yes", "-e", "pg_safeguard=true", "-i"])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "pg_safeguard is on for `pg-meta` (`10.9.8.7`); refusing a point-in-time recovery, which replaces its data; nothing was changed",
        ));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), before);
}

#[test]
fn node_rm_and_etcd_rm_refuse_what_would_break_the_cluster() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pigsty.yml");
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .success();
    pigsty()
        .args(["node", "rm", "10.9.8.7", "--yes", "-i"])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`10.9.8.7` still carries infra, etcd, pgsql",
        ));
    pigsty()
        .args(["etcd", "rm", "10.9.8.7", "--yes", "-i"])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("that is every etcd member"));
    pigsty()
        .args([
            "etcd",
            "rm",
            "10.9.8.7",
            "--yes",
            "-e",
            "etcd_safeguard=true",
            "-i",
        ])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("every etcd member"));
    pigsty()
        .args(["etcd", "add", "10.9.8.7", "-i"])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("that is a new cluster"));
}

#[test]
fn usage_errors_exit_2() {
    pigsty().arg("frobnicate").assert().code(2);
    pigsty().args(["pgsql", "backup"]).assert().code(2);
}

#[test]
fn completions_are_generated_for_each_shell() {
    for sh in ["bash", "zsh", "fish"] {
        pigsty()
            .args(["completion", sh])
            .assert()
            .success()
            .stdout(predicate::str::contains("pigsty"));
    }
}

#[test]
fn configure_writes_a_private_inventory_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pigsty.yml");
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .success()
        .stderr(predicate::str::contains("10.9.8.7"));
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("10.9.8.7"));
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), text, "untouched");
}

#[test]
fn deploy_without_inventory_names_the_path() {
    pigsty()
        .args(["deploy", "-i", "/nonexistent/pigsty.yml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/pigsty.yml"));
}

#[test]
fn join_of_a_host_not_in_the_inventory_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pigsty.yml");
    pigsty()
        .args(["configure", "--ip", "10.9.8.7", "-o"])
        .arg(&p)
        .assert()
        .success();
    pigsty()
        .args(["join", "10.9.8.99", "-i"])
        .arg(&p)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("`10.9.8.99` is not in")
                .and(predicate::str::contains("nothing was changed")),
        );
}
