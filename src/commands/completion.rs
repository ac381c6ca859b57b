//! `pigsty completion bash|zsh|fish`: shell completions on stdout.
use crate::cli::{Cli, CompletionArgs};
use anyhow::Result;
use clap::CommandFactory;

pub fn run(args: CompletionArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "pigsty", &mut std::io::stdout());
    Ok(0)
}
