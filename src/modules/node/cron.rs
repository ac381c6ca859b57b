//! `node_crontab`: lines in /etc/crontab's format (with the user field), written to
//! `/etc/cron.d/pigsty-node` (cron installed); none: the file removed. /etc/crontab
//! itself is left alone (`node_crontab_overwrite` has nothing to overwrite).
use super::*;

pub const NODE_CRON: &str = "/etc/cron.d/pigsty-node";

pub fn node_cron(h: &Host) -> Result<Option<String>> {
    let entries: Vec<String> = h
        .var("node_crontab")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    if entries.is_empty() {
        return Ok(None);
    }
    for (i, e) in entries.iter().enumerate() {
        let n = e.split_whitespace().count();
        let special = e.trim_start().starts_with('@');
        if (special && n < 3) || (!special && n < 7) || e.contains('\n') {
            bail!(
                "host `{}`: `node_crontab[{i}]` is `{e}`: expected /etc/crontab's format, `<min> <hour> <dom> <mon> <dow> <user> <command>`",
                h.addr
            );
        }
    }
    let mut text = String::from("# /etc/cron.d/pigsty-node: node_crontab, written by pigsty\nSHELL=/bin/bash\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    for e in &entries {
        text.push_str(e.trim());
        text.push('\n');
    }
    Ok(Some(text))
}

pub(super) fn crontab(h: &Host, p: &mut ModulePlan) -> Result<()> {
    match node_cron(h)? {
        Some(text) => {
            p.add(Package::new("cron (node_crontab)", ["cron"]));
            p.add(File::new(NODE_CRON, text).mode(0o644));
            p.add(Service::running("cron.service"));
        }
        None => {
            p.add(crate::resources::Absent::new(NODE_CRON));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(vars: &str) -> Inventory {
        Inventory::from_str(
            "t.yml",
            &format!("all:\n  children:\n    g: {{ hosts: {{ 10.0.0.1: {{ {vars} }} }} }}\n"),
            &[],
        )
        .unwrap()
    }

    #[test]
    fn entries_keep_their_user_and_a_missing_user_is_an_error() {
        let inv = host("node_crontab: ['00 01 * * * postgres /pg/bin/pg-backup full', '@reboot root /bin/true']");
        let t = node_cron(&inv.hosts[0]).unwrap().unwrap();
        assert!(
            t.ends_with("00 01 * * * postgres /pg/bin/pg-backup full\n@reboot root /bin/true\n"),
            "{t}"
        );
        let inv = host("node_crontab: ['00 01 * * * /bin/true']");
        let e = node_cron(&inv.hosts[0]).unwrap_err().to_string();
        assert!(
            e.contains(
                "`node_crontab[0]` is `00 01 * * * /bin/true`: expected /etc/crontab's format"
            ),
            "{e}"
        );
        assert!(node_cron(&host("").hosts[0]).unwrap().is_none());
    }
}
