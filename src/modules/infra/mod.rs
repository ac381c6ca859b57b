//! INFRA module: the monitoring and portal stack on hosts of group `infra` (`infra_seq`).
//!
//! | piece | Debian package / unit | config we write | port (parameter) |
//! | --- | --- | --- | --- |
//! | Prometheus | `prometheus` | `/etc/default/prometheus`, `/etc/prometheus/prometheus.yml`, `rules/*.yml`, `targets/<job>/<ip>.yml` | 9090 (`prometheus_port`) |
//! | Alertmanager | `prometheus-alertmanager` | `/etc/default/prometheus-alertmanager`, `/etc/prometheus/alertmanager.yml` | 9059 (`alertmanager_port`) |
//! | Pushgateway | `prometheus-pushgateway` | `/etc/default/prometheus-pushgateway` | 9091 (`pushgateway_port`) |
//! | Blackbox exporter | `prometheus-blackbox-exporter` | `/etc/default/...`, `/etc/prometheus/blackbox.yml` | 9115 (`blackbox_port`) |
//! | nginx + exporter | `nginx`, `prometheus-nginx-exporter` | `/etc/nginx/conf.d/pigsty.conf`, `<nginx_home>/index.html` | 80 (`nginx_port`), 9113 |
//! | Grafana, Loki | upstream only (apt.grafana.com) | datasources, dashboards provider, admin credentials | 3000, 3100 |
//!
//! We keep Debian's units (they read `ARGS` from `/etc/default/<unit>`) and their
//! hardening. Every config is validated (`promtool`, `amtool`, `nginx -t`, blackbox
//! `--config.check`) before anything takes it, so a bad file fails the run instead of
//! being ignored by a daemon. The Prometheus-family services converge on state
//! ([`Fresh`]): restart when an `/etc/default` file is newer than the running process,
//! reload (SIGHUP, the units' `ExecReload`) when a config is newer than the daemon's
//! last successful reload; so a run interrupted between writing and restarting still
//! converges on the next run; nginx likewise reloads when its config is newer than its
//! newest worker process.
//!
//! Dashboards: the Grafana dashboards embedded from `assets/infra/dashboards/*.json` are
//! written to [`DASHBOARD_DIR`] on every infra node (whether or not Grafana is there, so
//! they can be imported by hand); where Grafana is installed a file provider
//! (`/etc/grafana/provisioning/dashboards/pigsty.yml`) loads them into folder "Pigsty".
//! Their panels query the provisioned Prometheus datasource ([`DATASOURCE_UID`]).
//!
//! Scrape targets: every module's `targets()` (collected by `modules::scrape_targets`)
//! lands in `<prometheus_sd_dir>/<job>/<ip>.yml`, one file per (job, host), plus `ping`
//! (blackbox ICMP) for every host with a `node` target. See [`targets`] and `prom.rs`.
use super::{Ctx, ScrapeTarget};
use crate::engine::{Handler, ModulePlan};
use crate::inventory::{Host, Inventory};
use crate::resources::ca::IssuedCert;
use crate::resources::{
    Absent, Debconf, Dir, DirFiles, File, FileCaps, Fresh, HttpCheck, OnlyIf, Package, Service,
    UpstreamPackage, Wait,
};
use crate::sys::Cmd;
use crate::template;
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

mod home;
pub mod prom;

const GRAFANA_HINT: &str = "hint: add Grafana's repository (`deb https://apt.grafana.com stable main`, key https://apt.grafana.com/gpg.key) and run again";
const GRAFANA_BIN: &str = "/usr/sbin/grafana-server";
const LOKI_BIN: &str = "/usr/bin/loki";
const BLACKBOX_BIN: &str = "/usr/bin/prometheus-blackbox-exporter";
/// Where the Grafana dashboards (`<uid>.json`) are written; Grafana's file provider reads it.
pub const DASHBOARD_DIR: &str = "/etc/pigsty/dashboards";
const DASHBOARD_PROVIDER: &str = "/etc/grafana/provisioning/dashboards/pigsty.yml";
/// The uid of the Prometheus datasource we provision (`grafana-datasources.yml.j2`);
/// every dashboard panel names it.
pub const DATASOURCE_UID: &str = "ds-prometheus";

