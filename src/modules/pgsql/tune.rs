//! Postgres parameters from the `pg_conf` template (oltp, olap, crit, tiny) sized to
//! the node, and Patroni/HAProxy timings from `pg_rto`.
//!
//! Our formulas, after Pigsty's documented behaviour: shared_buffers is
//! `pg_shared_buffer_ratio` of memory, effective_cache_size the rest,
//! maintenance_work_mem a quarter of shared_buffers (half for olap), work_mem
//! shared_buffers / max_connections clamped to a per-template range,
//! max_connections `auto` = 500 behind pgbouncer (1000 when services go straight to
//! Postgres) for oltp/crit, 300 for olap, 250 for tiny. Parallelism follows the CPU
//! count. `pg_parameters` overrides any of it.
//!
//! Patroni only takes some parameters from the cluster-wide DCS config (they must be
//! equal on every member): [`DCS_ONLY`]. Everything else goes to the member's local
//! `postgresql.parameters`, so a change there is a `patroni.yml` change and a reload.
use super::params::Pg;
use serde_json::Value;
use std::collections::BTreeMap;

/// Parameters Patroni ignores in the local config and passes on the command line
/// from the DCS (Patroni's `CMDLINE_OPTIONS`, minus listen_addresses/port/cluster_name).
pub const DCS_ONLY: &[&str] = &[
    "max_connections",
    "max_wal_senders",
    "max_replication_slots",
    "max_worker_processes",
    "max_locks_per_transaction",
    "max_prepared_transactions",
    "track_commit_timestamp",
    "wal_level",
    "wal_keep_size",
    "wal_log_hints",
    "hot_standby",
];

/// Parameters pigsty sets through Patroni's `postgresql.listen` etc.; an override in
/// `pg_parameters` would be dropped by Patroni, so we refuse it.
const PATRONI_OWNED: &[&str] = &[
    "listen_addresses",
    "port",
    "cluster_name",
    "data_directory",
    "config_file",
    "hba_file",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Timings {
    pub ttl: u64,
    pub loop_wait: u64,
    pub retry_timeout: u64,
    pub primary_start_timeout: u64,
    pub safety_margin: u64,
    pub inter: String,
    pub fastinter: String,
    pub downinter: String,
    pub rise: u64,
    pub fall: u64,
}

/// The smallest ttl the node's Patroni accepts, and why. Patroni documents a minimum
/// ttl of 20 s (and retry_timeout 3 s) from 3.1 on; 3.0 (Debian 12's 3.0.2) takes less,
/// and a ttl under 10 s leaves no room for Patroni's own loop, so 10 is the floor
/// there. An unknown version gets the safe 20.
pub fn patroni_min_ttl(version: Option<&str>) -> (u64, String) {
    let parsed = version.and_then(crate::facts::major_minor);
    match (version, parsed) {
        (Some(v), Some(mm)) if mm < (3, 1) => (10, format!("Patroni {v} takes a ttl down to 10 s")),
        (Some(v), Some(_)) => (20, format!("Patroni {v} refuses a ttl under 20 s")),
        _ => (
            20,
            "Patroni's version is unknown here: ttl at least 20 s, the minimum of Patroni 3.1+"
                .into(),
        ),
    }
}

/// `pg_rto`: a plan name (`fast`, `norm`, `safe`, `wide`) looked up in `pg_rto_plan`,
/// or (Pigsty before v4) a number of seconds, mapped to ttl = the number, raised to the
/// minimum of the node's Patroni ([`patroni_min_ttl`]: 10 on Debian 12's 3.0, 20 from
/// 3.1), loop_wait and retry_timeout a sixth and a third of it (retry_timeout at least
/// 3), and the HAProxy probes of the nearest plan.
pub fn timings(pg: &Pg) -> Result<Timings, String> {
    let plan = |name: &str| -> Result<Timings, String> {
        let p = pg
            .rto_plan
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("`pg_rto: {name}` has no entry in `pg_rto_plan`"))?;
        if p.len() != 10 {
            return Err(format!("`pg_rto_plan.{name}` must have 10 values [ttl, loop, retry, start, margin, inter, fastinter, downinter, rise, fall]"));
        }
        let n = |i: usize| {
            p[i].as_u64()
                .or_else(|| p[i].as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| format!("`pg_rto_plan.{name}[{i}]` is not a number"))
        };
        let s = |i: usize| -> Result<String, String> {
            let text = match &p[i] {
                Value::String(s) => s.clone(),
                other => format!("{other}s"),
            };
            haproxy_time(&text).ok_or_else(|| {
                format!(
                    "`pg_rto_plan.{name}[{i}]`: `{text}` is not a duration like `2s` or `500ms`"
                )
            })
        };
        Ok(Timings {
            ttl: n(0)?,
            loop_wait: n(1)?,
            retry_timeout: n(2)?,
            primary_start_timeout: n(3)?,
            safety_margin: n(4)?,
            inter: s(5)?,
            fastinter: s(6)?,
            downinter: s(7)?,
            rise: n(8)?,
            fall: n(9)?,
        })
    };
    let t = match &pg.rto {
        Value::String(s) if s.parse::<u64>().is_err() => plan(s)?,
        v => {
            let rto = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(30);
            let near = match rto {
                0..=20 => "fast",
                21..=30 => "norm",
                31..=60 => "safe",
                _ => "wide",
            };
            let ttl = rto.max(patroni_min_ttl(pg.facts.packages.version("patroni")).0);
            let mut t = plan(near)?;
            t.ttl = ttl;
            t.loop_wait = (ttl / 6).max(1);
            t.retry_timeout = (ttl / 3).max(3);
            t.primary_start_timeout = ttl.saturating_sub(t.loop_wait).max(1);
            t
        }
    };
    if t.loop_wait + 2 * t.retry_timeout > t.ttl {
        return Err(format!(
            "pg_rto timings ttl {} loop_wait {} retry_timeout {}: Patroni needs loop_wait + 2 x retry_timeout <= ttl",
            t.ttl, t.loop_wait, t.retry_timeout
        ));
    }
    Ok(t)
}

