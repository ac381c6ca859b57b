//! One file per subcommand. `run` dispatches and returns the process exit code:
//! 0 success, 1 failure or invalid inventory, 2 usage, 3 `plan --check` found drift.
use crate::cli::{Cli, Command, EtcdCmd, MinioCmd, NodeCmd, PgsqlCmd, RedisCmd, RepoCmd};
use anyhow::Result;

pub mod backup;
pub mod completion;
pub mod configure;
pub mod deploy;
pub mod etcd;
pub mod install;
pub mod join;
pub mod minio;
pub mod node;
pub mod pgsql;
pub mod pgsql_members;
pub mod pitr;
pub mod plan;
pub mod repo;
pub mod status;
pub mod validate;

/// A verb that exists in the CLI but is not built yet: it says so and fails.
#[derive(Debug, thiserror::Error)]
#[error("`pigsty {0}` is not built yet; nothing was changed\nhint: see the open issues for when it lands")]
pub struct NotBuilt(pub &'static str);

fn not_built(verb: &'static str) -> Result<u8> {
    Err(NotBuilt(verb).into())
}

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
        Command::Pgsql(c) => match c {
            PgsqlCmd::Add { cluster, hosts, .. } => pgsql_members::add(&g, &cluster, &hosts),
            PgsqlCmd::Rm {
                cluster,
                hosts,
                confirm,
            } => pgsql_members::rm(&g, &cluster, &hosts, confirm.yes),
            PgsqlCmd::User { .. } => not_built("pgsql user"),
            PgsqlCmd::Db { .. } => not_built("pgsql db"),
            PgsqlCmd::Hba { .. } => not_built("pgsql hba"),
            PgsqlCmd::Svc { .. } => not_built("pgsql svc"),
            PgsqlCmd::Ext { .. } => not_built("pgsql ext"),
            PgsqlCmd::Switchover {
                cluster,
                to,
                confirm,
            } => pgsql::run(
                &g,
                pgsql::Action::Switchover,
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
        },
        Command::Node(c) => match c {
            NodeCmd::Add { hosts, target } => {
                join::converge_hosts(&g, &hosts, &target, Some("node"), false)
            }
            NodeCmd::Rm { .. } => not_built("node rm"),
            NodeCmd::Apply => node::apply(),
        },
        Command::Etcd(c) => match c {
            EtcdCmd::Add { hosts } => etcd::add(&g, &hosts),
            EtcdCmd::Rm { hosts, confirm } => etcd::rm(&g, &hosts, confirm.yes),
        },
        Command::Redis(c) => match c {
            RedisCmd::Add { .. } => not_built("redis add"),
            RedisCmd::Rm { .. } => not_built("redis rm"),
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
            RepoCmd::Add { file } => repo::add(&g, &file),
            RepoCmd::Build => not_built("repo build"),
            RepoCmd::Pack { .. } => not_built("repo pack"),
        },
        Command::Completion(a) => completion::run(a),
    }
}
