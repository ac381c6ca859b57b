//! `pigsty install`: on a fresh machine, configure (when no inventory exists) and
//! converge this host as the singleton meta node, then say how to connect.
use crate::cli::{ConfigureArgs, Global, InstallArgs, Target};
use crate::engine::Mode;
use crate::facts::Facts;
use anyhow::Result;

pub fn run(g: &Global, a: &InstallArgs) -> Result<u8> {
    let facts = Facts::gather();
    crate::runner::preflight(&facts, "install")?;
    if let Some(pkg) = &a.pkg {
        // The repository lands where the NODE module looks for it (repo_home/repo_name,
        // the defaults unless an existing inventory says otherwise); NODE then makes it
        // this machine's only apt source (node_repo_modules: local, node_repo_remove).
        let dir = std::path::Path::new("/www/pigsty");
        super::repo::unpack_bundle(pkg, dir)?;
    }
    let path = g.inventory_path();
    if !path.exists() || a.force {
        let c = ConfigureArgs {
            force: a.force,
            conf: None,
            generate: false,
            list: false,
            profile: "meta".into(),
            ip: None,
            output: None,
            tune: None,
        };
        super::configure::configure(&path, &c)?;
    } else {
        eprintln!("using the existing inventory `{}`", path.display());
    }
    let inv = super::deploy::load_inventory(g)?;
    let t = Target::default();
    let (code, _) = super::deploy::converge(g, &inv, &t, Mode::Apply, false)?;
    if code == 0 && !g.json {
        let me = crate::runner::local_host(&inv, &facts)?;
        print_next_steps(&inv, me, &path);
    }
    Ok(code)
}

fn print_next_steps(
    inv: &crate::inventory::Inventory,
    h: &crate::inventory::Host,
    path: &std::path::Path,
) {
    let ip = &h.addr;
    let admin = h.var_str("pg_admin_username");
    let db = h
        .get("pg_databases")
        .and_then(|v| v.as_array())
        .and_then(|a| a.first())
        .and_then(|d| d.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("postgres");
    let port = |k: &str| h.var_port(k);
    println!();
    println!("pigsty is installed on {ip}");
    if let Some(c) = &h.id.pg_cluster {
        println!("  postgres {c}:");
        println!("    primary (read-write)  postgres://{admin}@{ip}:5433/{db}");
        println!("    replica (read-only)   postgres://{admin}@{ip}:5434/{db}");
        println!(
            "    pgbouncer             postgres://{admin}@{ip}:{}/{db}",
            port("pgbouncer_port")
        );
        println!(
            "    direct                postgres://{admin}@{ip}:{}/{db}",
            port("pg_port")
        );
    }
    if h.id.infra_seq.is_some() {
        println!("  home page     http://{ip}:{}/", port("nginx_port"));
        println!("  prometheus    http://{ip}:{}/", port("prometheus_port"));
        println!("  alertmanager  http://{ip}:{}/", port("alertmanager_port"));
    }
    println!(
        "  passwords: `pg_admin_password` and the others are in `{}` (mode 0600, root only)",
        path.display()
    );
    let _ = inv;
}
