//! Identity: the hostname and `/etc/hosts`.
use super::*;

pub(super) fn valid_hostname(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The name to give this host, when NODE renames it.
pub(super) fn new_hostname(h: &Host) -> Option<&str> {
    h.id.nodename
        .as_deref()
        .filter(|_| h.var_bool("nodename_overwrite"))
}

/// Lines of our block in `/etc/hosts`: Pigsty's static records, then this host's
/// own name when NODE renames it (sudo and many tools resolve their own hostname).
pub fn etc_hosts_lines(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = vec![];
    let mut push = |l: String| {
        let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
        if !l.is_empty() && !v.contains(&l) {
            v.push(l);
        }
    };
    for l in strings(h, "node_default_etc_hosts")
        .into_iter()
        .chain(strings(h, "node_etc_hosts"))
    {
        push(l);
    }
    if let Some(n) = new_hostname(h) {
        if h.addr.parse::<std::net::IpAddr>().is_ok() {
            push(format!("{} {n}", h.addr));
        }
    }
    v
}

pub(super) fn identity(h: &Host, p: &mut ModulePlan) -> Result<()> {
    if let Some(n) = new_hostname(h) {
        if !valid_hostname(n) {
            bail!("host `{}`: `nodename` `{n}` is not a valid host name\nhint: letters, digits and `-`, in dot-separated labels", h.addr);
        }
        p.add(Hostname::new(n));
    }
    if h.var_bool("node_write_etc_hosts") {
        p.add(BlockInFile::new("/etc/hosts", "pigsty", etc_hosts_lines(h)));
    }
    Ok(())
}
