//! `pigsty configure -c FILE`: import an existing Pigsty configuration. Every value it
//! sets is kept and its text is kept as written (comments, layout, order); each
//! required credential it leaves unset gets a fresh random value in `all.vars`.
//! Passwords published in Pigsty's docs are warned about, and with `-g` replaced in
//! place, the same published value by the same new one everywhere (Pigsty's files
//! repeat a value where two settings must agree, e.g. a MinIO user's secret and the
//! pgBackRest repository's key).
use super::configure::random_secret;
use crate::inventory::{Inventory, PIGSTY_DEFAULT_PASSWORDS};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// What an import did, for the summary line.
#[derive(Debug, Default)]
pub struct Imported {
    pub text: String,
    /// Credentials added to `all.vars`.
    pub generated: Vec<String>,
    /// Published passwords replaced (`-g`), as `file:line key`.
    pub replaced: Vec<String>,
    /// Published passwords left in place (without `-g`).
    pub published: Vec<String>,
}

/// Import `text` (the file `name`), filling missing credentials, and with `regenerate`
/// replacing published passwords.
pub fn import(name: &str, text: &str, regenerate: bool) -> Result<Imported> {
    let inv = Inventory::from_str(name, text, &[])
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!("`{name}` does not load; configure imports a file that only lacks credentials")
        })?;
    let mut out = Imported {
        text: text.to_string(),
        ..Default::default()
    };

    // published passwords, found by the loader's warnings (they carry file:line)
    let published: Vec<_> = inv
        .warnings
        .iter()
        .filter(|w| w.message.contains("a password published in Pigsty's docs"))
        .cloned()
        .collect();
    if regenerate {
        let mut lines: Vec<String> = out.text.split_inclusive('\n').map(str::to_string).collect();
        let mut fresh: BTreeMap<&str, String> = BTreeMap::new();
        for w in &published {
            let Some(l) = w.line.filter(|l| *l >= 1 && *l <= lines.len()) else {
                continue;
            };
            let line = &mut lines[l - 1];
            // the field the value is written under: `pg_users[0].password` → `password`
            let key = w.key.as_deref().unwrap_or("");
            let field = key
                .rsplit('.')
                .next()
                .unwrap_or(key)
                .split('[')
                .next()
                .unwrap_or(key);
            let Some((pw, i)) = PIGSTY_DEFAULT_PASSWORDS
                .iter()
                .find_map(|p| value_at(line, field, p).map(|i| (*p, i)))
            else {
                out.published.push(format!("{}:{l} {key}", w.file));
                continue;
            };
            let new = fresh.entry(pw).or_insert_with(random_secret).clone();
            line.replace_range(i..i + pw.len(), &new);
            out.replaced
                .push(format!("{}:{l} {}", w.file, w.key.as_deref().unwrap_or("")));
        }
        out.text = lines.concat();
    } else {
        out.published = published
            .iter()
            .map(|w| {
                format!(
                    "{}:{} {}",
                    w.file,
                    w.line.unwrap_or(0),
                    w.key.as_deref().unwrap_or("")
                )
            })
            .collect();
    }

    // credentials the file leaves unset: a fresh value each, in all.vars
    let mut missing: Vec<String> = inv
        .check_secrets()
        .into_iter()
        .filter_map(|d| d.key)
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        let (scalars, nested): (Vec<String>, Vec<String>) =
            missing.into_iter().partition(|k| !k.contains(['.', '[']));
        let mut adds: Vec<(String, String)> = scalars
            .iter()
            .map(|k| (k.clone(), random_secret()))
            .collect();
        out.generated = scalars;
        for (param, value) in structured_defaults(&inv, &nested) {
            adds.push((param.to_string(), value.to_string()));
            out.generated.push(param.to_string());
        }
        out.text = add_global_vars(&out.text, &adds)?;
    }

    // the result loads, lacks no credential, and (credentials aside) means what the
    // file meant
    let after = Inventory::from_str(name, &out.text, &[])
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the imported file does not load (a bug: please report it)")?;
    let still = after.check_secrets();
    if !still.is_empty() {
        bail!(
            "credentials still missing after the import:\n{}",
            super::deploy::indented(&still)
        );
    }
    let strip = |t: &str| -> Result<serde_yaml::Value> {
        let mut v: serde_yaml::Value = serde_yaml::from_str(t)?;
        strip_secrets(&mut v, &out.generated, false);
        Ok(v)
    };
    if strip(text)? != strip(&out.text)? {
        bail!("the import changed more than credentials (a bug: please report it); nothing was written");
    }
    Ok(out)
}

