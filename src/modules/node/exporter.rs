//! node_exporter.
use super::*;

pub fn node_exporter_default(h: &Host) -> Result<String> {
    let opts = h.var_str("node_exporter_options").trim();
    if opts.contains('"') || opts.contains('\\') || opts.contains('$') || opts.contains('`') {
        bail!(
            "host `{}`: `node_exporter_options` must not contain quotes, `\\`, `$` or backticks",
            h.addr
        );
    }
    crate::template::render(
        "node/node-exporter.default.j2",
        &json!({ "node_exporter_port": h.var_port("node_exporter_port"), "node_exporter_options": opts }),
    )
}

pub(super) fn node_exporter(h: &Host, p: &mut ModulePlan) -> Result<()> {
    if !h.var_bool("node_exporter_enabled") {
        p.add(Service::stopped(NODE_EXPORTER_UNIT));
        return Ok(());
    }
    p.add(Package::new("node_exporter", ["prometheus-node-exporter"]));
    p.add_notify(
        File::new(NODE_EXPORTER_DEFAULT, node_exporter_default(h)?),
        vec![Handler::Restart(NODE_EXPORTER_UNIT.into())],
    );
    p.add(Service::running(NODE_EXPORTER_UNIT));
    Ok(())
}
