//! The admin user: its sudo rule and ssh key.
use super::*;

/// The sudoers rule for the admin user (`node_admin_sudo`: `nopass` or `all`).
pub fn sudoers(h: &Host) -> Result<String> {
    let user = h.var_str("node_admin_username");
    let rule = match h.var_str("node_admin_sudo") {
        "nopass" => "ALL=(ALL) NOPASSWD: ALL",
        "all" => "ALL=(ALL) ALL",
        other => bail!(
            "host `{}`: `node_admin_sudo` `{other}` is not one of nopass, all",
            h.addr
        ),
    };
    Ok(format!(
        "# written by pigsty (NODE): admin user `{user}`, node_admin_sudo = {}\n{user} {rule}\n",
        h.var_str("node_admin_sudo")
    ))
}

pub(super) fn admin(h: &Host, p: &mut ModulePlan) -> Result<()> {
    if !h.var_bool("node_admin_enabled") {
        return Ok(());
    }
    let user = h.var_str("node_admin_username");
    let valid = !user.is_empty()
        && user.len() <= 32
        && user
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        bail!("host `{}`: `node_admin_username` `{user}` is not a valid user name\nhint: lowercase letters, digits, `_` and `-`", h.addr);
    }
    let uid = h.var_int("node_admin_uid");
    if !(1..=60000).contains(&uid) {
        bail!(
            "host `{}`: `node_admin_uid` {uid} is out of range 1..60000",
            h.addr
        );
    }
    let uid = uid.to_string();
    p.add(
        Exec::new(
            &format!("group {user} (gid {uid})"),
            Cmd::new("groupadd").args(["--gid", &uid, user]),
        )
        .unless(Cmd::new("getent").args(["group", user]))
        .why("absent"),
    );
    p.add(
        Exec::new(
            &format!("user {user} (uid {uid})"),
            Cmd::new("useradd").args([
                "--uid",
                &uid,
                "--gid",
                user,
                "--create-home",
                "--shell",
                "/bin/bash",
                "--comment",
                "pigsty admin user",
                user,
            ]),
        )
        .unless(Cmd::new("getent").args(["passwd", user]))
        .why("absent"),
    );
    p.add(File::new(format!("/etc/sudoers.d/{user}"), sudoers(h)?).mode(0o440));
    p.add(SshKey::new(user, strings(h, "node_admin_pk_list")));
    Ok(())
}
