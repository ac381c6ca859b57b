//! Build identity: version, git commit and the digest of the embedded assets.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("PIGSTY_GIT_COMMIT");
pub const ASSETS_DIGEST: &str = env!("PIGSTY_ASSETS_DIGEST");

/// `pigsty --version`: `0.1.0 (commit abc123, assets 0123abcd...)`.
pub const SHORT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PIGSTY_GIT_COMMIT"),
    ", assets ",
    env!("PIGSTY_ASSETS_DIGEST"),
    ")"
);
pub const LONG: &str = SHORT;
