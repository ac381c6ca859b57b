//! Required credentials: see `Inventory::check_secrets`.
use super::*;

/// A credential missing on some hosts: module, hosts, and where the setting that
/// needs it lives (host, parameter, path inside it).
pub(super) type Missing<'a> = (
    Module,
    Vec<&'a str>,
    Option<(&'a Host, &'static str, Vec<String>)>,
);

/// Required credentials: see [`Inventory::check_secrets`].
pub(in crate::inventory) fn check_secrets(inv: &Inventory) -> Vec<Diag> {
    let schema = match Schema::builtin() {
        Ok(s) => s,
        Err(e) => {
            return vec![Diag {
                severity: Severity::Error,
                file: "params.yml".into(),
                line: None,
                host: None,
                key: None,
                message: e,
                hint: None,
            }]
        }
    };
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    };
    // key → (module, hosts missing it, a host whose settings put it there)
    let mut missing: BTreeMap<String, Missing> = BTreeMap::new();
    for h in &inv.hosts {
        let mods = h.modules();
        for spec in schema.params.values().filter(|s| s.required) {
            let Some(m) = Module::from_section(&spec.module) else {
                continue;
            };
            if !mods.contains(&m) || spec.when.iter().any(|w| h.bool(w) != Some(true)) {
                continue;
            }
            if empty(h.get(&spec.name)) {
                missing
                    .entry(spec.name.clone())
                    .or_insert((m, vec![], None))
                    .1
                    .push(&h.addr);
            }
        }
        if mods.contains(&Module::Pgsql) && h.bool("pgbackrest_enabled") != Some(false) {
            if let Some(method) = h.str("pgbackrest_method") {
                if let Some(repo) = h.dict("pgbackrest_repo").and_then(|r| r.get(method)) {
                    let mut need = vec![];
                    if repo.get("type").and_then(Value::as_str) == Some("s3") {
                        need.push("s3_key_secret");
                    }
                    if repo
                        .get("cipher_type")
                        .and_then(Value::as_str)
                        .is_some_and(|c| c != "none")
                    {
                        need.push("cipher_pass");
                    }
                    for f in need {
                        if empty(repo.get(f)) {
                            let key = format!("pgbackrest_repo.{method}.{f}");
                            let loc = Some((h, "pgbackrest_repo", vec![method.to_string()]));
                            missing
                                .entry(key)
                                .or_insert((Module::Pgsql, vec![], loc))
                                .1
                                .push(&h.addr);
                        }
                    }
                }
            }
        }
        if mods.contains(&Module::Minio) {
            for (i, u) in h.list("minio_users").into_iter().flatten().enumerate() {
                if empty(u.get("secret_key")) {
                    let key = format!("minio_users[{i}].secret_key");
                    let loc = Some((h, "minio_users", vec![format!("[{i}]")]));
                    missing
                        .entry(key)
                        .or_insert((Module::Minio, vec![], loc))
                        .1
                        .push(&h.addr);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (key, (module, hosts, loc)) in missing {
        let (file, line) = match &loc {
            Some((h, k, sub)) if h.source(k) != Some(&Source::Default) => {
                let sub: Vec<&str> = sub.iter().map(String::as_str).collect();
                inv.locate(h, k, &sub)
            }
            _ => (inv.file(), None),
        };
        let list: Vec<String> = hosts.iter().take(5).map(|h| format!("`{h}`")).collect();
        let more = if hosts.len() > 5 {
            format!(" and {} more", hosts.len() - 5)
        } else {
            String::new()
        };
        let module = module.to_string().to_uppercase();
        out.push(Diag {
            severity: Severity::Error,
            file,
            line,
            host: (hosts.len() == 1).then(|| hosts[0].to_string()),
            key: Some(key.clone()),
            message: format!(
                "credential not set; {module} needs it on {}{more}",
                list.join(", ")
            ),
            hint: Some("set it in `all.vars` (`pigsty configure` writes fresh secrets)".into()),
        });
    }
    out
}
