//! Every `PIGSTY_*` environment variable pigsty reads, declared once with its meaning.

/// Inventory file to use instead of `/etc/pigsty/pigsty.yml` (same as `-i FILE`).
pub const PIGSTY_INVENTORY: &str = "PIGSTY_INVENTORY";
/// Log filter for stderr logs, in `tracing` env-filter syntax (e.g. `debug`).
pub const PIGSTY_LOG: &str = "PIGSTY_LOG";
/// Base URL that `install.sh` downloads the binary and its `.sha256` from (mirrors, tests).
pub const PIGSTY_DOWNLOAD_URL: &str = "PIGSTY_DOWNLOAD_URL";
/// Git commit recorded at build time when `.git` is absent (release builds from tarballs).
pub const PIGSTY_GIT_COMMIT: &str = "PIGSTY_GIT_COMMIT";
/// Directory `install.sh` installs the binary into (default `/usr/local/bin`).
pub const PIGSTY_INSTALL_DIR: &str = "PIGSTY_INSTALL_DIR";
/// Architecture `install.sh` assumes instead of `uname -m` (tests of its refusal only).
pub const PIGSTY_ARCH: &str = "PIGSTY_ARCH";
/// Seconds a command waits for another command's lock on a cluster before it refuses (default 10).
pub const PIGSTY_LOCK_WAIT: &str = "PIGSTY_LOCK_WAIT";
