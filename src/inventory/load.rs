//! Reading an inventory: YAML to groups and host entries, extra vars, type checks of
//! every layer against the schema, and the merge into each host's variables.
use super::schema::{Check, Schema};
use super::{
    locate, validate, Diag, ExtraLayer, Group, Host, Identity, Inventory, InventoryError,
    LoadOptions, PgRole, Severity, Source, PIGSTY_DEFAULT_PASSWORDS,
};
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A group as written, before membership is closed over nesting.
#[derive(Debug, Default)]
struct RawGroup {
    path: Vec<String>,
    depth: usize,
    vars: Map<String, Value>,
    hosts: Vec<String>,
    children: Vec<String>,
}

/// One `<addr>: {vars}` entry under some group's `hosts`.
#[derive(Debug)]
struct RawEntry {
    addr: String,
    group: String,
    vars: Map<String, Value>,
}

#[derive(Debug, Default)]
struct Raw {
    global: Map<String, Value>,
    /// Group names in file order.
    order: Vec<String>,
    groups: BTreeMap<String, RawGroup>,
    entries: Vec<RawEntry>,
}

/// Where a layer of variables is written.
#[derive(Debug, Clone)]
enum Place {
    /// In the inventory, under this YAML path.
    Inv(Vec<String>),
    /// In the n-th extra-vars layer.
    Extra(usize),
}

/// Collects diagnostics while loading.
struct Cx<'a> {
    file: String,
    text: &'a str,
    extra: Vec<ExtraLayer>,
    diags: Vec<Diag>,
}

