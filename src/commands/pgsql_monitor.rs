//! `pigsty pgsql monitor add|rm|list`: watch a Postgres that pigsty does not manage
//! (an RDS, a server of another team), Pigsty's `pgsql-monitor` / `pg_exporters`.
//!
//! On the infra node this runs on, each registration `NAME` is
//! - `/etc/pigsty/monitor/NAME.env` (0640 root:prometheus): the exporter's DSN, with the
//!   password, and its listen port (20001 and up unless `--port`);
//! - `pg-monitor@NAME.service`, Debian's `prometheus-postgres-exporter` as `prometheus`
//!   (template unit `/etc/systemd/system/pg-monitor@.service`);
//! - `/etc/prometheus/targets/pgrds/NAME.yml`: job `pgrds`, labels `cls`/`ins` = NAME
//!   and `ip` = the remote host. INFRA never prunes these (only `<ip>.yml` files).
//!
//! The password comes from the URL, else `$PGPASSWORD`, else the inventory's
//! `pg_monitor_password` (for a remote that has Pigsty's `dbuser_monitor`); it is never
//! printed. `add` waits for the exporter to report `pg_up 1` and undoes everything
//! when it does not, saying why.
use crate::cli::{Global, MonitorCmd};
use crate::facts::Facts;
use crate::modules::pgsql::exporter::pct;
use crate::sys::Cmd;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const DIR: &str = "/etc/pigsty/monitor";
pub const UNIT_FILE: &str = "/etc/systemd/system/pg-monitor@.service";
pub use crate::modules::infra::prom::REMOTE_PG_JOB as JOB;
const EXPORTER: &str = "/usr/bin/prometheus-postgres-exporter";
const FIRST_PORT: u16 = 20001;

/// A `postgres://` URL taken apart (the password kept apart from the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub db: String,
    pub params: Vec<(String, String)>,
}

impl PgUrl {
    pub fn parse(url: &str) -> Result<PgUrl> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .with_context(|| "the URL must start with `postgres://` (postgres://[USER[:PASSWORD]@]HOST[:PORT][/DB][?PARAMS])")?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (auth, hostpart) = match main.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, main),
        };
        let (user, password) = match auth {
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(a.to_string()), None),
            },
            None => (None, None),
        };
        let (hostport, db) = hostpart.split_once('/').unwrap_or((hostpart, ""));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .with_context(|| format!("port `{p}` in the URL is not a port number"))?,
            ),
            None => (hostport, 5432),
        };
        if host.is_empty() || host.starts_with('/') {
            bail!("the URL names no host: a remote Postgres is reached over TCP (postgres://USER@HOST:PORT/DB)");
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c))
        {
            bail!("host `{host}` in the URL is not a host name or address");
        }
        let params = query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        Ok(PgUrl {
            user: user.filter(|u| !u.is_empty()),
            password,
            host: host.to_string(),
            port,
            db: if db.is_empty() {
                "postgres".into()
            } else {
                db.to_string()
            },
            params,
        })
    }

    /// The URL without the password (what `list` shows).
    pub fn public(&self, user: &str) -> String {
        format!("postgres://{user}@{}:{}/{}", self.host, self.port, self.db)
    }

    /// The exporter's DSN: `sslmode=disable` unless the URL says otherwise (lib/pq, which
    /// the exporter uses, would require TLS by default and knows no `prefer`).
    pub fn dsn(&self, user: &str, password_pct: &str) -> String {
        let mut params = self.params.clone();
        if !params.iter().any(|(k, _)| k == "sslmode") {
            params.push(("sslmode".into(), "disable".into()));
        }
        let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "postgresql://{}:{password_pct}@{}:{}/{}?{}",
            pct(user),
            self.host,
            self.port,
            self.db,
            q.join("&")
        )
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!("`{name}` is not a valid name: lower-case letters, digits, `-` and `_`, starting with a letter (it becomes the `cls` label and a unit name)");
    }
    Ok(())
}

fn env_path(name: &str) -> PathBuf {
    Path::new(DIR).join(format!("{name}.env"))
}

fn unit(name: &str) -> String {
    format!("pg-monitor@{name}.service")
}

