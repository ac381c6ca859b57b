//! Everything that touches the operating system lives here: running programs
//! (argv, never `sh -c`; timeouts; stderr captured into errors), atomic file writes,
//! systemctl and the package manager.
pub mod caps;
pub mod cmd;
pub mod fs;
pub mod http;
pub mod pkg;
pub mod systemd;

pub use cmd::{Cmd, CmdError, Output};
