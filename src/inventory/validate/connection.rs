//! Connections as Ansible users write them: `ansible_user` other than root needs
//! `ansible_become` (pigsty manages a node as root, through `sudo -n`), sudo to root
//! only, SSH only.
use super::*;

pub(super) fn connections(inv: &Inventory, out: &mut Vec<Diag>) {
    for h in &inv.hosts {
        let user = h.str("ansible_user").filter(|u| !u.is_empty());
        let become_ = h.bool("ansible_become").unwrap_or(false);
        if let Some(u) = user {
            if u != "root" && !become_ {
                out.push(at(inv, Severity::Error, h, "ansible_user", &[],
                    format!("pigsty manages a node as root: logging in as `{u}` needs `ansible_become: true` (sudo -n to root)"),
                    Some("set `ansible_become: true` and give the user password-less sudo, or log in as root")));
            }
        }
        if let Some(b) = h
            .str("ansible_become_user")
            .filter(|b| !b.is_empty() && *b != "root")
        {
            out.push(at(
                inv,
                Severity::Error,
                h,
                "ansible_become_user",
                &[],
                format!("pigsty becomes root, not `{b}`"),
                Some("remove `ansible_become_user` or set it to root"),
            ));
        }
        if let Some(c) = h
            .str("ansible_connection")
            .filter(|c| !c.is_empty() && *c != "ssh")
        {
            out.push(at(
                inv,
                Severity::Error,
                h,
                "ansible_connection",
                &[],
                format!("pigsty reaches nodes over ssh (the local node directly), not `{c}`"),
                Some("remove `ansible_connection`"),
            ));
        }
    }
}
