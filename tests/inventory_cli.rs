//! `pigsty validate` as a user runs it: the built binary, exit codes and messages.
use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
        .display()
        .to_string()
}

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pigsty"))
        .arg("validate")
        .args(args)
        .env_remove("PIGSTY_INVENTORY")
        .output()
        .expect("run pigsty")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_good_inventory_validates_with_exit_0_and_a_summary() {
    let out = validate(&["-i", &fixture("good.yml")]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("pgsql   pg-test  2    replica  10.10.10.12  pg-test-2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("10.10.10.10  pg-meta-1  node,infra,etcd,pgsql"),
        "{stdout}"
    );
    assert!(
        stdout.contains("is valid: 4 hosts, 2 pgsql clusters"),
        "{stdout}"
    );
}

#[test]
fn a_bad_inventory_exits_1_listing_every_problem() {
    let out = validate(&["-i", &fixture("dup-seq.yml")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("dup-seq.yml:6`: host `10.10.10.12`, key `pg_seq`: duplicate pg_seq 1 in cluster `pg-test`"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unsafe_names_are_refused_with_file_line_and_key() {
    let out = validate(&["-i", &fixture("unsafe-names.yml")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for want in [
        "unsafe-names.yml:18`: host `10.10.10.11`, key `pg_cluster`: cluster name `pg test` has a space",
        "unsafe-names.yml:19`: host `10.10.10.11`, key `pg_users[0].name`: role name `o'brien` has a quote (')",
        "unsafe-names.yml:23`: host `10.10.10.11`, key `pg_default_privileges[1]`: default privilege: expected `GRANT <privilege> ON",
    ] {
        assert!(stderr.contains(want), "no `{want}` in:\n{stderr}");
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_credentials_make_validate_fail() {
    let out = validate(&["-i", &fixture("missing-secrets.yml")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "key `pg_admin_password`: credential not set; PGSQL needs it on `10.10.10.11`"
        ),
        "{stderr}"
    );
}

#[test]
fn extra_vars_are_checked_too() {
    let out = validate(&["-i", &fixture("good.yml"), "-e", "pg_port=yes"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`-e`: key `pg_port`: expected a port number"),
        "{stderr}"
    );
}

#[test]
fn invalid_yaml_is_reported_with_its_line() {
    let out = validate(&["-i", &fixture("bad-yaml.yml")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad-yaml.yml:6`: invalid YAML"), "{stderr}");
}

#[test]
fn json_output_is_one_object() {
    let out = validate(&["-i", &fixture("good.yml"), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], serde_json::json!(true));
    assert_eq!(
        v["clusters"]["pgsql"][1]["name"],
        serde_json::json!("pg-test")
    );
    assert_eq!(v["hosts"].as_array().map(Vec::len), Some(4));

    let out = validate(&["-i", &fixture("two-primaries.yml"), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], serde_json::json!(false));
    assert_eq!(v["errors"][0]["key"], serde_json::json!("pg_role"));
    assert_eq!(v["errors"][0]["line"], serde_json::json!(6));
}

#[test]
fn a_missing_inventory_says_how_to_get_one() {
    let out = validate(&["-i", "/nonexistent/pigsty.yml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read `/nonexistent/pigsty.yml`") && stderr.contains("hint:"),
        "{stderr}"
    );
}

#[test]
fn unsupported_parameters_are_named_with_file_line_and_what_happens_instead() {
    let inv = fixture("unsupported.yml");
    let out = validate(&["-i", &inv]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unsupported.yml:21`: key `dns_records`: `dns_records` is not implemented by pigsty and is ignored: no dnsmasq; these records are not served (set to a list) (hosts 10.10.10.10, 10.10.10.11, 10.10.10.12)"), "{stderr}");
    assert!(stderr.contains("unsupported.yml:16`: host `10.10.10.12`, key `pg_mode`: `pg_mode` is not implemented by pigsty and is refused: the cluster runs as vanilla PostgreSQL (pgsql)"), "{stderr}");
    assert!(
        stderr.contains("hint: remove `pg_mode` or set it back to `pgsql`"),
        "{stderr}"
    );

    // plan refuses before it connects anywhere (10.10.10.11-12 do not exist here)
    let out = Command::new(env!("CARGO_BIN_EXE_pigsty"))
        .args(["plan", "-i", &inv, "-l", "pg-test"])
        .env_remove("PIGSTY_INVENTORY")
        .output()
        .expect("run pigsty");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the inventory sets parameters pigsty does not implement, and ignoring them would mislead; nothing was changed:"), "{stderr}");
    assert!(stderr.contains("key `pg_mode`"), "{stderr}");
    assert!(
        stderr.contains("`dns_records` is not implemented by pigsty and is ignored"),
        "the warning is shown by plan too: {stderr}"
    );
}
