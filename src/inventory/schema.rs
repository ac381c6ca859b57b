//! The parameter schema: every Pigsty parameter pigsty knows, its module, type and
//! default, read from the embedded `assets/params.yml` (its header documents the shape).
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::OnceLock;

/// A value type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    String,
    Int,
    /// Any number.
    Float,
    Bool,
    List,
    Dict,
    /// One of the spec's `values`.
    Enum,
    Ip,
    /// `address/prefix`
    Cidr,
    /// Integer 1..=65535.
    Port,
    /// `64MB`, `64MiB`, `1GB`, `512k` or a byte count.
    Size,
    /// `10s`, `24h`, `7300d`, `1000ms` or a number.
    Duration,
    /// A string, absolute unless empty.
    Path,
    Any,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Int => "an integer",
            Type::Float => "a number",
            Type::Bool => "a boolean (true/false)",
            Type::List => "a list",
            Type::Dict => "a mapping",
            Type::Enum => "one of",
            Type::Ip => "an IP address",
            Type::Cidr => "an address/prefix like `10.10.10.2/24`",
            Type::Port => "a port number (1-65535)",
            Type::Size => "a size like `64MB`",
            Type::Duration => "a duration like `10s` or `7d`",
            Type::Path => "an absolute path",
            Type::Any => "anything",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Type),
    Many(Vec<Type>),
}

/// What pigsty knows about one parameter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Parameter name, e.g. `pg_port`.
    #[serde(skip)]
    pub name: String,
    /// Section in `params.yml`: INFRA NODE DOCKER APP ETCD MINIO REDIS PGSQL.
    #[serde(skip)]
    pub module: String,
    /// Accepted types; a value must match one of them.
    #[serde(rename = "type", deserialize_with = "types")]
    pub types: Vec<Type>,
    /// Allowed strings of an `enum`.
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Pigsty's default; `None`: unset unless the inventory sets it.
    #[serde(default)]
    pub default: Option<Value>,
    /// An identity parameter (decides which modules land on a host).
    #[serde(default)]
    pub identity: bool,
    /// A credential: never defaulted, never printed.
    #[serde(default)]
    pub secret: bool,
    /// A credential every host of `module` needs, when all `when` bools are true.
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub when: Vec<String>,
    /// Not implemented by pigsty (`assets/unsupported.yml`): what happens instead.
    #[serde(skip)]
    pub unsupported: Option<Unsupported>,
}

/// An entry of `assets/unsupported.yml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsupported {
    /// What pigsty does in place of what the parameter asks.
    pub instead: String,
    /// Ignoring it would mislead (safety, topology, connection): an error.
    #[serde(default)]
    pub refuse: bool,
}

fn types<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Type>, D::Error> {
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(t) => vec![t],
        OneOrMany::Many(v) => v,
    })
}

/// Outcome of checking one value against its spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Ok,
    /// Not in the schema.
    Unknown,
    /// A Jinja expression (`{{ ... }}`): pigsty does not evaluate them.
    Unevaluated,
    /// Wrong type or value; the message says what was expected.
    Bad(String),
}

/// All known parameters, by name.
#[derive(Debug, Clone)]
pub struct Schema {
    pub params: BTreeMap<String, ParamSpec>,
}

static BUILTIN: OnceLock<Result<Schema, String>> = OnceLock::new();

