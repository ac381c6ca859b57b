//! Everything that touches the operating system lives here: running programs
//! (argv, never `sh -c`; timeouts; stderr captured into errors), atomic file writes,
//! systemctl and the package manager, and opening paths as root without following
//! a link a service user placed (`walk.rs`).
pub mod caps;
pub mod cmd;
pub mod fs;
pub mod http;
pub mod pkg;
pub mod systemd;
pub mod walk;

pub use cmd::{Cmd, CmdError, Output};

/// FNV-1a of `s`: a small stable hash (names derived from text, not security).
pub fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}
