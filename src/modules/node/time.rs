//! Time: chrony, adjusting the clock where the host may.
use super::*;

pub(super) fn asset(path: &str) -> Result<&'static str> {
    crate::assets::asset(path).ok_or_else(|| anyhow::anyhow!("embedded asset `{path}` is missing"))
}

pub fn chrony_conf(h: &Host) -> Result<String> {
    let servers = strings(h, "node_ntp_servers");
    if servers.is_empty() {
        bail!("host `{}`: `node_ntp_servers` is empty while `node_ntp_enabled` is true\nhint: e.g. [ 'pool pool.ntp.org iburst' ]", h.addr);
    }
    crate::template::render("node/chrony.conf.j2", &json!({ "servers": servers }))
}

pub fn chrony_default(can_set_clock: bool) -> Result<String> {
    crate::template::render(
        "node/chrony.default.j2",
        &json!({ "can_set_clock": can_set_clock }),
    )
}

pub fn chrony_override(can_set_clock: bool) -> Result<String> {
    crate::template::render(
        "node/chrony.override.conf.j2",
        &json!({ "can_set_clock": can_set_clock }),
    )
}

pub(super) fn ntp(h: &Host, facts: &crate::facts::Facts, p: &mut ModulePlan) -> Result<()> {
    if !h.var_bool("node_ntp_enabled") {
        return Ok(());
    }
    let can = facts.can_set_clock;
    let restart = || vec![Handler::Restart(CHRONY_UNIT.into())];
    p.add_notify(
        File::new("/etc/chrony/chrony.conf", chrony_conf(h)?),
        restart(),
    );
    p.add_notify(
        File::new("/etc/default/chrony", chrony_default(can)?),
        restart(),
    );
    p.add_notify(
        File::new(CHRONY_DROPIN, chrony_override(can)?),
        vec![Handler::DaemonReload, Handler::Restart(CHRONY_UNIT.into())],
    );
    p.add(Service::running(CHRONY_UNIT));
    if !can {
        p.add(Note::skip(
            "time",
            "clock adjustment",
            "this host may not set the clock (no CAP_SYS_TIME: a container); chronyd runs with `-x`, tracking time without adjusting the clock: the host's clock rules",
        ));
    }
    Ok(())
}
