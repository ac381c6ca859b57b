//! Type checks of every layer against the schema, and published default passwords.
use super::*;

/// Check every variable of one layer against the schema (normalising in place),
/// and warn about published default passwords.
pub(super) fn check_layer(
    cx: &mut Cx,
    schema: &Schema,
    vars: &mut Map<String, Value>,
    place: &Place,
    host: Option<&str>,
) {
    for (key, value) in vars.iter_mut() {
        match schema.check(key, value) {
            Check::Ok => {}
            Check::Unknown => {
                let hint = pigsty_only(key)
                    .or_else(|| schema.suggest(key).map(|s| format!("did you mean `{s}`?")));
                cx.say(
                    Severity::Warning,
                    place,
                    host,
                    Some(key),
                    "unknown parameter; kept, but nothing in pigsty reads it".into(),
                    hint,
                );
            }
            Check::Unevaluated => cx.say(
                Severity::Warning,
                place,
                host,
                Some(key),
                "Jinja expressions are not evaluated by pigsty; the value is kept as text".into(),
                Some("write the value out literally".into()),
            ),
            Check::Bad(expected) => {
                let secret = schema.get(key).is_some_and(|s| s.secret);
                cx.say(
                    Severity::Error,
                    place,
                    host,
                    Some(key),
                    format!("expected {expected}, got {}", show(value, secret)),
                    None,
                );
            }
        }
    }
    default_passwords(cx, schema, vars, place, host);
}

/// What an unknown parameter is in Pigsty, when it is one: an old name (v2) of a
/// parameter pigsty knows, or a parameter of a Pigsty module pigsty does not have.
fn pigsty_only(key: &str) -> Option<String> {
    // v2's `X_clean: true` let the init purge a running instance: v3's `X_safeguard:
    // false` (the third field: the new name means the opposite)
    const RENAMED: &[(&str, &str, bool)] = &[
        ("etcd_clean", "etcd_safeguard", true),
        ("minio_clean", "minio_safeguard", true),
        ("redis_clean", "redis_safeguard", true),
        ("pg_clean", "pg_safeguard", true),
        ("redis_rmdata", "redis_rm_data", false),
        ("pg_default_version", "pg_version", false),
    ];
    const MODULES: &[(&str, &str)] = &[
        ("kafka_", "KAFKA"),
        ("mysql_", "MYSQL"),
        ("mongo_", "MONGO (FerretDB)"),
        ("openbao_", "OPENBAO"),
        ("juice_", "JUICE"),
        ("code_", "CODE (code-server)"),
        ("jupyter_", "JUPYTER"),
        ("vtrace_", "VTRACE"),
        ("docker_", "DOCKER"),
        ("app_", "APP"),
    ];
    if let Some((_, new, opposite)) = RENAMED.iter().find(|(old, _, _)| *old == key) {
        let sense = match opposite {
            true => format!(" (the opposite sense: `{key}: false` is `{new}: true`)"),
            false => String::new(),
        };
        return Some(format!(
            "`{key}` is Pigsty v2's name: write `{new}` instead{sense}"
        ));
    }
    MODULES.iter().find(|(p, _)| key.starts_with(p)).map(|(_, m)| {
        format!("a parameter of Pigsty's {m} module, which pigsty does not have: nothing is deployed for it")
    })
}

/// A value for a message: short, and never a secret.
pub(in crate::inventory) fn show(v: &Value, secret: bool) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    };
    if secret || matches!(v, Value::Array(_) | Value::Object(_)) {
        return kind.to_string();
    }
    let mut text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        text = text.chars().take(57).collect::<String>() + "...";
    }
    format!("`{text}` ({kind})")
}

pub(super) const HINT_PASSWORD: &str =
    "replace it with a fresh secret; `pigsty configure` generates them";

/// Warn about credentials equal to a password published by Pigsty.
pub(super) fn default_passwords(
    cx: &mut Cx,
    schema: &Schema,
    vars: &Map<String, Value>,
    place: &Place,
    host: Option<&str>,
) {
    let known = |v: &Value| {
        v.as_str()
            .is_some_and(|s| PIGSTY_DEFAULT_PASSWORDS.contains(&s))
    };
    let msg =
        "a password published in Pigsty's docs and templates: anyone can look it up".to_string();
    for (key, value) in vars {
        if schema.get(key).is_some_and(|s| s.secret) && known(value) {
            cx.say(
                Severity::Warning,
                place,
                host,
                Some(key),
                msg.clone(),
                Some(HINT_PASSWORD.into()),
            );
        }
    }
    let mut hits: Vec<(String, Vec<String>)> = Vec::new();
    let field = |list: &str, field: &str, hits: &mut Vec<(String, Vec<String>)>| {
        if let Some(items) = vars.get(list).and_then(Value::as_array) {
            for (i, item) in items.iter().enumerate() {
                if item.get(field).is_some_and(known) {
                    hits.push((list.to_string(), vec![format!("[{i}]"), field.to_string()]));
                }
            }
        }
    };
    field("pg_users", "password", &mut hits);
    field("minio_users", "secret_key", &mut hits);
    field("redis_sentinel_monitor", "password", &mut hits);
    if let Some(repos) = vars.get("pgbackrest_repo").and_then(Value::as_object) {
        for (name, repo) in repos {
            for f in ["s3_key_secret", "cipher_pass"] {
                if repo.get(f).is_some_and(known) {
                    hits.push(("pgbackrest_repo".into(), vec![name.clone(), f.to_string()]));
                }
            }
        }
    }
    if let Some(users) = vars.get("nginx_users").and_then(Value::as_object) {
        for (user, pw) in users {
            if known(pw) {
                hits.push(("nginx_users".into(), vec![user.clone()]));
            }
        }
    }
    for (key, sub) in hits {
        let sub: Vec<&str> = sub.iter().map(String::as_str).collect();
        cx.push(
            Severity::Warning,
            place,
            host,
            Some(&key),
            &sub,
            msg.clone(),
            Some(HINT_PASSWORD.into()),
        );
    }
}
