//! The time zone (`node_timezone`).
use super::*;

pub(super) fn timezone(h: &Host, p: &mut ModulePlan) -> Result<()> {
    let tz = h.var_str("node_timezone");
    if tz.is_empty() {
        return Ok(());
    }
    let ok_chars = tz
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c));
    if !ok_chars || tz.contains("..") || tz.starts_with('/') {
        bail!("host `{}`: `node_timezone` `{tz}` is not a time zone name\nhint: e.g. `UTC`, `Asia/Hong_Kong`", h.addr);
    }
    let zone = format!("/usr/share/zoneinfo/{tz}");
    // the zone's existence is the machine's to tell: the link's check fails first
    let unknown = format!("host `{}`: `node_timezone` `{tz}` is not a known time zone (no `{zone}`)\nhint: see `timedatectl list-timezones`", h.addr);
    p.add(Symlink::new("/etc/localtime", zone).target_must_exist(unknown));
    p.add(File::new("/etc/timezone", format!("{tz}\n")));
    Ok(())
}
