//! Parameters pigsty does not implement (`assets/unsupported.yml`): one set by the
//! inventory to anything but its default is reported where it is written, so no
//! setting silently does nothing. Most are warnings; those marked `refuse` (ignoring
//! them would mislead about safety, topology or where pigsty connects) are errors that
//! `validate` reports and `plan`/`deploy` refuse for the hosts they concern. They do
//! not stop an inventory from loading: real Pigsty files set them.
use super::schema::Schema;
use super::{Diag, Inventory, Module, Severity};
use serde_json::Value;
use std::collections::BTreeMap;

/// One unsupported parameter set at one place, and the hosts it reaches.
#[derive(Debug, Clone)]
pub struct Finding {
    pub diag: Diag,
    /// Whether `plan`/`deploy` refuse the hosts below.
    pub refuse: bool,
    pub hosts: Vec<String>,
}

/// Every unsupported parameter the inventory sets to something other than its
/// default, one finding per place it is written (file, line), in inventory order.
pub fn findings(inv: &Inventory) -> Vec<Finding> {
    let Ok(schema) = Schema::builtin() else {
        return Vec::new();
    };
    // (key, file, line) → finding, in first-seen order
    let mut order: Vec<(String, String, Option<usize>)> = Vec::new();
    let mut found: BTreeMap<(String, String, Option<usize>), Finding> = BTreeMap::new();
    for h in &inv.hosts {
        let mods = h.modules();
        for spec in schema.params.values() {
            let Some(u) = &spec.unsupported else { continue };
            if !h.is_set(&spec.name) {
                continue;
            }
            // a module's parameter matters on that module's hosts only (NODE, INFRA,
            // DOCKER, APP and connection parameters on every host)
            if let Some(m) = Module::from_section(&spec.module) {
                if matches!(
                    m,
                    Module::Pgsql | Module::Redis | Module::Minio | Module::Etcd
                ) && !mods.contains(&m)
                {
                    continue;
                }
            }
            let value = h.get(&spec.name);
            let default = spec.default.as_ref().filter(|d| !d.is_null());
            if value.is_none() || value == default {
                continue;
            }
            let (file, line) = inv.locate(h, &spec.name, &[]);
            let k = (spec.name.clone(), file.clone(), line);
            let f = found.entry(k.clone()).or_insert_with(|| {
                order.push(k.clone());
                Finding {
                    diag: Diag {
                        severity: if u.refuse {
                            Severity::Error
                        } else {
                            Severity::Warning
                        },
                        file,
                        line,
                        host: None,
                        key: Some(spec.name.clone()),
                        message: message(&spec.name, value, &u.instead, u.refuse, spec.secret),
                        hint: Some(hint(&spec.name, default)),
                    },
                    refuse: u.refuse,
                    hosts: Vec::new(),
                }
            });
            f.hosts.push(h.addr.clone());
        }
    }
    order
        .into_iter()
        .filter_map(|k| found.remove(&k))
        .map(|mut f| {
            if let [one] = f.hosts.as_slice() {
                f.diag.host = Some(one.clone());
            } else {
                f.diag
                    .message
                    .push_str(&format!(" (hosts {})", f.hosts.join(", ")));
            }
            f
        })
        .collect()
}

fn message(key: &str, value: Option<&Value>, instead: &str, refuse: bool, secret: bool) -> String {
    let shown = value
        .map(|v| super::load::show(v, secret))
        .unwrap_or_default();
    let what = if refuse { "refused" } else { "ignored" };
    format!("`{key}` is not implemented by pigsty and is {what}: {instead} (set to {shown})")
}