/// The embedded Grafana dashboards: file name (`<uid>.json`) -> JSON text.
pub fn dashboards() -> BTreeMap<String, &'static str> {
    crate::assets::asset_dir("infra/dashboards")
        .into_iter()
        .filter(|(n, _)| is_dashboard_file(n))
        .collect()
}

/// Dashboard files pigsty owns in [`DASHBOARD_DIR`] (a stale one of ours is removed).
pub fn is_dashboard_file(name: &str) -> bool {
    name.starts_with("pigsty-") && name.ends_with(".json")
}

/// Typed reads of a host's merged parameters (defaults from `assets/params.yml`), with errors that name the host and key.
pub(crate) struct P<'a> {
    pub host: &'a str,
    pub v: &'a Map<String, Value>,
}

impl P<'_> {
    fn bad(&self, k: &str, want: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "host `{}`: `{k}` must be {want}, got `{}`",
            self.host,
            self.v
                .get(k)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "nothing".into())
        )
    }
    pub fn str(&self, k: &str) -> Result<String> {
        match self.v.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(self.bad(k, "a string")),
        }
    }
    pub fn bool(&self, k: &str) -> Result<bool> {
        match self.v.get(k) {
            Some(Value::Bool(b)) => Ok(*b),
            None => Ok(false),
            _ => Err(self.bad(k, "true or false")),
        }
    }
    pub fn port(&self, k: &str) -> Result<u16> {
        let n = match self.v.get(k) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        n.filter(|p| (1..=65535).contains(p))
            .map(|p| p as u16)
            .ok_or_else(|| self.bad(k, "a port number (1-65535)"))
    }
    /// A bool, else the schema default (false without one).
    pub fn var_bool(&self, k: &str) -> bool {
        crate::inventory::Vars(self.v).b(k)
    }
    /// A port, else the schema default (0 without one).
    pub fn var_port(&self, k: &str) -> u16 {
        crate::inventory::Vars(self.v).port(k)
    }
    /// Extra command-line options (`prometheus_options`): words that go into a
    /// systemd `EnvironmentFile` `ARGS="..."`, so no quotes, `$`, `\`, or newlines.
    pub fn options(&self, k: &str) -> Result<Vec<String>> {
        let s = match self.v.get(k) {
            None | Some(Value::Null) => return Ok(vec![]),
            Some(Value::String(s)) => s.clone(),
            _ => return Err(self.bad(k, "a string of command-line options")),
        };
        if let Some(c) = s
            .chars()
            .find(|c| matches!(c, '"' | '\'' | '$' | '\\' | '`' | '\n' | '\r'))
        {
            bail!(
                "host `{}`: `{k}` contains `{c}`; options are plain words like `--storage.tsdb.retention.time=15d`\nhint: drop the quoting, values cannot contain spaces",
                self.host
            );
        }
        Ok(s.split_whitespace().map(str::to_string).collect())
    }
}

fn seq(host: &Host) -> u32 {
    host.id.infra_seq.unwrap_or(0)
}

/// `infra` job targets of one infra host: prometheus, alertmanager, pushgateway,
/// blackbox exporter and nginx exporter (those enabled), labels cls=`infra`,
/// ins=`infra-<infra_seq>`, ip. Grafana and Loki are not scraped: they come from an
/// upstream repository and may be absent, and a target that is always down is noise.
pub fn targets(_inv: &Inventory, host: &Host) -> Vec<ScrapeTarget> {
    let p = P {
        host: &host.addr,
        v: &host.vars,
    };
    let ins = format!("infra-{}", seq(host));
    let ip = host.addr.as_str();
    let mut out = vec![];
    let mut add = |enabled: &str, port: &str| {
        if p.bool(enabled).unwrap_or(false) {
            if let Ok(port) = p.port(port) {
                out.push(ScrapeTarget::new(
                    "infra",
                    format!("{ip}:{port}"),
                    "infra",
                    &ins,
                    ip,
                ));
            }
        }
    };
    add("prometheus_enabled", "prometheus_port");
    add("alertmanager_enabled", "alertmanager_port");
    add("pushgateway_enabled", "pushgateway_port");
    add("blackbox_enabled", "blackbox_port");
    if p.var_bool("nginx_enabled") {
        add("nginx_exporter_enabled", "nginx_exporter_port");
    }
    out
}