/// One registration as read back from its env file.
struct Registered {
    name: String,
    port: u16,
    url: String,
}

fn registered() -> Vec<Registered> {
    let mut out = vec![];
    let Ok(rd) = std::fs::read_dir(DIR) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Some(name) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".env"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim_matches('\'').to_string())
                .unwrap_or_default()
        };
        let port = field("ARGS")
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_matches('\'').parse().ok())
            .unwrap_or(0);
        out.push(Registered {
            name: name.to_string(),
            port,
            url: field("PIGSTY_MONITOR_URL"),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The infra host of the inventory that is this machine: its Prometheus scrapes the
/// exporter, so the exporter runs here.
fn this_infra(inv: &crate::inventory::Inventory) -> Result<(String, String)> {
    let facts = Facts::gather();
    let infra = inv.infra_hosts();
    match infra.iter().find(|h| crate::controller::is_local(&h.addr, &facts)) {
        Some(h) => Ok((
            h.addr.clone(),
            h.var_str("prometheus_sd_dir").to_string(),
        )),
        None => bail!(
            "this machine is not an infra node of the inventory ({}): run `pigsty pgsql monitor` there, where Prometheus scrapes the exporter; nothing was changed",
            if infra.is_empty() { "it has none".to_string() } else { infra.iter().map(|h| h.addr.as_str()).collect::<Vec<_>>().join(", ") }
        ),
    }
}

pub fn run(g: &Global, cmd: &MonitorCmd) -> Result<u8> {
    match cmd {
        MonitorCmd::Add { name, url, port } => add(g, name, url, *port),
        MonitorCmd::Rm { name } => rm(g, name),
        MonitorCmd::List => list(),
    }
}

fn target_path(sd: &str, name: &str) -> PathBuf {
    Path::new(sd).join(JOB).join(format!("{name}.yml"))
}

pub fn render_target(name: &str, addr: &str, remote_host: &str) -> String {
    format!(
        "# job `{JOB}` target: remote postgres `{name}` (pigsty pgsql monitor add; remove with pigsty pgsql monitor rm)\n- targets: [ \"{addr}\" ]\n  labels: {{ cls: \"{name}\", ins: \"{name}\", ip: \"{remote_host}\" }}\n"
    )
}

pub fn render_unit() -> String {
    format!(
        "# pg-monitor@NAME: postgres exporter for a remote Postgres registered with `pigsty pgsql monitor add`\n\
[Unit]\n\
Description=postgres exporter for remote postgres %i (pigsty pgsql monitor)\n\
After=network-online.target\n\
Wants=network-online.target\n\
\n\
[Service]\n\
User=prometheus\n\
EnvironmentFile={DIR}/%i.env\n\
ExecStart={EXPORTER} $ARGS\n\
Restart=on-failure\n\
RestartSec=5\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n"
    )
}

fn systemctl(args: &[&str]) -> Result<()> {
    Cmd::new("systemctl")
        .args(args.iter().copied())
        .timeout(Duration::from_secs(60))
        .ok()?;
    Ok(())
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// `pg_up` of the exporter on `port` (None: no answer).
fn pg_up(port: u16) -> Option<f64> {
    let r = crate::sys::http::get(
        &format!("127.0.0.1:{port}"),
        "/metrics",
        Duration::from_secs(10),
    )
    .ok()
    .filter(|r| r.status == 200)?;
    r.body
        .lines()
        .find_map(|l| l.strip_prefix("pg_up ").and_then(|v| v.trim().parse().ok()))
}

fn add(g: &Global, name: &str, url: &str, port: Option<u16>) -> Result<u8> {
    check_name(name)?;
    let u = PgUrl::parse(url)?;
    let inv = super::deploy::load_inventory(g)?;
    let (infra_ip, sd) = this_infra(&inv)?;
    let infra = inv.host(&infra_ip).context("infra host")?;
    if registered().iter().any(|r| r.name == name) {
        bail!("remote postgres `{name}` is registered already; nothing was changed\nhint: `pigsty pgsql monitor rm {name}` first to change it");
    }
    if inv
        .hosts
        .iter()
        .any(|h| h.id.pg_cluster.as_deref() == Some(name))
    {
        bail!("`{name}` is a pgsql cluster of the inventory, which pigsty monitors already; pick another name; nothing was changed");
    }
    let user = u
        .user
        .clone()
        .or_else(|| Some(infra.var_str("pg_monitor_username").to_string()))
        .unwrap_or_default();
    let password_pct = match (&u.password, std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty())) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => pct(&p),
        (None, None) => pct(infra.str("pg_monitor_password").with_context(|| {
            "no password: put it in the URL, in $PGPASSWORD, or set `pg_monitor_password` in the inventory; nothing was changed"
        })?),
    };
    let taken: Vec<u16> = registered().iter().map(|r| r.port).collect();
    let port = match port {
        Some(p) if taken.contains(&p) || listening(p) => {
            bail!("port {p} is in use on this node; nothing was changed")
        }
        Some(p) => p,
        None => (FIRST_PORT..u16::MAX)
            .find(|p| !taken.contains(p) && !listening(*p))
            .context("no free port from 20001")?,
    };
    if !Path::new(EXPORTER).exists() {
        eprintln!("installing prometheus-postgres-exporter");
        Cmd::new("apt-get")
            .args(["install", "-y", "-q", "prometheus-postgres-exporter"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .timeout(Duration::from_secs(900))
            .ok()
            .context("installing prometheus-postgres-exporter")?;
    }
    let env = format!(
        "# remote postgres `{name}`: written by `pigsty pgsql monitor add` (secret, 0640)\nPIGSTY_MONITOR_URL='{}'\nDATA_SOURCE_NAME='{}'\nARGS='--web.listen-address=:{port}'\n",
        u.public(&user),
        u.dsn(&user, &password_pct).replace('\'', "%27")
    );
    std::fs::create_dir_all(DIR)?;
    let undo = || {
        let _ = systemctl(&["disable", "--now", &unit(name)]);
        let _ = std::fs::remove_file(env_path(name));
    };
    crate::sys::fs::write_atomic(
        &env_path(name),
        env.as_bytes(),
        0o640,
        Some("root"),
        Some("prometheus"),
    )?;
    let unit_text = render_unit();
    if std::fs::read_to_string(UNIT_FILE).ok().as_deref() != Some(unit_text.as_str()) {
        crate::sys::fs::write_atomic(
            Path::new(UNIT_FILE),
            unit_text.as_bytes(),
            0o644,
            None,
            None,
        )?;
    }
    let started =
        systemctl(&["daemon-reload"]).and_then(|_| systemctl(&["enable", "--now", &unit(name)]));
    if let Err(e) = started {
        undo();
        bail!("starting {}: {e:#}; nothing is left registered", unit(name));
    }
    eprintln!(
        "{}: exporter on :{port}, waiting for it to reach {}",
        name,
        u.public(&user)
    );
    let t0 = Instant::now();
    let mut last = None;
    while t0.elapsed() < Duration::from_secs(20) {
        last = pg_up(port);
        if last == Some(1.0) {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    if last != Some(1.0) {
        let why = Cmd::new("journalctl")
            .args(["-u", &unit(name), "-n", "20", "--no-pager", "-o", "cat"])
            .timeout(Duration::from_secs(10))
            .ok()
            .map(|o| o.stdout)
            .unwrap_or_default();
        let why: Vec<&str> = why
            .lines()
            .filter(|l| l.to_lowercase().contains("err"))
            .collect();
        let why = why
            .last()
            .map(|l| l.replace(&password_pct, "***"))
            .unwrap_or_default();
        undo();
        bail!(
            "the exporter could not reach {} (pg_up {}){}; nothing is left registered\nhint: the remote must let `{user}` in from {infra_ip} (pg_hba) with that password; TLS: add `?sslmode=require` to the URL",
            u.public(&user),
            last.map(|v| v.to_string()).unwrap_or_else(|| "not reported".into()),
            if why.is_empty() { String::new() } else { format!(": {why}") }
        );
    }
    let tp = target_path(&sd, name);
    std::fs::create_dir_all(tp.parent().context("target dir")?)?;
    crate::sys::fs::write_atomic(
        &tp,
        render_target(name, &format!("{infra_ip}:{port}"), &u.host).as_bytes(),
        0o644,
        None,
        None,
    )?;
    println!(
        "{name}: {} watched by {} on {infra_ip}:{port}, Prometheus job `{JOB}` (target {})",
        u.public(&user),
        unit(name),
        tp.display()
    );
    Ok(0)
}

fn rm(g: &Global, name: &str) -> Result<u8> {
    check_name(name)?;
    let inv = super::deploy::load_inventory(g)?;
    let (_, sd) = this_infra(&inv)?;
    if !registered().iter().any(|r| r.name == name) {
        let names: Vec<String> = registered().into_iter().map(|r| r.name).collect();
        bail!(
            "no remote postgres `{name}` is registered here ({}); nothing was changed",
            if names.is_empty() {
                "none is".to_string()
            } else {
                format!("registered: {}", names.join(", "))
            }
        );
    }
    let tp = target_path(&sd, name);
    if tp.exists() {
        std::fs::remove_file(&tp).with_context(|| format!("removing {}", tp.display()))?;
    }
    systemctl(&["disable", "--now", &unit(name)])?;
    std::fs::remove_file(env_path(name))?;
    println!("{name}: no longer watched (exporter stopped, target removed)");
    Ok(0)
}

fn list() -> Result<u8> {
    let regs = registered();
    if regs.is_empty() {
        println!("no remote postgres registered (pigsty pgsql monitor add NAME URL)");
    }
    for r in regs {
        let active = Cmd::new("systemctl")
            .args(["is-active", "--quiet", &unit(&r.name)])
            .timeout(Duration::from_secs(10))
            .succeeds();
        println!(
            "{:<20} :{:<6} {:<8} {}",
            r.name,
            r.port,
            if active { "active" } else { "INACTIVE" },
            r.url
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_taken_apart_and_the_password_stays_out_of_the_public_form() {
        let u =
            PgUrl::parse("postgres://mon:s3%40cret@10.0.0.5:6543/app?connect_timeout=5").unwrap();
        assert_eq!(u.user.as_deref(), Some("mon"));
        assert_eq!(u.password.as_deref(), Some("s3%40cret"));
        assert_eq!(
            (u.host.as_str(), u.port, u.db.as_str()),
            ("10.0.0.5", 6543, "app")
        );
        assert_eq!(u.public("mon"), "postgres://mon@10.0.0.5:6543/app");
        assert_eq!(
            u.dsn("mon", "s3%40cret"),
            "postgresql://mon:s3%40cret@10.0.0.5:6543/app?connect_timeout=5&sslmode=disable"
        );
        let d = PgUrl::parse("postgresql://db.example.com").unwrap();
        assert_eq!((d.user, d.port, d.db.as_str()), (None, 5432, "postgres"));
        assert!(PgUrl::parse("postgres://x@h:5432/d?sslmode=require")
            .unwrap()
            .dsn("x", "p")
            .ends_with("?sslmode=require"));
    }

    #[test]
    fn bad_urls_and_names_are_refused_with_the_reason() {
        for (url, want) in [
            ("mysql://h/db", "must start with `postgres://`"),
            ("postgres:///db", "names no host"),
            ("postgres://u@h:99999/db", "not a port number"),
            ("postgres://u@h;rm -rf/db", "not a host name"),
        ] {
            let e = PgUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
        }
        assert!(check_name("pg-rds_1").is_ok());
        for n in ["", "Pg", "1pg", "pg rds", "pg/x"] {
            assert!(check_name(n).is_err(), "{n}");
        }
    }

    #[test]
    fn the_target_carries_pigsty_labels_in_job_pgrds() {
        let t = render_target("pg-rds", "10.10.10.10:20001", "10.0.0.5");
        let y: serde_yaml::Value = serde_yaml::from_str(&t).unwrap();
        assert_eq!(y[0]["targets"][0].as_str(), Some("10.10.10.10:20001"));
        assert_eq!(y[0]["labels"]["cls"].as_str(), Some("pg-rds"));
        assert_eq!(y[0]["labels"]["ip"].as_str(), Some("10.0.0.5"));
        assert!(render_unit().contains("EnvironmentFile=/etc/pigsty/monitor/%i.env"));
    }
}
