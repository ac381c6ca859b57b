//! The one way code reads a host's parameters: the inventory's value (null counts as
//! unset), else the default in `assets/params.yml`. Code never repeats a default the
//! schema has; the `*_or` readers, for parameters the schema gives no default, assert
//! (in tests and debug builds) that it really has none.
use super::schema::Schema;
use serde_json::{Map, Value};

/// The default of parameter `key` in `assets/params.yml`, if it has one.
pub fn default_of(key: &str) -> Option<&'static Value> {
    Schema::builtin()
        .ok()?
        .get(key)?
        .default
        .as_ref()
        .filter(|v| !v.is_null())
}

/// The default of a text parameter (`""` without one).
pub fn default_str(key: &str) -> &'static str {
    default_of(key).and_then(Value::as_str).unwrap_or("")
}

fn no_schema_default(key: &str) {
    debug_assert!(
        default_of(key).is_none(),
        "`{key}` has a default in assets/params.yml: read it without one in code"
    );
}

/// A scalar as text (numbers and bools too).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "yes" | "on" | "1"
        )),
        _ => None,
    }
}

/// Reads a host's merged variables, falling back to the schema's defaults.
pub struct Vars<'a>(pub &'a Map<String, Value>);

impl<'a> Vars<'a> {
    /// The inventory's value, else the schema default.
    pub fn get(&self, k: &str) -> Option<&'a Value> {
        self.0
            .get(k)
            .filter(|v| !v.is_null())
            .or_else(|| default_of(k))
    }
    pub fn s(&self, k: &str) -> String {
        self.get(k).and_then(text).unwrap_or_default()
    }
    pub fn i(&self, k: &str) -> i64 {
        self.get(k).and_then(int).unwrap_or_default()
    }
    pub fn f(&self, k: &str) -> f64 {
        self.get(k).and_then(float).unwrap_or_default()
    }
    pub fn b(&self, k: &str) -> bool {
        self.get(k).and_then(boolean).unwrap_or_default()
    }
    /// A port (1..=65535); 0 when neither the inventory nor the schema has one.
    pub fn port(&self, k: &str) -> u16 {
        u16::try_from(self.i(k))
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(0)
    }
    /// Readers for parameters without a schema default.
    pub fn s_or(&self, k: &str, d: &str) -> String {
        no_schema_default(k);
        self.get(k).and_then(text).unwrap_or_else(|| d.to_string())
    }
    pub fn i_or(&self, k: &str, d: i64) -> i64 {
        no_schema_default(k);
        self.get(k).and_then(int).unwrap_or(d)
    }
    pub fn f_or(&self, k: &str, d: f64) -> f64 {
        no_schema_default(k);
        self.get(k).and_then(float).unwrap_or(d)
    }
    pub fn b_or(&self, k: &str, d: bool) -> bool {
        no_schema_default(k);
        self.get(k).and_then(boolean).unwrap_or(d)
    }
    pub fn port_or(&self, k: &str, d: u16) -> u16 {
        no_schema_default(k);
        u16::try_from(self.i_or(k, d as i64))
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(d)
    }
    pub fn list(&self, k: &str) -> Vec<Value> {
        self.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
    pub fn dict(&self, k: &str) -> Map<String, Value> {
        self.get(k)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
    pub fn strs(&self, k: &str) -> Vec<String> {
        self.list(k)
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_inventory_wins_then_the_schema_default() {
        let m = json!({"pg_port": 6543, "patroni_enabled": null})
            .as_object()
            .cloned()
            .unwrap();
        let v = Vars(&m);
        assert_eq!(v.port("pg_port"), 6543);
        assert_eq!(v.port("pgbouncer_port"), 6432, "params.yml's default");
        assert!(
            v.b("patroni_enabled"),
            "null counts as unset: the default (true)"
        );
        assert_eq!(v.s("pg_data"), "/pg/data");
    }

    /// Code outside tests never repeats a default `assets/params.yml` has: no
    /// `.str("k").unwrap_or(..)`-style fallback, no `*_or("k", ..)` reader for such a key.
    #[test]
    fn no_code_repeats_a_schema_default() {
        let schema = Schema::builtin().unwrap();
        let keys: std::collections::BTreeSet<&str> = schema
            .params
            .values()
            .filter(|p| p.default.as_ref().is_some_and(|d| !d.is_null()))
            .map(|p| p.name.as_str())
            .collect();
        let mut found = vec![];
        let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                if p.extension().is_none_or(|x| x != "rs") || p.ends_with("vars.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                // every `.acc("key"` call, then what follows the key
                let calls = |acc: &str| -> Vec<(String, &str)> {
                    let pat = format!(".{acc}(\"");
                    code.match_indices(&pat)
                        .filter_map(|(i, _)| {
                            let rest = &code[i + pat.len()..];
                            let end = rest.find('"')?;
                            Some((rest[..end].to_string(), &rest[end..]))
                        })
                        .filter(|(k, _)| keys.contains(k.as_str()))
                        .collect()
                };
                for acc in ["str", "bool", "int", "port", "float"] {
                    for (k, after) in calls(acc) {
                        if after.starts_with("\").unwrap_or(") {
                            found.push(format!("{}: .{acc}(\"{k}\").unwrap_or(..)", p.display()));
                        }
                    }
                }
                for acc in ["s_or", "i_or", "b_or", "f_or", "port_or"] {
                    for (k, after) in calls(acc) {
                        if after.starts_with("\",") {
                            found.push(format!("{}: .{acc}(\"{k}\", ..)", p.display()));
                        }
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "defaults repeated in code (read them with var_*/Vars instead):\n{}",
            found.join("\n")
        );
    }

    #[test]
    #[should_panic(expected = "has a default")]
    fn a_code_default_for_a_parameter_the_schema_defaults_is_caught() {
        let m = Map::new();
        Vars(&m).port_or("pg_port", 5432);
    }
}