/// The `ARGS` line of a Debian `/etc/default/<unit>` file.
fn etc_default(unit: &str, args: &[String]) -> Result<String> {
    template::render(
        "infra/etc-default.j2",
        &json!({ "unit": unit, "args": args.join(" ") }),
    )
}

fn http(label: &str, port: u16, path: &str) -> HttpCheck {
    HttpCheck::new(
        label,
        &format!("127.0.0.1:{port}"),
        path,
        Duration::from_secs(60),
    )
}

/// Fail (before any reload) when a config does not validate; cheap, so it runs every time.
fn validate(label: &str, cmd: Cmd) -> Wait {
    Wait::new(label, cmd, Duration::from_secs(0))
}

/// What every INFRA step reads: the context, the host's variables and which services run.
struct Infra<'a> {
    ctx: &'a Ctx<'a>,
    vars: Value,
    map: Map<String, Value>,
    prom_on: bool,
    am_on: bool,
    pgw_on: bool,
    bb_on: bool,
    nginx_on: bool,
    nginx_exp_on: bool,
    grafana_on: bool,
    loki_on: bool,
}

impl<'a> Infra<'a> {
    fn new(ctx: &'a Ctx<'a>) -> Result<Infra<'a>> {
        let vars = ctx.vars();
        let map = vars.as_object().cloned().unwrap_or_default();
        let p = P {
            host: &ctx.host.addr,
            v: &map,
        };
        let on = |k: &str| p.bool(k);
        let nginx_on = on("nginx_enabled")?;
        Ok(Infra {
            prom_on: on("prometheus_enabled")?,
            am_on: on("alertmanager_enabled")?,
            pgw_on: on("pushgateway_enabled")?,
            bb_on: on("blackbox_enabled")?,
            nginx_on,
            nginx_exp_on: nginx_on && on("nginx_exporter_enabled")?,
            grafana_on: on("grafana_enabled")?,
            loki_on: on("loki_enabled")?,
            ctx,
            vars,
            map,
        })
    }
    fn p(&self) -> P<'_> {
        P {
            host: &self.ctx.host.addr,
            v: &self.map,
        }
    }
}

pub fn plan(ctx: &Ctx) -> Result<ModulePlan> {
    let host = ctx.host;
    if host.id.infra_seq.is_none() {
        bail!("host `{}` has no `infra_seq`\nhint: INFRA runs on hosts of group `infra` with `infra_seq: N`", host.addr);
    }
    let s = Infra::new(ctx)?;
    let mut plan = ModulePlan::new("infra");
    if host.var_bool("ca_create") {
        crate::modules::pki::ca_steps(
            &mut plan,
            host.var_str("ca_cn"),
            crate::modules::pki::days(host.var_str("cert_validity")),
        );
    }
    packages(&s, &mut plan)?;
    type Part = fn(&Infra, &mut ModulePlan) -> Result<()>;
    let services: [(bool, Part); 5] = [
        (s.prom_on, prometheus),
        (s.am_on, alertmanager),
        (s.pgw_on, pushgateway),
        (s.bb_on, blackbox),
        (s.nginx_on, nginx),
    ];
    for (on, step) in services {
        if on {
            step(&s, &mut plan)?;
        }
    }
    dashboard_files(&mut plan);
    grafana_loki(&s, &mut plan)?;
    for d in downloads(ctx.inv, host, ctx.facts) {
        match d {
            Ok(d) => plan.add(d),
            Err(why) => plan.add(crate::resources::Note::skip("download", "garage", &why)),
        };
    }
    // restarts/reloads now, then everything must answer
    plan.flush();
    ready(&s, &mut plan)?;
    Ok(plan)
}

/// The single-file programs the inventory's modules install from this infra node's
/// repository (Garage, for MINIO hosts with `minio_engine: garage`), fetched there as
/// the offline manifest says (`resources::repo_download`); Err(why not) when the
/// manifest of this release has no entry.
pub fn downloads(
    inv: &Inventory,
    h: &Host,
    facts: &crate::facts::Facts,
) -> Vec<Result<crate::resources::repo_download::RepoDownload, String>> {
    let garage = inv.hosts.iter().any(|x| {
        x.modules().contains(&crate::inventory::Module::Minio)
            && x.var_str("minio_engine") == "garage"
    });
    if !h.var_bool("repo_enabled") || !garage {
        return vec![];
    }
    let dir = std::path::Path::new(h.var_str("repo_home")).join(h.var_str("repo_name"));
    let name = crate::repo::manifest_name(facts);
    let entry = crate::assets::REPO_MIRROR
        .get_file(&name)
        .and_then(|f| f.contents_utf8())
        .and_then(|m| {
            crate::resources::repo_download::RepoDownload::from_manifest(m, "garage", dir)
        });
    vec![entry.ok_or_else(|| {
        format!("repo-mirror/{name} names no garage download for this release; MINIO needs one in the repository: `pigsty repo add FILE`")
    })]
}