impl Cx<'_> {
    /// File and line of `key` (then `sub`) inside the layer at `place`.
    fn line(&self, place: &Place, key: Option<&str>, sub: &[&str]) -> (String, Option<usize>) {
        match place {
            Place::Inv(p) => {
                let mut path: Vec<&str> = p.iter().map(String::as_str).collect();
                path.extend(key);
                path.extend_from_slice(sub);
                (self.file.clone(), locate::line_of(self.text, &path))
            }
            Place::Extra(i) => {
                let Some(layer) = self.extra.get(*i) else {
                    return ("-e".into(), None);
                };
                let mut path: Vec<&str> = key.into_iter().collect();
                path.extend_from_slice(sub);
                let line = layer.text.as_deref().and_then(|t| {
                    if path.is_empty() {
                        None
                    } else {
                        locate::line_of(t, &path)
                    }
                });
                (layer.file.clone(), line)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        severity: Severity,
        place: &Place,
        host: Option<&str>,
        key: Option<&str>,
        sub: &[&str],
        message: String,
        hint: Option<String>,
    ) {
        let (file, line) = self.line(place, key, sub);
        let key = key.map(|k| {
            if sub.is_empty() {
                k.to_string()
            } else {
                display_key(k, sub)
            }
        });
        self.diags.push(Diag {
            severity,
            file,
            line,
            host: host.map(str::to_string),
            key,
            message,
            hint,
        });
    }

    fn error(
        &mut self,
        place: &Place,
        host: Option<&str>,
        key: Option<&str>,
        message: String,
        hint: Option<String>,
    ) {
        self.push(Severity::Error, place, host, key, &[], message, hint);
    }

    fn warn(
        &mut self,
        place: &Place,
        host: Option<&str>,
        key: Option<&str>,
        message: String,
        hint: Option<String>,
    ) {
        self.push(Severity::Warning, place, host, key, &[], message, hint);
    }
}

/// `pg_users` + `["[1]", "password"]` → `pg_users[1].password`
fn display_key(key: &str, sub: &[&str]) -> String {
    let mut s = key.to_string();
    for p in sub {
        if p.starts_with('[') {
            s.push_str(p);
        } else {
            s.push('.');
            s.push_str(p);
        }
    }
    s
}

fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

pub(super) fn build(
    path: PathBuf,
    text: String,
    extra_args: &[String],
    opts: &LoadOptions,
) -> Result<Inventory, InventoryError> {
    let file = path.display().to_string();
    let schema = Schema::builtin().map_err(InventoryError::Schema)?;
    let doc = parse_yaml(&file, &text)?;
    let extra = parse_extra(extra_args)?;
    let mut cx = Cx {
        file,
        text: &text,
        extra,
        diags: Vec::new(),
    };

    let mut raw = structure(&mut cx, &doc);

    // Type-check every layer where it is written, so errors point at the right line.
    check_layer(
        &mut cx,
        schema,
        &mut raw.global,
        &Place::Inv(p(&["all", "vars"])),
        None,
    );
    for name in raw.order.clone() {
        if let Some(g) = raw.groups.get_mut(&name) {
            let mut place = g.path.clone();
            place.push("vars".into());
            let mut vars = std::mem::take(&mut g.vars);
            check_layer(&mut cx, schema, &mut vars, &Place::Inv(place), None);
            if let Some(g) = raw.groups.get_mut(&name) {
                g.vars = vars;
            }
        }
    }
    for i in 0..raw.entries.len() {
        let (addr, group) = (raw.entries[i].addr.clone(), raw.entries[i].group.clone());
        let place = Place::Inv(entry_path(&raw, &group, &addr));
        let mut vars = std::mem::take(&mut raw.entries[i].vars);
        check_layer(&mut cx, schema, &mut vars, &place, Some(&addr));
        raw.entries[i].vars = vars;
    }
    for i in 0..cx.extra.len() {
        let mut vars = std::mem::take(&mut cx.extra[i].vars);
        check_layer(&mut cx, schema, &mut vars, &Place::Extra(i), None);
        cx.extra[i].vars = vars;
    }

    let inv = assemble(&mut cx, schema, raw, &path, &text);
    let mut diags = cx.diags;
    diags.extend(validate::validate(&inv, opts));
    let (errors, warnings): (Vec<Diag>, Vec<Diag>) = diags.into_iter().partition(Diag::is_error);
    if !errors.is_empty() {
        return Err(InventoryError::Invalid(
            errors.into_iter().chain(warnings).collect(),
        ));
    }
    Ok(Inventory { warnings, ..inv })
}

fn entry_path(raw: &Raw, group: &str, addr: &str) -> Vec<String> {
    let mut path = raw
        .groups
        .get(group)
        .map(|g| g.path.clone())
        .unwrap_or_else(|| p(&["all"]));
    path.push("hosts".into());
    path.push(addr.into());
    path
}

fn parse_yaml(file: &str, text: &str) -> Result<Yaml, InventoryError> {
    let mut doc: Yaml = serde_yaml::from_str(text).map_err(|e| yaml_error(file, text, &e))?;
    doc.apply_merge().map_err(|e| yaml_error(file, text, &e))?;
    Ok(doc)
}

fn yaml_error(file: &str, text: &str, e: &serde_yaml::Error) -> InventoryError {
    let (mut line, mut col) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let mut msg = e.to_string();
    let suffix = format!(" at line {line} column {col}");
    if let Some(i) = msg.find(&suffix) {
        msg.replace_range(i..i + suffix.len(), "");
    }
    let dup = msg
        .find("duplicate entry with key \"")
        .map(|i| &msg[i + 26..]);
    if let Some(key) = dup.and_then(|r| r.strip_suffix('"')).map(str::to_string) {
        if let Some(l) = locate::duplicate_key_line(text, &key) {
            line = l;
            let src = text.lines().nth(l - 1).unwrap_or("");
            col = src.len() - src.trim_start().len() + 1;
        }
    }
    InventoryError::Yaml {
        file: file.to_string(),
        line,
        col,
        msg,
    }
}

/// A YAML mapping key as text (`6379` → "6379").
pub(super) fn key_string(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => "null".into(),
        Yaml::Tagged(t) => key_string(&t.value),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// YAML to JSON: mapping keys become strings, tags (`!vault`) are dropped.
pub(super) fn to_json(v: &Yaml) -> Value {
    match v {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(s) => Value::Array(s.iter().map(to_json).collect()),
        Yaml::Mapping(m) => {
            Value::Object(m.iter().map(|(k, v)| (key_string(k), to_json(v))).collect())
        }
        Yaml::Tagged(t) => to_json(&t.value),
    }
}

/// Walk the document into groups and host entries, reporting malformed parts.
fn structure(cx: &mut Cx, doc: &Yaml) -> Raw {
    let mut raw = Raw::default();
    let root = match doc {
        Yaml::Mapping(m) => m,
        Yaml::Null => {
            cx.error(
                &Place::Inv(vec![]),
                None,
                None,
                "the inventory is empty".into(),
                Some(HINT_FORMAT.into()),
            );
            return raw;
        }
        _ => {
            cx.error(
                &Place::Inv(vec![]),
                None,
                None,
                "the inventory is not a mapping".into(),
                Some(HINT_FORMAT.into()),
            );
            return raw;
        }
    };
    let mut saw_all = false;
    for (k, v) in root {
        let name = key_string(k);
        if name == "all" {
            saw_all = true;
            walk_all(cx, &mut raw, v);
        } else {
            // Ansible reads other top-level keys as groups under `all`.
            walk_group(cx, &mut raw, &name, v, vec![name.clone()], 1);
        }
    }
    if !saw_all && raw.order.is_empty() {
        cx.error(
            &Place::Inv(vec![]),
            None,
            None,
            "no `all` group".into(),
            Some(HINT_FORMAT.into()),
        );
    }
    raw
}

const HINT_FORMAT: &str = "an inventory looks like `all: { children: { <group>: { hosts: { <ip>: {...} }, vars: {...} } }, vars: {...} }`";

fn walk_all(cx: &mut Cx, raw: &mut Raw, v: &Yaml) {
    let m = match v {
        Yaml::Mapping(m) => m,
        Yaml::Null => return,
        _ => {
            cx.error(
                &Place::Inv(p(&["all"])),
                None,
                None,
                "`all` must be a mapping with `children` and `vars`".into(),
                Some(HINT_FORMAT.into()),
            );
            return;
        }
    };
    for (k, v) in m {
        match key_string(k).as_str() {
            "vars" => raw.global = vars_of(cx, v, &p(&["all", "vars"]), None),
            "children" => walk_children(cx, raw, v, p(&["all"]), 1),
            "hosts" => walk_hosts(cx, raw, "all", v, &p(&["all"])),
            other => cx.warn(
                &Place::Inv(p(&["all", other])),
                None,
                None,
                format!("`all.{other}` is ignored"),
                Some("`all` holds `children`, `vars` and `hosts`".into()),
            ),
        }
    }
}

fn walk_children(cx: &mut Cx, raw: &mut Raw, v: &Yaml, parent: Vec<String>, depth: usize) {
    let m = match v {
        Yaml::Mapping(m) => m,
        Yaml::Null => return,
        _ => {
            let mut path = parent;
            path.push("children".into());
            cx.error(
                &Place::Inv(path),
                None,
                None,
                "`children` must be a mapping of group names to groups".into(),
                Some(HINT_FORMAT.into()),
            );
            return;
        }
    };
    let parent_name = parent.last().cloned().unwrap_or_default();
    for (k, g) in m {
        let name = key_string(k);
        let mut path = parent.clone();
        path.push("children".into());
        path.push(name.clone());
        if depth > 1 {
            if let Some(pg) = raw.groups.get_mut(&parent_name) {
                if !pg.children.contains(&name) {
                    pg.children.push(name.clone());
                }
            }
        }
        walk_group(cx, raw, &name, g, path, depth);
    }
}

fn walk_group(cx: &mut Cx, raw: &mut Raw, name: &str, v: &Yaml, path: Vec<String>, depth: usize) {
    if name == "all" {
        cx.error(
            &Place::Inv(path),
            None,
            None,
            "a group cannot be named `all`".into(),
            None,
        );
        return;
    }
    if !raw.groups.contains_key(name) {
        raw.order.push(name.to_string());
        raw.groups.insert(
            name.to_string(),
            RawGroup {
                path: path.clone(),
                depth,
                ..Default::default()
            },
        );
    } else if let Some(g) = raw.groups.get_mut(name) {
        g.depth = g.depth.min(depth);
    }
    let m = match v {
        Yaml::Mapping(m) => m,
        Yaml::Null => return,
        _ => {
            cx.error(
                &Place::Inv(path),
                None,
                None,
                format!("group `{name}` must be a mapping with `hosts` and `vars`"),
                Some(HINT_FORMAT.into()),
            );
            return;
        }
    };
    for (k, v) in m {
        let key = key_string(k);
        match key.as_str() {
            "hosts" => walk_hosts(cx, raw, name, v, &path),
            "vars" => {
                let mut vp = path.clone();
                vp.push("vars".into());
                let vars = vars_of(cx, v, &vp, None);
                if let Some(g) = raw.groups.get_mut(name) {
                    g.vars.extend(vars);
                }
            }
            "children" => walk_children(cx, raw, v, path.clone(), depth + 1),
            other => {
                let mut kp = path.clone();
                kp.push(other.into());
                cx.warn(
                    &Place::Inv(kp),
                    None,
                    None,
                    format!("`{other}` in group `{name}` is ignored"),
                    Some(
                        "a group holds `hosts`, `vars` and `children`; variables go under `vars`"
                            .into(),
                    ),
                );
            }
        }
    }
}

fn walk_hosts(cx: &mut Cx, raw: &mut Raw, group: &str, v: &Yaml, gpath: &[String]) {
    let mut hp = gpath.to_vec();
    hp.push("hosts".into());
    let m = match v {
        Yaml::Mapping(m) => m,
        Yaml::Null => return,
        _ => {
            cx.error(
                &Place::Inv(hp),
                None,
                None,
                format!(
                    "`hosts` of group `{group}` must be a mapping of addresses to host variables"
                ),
                Some("write `hosts: { 10.10.10.11: { pg_seq: 1 } }`, `{}` for no variables".into()),
            );
            return;
        }
    };
    for (k, hv) in m {
        let addr = key_string(k);
        let mut path = hp.clone();
        path.push(addr.clone());
        let vars = vars_of(cx, hv, &path, Some(&addr));
        if group != "all" {
            if let Some(g) = raw.groups.get_mut(group) {
                if !g.hosts.contains(&addr) {
                    g.hosts.push(addr.clone());
                }
            }
        }
        raw.entries.push(RawEntry {
            addr,
            group: group.to_string(),
            vars,
        });
    }
}

fn vars_of(cx: &mut Cx, v: &Yaml, path: &[String], host: Option<&str>) -> Map<String, Value> {
    match v {
        Yaml::Null => Map::new(),
        Yaml::Mapping(_) => match to_json(v) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        _ => {
            cx.error(
                &Place::Inv(path.to_vec()),
                host,
                None,
                "variables must be a mapping of names to values".into(),
                None,
            );
            Map::new()
        }
    }
}

/// Parse `-e` arguments: `key=value` (several separated by spaces), `@file.yml`,
/// or an inline YAML/JSON mapping. Values are YAML scalars (`-e pg_port=5433` is a number).
fn parse_extra(args: &[String]) -> Result<Vec<ExtraLayer>, InventoryError> {
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

fn extra_error(file: &str, msg: &str) -> InventoryError {
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
fn split_kv(arg: &str) -> Vec<(&str, &str)> {
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
fn scalar(v: &str) -> Value {
    if v.is_empty() {
        return Value::String(String::new());
    }
    match serde_yaml::from_str::<Yaml>(v) {
        Ok(Yaml::Mapping(_)) if !v.trim_start().starts_with('{') => Value::String(v.to_string()),
        Ok(y) => to_json(&y),
        Err(_) => Value::String(v.to_string()),
    }
}

/// Check every variable of one layer against the schema (normalising in place),
/// and warn about published default passwords.
fn check_layer(
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
                let hint = schema.suggest(key).map(|s| format!("did you mean `{s}`?"));
                cx.warn(
                    place,
                    host,
                    Some(key),
                    "unknown parameter; kept, but nothing in pigsty reads it".into(),
                    hint,
                );
            }
            Check::Unevaluated => cx.warn(
                place,
                host,
                Some(key),
                "Jinja expressions are not evaluated by pigsty; the value is kept as text".into(),
                Some("write the value out literally".into()),
            ),
            Check::Bad(expected) => {
                let secret = schema.get(key).is_some_and(|s| s.secret);
                cx.error(
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

/// A value for a message: short, and never a secret.
pub(super) fn show(v: &Value, secret: bool) -> String {
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

const HINT_PASSWORD: &str = "replace it with a fresh secret; `pigsty configure` generates them";

/// Warn about credentials equal to a password published by Pigsty.
fn default_passwords(
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
            cx.warn(
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

/// Build the typed model: close group membership over nesting, merge each host's
/// layers, derive identities.
fn assemble(
    cx: &mut Cx,
    schema: &Schema,
    raw: Raw,
    path: &std::path::Path,
    text: &str,
) -> Inventory {
    // Membership including nested children.
    fn members(raw: &Raw, name: &str, seen: &mut Vec<String>) -> Vec<String> {
        if seen.iter().any(|s| s == name) {
            return vec![];
        }
        seen.push(name.to_string());
        let Some(g) = raw.groups.get(name) else {
            return vec![];
        };
        let mut v = g.hosts.clone();
        for c in &g.children {
            for h in members(raw, c, seen) {
                if !v.contains(&h) {
                    v.push(h);
                }
            }
        }
        v
    }
    let mut groups = BTreeMap::new();
    let mut group_paths = BTreeMap::new();
    for name in &raw.order {
        let Some(g) = raw.groups.get(name) else {
            continue;
        };
        let hosts = members(&raw, name, &mut Vec::new());
        group_paths.insert(name.clone(), g.path.clone());
        groups.insert(
            name.clone(),
            Group {
                name: name.clone(),
                hosts,
                vars: g.vars.clone(),
                children: g.children.clone(),
                depth: g.depth,
            },
        );
    }

    let defaults = schema.defaults();
    let mut global = defaults.clone();
    global.extend(raw.global.clone());
    for layer in &cx.extra {
        global.extend(layer.vars.clone());
    }

    let mut order: Vec<String> = Vec::new();
    for e in &raw.entries {
        if !order.contains(&e.addr) {
            order.push(e.addr.clone());
        }
    }

    let mut hosts = Vec::new();
    for addr in order {
        let mut member_of: Vec<&Group> = groups
            .values()
            .filter(|g| g.hosts.contains(&addr))
            .collect();
        member_of.sort_by(|a, b| (a.depth, &a.name).cmp(&(b.depth, &b.name)));
        let mut vars = defaults.clone();
        let mut sources: BTreeMap<String, Source> =
            vars.keys().map(|k| (k.clone(), Source::Default)).collect();
        let mut set = |vars: &mut Map<String, Value>, layer: &Map<String, Value>, src: Source| {
            for (k, v) in layer {
                vars.insert(k.clone(), v.clone());
                sources.insert(k.clone(), src.clone());
            }
        };
        set(&mut vars, &raw.global, Source::Global);
        for g in &member_of {
            set(&mut vars, &g.vars, Source::Group(g.name.clone()));
        }
        let mut host_set: BTreeMap<String, (String, Value)> = BTreeMap::new();
        for e in raw.entries.iter().filter(|e| e.addr == addr) {
            for (k, v) in &e.vars {
                if let Some((g0, v0)) = host_set.get(k) {
                    if v0 != v {
                        let place = Place::Inv(entry_path(&raw, &e.group, &addr));
                        cx.warn(
                            &place,
                            Some(&addr),
                            Some(k),
                            format!("also set, to another value, under group `{g0}`; this one (later in the file) wins"),
                            None,
                        );
                    }
                }
                host_set.insert(k.clone(), (e.group.clone(), v.clone()));
            }
            set(&mut vars, &e.vars, Source::Host(e.group.clone()));
        }
        for (i, layer) in cx.extra.iter().enumerate() {
            set(&mut vars, &layer.vars, Source::Extra(i));
        }
        let mut entries: Vec<String> = Vec::new();
        for e in raw.entries.iter().filter(|e| e.addr == addr) {
            if !entries.contains(&e.group) {
                entries.push(e.group.clone());
            }
        }
        let mut host = Host {
            addr: addr.clone(),
            groups: member_of.iter().map(|g| g.name.clone()).collect(),
            vars,
            id: Identity::default(),
            sources,
            entries,
        };
        host.id = identity(&mut host);
        hosts.push(host);
    }

    Inventory {
        path: path.to_path_buf(),
        source: text.to_string(),
        hosts,
        groups,
        vars: global,
        warnings: Vec::new(),
        group_paths,
        extra: std::mem::take(&mut cx.extra),
    }
}

fn text_of(vars: &Map<String, Value>, k: &str) -> Option<String> {
    vars.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn seq_of(vars: &Map<String, Value>, k: &str) -> Option<u32> {
    vars.get(k)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// Identity from merged variables. With `node_id_from_pg` (default), a pgsql host
/// without an explicit `nodename`/`node_cluster` takes its instance and cluster name,
/// written back into its variables as Pigsty does.
fn identity(host: &mut Host) -> Identity {
    let v = &host.vars;
    let from_pg = super::Vars(v).b("node_id_from_pg");
    let mut id = Identity {
        nodename: text_of(v, "nodename"),
        node_cluster: text_of(v, "node_cluster"),
        infra_seq: seq_of(v, "infra_seq"),
        etcd_cluster: text_of(v, "etcd_cluster"),
        etcd_seq: seq_of(v, "etcd_seq"),
        pg_cluster: text_of(v, "pg_cluster"),
        pg_seq: seq_of(v, "pg_seq"),
        pg_role: v
            .get("pg_role")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<PgRole>().ok()),
        pg_instance: None,
        pg_upstream: text_of(v, "pg_upstream"),
        minio_cluster: text_of(v, "minio_cluster"),
        minio_seq: seq_of(v, "minio_seq"),
        redis_cluster: text_of(v, "redis_cluster"),
        redis_node: seq_of(v, "redis_node"),
        redis_ports: Vec::new(),
    };
    if let Some(inst) = v.get("redis_instances").and_then(Value::as_object) {
        let mut ports: Vec<u16> = inst.keys().filter_map(|k| k.parse::<u16>().ok()).collect();
        ports.sort_unstable();
        id.redis_ports = ports;
    }
    if let (Some(c), Some(s)) = (&id.pg_cluster, id.pg_seq) {
        id.pg_instance = Some(format!("{c}-{s}"));
    }
    if from_pg {
        let pg_src = host
            .sources
            .get("pg_cluster")
            .cloned()
            .unwrap_or(Source::Default);
        if id.nodename.is_none() {
            if let Some(inst) = &id.pg_instance {
                id.nodename = Some(inst.clone());
                host.vars
                    .insert("nodename".into(), Value::String(inst.clone()));
                host.sources.insert("nodename".into(), pg_src.clone());
            }
        }
        if !host.is_set("node_cluster") {
            if let Some(c) = &id.pg_cluster {
                id.node_cluster = Some(c.clone());
                host.vars
                    .insert("node_cluster".into(), Value::String(c.clone()));
                host.sources.insert("node_cluster".into(), pg_src);
            }
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use serde_json::json;

    fn load(text: &str, extra: &[&str]) -> Inventory {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        match Inventory::from_str("pigsty.yml", text, &extra) {
            Ok(inv) => inv,
            Err(e) => panic!("{e}"),
        }
    }

    const BASE: &str = "
all:
  children:
    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
    etcd: { hosts: { 10.10.10.10: { etcd_seq: 1 } }, vars: { etcd_cluster: etcd } }
    pg-test:
      hosts:
        10.10.10.11: { pg_seq: 1, pg_role: primary, pg_port: 5440 }
        10.10.10.12: { pg_seq: 2, pg_role: replica }
      vars:
        pg_cluster: pg-test
        pg_port: 5442
        node_tune: tiny
  vars:
    admin_ip: 10.10.10.10
    pg_port: 5444
    node_tune: oltp
    pg_version: 17
";

    #[test]
    fn defaults_fill_what_the_inventory_leaves_out() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.10").expect("host");
        assert_eq!(h.int("patroni_port"), Some(8008));
        assert_eq!(h.str("pg_conf"), Some("oltp.yml"));
        assert_eq!(h.source("patroni_port"), Some(&Source::Default));
    }

    #[test]
    fn group_vars_override_all_vars() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.12").expect("host");
        assert_eq!(h.int("pg_port"), Some(5442));
        assert_eq!(h.str("node_tune"), Some("tiny"));
        assert_eq!(h.int("pg_version"), Some(17));
        assert_eq!(h.source("pg_port"), Some(&Source::Group("pg-test".into())));
    }

    #[test]
    fn host_vars_override_group_vars() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.11").expect("host");
        assert_eq!(h.int("pg_port"), Some(5440));
        assert_eq!(h.source("pg_port"), Some(&Source::Host("pg-test".into())));
    }

    #[test]
    fn extra_vars_win() {
        let inv = load(BASE, &["pg_port=6000", "node_tune=crit pg_version=16"]);
        for h in &inv.hosts {
            assert_eq!(h.int("pg_port"), Some(6000), "{}", h.addr);
            assert_eq!(h.str("node_tune"), Some("crit"));
            assert_eq!(h.int("pg_version"), Some(16));
            assert_eq!(h.source("pg_port"), Some(&Source::Extra(0)));
        }
        assert_eq!(inv.vars["pg_port"], json!(6000));
    }

    #[test]
    fn extra_vars_parse_as_yaml_scalars_and_flow_collections() {
        let inv = load(
            BASE,
            &[
                "pg_checksum=false",
                "pg_extensions=[postgis, vector]",
                "pg_libs=a, b",
                "pg_dns_suffix=",
            ],
        );
        let h = inv.host("10.10.10.11").expect("host");
        assert_eq!(h.bool("pg_checksum"), Some(false));
        assert_eq!(h.get("pg_extensions"), Some(&json!(["postgis", "vector"])));
        assert_eq!(h.str("pg_libs"), Some("a, b"));
        assert_eq!(h.str("pg_dns_suffix"), Some(""));
    }

    #[test]
    fn extra_vars_from_a_file_and_inline_mapping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("extra.yml");
        std::fs::write(&f, "pg_port: 7000\npg_conf: olap.yml\n").expect("write");
        let at = format!("@{}", f.display());
        let inv = load(BASE, &[&at, "{pg_conf: crit.yml}"]);
        let h = inv.host("10.10.10.11").expect("host");
        assert_eq!(h.int("pg_port"), Some(7000));
        assert_eq!(h.str("pg_conf"), Some("crit.yml"));
    }

    #[test]
    fn extra_vars_file_errors_name_that_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("extra.yml");
        std::fs::write(&f, "pg_conf: olap.yml\npg_port: yes\n").expect("write");
        let at = format!("@{}", f.display());
        let err = Inventory::from_str("pigsty.yml", BASE, &[at]).expect_err("invalid");
        let d = &err.diags()[0];
        assert_eq!(d.file, f.display().to_string());
        assert_eq!(d.line, Some(2));
        assert_eq!(d.key.as_deref(), Some("pg_port"));
    }

    #[test]
    fn malformed_extra_vars_are_refused() {
        let err = Inventory::from_str("pigsty.yml", BASE, &["justaword".to_string()])
            .expect_err("invalid");
        assert!(err.to_string().contains("is not `key=value`"), "{err}");
    }

    #[test]
    fn a_host_in_several_groups_merges_group_vars_by_name() {
        let text = "
all:
  children:
    zeta: { hosts: { 10.0.0.1: {} }, vars: { node_tune: olap, node_timezone: UTC } }
    alpha: { hosts: { 10.0.0.1: {} }, vars: { node_tune: crit, node_admin_uid: 90 } }
";
        let inv = load(text, &[]);
        let h = inv.host("10.0.0.1").expect("host");
        assert_eq!(h.groups, vec!["alpha", "zeta"]);
        assert_eq!(
            h.str("node_tune"),
            Some("olap"),
            "zeta sorts after alpha, so it wins"
        );
        assert_eq!(h.int("node_admin_uid"), Some(90));
        assert_eq!(h.str("node_timezone"), Some("UTC"));
    }

    #[test]
    fn nested_groups_are_deeper_and_win() {
        let text = "
all:
  children:
    parent:
      vars: { node_tune: olap }
      children:
        child: { hosts: { 10.0.0.1: {} }, vars: { node_tune: crit } }
";
        let inv = load(text, &[]);
        let h = inv.host("10.0.0.1").expect("host");
        assert_eq!(h.groups, vec!["parent", "child"]);
        assert_eq!(h.str("node_tune"), Some("crit"));
        assert_eq!(inv.groups["parent"].hosts, vec!["10.0.0.1"]);
        assert_eq!(inv.groups["parent"].children, vec!["child"]);
    }

    #[test]
    fn hosts_keep_file_order_once_each() {
        let inv = load(BASE, &[]);
        let addrs: Vec<&str> = inv.hosts.iter().map(|h| h.addr.as_str()).collect();
        assert_eq!(addrs, vec!["10.10.10.10", "10.10.10.11", "10.10.10.12"]);
    }

    #[test]
    fn empty_and_null_hosts_are_fine() {
        let text =
            "all:\n  children:\n    app:\n      hosts:\n        10.0.0.1: {}\n        10.0.0.2:\n";
        let inv = load(text, &[]);
        assert_eq!(inv.hosts.len(), 2);
    }

    #[test]
    fn pg_identity_names_the_node_by_default() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.12").expect("host");
        assert_eq!(h.id.pg_instance.as_deref(), Some("pg-test-2"));
        assert_eq!(h.id.nodename.as_deref(), Some("pg-test-2"));
        assert_eq!(h.id.node_cluster.as_deref(), Some("pg-test"));
        assert_eq!(h.str("node_cluster"), Some("pg-test"));
        let infra = inv.host("10.10.10.10").expect("host");
        assert_eq!(infra.id.nodename, None);
        assert_eq!(infra.id.node_cluster.as_deref(), Some("nodes"));
        let inv = load(BASE, &["node_id_from_pg=false"]);
        assert_eq!(
            inv.host("10.10.10.12").and_then(|h| h.id.nodename.clone()),
            None
        );
    }

    #[test]
    fn integer_keys_become_strings() {
        let text = "all:\n  children:\n    r:\n      hosts: { 10.0.0.1: { redis_node: 1, redis_instances: { 6379: {}, 6380: { replica_of: '10.0.0.1 6379' } } } }\n      vars: { redis_cluster: r, redis_password: x.Strong }\n";
        let inv = load(text, &[]);
        let h = inv.host("10.0.0.1").expect("host");
        assert!(h
            .dict("redis_instances")
            .is_some_and(|m| m.contains_key("6379")));
        assert_eq!(h.id.redis_ports, vec![6379, 6380]);
    }

    #[test]
    fn yaml_errors_name_line_and_column() {
        let err = Inventory::from_str("bad.yml", "all:\n  vars: { a: [1, 2 }\n", &[])
            .expect_err("invalid");
        match err {
            InventoryError::Yaml {
                file, line, col, ..
            } => {
                assert_eq!(file, "bad.yml");
                assert_eq!(line, 2);
                assert!(col > 1);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn duplicate_hosts_in_a_group_point_at_the_second_one() {
        let text =
            "all:\n  children:\n    g:\n      hosts:\n        10.0.0.1: {}\n        10.0.0.1: {}\n";
        let err = Inventory::from_str("dup.yml", text, &[]).expect_err("invalid");
        assert!(matches!(err, InventoryError::Yaml { line: 6, .. }), "{err}");
        assert!(err.to_string().contains("`dup.yml:6:9`"), "{err}");
    }

    #[test]
    fn wrong_types_name_line_host_and_key() {
        let text = "all:\n  children:\n    pg-test:\n      hosts:\n        10.0.0.1: { pg_seq: one, pg_role: primary }\n      vars: { pg_cluster: pg-test, pg_port: yes }\n";
        let err = Inventory::from_str("pigsty.yml", text, &[]).expect_err("invalid");
        let msg = err.to_string();
        assert!(
            msg.contains("`pigsty.yml:5`: host `10.0.0.1`, key `pg_seq`: expected an integer"),
            "{msg}"
        );
        assert!(msg.contains("`pigsty.yml:6`: key `pg_port`: expected a port number (1-65535), got `yes` (a string)"), "{msg}");
        assert!(
            !msg.contains("missing `pg_seq`"),
            "a bad pg_seq is not also reported missing: {msg}"
        );
    }

    #[test]
    fn unknown_parameters_are_warnings_with_a_suggestion() {
        let text =
            "all:\n  vars:\n    pg_prot: 5432\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n";
        let inv = load(text, &[]);
        let w = &inv.warnings[0];
        assert_eq!((w.line, w.key.as_deref()), (Some(3), Some("pg_prot")));
        assert_eq!(w.hint.as_deref(), Some("did you mean `pg_port`?"));
    }

    #[test]
    fn jinja_values_are_kept_with_a_warning() {
        let text = "all:\n  vars:\n    repo_packages: \"{{ x | list }}\"\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n";
        let inv = load(text, &[]);
        assert!(inv
            .warnings
            .iter()
            .any(|w| w.key.as_deref() == Some("repo_packages") && w.message.contains("Jinja")));
        assert_eq!(
            inv.host("10.0.0.1").and_then(|h| h.str("repo_packages")),
            Some("{{ x | list }}")
        );
    }

    #[test]
    fn published_default_passwords_are_warned_about_without_printing_them() {
        let text = "
all:
  vars:
    pg_admin_password: DBUser.DBA
  children:
    pg-meta:
      hosts: { 10.0.0.1: { pg_seq: 1, pg_role: primary } }
      vars:
        pg_cluster: pg-meta
        pg_users:
          - { name: a, password: Fresh.Secret.1 }
          - { name: dbuser_meta, password: DBUser.Meta }
";
        let inv = load(text, &[]);
        let admin = inv
            .warnings
            .iter()
            .find(|w| w.key.as_deref() == Some("pg_admin_password"))
            .expect("warned");
        assert_eq!(admin.line, Some(4));
        let user = inv
            .warnings
            .iter()
            .find(|w| w.key.as_deref() == Some("pg_users[1].password"))
            .expect("warned");
        assert_eq!(user.line, Some(12));
        for w in &inv.warnings {
            assert!(!w.to_string().contains("DBUser"), "{w}");
        }
    }

    #[test]
    fn secrets_are_not_echoed_in_type_errors() {
        let text = "all:\n  vars:\n    pg_admin_password: [Secret.One]\n  children:\n    g: { hosts: { 10.0.0.1: {} } }\n";
        let err = Inventory::from_str("pigsty.yml", text, &[]).expect_err("invalid");
        assert!(!err.to_string().contains("Secret.One"), "{err}");
    }

    #[test]
    fn conflicting_host_vars_across_groups_are_warned_about() {
        let text = "all:\n  children:\n    a: { hosts: { 10.0.0.1: { node_tune: olap } } }\n    b: { hosts: { 10.0.0.1: { node_tune: crit } } }\n";
        let inv = load(text, &[]);
        assert_eq!(
            inv.host("10.0.0.1").and_then(|h| h.str("node_tune")),
            Some("crit")
        );
        let w = inv
            .warnings
            .iter()
            .find(|w| w.key.as_deref() == Some("node_tune"))
            .expect("warned");
        assert_eq!(w.line, Some(4));
    }

    #[test]
    fn hosts_directly_under_all_and_top_level_groups_load() {
        let text = "all:\n  hosts:\n    10.0.0.1: { node_tune: olap }\nextra:\n  hosts: { 10.0.0.2: {} }\n  vars: { node_tune: crit }\n";
        let inv = load(text, &[]);
        assert_eq!(inv.hosts.len(), 2);
        assert_eq!(
            inv.host("10.0.0.1").and_then(|h| h.str("node_tune")),
            Some("olap")
        );
        assert!(inv.host("10.0.0.1").is_some_and(|h| h.groups.is_empty()));
        assert_eq!(
            inv.host("10.0.0.2").and_then(|h| h.str("node_tune")),
            Some("crit")
        );
        assert_eq!(inv.host_line("10.0.0.1"), Some(3));
    }

    #[test]
    fn expand_fills_pigsty_placeholders_from_host_vars() {
        let inv = load(BASE, &[]);
        let h = inv.host("10.10.10.11").expect("host");
        assert_eq!(h.expand("http://${admin_ip}:80"), "http://10.10.10.10:80");
        assert_eq!(
            h.expand("${pg_cluster}-${pg_seq} ${nope}"),
            "pg-test-1 ${nope}"
        );
    }

    #[test]
    fn an_empty_file_is_invalid() {
        let err = Inventory::from_str("e.yml", "", &[]).expect_err("invalid");
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