/// A duration as HAProxy takes it: a whole number with a unit. HAProxy 2.6 (Debian 12)
/// rejects fractions ("unexpected character '.'"), so `0.5s` becomes `500ms`; a bare
/// number is seconds. `None` when it is not a duration.
pub fn haproxy_time(text: &str) -> Option<String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let ms_per = match unit.trim() {
        "" | "s" => 1000.0,
        "ms" => 1.0,
        "us" => 0.001,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = n * ms_per;
    if ms < 1.0 {
        return (ms == 0.0).then(|| "0ms".to_string());
    }
    let ms = ms.round() as u64;
    Some(if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    })
}

/// `pg_max_conn`, resolved.
pub fn max_connections(pg: &Pg) -> u64 {
    if let Some(n) = pg
        .max_conn
        .as_u64()
        .or_else(|| pg.max_conn.as_str().and_then(|s| s.parse().ok()))
    {
        if n >= 20 {
            return n;
        }
    }
    match pg.conf.as_str() {
        "tiny" => 250,
        "olap" => 300,
        _ if pg.default_service_dest == "postgres" => 1000,
        _ => 500,
    }
}

fn mb(n: u64) -> String {
    format!("{n}MB")
}

/// A parameter value as Postgres takes it in a config file.
pub fn value_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "on" } else { "off" }.into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Parameter name -> value as Postgres takes it.
pub type Params = BTreeMap<String, String>;