/// The structured parameters holding credentials (`minio_users`, `pgbackrest_repo`)
/// that miss one (`nested`: `minio_users[0].secret_key`, ...) and that the file does
/// not set anywhere (the schema's default, which has no secrets): each one's default
/// with every credential filled, for `all.vars`. A MinIO user whose access key is the
/// one pgBackRest's repository uses gets that repository's secret, so the two agree.
/// A parameter the file does set is left alone (the error after the import names it).
fn structured_defaults(
    inv: &Inventory,
    nested: &[String],
) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::Value;
    let needs = |p: &str| {
        nested.iter().any(|k| k.starts_with(p))
            && inv.hosts.iter().all(|h| {
                h.source(p)
                    .is_none_or(|s| *s == crate::inventory::Source::Default)
            })
    };
    let default = |p: &str| inv.hosts.iter().find_map(|h| h.get(p)).cloned();
    let fill = |v: &mut Value,
                field: &str,
                with: &mut dyn FnMut(&serde_json::Map<String, Value>) -> String| {
        if let Some(o) = v.as_object_mut() {
            if o.get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                let secret = with(o);
                o.insert(field.to_string(), Value::String(secret));
            }
        }
    };
    let mut out = vec![];
    // pgBackRest's repositories first: a MinIO user may have to share their key
    let repo = if needs("pgbackrest_repo") {
        default("pgbackrest_repo").map(|mut r| {
            if let Some(repos) = r.as_object_mut() {
                for (_, repo) in repos.iter_mut() {
                    let s3 = repo.get("type").and_then(Value::as_str) == Some("s3");
                    let cipher = repo
                        .get("cipher_type")
                        .and_then(Value::as_str)
                        .is_some_and(|c| c != "none");
                    if s3 {
                        fill(repo, "s3_key_secret", &mut |_| random_secret());
                    }
                    if cipher {
                        fill(repo, "cipher_pass", &mut |_| random_secret());
                    }
                }
            }
            out.push(("pgbackrest_repo", r.clone()));
            r
        })
    } else {
        default("pgbackrest_repo")
    };
    if needs("minio_users") {
        if let Some(mut users) = default("minio_users") {
            // access key -> secret of the repositories that log in to MinIO
            let shared: BTreeMap<String, String> = repo
                .iter()
                .flat_map(|r| r.as_object().into_iter().flat_map(|m| m.values()))
                .filter_map(|r| {
                    Some((
                        r.get("s3_key")?.as_str()?.to_string(),
                        r.get("s3_key_secret")?
                            .as_str()
                            .filter(|s| !s.is_empty())?
                            .to_string(),
                    ))
                })
                .collect();
            for u in users.as_array_mut().into_iter().flatten() {
                fill(u, "secret_key", &mut |o| {
                    o.get("access_key")
                        .and_then(Value::as_str)
                        .and_then(|k| shared.get(k).cloned())
                        .unwrap_or_else(random_secret)
                });
            }
            out.push(("minio_users", users));
        }
    }
    out
}

/// Byte offset of `word` in `line` as a whole token (not inside a longer word).
fn token_at(line: &str, word: &str) -> Option<usize> {
    line.match_indices(word).map(|(i, _)| i).find(|&i| {
        let edge = |c: Option<char>| {
            !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
        };
        edge(line[..i].chars().next_back()) && edge(line[i + word.len()..].chars().next())
    })
}

/// Whether a mapping key holds a credential (where the loader looks for published ones).
fn secret_field(k: &str) -> bool {
    k.ends_with("password")
        || k.ends_with("secret_key")
        || matches!(k, "s3_key_secret" | "cipher_pass" | "minio_secret_key")
}

/// Blank every credential value and drop the `generated` keys of `all.vars`, so an
/// import can be compared with its source.
fn strip_secrets(v: &mut serde_yaml::Value, generated: &[String], under_secret: bool) {
    use serde_yaml::Value as Y;
    match v {
        Y::String(s) if under_secret => *s = "<secret>".into(),
        Y::Mapping(m) => {
            if let Some(vars) = m
                .get_mut("all")
                .and_then(|a| a.get_mut("vars"))
                .and_then(Y::as_mapping_mut)
            {
                for k in generated {
                    vars.remove(k.as_str());
                }
                if vars.is_empty() {
                    if let Some(all) = m.get_mut("all").and_then(Y::as_mapping_mut) {
                        all.remove("vars");
                    }
                }
            }
            for (k, x) in m.iter_mut() {
                let key = k.as_str().unwrap_or("");
                // nginx_users: { user: password }
                strip_secrets(
                    x,
                    &[],
                    under_secret || secret_field(key) || key == "nginx_users",
                );
            }
        }
        Y::Sequence(s) => s
            .iter_mut()
            .for_each(|x| strip_secrets(x, &[], under_secret)),
        _ => {}
    }
}

