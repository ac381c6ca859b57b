//! `-e` extra vars: `key=value`, `@file.yml`, inline mappings.
use super::*;

/// Parse `-e` arguments: `key=value` (several separated by spaces), `@file.yml`,
/// or an inline YAML/JSON mapping. Values are YAML scalars (`-e pg_port=5433` is a number).
pub(super) fn parse_extra(args: &[String]) -> Result<Vec<ExtraLayer>, InventoryError> {
    let mut out = Vec::new();
    for arg in args {
        if let Some(path) = arg.strip_prefix('@') {
            let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
                path: PathBuf::from(path),
                source,
            })?;
            let doc = parse_yaml(path, &text)?;
            let vars = match to_json(&doc) {
                Value::Object(m) => m,
                Value::Null => Map::new(),
                _ => {
                    return Err(extra_error(
                        path,
                        "extra vars file must be a mapping of names to values",
                    ))
                }
            };
            out.push(ExtraLayer {
                file: path.to_string(),
                text: Some(text),
                vars,
            });
        } else if arg.trim_start().starts_with('{') {
            let doc = parse_yaml("-e", arg)?;
            let Value::Object(vars) = to_json(&doc) else {
                return Err(extra_error("-e", "expected a mapping"));
            };
            out.push(ExtraLayer {
                file: "-e".into(),
                text: Some(arg.clone()),
                vars,
            });
        } else {
            let mut vars = Map::new();
            for (k, v) in split_kv(arg) {
                if k.is_empty() {
                    return Err(extra_error(
                        "-e",
                        &format!("`{arg}` is not `key=value`, `@file.yml` or `{{...}}`"),
                    ));
                }
                vars.insert(k.to_string(), scalar(v));
            }
            out.push(ExtraLayer {
                file: "-e".into(),
                text: None,
                vars,
            });
        }
    }
    Ok(out)
}

pub(super) fn extra_error(file: &str, msg: &str) -> InventoryError {
    InventoryError::Invalid(vec![Diag {
        severity: Severity::Error,
        file: file.to_string(),
        line: None,
        host: None,
        key: None,
        message: msg.to_string(),
        hint: Some("extra vars are `-e key=value`, `-e @file.yml` or `-e '{key: value}'`".into()),
    }])
}

/// `a=1 b=2` → two pairs; `a=x y` (a value with spaces) → one pair. Without `=`:
/// an empty key, reported by the caller.
pub(super) fn split_kv(arg: &str) -> Vec<(&str, &str)> {
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let tokens: Vec<&str> = arg.split_whitespace().collect();
    let pairs: Vec<(&str, &str)> = tokens.iter().filter_map(|t| t.split_once('=')).collect();
    if tokens.len() > 1 && pairs.len() == tokens.len() && pairs.iter().all(|(k, _)| ident(k)) {
        return pairs;
    }
    match arg.split_once('=') {
        Some((k, v)) if ident(k.trim()) => vec![(k.trim(), v)],
        _ => vec![("", "")],
    }
}

/// An extra-var value: a YAML scalar or flow collection, else the text itself.
pub(super) fn scalar(v: &str) -> Value {
    if v.is_empty() {
        return Value::String(String::new());
    }
    match serde_yaml::from_str::<Yaml>(v) {
        Ok(Yaml::Mapping(_)) if !v.trim_start().starts_with('{') => Value::String(v.to_string()),
        Ok(y) => to_json(&y),
        Err(_) => Value::String(v.to_string()),
    }
}
