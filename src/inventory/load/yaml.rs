//! YAML to groups and host entries: the document's structure, its errors with file and line.
use super::*;

pub(super) fn parse_yaml(file: &str, text: &str) -> Result<Yaml, InventoryError> {
    let mut doc: Yaml = serde_yaml::from_str(text).map_err(|e| yaml_error(file, text, &e))?;
    doc.apply_merge().map_err(|e| yaml_error(file, text, &e))?;
    Ok(doc)
}

pub(super) fn yaml_error(file: &str, text: &str, e: &serde_yaml::Error) -> InventoryError {
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
pub(in crate::inventory) fn key_string(k: &Yaml) -> String {
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
pub(in crate::inventory) fn to_json(v: &Yaml) -> Value {
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
pub(super) fn structure(cx: &mut Cx, doc: &Yaml) -> Raw {
    let mut raw = Raw::default();
    let root = match doc {
        Yaml::Mapping(m) => m,
        other => {
            let what = if matches!(other, Yaml::Null) {
                "the inventory is empty"
            } else {
                "the inventory is not a mapping"
            };
            cx.say(
                Severity::Error,
                &Place::Inv(vec![]),
                None,
                None,
                what.into(),
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
        cx.say(
            Severity::Error,
            &Place::Inv(vec![]),
            None,
            None,
            "no `all` group".into(),
            Some(HINT_FORMAT.into()),
        );
    }
    raw
}

pub(super) const HINT_FORMAT: &str = "an inventory looks like `all: { children: { <group>: { hosts: { <ip>: {...} }, vars: {...} } }, vars: {...} }`";

/// `v` as a mapping; nothing for null (an empty section); an error at `path` with
/// `what` and `hint` for anything else.
fn mapping_at<'y>(
    cx: &mut Cx,
    v: &'y Yaml,
    path: Vec<String>,
    what: String,
    hint: &str,
) -> Option<&'y serde_yaml::Mapping> {
    match v {
        Yaml::Mapping(m) => Some(m),
        Yaml::Null => None,
        _ => {
            cx.say(
                Severity::Error,
                &Place::Inv(path),
                None,
                None,
                what,
                Some(hint.into()),
            );
            None
        }
    }
}

pub(super) fn walk_all(cx: &mut Cx, raw: &mut Raw, v: &Yaml) {
    let Some(m) = mapping_at(
        cx,
        v,
        p(&["all"]),
        "`all` must be a mapping with `children` and `vars`".into(),
        HINT_FORMAT,
    ) else {
        return;
    };
    for (k, v) in m {
        match key_string(k).as_str() {
            "vars" => raw.global = vars_of(cx, v, &p(&["all", "vars"]), None),
            "children" => walk_children(cx, raw, v, p(&["all"]), 1),
            "hosts" => walk_hosts(cx, raw, "all", v, &p(&["all"])),
            other => cx.say(
                Severity::Warning,
                &Place::Inv(p(&["all", other])),
                None,
                None,
                format!("`all.{other}` is ignored"),
                Some("`all` holds `children`, `vars` and `hosts`".into()),
            ),
        }
    }
}

pub(super) fn walk_children(
    cx: &mut Cx,
    raw: &mut Raw,
    v: &Yaml,
    parent: Vec<String>,
    depth: usize,
) {
    let mut path = parent.clone();
    path.push("children".into());
    let Some(m) = mapping_at(
        cx,
        v,
        path,
        "`children` must be a mapping of group names to groups".into(),
        HINT_FORMAT,
    ) else {
        return;
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

pub(super) fn walk_group(
    cx: &mut Cx,
    raw: &mut Raw,
    name: &str,
    v: &Yaml,
    path: Vec<String>,
    depth: usize,
) {
    if name == "all" {
        cx.say(
            Severity::Error,
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
    let Some(m) = mapping_at(
        cx,
        v,
        path.clone(),
        format!("group `{name}` must be a mapping with `hosts` and `vars`"),
        HINT_FORMAT,
    ) else {
        return;
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
                cx.say(
                    Severity::Warning,
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

pub(super) fn walk_hosts(cx: &mut Cx, raw: &mut Raw, group: &str, v: &Yaml, gpath: &[String]) {
    let mut hp = gpath.to_vec();
    hp.push("hosts".into());
    let Some(m) = mapping_at(
        cx,
        v,
        hp.clone(),
        format!("`hosts` of group `{group}` must be a mapping of addresses to host variables"),
        "write `hosts: { 10.10.10.11: { pg_seq: 1 } }`, `{}` for no variables",
    ) else {
        return;
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

pub(super) fn vars_of(
    cx: &mut Cx,
    v: &Yaml,
    path: &[String],
    host: Option<&str>,
) -> Map<String, Value> {
    match v {
        Yaml::Null => Map::new(),
        Yaml::Mapping(_) => match to_json(v) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        _ => {
            cx.say(
                Severity::Error,
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