fn hint(key: &str, default: Option<&Value>) -> String {
    match default {
        Some(d) if !d.is_array() && !d.is_object() => {
            format!("remove `{key}` or set it back to `{}`", compact(d))
        }
        _ => format!("remove `{key}`"),
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The refusals among `findings` that concern one of `hosts`, as an error for `plan`
/// and `deploy` (`None`: nothing refused).
pub fn refusal(inv: &Inventory, hosts: &[&str]) -> Option<String> {
    let lines: Vec<String> = findings(inv)
        .into_iter()
        .filter(|f| f.refuse && f.hosts.iter().any(|h| hosts.contains(&h.as_str())))
        .map(|f| format!("  {}", f.diag))
        .collect();
    (!lines.is_empty()).then(|| {
        format!(
            "the inventory sets parameters pigsty does not implement, and ignoring them would mislead; nothing was changed:\n{}",
            lines.join("\n")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn load(text: &str) -> Inventory {
        Inventory::from_str("pigsty.yml", text, &[]).expect("loads")
    }

    /// Source text of the crate without its test modules, and the templates: where a
    /// parameter can be read.
    fn code() -> Vec<(PathBuf, String)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
            for e in std::fs::read_dir(dir).expect("read dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs" || x == "j2") {
                    let mut t = std::fs::read_to_string(&p).expect("read");
                    if let Some(i) = t.find("#[cfg(test)]") {
                        t.truncate(i);
                    }
                    out.push((p, t));
                }
            }
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        walk(&root.join("src"), &mut out);
        walk(&root.join("assets"), &mut out);
        out
    }

    fn word_in(text: &str, w: &str) -> bool {
        text.match_indices(w).any(|(i, _)| {
            let ok = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            ok(text[..i].chars().next_back()) && ok(text[i + w.len()..].chars().next())
        })
    }

    /// Read by code: a quoted name in Rust (a reader call, a template context key), or
    /// the name in a template. The port-clash table of the validator names ports of
    /// components pigsty may not install, and the secret table of `remote/redact.rs`
    /// names every secret (read or not), so they do not count.
    fn is_read(code: &[(PathBuf, String)], name: &str) -> bool {
        let quoted = format!("\"{name}\"");
        code.iter().any(|(p, t)| {
            if p.ends_with("inventory/validate/ports.rs")
                || p.ends_with("inventory/schema.rs")
                || p.ends_with("remote/redact.rs")
            {
                return false;
            }
            if p.extension().is_some_and(|x| x == "j2") {
                word_in(t, name)
            } else {
                t.contains(&quoted)
            }
        })
    }

    #[test]
    fn every_parameter_is_read_by_code_or_listed_as_unsupported() {
        let schema = Schema::builtin().expect("schema");
        let code = code();
        let silent: Vec<&str> = schema
            .params
            .values()
            .filter(|s| s.unsupported.is_none() && !is_read(&code, &s.name))
            .map(|s| s.name.as_str())
            .collect();
        assert!(
            silent.is_empty(),
            "parameters nothing reads and assets/unsupported.yml does not list (a setting that silently does nothing): {silent:?}"
        );
    }

    #[test]
    fn listed_parameters_are_not_also_implemented() {
        let schema = Schema::builtin().expect("schema");
        let code = code();
        let both: Vec<&str> = schema
            .params
            .values()
            .filter(|s| s.unsupported.is_some() && is_read(&code, &s.name))
            .map(|s| s.name.as_str())
            .collect();
        assert!(
            both.is_empty(),
            "read by code yet listed in assets/unsupported.yml (remove them there): {both:?}"
        );
    }

    #[test]
    fn a_warning_names_the_parameter_its_line_and_what_happens_instead() {
        let inv = load(
            "all:\n  vars:\n    dns_records: ['10.0.0.1 x.pigsty']\n  children:\n    g: { hosts: { 10.0.0.1: {}, 10.0.0.2: {} } }\n",
        );
        let w = inv
            .warnings
            .iter()
            .find(|w| w.key.as_deref() == Some("dns_records"))
            .expect("warned");
        assert_eq!(w.severity, Severity::Warning);
        assert_eq!(w.line, Some(3));
        let text = w.to_string();
        assert!(text.starts_with("`pigsty.yml:3`: key `dns_records`: `dns_records` is not implemented by pigsty and is ignored: no dnsmasq; these records are not served"), "{text}");
        assert!(text.contains("(hosts 10.0.0.1, 10.0.0.2)"), "{text}");
        assert!(refusal(&inv, &["10.0.0.1"]).is_none());
    }

    #[test]
    fn the_default_value_or_another_module_is_not_reported() {
        let inv = load(
            "all:\n  vars:\n    docker_enabled: false\n    pg_mode: citus\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n",
        );
        assert!(findings(&inv).is_empty(), "{:?}", findings(&inv));
    }

    #[test]
    fn a_misleading_one_is_an_error_for_its_hosts_only() {
        let text = "all:\n  children:\n    pg-a:\n      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary, pg_mode: citus } }\n      vars: { pg_cluster: pg-a }\n    pg-b:\n      hosts: { 10.0.0.2: { pg_seq: 1, pg_role: primary } }\n      vars: { pg_cluster: pg-b }\n";
        let inv = load(text);
        let f = findings(&inv);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (
                f[0].diag.severity,
                f[0].diag.line,
                f[0].diag.host.as_deref()
            ),
            (Severity::Error, Some(4), Some("10.0.0.1"))
        );
        let e = refusal(&inv, &["10.0.0.1", "10.0.0.2"]).expect("refused");
        assert!(e.contains("`pg_mode` is not implemented by pigsty and is refused: the cluster runs as vanilla PostgreSQL (pgsql)"), "{e}");
        assert!(e.contains("nothing was changed"), "{e}");
        assert!(
            refusal(&inv, &["10.0.0.2"]).is_none(),
            "pg-b is not concerned"
        );
        assert!(
            inv.warnings
                .iter()
                .all(|w| w.key.as_deref() != Some("pg_mode")),
            "an error is not also a warning"
        );
    }

    #[test]
    fn extra_vars_are_reported_as_such() {
        let inv = Inventory::from_str(
            "pigsty.yml",
            "all:\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n",
            &["ansible_password=hunter2".to_string()],
        )
        .expect("loads");
        let e = refusal(&inv, &["10.0.0.1"]).expect("refused");
        assert!(e.contains("`ansible_password` is not implemented by pigsty and is refused: pigsty logs in with SSH keys only"), "{e}");
        assert!(!e.contains("hunter2"), "a secret is never shown: {e}");
    }
}
