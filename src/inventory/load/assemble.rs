//! The typed model: group membership closed over nesting, merged variables, identities.
use super::*;

/// Build the typed model: close group membership over nesting, merge each host's
/// layers, derive identities.
pub(super) fn assemble(
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
                        cx.say(
Severity::Warning,
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

pub(super) fn text_of(vars: &Map<String, Value>, k: &str) -> Option<String> {
    vars.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub(super) fn seq_of(vars: &Map<String, Value>, k: &str) -> Option<u32> {
    vars.get(k)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// Identity from merged variables. With `node_id_from_pg` (default), a pgsql host
/// without an explicit `nodename`/`node_cluster` takes its instance and cluster name,
/// written back into its variables as Pigsty does.
pub(super) fn identity(host: &mut Host) -> Identity {
    let v = &host.vars;
    let from_pg = crate::inventory::Vars(v).b("node_id_from_pg");
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
    // A cluster name makes a member only with the module's identity beside it, or when
    // written in a group or on the host: Pigsty's `full.yml` sets `minio_cluster: minio`
    // in all.vars, and that does not make every host a MinIO node.
    let scoped = |k: &str| {
        matches!(
            host.sources.get(k),
            Some(Source::Group(_) | Source::Host(_))
        )
    };
    if !scoped("pg_cluster") && id.pg_seq.is_none() && id.pg_role.is_none() {
        id.pg_cluster = None;
    }
    if !scoped("minio_cluster") && id.minio_seq.is_none() {
        id.minio_cluster = None;
    }
    if !scoped("redis_cluster") && id.redis_node.is_none() && !v.contains_key("redis_instances") {
        id.redis_cluster = None;
    }
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