/// The exporter's flags by its version: 0.x (bookworm's 0.11) takes `-flag` and
/// retries nginx at start (`-nginx.retries`); 1.x (trixie's 1.4) takes `--flag` and has
/// no retry flag (it no longer exits when nginx is not up yet). Unknown: the 1.x form.
fn nginx_exporter_args(version: Option<&str>, nport: u16, eport: u16) -> Vec<String> {
    let old = version
        .and_then(crate::facts::major_minor)
        .is_some_and(|(major, _)| major == 0);
    let dash = if old { "-" } else { "--" };
    let mut args = vec![
        format!("{dash}nginx.scrape-uri=http://127.0.0.1:{nport}/nginx_status"),
        format!("{dash}web.listen-address=:{eport}"),
    ];
    if old {
        args.push("-nginx.retries=10".to_string());
    }
    args
}

/// Debian's packages of the enabled services; Grafana and Loki from their upstream.
fn packages(s: &Infra, plan: &mut ModulePlan) -> Result<()> {
    let p = s.p();
    let mut pkgs = vec![];
    for (enabled, name) in [
        (s.prom_on, "prometheus"),
        (s.am_on, "prometheus-alertmanager"),
        (s.pgw_on, "prometheus-pushgateway"),
        (s.bb_on, "prometheus-blackbox-exporter"),
        (s.bb_on, "libcap2-bin"), // setcap, for the blackbox exporter's ICMP probes
        (s.nginx_on, "nginx"),
        (s.nginx_exp_on, "prometheus-nginx-exporter"),
    ] {
        if enabled {
            pkgs.push(name);
        }
    }
    if s.nginx_exp_on {
        // Written before the package installs (dpkg keeps it, `--force-confold`): with
        // Debian's empty ARGS the exporter polls :8080 and dies at install time.
        let nport = p.port("nginx_port")?;
        let eport = p.port("nginx_exporter_port")?;
        let args = nginx_exporter_args(
            s.ctx.facts.packages.version("prometheus-nginx-exporter"),
            nport,
            eport,
        );
        plan.add(File::new(
            "/etc/default/prometheus-nginx-exporter",
            etc_default("prometheus-nginx-exporter", &args)?,
        ));
    }
    if !pkgs.is_empty() {
        plan.add(Package::new("infra", pkgs));
    }
    if s.grafana_on {
        plan.add(UpstreamPackage::new(
            "infra",
            "grafana",
            "apt.grafana.com",
            GRAFANA_HINT,
        ));
    }
    if s.loki_on {
        plan.add(UpstreamPackage::new(
            "infra",
            "loki",
            "apt.grafana.com",
            &format!("Debian's `loki` is an unrelated program; {GRAFANA_HINT}"),
        ));
    }
    Ok(())
}

