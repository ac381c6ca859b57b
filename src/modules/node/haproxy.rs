//! HAProxy on every node: its global config, unit and metrics.
use super::*;

pub fn haproxy_cfg(ctx: &Ctx) -> Result<String> {
    let h = ctx.host;
    let auth = h.var_bool("haproxy_auth_enabled");
    let user = h.var_str("haproxy_admin_username");
    let password = if auth {
        ctx.req_str("haproxy_admin_password")?
    } else {
        String::new()
    };
    let bad = |s: &str| {
        s.is_empty()
            || s.chars()
                .any(|c| c.is_whitespace() || "#\"'\\:".contains(c))
    };
    if auth && (bad(user) || bad(&password)) {
        bail!(
            "host `{}`: `haproxy_admin_username`/`haproxy_admin_password` must be non-empty without spaces, quotes, `#`, `\\` or `:`\nhint: `pigsty configure` generates a suitable password",
            h.addr
        );
    }
    let ctxv = json!({
        "host_ip": h.addr,
        "node_name": node_name(h),
        "haproxy_exporter_port": h.var_port("haproxy_exporter_port"),
        "haproxy_client_timeout": duration(h, "haproxy_client_timeout", "24h"),
        "haproxy_server_timeout": duration(h, "haproxy_server_timeout", "24h"),
        "haproxy_auth_enabled": auth,
        "haproxy_admin_username": user,
        "haproxy_admin_password": password,
        "admin_note": if auth { format!("user {user}") } else { "no password: haproxy_auth_enabled is false".into() },
    });
    crate::template::render("node/haproxy.cfg.j2", &ctxv)
}

/// A duration parameter in HAProxy's syntax (`24h`, `30s`, `500ms`; a bare number is ms).
pub(super) fn duration(h: &Host, key: &str, default: &str) -> String {
    match h.get(key) {
        Some(Value::Number(n)) => format!("{n}ms"),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => default.into(),
    }
}

pub(super) fn haproxy(ctx: &Ctx, p: &mut ModulePlan) -> Result<()> {
    let h = ctx.host;
    if !h.var_bool("haproxy_enabled") {
        p.add(Service::stopped(HAPROXY_UNIT));
        return Ok(());
    }
    let cfg = haproxy_cfg(ctx)?;
    p.add(Package::new("haproxy", ["haproxy"]));
    p.add(Dir::new(HAPROXY_DIR));
    let mut f = File::new(HAPROXY_CFG, cfg)
        .mode(0o640)
        .owner("root", "haproxy");
    if h.var_bool("haproxy_auth_enabled") {
        f = f.secret();
    }
    p.add_notify(f, haproxy_reload(h));
    p.add_notify(
        File::new(HAPROXY_UNIT_FILE, asset("node/haproxy.service")?),
        vec![Handler::DaemonReload, Handler::Restart(HAPROXY_UNIT.into())],
    );
    p.add(Service::running(HAPROXY_UNIT));
    Ok(())
}
