//! One file per subcommand. `run` dispatches and returns the process exit code:
//! 0 success, 1 failure or invalid inventory, 2 usage, 3 `plan --check` found drift.
use crate::cli::{Cli, Command, EtcdCmd, MinioCmd, NodeCmd, PgsqlCmd, RedisCmd, RepoCmd};
use anyhow::Result;

pub mod backup;
pub mod completion;
pub mod configure;
mod configure_import;
pub mod deploy;
pub mod etcd;
pub mod install;
pub mod join;
pub mod lock;
pub mod logs;
pub mod minio;
pub mod node;
pub mod node_rm;
pub mod pgsql;
pub mod pgsql_code;
pub mod pgsql_members;
pub mod pgsql_monitor;
pub mod pitr;
pub mod plan;
pub mod redis;
pub mod repo;
pub mod repo_add;
pub mod status;
pub mod validate;

pub fn run(cli: Cli) -> Result<u8> {
    let g = cli.global;
    let _ = &g;
    match cli.command {
        Command::Install(a) => install::run(&g, &a),
        Command::Configure(a) => configure::run(&g, &a),
        Command::Validate => validate::run(&g),
        Command::Plan(a) => plan::run(&g, &a),
        Command::Deploy(a) => deploy::run(&g, &a),
        Command::Join(a) => {
            join::converge_hosts(&g, &a.hosts, &a.target, None, a.accept_new_host_keys)
        }
        Command::Status(a) => status::run(&g, &a),
        Command::Logs(a) => logs::run(&g, &a),
        Command::Pgsql(c) => match c {
            PgsqlCmd::Add { cluster, hosts, .. } => pgsql_members::add(&g, &cluster, &hosts),
            PgsqlCmd::Rm {
                cluster,
                hosts,
                confirm,
            } => pgsql_members::rm(&g, &cluster, &hosts, confirm.yes),
            PgsqlCmd::User { cluster, user } => {
                pgsql_code::run(&g, &cluster, pgsql_code::Part::User(user), false)
            }
            PgsqlCmd::Db {
                cluster,
                db,
                confirm,
            } => pgsql_code::run(&g, &cluster, pgsql_code::Part::Db(db), confirm.yes),
            PgsqlCmd::Hba { cluster } => {
                pgsql_code::run(&g, &cluster, pgsql_code::Part::Hba, false)
            }
            PgsqlCmd::Svc { cluster } => {
                pgsql_code::run(&g, &cluster, pgsql_code::Part::Svc, false)
            }
            PgsqlCmd::Ext {
                cluster,
                extensions,
            } => pgsql_code::run(&g, &cluster, pgsql_code::Part::Ext(extensions), false),
            PgsqlCmd::Promote { cluster, confirm } => pgsql::promote(&g, &cluster, confirm.yes),
            PgsqlCmd::Pause { cluster } => pgsql::pause(&g, &cluster, true),
            PgsqlCmd::Resume { cluster } => pgsql::pause(&g, &cluster, false),
            PgsqlCmd::Switchover {
                cluster,
                to,
                hold_writes,
                confirm,
            } => pgsql::run(
                &g,
                pgsql::Action::Switchover { hold_writes },
                &cluster,
                to.as_deref(),
                confirm.yes,
            ),
            PgsqlCmd::Failover {
                cluster,
                to,
                confirm,
            } => pgsql::run(
                &g,
                pgsql::Action::Failover,
                &cluster,
                to.as_deref(),
                confirm.yes,
            ),
            PgsqlCmd::Restart { cluster, instance } => {
                pgsql::restart(&g, &cluster, instance.as_deref(), false)
            }
            PgsqlCmd::Reload { cluster, instance } => {
                pgsql::restart(&g, &cluster, instance.as_deref(), true)
            }
            PgsqlCmd::Backup { cluster, kind } => backup::run(&g, &cluster, kind),
            PgsqlCmd::Pitr(a) => pitr::run(&g, &a),
            PgsqlCmd::Monitor { cmd } => pgsql_monitor::run(&g, &cmd),
        },
        Command::Node(c) => match c {
            NodeCmd::Add { hosts, target } => {
                join::converge_hosts(&g, &hosts, &target, Some("node"), false)
            }
            NodeCmd::Rm { hosts, confirm } => node_rm::rm(&g, &hosts, confirm.yes),
            NodeCmd::Apply => node::apply(),
        },
        Command::Etcd(c) => match c {
            EtcdCmd::Add { hosts } => etcd::add(&g, &hosts),
            EtcdCmd::Rm { hosts, confirm } => etcd::rm(&g, &hosts, confirm.yes),
        },
        Command::Redis(c) => match c {
            RedisCmd::Add {
                cluster,
                host,
                port,
            } => redis::add(&g, &cluster, host.as_deref(), port),
            RedisCmd::Rm {
                cluster,
                host,
                port,
                confirm,
            } => redis::rm(&g, &cluster, host.as_deref(), port, confirm.yes),
        },
        Command::Minio(c) => match c {
            MinioCmd::Add { cluster, hosts } => minio::add(&g, &cluster, &hosts),
            MinioCmd::Rm {
                cluster,
                hosts,
                confirm,
            } => minio::rm(&g, &cluster, &hosts, confirm.yes),
        },
        Command::Repo(c) => match c {
            RepoCmd::List => repo::list(&g),
            RepoCmd::Add { file } => repo_add::add(&g, &file),
            RepoCmd::Build => repo::build(&g),
            RepoCmd::Pack { output } => repo::pack(&g, output.as_deref()),
        },
        Command::Completion(a) => completion::run(a),
    }
}

/// Read `name` (a cluster, database or host) back from stdin, a terminal or a pipe,
/// after showing `what` will happen; anything else refuses with nothing changed.
pub fn confirm(name: &str, what: &str) -> Result<()> {
    use std::io::{BufRead, IsTerminal};
    eprint!("{what}\ntype `{name}` to proceed: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if !std::io::stdin().is_terminal() {
        eprintln!(); // the answer came from a pipe: end the prompt's line
    }
    if line.trim() != name {
        anyhow::bail!("confirmation `{}` does not match `{name}`; nothing was changed\nhint: pass --yes to skip the question", line.trim());
    }
    Ok(())
}