/// Prometheus: its options, config, rules and target files; validated, running, reloaded on change.
fn prometheus(s: &Infra, plan: &mut ModulePlan) -> Result<()> {
    let (p, host, ctx, vars, map) = (s.p(), s.ctx.host, s.ctx, &s.vars, &s.map);
    let sd_dir = p.str("prometheus_sd_dir")?;
    let port = p.port("prometheus_port")?;
    let data = p.str("prometheus_data")?;
    let mut args = vec![
        "--config.file=/etc/prometheus/prometheus.yml".to_string(),
        format!("--storage.tsdb.path={data}"),
        format!("--web.listen-address=:{port}"),
    ];
    args.extend(p.options("prometheus_options")?);
    plan.add(
        Dir::new(&data)
            .owner("prometheus", "prometheus")
            .mode(0o750),
    );
    plan.add(File::new(
        "/etc/default/prometheus",
        etc_default("prometheus", &args)?,
    ));
    let ctx_json = prom::config_context(ctx.inv, host, vars)?;
    let conf = template::render("infra/prometheus.yml.j2", &ctx_json)?;
    plan.add(File::new("/etc/prometheus/prometheus.yml", conf));
    plan.add(
        DirFiles::new("/etc/prometheus/rules", prom::rule_files(ctx.inv))
            .prune(prom::is_our_rule_file),
    );
    let files = prom::target_files(ctx.inv, map);
    for job in prom::jobs(ctx.inv, map) {
        let set = files.get(&job.name).cloned().unwrap_or_default();
        plan.add(DirFiles::new(format!("{sd_dir}/{}", job.name), set).prune(prom::is_target_file));
    }
    plan.add(validate(
        "prometheus config and rules are valid",
        Cmd::new("promtool").args(["check", "config", "/etc/prometheus/prometheus.yml"]),
    ));
    debian_prom_unit(
        plan,
        "prometheus",
        Some((
            &["/etc/prometheus/prometheus.yml", "/etc/prometheus/rules"],
            port,
            "prometheus_config_last_reload_success_timestamp_seconds",
        )),
    );
    Ok(())
}

/// A unit of Debian's Prometheus family, `PKG.service`: running, restarted when its
/// arguments in `/etc/default/PKG` change, and with `reload = (configs, port, metric)`
/// reloaded when its config files change (done when `metric` on `127.0.0.1:port/metrics`
/// says the reload succeeded after the change).
fn debian_prom_unit(plan: &mut ModulePlan, pkg: &str, reload: Option<(&[&str], u16, &str)>) {
    let unit = format!("{pkg}.service");
    plan.add(Service::running(&unit));
    plan.add(Fresh::restart(&unit, &[&format!("/etc/default/{pkg}")]));
    if let Some((configs, port, metric)) = reload {
        plan.add(Fresh::reload(
            &unit,
            configs,
            &format!("127.0.0.1:{port}"),
            "/metrics",
            metric,
        ));
    }
}

/// Alertmanager (clustered across infra nodes).
fn alertmanager(s: &Infra, plan: &mut ModulePlan) -> Result<()> {
    let (p, host, ctx, vars) = (s.p(), s.ctx.host, s.ctx, &s.vars);
    let port = p.port("alertmanager_port")?;
    let mut args = vec![
        "--config.file=/etc/prometheus/alertmanager.yml".to_string(),
        "--storage.path=/var/lib/prometheus/alertmanager".to_string(),
        format!("--web.listen-address=:{port}"),
    ];
    args.extend(prom::alertmanager_cluster_args(ctx.inv, host));
    args.extend(p.options("alertmanager_options")?);
    plan.add(File::new(
        "/etc/default/prometheus-alertmanager",
        etc_default("prometheus-alertmanager", &args)?,
    ));
    plan.add(File::new(
        "/etc/prometheus/alertmanager.yml",
        template::render("infra/alertmanager.yml.j2", vars)?,
    ));
    plan.add(validate(
        "alertmanager config is valid",
        Cmd::new("amtool").args(["check-config", "/etc/prometheus/alertmanager.yml"]),
    ));
    debian_prom_unit(
        plan,
        "prometheus-alertmanager",
        Some((
            &["/etc/prometheus/alertmanager.yml"],
            port,
            "alertmanager_config_last_reload_success_timestamp_seconds",
        )),
    );
    Ok(())
}

/// Pushgateway.
fn pushgateway(s: &Infra, plan: &mut ModulePlan) -> Result<()> {
    let p = s.p();
    let port = p.port("pushgateway_port")?;
    let mut args = vec![
        format!("--web.listen-address=:{port}"),
        "--persistence.file=/var/lib/prometheus/pushgateway.data".to_string(),
    ];
    args.extend(p.options("pushgateway_options")?);
    plan.add(File::new(
        "/etc/default/prometheus-pushgateway",
        etc_default("prometheus-pushgateway", &args)?,
    ));
    debian_prom_unit(plan, "prometheus-pushgateway", None);
    Ok(())
}