impl Schema {
    /// The embedded schema (`assets/params.yml`), parsed once.
    pub fn builtin() -> Result<&'static Schema, String> {
        BUILTIN
            .get_or_init(|| {
                let text =
                    crate::assets::asset("params.yml").ok_or("embedded `params.yml` is missing")?;
                let unsupported = crate::assets::asset("unsupported.yml")
                    .ok_or("embedded `unsupported.yml` is missing")?;
                let mut schema = Schema::parse(text)?;
                schema.mark_unsupported(unsupported)?;
                Ok(schema)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parse a schema in the `params.yml` shape.
    pub fn parse(text: &str) -> Result<Schema, String> {
        let raw: BTreeMap<String, BTreeMap<String, ParamSpec>> = serde_yaml::from_str(text)
            .map_err(|e| format!("embedded `params.yml` is invalid: {e}"))?;
        let mut params = BTreeMap::new();
        for (module, specs) in raw {
            for (name, mut spec) in specs {
                spec.name = name.clone();
                spec.module = module.clone();
                if spec.secret && spec.default.as_ref().is_some_and(|d| !is_empty(d)) {
                    return Err(format!(
                        "`params.yml`: credential `{name}` must not have a default"
                    ));
                }
                if params.insert(name.clone(), spec).is_some() {
                    return Err(format!("`params.yml`: `{name}` is listed twice"));
                }
            }
        }
        Ok(Schema { params })
    }

    /// Attach the entries of an `unsupported.yml` to their parameters.
    pub fn mark_unsupported(&mut self, text: &str) -> Result<(), String> {
        let raw: BTreeMap<String, Unsupported> = serde_yaml::from_str(text)
            .map_err(|e| format!("embedded `unsupported.yml` is invalid: {e}"))?;
        for (name, u) in raw {
            let spec = self.params.get_mut(&name).ok_or_else(|| {
                format!("`unsupported.yml`: `{name}` is not a parameter of params.yml")
            })?;
            spec.unsupported = Some(u);
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.params.get(name)
    }

    /// Every default, the lowest layer of each host's variables.
    pub fn defaults(&self) -> Map<String, Value> {
        self.params
            .values()
            .filter_map(|p| p.default.clone().map(|d| (p.name.clone(), d)))
            .collect()
    }

    /// Check `value` of parameter `name`, normalising what Ansible would accept
    /// (`yes`/`no` strings for bools, numeric strings for numbers) in place.
    pub fn check(&self, name: &str, value: &mut Value) -> Check {
        match self.get(name) {
            None => Check::Unknown,
            Some(spec) => spec.check(value),
        }
    }

    /// The known parameter closest to `name` (a likely typo), if close enough.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        closest(name, self.params.keys().map(String::as_str))
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

impl ParamSpec {
    /// Check (and normalise) one value against this spec.
    pub fn check(&self, value: &mut Value) -> Check {
        if value.is_null() {
            return Check::Ok; // explicitly unset
        }
        if let Value::String(s) = value {
            if s.contains("{{") && !self.types.contains(&Type::String) {
                return Check::Unevaluated;
            }
            if s.contains("${") {
                return Check::Ok; // a Pigsty placeholder (`${admin_ip}`), expanded where used
            }
        }
        for t in &self.types {
            if let Some(v) = self.matches(*t, value) {
                *value = v;
                return self.bounds(value);
            }
        }
        Check::Bad(self.expected())
    }

    /// What this parameter accepts, for messages.
    pub fn expected(&self) -> String {
        let parts: Vec<String> = self
            .types
            .iter()
            .map(|t| match t {
                Type::Enum => format!("one of {}", self.values.join(", ")),
                t => t.name().to_string(),
            })
            .collect();
        parts.join(" or ")
    }

    fn bounds(&self, value: &Value) -> Check {
        let Some(n) = value.as_f64() else {
            return Check::Ok;
        };
        if value.is_boolean() {
            return Check::Ok;
        }
        let lo = self.min.is_some_and(|m| n < m);
        let hi = self.max.is_some_and(|m| n > m);
        if lo || hi {
            let range = match (self.min, self.max) {
                (Some(a), Some(b)) => format!("between {a} and {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => String::new(),
            };
            return Check::Bad(format!("{} {range}", self.expected()));
        }
        Check::Ok
    }

    /// `Some(normalised)` when `v` is of type `t`.
    fn matches(&self, t: Type, v: &Value) -> Option<Value> {
        let ok = || Some(v.clone());
        match (t, v) {
            (Type::Any, _) => ok(),
            (Type::String, Value::String(_)) => ok(),
            // Ansible renders numbers and bools into strings freely (`version: 4`).
            (Type::String, Value::Number(_)) => Some(Value::String(v.to_string())),
            (Type::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => ok(),
            (Type::Int, Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
            (Type::Float, Value::Number(_)) => ok(),
            (Type::Float, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)),
            (Type::Bool, Value::Bool(_)) => ok(),
            (Type::Bool, Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "y" => Some(Value::Bool(true)),
                "no" | "false" | "off" | "n" => Some(Value::Bool(false)),
                _ => None,
            },
            (Type::List, Value::Array(_)) => ok(),
            (Type::Dict, Value::Object(_)) => ok(),
            (Type::Enum, Value::String(s)) if self.values.iter().any(|x| x == s) => ok(),
            (Type::Ip, Value::String(s)) => s.parse::<IpAddr>().ok().and(ok()),
            (Type::Cidr, Value::String(s)) => is_cidr(s).then(|| v.clone()),
            (Type::Port, Value::Number(n)) => {
                n.as_u64().filter(|p| (1..=65535).contains(p)).and(ok())
            }
            (Type::Port, Value::String(s)) => s
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .map(Value::from),
            (Type::Size, Value::Number(n)) if n.is_u64() => ok(),
            (Type::Size, Value::String(s)) => is_size(s).then(|| v.clone()),
            (Type::Duration, Value::Number(_)) => ok(),
            (Type::Duration, Value::String(s)) => is_duration(s).then(|| v.clone()),
            (Type::Path, Value::String(s)) => {
                (s.is_empty() || s.starts_with('/')).then(|| v.clone())
            }
            _ => None,
        }
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    len.parse::<u8>().is_ok_and(|l| l <= max)
}

/// Split `12.5GiB` into the number and the unit.
fn number_unit(s: &str) -> Option<(&str, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() || num.parse::<f64>().is_err() {
        return None;
    }
    Some((num, unit.trim()))
}

/// `64MB`, `64MiB`, `1GB`, `512k`, `100B`, `1024`.
pub fn is_size(s: &str) -> bool {
    let Some((_, unit)) = number_unit(s) else {
        return false;
    };
    let u = unit.to_ascii_lowercase();
    let u = u.trim_end_matches('b').trim_end_matches('i');
    matches!(u, "" | "k" | "m" | "g" | "t" | "p")
}

/// `10s`, `0.5s`, `1000ms`, `24h`, `7300d`, `2w`, `1y`, `30`.
pub fn is_duration(s: &str) -> bool {
    let Some((_, unit)) = number_unit(s) else {
        return false;
    };
    matches!(
        unit,
        "" | "us" | "ms" | "s" | "m" | "min" | "h" | "d" | "w" | "y"
    )
}

/// The candidate nearest to `name` by edit distance (at most 2), for "did you mean"
/// hints; the first of equals wins.
pub(super) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> &'static Schema {
        Schema::builtin().expect("embedded schema parses")
    }

    #[test]
    fn embedded_schema_parses_and_has_pigsty_defaults() {
        let s = schema();
        let d = s.defaults();
        assert_eq!(d["pg_port"], json!(5432));
        assert_eq!(d["pg_conf"], json!("oltp.yml"));
        assert_eq!(d["pg_rto"], json!("norm"));
        assert_eq!(d["pg_rpo"], json!(1048576));
        assert_eq!(d["etcd_cluster"], json!("etcd"));
        assert_eq!(d["pg_default_services"][0]["port"], json!(5433));
        assert_eq!(d["pg_default_roles"].as_array().map(Vec::len), Some(8));
        assert!(s.params.len() > 250, "{} params", s.params.len());
    }

    #[test]
    fn credentials_have_no_default() {
        let d = schema().defaults();
        for k in crate::inventory::SECRETS
            .iter()
            .copied()
            .filter(|k| schema().params.contains_key(*k))
        {
            assert!(!d.contains_key(k), "{k} has a default");
            assert!(
                schema()
                    .get(k)
                    .is_some_and(|p| p.secret && (p.required || k == "grafana_view_password")),
                "{k} is not a required secret (the view password alone is optional)"
            );
        }
        assert!(d["pgbackrest_repo"]["minio"].get("cipher_pass").is_none());
        assert!(d["pgbackrest_repo"]["minio"].get("s3_key_secret").is_none());
        assert!(d["minio_users"][0].get("secret_key").is_none());
        let text = serde_json::to_string(&d).unwrap_or_default();
        let names = ["pigsty", "test", "minioadmin"]; // also ordinary names: repo_name, minio_access_key
        for pw in super::super::PIGSTY_DEFAULT_PASSWORDS
            .iter()
            .filter(|p| !names.contains(p))
        {
            assert!(
                !text.contains(&format!("\"{pw}\"")),
                "default password {pw} in defaults"
            );
        }
    }

    #[test]
    fn wrong_types_are_rejected_with_what_was_expected() {
        let s = schema();
        assert_eq!(
            s.check("pg_seq", &mut json!("one")),
            Check::Bad("an integer".into())
        );
        assert_eq!(
            s.check("pg_seq", &mut json!(-1)),
            Check::Bad("an integer at least 0".into())
        );
        assert!(
            matches!(s.check("pg_port", &mut json!("yes")), Check::Bad(m) if m.contains("port"))
        );
        assert!(matches!(
            s.check("pg_port", &mut json!(70000)),
            Check::Bad(_)
        ));
        assert!(
            matches!(s.check("pg_role", &mut json!("leader")), Check::Bad(m) if m.contains("primary, replica, offline"))
        );
        assert!(
            matches!(s.check("vip_vrid", &mut json!(300)), Check::Bad(m) if m.contains("between 1 and 254"))
        );
        assert_eq!(s.check("nope", &mut json!(1)), Check::Unknown);
    }

    #[test]
    fn ansible_spellings_are_normalised() {
        let s = schema();
        let mut v = json!("yes");
        assert_eq!(s.check("pg_checksum", &mut v), Check::Ok);
        assert_eq!(v, json!(true));
        let mut v = json!("5433");
        assert_eq!(s.check("pg_port", &mut v), Check::Ok);
        assert_eq!(v, json!(5433));
        assert_eq!(s.check("pg_max_conn", &mut json!("auto")), Check::Ok);
        assert_eq!(s.check("pg_max_conn", &mut json!(200)), Check::Ok);
        assert_eq!(s.check("pg_rto", &mut json!(30)), Check::Ok);
    }

    #[test]
    fn sizes_durations_and_addresses_are_recognised() {
        assert!(
            is_size("64MB")
                && is_size("64MiB")
                && is_size("1GB")
                && is_size("20MiB")
                && is_size("4096")
        );
        assert!(!is_size("lots"));
        assert!(
            is_duration("7300d")
                && is_duration("24h")
                && is_duration("0.5s")
                && is_duration("1000ms")
        );
        assert!(!is_duration("soon"));
        assert!(is_cidr("10.10.10.2/24") && !is_cidr("10.10.10.2") && !is_cidr("10.10.10.2/33"));
    }

    #[test]
    fn pigsty_placeholders_pass_any_type() {
        let s = schema();
        assert_eq!(
            s.check("pg_data", &mut json!("${pg_fs_main}/data")),
            Check::Ok
        );
        assert_eq!(s.check("admin_ip", &mut json!("${ip}")), Check::Ok);
    }

    #[test]
    fn ansible_connection_variables_are_known() {
        let s = schema();
        assert_eq!(s.check("ansible_user", &mut json!("vagrant")), Check::Ok);
        assert_eq!(s.check("ansible_port", &mut json!(2222)), Check::Ok);
        assert!(s
            .get("ansible_password")
            .is_some_and(|p| p.secret && !p.required));
    }

    #[test]
    fn jinja_expressions_are_reported_unevaluated() {
        let mut v = json!("{{ repo_packages_default | list }}");
        assert_eq!(schema().check("repo_packages", &mut v), Check::Unevaluated);
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(schema().suggest("pg_sqe"), Some("pg_seq"));
        assert_eq!(schema().suggest("completely_unrelated_name"), None);
    }
}
