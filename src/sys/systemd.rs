//! systemctl wrappers.
use super::cmd::{Cmd, CmdError};

pub fn is_active(unit: &str) -> bool {
    Cmd::new("systemctl")
        .args(["is-active", "--quiet", unit])
        .succeeds()
}

pub fn is_enabled(unit: &str) -> bool {
    Cmd::new("systemctl")
        .args(["is-enabled", "--quiet", unit])
        .succeeds()
}

pub fn unit_exists(unit: &str) -> bool {
    Cmd::new("systemctl")
        .args(["list-unit-files", "--no-legend", unit])
        .run()
        .map(|o| !o.stdout.trim().is_empty())
        .unwrap_or(false)
}

pub fn systemctl(args: &[&str]) -> Result<(), CmdError> {
    Cmd::new("systemctl")
        .args(args.iter().copied())
        .ok()
        .map(|_| ())
}

/// Monotonic start timestamp of a unit's main process (0 when not running).
pub fn active_enter_monotonic(unit: &str) -> u64 {
    Cmd::new("systemctl")
        .args([
            "show",
            "-p",
            "ActiveEnterTimestampMonotonic",
            "--value",
            unit,
        ])
        .run()
        .ok()
        .and_then(|o| o.stdout.trim().parse().ok())
        .unwrap_or(0)
}

/// The last `lines` lines of a unit's journal (message text only; empty if unreadable),
/// for error messages about a unit that failed.
pub fn journal_tail(unit: &str, lines: u32) -> String {
    Cmd::new("journalctl")
        .args([
            "-u",
            unit,
            "-n",
            &lines.to_string(),
            "--no-pager",
            "-o",
            "cat",
        ])
        .run()
        .map(|o| o.stdout)
        .unwrap_or_default()
}