/// Blackbox exporter, with the raw socket ICMP probes need.
fn blackbox(s: &Infra, plan: &mut ModulePlan) -> Result<()> {
    let p = s.p();
    let port = p.port("blackbox_port")?;
    let mut args = vec![
        "--config.file=/etc/prometheus/blackbox.yml".to_string(),
        format!("--web.listen-address=:{port}"),
    ];
    args.extend(p.options("blackbox_options")?);
    let conf = crate::assets::asset("infra/blackbox.yml")
        .context("asset `infra/blackbox.yml` is missing")?;
    plan.add(File::new("/etc/prometheus/blackbox.yml", conf));
    plan.add(File::new(
        "/etc/default/prometheus-blackbox-exporter",
        etc_default("prometheus-blackbox-exporter", &args)?,
    ));
    // ICMP probes (job `ping`) need a raw socket: Debian grants it to the binary only
    // when asked (debconf), and unprivileged ping sockets are often disabled.
    plan.add(Debconf::new(
        "prometheus-blackbox-exporter",
        "prometheus-blackbox-exporter/want_cap_net_raw",
        "boolean",
        "true",
    ));
    plan.add_notify(
        FileCaps::new(BLACKBOX_BIN, "cap_net_raw=ep"),
        vec![Handler::Restart(
            "prometheus-blackbox-exporter.service".into(),
        )],
    );
    plan.add(validate(
        "blackbox config is valid",
        Cmd::new("prometheus-blackbox-exporter").args([
            "--config.check",
            "--config.file=/etc/prometheus/blackbox.yml",
        ]),
    ));
    debian_prom_unit(
        plan,
        "prometheus-blackbox-exporter",
        Some((
            &["/etc/prometheus/blackbox.yml"],
            port,
            "blackbox_exporter_config_last_reload_success_timestamp_seconds",
        )),
    );
    Ok(())
}

/// nginx: the home page and the portal; the exporter when enabled.
fn nginx(s: &Infra, plan: &mut ModulePlan) -> Result<()> {
    let (p, host, ctx, map) = (s.p(), s.ctx.host, s.ctx, &s.map);
    let nginx_exp_on = s.nginx_exp_on;
    let www = p.str("nginx_home")?;
    let page = home::render(ctx.inv, host, map)?;
    plan.add(Dir::new(&www));
    plan.add(File::new(format!("{www}/index.html"), page));
    plan.add(Absent::new("/etc/nginx/sites-enabled/default"));
    let mut watched = vec![
        "/etc/nginx/conf.d".to_string(),
        "/etc/nginx/conf.d/pigsty.conf".into(),
        "/etc/nginx/sites-enabled".into(),
    ];
    if p.str("nginx_sslmode")? != "disable" {
        // HTTPS with a certificate this node's CA issues here (the CA was made above)
        let (name, sans) = home::cert(host)?;
        let days = crate::modules::pki::days(host.var_str("nginx_cert_validity")).min(3650);
        let dir = crate::modules::pki::ISSUED_DIR;
        plan.add(IssuedCert {
            dir: dir.into(),
            ca_dir: crate::modules::pki::CA_DIR.into(),
            name: name.clone(),
            sans,
            days,
        });
        watched.push(format!("{dir}/{name}.crt"));
    }
    plan.add(File::new(
        "/etc/nginx/conf.d/pigsty.conf",
        home::nginx_conf(host, map)?,
    ));
    plan.add(validate(
        "nginx config is valid",
        Cmd::new("nginx").args(["-t", "-q"]),
    ));
    plan.add(Service::running("nginx.service"));
    let watched: Vec<&str> = watched.iter().map(String::as_str).collect();
    plan.add(Fresh::reload_workers("nginx.service", &watched));
    if nginx_exp_on {
        debian_prom_unit(plan, "prometheus-nginx-exporter", None);
    }
    Ok(())
}

/// Dashboards: always written, loaded by Grafana where it is installed.
fn dashboard_files(plan: &mut ModulePlan) {
    let boards = dashboards()
        .into_iter()
        .map(|(n, t)| (n, t.as_bytes().to_vec()))
        .collect();
    plan.add(Dir::new(DASHBOARD_DIR));
    plan.add(DirFiles::new(DASHBOARD_DIR, boards).prune(is_dashboard_file));
}