/// Byte offset of the published value `pw` written as the value of `field` on `line`
/// (`password: DBUser.Meta`, `secret_key: 'S3User.Backup'`), not elsewhere on it.
fn value_at(line: &str, field: &str, pw: &str) -> Option<usize> {
    line.match_indices(field).find_map(|(i, _)| {
        let before = line[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let rest = &line[i + field.len()..];
        let after_key = rest.trim_start_matches([' ', '"', '\'']);
        let colon = after_key.strip_prefix(':')?;
        let val = colon.trim_start_matches([' ', '"', '\'']);
        let at = line.len() - val.len();
        (val.starts_with(pw) && token_at(&line[at..], pw) == Some(0)).then_some(at)
    })
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

fn is_content(l: &str) -> bool {
    let t = l.trim();
    !t.is_empty() && !t.starts_with('#') && t != "---"
}

/// Insert `key: value` lines at the top of `all.vars` (block style), creating it
/// right under `all:` when the file has none.
fn add_global_vars(text: &str, adds: &[(String, String)]) -> Result<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let all = lines
        .iter()
        .position(|l| {
            indent(l) == 0
                && l.trim_end()
                    .split('#')
                    .next()
                    .is_some_and(|s| s.trim_end() == "all:")
        })
        .context("no top-level `all:` block: not a Pigsty inventory")?;
    // the indentation of all's children, and where all ends
    let mut child = None;
    let mut end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(all + 1) {
        if !is_content(l) {
            continue;
        }
        if indent(l) == 0 {
            end = i;
            break;
        }
        child.get_or_insert(indent(l));
    }
    let child = child.unwrap_or(2);
    let vars = (all + 1..end)
        .find(|&i| indent(lines[i]) == child && lines[i].trim_start().starts_with("vars:"));
    let (at, key_indent) = match vars {
        Some(i) => {
            let rest = lines[i].trim_start()["vars:".len()..]
                .split('#')
                .next()
                .unwrap_or("")
                .trim();
            if !rest.is_empty() {
                bail!("`all.vars` is written inline (`vars: {rest}`); write it as a block to import the file");
            }
            let first = (i + 1..end)
                .find(|&j| is_content(lines[j]))
                .map(|j| indent(lines[j]))
                .filter(|&n| n > child);
            (i + 1, first.unwrap_or(child + 2))
        }
        None => (all + 1, child + 2),
    };
    let mut block = String::new();
    if vars.is_none() {
        block.push_str(&format!("{}vars:\n", " ".repeat(child)));
    }
    block.push_str(&format!(
        "{}# credentials generated by `pigsty configure` (the file left them unset)\n",
        " ".repeat(key_indent)
    ));
    for (k, v) in adds {
        block.push_str(&format!("{}{k}: {v}\n", " ".repeat(key_indent)));
    }
    let mut out = lines[..at].concat();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&block);
    out.push_str(&lines[at..].concat());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_value_of_the_credential_is_replaced() {
        let l = "  pg_users: [{ name: test , password: test , roles: [ dbrole_admin ] }]";
        assert_eq!(
            value_at(l, "password", "test"),
            Some(l.rfind("test ,").unwrap())
        );
        assert_eq!(
            value_at(
                "    pg_admin_password: 'DBUser.DBA'  # x",
                "pg_admin_password",
                "DBUser.DBA"
            ),
            Some(24)
        );
        assert_eq!(
            value_at(
                "    pg_admin_password: DBUser.DBAx",
                "pg_admin_password",
                "DBUser.DBA"
            ),
            None
        );
    }

    const BARE: &str = "# a user's file\nall:\n  children:\n    infra: { hosts: { 10.0.0.1: { infra_seq: 1 } } }   # keep me\n    etcd: { hosts: { 10.0.0.1: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }\n    pg-meta:\n      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }\n      vars:\n        pg_cluster: pg-meta\n        pg_users: [ { name: dbuser_meta, password: DBUser.Meta, roles: [dbrole_admin] } ]\n  vars:\n    # the admin node\n    admin_ip: 10.0.0.1\n    pgbackrest_method: minio\n    pgbackrest_repo: { minio: { s3_key_secret: S3User.Backup } }\n    minio_users: [ { access_key: pgbackrest, secret_key: S3User.Backup, policy: readwrite } ]\n";

    #[test]
    fn missing_credentials_are_added_and_everything_else_kept() {
        let r = import("bare.yml", BARE, false).unwrap();
        assert!(
            r.generated.contains(&"pg_admin_password".to_string()),
            "{:?}",
            r.generated
        );
        // the original text survives line for line, the credentials come first in all.vars
        for l in BARE.lines() {
            assert!(r.text.contains(l), "lost `{l}`:\n{}", r.text);
        }
        assert!(r.text.contains("  vars:\n    # credentials generated by `pigsty configure` (the file left them unset)\n    etcd_root_password: "), "{}", r.text);
        assert!(
            r.published
                .iter()
                .any(|p| p.ends_with("pg_users[0].password")),
            "{:?}",
            r.published
        );
        assert!(r.text.contains("DBUser.Meta"), "kept without -g");
        let inv = Inventory::from_str("x.yml", &r.text, &[]).unwrap();
        assert!(inv.check_secrets().is_empty());
    }

    #[test]
    fn g_replaces_published_passwords_consistently() {
        let r = import("bare.yml", BARE, true).unwrap();
        assert!(
            !r.text.contains("DBUser.Meta") && !r.text.contains("S3User.Backup"),
            "{}",
            r.text
        );
        let inv = Inventory::from_str("x.yml", &r.text, &[]).unwrap();
        let v = &inv.vars;
        let repo = v["pgbackrest_repo"]["minio"]["s3_key_secret"]
            .as_str()
            .unwrap();
        let user = v["minio_users"][0]["secret_key"].as_str().unwrap();
        assert_eq!(repo, user, "a repeated published value gets one new value");
        assert_eq!(repo.len(), 24);
        assert!(r.text.contains("# keep me") && r.text.starts_with("# a user's file\n"));
    }

    #[test]
    fn unset_minio_users_and_backup_repository_get_their_defaults_with_secrets() {
        // Pigsty's demo files: a MinIO node and backups to it, neither parameter written
        let t = "all:\n  children:\n    infra: { hosts: { 10.0.0.1: { infra_seq: 1 } } }\n    etcd: { hosts: { 10.0.0.1: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }\n    minio: { hosts: { 10.0.0.1: { minio_seq: 1 } }, vars: { minio_cluster: minio } }\n    pg-meta: { hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }, vars: { pg_cluster: pg-meta } }\n  vars:\n    admin_ip: 10.0.0.1\n    pgbackrest_method: minio\n";
        let r = import("t.yml", t, false).unwrap();
        assert!(
            r.generated.contains(&"minio_users".to_string())
                && r.generated.contains(&"pgbackrest_repo".to_string()),
            "{:?}",
            r.generated
        );
        let inv = Inventory::from_str("x.yml", &r.text, &[]).unwrap();
        assert!(inv.check_secrets().is_empty(), "{}", r.text);
        let v = &inv.vars;
        let repo = &v["pgbackrest_repo"]["minio"];
        let key = repo["s3_key"].as_str().unwrap();
        let user = v["minio_users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["access_key"] == key)
            .unwrap();
        assert_eq!(
            user["secret_key"], repo["s3_key_secret"],
            "pgBackRest logs in as that user"
        );
        assert_ne!(repo["cipher_pass"], repo["s3_key_secret"]);
        // a file that writes minio_users without secrets keeps its own list: an error
        let t2 = t.replace(
            "    pgbackrest_method: minio\n",
            "    minio_users: [ { access_key: x, policy: readwrite } ]\n",
        );
        let e = import("t.yml", &t2, false).unwrap_err().to_string();
        assert!(e.contains("minio_users[0].secret_key"), "{e}");
    }

    #[test]
    fn a_file_without_all_vars_gets_one() {
        let t = "all:\n  children:\n    infra: { hosts: { 10.0.0.1: { infra_seq: 1 } } }\n";
        let r = import("t.yml", t, false).unwrap();
        assert!(
            r.text
                .starts_with("all:\n  vars:\n    # credentials generated"),
            "{}",
            r.text
        );
        assert!(
            r.text
                .ends_with("  children:\n    infra: { hosts: { 10.0.0.1: { infra_seq: 1 } } }\n"),
            "{}",
            r.text
        );
    }

    #[test]
    fn inline_all_vars_is_refused_with_a_hint() {
        let t = "all:\n  vars: { admin_ip: 10.0.0.1 }\n  children:\n    infra: { hosts: { 10.0.0.1: { infra_seq: 1 } } }\n";
        let e = import("t.yml", t, false).unwrap_err().to_string();
        assert!(e.contains("`all.vars` is written inline"), "{e}");
    }
}