/// (local parameters, DCS-only parameters) for this member.
pub fn parameters(pg: &Pg) -> Result<(Params, Params), String> {
    let conf = pg.conf.as_str();
    let mem = pg.facts.mem_mb.max(256);
    let cpus = pg.facts.cpus.max(1) as u64;
    let conns = max_connections(pg);
    let shared = ((mem as f64 * pg.shared_buffer_ratio) as u64).max(64);
    let (wm_lo, wm_hi) = match conf {
        "tiny" => (16, 256),
        "olap" => (64, 4096),
        _ => (64, 1024),
    };
    let work_mem = (shared / conns).clamp(wm_lo, wm_hi);
    let maint = match conf {
        "olap" => shared / 2,
        _ => shared / 4,
    }
    .clamp(64, 16384);
    let ssd = !pg.storage_type.eq_ignore_ascii_case("HDD");
    let mem_gb = (mem / 1024).max(1);
    let (min_wal, max_wal) = match conf {
        "tiny" => (256, 2048),
        "olap" => (4096, (mem_gb * 4 * 1024).clamp(8192, 131072)),
        _ => (1024, (mem_gb * 2 * 1024).clamp(4096, 65536)),
    };
    let (par_workers, par_gather, par_maint) = match conf {
        "tiny" => (0, 0, 0),
        "olap" => (cpus.max(2), (cpus / 2).max(2), (cpus / 2).max(2)),
        "crit" => ((cpus / 2).max(2), 0, (cpus / 4).max(1)),
        _ => (
            (cpus / 2).max(2),
            (cpus / 4).clamp(1, 4),
            (cpus / 4).clamp(1, 4),
        ),
    };
    let libs: Vec<String> = pg
        .libs
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();

    let mut local: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        local.insert(k.to_string(), v);
    };
    // connections & authentication
    set("superuser_reserved_connections", "10".into());
    set("unix_socket_directories", pg.socket.clone());
    set("hba_file", super::HBA_FILE.into());
    set("password_encryption", pg.pwd_enc.clone());
    if pg.tls() {
        set("ssl", "on".into());
        set("ssl_cert_file", super::tls::SERVER_CRT.into());
        set("ssl_key_file", super::tls::SERVER_KEY.into());
        set("ssl_ca_file", super::tls::CA_CRT.into());
        set("ssl_min_protocol_version", "TLSv1.2".into());
    }
    set("tcp_keepalives_idle", "60".into());
    set("tcp_keepalives_interval", "10".into());
    set("tcp_keepalives_count", "10".into());
    // memory
    set("shared_buffers", mb(shared));
    set(
        "effective_cache_size",
        mb(mem.saturating_sub(shared).max(128)),
    );
    set("maintenance_work_mem", mb(maint));
    set("work_mem", mb(work_mem));
    set("huge_pages", "try".into());
    set(
        "temp_file_limit",
        if conf == "tiny" { "4GB" } else { "100GB" }.into(),
    );
    // cpu & parallelism
    set("max_parallel_workers", par_workers.to_string());
    set("max_parallel_workers_per_gather", par_gather.to_string());
    set("max_parallel_maintenance_workers", par_maint.to_string());
    // io
    set("random_page_cost", if ssd { "1.1" } else { "4.0" }.into());
    set(
        "effective_io_concurrency",
        if ssd { "200" } else { "2" }.into(),
    );
    // wal & checkpoints
    set(
        "wal_compression",
        if pg.version >= 15 { "lz4" } else { "on" }.into(),
    );
    set("min_wal_size", mb(min_wal));
    set("max_wal_size", mb(max_wal));
    set(
        "checkpoint_timeout",
        if conf == "olap" { "30min" } else { "15min" }.into(),
    );
    set("checkpoint_completion_target", "0.9".into());
    set("wal_writer_delay", "20ms".into());
    set("commit_delay", "0".into());
    // archiving: pgBackRest
    set("archive_mode", "on".into());
    set(
        "archive_command",
        if pg.pgbackrest_enabled {
            format!("pgbackrest --stanza={} archive-push %p", pg.cluster)
        } else {
            "/bin/true".into()
        },
    );
    // replication
    set(
        "hot_standby_feedback",
        if conf == "tiny" { "off" } else { "on" }.into(),
    );
    set("wal_receiver_status_interval", "1s".into());
    set("max_standby_archive_delay", "10min".into());
    set("max_standby_streaming_delay", "3min".into());
    set("synchronous_commit", "on".into());
    // logging
    set("logging_collector", "on".into());
    set("log_destination", "csvlog".into());
    set("log_directory", pg.log_dir.clone());
    set("log_filename", "postgresql-%a.log".into());
    set("log_truncate_on_rotation", "on".into());
    set("log_rotation_age", "1d".into());
    set("log_rotation_size", "0".into());
    set("log_checkpoints", "on".into());
    set("log_lock_waits", "on".into());
    set("log_replication_commands", "on".into());
    set("log_statement", "ddl".into());
    set(
        "log_min_duration_statement",
        match conf {
            "olap" => "1000",
            "crit" => "50",
            _ => "100",
        }
        .into(),
    );
    set("log_autovacuum_min_duration", "1s".into());
    set("log_temp_files", "1024".into());
    // statistics
    set("track_io_timing", "on".into());
    set("track_functions", "all".into());
    set("track_activity_query_size", "8192".into());
    // autovacuum
    set(
        "autovacuum_vacuum_scale_factor",
        if conf == "olap" { "0.1" } else { "0.02" }.into(),
    );
    set(
        "autovacuum_analyze_scale_factor",
        if conf == "olap" { "0.05" } else { "0.01" }.into(),
    );
    set(
        "autovacuum_vacuum_cost_limit",
        if conf == "tiny" { "200" } else { "2000" }.into(),
    );
    set("autovacuum_naptime", "1min".into());
    // timeouts
    set(
        "idle_in_transaction_session_timeout",
        match conf {
            "olap" => "0",
            "crit" => "1min",
            _ => "10min",
        }
        .into(),
    );
    // extensions
    set("shared_preload_libraries", libs.join(","));
    if libs.iter().any(|l| l == "pg_stat_statements") {
        set("pg_stat_statements.max", "10000".into());
        set("pg_stat_statements.track", "all".into());
        set("pg_stat_statements.track_utility", "off".into());
    }
    if libs.iter().any(|l| l == "auto_explain") {
        set("auto_explain.log_min_duration", "1s".into());
        set("auto_explain.log_analyze", "on".into());
        set("auto_explain.log_nested_statements", "on".into());
    }
    if pg.version >= 18 {
        set(
            "io_method",
            match conf {
                "tiny" => "sync".to_string(),
                _ => "worker".to_string(),
            },
        );
    }

    let mut dcs: BTreeMap<String, String> = BTreeMap::new();
    dcs.insert("max_connections".into(), conns.to_string());
    dcs.insert("max_wal_senders".into(), "50".into());
    dcs.insert("max_replication_slots".into(), "50".into());
    dcs.insert("max_worker_processes".into(), (cpus + 8).max(8).to_string());
    dcs.insert(
        "max_locks_per_transaction".into(),
        match conf {
            "tiny" => "64",
            "olap" => "256",
            _ => "128",
        }
        .into(),
    );
    dcs.insert(
        "max_prepared_transactions".into(),
        if pg.libs.contains("citus") {
            conns.to_string()
        } else {
            "0".into()
        },
    );
    dcs.insert("track_commit_timestamp".into(), "on".into());
    dcs.insert("wal_level".into(), "logical".into());
    dcs.insert(
        "wal_keep_size".into(),
        if conf == "tiny" { "256MB" } else { "1GB" }.into(),
    );

    for (k, v) in &pg.parameters {
        if PATRONI_OWNED.contains(&k.as_str()) {
            return Err(format!(
                "`pg_parameters.{k}` is managed through Patroni and cannot be overridden"
            ));
        }
        let v = value_str(v);
        if DCS_ONLY.contains(&k.as_str()) {
            dcs.insert(k.clone(), v);
        } else {
            local.insert(k.clone(), v);
        }
    }
    Ok((local, dcs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pg(conf: &str, mem_mb: u64, cpus: usize) -> Pg {
        let mut p = super::super::tests::meta_pg();
        p.conf = conf.into();
        p.facts.mem_mb = mem_mb;
        p.facts.cpus = cpus;
        p
    }

    #[test]
    fn oltp_on_8g_4c_sizes_memory_from_the_ratio() {
        let (l, d) = parameters(&pg("oltp", 8192, 4)).unwrap();
        assert_eq!(l["shared_buffers"], "2048MB");
        assert_eq!(l["effective_cache_size"], "6144MB");
        assert_eq!(l["maintenance_work_mem"], "512MB");
        assert_eq!(l["work_mem"], "64MB");
        assert_eq!(d["max_connections"], "500");
        assert_eq!(d["max_worker_processes"], "12");
        assert!(
            !l.contains_key("max_connections"),
            "dcs-only parameters never go local"
        );
    }

    #[test]
    fn tiny_and_olap_get_their_connection_counts() {
        assert_eq!(max_connections(&pg("tiny", 1024, 1)), 250);
        assert_eq!(max_connections(&pg("olap", 1024, 1)), 300);
        let mut p = pg("oltp", 1024, 1);
        p.default_service_dest = "postgres".into();
        assert_eq!(max_connections(&p), 1000);
        p.max_conn = json!(123);
        assert_eq!(max_connections(&p), 123);
    }

    #[test]
    fn pg_parameters_override_and_land_where_patroni_reads_them() {
        let mut p = pg("oltp", 8192, 4);
        p.parameters.insert("work_mem".into(), json!("128MB"));
        p.parameters.insert("max_connections".into(), json!(800));
        p.parameters.insert("jit".into(), json!(false));
        let (l, d) = parameters(&p).unwrap();
        assert_eq!(l["work_mem"], "128MB");
        assert_eq!(l["jit"], "off");
        assert_eq!(d["max_connections"], "800");
        p.parameters.insert("port".into(), json!(5555));
        assert!(parameters(&p).unwrap_err().contains("pg_parameters.port"));
    }

    #[test]
    fn rto_plans_and_legacy_seconds_are_valid_for_patroni() {
        for name in ["fast", "norm", "safe", "wide"] {
            let mut p = pg("oltp", 8192, 4);
            p.rto = json!(name);
            let t = timings(&p).unwrap();
            assert!(
                t.ttl >= 20 && t.loop_wait + 2 * t.retry_timeout <= t.ttl,
                "{name}: {t:?}"
            );
        }
        let mut p = pg("oltp", 8192, 4);
        p.rto = json!(30);
        let t = timings(&p).unwrap();
        assert_eq!(
            (t.ttl, t.loop_wait, t.retry_timeout, t.inter.as_str()),
            (30, 5, 10, "2s")
        );
        // the floor follows the node's Patroni: 3.0 (Debian 12) takes 10, 3.1+ needs 20
        p.rto = json!(10);
        p.facts
            .packages
            .candidates
            .insert("patroni".into(), "3.0.2-1".into());
        let t = timings(&p).unwrap();
        assert_eq!(
            (t.ttl, t.loop_wait, t.retry_timeout, t.fastinter.as_str()),
            (10, 1, 3, "500ms")
        );
        p.rto = json!(5);
        assert_eq!(
            timings(&p).unwrap().ttl,
            10,
            "raised to Patroni 3.0's floor"
        );
        p.rto = json!(10);
        p.facts
            .packages
            .versions
            .insert("patroni".into(), "4.0.7-1".into());
        assert_eq!(
            timings(&p).unwrap().ttl,
            20,
            "the installed 4.0.7 wins over the offered 3.0.2, and refuses ttl < 20"
        );
        p.facts.packages.versions.clear();
        p.facts.packages.candidates.clear();
        assert_eq!(
            timings(&p).unwrap().ttl,
            20,
            "unknown version: the safe minimum"
        );
        assert_eq!(patroni_min_ttl(Some("3.0.2-1")).0, 10);
        assert_eq!(patroni_min_ttl(Some("3.1.0-1")).0, 20);
        assert_eq!(
            patroni_min_ttl(Some("1:3.3.0-1")).0,
            20,
            "a Debian epoch is not the major version"
        );
        p.rto = json!("nope");
        assert!(timings(&p).unwrap_err().contains("pg_rto: nope"));
    }

    #[test]
    fn haproxy_durations_are_whole_numbers_with_a_unit() {
        // HAProxy 2.6 rejects `0.5s` ("unexpected character '.'")
        let mut p = pg("oltp", 8192, 4);
        p.rto = json!("fast");
        let t = timings(&p).unwrap();
        assert_eq!(
            (t.inter.as_str(), t.fastinter.as_str(), t.downinter.as_str()),
            ("1s", "500ms", "1s")
        );
        p.rto = json!("safe");
        assert_eq!(timings(&p).unwrap().fastinter, "1500ms");
        for (text, want) in [
            ("2", Some("2s")),
            ("250ms", Some("250ms")),
            ("1m", Some("60s")),
            ("0.25s", Some("250ms")),
            ("x", None),
            ("1.5q", None),
            ("", None),
        ] {
            assert_eq!(haproxy_time(text).as_deref(), want, "{text}");
        }
        p.rto_plan.insert(
            "fast".into(),
            json!([20, 5, 5, 15, 5, "1s", "half", "1s", 3, 3]),
        );
        p.rto = json!("fast");
        assert!(timings(&p)
            .unwrap_err()
            .contains("`pg_rto_plan.fast[6]`: `half` is not a duration"));
    }
}