/// Grafana and Loki: only where the upstream packages are installed.
fn grafana_loki(s: &Infra, plan: &mut ModulePlan) -> Result<()> {
    let (p, ctx) = (s.p(), s.ctx);
    if s.grafana_on {
        let why =
            "module infra: grafana is not installed (package `grafana` comes from apt.grafana.com)";
        let env = template::render(
            "infra/grafana.env.j2",
            &json!({
                "user": p.str("grafana_admin_username")?,
                "password": ctx.req_str("grafana_admin_password")?,
                "port": p.port("grafana_port")?,
            }),
        )?;
        plan.add(OnlyIf::exists(
            GRAFANA_BIN,
            why,
            File::new("/etc/grafana/pigsty.env", env)
                .mode(0o600)
                .secret(),
        ));
        let dropin = crate::assets::asset("infra/grafana-server.pigsty.conf")
            .context("asset `infra/grafana-server.pigsty.conf` is missing")?;
        plan.add_notify(
            OnlyIf::exists(
                GRAFANA_BIN,
                why,
                File::new(
                    "/etc/systemd/system/grafana-server.service.d/pigsty.conf",
                    dropin,
                ),
            ),
            vec![Handler::DaemonReload],
        );
        let ds = template::render(
            "infra/grafana-datasources.yml.j2",
            &json!({
                "prometheus": s.prom_on.then(|| format!("http://127.0.0.1:{}", p.var_port("prometheus_port"))),
                "loki": s.loki_on.then(|| format!("http://127.0.0.1:{}", p.var_port("loki_port"))),
            }),
        )?;
        plan.add(OnlyIf::exists(
            GRAFANA_BIN,
            why,
            File::new("/etc/grafana/provisioning/datasources/pigsty.yml", ds),
        ));
        let provider = template::render(
            "infra/grafana-dashboards.yml.j2",
            &json!({ "dir": DASHBOARD_DIR }),
        )?;
        plan.add(OnlyIf::exists(
            GRAFANA_BIN,
            why,
            File::new(DASHBOARD_PROVIDER, provider),
        ));
        plan.add(OnlyIf::exists(
            GRAFANA_BIN,
            why,
            Service::running("grafana-server.service"),
        ));
        plan.add(OnlyIf::exists(
            GRAFANA_BIN,
            why,
            Fresh::restart(
                "grafana-server.service",
                &[
                    "/etc/grafana/pigsty.env",
                    "/etc/systemd/system/grafana-server.service.d/pigsty.conf",
                    "/etc/grafana/provisioning/datasources/pigsty.yml",
                    DASHBOARD_PROVIDER,
                ],
            ),
        ));
    }
    if s.loki_on {
        let why = "module infra: loki is not installed (package `loki` comes from apt.grafana.com)";
        plan.add(OnlyIf::exists(
            LOKI_BIN,
            why,
            Service::running("loki.service"),
        ));
    }
    Ok(())
}

/// After the restarts and reloads, every enabled service must answer.
fn ready(s: &Infra, plan: &mut ModulePlan) -> Result<()> {
    let p = s.p();
    if s.prom_on {
        let port = p.port("prometheus_port")?;
        plan.add(http("prometheus", port, "/-/ready"));
        plan.add(
            http("prometheus config loaded", port, "/metrics")
                .expect("prometheus_config_last_reload_successful 1"),
        );
    }
    for (on, name, port, path) in [
        (s.am_on, "alertmanager", "alertmanager_port", "/-/ready"),
        (s.pgw_on, "pushgateway", "pushgateway_port", "/-/ready"),
        (s.bb_on, "blackbox exporter", "blackbox_port", "/-/healthy"),
    ] {
        if on {
            plan.add(http(name, p.port(port)?, path));
        }
    }
    if s.nginx_on {
        if p.str("nginx_sslmode")? == "enforce" {
            // the home page answers HTTP with a redirect to HTTPS; the status page does not
            plan.add(
                http("nginx status page", p.port("nginx_port")?, "/nginx_status")
                    .expect("Active connections"),
            );
        } else {
            plan.add(http("nginx home page", p.port("nginx_port")?, "/"));
        }
        if s.nginx_exp_on {
            plan.add(
                http("nginx exporter", p.port("nginx_exporter_port")?, "/metrics")
                    .expect("nginx_up 1"),
            );
        }
    }
    if s.grafana_on {
        let why = "module infra: grafana is not installed";
        plan.add(OnlyIf::exists(
            GRAFANA_BIN,
            why,
            http("grafana", p.port("grafana_port")?, "/api/health"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
